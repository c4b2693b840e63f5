//! Errors as libvhd reports them: negative `errno` values. This is the one place where
//! core errors become numbers.
//!
//! | core error | errno |
//! |---|---|
//! | I/O failure | the system call's (`-EIO` for a short read) |
//! | malformed image, wrong disk type, parent mismatch, disabled image, bad argument | `-EINVAL` |
//! | sector range beyond the disk | `-ERANGE` |
//! | write on a read-only open | `-EBADF` (what `pwrite` on an `O_RDONLY` descriptor gives) |
//! | no room for more blocks (32-bit sector offsets) | `-ENOSPC` |
//! | a structure larger than the buffer sized for it (a locator payload, a path) | `-EINVAL` |
//!
//! The tools and the C library both map through here. A buffer too small is
//! `-EINVAL`: the buffers are sized from the format's limits, so what outgrows them is
//! an image (or argument) beyond those limits, which libvhd reports as invalid; `-ENOMEM`
//! would tell the caller to retry with more memory, which cannot help.

use vhd_nostd::Error;

use crate::fileio::IoError;

/// A libvhd-style error: a negative `errno` value such as `-libc::EINVAL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

/// A result whose error is a negative `errno`.
pub type VhdResult<T> = Result<T, Errno>;

impl Errno {
    /// `-EINVAL`.
    pub const EINVAL: Errno = Errno(-libc::EINVAL);
    /// `-ENOENT`.
    pub const ENOENT: Errno = Errno(-libc::ENOENT);
    /// `-EIO`.
    pub const EIO: Errno = Errno(-libc::EIO);
    /// `-ERANGE`.
    pub const ERANGE: Errno = Errno(-libc::ERANGE);
    /// `-ENOSPC`.
    pub const ENOSPC: Errno = Errno(-libc::ENOSPC);

    /// The negative value, as libvhd returns it.
    pub fn code(self) -> i32 {
        self.0
    }

    /// A process exit status for it, as vhd-util computes one (the negation).
    pub fn exit_status(self) -> i32 {
        -self.0
    }

    /// From an `std::io::Error` of a system call.
    pub fn from_io(e: &std::io::Error) -> Errno {
        Errno(-e.raw_os_error().unwrap_or(libc::EIO))
    }
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for Errno {}

impl From<IoError> for Errno {
    fn from(e: IoError) -> Errno {
        Errno(-e.0)
    }
}

impl From<std::io::Error> for Errno {
    fn from(e: std::io::Error) -> Errno {
        Errno::from_io(&e)
    }
}

impl From<Error<IoError>> for Errno {
    fn from(e: Error<IoError>) -> Errno {
        let n = match e {
            Error::Io(io) => return io.into(),
            Error::Format(_)
            | Error::Unaligned
            | Error::WrongDiskType
            | Error::MissingParent
            | Error::ParentMismatch
            | Error::Disabled
            | Error::SavedState
            | Error::BufferTooSmall { .. }
            | Error::InvalidArgument(_) => libc::EINVAL,
            Error::OutOfRange => libc::ERANGE,
            Error::ReadOnly => libc::EBADF,
            Error::NoSpace => libc::ENOSPC,
        };
        Errno(-n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vhd_nostd::{FormatError, Structure};

    #[test]
    fn mapping() {
        let f = Error::<IoError>::Format(FormatError::BadCookie {
            structure: Structure::Footer,
        });
        assert_eq!(Errno::from(f), Errno(-22));
        assert_eq!(Errno::from(Error::Io(IoError(libc::ENOENT))), Errno(-2));
        assert_eq!(Errno::from(Error::<IoError>::OutOfRange).exit_status(), 34);
        assert_eq!(Errno::from(Error::<IoError>::NoSpace), Errno::ENOSPC);
    }
}
