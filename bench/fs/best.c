/* The fastest safe way to do what a Lua readFile must do, on this machine:
 * read a whole file (from the page cache) into fresh memory with read(2),
 * then copy those bytes once into another fresh buffer, as lua_pushlstring
 * does when it makes the Lua string.
 *
 * Why this is the bound: a LuaJIT string cannot be written into, so its
 * bytes are always a copy of bytes already in memory; and reading through
 * mmap(2) of the file instead of read(2) is not safe, since a file
 * truncated while it is copied raises SIGBUS in the process. So the least
 * work is: fault in a fresh buffer and read into it, then fault in the
 * string's memory and copy.
 *
 * Each strategy below reads the file differently; the copy is the same for
 * all: into an anonymous mmap of the file's size with no advice, which is
 * what LuaJIT's allocator gives lua_pushlstring for a big string (a direct
 * mmap, 4 KiB pages while transparent huge pages are "madvise"), filled on
 * one thread. Each strategy is timed from before open(2) to the end of the
 * copy (open, fstat, allocation, reads, close, copy), as the other
 * benchmarks are timed from the readFile call to its callback; freeing both
 * buffers comes after, untimed (our readFile frees its buffer off the loop,
 * and the string lives on).
 *
 * Usage: best PATH
 * Prints one line per strategy, then the best:
 *   strategy name=NAME ms=TOTAL read_ms=READ copy_ms=COPY
 *   result impl=c test=big ms=BEST bytes=SIZE count=1 strategy=NAME */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define MIB (1024 * 1024)
