//! How to open an image, and what open found damaged and worked around.

use bitflags::bitflags;

/// How to open an image.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Allow writes (`VHD_OPEN_RDWR`).
    pub writable: bool,
    /// Trust only the footer at the end: no fallback to the copy at offset 0
    /// (`VHD_OPEN_STRICT`).
    pub strict: bool,
    /// Open an image whose footer is poisoned (`VHD_OPEN_IGNORE_DISABLED`).
    pub ignore_disabled: bool,
}

bitflags! {
    /// What open found damaged and worked around; empty for a clean image.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Recovered: u8 {
        /// The footer at the end was invalid; the copy at offset 0 was used.
        const BACKUP_FOOTER = 1;
        /// The footer was found at EOF − 511 (a legacy 511-byte footer).
        const SHORT_FOOTER = 2;
        /// The batmap was invalid and is ignored (read-only) or was rebuilt (read-write).
        const BATMAP_INVALID = 4;
        /// The copy at offset 0 differed from the end footer and was rewritten (read-write).
        const BACKUP_FOOTER_REWRITTEN = 8;
        /// The end footer was rewritten from the copy at offset 0 (read-write).
        const PRIMARY_FOOTER_REWRITTEN = 16;
    }
}
