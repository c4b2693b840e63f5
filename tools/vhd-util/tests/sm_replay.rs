//! Replays what XenServer's storage manager (xapi-project/sm `vhdutil.py`, and XCP-ng's
//! fork) runs against `vhd-util` in the blktap3 dialect (section 4 of
//! `vhd-util-blktap3-cli.md`): each call with the storage manager's own command line,
//! its output parsed the way the storage manager parses it (the field positions and
//! regular expressions are written out below), and what it would conclude checked
//! against the image. The storage manager treats any non-zero exit as a failure (5 and
//! 11 are retried first); [`sm`] does the same.
#![cfg(feature = "blktap3")]

use std::path::{Path, PathBuf};
use std::process::Command;

use vhd_std::{Chain, Image, OpenOptions};

/// The same calls on logical volumes (root and lvm2: `make blockdev-test`).
#[path = "sm_replay/lvm.rs"]
mod lvm;

const BIN: &str = env!("CARGO_BIN_EXE_vhd-util");
const MIB: u64 = 1 << 20;
/// What LVM storage repositories preallocate metadata for: `-S 2097152` (2 TiB).
const LVHD_MSIZE_MB: &str = "2097152";

fn workdir(name: &str) -> PathBuf {
    vhd_testkit::workdir!("vhd-util-sm-replay", name)
}

/// A failed call, as `util.pread2` raises it: the exit status and stdout.
#[derive(Debug)]
struct Failed {
    status: i32,
    stdout: String,
}

/// Runs `vhd-util args...` in `dir` as the storage manager does: stdout is the result,
/// any non-zero exit an error.
fn sm_raw(dir: &Path, args: &[&str]) -> Result<Vec<u8>, Failed> {
    let o = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let status = o.status.code().expect("exited normally");
    if status != 0 {
        return Err(Failed {
            status,
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        });
    }
    Ok(o.stdout)
}

fn sm(dir: &Path, args: &[&str]) -> Result<String, Failed> {
    sm_raw(dir, args).map(|b| String::from_utf8(b).unwrap())
}

/// `int(s)` of a whole line, as Python takes it (surrounding blanks allowed).
fn int(s: &str) -> u64 {
    s.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not an int: {s:?}"))
}

/// What `getVHDInfo` builds from `query --debug -vsaf[p] -n P`, by line position:
/// 0 virtual MiB, 1 physical bytes, [2 the parent, unless it says `has no parent`],
/// then `hidden: N` (the int after the last `:`), then allocated blocks (x 2 MiB).
#[derive(Debug, PartialEq)]
struct VhdInfo {
    size_virt: u64,
    size_phys: u64,
    parent: Option<String>,
    hidden: u64,
    size_allocated: u64,
}

/// What getVHDInfo says of a new 30 MiB image made as LVM SRs make them (`-S 2097152`):
/// the 4 MiB BAT makes it 4,327,936 bytes.
fn new_lvhd_30m() -> VhdInfo {
    VhdInfo {
        size_virt: 30 * MIB,
        size_phys: 4_327_936,
        parent: None,
        hidden: 0,
        size_allocated: 0,
    }
}

fn get_vhd_info(dir: &Path, path: &str, with_parent: bool) -> VhdInfo {
    let opts = if with_parent { "-vsafp" } else { "-vsaf" };
    let out = sm(dir, &["query", "--debug", opts, "-n", path]).unwrap();
    let lines: Vec<&str> = out.split('\n').collect();
    let mut next = 2;
    let mut parent = None;
    if with_parent {
        if !lines[2].contains("has no parent") {
            parent = Some(lines[2].to_string());
        }
        next = 3;
    }
    VhdInfo {
        size_virt: int(lines[0]) * MIB,
        size_phys: int(lines[1]),
        parent,
        hidden: int(lines[next].rsplit(':').next().unwrap()),
        size_allocated: int(lines[next + 1]) * 2 * MIB,
    }
}

/// `getParent`: `query --debug -p -n P`; `no parent` anywhere means none, `query
/// failed` an error, else the path.
fn get_parent(dir: &Path, path: &str) -> Result<Option<String>, Failed> {
    let out = sm(dir, &["query", "--debug", "-p", "-n", path])?;
    if out.contains("query failed") {
        return Err(Failed {
            status: 0,
            stdout: out,
        });
    }
    if out.contains("no parent") {
        return Ok(None);
    }
    Ok(Some(out.trim().to_string()))
}

