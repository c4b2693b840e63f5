//! A volume group as LVM's own tools describe it (`vhd-util scan -l`), like blktap's
//! lvm-util: `vgs` gives the extent size and each physical volume's first extent,
//! `lvs` each logical volume's size and first segment. A volume is then read straight
//! from its physical volume, so nothing needs activating (or device-mapper at all).

use std::process::{Command, Stdio};

/// Where LVM's tools are, as blktap runs them.
const VGS: &str = "/usr/sbin/vgs";
const LVS: &str = "/usr/sbin/lvs";

/// The longest PV or LV name blktap's `struct vg` holds (`MAX_NAME_SIZE` less the NUL
/// and one more, as its name copy refuses a name that fills 255 bytes).
pub const MAX_NAME_LEN: usize = 254;

/// A logical volume and where its first segment starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The LV's name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// How many segments it has.
    pub segments: u32,
    /// Whether the first segment is `linear` (anything else cannot be read in place).
    pub linear: bool,
    /// The physical volume holding the first segment (empty for a virtual one).
    pub device: String,
    /// Byte offset of the first segment on `device`: its first extent times the extent
    /// size, plus where the PV's extents start.
    pub start: u64,
    /// Size of the first segment in bytes.
    pub seg_size: u64,
}

/// One physical volume: its device and the byte offset of its first extent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalVolume {
    /// The device, as LVM names it.
    pub name: String,
    /// Where its first extent starts, in bytes.
    pub pe_start: u64,
}

/// A volume group: its extent size, physical volumes (in `vgs` order) and logical
/// volumes (in `lvs` order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeGroup {
    /// The group's name.
    pub name: String,
    /// Bytes per extent.
    pub extent_size: u64,
    /// The physical volumes.
    pub pvs: Vec<PhysicalVolume>,
    /// The logical volumes.
    pub volumes: Vec<Volume>,
}

/// Runs an LVM reporting command in bytes, without headings; its stdout.
fn report(cmd: &str, vg: &str, fields: &str) -> Result<String, i32> {
    let out = Command::new(cmd)
        .args([
            vg,
            "--noheadings",
            "--nosuffix",
            "--units=b",
            &format!("--options={fields}"),
            "--unbuffered",
        ])
        // LVM warns on stderr about every descriptor it inherits.
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn num(s: &str) -> Result<u64, i32> {
    s.parse().map_err(|_| libc::EINVAL)
}

/// A PV or LV name from LVM's report: `ENAMETOOLONG` past [`MAX_NAME_LEN`], as blktap.
fn name(s: &str) -> Result<String, i32> {
    if s.len() > MAX_NAME_LEN {
        return Err(libc::ENAMETOOLONG);
    }
    Ok(s.to_string())
}

/// `vgs` lines: `vg_name extent_size lv_count pv_count pv_name pe_start`, one per PV.
/// The group without its volumes; `EINVAL` if it is not listed (or another is, or a PV
/// is missing), `EEXIST` for a PV listed twice, `ENAMETOOLONG` for an over-long name.
fn parse_vgs(vg: &str, text: &str) -> Result<VolumeGroup, i32> {
    let mut group = VolumeGroup {
        name: vg.to_string(),
        ..VolumeGroup::default()
    };
    let mut pv_count = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [vg_name, ext, _lvs, pvs, pv, pe_start] = f[..] else {
            return Err(libc::EINVAL);
        };
        if vg_name != vg {
            return Err(libc::EINVAL);
        }
        group.extent_size = num(ext)?;
        pv_count = Some(num(pvs)?);
        if group.pvs.iter().any(|p| p.name == pv) {
            return Err(libc::EEXIST);
        }
        group.pvs.push(PhysicalVolume {
            name: name(pv)?,
            pe_start: num(pe_start)?,
        });
    }
    match pv_count {
        Some(n) if group.extent_size > 0 && n == group.pvs.len() as u64 => Ok(group),
        _ => Err(libc::EINVAL),
    }
}

/// `lvs` lines: `lv_name lv_size segtype seg_count seg_start seg_size devices`, one per
/// segment (a virtual segment has no devices). Only first segments (start 0) count.
fn parse_lvs(text: &str, group: &VolumeGroup) -> Result<Vec<Volume>, i32> {
    let mut volumes = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if !(6..=7).contains(&f.len()) {
            return Err(libc::EINVAL);
        }
        let (size, segtype, seg_start) = (num(f[1])?, f[2], num(f[4])?);
        if seg_start != 0 {
            continue;
        }
        let segments = u32::try_from(num(f[3])?).map_err(|_| libc::EINVAL)?;
        // `/dev/sdb(12)` or, striped, `/dev/sdb(12),/dev/sdc(0)`: the first one.
        let dev = f.get(6).copied().unwrap_or("");
        let first = dev.split(',').next().unwrap_or("");
        let (device, start) = match first.split_once('(') {
            Some((d, rest)) => {
                let pe = num(rest.trim_end_matches(')'))?;
                let pv = group.pvs.iter().find(|p| p.name == d).ok_or(libc::EINVAL)?;
                let off = pe
                    .checked_mul(group.extent_size)
                    .and_then(|o| o.checked_add(pv.pe_start))
                    .ok_or(libc::EINVAL)?;
                (d.to_string(), off)
            }
            None => (String::new(), 0),
        };
        volumes.push(Volume {
            name: name(f[0])?,
            size,
            segments,
            linear: segtype == "linear" && !device.is_empty(),
            device,
            start,
            seg_size: num(f[5])?,
        });
    }
    Ok(volumes)
}

