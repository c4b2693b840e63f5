//! C ABI layer (libvhd drop-in).
