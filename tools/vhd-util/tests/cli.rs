//! The `vhd-util` binary against the reference CLI specification (`abi/vhd-util-cli.md`)
//! and the format notes (`format-notes.md`) of the reference material: bytes of created
//! files, usage strings and exit codes, outputs, and interoperability with qemu's `vpc`
//! driver (CI installs qemu-utils; a missing qemu-img fails those tests, it never skips
//! them).
//!
//! Work directories live under the target directory (a real disk, where `O_DIRECT` usually
//! works); `fileio_on_tmpfs` covers the buffered fallback.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vhd_std::{Chain, Image, OpenOptions};
use vhd_testkit::{be32, utf16le};

const BIN: &str = env!("CARGO_BIN_EXE_vhd-util");
const MIB: u64 = 1 << 20;

fn workdir(name: &str) -> PathBuf {
    vhd_testkit::workdir!("vhd-util-cli", name)
}

/// Runs `vhd-util args...` in `dir` with local time = UTC.
fn vhd(dir: &Path, args: &[&str]) -> Output {
    vhd_env(dir, args, &[])
}

fn vhd_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).current_dir(dir).env("TZ", "UTC");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs and expects exit 0, returning stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let o = vhd(dir, args);
    assert_eq!(code(&o), 0, "{args:?}: {} {}", stdout(&o), stderr(&o));
    stdout(&o)
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// One's complement of the byte sum with the checksum field (at `skip`) taken as zero.
fn checksum(b: &[u8], skip: usize) -> u32 {
    let s = b
        .iter()
        .enumerate()
        .filter(|(i, _)| !(skip..skip + 4).contains(i))
        .fold(0u32, |s, (_, &x)| s.wrapping_add(u32::from(x)));
    !s
}

fn check_footer(f: &[u8], kind: u32, size: u64, data_offset: u64) {
    assert_eq!(&f[0..8], b"conectix");
    assert_eq!(be32(f, 8), 2, "features");
    assert_eq!(be32(f, 12), 0x0001_0000, "format version");
    assert_eq!(be64(f, 16), data_offset);
    assert_eq!(&f[28..32], b"tap\0");
    assert_eq!(be32(f, 32), 0x0001_0003, "creator version");
    assert_eq!(be32(f, 36), 0, "creator OS");
    assert_eq!(be64(f, 40), size, "original size");
    assert_eq!(be64(f, 48), size, "current size");
    assert_eq!(be32(f, 60), kind, "type");
    assert_eq!(be32(f, 64), checksum(&f[..512], 64), "checksum");
    assert_eq!((f[84], f[85]), (0, 0), "saved, hidden");
}

#[test]
fn create_dynamic_layout_matches_format_notes() {
    let d = workdir("create-dynamic");
    ok(&d, &["create", "-n", "a.vhd", "-s", "12"]);
    let b = std::fs::read(d.join("a.vhd")).unwrap();
    assert_eq!(b.len(), 3584);
    check_footer(&b[..512], 3, 12 * MIB, 512);
    assert_eq!(&b[..512], &b[3072..], "footer copy at 0 equals the primary");
    assert_eq!(be32(&b, 56), (361 << 16) | (4 << 8) | 17, "geometry");
    let h = &b[512..1536];
    assert_eq!(&h[0..8], b"cxsparse");
    assert_eq!(be64(h, 8), u64::MAX);
    assert_eq!(be64(h, 16), 1536, "table offset");
    assert_eq!(be32(h, 24), 0x0001_0000);
    assert_eq!(be32(h, 28), 6, "max BAT entries");
    assert_eq!(be32(h, 32), 2 << 20, "block size");
    assert_eq!(be32(h, 36), checksum(h, 36));
    assert!(
        b[1536..1536 + 24].iter().all(|&x| x == 0xff),
        "6 unused entries"
    );
    assert!(b[1536 + 24..2048].iter().all(|&x| x == 0), "padding zero");
    let m = &b[2048..2560];
    assert_eq!(&m[0..8], b"tdbatmap");
    assert_eq!(be64(m, 8), 2560);
    assert_eq!(be32(m, 16), 1);
    assert_eq!(be32(m, 20), 0x0001_0002);
    assert_eq!(be32(m, 24), 0xffff_ffff, "checksum of an empty map");
    assert!(b[2560..3072].iter().all(|&x| x == 0));
}