/// `hasParent`: `read --debug -p -n P`, regex `Disk type\s+: (\S+) hard disk`, true
/// for `Differencing`.
fn has_parent(dir: &Path, path: &str) -> bool {
    let out = sm(dir, &["read", "--debug", "-p", "-n", path]).unwrap();
    let kind = out
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("Disk type")?;
            let rest = rest.trim_start_matches([' ', '\t']).strip_prefix(": ")?;
            rest.strip_suffix(" hard disk")
                .filter(|w| !w.is_empty() && !w.contains(char::is_whitespace))
        })
        .expect("Disk type line");
    kind == "Differencing"
}

/// Single-value queries: the int on the (only) line, or after the last `:`.
fn query_int(dir: &Path, opt: &str, path: &str) -> u64 {
    let out = sm(dir, &["query", "--debug", opt, "-n", path]).unwrap();
    int(out.rsplit(':').next().unwrap())
}

/// `getDepth`: regex `chain depth: (\d+)` on `query --debug -d`; -1 without a match.
fn get_depth(dir: &Path, path: &str) -> i64 {
    let out = sm(dir, &["query", "--debug", "-d", "-n", path]).unwrap();
    out.find("chain depth: ")
        .map(|i| {
            let digits: String = out[i + 13..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().unwrap()
        })
        .unwrap_or(-1)
}

/// `coalesce`: regex `^Coalesced (\d+) sectors` on the output of `coalesce --debug -n
/// P`; no match means 0. XCP-ng multiplies by 512 to get bytes.
fn coalesce(dir: &Path, path: &str) -> u64 {
    let out = sm(dir, &["coalesce", "--debug", "-n", path]).unwrap();
    out.strip_prefix("Coalesced ")
        .and_then(|r| {
            let digits: String = r.chars().take_while(char::is_ascii_digit).collect();
            r[digits.len()..]
                .starts_with(" sectors")
                .then(|| digits.parse().unwrap())
        })
        .unwrap_or(0)
}

/// One image as `getAllVHDs` / `getVHDInfoLVM` read a `scan` line: blank-separated
/// `key=value` fields; `scan-error=` marks a failed image, `parent=none` no parent.
#[derive(Debug, PartialEq)]
struct ScanInfo {
    name: String,
    error: Option<i64>,
    capacity: u64,
    size: u64,
    hidden: u64,
    parent: Option<String>,
}

/// Runs `scan ...` and reads each non-empty line into a [`ScanInfo`].
fn scan_info(dir: &Path, args: &[&str]) -> Vec<ScanInfo> {
    let out = sm(dir, args).unwrap();
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut info = ScanInfo {
                name: String::new(),
                error: None,
                capacity: 0,
                size: 0,
                hidden: 0,
                parent: None,
            };
            for field in line.split_whitespace() {
                let Some((key, val)) = field.split_once('=') else {
                    continue;
                };
                match key {
                    "vhd" => info.name = val.to_string(),
                    "scan-error" => info.error = Some(val.parse().unwrap()),
                    "capacity" => info.capacity = int(val),
                    "size" => info.size = int(val),
                    "hidden" => info.hidden = int(val),
                    "parent" if val != "none" => info.parent = Some(val.to_string()),
                    _ => {}
                }
            }
            info
        })
        .collect()
}

/// Writes `count` sectors of `byte` at `sector` through the library (qemu-io would
/// put new blocks over the batmap and the locators, which it does not know about).
fn write(path: &Path, sector: u64, count: usize, byte: u8) {
    let mut chain = Chain::open(
        path,
        OpenOptions {
            writable: true,
            ..Default::default()
        },
    )
    .unwrap();
    chain.write(sector, &vec![byte; count * 512]).unwrap();
}

fn read_all(path: &Path) -> Vec<u8> {
    let mut chain = Chain::open(path, OpenOptions::default()).unwrap();
    let mut buf = vec![0u8; chain.top().size() as usize];
    chain.read(0, &mut buf).unwrap();
    buf
}

