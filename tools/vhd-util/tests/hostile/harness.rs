//! The harness: the subcommands a case runs, what it expects of each run, and the runner
//! that builds a case's image, runs every subcommand on it in a child process with a
//! deadline, and judges each run.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vhd_testkit::MIB;

pub const BIN: &str = env!("CARGO_BIN_EXE_vhd-util");
/// A run taking longer than this is a hang.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// The image under test, in every case directory.
pub const IMG: &str = "h.vhd";
/// Files larger than this are compared and restored by their first and last MiB only
/// (case 41's sparse 2 TiB file; every other image is a few MiB and compared whole).
pub const WHOLE_LIMIT: u64 = 64 * MIB;
/// No run may grow a file by more than this (the largest legitimate growth here is
/// `fill` of an 8 MiB disk, or `modify -s` to 16 MiB).
pub const GROWTH_LIMIT: u64 = 32 * MIB;

// ---- subcommands --------------------------------------------------------------------

/// One subcommand invocation on `h.vhd` (images are 8 MiB = 16384 sectors = 4 blocks of
/// 2 MiB unless the case says otherwise).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    Check,
    CheckIgnore,
    CheckParents,
    Query,
    QueryParent,
    ReadHeaders,
    ReadBat,
    ReadBatPast,
    ReadBitmap,
    ReadBitmapPast,
    ReadTranslate,
    ReadTranslatePast,
    ReadTestBit,
    ReadTestBitPast,
    ReadData,
    ReadSectors,
    ReadSectorsHead,
    ReadSectorsPast,
    ReadSectorsWrap,
    ReadBatmap,
    TestBatmap,
    Scan,
    ScanFast,
    ScanTree,
    Set,
    ModifySize,
    ModifyParent,
    Snapshot,
    Coalesce,
    Repair,
    Resize,
    Fill,
    CreateHuge,
    Revert,
}

impl Op {
    pub fn args(self) -> &'static [&'static str] {
        match self {
            Op::Check => &["check", "-n", IMG],
            Op::CheckIgnore => &["check", "-n", IMG, "-i"],
            Op::CheckParents => &["check", "-n", IMG, "-p"],
            Op::Query => &["query", "-n", IMG, "-v", "-s", "-p", "-f", "-d"],
            Op::QueryParent => &["query", "-n", IMG, "-p", "-d"],
            Op::ReadHeaders => &["read", "-n", IMG, "-p"],
            Op::ReadBat => &["read", "-n", IMG, "-b", "0", "-c", "4"],
            Op::ReadBatPast => &["read", "-n", IMG, "-b", "4294967295"],
            Op::ReadBitmap => &["read", "-n", IMG, "-m", "2"],
            Op::ReadBitmapPast => &["read", "-n", IMG, "-m", "4"],
            Op::ReadTranslate => &["read", "-n", IMG, "-t", "8292", "-c", "2"],
            Op::ReadTranslatePast => &["read", "-n", IMG, "-t", "16384"],
            Op::ReadTestBit => &["read", "-n", IMG, "-i", "8292"],
            Op::ReadTestBitPast => &["read", "-n", IMG, "-i", "16384"],
            Op::ReadData => &["read", "-n", IMG, "-d", "2"],
            Op::ReadSectors => &["read", "-n", IMG, "-r", "8192", "-c", "8"],
            Op::ReadSectorsHead => &["read", "-n", IMG, "-r", "0", "-c", "32"],
            Op::ReadSectorsPast => &["read", "-n", IMG, "-r", "16383", "-c", "2"],
            Op::ReadSectorsWrap => &["read", "-n", IMG, "-r", "18446744073709551615", "-c", "2"],
            Op::ReadBatmap => &["read", "-n", IMG, "-a"],
            Op::TestBatmap => &["read", "-n", IMG, "-j", "0", "-c", "4"],
            Op::Scan => &["scan", IMG],
            Op::ScanFast => &["scan", "-f", IMG],
            Op::ScanTree => &["scan", "-a", "-p", IMG],
            Op::Set => &["set", "-n", IMG, "-f", "hidden", "-v", "1"],
            Op::ModifySize => &["modify", "-n", IMG, "-s", "16777216"],
            Op::ModifyParent => &["modify", "-n", IMG, "-p", "p.vhd"],
            Op::Snapshot => &["snapshot", "-n", "s.vhd", "-p", IMG],
            Op::Coalesce => &["coalesce", "-n", IMG],
            Op::Repair => &["repair", "-n", IMG],
            Op::Resize => &["resize", "-n", IMG, "-j", "h.journal", "-s", "16"],
            Op::Fill => &["fill", "-n", IMG],
            // 2040 GiB + 2 MiB: one block more than 32-bit sector offsets can address.
            Op::CreateHuge => &["create", "-n", "big.vhd", "-s", "2088962"],
            Op::Revert => &["revert", "-n", IMG, "-j", "h.journal"],
        }
    }

    /// Whether the subcommand is one that never writes.
    pub const fn read_only(self) -> bool {
        !matches!(
            self,
            Op::Set
                | Op::ModifySize
                | Op::ModifyParent
                | Op::Snapshot
                | Op::Coalesce
                | Op::Repair
                | Op::Resize
                | Op::Fill
                | Op::CreateHuge
                | Op::Revert
        )
    }
}

