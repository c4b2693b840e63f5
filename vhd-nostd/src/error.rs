//! Typed errors. Format errors name the structure and field at fault; engine errors
//! carry the caller's I/O error type through unchanged.

use core::fmt;

/// The on-disk structure an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structure {
    /// The 512-byte hard disk footer.
    Footer,
    /// The 1024-byte dynamic disk header.
    Header,
    /// A parent locator entry or its payload.
    ParentLocator,
    /// The UTF-16BE parent name in the dynamic header.
    ParentName,
    /// The block allocation table.
    Bat,
    /// blktap's batmap header or map.
    Batmap,
    /// A per-block sector bitmap.
    Bitmap,
    /// A data block.
    Block,
    /// The image file as a whole (its length, its layout).
    Image,
    /// The 512-byte header of a metadata journal file.
    Journal,
    /// An entry of a metadata journal: its 32-byte record or its payload.
    JournalEntry,
}

impl fmt::Display for Structure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Structure::Footer => "footer",
            Structure::Header => "header",
            Structure::ParentLocator => "parent locator",
            Structure::ParentName => "parent name",
            Structure::Bat => "BAT",
            Structure::Batmap => "batmap",
            Structure::Bitmap => "bitmap",
            Structure::Block => "block",
            Structure::Image => "image",
            Structure::Journal => "journal header",
            Structure::JournalEntry => "journal entry",
        })
    }
}

/// A malformed or unsupported on-disk structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// The buffer (or file) is shorter than the structure.
    Truncated {
        /// What was being read.
        structure: Structure,
    },
    /// The cookie (magic) is wrong: this is not the structure it should be.
    BadCookie {
        /// What was being read.
        structure: Structure,
    },
    /// The stored checksum does not match the contents.
    BadChecksum {
        /// What was being read.
        structure: Structure,
        /// The checksum stored on disk.
        stored: u32,
        /// The checksum computed over the contents.
        computed: u32,
    },
    /// A field holds a value the format does not allow here.
    InvalidField {
        /// The structure holding the field.
        structure: Structure,
        /// The field's name, as in libvhd's structs.
        field: &'static str,
    },
    /// A field holds a value this engine does not support (an unknown major version).
    Unsupported {
        /// The structure holding the field.
        structure: Structure,
        /// The field's name.
        field: &'static str,
    },
    /// A block's storage overlaps another block or the metadata (aliased or misplaced
    /// BAT entries): a write to it would change data that belongs elsewhere.
    Overlapping {
        /// The block whose write was refused.
        block: u32,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Truncated { structure } => write!(f, "{structure} truncated"),
            FormatError::BadCookie { structure } => write!(f, "{structure}: invalid cookie"),
            FormatError::BadChecksum {
                structure,
                stored,
                computed,
            } => write!(
                f,
                "{structure}: invalid checksum (stored 0x{stored:08x}, computed 0x{computed:08x})"
            ),
            FormatError::InvalidField { structure, field } => {
                write!(f, "{structure}: invalid {field}")
            }
            FormatError::Unsupported { structure, field } => {
                write!(f, "{structure}: unsupported {field}")
            }
            FormatError::Overlapping { block } => {
                write!(f, "block {block} overlaps another block or the metadata")
            }
        }
    }
}

impl FormatError {
    pub(crate) const fn invalid(structure: Structure, field: &'static str) -> Self {
        FormatError::InvalidField { structure, field }
    }
}

/// An engine error: a format problem, a misuse, or the caller's I/O error `E`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<E> {
    /// The I/O callback failed.
    Io(E),
    /// The image is malformed.
    Format(FormatError),
    /// A sector range beyond the virtual disk, or one whose end overflows.
    OutOfRange,
    /// A caller-supplied buffer is smaller than the operation needs.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
    /// A buffer length that is not a whole number of sectors.
    Unaligned,
    /// The disk was opened read-only.
    ReadOnly,
    /// The operation does not apply to this disk type (e.g. BAT access on a fixed disk).
    WrongDiskType,
    /// A differencing disk was read without its parent.
    MissingParent,
    /// The parent does not match the child (UUID, size, or block size).
    ParentMismatch,
    /// The image is marked disabled (`v_poison`) by an interrupted operation.
    Disabled,
    /// The disk has a saved state; the operation would invalidate it.
    SavedState,
    /// No room left: the file would need block offsets beyond 2^32 sectors.
    NoSpace,
    /// An argument is outside what the operation accepts.
    InvalidArgument(&'static str),
}

impl<E> From<FormatError> for Error<E> {
    fn from(e: FormatError) -> Self {
        Error::Format(e)
    }
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e:?}"),
            Error::Format(e) => write!(f, "{e}"),
            Error::OutOfRange => f.write_str("sector range beyond the end of the disk"),
            Error::BufferTooSmall { needed } => {
                write!(f, "buffer too small: {needed} bytes needed")
            }
            Error::Unaligned => f.write_str("length is not a whole number of sectors"),
            Error::ReadOnly => f.write_str("disk is open read-only"),
            Error::WrongDiskType => f.write_str("operation not supported for this disk type"),
            Error::MissingParent => f.write_str("differencing disk read without its parent"),
            Error::ParentMismatch => f.write_str("parent does not match the child"),
            Error::Disabled => f.write_str("image is disabled (interrupted operation)"),
            Error::SavedState => f.write_str("disk has a saved state"),
            Error::NoSpace => f.write_str("no room for another block (32-bit sector offsets)"),
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
        }
    }
}
