//! `vhd-util scan -l VG`: the VHDs in a volume group's logical volumes, each read from
//! its physical volume at the volume's first segment, as blktap's scan does. The
//! image's name is the LV's, its size the LV's, and a parent is named by LV too.

use vhd_nostd::footer::{DiskType, Footer, FOOTER_SIZE};
use vhd_nostd::header::HEADER_SIZE;
use vhd_nostd::keyhash::KeyHash;
use vhd_nostd::locator::{LOCATOR_COUNT, PLAT_CODE_MACX};
use vhd_nostd::{Disk, Io};
use vhd_std::blockdev::{open_from_copy, Window};
use vhd_std::{Errno, FileIo, OpenMode};

use crate::lvm::{Volume, VolumeGroup};
use crate::scan::{Entry, Flags};

type VolumeDisk = Disk<Window<FileIo>, Vec<u8>>;

/// The volumes whose names match the `-m` filter or one of the FILE patterns
/// (`fnmatch(3)` with `FNM_PATHNAME`), in `lvs` order.
pub fn targets<'a>(
    vg: &'a VolumeGroup,
    filter: Option<&str>,
    patterns: &[String],
) -> Vec<&'a Volume> {
    let pats: Vec<&str> = filter
        .into_iter()
        .chain(patterns.iter().map(String::as_str))
        .collect();
    vg.volumes
        .iter()
        .filter(|v| pats.iter().any(|p| vhd_sys::fnmatch_pathname(p, &v.name)))
        .collect()
}

/// The LV name a parent locator path names, as blktap reduces it: the last `/`
/// component after `-` became `/` and `--` became `-` (so `/dev/mapper/VG-a--b` names
/// `a-b`).
pub fn volume_name(path: &str) -> String {
    let tail = &path[path.rfind('/').unwrap_or(0)..];
    let mut out = String::with_capacity(tail.len());
    let mut chars = tail.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '-' {
            out.push(c);
        } else if chars.peek() == Some(&'-') {
            chars.next();
            out.push('-');
        } else {
            out.push('/');
        }
    }
    match out.rfind('/') {
        Some(i) => out[i + 1..].to_string(),
        None => out,
    }
}

/// Opens the VHD on a volume from the footer copy at its start; the error code and
/// message of the reference's volume scan.
fn open(vol: &Volume) -> Result<(Footer, Option<VolumeDisk>), (i32, &'static str)> {
    if !vol.linear {
        return Err((-libc::ENOSYS, "opening file"));
    }
    if vol.size < (FOOTER_SIZE + HEADER_SIZE) as u64 {
        return Err((-libc::EINVAL, "device too small"));
    }
    let pv = FileIo::open(vol.device.as_ref(), OpenMode::ReadOnly)
        .map_err(|e| (Errno::from(e).code(), "opening device"))?;
    let mut io = Window::new(pv, vol.start, vol.size);
    let mut b = [0u8; FOOTER_SIZE];
    io.read_at(0, &mut b)
        .map_err(|e| (Errno::from(e).code(), "reading headers"))?;
    let footer = Footer::parse(&b).map_err(|_| (-libc::EINVAL, "invalid footer"))?;
    let sparse = footer
        .validate()
        .map_err(|_| (-libc::EINVAL, "invalid footer"))?
        .is_sparse();
    if !sparse {
        return Ok((footer, None));
    }
    let disk = open_from_copy(io, footer.clone())
        .map_err(|e| (Errno::from(e).code(), "reading header"))?;
    Ok((footer, Some(disk)))
}

/// The parent's LV name: from the header's parent name with `-f` (blktap3 records
/// `VG-LV`, the parent's `/dev/mapper` name), else from the first `MacX` locator; both
/// reduced to the volume's name.
fn parent(disk: &mut VolumeDisk, fast: bool) -> Result<String, i32> {
    let h = disk.header().cloned().ok_or(-libc::EINVAL)?;
    if fast {
        let mut buf = [0u8; 1024];
        return h
            .parent_location(&mut buf)
            .map(volume_name)
            .map_err(|_| -libc::EINVAL);
    }
    let i = (0..LOCATOR_COUNT)
        .find(|&i| h.loc[i].code == PLAT_CODE_MACX)
        .ok_or(-libc::EINVAL)?;
    let mut scratch = vec![0u8; 2 * vhd_nostd::locator::PATH_MAX + 16];
    let mut out = vec![0u8; 2 * vhd_nostd::locator::PATH_MAX + 16];
    let path = disk
        .parent_locator_path(i, &mut scratch, &mut out)
        .map_err(|e| Errno::from(e).code())?;
    Ok(volume_name(path))
}

/// Scans one volume.
pub(crate) fn scan(vol: &Volume, flags: Flags) -> Entry {
    let (footer, disk) = match open(vol) {
        Ok(o) => o,
        Err((code, msg)) => return Entry::failed(&vol.name, code, msg),
    };
    // A device has no extended attributes: the tags are the batmap header's, if any.
    let tags = disk.as_ref().map_or((0, None), |d| {
        let kh = d.keyhash_bytes().and_then(|b| KeyHash::decode(&b));
        (d.marker().unwrap_or(0), kh)
    });
    let parent = match disk {
        Some(mut d) if d.disk_type() == Some(DiskType::Differencing) => {
            match parent(&mut d, flags.fast) {
                Ok(p) => Some(p),
                Err(code) => return Entry::failed(&vol.name, code, "getting parent"),
            }
        }
        _ => None,
    };
    Entry {
        name: vol.name.clone(),
        capacity: footer.curr_size,
        size: vol.size,
        hidden: footer.hidden,
        parent,
        error: None,
        tags: flags.markers.then_some(tags),
    }
}

#[cfg(test)]
mod tests {
    use super::volume_name;

    #[test]
    fn locator_paths_reduce_to_volume_names() {
        assert_eq!(volume_name("/dev/mapper/VG_test-vhd1"), "vhd1");
        assert_eq!(volume_name("/dev/mapper/VG--x-VHD--y"), "VHD-y");
        assert_eq!(volume_name("./base"), "base");
        assert_eq!(volume_name("base"), "base");
    }
}
