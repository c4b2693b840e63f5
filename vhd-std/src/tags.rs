//! What blktap3 tags an image with: a one-byte marker and a key hash. Both live in the
//! batmap header sector; an image without a batmap (fixed disks, sparse disks not made
//! by tapdisk) keeps them in extended attributes of its file.

use vhd_nostd::keyhash::{KeyHash, KEYHASH_BYTES};

use crate::{Errno, Image, VhdResult};

/// The extended attribute holding the marker of an image without a batmap.
pub const MARKER_XATTR: &str = "user.com.citrix.xenclient.backend.marker";
/// The extended attribute holding the key hash (65 bytes) of an image without a batmap.
pub const KEYHASH_XATTR: &str = "user.com.citrix.xenclient.backend.keyhash";

/// The image's marker (blktap3's `vhd_marker`): the batmap header byte, else the
/// attribute; a missing attribute, or a file system without them, reads as 0.
pub fn marker(img: &mut Image) -> VhdResult<u8> {
    if let Some(m) = img.disk().marker() {
        return Ok(m);
    }
    let mut v = [0u8; 1];
    read_xattr(img, MARKER_XATTR, &mut v)?;
    Ok(v[0])
}

/// Sets the image's marker (blktap3's `vhd_set_marker`): the batmap header byte (one
/// sector write), else the attribute.
pub fn set_marker(img: &mut Image, marker: u8) -> VhdResult<()> {
    if img.disk().marker().is_some() {
        return Ok(img.disk_mut().set_marker(marker)?);
    }
    let file = img.disk_mut().io().file();
    rustix::fs::fsetxattr(
        file,
        MARKER_XATTR,
        &[marker],
        rustix::fs::XattrFlags::empty(),
    )
    .map_err(|e| Errno(-e.raw_os_error()))
}

/// The image's key hash (blktap3's `vhd_get_keyhash`), `None` when none is stored.
pub fn keyhash(img: &mut Image) -> VhdResult<Option<KeyHash>> {
    let bytes = match img.disk().keyhash_bytes() {
        Some(b) => b,
        None => {
            let mut b = [0u8; KEYHASH_BYTES];
            read_xattr(img, KEYHASH_XATTR, &mut b)?;
            b
        }
    };
    Ok(KeyHash::decode(&bytes))
}

/// Reads attribute `name` of the image's file into `buf`, which stays zero where the
/// attribute is shorter, missing, or not supported by the file system.
fn read_xattr(img: &mut Image, name: &str, buf: &mut [u8]) -> VhdResult<()> {
    buf.fill(0);
    let file = img.disk_mut().io().file();
    match rustix::fs::fgetxattr(file, name, &mut *buf) {
        Ok(_) => Ok(()),
        Err(e) if e == rustix::io::Errno::NODATA || e == rustix::io::Errno::NOTSUP => Ok(()),
        Err(e) => Err(Errno(-e.raw_os_error())),
    }
}