impl VolumeGroup {
    /// Lists volume group `vg` with `vgs` and `lvs`; a negative errno (`-EINVAL` for a
    /// group LVM does not know).
    pub fn scan(vg: &str) -> Result<VolumeGroup, i32> {
        let vgs = report(
            VGS,
            vg,
            "vg_name,vg_extent_size,lv_count,pv_count,pv_name,pe_start",
        )
        .map_err(|e| -e)?;
        let mut group = parse_vgs(vg, &vgs).map_err(|e| -e)?;
        let lvs = report(
            LVS,
            vg,
            "lv_name,lv_size,segtype,seg_count,seg_start,seg_size,devices",
        )
        .map_err(|e| -e)?;
        group.volumes = parse_lvs(&lvs, &group).map_err(|e| -e)?;
        Ok(group)
    }

    /// The volume named `name`.
    pub fn find(&self, name: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VGS_OUT: &str =
        "  vg0 4194304   3   2 /dev/loop1 1048576\n  vg0 4194304   3   2 /dev/loop2 2097152\n";
    const LVS_OUT: &str = "  a 12582912 linear    1     0 12582912 /dev/loop1(0)
  b 16777216 linear    2     0 12582912 /dev/loop2(3)
  b 16777216 linear    2 12582912 4194304 /dev/loop1(11)
  s 8388608 striped    1     0 8388608 /dev/loop1(12),/dev/loop2(0)
  z 4194304 zero    1     0 4194304
";

    #[test]
    fn first_segments_are_located_on_their_pv() {
        let g = parse_vgs("vg0", VGS_OUT).unwrap();
        assert_eq!((g.name.as_str(), g.extent_size), ("vg0", 4194304));
        assert_eq!(
            g.pvs,
            [
                PhysicalVolume {
                    name: "/dev/loop1".into(),
                    pe_start: 1048576
                },
                PhysicalVolume {
                    name: "/dev/loop2".into(),
                    pe_start: 2097152
                },
            ]
        );
        let v = parse_lvs(LVS_OUT, &g).unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!((v[0].device.as_str(), v[0].start), ("/dev/loop1", 1048576));
        assert_eq!((v[0].segments, v[0].seg_size), (1, 12582912));
        assert_eq!(
            (v[1].size, v[1].start, v[1].linear, v[1].segments),
            (16777216, 2097152 + 3 * 4194304, true, 2)
        );
        assert_eq!(v[1].seg_size, 12582912, "the first segment's size");
        assert!(!v[2].linear && !v[3].linear);
        assert_eq!(v[2].start, 1048576 + 12 * 4194304);
        assert_eq!((v[3].device.as_str(), v[3].start), ("", 0));
    }

    #[test]
    fn unknown_group_and_garbage_are_einval() {
        assert_eq!(parse_vgs("other", VGS_OUT).err(), Some(libc::EINVAL));
        assert_eq!(parse_vgs("vg0", "").err(), Some(libc::EINVAL));
        assert_eq!(parse_vgs("vg0", "vg0 x").err(), Some(libc::EINVAL));
        // pv_count says 3, two are listed.
        assert_eq!(
            parse_vgs("vg0", &VGS_OUT.replace("   2 /dev", "   3 /dev")).err(),
            Some(libc::EINVAL)
        );
        let g = parse_vgs("vg0", VGS_OUT).unwrap();
        assert_eq!(
            parse_lvs("a 1 linear 1 0 1 /dev/nope(0)", &g).err(),
            Some(libc::EINVAL)
        );
    }

    #[test]
    fn a_pv_twice_is_eexist_and_long_names_enametoolong() {
        let twice = "vg0 4194304 0 2 /dev/loop1 1048576\nvg0 4194304 0 2 /dev/loop1 1048576\n";
        assert_eq!(parse_vgs("vg0", twice).err(), Some(libc::EEXIST));
        let long = format!("/dev/{}", "p".repeat(MAX_NAME_LEN - 4));
        let vgs = format!("vg0 4194304 1 1 {long} 1048576\n");
        assert_eq!(parse_vgs("vg0", &vgs).err(), Some(libc::ENAMETOOLONG));
        let fits = &long[..MAX_NAME_LEN];
        let g = parse_vgs("vg0", &format!("vg0 4194304 1 1 {fits} 1048576\n")).unwrap();
        let lv = |n: &str| format!("{n} 4194304 linear 1 0 4194304 {fits}(0)");
        assert_eq!(
            parse_lvs(&lv(&"l".repeat(MAX_NAME_LEN)), &g).unwrap().len(),
            1
        );
        assert_eq!(
            parse_lvs(&lv(&"l".repeat(MAX_NAME_LEN + 1)), &g).err(),
            Some(libc::ENAMETOOLONG)
        );
    }
}
