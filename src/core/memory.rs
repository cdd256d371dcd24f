//! Allocations whose size a program or a peer decides: a queued write's
//! copy, the bytes of a line being gathered, a buffer, a JSON text, a
//! file's contents, an HTTP body. Rust's ordinary allocations abort the
//! process when the allocator says no (under `ulimit -v`, or with the
//! address space used up); these ask with `try_reserve`, so that running
//! out is an `ENOMEM: not enough memory` error for that one call, stream
//! or request.
//!
//! Pure Rust, apart from the conversion of `OutOfMemory` into an mlua
//! error (raised at the caller's line, as the module's own errors are).

use std::fmt;

/// The message of every allocation refused here: libuv's wording of
/// ENOMEM, as the other errors of the module word theirs.
pub const MESSAGE: &str = "ENOMEM: not enough memory";

/// The allocator refused a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfMemory;

impl fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MESSAGE)
    }
}

impl std::error::Error for OutOfMemory {}

impl From<OutOfMemory> for mlua::Error {
    fn from(error: OutOfMemory) -> mlua::Error {
        mlua::Error::external(error)
    }
}

impl From<std::collections::TryReserveError> for OutOfMemory {
    fn from(_: std::collections::TryReserveError) -> OutOfMemory {
        OutOfMemory
    }
}

/// Room in `vec` for `additional` more items (amortized, as `reserve`).
pub fn reserve<T>(vec: &mut Vec<T>, additional: usize) -> Result<(), OutOfMemory> {
    Ok(vec.try_reserve(additional)?)
}

/// An empty vector with room for exactly `capacity` items.
pub fn with_capacity<T>(capacity: usize) -> Result<Vec<T>, OutOfMemory> {
    let mut vec = Vec::new();
    vec.try_reserve_exact(capacity)?;
    Ok(vec)
}

/// Appends `bytes` to `vec`.
pub fn append(vec: &mut Vec<u8>, bytes: &[u8]) -> Result<(), OutOfMemory> {
    reserve(vec, bytes.len())?;
    vec.extend_from_slice(bytes);
    Ok(())
}

/// A copy of `bytes`, exactly as long.
pub fn copy(bytes: &[u8]) -> Result<Vec<u8>, OutOfMemory> {
    join(&[bytes])
}

/// The `pieces` one after another, in one block exactly as long.
pub fn join(pieces: &[&[u8]]) -> Result<Vec<u8>, OutOfMemory> {
    let mut joined = with_capacity(pieces.iter().map(|p| p.len()).sum())?;
    for piece in pieces {
        joined.extend_from_slice(piece);
    }
    Ok(joined)
}

/// An `io::Write` into a vector that fails with `ErrorKind::OutOfMemory`
/// where `Vec`'s own writer would abort (serde_json writes through it).
pub struct Writer<'a>(pub &'a mut Vec<u8>);

impl std::io::Write for Writer<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        append(self.0, bytes).map_err(|_| std::io::ErrorKind::OutOfMemory.into())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_libuvs_wording() {
        assert_eq!(crate::core::errors::uv_message(libuv_sys2::uv_errno_t_UV_ENOMEM, None), MESSAGE);
    }

    #[test]
    fn sizes_no_allocator_can_give_are_errors_not_aborts() {
        assert_eq!(with_capacity::<u8>(usize::MAX).err(), Some(OutOfMemory));
        let mut vec = vec![1u8];
        assert_eq!(reserve(&mut vec, isize::MAX as usize), Err(OutOfMemory));
        assert_eq!(vec, [1]);
        let mut writer = Writer(&mut vec);
        assert_eq!(std::io::Write::write_all(&mut writer, b"23").map_err(|e| e.kind()), Ok(()));
        assert_eq!(vec, b"\x0123");
    }

    #[test]
    fn pieces_are_joined_in_order() {
        assert_eq!(join(&[b"ab", b"", b"c"]).unwrap(), b"abc");
        assert_eq!(copy(b"xyz").unwrap().capacity(), 3);
    }
}