fn basename_of(path: &str) -> String {
    Path::new(path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn lvhd_create_and_get_vhd_info() {
    let d = workdir("lvhd-info");
    // LVM SRs: `create -S 2097152`; a 30 MiB image holds a 4 MiB BAT.
    sm(
        &d,
        &[
            "create",
            "--debug",
            "-n",
            "a.vhd",
            "-s",
            "30",
            "-S",
            LVHD_MSIZE_MB,
        ],
    )
    .unwrap();
    assert_eq!(file_len(&d.join("a.vhd")), 4_327_936);
    let info = get_vhd_info(&d, "a.vhd", true);
    assert_eq!(info, new_lvhd_30m());
    assert_eq!(query_int(&d, "-S", "a.vhd"), 2_097_152, "getMaxResizeSize");
    assert_eq!(query_int(&d, "-v", "a.vhd"), 30, "getSizeVirt");
    assert!(!has_parent(&d, "a.vhd"));
    assert_eq!(get_parent(&d, "a.vhd").unwrap(), None);
    assert_eq!(get_depth(&d, "a.vhd"), 1);

    // A snapshot with preallocated metadata: the storage manager's child of a base.
    write(&d.join("a.vhd"), 4096, 8, 0x5a);
    sm(
        &d,
        &[
            "snapshot",
            "--debug",
            "-n",
            "c.vhd",
            "-p",
            "a.vhd",
            "-S",
            LVHD_MSIZE_MB,
        ],
    )
    .unwrap();
    let base = std::fs::canonicalize(d.join("a.vhd")).unwrap();
    let info = get_vhd_info(&d, "c.vhd", true);
    assert_eq!(
        info,
        VhdInfo {
            size_virt: 30 * MIB,
            size_phys: 4_329_472,
            parent: Some(base.display().to_string()),
            hidden: 0,
            size_allocated: 0,
        }
    );
    assert!(has_parent(&d, "c.vhd"));
    assert_eq!(get_depth(&d, "c.vhd"), 2);
    // The fields come in blktap3's fixed order whatever order the options are in.
    let a = sm(&d, &["query", "-f", "-p", "-a", "-s", "-v", "-n", "c.vhd"]).unwrap();
    let b = sm(&d, &["query", "-vsafp", "-n", "c.vhd"]).unwrap();
    assert_eq!(a, b);
    // A snapshot's metadata must cover the parent: a smaller -S fails, no file left.
    let e = sm(&d, &["snapshot", "-n", "x.vhd", "-p", "a.vhd", "-S", "20"]).unwrap_err();
    assert_eq!(e.status, 22);
    assert!(!d.join("x.vhd").exists());
    // qemu reads the base with its preallocated metadata as we do (it does not follow
    // differencing disks).
    let o = Command::new("qemu-img")
        .args(["convert", "-f", "vpc", "-O", "raw", "a.vhd", "a.raw"])
        .current_dir(&d)
        .output()
        .expect("qemu-img (qemu-utils)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let raw = std::fs::read(d.join("a.raw")).unwrap();
    assert_eq!(raw, read_all(&d.join("a.vhd")));
    assert_eq!(raw, read_all(&d.join("c.vhd")));
    assert_eq!(raw[4096 * 512], 0x5a);
}

#[test]
fn create_size_rules() {
    let d = workdir("create");
    let e = sm(&d, &["create", "-n", "a.vhd", "-s", "100", "-S", "50"]).unwrap_err();
    assert_eq!(e.status, 22);
    assert_eq!(
        e.stdout,
        "Error: <-S size> must be greater than <-s size>\n"
    );
    // -S alone: a disk of size 0 with room for 25 blocks.
    sm(&d, &["create", "-n", "z.vhd", "-S", "50"]).unwrap();
    assert_eq!(query_int(&d, "-v", "z.vhd"), 0);
    assert_eq!(query_int(&d, "-S", "z.vhd"), 50);
    sm(&d, &["create", "-n", "b.vhd", "-s", "100", "-S", "1000"]).unwrap();
    assert_eq!(file_len(&d.join("b.vhd")), 5120, "ABI doc section 6 layout");
    assert_eq!(query_int(&d, "-S", "b.vhd"), 1000);
    // blktap3 writes one batmap sector too few at k x 8 GiB + 2..14 MiB and puts the
    // footer inside the map (its own check then fails); we write the whole map.
    sm(&d, &["create", "-n", "q.vhd", "-s", "8194"]).unwrap();
    assert_eq!(file_len(&d.join("q.vhd")), 20_480);
    assert_eq!(
        sm(&d, &["check", "-n", "q.vhd"]).unwrap(),
        "q.vhd is valid\n"
    );
    // A fixed disk can grow by nothing fast.
    sm(&d, &["create", "-n", "f.vhd", "-s", "4", "-r"]).unwrap();
    assert_eq!(query_int(&d, "-S", "f.vhd"), 0);
}

#[test]
fn allocated_size_block_bitmap_and_kill_data() {
    let d = workdir("alloc");
    sm(&d, &["create", "-n", "p.vhd", "-s", "40"]).unwrap();
    sm(&d, &["snapshot", "-n", "c.vhd", "-p", "p.vhd"]).unwrap();
    let c = d.join("c.vhd");
    // Blocks 1 and 2 of 20.
    write(&c, 4096, 8192, 0xab);
    let info = get_vhd_info(&d, "c.vhd", false);
    assert_eq!(info.size_allocated, 2 * 2 * MIB, "getAllocatedSize");
    assert_eq!(query_int(&d, "-a", "c.vhd") * 2 * MIB, info.size_allocated);
    // getBlockBitmap: the raw bitmap, which the storage manager compresses.
    let bits = sm_raw(&d, &["read", "--debug", "-B", "-n", "c.vhd"]).unwrap();
    assert_eq!(bits, [0x60, 0x00, 0x00]);
    // Extents of what the child holds.
    let ext = sm(&d, &["read", "-e", "0", "-c", "81920", "-n", "c.vhd"]).unwrap();
    assert_eq!(ext, "4096 8192\n");
    let e = sm(&d, &["read", "-e", "81919", "-c", "2", "-n", "c.vhd"]).unwrap_err();
    assert_eq!(
        (e.status, e.stdout.as_str()),
        (34, "sector 81919 past end of file\n")
    );
    // Bytes through the chain.
    let bytes = sm_raw(&d, &["read", "-R", "2097150", "-c", "4", "-n", "c.vhd"]).unwrap();
    assert_eq!(bytes, [0, 0, 0xab, 0xab]);

    // killData: every block freed, the file cut back to its metadata.
    let before = file_len(&c);
    sm(&d, &["modify", "--debug", "-z", "-n", "c.vhd"]).unwrap();
    assert!(file_len(&c) < before);
    assert_eq!(file_len(&c), 5120);
    let info = get_vhd_info(&d, "c.vhd", true);
    assert_eq!(info.size_allocated, 0);
    assert_eq!(info.size_phys, 5120);
    assert_eq!(
        sm_raw(&d, &["read", "-B", "-n", "c.vhd"]).unwrap(),
        [0, 0, 0]
    );
    sm(&d, &["check", "--debug", "-n", "c.vhd"]).unwrap();
    assert_eq!(read_all(&c), vec![0u8; 40 << 20]);
    // The image still takes new data.
    write(&c, 0, 1, 7);
    assert_eq!(query_int(&d, "-a", "c.vhd"), 1);
    sm(&d, &["check", "-n", "c.vhd"]).unwrap();
    // Fixed disks have nothing to kill: -ENOSYS.
    sm(&d, &["create", "-n", "f.vhd", "-s", "4", "-r"]).unwrap();
    let e = sm(&d, &["modify", "-z", "-n", "f.vhd"]).unwrap_err();
    assert_eq!(
        (e.status, e.stdout.as_str()),
        (38, "failed to zero VHD: -38\n")
    );
    // A footer claiming 1 TiB over a 20-entry BAT: refused (the open already refuses
    // it; -a and -B never size anything from the claim alone).
    let mut b = std::fs::read(d.join("p.vhd")).unwrap();
    let len = b.len();
    for base in [0, len - 512] {
        b[base + 48..base + 56].copy_from_slice(&(1u64 << 40).to_be_bytes());
        reseal(&mut b[base..base + 512], 64);
    }
    std::fs::write(d.join("h.vhd"), &b).unwrap();
    let e = sm(&d, &["query", "-a", "-n", "h.vhd"]).unwrap_err();
    assert_eq!(e.status, 22);
    assert_eq!(
        sm_raw(&d, &["read", "-B", "-n", "h.vhd"])
            .unwrap_err()
            .status,
        22
    );
    // query -a of a fixed disk fails as blktap3's does.
    let e = sm(&d, &["query", "-a", "-n", "f.vhd"]).unwrap_err();
    assert_eq!(
        (e.status, e.stdout.as_str()),
        (22, "error reading bat: -22\n")
    );
}

#[test]
fn coalesce_reports_sectors() {
    let d = workdir("coalesce");
    sm(&d, &["create", "-n", "p.vhd", "-s", "20"]).unwrap();
    write(&d.join("p.vhd"), 0, 16, 0x11);
    sm(&d, &["snapshot", "-n", "c.vhd", "-p", "p.vhd"]).unwrap();
    let c = d.join("c.vhd");
    assert_eq!(coalesce(&d, "c.vhd"), 0, "an empty child");
    let out = sm(&d, &["coalesce", "-n", "c.vhd"]).unwrap();
    assert_eq!(out, "Coalesced 0 sectors", "no newline");
    // 3 sectors in one block, a whole block in another (batmap bit set).
    write(&c, 8, 3, 0x22);
    write(&c, 4096 * 2, 4096, 0x33);
    let want = read_all(&c);
    assert_eq!(coalesce(&d, "c.vhd"), 3 + 4096);
    assert_eq!(
        read_all(&d.join("p.vhd")),
        want,
        "the parent now reads as the child"
    );
    // A non-differencing disk.
    let e = sm(&d, &["coalesce", "-n", "p.vhd"]).unwrap_err();
    assert_eq!(e.status, 22);
    assert_eq!(
        e.stdout,
        "coalescing of non-differencing disks is not supported\nerror coalescing: -22\n"
    );
    // -p draws percentages, then the result line.
    let out = sm(&d, &["coalesce", "-p", "-n", "c.vhd"]).unwrap();
    assert!(out.starts_with("\r  0.00%\r 10.00%"), "{out:?}");
    assert!(
        out.ends_with("\r100.00%\nCoalesced 4099 sectors"),
        "{out:?}"
    );
}

#[test]
fn parents_hidden_depth_and_empty_links() {
    let d = workdir("parents");
    sm(&d, &["create", "-n", "base.vhd", "-s", "10"]).unwrap();
    write(&d.join("base.vhd"), 0, 1, 1);
    sm(&d, &["snapshot", "-n", "mid.vhd", "-p", "base.vhd"]).unwrap();
    // mid is empty: a plain snapshot of it skips to base, -e links to mid itself.
    sm(&d, &["snapshot", "-n", "skip.vhd", "-p", "mid.vhd"]).unwrap();
    sm(
        &d,
        &["snapshot", "--debug", "-n", "e.vhd", "-p", "mid.vhd", "-e"],
    )
    .unwrap();
    let canon = |n: &str| {
        std::fs::canonicalize(d.join(n))
            .unwrap()
            .display()
            .to_string()
    };
    assert_eq!(get_parent(&d, "skip.vhd").unwrap(), Some(canon("base.vhd")));
    assert_eq!(get_parent(&d, "e.vhd").unwrap(), Some(canon("mid.vhd")));
    assert_eq!(get_depth(&d, "e.vhd"), 3);
    // -u prints the parent as stored.
    let out = sm(&d, &["query", "-p", "-u", "-n", "e.vhd"]).unwrap();
    assert_eq!(out, "./mid.vhd\n");
    // setHidden / getHidden.
    assert_eq!(query_int(&d, "-f", "mid.vhd"), 0);
    sm(
        &d,
        &["set", "--debug", "-n", "mid.vhd", "-f", "hidden", "-v", "1"],
    )
    .unwrap();
    assert_eq!(query_int(&d, "-f", "mid.vhd"), 1);
    assert_eq!(get_vhd_info(&d, "mid.vhd", true).hidden, 1);
    // getAllVHDs on a file SR: `scan -f -m PAT`, parents by the header's name.
    let pattern = format!("{}/*.vhd", d.display());
    let all = scan_info(&d, &["scan", "-f", "-m", &pattern]);
    // The storage manager keys them by name: the order is not its concern.
    let mut seen: Vec<(String, Option<&str>, u64, Option<i64>)> = all
        .iter()
        .map(|s| (basename_of(&s.name), s.parent.as_deref(), s.hidden, s.error))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("base.vhd".into(), None, 0, None),
            ("e.vhd".into(), Some("mid.vhd"), 0, None),
            ("mid.vhd".into(), Some("base.vhd"), 1, None),
            ("skip.vhd".into(), Some("base.vhd"), 0, None),
        ]
    );
    assert!(all.iter().all(|s| s.capacity == 10 * MIB));
    // A lost parent: `query -p` fails with ENOENT (blktap2: EINVAL); -u still answers.
    std::fs::rename(d.join("mid.vhd"), d.join("gone.vhd")).unwrap();
    let e = get_parent(&d, "e.vhd").unwrap_err();
    assert_eq!((e.status, e.stdout.as_str()), (2, "query failed\n"));
    assert_eq!(
        sm(&d, &["query", "-p", "-u", "-n", "e.vhd"]).unwrap(),
        "./mid.vhd\n"
    );
    // The marker of a fresh image.
    assert_eq!(
        sm(&d, &["query", "-m", "-n", "base.vhd"]).unwrap(),
        "marker: 0\n"
    );
}

#[test]
fn images_of_either_dialect_open_alike() {
    // A blktap3 image with preallocated metadata opens through the same core the
    // blktap2 flavour uses, and qemu reads its size.
    let d = workdir("either");
    sm(
        &d,
        &["create", "-n", "a.vhd", "-s", "30", "-S", LVHD_MSIZE_MB],
    )
    .unwrap();
    let img = Image::open(d.join("a.vhd"), OpenOptions::default()).unwrap();
    assert_eq!(img.disk().size(), 30 * MIB);
    assert_eq!(img.disk().header().unwrap().max_bat_size, 1 << 20);
    let o = Command::new("qemu-img")
        .args(["info", "-f", "vpc", "--output=json", "a.vhd"])
        .current_dir(&d)
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("\"virtual-size\": 31457280"), "{s}");
}