#[test]
fn create_rounds_to_2mib_fixed_and_overwrites() {
    let d = workdir("create-round");
    ok(&d, &["create", "-n", "a.vhd", "-s", "11"]);
    let b = std::fs::read(d.join("a.vhd")).unwrap();
    assert_eq!(b.len(), 3584);
    assert_eq!(be64(&b, 48), 12 * MIB, "-s 11 gives 12 MiB");
    ok(&d, &["create", "-n", "a.vhd", "-s", "4", "-r"]);
    let b = std::fs::read(d.join("a.vhd")).unwrap();
    assert_eq!(b.len() as u64, 4 * MIB + 512, "existing file overwritten");
    assert!(b[..4 * MIB as usize].iter().all(|&x| x == 0));
    check_footer(&b[4 * MIB as usize..], 2, 4 * MIB, u64::MAX);
    assert_eq!(
        ok(&d, &["query", "-n", "a.vhd", "-v", "-s"]),
        "4\n4194816\n"
    );
    let long = "x".repeat(1023);
    assert_eq!(code(&vhd(&d, &["create", "-n", &long, "-s", "2"])), 36);
    let o = vhd(&d, &["create", "-n", "no/such/dir.vhd", "-s", "2"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (2, ""), "silent failure");
}

#[test]
fn snapshot_layout_and_locators() {
    let d = workdir("snapshot");
    ok(&d, &["create", "-n", "a.vhd", "-s", "12"]);
    ok(&d, &["snapshot", "-n", "s.vhd", "-p", "a.vhd"]);
    let a = std::fs::read(d.join("a.vhd")).unwrap();
    let b = std::fs::read(d.join("s.vhd")).unwrap();
    assert_eq!(b.len(), 5120);
    check_footer(&b[4608..], 4, 12 * MIB, 512);
    assert_eq!(&b[..512], &b[4608..]);
    let h = &b[512..1536];
    assert_eq!(&h[40..56], &a[68..84], "parent UUID = parent footer UUID");
    let mtime = std::fs::metadata(d.join("a.vhd"))
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(u64::from(be32(h, 56)), mtime - 946_684_800, "prt_ts");
    let name: Vec<u8> = "a.vhd".encode_utf16().flat_map(u16::to_be_bytes).collect();
    assert_eq!(&h[64..64 + name.len()], &name[..]);
    assert!(h[64 + name.len()..576].iter().all(|&x| x == 0));
    let expect: [(&[u8; 4], Vec<u8>, u64); 3] = [
        (b"MacX", b"file://./a.vhd".to_vec(), 3072),
        (b"W2ku", utf16le(".\\a.vhd"), 3584),
        (b"W2ru", utf16le(".\\a.vhd"), 4096),
    ];
    for (i, (code, payload, off)) in expect.iter().enumerate() {
        let l = &h[576 + 24 * i..600 + 24 * i];
        assert_eq!(&l[0..4], *code);
        assert_eq!(be32(l, 4), 512, "data_space in bytes");
        assert_eq!(be32(l, 8) as usize, payload.len());
        assert_eq!(be64(l, 16), *off);
        let o = *off as usize;
        assert_eq!(&b[o..o + payload.len()], &payload[..]);
        assert!(b[o + payload.len()..o + 512].iter().all(|&x| x == 0));
    }
    assert_eq!(payload_len(&b, 0), 14, "data_len of file://./a.vhd");
    assert!(h[576 + 72..768].iter().all(|&x| x == 0), "slots 3..7 empty");

    // A child in another directory gets ../ paths in all three locators.
    std::fs::create_dir_all(d.join("c")).unwrap();
    ok(&d, &["snapshot", "-n", "c/t.vhd", "-p", "a.vhd"]);
    let t = std::fs::read(d.join("c/t.vhd")).unwrap();
    let mac = b"file://../a.vhd";
    assert_eq!(&t[3072..3072 + mac.len()], mac);
    let w = utf16le("..\\a.vhd");
    assert_eq!(&t[3584..3584 + w.len()], &w[..]);
    assert_eq!(
        ok(&d, &["query", "-n", "c/t.vhd", "-p"]).trim(),
        d.canonicalize().unwrap().join("a.vhd").to_str().unwrap()
    );
}

fn payload_len(b: &[u8], slot: usize) -> u32 {
    be32(b, 512 + 576 + 24 * slot + 8)
}

#[test]
fn snapshot_skips_empty_parents_depth_limit_and_raw() {
    let d = workdir("snapshot-rules");
    ok(&d, &["create", "-n", "a.vhd", "-s", "3"]);
    ok(&d, &["snapshot", "-n", "s1.vhd", "-p", "a.vhd"]);
    // s1 is empty: a snapshot of it points at a.vhd, sized as s1 rounded to 2 MiB.
    ok(&d, &["snapshot", "-n", "s2.vhd", "-p", "s1.vhd"]);
    let b = std::fs::read(d.join("s2.vhd")).unwrap();
    assert_eq!(&b[3072..3072 + 14], b"file://./a.vhd");
    assert_eq!(ok(&d, &["query", "-n", "s2.vhd", "-d"]), "chain depth: 2\n");
    // Depth limit: s3 on s1 (depth 2 once s1 holds data) with -l 2 is refused.
    {
        let mut img = Image::open(
            d.join("s1.vhd"),
            OpenOptions {
                writable: true,
                ..Default::default()
            },
        )
        .unwrap();
        img.disk_mut().write(0, &[7u8; 512]).unwrap();
    }
    let o = vhd(&d, &["snapshot", "-n", "s3.vhd", "-p", "s1.vhd", "-l", "2"]);
    assert_eq!(code(&o), 28);
    assert_eq!(
        stdout(&o),
        "snapshot depth exceeded: current depth: 2, limit: 2\n"
    );
    ok(&d, &["snapshot", "-n", "s3.vhd", "-p", "s1.vhd", "-l", "3"]);
    // Raw parent: nil parent UUID, size = file length exactly.
    std::fs::write(d.join("r.img"), vec![0x5au8; 3 * 512 + 1024 * 1024]).unwrap();
    ok(&d, &["snapshot", "-n", "r.vhd", "-p", "r.img", "-m"]);
    let b = std::fs::read(d.join("r.vhd")).unwrap();
    assert_eq!(be64(&b, 48), 3 * 512 + MIB);
    assert!(
        b[512 + 40..512 + 56].iter().all(|&x| x == 0),
        "nil parent UUID"
    );
    assert_eq!(ok(&d, &["query", "-n", "r.vhd", "-d"]), "chain depth: 2\n");
    let o = vhd(&d, &["snapshot", "-n", "x.vhd", "-p", "r.img"]);
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (22, ""),
        "non-VHD without -m"
    );
    let o = vhd(&d, &["snapshot", "-n", "x.vhd", "-p", "missing.vhd"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (2, ""));
}

/// Every row of the usage table: `-h` exit, other usage exit, and the usage text.
#[test]
fn usage_strings_and_exit_codes() {
    let d = workdir("usage");
    let rows: [(&str, i32, &str); 13] = [
        ("create", 22, "options: <-n name> <-s size (MB)> [-r reserve] [-h help]\n"),
        ("snapshot", 0, "options: <-n name> <-p parent name> [-l snapshot depth limit] [-m parent_is_raw] [-h help]\n"),
        ("query", 0, "options: <-n name> [-v print virtual size (in MB)] [-s print physical utilization (bytes)] [-p print parent] [-f print fields] [-d print chain depth] [-h help]\n"),
        ("read", 22, "options:\n-h          help\n-n          name\n-p          print VHD headers\n-t sec      translate logical sector to VHD location\n-b blk      print bat entry\n-m blk      print bitmap\n-i sec      test bitmap for logical sector\n-a          print batmap\n-j blk      test batmap for block\n-d blk      print data\n-c num      num units\n-r sec      read num sectors at sec\n-x          print in hex\n"),
        ("set", 22, "options: <-n name> <-f field> <-v value> [-h help]\n"),
        ("repair", 22, "options: <-n name> [-h help]\n"),
        ("fill", 22, "options: <-n name> [-h help]\n"),
        ("coalesce", 22, "options: <-n name> [-h help]\n"),
        ("resize", 22, "options: <-n name> <-j journal> <-s size (in MB)> [-h help]\n"),
        ("modify", 22, "*** Dangerous operations, use with care ***\noptions: <-n name> [-p NEW_PARENT set parent [-m raw]] [-s NEW_SIZE set size] [-h help]\n"),
        ("scan", 0, "usage: [OPTIONS] FILES\noptions: [-m match filter] [-f fast] [-c continue on failure] [-l LVM volume] [-p pretty print] [-a scan parents] [-v verbose] [-h help]\n"),
        ("check", 0, "options: -n <file> [-i ignore missing primary footers] [-p check parents] [-h help]\n"),
        ("revert", 22, "options: <-n name> <-j journal> [-h help]\n"),
    ];
    for (cmd, h_exit, text) in rows {
        let o = vhd(&d, &[cmd, "-h"]);
        assert_eq!(code(&o), h_exit, "{cmd} -h");
        assert_eq!(stdout(&o), text, "{cmd} usage");
        let o = vhd(&d, &[cmd]);
        assert_eq!(
            (code(&o), stdout(&o)),
            (22, text.to_string()),
            "{cmd} alone"
        );
        let o = vhd(&d, &[cmd, "-z"]);
        assert_eq!(code(&o), 22, "{cmd} -z");
        assert_eq!(stderr(&o), format!("{cmd}: invalid option -- 'z'\n"));
        let o = vhd(&d, &[cmd, "-n", "x", "extra"]);
        assert_eq!(code(&o), 22, "{cmd}: a leftover operand means usage");
    }
    let o = vhd(&d, &["query", "-n"]);
    assert_eq!(code(&o), 22);
    assert_eq!(stderr(&o), "query: option requires an argument -- 'n'\n");
}

#[test]
fn dispatcher() {
    let d = workdir("dispatch");
    let usage = "usage: vhd-util COMMAND [OPTIONS]\nCOMMAND := { create | snapshot | query | read | set | repair | resize | fill | coalesce | modify | scan | check | revert }\n";
    let o = Command::new(BIN).output().unwrap();
    assert_eq!((code(&o), stdout(&o)), (0, usage.to_string()));
    for bad in ["bogus", "--debug", "Create", "uuid"] {
        let o = vhd(&d, &[bad]);
        assert_eq!(code(&o), 0);
        assert_eq!(stderr(&o), format!("invalid COMMAND {bad}\n"));
        assert_eq!(stdout(&o), usage);
    }
    ok(&d, &["create", "--debug", "-n", "a.vhd", "-s", "2"]);
    // GNU permutation and --debug anywhere after the command.
    assert_eq!(ok(&d, &["query", "-v", "--debug", "-n", "a.vhd"]), "2\n");
    assert_eq!(ok(&d, &["query", "-vn", "a.vhd", "-s"]), "2\n3584\n");
    let o = vhd(&d, &["query", "-n", "missing.vhd", "-v"]);
    assert_eq!(code(&o), 2);
    assert_eq!(stdout(&o), "error opening missing.vhd: -2\n");
    assert_eq!(code(&vhd(&d, &["query", "-n", "a.vhd"])), 0, "no flag");
}

#[test]
fn query_outputs() {
    let d = workdir("query");
    ok(&d, &["create", "-n", "a.vhd", "-s", "100"]);
    ok(&d, &["snapshot", "-n", "s.vhd", "-p", "a.vhd"]);
    let abs = d.canonicalize().unwrap().join("a.vhd");
    assert_eq!(
        ok(&d, &["query", "-n", "a.vhd", "-d", "-f", "-p", "-s", "-v"]),
        "100\n3584\na.vhd has no parent\nhidden: 0\nchain depth: 1\n"
    );
    assert_eq!(
        ok(&d, &["query", "-n", "s.vhd", "-v", "-s", "-p", "-f", "-d"]),
        format!("100\n5120\n{}\nhidden: 0\nchain depth: 2\n", abs.display())
    );
    ok(&d, &["set", "-n", "s.vhd", "-f", "hidden", "-v", "200"]);
    assert_eq!(ok(&d, &["query", "-n", "s.vhd", "-f"]), "hidden: -56\n");
    std::fs::rename(d.join("a.vhd"), d.join("gone.vhd")).unwrap();
    let o = vhd(&d, &["query", "-n", "s.vhd", "-p"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (22, "query failed\n"));
    let o = vhd(&d, &["query", "-n", "s.vhd", "-d"]);
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (22, "error checking chain depth: -22\n")
    );
}

#[test]
fn set_hidden_and_its_errors() {
    let d = workdir("set");
    ok(&d, &["create", "-n", "a.vhd", "-s", "4"]);
    ok(&d, &["set", "-n", "a.vhd", "-f", "hidden", "-v", "1"]);
    let b = std::fs::read(d.join("a.vhd")).unwrap();
    assert_eq!((b[85], b[b.len() - 512 + 85]), (1, 1), "both footers");
    assert_eq!(be32(&b, 64), checksum(&b[..512], 64));
    assert_eq!(ok(&d, &["query", "-n", "a.vhd", "-f"]), "hidden: 1\n");
    let usage = "options: <-n name> <-f field> <-v value> [-h help]\n";
    for (args, msg) in [
        (vec!["-f", "hiddenx", "-v", "1"], "invalid field hiddenx\n"),
        (vec!["-f", &"h".repeat(25), "-v", "1"], "invalid field\n"),
        (vec!["-f", "hidden", "-v", "256"], "invalid value 256\n"),
        (vec!["-f", "hidden", "-v", "-1"], "invalid value -1\n"),
    ] {
        let mut a = vec!["set", "-n", "a.vhd"];
        a.extend(args);
        let o = vhd(&d, &a);
        assert_eq!(code(&o), 22);
        assert_eq!(stdout(&o), format!("{msg}{usage}"));
    }
    let o = vhd(&d, &["set", "-n", "nope.vhd", "-f", "hidden", "-v", "1"]);
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (2, "error opening nope.vhd: -2\n")
    );
}