pub const READS: [Op; 16] = [
    Op::ReadHeaders,
    Op::ReadBat,
    Op::ReadBatPast,
    Op::ReadBitmap,
    Op::ReadBitmapPast,
    Op::ReadTranslate,
    Op::ReadTranslatePast,
    Op::ReadTestBit,
    Op::ReadTestBitPast,
    Op::ReadData,
    Op::ReadSectors,
    Op::ReadSectorsHead,
    Op::ReadSectorsPast,
    Op::ReadSectorsWrap,
    Op::ReadBatmap,
    Op::TestBatmap,
];

// ---- expectations -------------------------------------------------------------------

/// The first line of stdout. `{dir}` stands for the canonical case directory.
#[derive(Clone, Copy, Debug)]
pub enum Line {
    /// Nothing at all on stdout.
    Empty,
    Is(&'static str),
    Starts(&'static str),
    Has(&'static str),
    Ends(&'static str),
    /// Binary or irrelevant output.
    Any,
    /// The whole of stdout is what the function gives.
    Bytes(fn() -> Vec<u8>),
}

#[derive(Clone, Copy, Debug)]
pub struct Want {
    op: Op,
    code: i32,
    line: Line,
    /// Every file of the directory byte-identical afterwards.
    same: bool,
}

/// `op` exits `code` printing `line` first; read-only ops must leave the files alone.
pub const fn w(op: Op, code: i32, line: Line) -> Want {
    Want {
        op,
        code,
        line,
        same: op.read_only(),
    }
}

/// Like [`w`], and the (mutating) op must not change any file either.
pub const fn keeps(op: Op, code: i32, line: Line) -> Want {
    Want {
        op,
        code,
        line,
        same: true,
    }
}

pub use Line::{Any, Bytes, Empty, Ends, Has, Is, Starts};

/// First lines several groups expect of `check` (and of opens).
pub const DUMP: Line = Is("h.vhd appears invalid; dumping metadata");
pub const NO_FOOTER: Line = Is("primary footer invalid: invalid cookie");
pub const OPENING: Line = Is("error opening h.vhd: -22");
pub const SHORT: Line = Is("error reading primary footer: -22");

/// `check` and `check -p` both refusing with the same first line.
pub fn both_checks(code: i32, line: &'static str) -> Vec<Want> {
    vec![
        w(Op::Check, code, Is(line)),
        w(Op::CheckParents, code, Is(line)),
    ]
}

/// The expectation set an image starts from; a case's own `wants` replace or extend it.
#[derive(Clone, Copy)]
pub enum Base {
    /// The open is refused with -EINVAL by every subcommand; `check` prints this first.
    /// Nothing may change any file, mutating subcommands included.
    Refused(Line),
    /// Opens like a healthy 8 MiB dynamic disk with blocks 0 and 2 allocated.
    Dynamic,
    /// Opens like a healthy 2 MiB fixed disk.
    Fixed,
    /// Opens like a healthy 8 MiB differencing disk `h.vhd` on `p.vhd`, with blocks 1
    /// and 2 allocated.
    Diff,
    /// Only the case's own `wants`.
    Only,
}

pub fn base_wants(b: Base) -> Vec<Want> {
    let mutating = [
        Op::Set,
        Op::ModifySize,
        Op::Snapshot,
        Op::Coalesce,
        Op::Repair,
        Op::Resize,
        Op::Fill,
    ];
    match b {
        Base::Refused(check) => {
            let opening = Is("error opening h.vhd: -22");
            let mut v = vec![
                w(Op::Check, 22, check),
                w(Op::Query, 22, opening),
                w(Op::QueryParent, 22, opening),
                w(
                    Op::Scan,
                    22,
                    Is("vhd=h.vhd scan-error=-22 error-message='opening file'"),
                ),
            ];
            // Every read action fails at the open, so a few stand for all of them.
            v.extend(
                [
                    Op::ReadHeaders,
                    Op::ReadBat,
                    Op::ReadBitmapPast,
                    Op::ReadTranslate,
                    Op::ReadSectors,
                ]
                .iter()
                .map(|&op| w(op, 22, Is("Failed to open h.vhd: -22"))),
            );
            v.extend(mutating.iter().map(|&op| keeps(op, 22, opening)));
            v.push(keeps(Op::ModifyParent, 22, opening));
            // vhd-util-cli.md 3.2: a parent that is not a VHD: exit 22, silently.
            v.push(keeps(Op::Snapshot, 22, Empty));
            v
        }
        Base::Dynamic | Base::Diff => {
            let diff = matches!(b, Base::Diff);
            let mut v = vec![
                w(Op::Check, 0, Is("h.vhd is valid")),
                w(Op::Query, 0, Is("8")),
                if diff {
                    w(Op::QueryParent, 0, Is("{dir}/p.vhd"))
                } else {
                    w(Op::QueryParent, 0, Is("h.vhd has no parent"))
                },
                w(Op::Scan, 0, Starts("vhd=h.vhd capacity=8388608 size=")),
                w(Op::ReadHeaders, 0, Is("VHD Footer Summary:")),
                if diff {
                    w(Op::ReadBat, 0, Is("block: 0: offset: not allocated"))
                } else {
                    w(Op::ReadBat, 0, Starts("block: 0: offset: "))
                },
                w(Op::ReadBatPast, 34, Empty),
                w(Op::ReadBitmap, 0, Any),
                w(Op::ReadBitmapPast, 34, Empty),
                w(
                    Op::ReadTranslate,
                    0,
                    Starts(
                        "logical sector 8292: block number: 2, sector offset: 100, file offset: ",
                    ),
                ),
                w(Op::ReadTranslatePast, 34, Empty),
                w(Op::ReadTestBit, 0, Starts("block 2: sec: 100: ")),
                w(Op::ReadTestBitPast, 34, Is("sector 16384 past end of file")),
                w(Op::ReadData, 0, Any),
                w(Op::ReadSectors, 0, Any),
                w(Op::ReadSectorsHead, 0, Any),
                w(Op::ReadSectorsPast, 34, Empty),
                w(Op::ReadSectorsWrap, 34, Empty),
                w(Op::ReadBatmap, 0, Any),
                w(Op::TestBatmap, 0, Empty),
            ];
            v.extend(mutating.iter().map(|&op| w(op, 0, Empty)));
            if diff {
                v.push(w(Op::CheckParents, 0, Is("h.vhd is valid")));
                v.push(w(
                    Op::ScanFast,
                    0,
                    Starts("vhd=h.vhd capacity=8388608 size="),
                ));
                // With -a the parent joins the scan; -p prints it first, as the root.
                v.push(w(
                    Op::ScanTree,
                    0,
                    Starts("vhd=p.vhd capacity=8388608 size="),
                ));
                v.push(w(Op::ModifyParent, 0, Empty));
            } else {
                v.push(w(Op::Coalesce, 22, Is("error finding h.vhd parent: -22")));
            }
            v
        }
        Base::Fixed => {
            // vhd-util-cli.md 3.4: read on a fixed image always fails to get the BAT.
            let mut v = vec![
                w(Op::Check, 0, Empty),
                w(Op::Query, 0, Is("2")),
                w(Op::QueryParent, 0, Is("h.vhd has no parent")),
                w(
                    Op::Scan,
                    0,
                    Is("vhd=h.vhd capacity=2097152 size=2097664 hidden=0 parent=none"),
                ),
            ];
            v.extend(
                READS
                    .iter()
                    .map(|&op| w(op, 22, Is("Failed to get bat for h.vhd: -22"))),
            );
            v.extend(mutating.iter().map(|&op| w(op, 0, Empty)));
            v.push(w(Op::Coalesce, 22, Is("error finding h.vhd parent: -22")));
            // 3.7: fixed images fail in journal creation in the reference; we resize
            // them (COMPATIBILITY.md). 3.8: fill of a fixed image: 22.
            v.push(w(Op::Resize, 0, Empty));
            v.push(w(Op::Fill, 22, Empty));
            v
        }
        Base::Only => Vec::new(),
    }
}

/// A hostile image and what each subcommand must do with it.
pub struct Case {
    pub n: u8,
    pub name: &'static str,
    /// Builds `h.vhd` (and its parents) at the given path.
    build: fn(&Path),
    base: Base,
    /// Replace the base expectation for the same op, or add ops.
    wants: Vec<Want>,
    /// After the first op ran (on a fresh copy), the second must give this.
    after: Vec<(Op, Want)>,
}

pub fn case(n: u8, name: &'static str, build: fn(&Path), base: Base, wants: Vec<Want>) -> Case {
    Case {
        n,
        name,
        build,
        base,
        wants,
        after: Vec::new(),
    }
}

pub fn refused(n: u8, name: &'static str, build: fn(&Path), check: Line) -> Case {
    case(n, name, build, Base::Refused(check), Vec::new())
}

impl Case {
    pub fn then(mut self, first: Op, next: Want) -> Case {
        self.after.push((first, next));
        self
    }

    /// The base expectations with the case's own applied, one per op.
    pub fn runs(&self) -> Vec<Want> {
        let mut v: Vec<Want> = Vec::new();
        for want in base_wants(self.base)
            .into_iter()
            .chain(self.wants.iter().copied())
        {
            match v.iter_mut().find(|x| x.op == want.op) {
                Some(x) => *x = want,
                None => v.push(want),
            }
        }
        v
    }
}

// ---- running ------------------------------------------------------------------------

/// What a file held, for comparison and restore.
#[derive(PartialEq, Eq)]
pub enum Content {
    Whole(Vec<u8>),
    /// Length, first and last MiB (large sparse files).
    Ends(u64, Vec<u8>, Vec<u8>),
}

pub type Files = BTreeMap<String, Content>;

pub fn take(dir: &Path) -> Files {
    let mut m = Files::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let len = e.metadata().unwrap().len();
        let c = if len <= WHOLE_LIMIT {
            Content::Whole(fs::read(&p).unwrap())
        } else {
            let f = File::open(&p).unwrap();
            let mut head = vec![0u8; MIB as usize];
            let mut tail = vec![0u8; MIB as usize];
            f.read_exact_at(&mut head, 0).unwrap();
            f.read_exact_at(&mut tail, len - MIB).unwrap();
            Content::Ends(len, head, tail)
        };
        m.insert(e.file_name().to_string_lossy().into_owned(), c);
    }
    m
}

pub fn restore(dir: &Path, files: &Files) {
    fs::remove_dir_all(dir).unwrap();
    fs::create_dir_all(dir).unwrap();
    for (name, c) in files {
        let p = dir.join(name);
        match c {
            Content::Whole(b) => fs::write(&p, b).unwrap(),
            Content::Ends(len, head, tail) => {
                let f = File::create(&p).unwrap();
                f.set_len(*len).unwrap();
                f.write_all_at(head, 0).unwrap();
                f.write_all_at(tail, len - MIB).unwrap();
            }
        }
    }
}

impl Content {
    pub fn len(&self) -> u64 {
        match self {
            Content::Whole(b) => b.len() as u64,
            Content::Ends(len, ..) => *len,
        }
    }
}

/// Names of the files that differ between two states (added, removed or changed).
pub fn changed(a: &Files, b: &Files) -> Vec<String> {
    let mut v: Vec<String> = a
        .iter()
        .filter(|(k, c)| b.get(*k) != Some(*c))
        .map(|(k, _)| k.clone())
        .collect();
    v.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
    v
}

pub struct Outcome {
    status: Result<i32, String>,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `vhd-util args` in `dir` with its output in files under `out` (no pipe to
/// fill), killing it at the deadline.
pub fn run(dir: &Path, out: &Path, args: &[&str]) -> Outcome {
    let (o, e) = (out.join("stdout"), out.join("stderr"));
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("TZ", "UTC")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(File::create(&o).unwrap())
        .stderr(File::create(&e).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break match (s.code(), s.signal()) {
                (Some(c), _) => Ok(c),
                (None, Some(sig)) => Err(format!("killed by signal {sig}")),
                (None, None) => Err("no exit status".into()),
            };
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break Err(format!("hung: killed after {DEADLINE:?}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Outcome {
        status,
        stdout: fs::read(&o).unwrap(),
        stderr: String::from_utf8_lossy(&fs::read(&e).unwrap()).into_owned(),
    }
}

/// What is wrong with a run, if anything.
pub fn judge(want: &Want, o: &Outcome, dir: &str, before: &Files, after: &Files) -> Vec<String> {
    let mut bad = Vec::new();
    let files_changed = changed(before, after);
    for (name, c) in after {
        let old = before.get(name).map_or(0, Content::len);
        if c.len() > old + GROWTH_LIMIT {
            bad.push(format!("{name} grew from {old} to {} bytes", c.len()));
        }
    }
    match &o.status {
        Err(e) => bad.push(e.clone()),
        Ok(101) => bad.push("exit 101 (a panic)".into()),
        Ok(c) if *c != want.code => bad.push(format!("exit {c}, want {}", want.code)),
        Ok(_) => {}
    }
    if o.stderr.contains("panicked") || o.stderr.contains("RUST_BACKTRACE") {
        bad.push("panic message on stderr".into());
    }
    let text = String::from_utf8_lossy(&o.stdout);
    let first = text.lines().next().unwrap_or("");
    let ok = match want.line {
        Empty => o.stdout.is_empty(),
        Is(s) => first == s.replace("{dir}", dir),
        Starts(s) => first.starts_with(&s.replace("{dir}", dir)),
        Has(s) => first.contains(&s.replace("{dir}", dir)),
        Ends(s) => first.ends_with(&s.replace("{dir}", dir)),
        Any => true,
        Bytes(f) => o.stdout == f(),
    };
    if !ok {
        bad.push(format!("first line {first:?}, want {:?}", want.line));
    }
    if want.same && !files_changed.is_empty() {
        bad.push(format!("changed {files_changed:?}"));
    }
    if want.op == Op::Resize && files_changed.iter().any(|f| f == "h.journal") {
        bad.push("journal left behind".into());
    }
    bad
}

pub fn summary(o: &Outcome) -> String {
    let text = String::from_utf8_lossy(&o.stdout);
    let cut = |l: &str| l.chars().take(100).collect::<String>();
    let head: Vec<String> = text.lines().take(3).map(cut).collect();
    let err: Vec<String> = o.stderr.lines().take(3).map(cut).collect();
    format!("stdout {head:?} stderr {err:?}")
}

/// Builds every case of `group` in its own directory and runs its subcommands; a failing
/// run does not stop the others, the test reports all of them at the end.
pub fn run_group(group: &str, cases: Vec<Case>) {
    // One directory per process and group: the target directory may be shared with
    // other runs, and the groups run in parallel.
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("vhd-util-hostile.{}", std::process::id()))
        .join(group);
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut runs = 0usize;
    // HOSTILE_VERBOSE=1 logs every run (exit status and first line) to stderr.
    let verbose = std::env::var_os("HOSTILE_VERBOSE").is_some();
    let keep = std::env::var_os("HOSTILE_KEEP").is_some();
    for (i, c) in cases.iter().enumerate() {
        let at = root.join(format!("{i:03}-case{:02}", c.n));
        let (dir, out) = (at.join("img"), at.join("out"));
        fs::create_dir_all(&dir).unwrap();
        fs::create_dir_all(&out).unwrap();
        (c.build)(&dir.join(IMG));
        let dir = dir.canonicalize().unwrap();
        let dir_s = dir.to_string_lossy().into_owned();
        let built = take(&dir);
        // Runs one op; with `fresh`, on the image as built (restored if an earlier
        // run changed it).
        let mut exec = |want: &Want, fresh: bool| {
            let mut before = take(&dir);
            if fresh && before != built {
                restore(&dir, &built);
                before = take(&dir);
            }
            let o = run(&dir, &out, want.op.args());
            runs += 1;
            if verbose {
                eprintln!(
                    "case {} ({}): {:?}: {:?} {:?}",
                    c.n,
                    c.name,
                    want.op.args(),
                    o.status,
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .next()
                        .unwrap_or("")
                );
            }
            for problem in judge(want, &o, &dir_s, &before, &take(&dir)) {
                failures.push(format!(
                    "case {} ({}): `vhd-util {}`: {problem}; {}",
                    c.n,
                    c.name,
                    want.op.args().join(" "),
                    summary(&o)
                ));
            }
        };
        for want in c.runs() {
            exec(&want, true);
        }
        for (first, next) in &c.after {
            let first = c
                .runs()
                .into_iter()
                .find(|x| x.op == *first)
                .unwrap_or(w(*first, 0, Any));
            exec(&first, true);
            exec(next, false);
        }
        // Case directories go (a 2 TiB sparse file is not worth keeping) unless
        // HOSTILE_KEEP is set.
        if !keep {
            let _ = fs::remove_dir_all(&at);
        }
    }
    if !keep {
        let _ = fs::remove_dir_all(&root);
        // The process's directory goes with the last group (it fails while others
        // are still in it).
        let _ = fs::remove_dir(root.parent().unwrap());
    }
    eprintln!(
        "hostile {group}: {} cases, {runs} runs, {:.1?}",
        cases.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{group}: {} of {runs} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