#define HUGE_PAGE (2 * MIB)
#define MAX_THREADS 4

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("best: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* How the read buffer is allocated. */
enum alloc {
  MALLOC,        /* malloc(size): glibc maps it fresh, 4 KiB pages faulted as read(2) writes */
  POPULATE,      /* mmap(MAP_POPULATE): the kernel faults in every page at once */
  HUGE,          /* mmap aligned to 2 MiB + madvise(MADV_HUGEPAGE): 2 MiB pages faulted by read(2) */
  HUGE_POPULATE, /* HUGE, then madvise(MADV_POPULATE_WRITE) */
};

typedef struct {
  const char *name;
  enum alloc alloc;
  size_t block;   /* bytes per read(2); 0: ask for all that is left */
  int fadvise;    /* posix_fadvise(SEQUENTIAL, WILLNEED) + readahead(2) first */
  int threads;    /* > 1: that many parts read side by side with pread(2) */
} strategy;

/* A read buffer: `data` is where the file goes, `map`/`map_len` what to free. */
typedef struct {
  char *data;
  void *map;
  size_t map_len;
  enum alloc alloc;
} buffer;

static buffer allocate(enum alloc alloc, size_t size) {
  buffer b = {0};
  b.alloc = alloc;
  if (alloc == MALLOC) {
    b.data = malloc(size);
    if (!b.data) die("malloc %zu: out of memory", size);
    return b;
  }
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | (alloc == POPULATE ? MAP_POPULATE : 0);
  b.map_len = size + (alloc == POPULATE ? 0 : HUGE_PAGE);
  b.map = mmap(NULL, b.map_len, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (b.map == MAP_FAILED) die("mmap %zu: %s", b.map_len, strerror(errno));
  b.data = b.map;
  if (alloc == HUGE || alloc == HUGE_POPULATE) {
    b.data = (char *)(((unsigned long)b.map + HUGE_PAGE - 1) & ~(unsigned long)(HUGE_PAGE - 1));
    if (madvise(b.data, size, MADV_HUGEPAGE) != 0) die("madvise(MADV_HUGEPAGE): %s", strerror(errno));
    if (alloc == HUGE_POPULATE && madvise(b.data, size, MADV_POPULATE_WRITE) != 0)
      die("madvise(MADV_POPULATE_WRITE): %s", strerror(errno));
  }
  return b;
}

static void release(buffer *b) {
  if (b->alloc == MALLOC) free(b->data);
  else munmap(b->map, b->map_len);
}

/* Reads into buf[0..len) from `offset` in reads of at most `block` bytes
 * (0: all that is left) until it is full or the file ends; returns the
 * count read. */
static size_t fill(int fd, char *buf, size_t len, off_t offset, size_t block) {
  size_t done = 0;
  while (done < len) {
    size_t want = len - done;
    if (block && want > block) want = block;
    ssize_t n = pread(fd, buf + done, want, offset + (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("read: %s", strerror(errno));
    if (n == 0) break;
    done += (size_t)n;
  }
  return done;
}

typedef struct {
  int fd;
  char *buf;
  size_t len;
  off_t offset;
  size_t block;
  size_t done;
} part;

static void *fill_part(void *arg) {
  part *p = arg;
  p->done = fill(p->fd, p->buf, p->len, p->offset, p->block);
  return NULL;
}

/* Reads the file into buf[0..size) as `s` says; returns the count read. */
static size_t read_all(const strategy *s, int fd, char *buf, size_t size) {
  if (s->threads <= 1) return fill(fd, buf, size, 0, s->block);
  part parts[MAX_THREADS];
  pthread_t threads[MAX_THREADS];
  size_t each = (size + s->threads - 1) / s->threads, total = 0;
  int n = 0;
  for (size_t at = 0; at < size; at += each, n++) {
    parts[n] = (part){fd, buf + at, at + each > size ? size - at : each, (off_t)at, s->block, 0};
    if (n > 0 && pthread_create(&threads[n], NULL, fill_part, &parts[n]) != 0) die("pthread_create failed");
  }
  fill_part(&parts[0]); /* the first part on this thread, as our readFile does */
  for (int i = 0; i < n; i++) {
    if (i > 0) pthread_join(threads[i], NULL);
    total += parts[i].done;
  }
  return total;
}

typedef struct {
  double ms, read_ms, copy_ms;
  size_t bytes;
} timing;

static timing run(const strategy *s, const char *path) {
  timing t;
  double t0 = now_ms();
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) die("fstat %s: %s", path, strerror(errno));
  size_t size = (size_t)st.st_size;
  if (size == 0) die("%s is empty", path);
  if (s->fadvise) {
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
    readahead(fd, 0, size);
  }
  buffer in = allocate(s->alloc, size);
  t.bytes = read_all(s, fd, in.data, size);
  close(fd);
  double t1 = now_ms();
  /* The string's memory: a fresh mapping with no advice, as LuaJIT's
   * allocator makes for a big block, filled by one memcpy. */
  char *out = mmap(NULL, t.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (out == MAP_FAILED) die("mmap %zu: %s", t.bytes, strerror(errno));
  memcpy(out, in.data, t.bytes);
  double t2 = now_ms();
  t.ms = t2 - t0;
  t.read_ms = t1 - t0;
  t.copy_ms = t2 - t1;
  /* Untimed: the copy is looked at (so it cannot be left out) and both
   * buffers are freed. */
  if (memcmp(out, in.data, t.bytes) != 0) die("%s: the copy differs", s->name);
  munmap(out, t.bytes);
  release(&in);
  return t;
}

int main(int argc, char **argv) {
  if (argc != 2) die("usage: best PATH");
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int threads = cpus < 2 ? 2 : cpus > MAX_THREADS ? MAX_THREADS : (int)cpus;
  char parallel[64], parallel_huge[64];
  snprintf(parallel, sizeof parallel, "malloc, %d threads of pread", threads);
  snprintf(parallel_huge, sizeof parallel_huge, "MADV_HUGEPAGE, %d threads of pread", threads);
  const strategy strategies[] = {
      {"malloc, one read", MALLOC, 0, 0, 1},
      {"malloc, 1 MiB reads", MALLOC, 1 * MIB, 0, 1},
      {"malloc, 2 MiB reads", MALLOC, 2 * MIB, 0, 1},
      {"malloc, 4 MiB reads", MALLOC, 4 * MIB, 0, 1},
      {"malloc, 8 MiB reads", MALLOC, 8 * MIB, 0, 1},
      {"malloc, fadvise + readahead, one read", MALLOC, 0, 1, 1},
      {"MAP_POPULATE, one read", POPULATE, 0, 0, 1},
      {"MADV_HUGEPAGE, one read", HUGE, 0, 0, 1},
      {"MADV_HUGEPAGE, 2 MiB reads", HUGE, 2 * MIB, 0, 1},
      {"MADV_HUGEPAGE + MADV_POPULATE_WRITE, one read", HUGE_POPULATE, 0, 0, 1},
      {parallel, MALLOC, 0, 0, threads},
      {parallel_huge, HUGE, 0, 0, threads},
  };
  const strategy *best = NULL;
  timing best_t = {0};
  for (size_t i = 0; i < sizeof strategies / sizeof strategies[0]; i++) {
    const strategy *s = &strategies[i];
    timing t = run(s, argv[1]);
    printf("strategy name=\"%s\" ms=%.1f read_ms=%.1f copy_ms=%.1f bytes=%zu\n", s->name, t.ms, t.read_ms,
           t.copy_ms, t.bytes);
    if (i > 0 && t.bytes != best_t.bytes) die("%s read %zu bytes, %s %zu", s->name, t.bytes, best->name, best_t.bytes);
    if (!best || t.ms < best_t.ms) best = s, best_t = t;
  }
  printf("result impl=c test=big ms=%.1f bytes=%zu count=1 strategy=\"%s\"\n", best_t.ms, best_t.bytes, best->name);
  return 0;
}