#[test]
fn read_dump_layout() {
    let d = workdir("read-dump");
    ok(&d, &["create", "-n", "a.vhd", "-s", "12"]);
    ok(&d, &["snapshot", "-n", "s.vhd", "-p", "a.vhd"]);
    let out = ok(&d, &["read", "-n", "s.vhd", "-p"]);
    let b = std::fs::read(d.join("s.vhd")).unwrap();
    let uuid = uuid::Uuid::from_slice(&b[68..84]).unwrap();
    let puuid = uuid::Uuid::from_slice(&b[512 + 40..512 + 56]).unwrap();
    let ck = be32(&b, 64);
    let hck = be32(&b, 512 + 36);
    let lines: Vec<&str> = out.lines().collect();
    let expect_prefix = [
        "VHD Footer Summary:",
        "-------------------",
        "Cookie              : conectix",
        "Features            : (0x00000002) <RESV>",
        "File format version : Major: 1, Minor: 0",
        "Data offset         : 512",
    ];
    assert_eq!(&lines[..6], &expect_prefix);
    assert!(lines[6].starts_with("Timestamp           : "));
    assert_eq!(lines[6].len(), 22 + 24, "ctime layout: {}", lines[6]);
    let rest = format!(
        "Creator Application : 'tap'
Creator version     : Major: 1, Minor: 3
Creator OS          : Unknown!
Original disk size  : 12 MB (12582912 Bytes)
Current disk size   : 12 MB (12582912 Bytes)
Geometry            : Cyl: 361, Hds: 4, Sctrs: 17
                    : = 11 MB (12568576 Bytes)
Disk type           : Differencing hard disk
Checksum            : 0x{ck:x}|0x{ck:x} (Good!)
UUID                : {uuid}
Saved state         : No
Hidden              : 0

VHD Header Summary:
-------------------
Cookie              : cxsparse
Data offset (unusd) : 18446744073709551615
Table offset        : 1536
Header version      : 0x00010000
Max BAT size        : 6
Block size          : 2097152 (2 MB)
Parent name         : a.vhd
Parent UUID         : {puuid}
"
    );
    let got: String = lines[7..30].iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(got, rest);
    assert!(lines[30].starts_with("Parent timestamp    : "));
    let tail = format!(
        "Checksum            : 0x{hck:x}|0x{hck:x} (Good!)

VHD Parent Locators:
--------------------
locator:            : 0
       code         : PLAT_CODE_MACX
       data_space   : 512
       data_length  : 14
       data_offset  : 3072
       decoded name : ./a.vhd

locator:            : 1
       code         : PLAT_CODE_W2KU
       data_space   : 512
       data_length  : 14
       data_offset  : 3584
       decoded name : ./a.vhd

locator:            : 2
       code         : PLAT_CODE_W2RU
       data_space   : 512
       data_length  : 14
       data_offset  : 4096
       decoded name : ./a.vhd

VHD Batmap Summary:
-------------------
Batmap offset       : 2560
Batmap size (secs)  : 1
Batmap version      : 0x00010002
Checksum            : 0xffffffff|0xffffffff (Good!)

"
    );
    let got: String = lines[31..].iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(got, tail);
    // -x: hex numbers, 0 stays 0.
    let hex = ok(&d, &["read", "-n", "a.vhd", "-p", "-x"]);
    assert!(hex.contains("Data offset         : 0x200\n"), "{hex}");
    assert!(hex.contains("Current disk size   : 0xc MB (0xc00000 Bytes)\n"));
    assert!(hex.contains("Parent timestamp    : Sat Jan  1 00:00:00 2000\n"));
}