#[test]
fn fast_resize_within_preallocated_metadata() {
    let d = workdir("fast-resize");
    sm(&d, &["create", "-n", "a.vhd", "-s", "30", "-S", "100"]).unwrap();
    write(&d.join("a.vhd"), 2048, 4, 0x42);
    let before = std::fs::read(d.join("a.vhd")).unwrap();
    // setSizeVirtFast, after getMaxResizeSize says how far it can go.
    let max_mb = query_int(&d, "-S", "a.vhd");
    assert_eq!(max_mb, 100);
    sm(&d, &["resize", "--debug", "-s", "61", "-n", "a.vhd", "-f"]).unwrap();
    assert_eq!(query_int(&d, "-v", "a.vhd"), 62, "rounded up to 2 MiB");
    // Only the footers' size, geometry and checksum changed (both copies).
    let after = std::fs::read(d.join("a.vhd")).unwrap();
    assert_eq!(after.len(), before.len());
    let foot = after.len() - 512;
    for (i, (a, b)) in after.iter().zip(&before).enumerate() {
        let in_footer = |base: usize| (base + 48..base + 72).contains(&i);
        assert!(
            a == b || in_footer(0) || in_footer(foot),
            "byte {i} changed"
        );
    }
    let data = read_all(&d.join("a.vhd"));
    assert_eq!(data.len(), 62 << 20);
    assert_eq!(data[2048 * 512], 0x42);
    sm(&d, &["check", "-n", "a.vhd"]).unwrap();
    // Beyond the preallocated metadata: refused, nothing printed (use -j).
    let e = sm(
        &d,
        &[
            "resize",
            "-s",
            &(max_mb + 1).to_string(),
            "-n",
            "a.vhd",
            "-f",
        ],
    );
    let e = e.unwrap_err();
    assert_eq!((e.status, e.stdout.as_str()), (22, ""));
    sm(
        &d,
        &["resize", "-s", &max_mb.to_string(), "-n", "a.vhd", "-f"],
    )
    .unwrap();
    assert_eq!(query_int(&d, "-v", "a.vhd"), 100);
    // Smaller: refused with the sizes.
    let e = sm(&d, &["resize", "-s", "40", "-n", "a.vhd", "-f"]).unwrap_err();
    assert_eq!(
        (e.status, e.stdout.as_str()),
        (22, "a.vhd: size (41943040) < curr size (104857600)\n")
    );
    // -j and -f together, or neither: the usage.
    let e = sm(&d, &["resize", "-s", "40", "-n", "a.vhd", "-f", "-j", "j"]).unwrap_err();
    assert!(e
        .stdout
        .starts_with("options: <-n name> <-s size (in MB)> (<-j journal>|<-f fast>)"));
    // The journaled path still grows past the preallocation.
    sm(
        &d,
        &["resize", "-s", "300", "-n", "a.vhd", "-j", "a.journal"],
    )
    .unwrap();
    assert_eq!(query_int(&d, "-v", "a.vhd"), 300);
    sm(&d, &["check", "-n", "a.vhd"]).unwrap();
}

