//! The flush rule (COMPATIBILITY.md, "Flushing with `O_DIRECT`"): an image the tools open
//! through vhd-std is `fdatasync`ed at every ordering point of the engine, direct I/O or
//! not, so that their long metadata updates survive a power cut and not only a killed
//! process. (The C library's borrowed descriptors do not sync; tests/e2e/run.sh checks
//! that side.)
//!
//! Each test runs one `vhd-util` operation under `strace` and replays the image's writes
//! and syncs: every write is sorted into a kind by where it lands (the BAT, the batmap,
//! a locator's space, the header, by the old and new layout) or by its cookie (footer,
//! poison), and a write of a kind that makes earlier writes reachable or valid must find
//! those earlier writes synced (see `needs`). A journal must be synced before the image
//! is touched, and nothing may be left unsynced at exit.
//!
//! strace comes with `mk/deps.sh` (CI installs it); where it is missing these tests say
//! so and pass without checking anything.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;

use vhd_nostd::batmap::BatmapHeader;
use vhd_std::{Image, OpenOptions};
use vhd_testkit::{batmap_header_offset_in, header_in, View};

const BIN: &str = env!("CARGO_BIN_EXE_vhd-util");

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Block data and sector bitmaps.
    Data,
    Bat,
    Batmap,
    Locator,
    Header,
    Footer,
    /// The `v_poison` cookie a journaled operation puts over the footers first.
    Poison,
}

/// The kinds whose earlier writes must be synced before a write of `k`: data before the
/// tables that point at it, and everything a journaled update changes after the poison
/// that marks the image as being changed and before the header and footers that seal it.
fn needs(k: Kind) -> &'static [Kind] {
    use Kind::*;
    match k {
        Data | Poison => &[],
        Locator => &[Poison],
        Bat | Batmap => &[Data, Poison],
        Header => &[Data, Bat, Batmap, Locator, Poison],
        // Not Data nor Batmap: coalesce moves the footer to the new end of the file
        // (room for the next block) right after a block's data or batmap bits; the BAT
        // reaches the block only after a sync, and the batmap is a hint.
        Footer => &[Bat, Locator, Header, Poison],
    }
}

/// One traced call on a file.
#[derive(Debug)]
enum Call {
    /// `pwrite64` or `pwritev`: length, offset and the first bytes as strace prints them.
    Write(u64, u64, String),
    Sync,
    /// Any other call that changes the file (`ftruncate`, ...), as strace printed it.
    Other(String),
}

/// A fresh work directory for test `name`, or `None` (said on stderr: the test then
/// checks nothing) where strace is missing.
fn setup(name: &str) -> Option<PathBuf> {
    let ok = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("strace not found: the flush rule is NOT checked (mk/deps.sh install)");
        return None;
    }
    Some(vhd_testkit::workdir!("vhd-util-flush", name))
}

/// Runs `c` in `dir`; it must succeed.
fn run(dir: &Path, c: &mut Command) {
    let o = c.current_dir(dir).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout) + String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{c:?}: {out}");
}

fn vhd(dir: &Path, args: &[&str]) {
    run(dir, Command::new(BIN).args(args));
}

/// Writes `count` sectors of `byte` at `sector` through vhd-std.
fn write(path: &Path, sector: u64, count: usize, byte: u8) {
    let opts = OpenOptions {
        writable: true,
        ..Default::default()
    };
    let mut img = Image::open(path, opts).unwrap();
    img.disk_mut()
        .write(sector, &vec![byte; count * 512])
        .unwrap();
}

/// A traced call on a file, and the trace lines where it started and ended (a call
/// another thread interrupts is printed in two parts).
struct Traced {
    start: usize,
    end: usize,
    path: PathBuf,
    call: Call,
}

/// Runs `vhd-util args` in `dir` under strace; returns the calls on files.
fn traced(dir: &Path, args: &[&str]) -> Vec<Traced> {
    let log = dir.join("strace.log");
    let spec = "trace=pwrite64,pwritev,pwritev2,write,writev,fdatasync,fsync,ftruncate,fallocate";
    run(
        dir,
        Command::new("strace")
            .args(["-f", "-y", "-s", "8", "-e", spec, "-o"])
            .arg(&log)
            .arg(BIN)
            .args(args),
    );
    calls_in(&std::fs::read_to_string(&log).unwrap())
}