#[test]
fn read_actions_and_errors() {
    let d = workdir("read-actions");
    ok(&d, &["create", "-n", "a.vhd", "-s", "12"]);
    {
        let mut img = Image::open(
            d.join("a.vhd"),
            OpenOptions {
                writable: true,
                ..Default::default()
            },
        )
        .unwrap();
        img.disk_mut().write(4096 + 3, &[0xab; 1024]).unwrap();
        img.disk_mut().flush().unwrap(); // the batmap bit goes down
    }
    // Block 1 is the first allocated block: bitmap at 3584, data at 4096.
    assert_eq!(
        ok(&d, &["read", "-n", "a.vhd", "-t", "4098", "-c", "2"]),
        "logical sector 4098: block number: 1, sector offset: 2, file offset: 5120\n\
         logical sector 4099: block number: 1, sector offset: 3, file offset: 5632\n"
    );
    assert_eq!(
        ok(&d, &["read", "-n", "a.vhd", "-t", "1", "-x"]),
        "logical sector 0x1: block number: 0, sector offset: 0x1, file offset: not allocated\n"
    );
    assert_eq!(
        ok(&d, &["read", "-n", "a.vhd", "-b", "0", "-c", "2"]),
        "block: 0: offset: not allocated\nblock: 1: offset: 3584\n"
    );
    let o = vhd(&d, &["read", "-n", "a.vhd", "-b", "5", "-c", "2"]);
    assert_eq!(
        (code(&o), stderr(&o).as_str()),
        (34, "block 7 past end of file\n")
    );
    let o = vhd(&d, &["read", "-n", "a.vhd", "-t", "24575", "-c", "2"]);
    assert_eq!(
        (code(&o), stderr(&o).as_str()),
        (34, "sector 24577 past end of file\n")
    );
    let o = vhd(&d, &["read", "-n", "a.vhd", "-i", "24576"]);
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (34, "sector 24576 past end of file\n")
    );
    // -i tests the bit numbered by the block (block 1 -> bit 1), as the reference does.
    assert_eq!(
        ok(&d, &["read", "-n", "a.vhd", "-i", "4096"]),
        "block 1: sec: 0: 1\n"
    );
    assert_eq!(
        ok(&d, &["read", "-n", "a.vhd", "-i", "5"]),
        "block 0: sec: 5: 0\n"
    );
    let o = vhd(&d, &["read", "-n", "a.vhd", "-j", "0", "-c", "2"]);
    assert_eq!(
        stderr(&o),
        "batmap for block 0: 0\nbatmap for block 1: 1\n",
        "a new dynamic block is full"
    );
    let raw = vhd(&d, &["read", "-n", "a.vhd", "-r", "4099", "-c", "3"]).stdout;
    let mut want = vec![0u8; 1536];
    want[..1024].fill(0xab);
    assert_eq!(raw, want);
    let bm = vhd(&d, &["read", "-n", "a.vhd", "-m", "1"]).stdout;
    assert_eq!(bm, vec![0xff; 512]);
    assert_eq!(
        ok(&d, &["read", "-n", "a.vhd", "-m", "0"]),
        "block 0 not allocated\n"
    );
    let data = vhd(&d, &["read", "-n", "a.vhd", "-d", "1"]).stdout;
    assert_eq!(data.len(), 2 << 20);
    assert_eq!(&data[3 * 512..5 * 512], &[0xab; 1024][..]);
    let map = vhd(&d, &["read", "-n", "a.vhd", "-a"]).stdout;
    assert_eq!(map.len(), 512);
    assert_eq!(map[0], 0x40);
    let o = vhd(&d, &["read", "-n", "a.vhd", "-r", "24575", "-c", "2"]);
    assert_eq!((code(&o), o.stdout.len()), (34, 0), "past end: silent");
    // Fixed images always fail to give a BAT.
    ok(&d, &["create", "-n", "f.vhd", "-s", "2", "-r"]);
    let o = vhd(&d, &["read", "-n", "f.vhd", "-p"]);
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (22, "Failed to get bat for f.vhd: -22\n")
    );
    // Unopenable: the error, then whatever headers could be read.
    std::fs::write(d.join("junk"), [0u8; 1024]).unwrap();
    let o = vhd(&d, &["read", "-n", "junk", "-p"]);
    assert_eq!(code(&o), 22);
    assert!(stdout(&o).starts_with(
        "Failed to open junk: -22\n\njunk appears invalid; dumping headers\n\nVHD Footer Summary:\n"
    ));
    let o = vhd(&d, &["read", "-n", "missing", "-p"]);
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (
            2,
            "Failed to open missing: -2\n\nmissing appears invalid; dumping headers\n\n"
        )
    );
}

#[test]
fn check_valid_corrupted_and_parents() {
    let d = workdir("check");
    ok(&d, &["create", "-n", "a.vhd", "-s", "8"]);
    ok(&d, &["snapshot", "-n", "s.vhd", "-p", "a.vhd"]);
    assert_eq!(ok(&d, &["check", "-n", "a.vhd"]), "a.vhd is valid\n");
    let abs = d.canonicalize().unwrap().join("a.vhd");
    assert_eq!(
        ok(&d, &["check", "-n", "s.vhd", "-p"]),
        format!("s.vhd is valid\n{} is valid\n", abs.display())
    );
    ok(&d, &["create", "-n", "f.vhd", "-s", "2", "-r"]);
    assert_eq!(ok(&d, &["check", "-n", "f.vhd"]), "", "valid fixed: silent");

    // A flipped byte in the primary footer.
    let mut b = std::fs::read(d.join("a.vhd")).unwrap();
    let n = b.len();
    b[n - 512 + 100] ^= 1;
    std::fs::write(d.join("c.vhd"), &b).unwrap();
    let o = vhd(&d, &["check", "-n", "c.vhd"]);
    assert_eq!(code(&o), 22);
    let out = stdout(&o);
    assert!(
        out.starts_with(
            "primary footer invalid: invalid checksum\nc.vhd appears invalid; dumping metadata\nVHD Footer Summary:\n"
        ),
        "{out}"
    );
    assert!(out.contains("VHD Batmap Summary:"), "the full read -p dump");
    // repair restores the end footer from the copy at 0.
    ok(&d, &["repair", "-n", "c.vhd"]);
    assert_eq!(ok(&d, &["check", "-n", "c.vhd"]), "c.vhd is valid\n");

    // A BAT entry pointing into the metadata.
    let mut b = std::fs::read(d.join("a.vhd")).unwrap();
    b[1536..1540].copy_from_slice(&2u32.to_be_bytes());
    std::fs::write(d.join("bat.vhd"), &b).unwrap();
    let o = vhd(&d, &["check", "-n", "bat.vhd"]);
    assert_eq!(code(&o), 22);
    assert!(stdout(&o).starts_with("block 0 (offset 0x2) clobbers headers\n"));

    // A missing parent.
    std::fs::rename(d.join("a.vhd"), d.join("moved.vhd")).unwrap();
    let o = vhd(&d, &["check", "-n", "s.vhd"]);
    assert_eq!(code(&o), 2);
    // blktap2's vhd_find_parent fails before its "points to missing file" test can
    // run: the reference binary prints this.
    assert!(stdout(&o).starts_with("error resolving ./a.vhd: -2\n"));
    let o = vhd(&d, &["check", "-n", "nope"]);
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (2, "cannot stat nope: 2\n")
    );
    let o = vhd(&d, &["check", "-n", "."]);
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (22, ". is not a regular file or block device\n")
    );
}