/// The BAT entry of `block` in the image file at `path`.
fn bat_entry(path: &Path, block: usize) -> [u8; 4] {
    let b = std::fs::read(path).unwrap();
    b[1536 + block * 4..][..4].try_into().unwrap()
}

/// Stores the VHD checksum of `s` (one's complement of the byte sum, the checksum
/// field itself left out) in its field at `at`.
fn reseal(s: &mut [u8], at: usize) {
    s[at..at + 4].fill(0);
    let sum = !s.iter().fold(0u32, |a, &x| a.wrapping_add(u32::from(x)));
    s[at..at + 4].copy_from_slice(&sum.to_be_bytes());
}

#[test]
fn check_fast_and_relaxed() {
    let d = workdir("check");
    sm(&d, &["create", "-n", "a.vhd", "-s", "40"]).unwrap();
    let a = d.join("a.vhd");
    write(&a, 0, 1, 1);
    write(&a, 4096, 1, 2);
    // check: exit 0 means valid.
    sm(&d, &["check", "--debug", "-n", "a.vhd"]).unwrap();
    sm(&d, &["check", "--debug", "-n", "a.vhd", "-B"]).unwrap();
    // Block 1 pointed at block 0's place: only the overlap test sees it, which -B skips.
    let first = bat_entry(&a, 0);
    let mut b = std::fs::read(&a).unwrap();
    b[1536 + 4..][..4].copy_from_slice(&first);
    std::fs::write(&a, &b).unwrap();
    let e = sm(&d, &["check", "-n", "a.vhd"]).unwrap_err();
    assert_eq!(e.status, 22);
    // Named as the reference names it: the first block in BAT order, then the other.
    assert!(e.stdout.contains("clobbers block 1"), "{}", e.stdout);
    assert_eq!(
        sm(&d, &["check", "--debug", "-n", "a.vhd", "-B"]).unwrap(),
        "a.vhd is valid\n"
    );
    // -I: a parent whose UUID changed still passes; -t: a creation time in the future.
    sm(&d, &["create", "-n", "p.vhd", "-s", "10"]).unwrap();
    sm(&d, &["snapshot", "-n", "c.vhd", "-p", "p.vhd"]).unwrap();
    let mut c = std::fs::read(d.join("c.vhd")).unwrap();
    c[512 + 40] ^= 1; // the parent UUID in the header
    reseal(&mut c[512..1536], 36);
    std::fs::write(d.join("c.vhd"), &c).unwrap();
    let e = sm(&d, &["check", "-n", "c.vhd"]).unwrap_err();
    assert!(e.stdout.contains("invalid parent uuid"), "{}", e.stdout);
    sm(&d, &["check", "-n", "c.vhd", "-I"]).unwrap();
    let mut f = std::fs::read(d.join("p.vhd")).unwrap();
    let len = f.len();
    for base in [0, len - 512] {
        f[base + 24..base + 28].copy_from_slice(&u32::MAX.to_be_bytes()); // timestamp
        reseal(&mut f[base..base + 512], 64);
    }
    std::fs::write(d.join("p.vhd"), &f).unwrap();
    let e = sm(&d, &["check", "-n", "p.vhd"]).unwrap_err();
    assert!(e.stdout.contains("creation time in future"), "{}", e.stdout);
    sm(&d, &["check", "-n", "p.vhd", "-t"]).unwrap();
    // -s (not driven by the storage manager): the counts instead of `is valid` (their
    // arithmetic is tested in blktap3_cli.rs); with -B the usage.
    assert_eq!(
        sm(&d, &["check", "-n", "p.vhd", "-t", "-s"]).unwrap(),
        "p.vhd: secs allocated: 0x0 secs written: 0x0 (0.00%)\n"
    );
    let e = sm(&d, &["check", "-n", "p.vhd", "-t", "-s", "-B"]).unwrap_err();
    assert_eq!(e.status, 22);
    assert!(e.stdout.starts_with("options: -n <file>"), "{}", e.stdout);
}