/// The calls on files in `strace -f` output: lines "PID call", the PID padded to a width,
/// a call another thread interrupts split into "PID head <unfinished ...>" and "PID <...
/// name resumed>tail".
fn calls_in(text: &str) -> Vec<Traced> {
    let mut calls = Vec::new();
    // Per thread, the first part of a call it has not finished, and where it started.
    let mut split: HashMap<&str, (usize, String)> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let (pid, call) = line.trim_start().split_once(' ').unwrap_or((line, ""));
        let (start, whole) = if let Some(head) = call.strip_suffix(" <unfinished ...>") {
            split.insert(pid, (n, head.to_owned()));
            continue;
        } else if let Some(tail) = call.trim_start().strip_prefix("<... ") {
            let (at, head) = split
                .remove(pid)
                .unwrap_or_else(|| panic!("no start: {line}"));
            let (_, tail) = tail.split_once(" resumed>").unwrap();
            (at, head + tail)
        } else {
            (n, call.to_owned())
        };
        if let Some((path, call)) = parse(&whole) {
            calls.push(Traced {
                start,
                end: n,
                path,
                call,
            });
        }
    }
    calls
}

/// One call as strace prints it with `-y`: "name(FD</path>, ...) = RET"; `None` for a
/// call on no file.
fn parse(line: &str) -> Option<(PathBuf, Call)> {
    let (name, rest) = line.trim_start().split_once('(')?;
    let (path, rest) = rest.split_once('<')?.1.split_once('>')?;
    let c = match name {
        "fdatasync" | "fsync" => Call::Sync,
        "pwrite64" | "pwritev" => {
            let (args, ret) = rest.rsplit_once(") = ")?;
            let off = args.rsplit_once(", ")?.1.parse().ok()?;
            // What was written (strace shortens a long iovec array).
            let len = ret.parse().ok()?;
            let bytes = rest.split('"').nth(1).unwrap_or("").to_owned();
            Call::Write(len, off, bytes)
        }
        _ => Call::Other(line.to_owned()),
    };
    Some((PathBuf::from(path), c))
}

/// Where an image keeps its tables and locators, before and after an operation (which
/// may move or add them).
#[derive(Default)]
struct Layout {
    regions: Vec<(Range<u64>, Kind)>,
}

impl Layout {
    fn add(&mut self, path: &Path) {
        path.view(|b| {
            let h = header_in(b);
            let bat = u64::from(h.max_bat_size) * 4;
            self.regions
                .push((h.table_offset..h.table_offset + bat, Kind::Bat));
            let off = vhd_testkit::header_offset_in(b) as u64;
            self.regions.push((off..off + 1024, Kind::Header));
            for l in h.loc.iter().filter(|l| l.code != 0) {
                let space = u64::from(l.data_space);
                // blktap writes the space in bytes, older writers in sectors.
                let bytes = if space < 512 { space * 512 } else { space };
                let at = l.data_offset;
                self.regions.push((at..at + bytes, Kind::Locator));
            }
            let hoff = batmap_header_offset_in(b);
            if let Ok(bh) = BatmapHeader::parse(&b[hoff..hoff + 512]) {
                let h = hoff as u64;
                self.regions.push((h..h + 512, Kind::Batmap));
                let m = bh.batmap_offset;
                self.regions
                    .push((m..m + u64::from(bh.batmap_size) * 512, Kind::Batmap));
            }
        })
    }

    fn kind(&self, len: u64, off: u64, bytes: &str) -> Kind {
        match bytes {
            "conectix" => return Kind::Footer,
            "cxsparse" => return Kind::Header,
            "v_poison" => return Kind::Poison,
            _ => {}
        }
        self.regions
            .iter()
            .find(|(r, _)| r.start < off + len && off < r.end)
            .map_or(Kind::Data, |&(_, k)| k)
    }
}

