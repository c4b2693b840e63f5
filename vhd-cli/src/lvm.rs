//! A volume group as LVM's own tools describe it (`vhd-util scan -l`), like blktap's
//! lvm-util: `vgs` gives the extent size and each physical volume's first extent,
//! `lvs` each logical volume's size and first segment. A volume is then read straight
//! from its physical volume, so nothing needs activating (or device-mapper at all).

use std::process::{Command, Stdio};

/// Where LVM's tools are, as blktap runs them.
const VGS: &str = "/usr/sbin/vgs";
const LVS: &str = "/usr/sbin/lvs";

/// A logical volume and where its first segment starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The LV's name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether the first segment is `linear` (anything else cannot be read in place).
    pub linear: bool,
    /// The physical volume holding the first segment (empty for a virtual one).
    pub device: String,
    /// Byte offset of the first segment on `device`.
    pub start: u64,
}

/// A volume group's logical volumes, in `lvs` order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeGroup {
    /// The logical volumes.
    pub volumes: Vec<Volume>,
}

/// One physical volume: its device and where its first extent starts.
struct Pv {
    name: String,
    pe_start: u64,
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

/// `vgs` lines: `vg_name extent_size lv_count pv_count pv_name pe_start`, one per PV.
/// The extent size and the group's PVs; `EINVAL` if the group is not listed.
fn parse_vgs(vg: &str, text: &str) -> Result<(u64, Vec<Pv>), i32> {
    let mut extent = None;
    let mut pvs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [name, ext, _lvs, _pvs, pv, pe_start] = f[..] else {
            return Err(libc::EINVAL);
        };
        if name != vg {
            continue;
        }
        extent = Some(num(ext)?);
        pvs.push(Pv {
            name: pv.to_string(),
            pe_start: num(pe_start)?,
        });
    }
    match extent {
        Some(e) if e > 0 => Ok((e, pvs)),
        _ => Err(libc::EINVAL),
    }
}

/// `lvs` lines: `lv_name lv_size segtype seg_count seg_start seg_size devices`, one per
/// segment (a virtual segment has no devices). Only first segments (start 0) count.
fn parse_lvs(text: &str, extent: u64, pvs: &[Pv]) -> Result<Vec<Volume>, i32> {
    let mut volumes = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if !(6..=7).contains(&f.len()) {
            return Err(libc::EINVAL);
        }
        let (name, size, segtype, seg_start) = (f[0], num(f[1])?, f[2], num(f[4])?);
        if seg_start != 0 {
            continue;
        }
        // `/dev/sdb(12)` or, striped, `/dev/sdb(12),/dev/sdc(0)`: the first one.
        let dev = f.get(6).copied().unwrap_or("");
        let first = dev.split(',').next().unwrap_or("");
        let (device, start) = match first.split_once('(') {
            Some((d, rest)) => {
                let pe = num(rest.trim_end_matches(')'))?;
                let pv = pvs.iter().find(|p| p.name == d).ok_or(libc::EINVAL)?;
                let off = pe
                    .checked_mul(extent)
                    .and_then(|o| o.checked_add(pv.pe_start))
                    .ok_or(libc::EINVAL)?;
                (d.to_string(), off)
            }
            None => (String::new(), 0),
        };
        volumes.push(Volume {
            name: name.to_string(),
            size,
            linear: segtype == "linear" && !device.is_empty(),
            device,
            start,
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
        let (extent, pvs) = parse_vgs(vg, &vgs).map_err(|e| -e)?;
        let lvs = report(
            LVS,
            vg,
            "lv_name,lv_size,segtype,seg_count,seg_start,seg_size,devices",
        )
        .map_err(|e| -e)?;
        let volumes = parse_lvs(&lvs, extent, &pvs).map_err(|e| -e)?;
        Ok(VolumeGroup { volumes })
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
        let (extent, pvs) = parse_vgs("vg0", VGS_OUT).unwrap();
        let v = parse_lvs(LVS_OUT, extent, &pvs).unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!((v[0].device.as_str(), v[0].start), ("/dev/loop1", 1048576));
        assert_eq!(
            (v[1].size, v[1].start, v[1].linear),
            (16777216, 2097152 + 3 * 4194304, true)
        );
        assert!(!v[2].linear && !v[3].linear);
        assert_eq!(v[3].device, "");
    }

    #[test]
    fn unknown_group_and_garbage_are_einval() {
        assert_eq!(parse_vgs("other", VGS_OUT).err(), Some(libc::EINVAL));
        assert_eq!(parse_vgs("vg0", "vg0 x").err(), Some(libc::EINVAL));
        let (extent, pvs) = parse_vgs("vg0", VGS_OUT).unwrap();
        assert_eq!(
            parse_lvs("a 1 linear 1 0 1 /dev/nope(0)", extent, &pvs).err(),
            Some(libc::EINVAL)
        );
    }
}