#[test]
fn scan_lines_and_trees() {
    let d = workdir("scan");
    ok(&d, &["create", "-n", "a.vhd", "-s", "4"]);
    ok(&d, &["snapshot", "-n", "s.vhd", "-p", "a.vhd"]);
    ok(&d, &["set", "-n", "a.vhd", "-f", "hidden", "-v", "1"]);
    assert_eq!(
        ok(&d, &["scan", "-m", "*.vhd"]),
        "vhd=a.vhd capacity=4194304 size=3584 hidden=1 parent=none\n\
         vhd=s.vhd capacity=4194304 size=5120 hidden=0 parent=a.vhd\n"
    );
    let abs = d.canonicalize().unwrap();
    assert_eq!(
        ok(&d, &["scan", "-v", "s.vhd"]),
        format!(
            "vhd=s.vhd capacity=4194304 size=5120 hidden=0 parent={}\n",
            abs.join("a.vhd").display()
        )
    );
    assert_eq!(
        ok(&d, &["scan", "-f", "s.vhd"]),
        "vhd=s.vhd capacity=4194304 size=5120 hidden=0 parent=a.vhd\n"
    );
    assert_eq!(
        ok(&d, &["scan", "-m", "*.vhd", "-p"]),
        "vhd=a.vhd capacity=4194304 size=3584 hidden=1 parent=none\n   \
         vhd=s.vhd capacity=4194304 size=5120 hidden=0 parent=a.vhd\n"
    );
    assert_eq!(
        ok(&d, &["scan", "-a", "s.vhd"]),
        "vhd=s.vhd capacity=4194304 size=5120 hidden=0 parent=a.vhd\n\
         vhd=a.vhd capacity=4194304 size=3584 hidden=1 parent=none\n"
    );
    assert_eq!(ok(&d, &["scan", "-m", "*.none"]), "", "no match: silent");
    let o = vhd(&d, &["scan", "nope.vhd"]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        stdout(&o),
        "vhd=nope.vhd scan-error=-2 error-message='failure scanning target'\nscan failed: -2\n"
    );
    let o = vhd(&d, &["scan", "-c", "nope.vhd"]);
    assert_eq!(code(&o), 0);
    assert_eq!(
        stdout(&o),
        "vhd=nope.vhd scan-error=-2 error-message='failure scanning target'\n\
         vhd=. capacity=0 size=0 hidden=1 parent=none\n"
    );
    std::fs::write(d.join("junk.vhd"), [1u8; 2048]).unwrap();
    let o = vhd(&d, &["scan", "junk.vhd"]);
    assert_eq!(code(&o), 22);
    assert_eq!(
        stdout(&o),
        "vhd=junk.vhd scan-error=-22 error-message='opening file'\n"
    );
    // An unresolvable parent prints the locator string.
    std::fs::rename(d.join("a.vhd"), d.join("b.vhd")).unwrap();
    assert_eq!(
        ok(&d, &["scan", "s.vhd"]),
        "vhd=s.vhd capacity=4194304 size=5120 hidden=0 parent=a.vhd\n"
    );
}

/// Writes `pattern(i)` sectors at the given places through the vhd-std API; returns the
/// expected raw content of a disk of `size` bytes.
fn write_pattern(path: &Path, size: u64, places: &[(u64, usize, u8)]) -> Vec<u8> {
    let mut img = Image::open(
        path,
        OpenOptions {
            writable: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mut model = vec![0u8; size as usize];
    for &(sector, count, byte) in places {
        let buf: Vec<u8> = (0..count * 512).map(|i| byte ^ (i % 251) as u8).collect();
        img.disk_mut().write(sector, &buf).unwrap();
        model[sector as usize * 512..][..buf.len()].copy_from_slice(&buf);
    }
    model
}

fn read_all(dir: &Path, name: &str, sectors: u64) -> Vec<u8> {
    let o = vhd(
        dir,
        &["read", "-n", name, "-r", "0", "-c", &sectors.to_string()],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    o.stdout
}

#[test]
fn chains_fill_and_coalesce() {
    let d = workdir("chains");
    ok(&d, &["create", "-n", "a.vhd", "-s", "6"]);
    let size = 6 * MIB;
    let mut model = write_pattern(&d.join("a.vhd"), size, &[(0, 8, 1), (5000, 100, 2)]);
    ok(&d, &["snapshot", "-n", "s.vhd", "-p", "a.vhd"]);
    let top = write_pattern(&d.join("s.vhd"), size, &[(4, 8, 3), (12000, 1, 4)]);
    for (i, b) in top.iter().enumerate() {
        let s = i / 512;
        if (4..12).contains(&s) || s == 12000 {
            model[i] = *b;
        }
    }
    assert_eq!(read_all(&d, "s.vhd", size / 512), model);
    let mut chain = Chain::open(d.join("s.vhd"), OpenOptions::default()).unwrap();
    assert_eq!(chain.len(), 2);
    let mut buf = vec![0u8; size as usize];
    chain.read(0, &mut buf).unwrap();
    assert_eq!(buf, model);
    drop(chain);

    std::fs::copy(d.join("s.vhd"), d.join("s2.vhd")).unwrap();
    ok(&d, &["fill", "-n", "s2.vhd"]);
    assert_eq!(read_all(&d, "s2.vhd", size / 512), model);
    let b = std::fs::read(d.join("s2.vhd")).unwrap();
    assert!(
        b[1536..1536 + 12].iter().all(|&x| x != 0xff),
        "every block allocated"
    );

    ok(&d, &["coalesce", "-n", "s.vhd"]);
    assert_eq!(
        read_all(&d, "a.vhd", size / 512),
        model,
        "parent holds the child's data"
    );
    assert_eq!(ok(&d, &["check", "-n", "a.vhd"]), "a.vhd is valid\n");

    let o = vhd(&d, &["coalesce", "-n", "a.vhd"]);
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (22, "error finding a.vhd parent: -22\n")
    );
    ok(&d, &["create", "-n", "f.vhd", "-s", "2", "-r"]);
    let o = vhd(&d, &["fill", "-n", "f.vhd"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (22, ""));
}

#[test]
fn modify_parent_and_size() {
    let d = workdir("modify");
    ok(&d, &["create", "-n", "a.vhd", "-s", "4"]);
    ok(&d, &["create", "-n", "b.vhd", "-s", "4"]);
    ok(&d, &["snapshot", "-n", "s.vhd", "-p", "a.vhd"]);
    ok(&d, &["modify", "-n", "s.vhd", "-p", "b.vhd"]);
    let abs = d.canonicalize().unwrap();
    assert_eq!(
        ok(&d, &["query", "-n", "s.vhd", "-p"]),
        format!("{}\n", abs.join("b.vhd").display())
    );
    assert_eq!(ok(&d, &["check", "-n", "s.vhd"]), "s.vhd is valid\n");
    let o = vhd(&d, &["modify", "-n", "s.vhd", "-p", "nope.vhd"]);
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (2, "failed to set parent to 'nope.vhd': -2\n")
    );
    let o = vhd_env(
        &d,
        &["modify", "-n", "s.vhd", "-p", "a.vhd"],
        &[("VHD_UTIL_TEST_FAIL_REPARENT_BEGIN", "")],
    );
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (22, "Failing at VHD_UTIL_TEST_FAIL_REPARENT_BEGIN\n")
    );
    // -s: the footer goes at BYTES - 512; too small or unaligned sizes fail.
    ok(&d, &["modify", "-n", "a.vhd", "-s", "8192"]);
    let b = std::fs::read(d.join("a.vhd")).unwrap();
    assert_eq!(b.len(), 8192);
    assert_eq!(&b[8192 - 512..], &b[3072..3584]);
    let o = vhd(&d, &["modify", "-n", "a.vhd", "-s", "1024"]);
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (22, "failed to set physical size to 1024: -22\n")
    );
    assert_eq!(
        code(&vhd(&d, &["modify", "-n", "a.vhd"])),
        0,
        "neither option"
    );
}