/// Replays the calls on `image` (with `layout`) and on `journals`, and returns the kinds
/// the image was written with. Panics, naming the call, where the rule is broken.
///
/// With threads, a write counts from when it starts (what must be synced before it is
/// checked then) and a sync clears only the writes that had ended when it started.
fn check_order(
    what: &str,
    calls: &[Traced],
    image: &Path,
    layout: &Layout,
    journals: &[&Path],
) -> BTreeSet<Kind> {
    let ours = |t: &Traced| t.path == image || journals.contains(&t.path.as_path());
    // (line, ends?, call): starts and ends in trace order, a call's start first.
    let mut events: Vec<(usize, bool, usize)> = Vec::new();
    for (i, t) in calls.iter().enumerate().filter(|(_, t)| ours(t)) {
        events.push((t.start, false, i));
        events.push((t.end, true, i));
    }
    events.sort();
    let mut seen = BTreeSet::new();
    // Per file, its writes not yet synced: call, kind, ended.
    let mut dirty: HashMap<&Path, Vec<(usize, Kind, bool)>> = HashMap::new();
    // Per sync in flight, the writes it covers.
    let mut covers: HashMap<usize, Vec<usize>> = HashMap::new();
    for (_, ends, i) in events {
        let t = &calls[i];
        let path = t.path.as_path();
        let on_image = path == image;
        let (k, call) = match &t.call {
            Call::Sync => {
                let mine = dirty.entry(path).or_default();
                if ends {
                    let done = covers.remove(&i).unwrap_or_default();
                    mine.retain(|(w, _, _)| !done.contains(w));
                } else {
                    covers.insert(i, mine.iter().filter(|w| w.2).map(|w| w.0).collect());
                }
                continue;
            }
            Call::Write(len, off, bytes) if on_image => (
                layout.kind(*len, *off, bytes),
                format!("write of {len} bytes at {off}"),
            ),
            Call::Write(len, off, _) => (Kind::Data, format!("write of {len} bytes at {off}")),
            // A length change places data as a write does.
            Call::Other(line) => (Kind::Data, line.clone()),
        };
        if ends {
            for w in dirty.entry(path).or_default().iter_mut() {
                w.2 |= w.0 == i;
            }
            continue;
        }
        if on_image {
            let mine = dirty.get(path).map_or(&[][..], Vec::as_slice);
            let pending: BTreeSet<_> = mine
                .iter()
                .map(|w| w.1)
                .filter(|w| needs(k).contains(w))
                .collect();
            assert!(
                pending.is_empty(),
                "{what}: line {} on {}: {k:?} {call} while {pending:?} writes are not \
                 synced: the ordering point lost its sync",
                t.start + 1,
                image.display()
            );
            for j in journals {
                assert!(
                    dirty.get(j).is_none_or(Vec::is_empty),
                    "{what}: line {}: {k:?} {call} on {} before the journal {} is synced",
                    t.start + 1,
                    image.display(),
                    j.display()
                );
            }
            seen.insert(k);
        }
        dirty.entry(path).or_default().push((i, k, false));
    }
    dirty.retain(|_, v| !v.is_empty());
    assert!(
        dirty.is_empty(),
        "{what}: writes not synced at exit: {dirty:?}"
    );
    assert!(!seen.is_empty(), "{what}: no write to {}", image.display());
    seen
}

/// Runs `vhd-util args` in `dir` under strace, checks the order of its calls on `image`
/// and `journals`, and requires `want` among the kinds written to the image (else the
/// test no longer sees what it is about).
fn run_checked(dir: &Path, args: &[&str], image: &str, journals: &[&str], want: &[Kind]) {
    let what = args[0];
    // strace names files by their resolved paths.
    let real = dir.canonicalize().unwrap();
    let image = real.join(image);
    let journals: Vec<PathBuf> = journals.iter().map(|j| real.join(j)).collect();
    let journals: Vec<&Path> = journals.iter().map(PathBuf::as_path).collect();
    let mut layout = Layout::default();
    layout.add(&image);
    let calls = traced(dir, args);
    layout.add(&image);
    let kinds = check_order(what, &calls, &image, &layout, &journals);
    for k in want {
        assert!(
            kinds.contains(k),
            "{what} wrote {kinds:?} to the image: no {k:?}"
        );
    }
}

