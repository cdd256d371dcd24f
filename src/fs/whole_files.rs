//! `readFile`, `writeFile`, `appendFile`: whole files on libuv's thread
//! pool (one work request each), read in parallel parts when large.
//!
//! May touch: libuv work requests; files through std::fs, off the loop
//! thread, `Held` while open.

use super::*;
use crate::core::runtime::Held;

/// What a pool job does; it returns the bytes read (or nothing).
pub(super) type Work = Box<dyn FnOnce() -> std::io::Result<Vec<u8>> + Send>;

/// The part of a job the pool thread uses: plain data, no Lua.
pub(super) struct Task {
    work: Option<Work>,
    outcome: Option<std::io::Result<Vec<u8>>>,
}

pub(super) struct Job {
    task: Task,
    callback: Reply,
    path: String,
    gives: Gives,
}

pub(super) type JobRequest = UvRequest<uv::uv_work_t, Job>;

/// Runs `work` on libuv's thread pool, then calls `cb` with its bytes
/// (`gives` Data) or nothing, or the error about `path`.
pub(super) fn queue(lua: &Lua, reply: Reply, path: String, gives: Gives, work: Work) -> Result<()> {
    let rt = Runtime::of(lua)?;
    let uv_loop = rt.uv_loop();
    let job = Job { task: Task { work: Some(work), outcome: None }, callback: reply, path, gives };
    let started = JobRequest::start(job, |req| {
        // SAFETY: `req` lives until `job_done`, libuv's completion for it.
        unsafe { uv::uv_queue_work(uv_loop, req, Some(run_job), Some(job_done)) }
    });
    if let Err((rc, job)) = started {
        fail_later(&rt, job.callback, job.gives, uv_message(rc, Some(&job.path)));
    }
    Ok(())
}

/// On a pool thread.
pub(super) extern "C" fn run_job(req: *mut uv::uv_work_t) {
    // SAFETY: the request is a `JobRequest` (started by `queue`); between
    // submission and `job_done` only this thread touches its `task`, and
    // the loop thread touches nothing of it. libuv's queue orders this
    // thread's writes before `job_done` reads them.
    let task = unsafe { &mut (*(req as *mut JobRequest)).state.task };
    if let Some(work) = task.work.take() {
        let outcome = catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| Err(std::io::Error::from_raw_os_error(libc::EIO)));
        task.outcome = Some(outcome);
    }
}

pub(super) extern "C" fn job_done(req: *mut uv::uv_work_t, status: c_int) {
    // SAFETY: started by `queue`; this is its one completion callback.
    let job = unsafe { JobRequest::finish(req) };
    // SAFETY: the request's loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop(job.raw().loop_) };
    let Job { task, callback, path, gives } = job.state;
    let outcome = match task.outcome {
        Some(outcome) if status == 0 => outcome.map_err(|e| match (e.raw_os_error(), e.kind()) {
            (Some(errno), _) => UvError(-errno),
            (None, std::io::ErrorKind::OutOfMemory) => UvError(uv::uv_errno_t_UV_ENOMEM),
            (None, _) => UvError(uv::uv_errno_t_UV_EIO),
        }),
        _ => Err(UvError(if status < 0 { status } else { uv::uv_errno_t_UV_ECANCELED })),
    };
    let failure = outcome.as_ref().err().map(|error| error.message(Some(&path)));
    callback.send(rt, failure.clone(), |lua| match (outcome, failure) {
        (_, Some(message)) => failure_values(lua, gives, message),
        (Ok(bytes), None) if gives == Gives::Data => {
            let content = lua.create_string(&bytes)?;
            free_later(rt, bytes);
            content.into_lua_multi(lua)
        }
        _ => Ok(MultiValue::new()),
    });
}

/// Frees a big buffer on the thread pool: giving back thousands of pages
/// takes milliseconds the loop need not wait for.
pub(super) fn free_later(rt: &Runtime, bytes: Vec<u8>) {
    if bytes.len() < PARALLEL_MIN {
        return;
    }
    extern "C" fn free(req: *mut uv::uv_work_t) {
        // SAFETY: the request is a `Request<uv_work_t, Vec<u8>>` started
        // below; until `freed` runs, only this pool thread touches its
        // state.
        drop(unsafe { std::mem::take(&mut (*(req as *mut UvRequest<uv::uv_work_t, Vec<u8>>)).state) });
    }
    extern "C" fn freed(req: *mut uv::uv_work_t, _status: c_int) {
        // SAFETY: started below; this is its one completion callback.
        drop(unsafe { UvRequest::<uv::uv_work_t, Vec<u8>>::finish(req) });
    }
    let uv_loop = rt.uv_loop();
    // If the pool refuses it, the buffer comes back and is freed here.
    let _ = UvRequest::<uv::uv_work_t, Vec<u8>>::start(bytes, |req| {
        // SAFETY: `req` lives until `freed`, libuv's completion for it.
        unsafe { uv::uv_queue_work(uv_loop, req, Some(free), Some(freed)) }
    });
}

/// A path for `std::fs` on the pool: the argument's bytes as they are.
pub(super) fn std_path(path: CString) -> PathBuf {
    PathBuf::from(OsString::from_vec(path.into_bytes()))
}

/// `fs.readFile(path, cb)` -> `cb(content, err)`: one job that sizes the
/// file and reads it in one read when the size allows.
pub(super) fn read_file(lua: &Lua, args: Args) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    let reply = Reply::new(lua, args.opt_function(2)?, "readFile")?;
    let path = std_path(path);
    queue(lua, reply, text, Gives::Data, Box::new(move || read_whole(path)))
}