/// `getKeyHash`: `key -p -n P` prints `none` or `<nonce> <hash>`; the hash is used.
fn get_key_hash(dir: &Path, path: &str) -> Option<String> {
    let out = sm(dir, &["key", "-p", "-n", path]).unwrap();
    let line = out.trim_end();
    if line == "none" {
        return None;
    }
    let (_nonce, hash) = line.split_once(' ').expect("<nonce> <hash>");
    Some(hash.to_string())
}

#[test]
fn key_hash_set_print_and_inherit() {
    let d = workdir("key");
    sm(&d, &["create", "-n", "a.vhd", "-s", "20"]).unwrap();
    assert_eq!(get_key_hash(&d, "a.vhd"), None);
    let hash = "0123456789ABCDEF".repeat(4);
    // setKey.
    sm(&d, &["key", "-s", "-n", "a.vhd", "-H", &hash]).unwrap();
    assert_eq!(get_key_hash(&d, "a.vhd"), Some(hash.to_lowercase()));
    let out = sm(&d, &["key", "-p", "-n", "a.vhd"]).unwrap();
    assert_eq!(out, format!("{} {}\n", "0".repeat(64), hash.to_lowercase()));
    // In the batmap header at bytes 29..94, the map's checksum untouched: blktap2
    // readers and our check still take the image.
    let b = std::fs::read(d.join("a.vhd")).unwrap();
    let hdr = 1536 + 512;
    assert_eq!(b[hdr + 29], 1);
    assert_eq!(b[hdr + 62], 0x01);
    sm(&d, &["check", "-n", "a.vhd"]).unwrap();
    let dump = sm(&d, &["read", "-p", "-n", "a.vhd"]).unwrap();
    assert!(
        dump.contains(&format!("Batmap keyhash hash : {}\n", hash.to_lowercase())),
        "{dump}"
    );
    // A snapshot carries its parent's key hash.
    sm(&d, &["snapshot", "-n", "c.vhd", "-p", "a.vhd"]).unwrap();
    assert_eq!(get_key_hash(&d, "c.vhd"), Some(hash.to_lowercase()));
    // Rewriting the batmap header (a whole block written sets its batmap bit) keeps
    // bytes 28..94, unlike blktap2's C library: the same core serves both flavours.
    write(&d.join("a.vhd"), 0, 4096, 9);
    let b2 = std::fs::read(d.join("a.vhd")).unwrap();
    assert_ne!(
        b2[hdr + 24..hdr + 28],
        b[hdr + 24..hdr + 28],
        "checksum rewritten"
    );
    assert_eq!(b2[hdr + 28..hdr + 94], b[hdr + 28..hdr + 94]);
    assert_eq!(get_key_hash(&d, "a.vhd"), Some(hash.to_lowercase()));
    // Refusals: a non-empty image, a fixed one, bad hex, a bad mode.
    write(&d.join("c.vhd"), 0, 1, 1);
    let nonce = "ff".repeat(32);
    let o = Command::new(BIN)
        .args(["key", "-s", "-n", "c.vhd", "-H", &hash, "-N", &nonce])
        .current_dir(&d)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(22));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "vhd_util_set_key: can't save key hashes for non-empty vhds\nsetting key failed: -22\n"
    );
    sm(&d, &["create", "-n", "f.vhd", "-s", "4", "-r"]).unwrap();
    assert_eq!(
        sm(&d, &["key", "-s", "-n", "f.vhd", "-H", &hash])
            .unwrap_err()
            .status,
        22
    );
    assert_eq!(
        sm(&d, &["key", "-s", "-n", "a.vhd", "-H", "12"])
            .unwrap_err()
            .status,
        22
    );
    let e = sm(&d, &["key", "-p"]).unwrap_err();
    assert_eq!((e.status, e.stdout.as_str()), (22, ""), "usage on stderr");
    assert_eq!(sm(&d, &["key", "-h"]).unwrap(), "");
}
