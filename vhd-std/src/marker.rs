//! blktap3's one-byte marker: byte 28 of the batmap header sector, or, for an image
//! without a batmap (fixed disks, sparse disks not made by tapdisk), an extended
//! attribute of the file.

use std::os::fd::AsRawFd;

use crate::{Errno, Image, VhdResult};

/// The extended attribute holding the marker of an image without a batmap.
pub const MARKER_XATTR: &str = "user.com.citrix.xenclient.backend.marker";

/// The image's marker (blktap3's `vhd_marker`): the batmap header byte, else the
/// attribute; a missing attribute, or a file system without them, reads as 0.
pub fn marker(img: &mut Image) -> VhdResult<u8> {
    if let Some(m) = img.disk().marker() {
        return Ok(m);
    }
    let fd = img.disk_mut().io().file().as_raw_fd();
    let name = std::ffi::CString::new(MARKER_XATTR).map_err(|_| Errno::EINVAL)?;
    let mut v = [0u8; 1];
    // SAFETY: `name` is NUL-terminated and `v` is a live buffer of the length passed.
    let n = unsafe { libc::fgetxattr(fd, name.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
    if n >= 0 {
        return Ok(if n == 0 { 0 } else { v[0] });
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ENODATA) | Some(libc::ENOTSUP) => Ok(0),
        Some(e) => Err(Errno(-e)),
        None => Err(Errno::EIO),
    }
}