/// A `modify -p` killed after it disabled the image (its journal written, the link
/// being rewritten) leaves the image refused until the same command runs again, which
/// reverts the journal and then completes.
#[test]
fn modify_parent_after_a_kill() {
    let d = workdir("modify-killed");
    ok(&d, &["create", "-n", "a.vhd", "-s", "4"]);
    ok(&d, &["create", "-n", "other.vhd", "-s", "4"]);
    ok(&d, &["snapshot", "-n", "s.vhd", "-p", "a.vhd"]);
    let s = d.join("s.vhd");
    let jpath = vhd_std::reparent::journal_path(&s);
    {
        let rw = OpenOptions {
            writable: true,
            ..Default::default()
        };
        let mut img = Image::open(&s, rw).unwrap();
        let link = vhd_std::reparent::Link::new(&s, &d.join("other.vhd"), false).unwrap();
        let _journal = vhd_std::journal::create(&jpath, &mut img).unwrap();
        // The locators and header now name other.vhd, the journal still a.vhd; killed
        // here: never committed.
        let np = vhd_nostd::parent::NewParent {
            uuid: link.uuid,
            timestamp: link.timestamp,
            name: &link.name,
            relative_path: &link.relative_path,
        };
        img.disk_mut().set_parent(&np, &mut [0u8; 8192]).unwrap();
    }
    assert!(jpath.exists());
    assert_ne!(code(&vhd(&d, &["check", "-n", "s.vhd"])), 0, "disabled");
    ok(&d, &["modify", "-n", "s.vhd", "-p", "other.vhd"]);
    assert!(!jpath.exists(), "journal deleted");
    let abs = d.canonicalize().unwrap();
    assert_eq!(
        ok(&d, &["query", "-n", "s.vhd", "-p"]),
        format!("{}\n", abs.join("other.vhd").display())
    );
    assert_eq!(ok(&d, &["check", "-n", "s.vhd", "-p"]).lines().count(), 2);
    // A path that outgrows the locator slots is refused before anything is written
    // (-36, as the reference), and no journal is left.
    // (./sub/ and 254 bytes: 520 bytes of UTF-16 for 512-byte slots.)
    std::fs::create_dir_all(d.join("sub")).unwrap();
    let long = format!("sub/{}.vhd", "p".repeat(250));
    ok(&d, &["create", "-n", &long, "-s", "4"]);
    let before = std::fs::read(&s).unwrap();
    let o = vhd(&d, &["modify", "-n", "s.vhd", "-p", &long]);
    assert_eq!(
        (code(&o), stdout(&o)),
        (36, format!("failed to set parent to '{long}': -36\n"))
    );
    assert_eq!(std::fs::read(&s).unwrap(), before);
    assert!(!jpath.exists());
}

#[test]
fn resize_revert_and_failure_points() {
    let d = workdir("resize");
    ok(&d, &["create", "-n", "a.vhd", "-s", "12"]);
    let model = write_pattern(&d.join("a.vhd"), 12 * MIB, &[(100, 16, 9)]);
    ok(
        &d,
        &["resize", "-n", "a.vhd", "-j", "a.journal", "-s", "19"],
    );
    assert!(!d.join("a.journal").exists(), "journal deleted");
    assert_eq!(
        ok(&d, &["query", "-n", "a.vhd", "-v"]),
        "20\n",
        "whole 2 MiB blocks"
    );
    assert_eq!(ok(&d, &["check", "-n", "a.vhd"]), "a.vhd is valid\n");
    let data = read_all(&d, "a.vhd", 20 * MIB / 512);
    assert_eq!(&data[..model.len()], &model[..]);
    // Beyond the reference (which fails -38): nothing is allocated past 4 MiB.
    ok(&d, &["resize", "-n", "a.vhd", "-j", "a.journal", "-s", "4"]);
    assert_eq!(ok(&d, &["query", "-n", "a.vhd", "-v"]), "4\n");
    assert_eq!(
        read_all(&d, "a.vhd", 4 * MIB / 512),
        &model[..4 * MIB as usize]
    );
    ok(
        &d,
        &["resize", "-n", "a.vhd", "-j", "a.journal", "-s", "20"],
    );
    assert_eq!(ok(&d, &["query", "-n", "a.vhd", "-v"]), "20\n");
    std::fs::write(d.join("busy.journal"), b"x").unwrap();
    let o = vhd(
        &d,
        &["resize", "-n", "a.vhd", "-j", "busy.journal", "-s", "30"],
    );
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (17, "creating journal failed: -17\n")
    );
    // An injected failure leaves the journal; revert restores and deletes it.
    let before = std::fs::read(d.join("a.vhd")).unwrap();
    let o = vhd_env(
        &d,
        &["resize", "-n", "a.vhd", "-j", "a.journal", "-s", "24"],
        &[("VHD_UTIL_TEST_FAIL_RESIZE_END", "1")],
    );
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (22, "Failing at VHD_UTIL_TEST_FAIL_RESIZE_END\n")
    );
    assert!(d.join("a.journal").exists());
    assert_eq!(ok(&d, &["query", "-n", "a.vhd", "-v"]), "24\n");
    ok(&d, &["revert", "-n", "a.vhd", "-j", "a.journal"]);
    assert!(!d.join("a.journal").exists());
    assert_eq!(std::fs::read(d.join("a.vhd")).unwrap(), before);
    let o = vhd(&d, &["revert", "-n", "a.vhd", "-j", "a.journal"]);
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (2, "opening journal failed: -2\n")
    );
}