/// Files at least this big are read in parts, in parallel.
pub(super) const PARALLEL_MIN: usize = 16 << 20;

/// The CPUs this process may use, asked once (the answer reads cgroup
/// files).
pub(super) fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A whole file, on a pool thread: sized first, then read into one buffer
/// of that size — in as few reads as the kernel allows, and for a big file
/// in parts read side by side (the page faults of a fresh buffer are most
/// of the cost of reading from the page cache, and they scale with the
/// CPUs). As Node does, the size found is trusted: a file that grows
/// meanwhile is read as it was sized, one that shrinks as it is. A file the
/// kernel does not size (`/proc`, a FIFO) is read to its end.
pub(super) fn read_whole(path: PathBuf) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = Held::new(std::fs::File::open(path)?);
    let size = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
    if size == 0 {
        let mut content = Vec::new();
        (&*file).read_to_end(&mut content)?;
        return Ok(content);
    }
    let mut content = zeroed(size)?;
    if size >= PARALLEL_MIN {
        advise_huge_pages(&mut content);
    }
    let mut filled = if size >= PARALLEL_MIN && cpus() > 1 { fill_in_parts(&file, &mut content)? } else { 0 };
    if filled < size {
        filled = fill(&file, &mut content, 0)?;
    }
    content.truncate(filled);
    Ok(content)
}

pub(super) fn out_of_memory() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::ENOMEM)
}

/// `size` zero bytes, asked of the allocator as such: a big block comes
/// straight from the kernel, already zero, and is not written over.
pub(super) fn zeroed(size: usize) -> std::io::Result<Vec<u8>> {
    let layout = std::alloc::Layout::array::<u8>(size).map_err(|_| out_of_memory())?;
    // SAFETY: `size` is not zero (the caller checks), so the layout is
    // valid for alloc_zeroed; a non-null block has `size` initialised
    // (zero) bytes of u8 alignment from the global allocator, which is
    // what a Vec of that length and capacity owns and frees.
    unsafe {
        let block = std::alloc::alloc_zeroed(layout);
        if block.is_null() {
            return Err(out_of_memory());
        }
        Ok(Vec::from_raw_parts(block, size, size))
    }
}

/// The size of a transparent huge page on x86-64 and most arm64 kernels.
const HUGE_PAGE: usize = 2 << 20;

/// Asks the kernel to back the huge-page-aligned inside of a big fresh
/// buffer with huge pages: faulting in 4 KiB pages was half the time of a
/// read from the page cache (bench/fs/best.c measures it). A kernel
/// without transparent huge pages answers EINVAL, which changes nothing.
fn advise_huge_pages(buf: &mut [u8]) {
    let start = buf.as_mut_ptr() as usize;
    let (first, end) = (start.next_multiple_of(HUGE_PAGE), (start + buf.len()) / HUGE_PAGE * HUGE_PAGE);
    if end > first {
        // SAFETY: [first, end) lies inside `buf`, which the caller owns
        // and no one else touches; madvise only says how to back those
        // pages: their contents (zero, untouched) and their owner (the
        // allocator's mapping, unmapped when the Vec is freed) stay.
        unsafe { libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE) };
    }
}

/// Reads into `buf` from `offset` until it is full or the file ends;
/// returns how much it read.
pub(super) fn fill(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Fills `buf` from the start of the file in up to four parts, one per
/// CPU, read at once; returns `buf.len()`, or less if a part came short.
/// (A thread the system cannot make panics; `run_job` reports that as
/// EIO.)
pub(super) fn fill_in_parts(file: &std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    // Parts of whole huge pages: two threads faulting in one page wait
    // for each other.
    let (size, part) = (buf.len(), buf.len().div_ceil(cpus().min(4)).next_multiple_of(HUGE_PAGE).min(buf.len()));
    std::thread::scope(|scope| {
        let (first, rest) = buf.split_at_mut(part);
        let others: Vec<_> = rest
            .chunks_mut(part)
            .enumerate()
            .map(|(i, chunk)| {
                let want = chunk.len();
                scope.spawn(move || fill(file, chunk, ((i + 1) * part) as u64).map(|n| n == want))
            })
            .collect();
        let mut whole = fill(file, first, 0)? == part;
        for other in others {
            whole &= other.join().unwrap_or(Err(std::io::Error::from_raw_os_error(libc::EIO)))?;
        }
        Ok(if whole { size } else { 0 })
    })
}

/// `fs.writeFile(path, data, cb)` / `fs.appendFile(path, data, cb)` ->
/// `cb(err)`: creates the file (mode 666 less the umask), truncates it or
/// appends to it, and writes every byte.
pub(super) fn write_file(lua: &Lua, args: Args, append: bool) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    let data = memory::copy(&args.string(2)?.as_bytes())?;
    let reply = Reply::new(lua, args.opt_function(3)?, if append { "appendFile" } else { "writeFile" })?;
    let path = std_path(path);
    queue(
        lua,
        reply,
        text,
        Gives::Nothing,
        Box::new(move || {
            let file = std::fs::OpenOptions::new().create(true).write(true).append(append).truncate(!append).open(path)?;
            (&*Held::new(file)).write_all(&data)?;
            Ok(Vec::new())
        }),
    )
}
