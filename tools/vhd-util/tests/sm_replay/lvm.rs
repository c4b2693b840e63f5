//! The storage manager's calls on an LVM storage repository (LVHD): every VHD lives in
//! a logical volume of a volume group on a loop device, and is reached as
//! `/dev/VG/LV`. The kernel here has no device-mapper, so "activating" a volume is done
//! as device-mapper's linear target would map it: a loop device over the PV at the
//! volume's offset (from the group's own metadata), with the `/dev/VG/LV` and
//! `/dev/mapper/VG-LV` links udev would make. Everything is removed when the test ends,
//! passed or not.
//!
//! Needs root, losetup and lvm2, so it is `#[ignore]`d here and run by
//! `make blockdev-test` (tests/blockdev/run.sh), which checks for them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use vhd_cli::lvm::VolumeGroup;

use super::*;

/// Runs a system command; panics with its stderr if it fails.
fn run(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd)
        .args(args)
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        o.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// Runs a clean-up command, ignoring its outcome.
fn quiet(cmd: &str, args: &[&str]) {
    let _ = Command::new(cmd)
        .args(args)
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A volume group on one loop device, with the volumes made so far "active".
struct Sr {
    vg: String,
    pv: String,
    loops: Vec<String>,
    links: Vec<PathBuf>,
}

/// `a` with each `-` doubled, as device-mapper spells VG and LV names.
fn dm(a: &str) -> String {
    a.replace('-', "--")
}

impl Sr {
    /// A new group named `vg` on a sparse file of `mib` MiB in `dir`, 4 MiB extents.
    fn new(dir: &Path, vg: &str, mib: u64) -> Sr {
        let file = dir.join("pv.img");
        std::fs::File::create(&file)
            .unwrap()
            .set_len(mib << 20)
            .unwrap();
        let pv = run("losetup", &["-f", "--show", file.to_str().unwrap()]);
        let sr = Sr {
            vg: vg.to_string(),
            pv,
            loops: Vec::new(),
            links: Vec::new(),
        };
        run("pvcreate", &["-q", &sr.pv]);
        run("vgcreate", &["-q", "-s", "4m", vg, &sr.pv]);
        sr
    }

    /// `/dev/VG/LV`.
    fn path(&self, lv: &str) -> String {
        format!("/dev/{}/{lv}", self.vg)
    }

    /// Creates volume `lv` of `mib` MiB and activates it; its `/dev/VG/LV` path.
    fn lvcreate(&mut self, lv: &str, mib: u64) -> String {
        run(
            "lvcreate",
            &[
                "--driverloaded",
                "n",
                "-an",
                "-Zn",
                "-q",
                "-n",
                lv,
                "-L",
                &format!("{mib}m"),
                &self.vg,
            ],
        );
        let group = VolumeGroup::scan(&self.vg).unwrap();
        let v = group.find(lv).unwrap();
        assert!(v.linear && v.segments == 1 && v.device == self.pv, "{v:?}");
        let dev = run(
            "losetup",
            &[
                "-f",
                "--show",
                "-o",
                &v.start.to_string(),
                "--sizelimit",
                &v.size.to_string(),
                &self.pv,
            ],
        );
        self.loops.push(dev.clone());
        let vg_dir = PathBuf::from(format!("/dev/{}", self.vg));
        std::fs::create_dir_all(&vg_dir).unwrap();
        let mapper = PathBuf::from(format!("/dev/mapper/{}-{}", dm(&self.vg), dm(lv)));
        for link in [vg_dir.join(lv), mapper] {
            std::os::unix::fs::symlink(&dev, &link).unwrap();
            self.links.push(link);
        }
        self.path(lv)
    }
}

impl Drop for Sr {
    fn drop(&mut self) {
        for l in &self.links {
            let _ = std::fs::remove_file(l);
        }
        let _ = std::fs::remove_dir(format!("/dev/{}", self.vg));
        for l in self.loops.iter().rev() {
            quiet("losetup", &["-d", l]);
        }
        quiet("vgremove", &["-q", "-f", &self.vg]);
        quiet("pvremove", &["-q", "-ff", "-y", &self.pv]);
        quiet("losetup", &["-d", &self.pv]);
    }
}

/// A group name no other run uses.
fn vg_name() -> String {
    let prefix = std::env::var("VHDRS_TEST_PREFIX").unwrap_or_else(|_| "vhdrs".into());
    format!("{prefix}{}_sm", std::process::id())
}

/// `VHD-<uuid>`-style names, as the LVHD driver names its volumes.
const BASE: &str = "VHD-base-1";
const LEAF: &str = "VHD-leaf-2";
const CLONE: &str = "VHD-clone-3";
const SKIP: &str = "VHD-skip-4";

#[test]
#[ignore = "needs root, loop devices and lvm2: run by `make blockdev-test`"]
fn lvhd_calls_on_logical_volumes() {
    let d = workdir("lvm");
    let mut sr = Sr::new(&d, &vg_name(), 200);
    let vg = sr.vg.clone();
    // create: the LV first (room for the image and its 2 TiB metadata), then the VHD.
    let base = sr.lvcreate(BASE, 40);
    sm(
        &d,
        &[
            "create",
            "--debug",
            "-n",
            &base,
            "-s",
            "30",
            "-S",
            LVHD_MSIZE_MB,
        ],
    )
    .unwrap();
    let info = get_vhd_info(&d, &base, true);
    assert_eq!(info, new_lvhd_30m());
    assert_eq!(query_int(&d, "-S", &base), 2_097_152, "getMaxResizeSize");
    assert!(!has_parent(&d, &base));
    assert_eq!(get_depth(&d, &base), 1);
    // getVHDInfoLVM: read from the PV, no device needed.
    let scanned = scan_info(&d, &["scan", "-f", "-l", &vg, "-m", BASE]);
    assert_eq!(
        scanned,
        [ScanInfo {
            name: BASE.into(),
            error: None,
            capacity: 30 * MIB,
            size: 40 * MIB,
            hidden: 0,
            parent: None,
        }]
    );

    // Data in the base, then a snapshot on a new volume; the base is hidden.
    write(Path::new(&base), 4096, 8, 0x5a);
    let leaf = sr.lvcreate(LEAF, 40);
    sm(
        &d,
        &[
            "snapshot",
            "--debug",
            "-n",
            &leaf,
            "-p",
            &base,
            "-S",
            LVHD_MSIZE_MB,
        ],
    )
    .unwrap();
    sm(
        &d,
        &["set", "--debug", "-n", &base, "-f", "hidden", "-v", "1"],
    )
    .unwrap();
    assert_eq!(query_int(&d, "-f", &base), 1, "getHidden");
    let info = get_vhd_info(&d, &leaf, true);
    // The parent by its device-mapper name (blktap3's canonpath), from which the
    // storage manager takes the volume name; it is the base's device.
    let parent = info.parent.clone().expect("a parent");
    assert_eq!(parent, format!("/dev/mapper/{}-{}", dm(&vg), dm(BASE)));
    assert_eq!(
        std::fs::canonicalize(&parent).unwrap(),
        std::fs::canonicalize(&base).unwrap()
    );
    assert_eq!(
        (info.size_virt, info.hidden, info.size_allocated),
        (30 * MIB, 0, 0)
    );
    assert!(has_parent(&d, &leaf));
    assert_eq!(get_depth(&d, &leaf), 2);
    assert_eq!(
        get_parent(&d, &leaf).unwrap().as_deref(),
        Some(parent.as_str())
    );
    // getVHDInfoLVM of the leaf names the base's volume as its parent.
    let scanned = scan_info(&d, &["scan", "-f", "-l", &vg, "-m", LEAF]);
    assert_eq!(scanned.len(), 1);
    assert_eq!(scanned[0].parent.as_deref(), Some(BASE));
    // getAllVHDs over the group (with parents).
    let all = scan_info(&d, &["scan", "-f", "-m", "VHD-*", "-l", &vg, "-a"]);
    let names: Vec<(&str, Option<&str>, u64)> = all
        .iter()
        .map(|s| (s.name.as_str(), s.parent.as_deref(), s.hidden))
        .collect();
    assert_eq!(names, [(BASE, None, 1), (LEAF, Some(BASE), 0)]);

    // The leaf reads its parent's data through the chain; new data in the leaf.
    write(Path::new(&leaf), 8192, 4096, 0x33);
    assert_eq!(read_all(Path::new(&leaf))[4096 * 512], 0x5a);
    assert_eq!(query_int(&d, "-a", &leaf), 1, "getAllocatedSize");
    assert_eq!(
        sm_raw(&d, &["read", "--debug", "-B", "-n", &leaf]).unwrap()[0],
        0x20,
        "getBlockBitmap"
    );
    sm(&d, &["check", "--debug", "-n", &leaf]).unwrap();

    // A clone of the leaf, then coalesce the leaf into the base.
    let clone = sr.lvcreate(CLONE, 40);
    sm(
        &d,
        &[
            "snapshot",
            "--debug",
            "-n",
            &clone,
            "-p",
            &leaf,
            "-S",
            LVHD_MSIZE_MB,
        ],
    )
    .unwrap();
    // The clone is empty: a snapshot of it links to the leaf, named as a volume.
    let skip = sr.lvcreate(SKIP, 40);
    sm(
        &d,
        &[
            "snapshot",
            "--debug",
            "-n",
            &skip,
            "-p",
            &clone,
            "-S",
            LVHD_MSIZE_MB,
        ],
    )
    .unwrap();
    let scanned = scan_info(&d, &["scan", "-f", "-l", &vg, "-m", SKIP]);
    assert_eq!(scanned[0].parent.as_deref(), Some(LEAF));
    sm(&d, &["check", "--debug", "-n", &skip]).unwrap();
    let want = read_all(Path::new(&clone));
    assert_eq!(coalesce(&d, &leaf), 4096);
    assert_eq!(
        read_all(Path::new(&base)),
        want,
        "the base now reads as the leaf"
    );
    // setParent: the clone onto the base directly, by its /dev/VG/LV path.
    sm(&d, &["modify", "--debug", "-p", &base, "-n", &clone]).unwrap();
    let scanned = scan_info(&d, &["scan", "-f", "-l", &vg, "-m", CLONE]);
    assert_eq!(scanned[0].parent.as_deref(), Some(BASE));
    assert_eq!(get_depth(&d, &clone), 2);
    assert_eq!(read_all(Path::new(&clone)), want);

    // killData on the leaf (a device keeps its length), then setSizeVirtFast on the base.
    sm(&d, &["modify", "--debug", "-z", "-n", &leaf]).unwrap();
    assert_eq!(get_vhd_info(&d, &leaf, false).size_allocated, 0);
    sm(&d, &["resize", "--debug", "-s", "60", "-n", &base, "-f"]).unwrap();
    assert_eq!(query_int(&d, "-v", &base), 60, "getSizeVirt");
    sm(&d, &["check", "--debug", "-n", &base]).unwrap();
    sm(&d, &["check", "--debug", "-n", &clone]).unwrap();
    let scanned = scan_info(&d, &["scan", "-f", "-l", &vg, "-m", BASE]);
    assert_eq!(scanned[0].capacity, 60 * MIB);
}