/// Sectors of `name` as `vhd-util read` prints them, from `first`, `count` of them.
fn read_range(dir: &Path, name: &str, first: u64, count: u64) -> Vec<u8> {
    let (f, c) = (first.to_string(), count.to_string());
    let o = vhd(dir, &["read", "-n", name, "-r", &f, "-c", &c]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    o.stdout
}

/// The first blocks of a 100 MiB image are in the way of the BAT of 1000 MiB and of
/// 2040 GiB: they move to the end, under the journal, and read the same afterwards.
#[test]
fn resize_moves_the_blocks_in_the_bats_way() {
    let d = workdir("resize-moves");
    ok(&d, &["create", "-n", "g.vhd", "-s", "100"]);
    let places = [
        (0, 64, 1),
        (4095, 2, 2),
        (4096 * 3 + 7, 300, 3),
        (200_000, 8, 4),
    ];
    let model = write_pattern(&d.join("g.vhd"), 100 * MIB, &places);
    ok(&d, &["fill", "-n", "g.vhd"]);
    let filled = std::fs::read(d.join("g.vhd")).unwrap();
    // `read -b` of the first blocks: their byte offsets.
    let first = |d: &Path| -> Vec<u64> {
        ok(d, &["read", "-n", "g.vhd", "-b", "0", "-c", "4"])
            .lines()
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect()
    };
    let before = first(&d);
    assert_eq!(before[0], 3584, "block 0 right after the batmap");

    // Each failure point leaves the image poisoned and the journal; revert restores
    // the image byte for byte.
    for point in ["BEGIN", "DATA_MOVED", "METADATA_MOVED", "END"] {
        let var = format!("VHD_UTIL_TEST_FAIL_RESIZE_{point}");
        let args = ["resize", "-n", "g.vhd", "-j", "g.journal", "-s", "2088960"];
        let o = vhd_env(&d, &args, &[(&var, "")]);
        assert_eq!(
            (code(&o), stdout(&o)),
            (22, format!("Failing at {var}\n")),
            "{point}"
        );
        assert!(d.join("g.journal").exists(), "{point}");
        let o = vhd(&d, &["check", "-n", "g.vhd"]);
        assert_ne!(code(&o), 0, "{point}: poisoned");
        ok(&d, &["revert", "-n", "g.vhd", "-j", "g.journal"]);
        assert!(!d.join("g.journal").exists(), "{point}");
        assert!(std::fs::read(d.join("g.vhd")).unwrap() == filled, "{point}");
    }

    ok(
        &d,
        &["resize", "-n", "g.vhd", "-j", "g.journal", "-s", "1000"],
    );
    assert!(!d.join("g.journal").exists(), "journal removed");
    let len = std::fs::metadata(d.join("g.vhd")).unwrap().len();
    assert_eq!(
        ok(&d, &["query", "-n", "g.vhd", "-v", "-s"]),
        format!("1000\n{len}\n")
    );
    assert_eq!(ok(&d, &["check", "-n", "g.vhd"]), "g.vhd is valid\n");
    // 500 entries: the BAT takes 4 sectors, the batmap header and map 2 more; block 0
    // is in their way and is now the last block, its data 4 KiB-aligned.
    let after = first(&d);
    // Where a block moved to the end `at` starts: data 4 KiB-aligned after its bitmap.
    let dest = |at: u64| (at + 512).div_ceil(4096) * 4096 - 512;
    assert_eq!(after[0], dest(filled.len() as u64 - 512), "{after:?}");
    assert_eq!(after[1..], before[1..]);
    assert_eq!(read_range(&d, "g.vhd", 0, 100 * MIB / 512), model);
    assert!(read_range(&d, "g.vhd", 100 * MIB / 512, 1000)
        .iter()
        .all(|&b| b == 0));

    // 2040 GiB, the format's largest: a 4 MiB BAT over the first two blocks. The file
    // stays sparse.
    ok(
        &d,
        &["resize", "-n", "g.vhd", "-j", "g.journal", "-s", "2088960"],
    );
    assert!(!d.join("g.journal").exists());
    let len = std::fs::metadata(d.join("g.vhd")).unwrap().len();
    assert_eq!(
        ok(&d, &["query", "-n", "g.vhd", "-v", "-s"]),
        format!("2088960\n{len}\n")
    );
    assert!(len < 120 * MIB, "{len}");
    assert_eq!(ok(&d, &["check", "-n", "g.vhd"]), "g.vhd is valid\n");
    // The BAT ends at 1536 + 4 MiB - 5 KiB, the map 255 sectors later: the three
    // blocks that start before that moved, in BAT order, after block 0's new place.
    let grown = first(&d);
    let mut at = after[0] + 2 * MIB + 512;
    for i in 1..4 {
        if before[i] < 4 * MIB + 256 * 512 {
            assert_eq!(grown[i], dest(at), "{grown:?}");
            at = dest(at) + 2 * MIB + 512;
        } else {
            assert_eq!(grown[i], before[i], "{grown:?}");
        }
    }
    assert!(
        grown[1] != before[1],
        "block 1 was in the way too: {grown:?}"
    );
    assert_eq!(read_range(&d, "g.vhd", 0, 100 * MIB / 512), model);
    let last = 2088960 * MIB / 512 - 8;
    assert!(read_range(&d, "g.vhd", last, 8).iter().all(|&b| b == 0));
    let qemu = Command::new("qemu-img")
        .args(["info", "-f", "vpc"])
        .arg(d.join("g.vhd"))
        .output()
        .expect("qemu-img (install qemu-utils)");
    assert!(qemu.status.success(), "{}", stderr(&qemu));
}

/// A differencing disk's locators and first blocks move too; its parent is still
/// found and the chain reads the same.
#[test]
fn resize_moves_a_snapshots_locators_and_blocks() {
    let d = workdir("resize-snapshot");
    ok(&d, &["create", "-n", "p.vhd", "-s", "100"]);
    let mut model = write_pattern(&d.join("p.vhd"), 100 * MIB, &[(0, 8192, 1)]);
    ok(&d, &["snapshot", "-n", "s.vhd", "-p", "p.vhd"]);
    let ours = write_pattern(&d.join("s.vhd"), 100 * MIB, &[(3, 5, 2), (5000, 10, 3)]);
    for s in (3..8).chain(5000..5010) {
        let r = s * 512..s * 512 + 512;
        model[r.clone()].copy_from_slice(&ours[r]);
    }
    let parent = ok(&d, &["query", "-n", "s.vhd", "-p"]);
    let block0 = || ok(&d, &["read", "-n", "s.vhd", "-b", "0"]);
    let before = block0();
    ok(
        &d,
        &["resize", "-n", "s.vhd", "-j", "s.journal", "-s", "2000"],
    );
    assert_ne!(block0(), before, "block 0 was in the way of 8 BAT sectors");
    assert!(!d.join("s.journal").exists());
    assert_eq!(
        ok(&d, &["query", "-n", "s.vhd", "-v", "-p"]),
        format!("2000\n{parent}")
    );
    let checked = ok(&d, &["check", "-n", "s.vhd", "-p"]);
    assert_eq!(
        checked,
        format!("s.vhd is valid\n{} is valid\n", parent.trim_end())
    );
    let img = Image::open(d.join("s.vhd"), OpenOptions::default()).unwrap();
    let h = img.disk().header().unwrap();
    let first = img
        .disk()
        .bat()
        .allocated()
        .map(|(_, s)| u64::from(s) * 512)
        .min();
    assert!(first.unwrap() >= img.disk().end_of_headers());
    assert!(h
        .loc
        .iter()
        .filter(|l| l.is_used())
        .all(|l| l.data_offset > 1536 + 2048));
    drop(img);
    assert_eq!(read_range(&d, "s.vhd", 0, 100 * MIB / 512), model);
}

/// Shrinking a dynamic disk with a block allocated past the new end is refused and
/// leaves the image byte for byte; a fixed disk grows (zeros) and shrinks.
#[test]
fn resize_shrink_refused_and_fixed_disks() {
    let d = workdir("resize-shrink");
    ok(&d, &["create", "-n", "a.vhd", "-s", "20"]);
    write_pattern(&d.join("a.vhd"), 20 * MIB, &[(4096 * 5 + 1, 1, 7)]);
    let before = std::fs::read(d.join("a.vhd")).unwrap();
    // Block 5 (10-12 MiB) is allocated: 11 MiB cuts through it, 10 MiB is past it.
    for mb in ["11", "4"] {
        let o = vhd(&d, &["resize", "-n", "a.vhd", "-j", "a.journal", "-s", mb]);
        assert_eq!(
            (code(&o), stdout(&o)),
            (
                22,
                format!(
                    "cannot shrink to {mb} MB: allocated block beyond the new size\nresize failed: -22\n"
                )
            )
        );
        assert!(!d.join("a.journal").exists());
        assert!(std::fs::read(d.join("a.vhd")).unwrap() == before, "{mb}");
    }
    ok(
        &d,
        &["resize", "-n", "a.vhd", "-j", "a.journal", "-s", "12"],
    );
    assert_eq!(ok(&d, &["query", "-n", "a.vhd", "-v"]), "12\n");
    assert_eq!(ok(&d, &["check", "-n", "a.vhd"]), "a.vhd is valid\n");

    // Fixed: under a journal of the footer, removed on success (the reference fails
    // "creating journal failed: -22").
    ok(&d, &["create", "-n", "f.vhd", "-s", "2", "-r"]);
    let model = write_pattern(&d.join("f.vhd"), 2 * MIB, &[(0, 4, 1), (4095, 1, 2)]);
    ok(&d, &["resize", "-n", "f.vhd", "-j", "f.journal", "-s", "5"]);
    assert!(!d.join("f.journal").exists());
    assert_eq!(
        std::fs::metadata(d.join("f.vhd")).unwrap().len(),
        5 * MIB + 512
    );
    assert_eq!(ok(&d, &["query", "-n", "f.vhd", "-v"]), "5\n");
    assert_eq!(ok(&d, &["check", "-n", "f.vhd"]), "");
    let img = Image::open(d.join("f.vhd"), OpenOptions::default()).unwrap();
    assert_eq!(img.disk().size(), 5 * MIB);
    drop(img);
    let raw = std::fs::read(d.join("f.vhd")).unwrap();
    assert_eq!(&raw[..2 * MIB as usize], &model[..]);
    assert!(raw[2 * MIB as usize..5 * MIB as usize]
        .iter()
        .all(|&b| b == 0));
    ok(&d, &["resize", "-n", "f.vhd", "-j", "f.journal", "-s", "1"]);
    assert_eq!(std::fs::metadata(d.join("f.vhd")).unwrap().len(), MIB + 512);
    assert_eq!(ok(&d, &["query", "-n", "f.vhd", "-v"]), "1\n");
    assert_eq!(ok(&d, &["check", "-n", "f.vhd"]), "");
    let raw = std::fs::read(d.join("f.vhd")).unwrap();
    assert_eq!(&raw[..MIB as usize], &model[..MIB as usize]);
}

#[test]
fn vhd_update_paths() {
    let d = workdir("update");
    let bin = env!("CARGO_BIN_EXE_vhd-update");
    let run = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .current_dir(&d)
            .output()
            .unwrap()
    };
    let o = run(&["-h"]);
    assert_eq!(code(&o), 22, "usage exits 22");
    assert_eq!(
        stdout(&o),
        "usage: vhd-update <-n name> [-j existing journal] [-h]\n"
    );
    ok(&d, &["create", "-n", "a.vhd", "-s", "2"]);
    assert_eq!(
        code(&run(&["-n", "a.vhd"])),
        0,
        "not tap 0.1: nothing to do"
    );
    let o = run(&["-n", "a.vhd", "-j", "missing"]);
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (234, "invalid journal arg missing\n")
    );
    let o = run(&["-n", "a.vhd", "-r"]);
    assert_eq!(
        stdout(&o).lines().next(),
        Some("rollback requires a journal argument")
    );
}