#[test]
fn coalesce_syncs_the_data_before_the_bat() {
    let Some(d) = setup("coalesce") else {
        return;
    };
    vhd(&d, &["create", "-n", "p.vhd", "-s", "8"]);
    write(&d.join("p.vhd"), 0, 16, 1);
    vhd(&d, &["snapshot", "-n", "c.vhd", "-p", "p.vhd"]);
    // Into the parent's block 0 (there already) and blocks 2 and 3 (new in the parent).
    write(&d.join("c.vhd"), 8, 16, 2);
    write(&d.join("c.vhd"), 2 * 4096 + 5, 100, 3);
    write(&d.join("c.vhd"), 3 * 4096, 4096, 4);
    let args = ["coalesce", "-n", "c.vhd"];
    run_checked(&d, &args, "p.vhd", &[], &[Kind::Data, Kind::Bat]);
    vhd(&d, &["check", "-n", "p.vhd"]);
}

#[test]
fn journaled_resize_syncs_at_every_step() {
    let Some(d) = setup("resize") else {
        return;
    };
    vhd(&d, &["create", "-n", "r.vhd", "-s", "8"]);
    // Block 0 sits where the grown BAT goes: growing past 256 MiB moves it.
    write(&d.join("r.vhd"), 3, 10, 5);
    write(&d.join("r.vhd"), 3 * 4096 + 1, 10, 6);
    let args = ["resize", "-n", "r.vhd", "-s", "1024", "-j", "r.jnl"];
    let want = [
        Kind::Poison,
        Kind::Data,
        Kind::Bat,
        Kind::Header,
        Kind::Footer,
    ];
    run_checked(&d, &args, "r.vhd", &["r.jnl"], &want);
    vhd(&d, &["check", "-n", "r.vhd"]);
}

#[test]
fn reparent_syncs_the_locators_before_the_header() {
    let Some(d) = setup("modify") else {
        return;
    };
    vhd(&d, &["create", "-n", "a.vhd", "-s", "8"]);
    vhd(&d, &["create", "-n", "b.vhd", "-s", "8"]);
    vhd(&d, &["snapshot", "-n", "c.vhd", "-p", "a.vhd"]);
    let args = ["modify", "-n", "c.vhd", "-p", "b.vhd"];
    let want = [Kind::Poison, Kind::Locator, Kind::Header, Kind::Footer];
    run_checked(&d, &args, "c.vhd", &["c.vhd.reparent-journal"], &want);
    vhd(&d, &["check", "-n", "c.vhd", "-p"]);
}

#[test]
fn strace_calls_parse() {
    let w = r#"pwrite64(3</d/p.vhd>, "conectix"..., 512, 8400896) = 512"#;
    match parse(w) {
        Some((p, Call::Write(512, 8400896, b))) => {
            assert_eq!((p.to_str(), b.as_str()), (Some("/d/p.vhd"), "conectix"))
        }
        other => panic!("{w}: {other:?}"),
    }
    let v = r#"pwritev(4</d/p.vhd>, [{iov_base="\0\0\0\0"..., iov_len=3584}, {iov_base="\377\377"..., iov_len=512}], 2, 4202496) = 4096"#;
    assert!(
        matches!(parse(v), Some((_, Call::Write(4096, 4202496, _)))),
        "{v}"
    );
    assert!(matches!(
        parse("fdatasync(4</d/j>) = 0"),
        Some((_, Call::Sync))
    ));
    assert!(parse("+++ exited with 0 +++").is_none());
    // Padded PIDs, and a call split by another thread's.
    let text = "7  fsync(3</a>) = 0\n\
                123456 pwrite64(3</a>, \"x\"..., 512, 1024 <unfinished ...>\n\
                7  fdatasync(4</b>) = 0\n\
                123456 <... pwrite64 resumed>) = 512\n";
    let c = calls_in(text);
    let got: Vec<_> = c
        .iter()
        .map(|t| (t.start, t.end, t.path.to_str()))
        .collect();
    // In the order they end.
    assert_eq!(
        got,
        [(0, 0, Some("/a")), (2, 2, Some("/b")), (1, 3, Some("/a"))]
    );
    assert!(matches!(c[2].call, Call::Write(512, 1024, _)));
}