// ---- qemu interoperability ----

fn qemu(cmd: &str, args: &[&str], dir: &Path) -> Output {
    let o = Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e} (install qemu-utils)"));
    assert!(o.status.success(), "{cmd} {args:?}: {}", stderr(&o));
    o
}

/// The top-level `virtual-size` of `qemu-img info --output=json` (the children's come
/// first, more deeply indented).
fn qemu_virtual_size(dir: &Path, name: &str) -> u64 {
    let o = qemu(
        "qemu-img",
        &["info", "-f", "vpc", "--output=json", name],
        dir,
    );
    let s = stdout(&o);
    let line = s
        .lines()
        .find(|l| l.starts_with("    \"virtual-size\":"))
        .expect("virtual-size");
    line.split(':')
        .nth(1)
        .unwrap()
        .trim()
        .trim_end_matches(',')
        .parse()
        .unwrap()
}

#[test]
fn qemu_reads_what_vhd_util_writes() {
    let d = workdir("qemu-ours");
    for (name, mb, fixed) in [("dyn.vhd", "11", false), ("fix.vhd", "3", true)] {
        let mut args = vec!["create", "-n", name, "-s", mb];
        if fixed {
            args.push("-r");
        }
        ok(&d, &args);
        let size = if fixed { 4 * MIB } else { 12 * MIB };
        let sectors = size / 512;
        let model = write_pattern(
            &d.join(name),
            size,
            &[
                (0, 3, 0x11),
                (4095, 2, 0x22),
                (sectors / 2, 64, 0x33),
                (sectors - 1, 1, 0x44),
            ],
        );
        assert_eq!(qemu_virtual_size(&d, name), size, "{name}");
        let raw = format!("{name}.raw");
        qemu(
            "qemu-img",
            &["convert", "-f", "vpc", "-O", "raw", name, &raw],
            &d,
        );
        assert!(
            std::fs::read(d.join(&raw)).unwrap() == model,
            "{name}: qemu's raw content"
        );
        if !fixed {
            assert_eq!(read_all(&d, name, sectors), model);
            assert_eq!(ok(&d, &["check", "-n", name]), format!("{name} is valid\n"));
        }
    }
}

#[test]
fn vhd_util_reads_what_qemu_writes() {
    let d = workdir("qemu-theirs");
    qemu(
        "qemu-img",
        &[
            "create",
            "-f",
            "vpc",
            "-o",
            "subformat=dynamic",
            "q.vhd",
            "8M",
        ],
        &d,
    );
    qemu(
        "qemu-io",
        &[
            "-f",
            "vpc",
            "-c",
            "write -P 0xab 0 1M",
            "-c",
            "write -P 0xcd 3M 4k",
            "q.vhd",
        ],
        &d,
    );
    let size = Image::open(d.join("q.vhd"), OpenOptions::default())
        .unwrap()
        .disk()
        .size();
    let mut model = vec![0u8; size as usize];
    model[..MIB as usize].fill(0xab);
    model[3 * MIB as usize..3 * MIB as usize + 4096].fill(0xcd);
    assert_eq!(read_all(&d, "q.vhd", size / 512), model);
    let mut chain = Chain::open(d.join("q.vhd"), OpenOptions::default()).unwrap();
    let mut buf = vec![0u8; size as usize];
    chain.read(0, &mut buf).unwrap();
    assert!(buf == model);
    let q = ok(&d, &["query", "-n", "q.vhd", "-v", "-d"]);
    assert_eq!(q, format!("{}\nchain depth: 1\n", size >> 20));
}

/// The progress bar shows on a terminal only: through `script` (a pseudo-terminal) fill
/// draws it; in a pipe stderr stays empty.
#[test]
fn progress_bar_only_on_a_terminal() {
    let dir = workdir("progress");
    ok(&dir, &["create", "-n", "p.vhd", "-s", "8"]);
    let piped = vhd(&dir, &["fill", "-n", "p.vhd"]);
    assert_eq!(code(&piped), 0);
    assert_eq!(stderr(&piped), "", "no progress output in a pipe");
    let cmd = format!("{} fill -n p.vhd", env!("CARGO_BIN_EXE_vhd-util"));
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(&dir)
        .output()
        .expect("script(1) from util-linux");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("fill [") && text.contains("100%"),
        "no bar on a terminal: {text:?}"
    );
}
