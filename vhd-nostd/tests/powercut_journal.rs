//! Power cuts and failing writes in every step of a journaled resize, with the image and
//! the journal file as two devices whose writes are counted in one sequence.
//!
//! Operations: journal create + poison; grow under the journal; revert; commit +
//! un-poison + delete; and the whole resize in one go. Each runs once cleanly, logging
//! every write, size change, flush and journal create/delete. Then:
//! - for every write number N, a power cut after N writes (later ones dropped, the
//!   operation carries on);
//! - for every N, a failing device: write N and all later ones fail, and the operation
//!   must return that error;
//! - torn writes: a write of several sectors stops after any of them;
//! - reordering: at every flush (and journal create/delete) of the clean run, the writes
//!   not yet flushed on either file land in every subset (all subsets up to 10 pending
//!   writes, else prefixes, single writes and all-but-one).
//!
//! After each, the recovery a user runs: if the journal exists and verifies, revert it,
//! un-poison the image if it is still poisoned, delete the journal (a journal that does
//! not verify was never complete, so the image was never poisoned for it: it is
//! deleted). Then the image must open read-write with normal options (not poisoned),
//! pass `check`, and read every sector as the old content or, where the operation can
//! have completed, the new one.
//!
//! Interchange: journals built by hand from the documented layout (libvhd's packed
//! records, `journal_eof` in host order) are read, verified and reverted by the core;
//! the core writes the same bytes for the same image.

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::ErrorKind;
use std::rc::Rc;
use vhd_nostd::journal::{self, JournalHeader, ENTRY_COOKIE};
use vhd_nostd::locator::{PLAT_CODE_MACX, PLAT_CODE_W2KU, PLAT_CODE_W2RU};
use vhd_nostd::parent::NewParent;
use vhd_nostd::{Disk, DiskType, Error, Footer, FormatError, Io, OpenOptions};
use vhd_testkit::*;

type E = Error<ErrorKind>;
const KIB: usize = 1 << 10;
/// Scratch sizes: one sector (every copy in single-sector writes) for the dynamic
/// disk, 4 KiB (multi-sector writes, which can tear) for the differencing one.
const SMALL: usize = 512;
const LARGE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Image,
    Journal,
}

/// One change that reached storage, or a flush, in the order the operation made them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Write(Target, u64, Vec<u8>),
    SetSize(Target, u64),
    Flush(Target),
    CreateJournal,
    RemoveJournal,
}

/// What is on the two devices: the image, and the journal file if it exists.
#[derive(Debug, Clone, Default)]
struct Files {
    image: VecIo,
    journal: Option<VecIo>,
}

impl Files {
    fn apply(&mut self, s: &Step) {
        match s {
            Step::Write(t, off, data) => self.file(*t).unwrap().write_at(*off, data).unwrap(),
            Step::SetSize(t, n) => self.file(*t).unwrap().set_size(*n).unwrap(),
            Step::Flush(_) => {}
            Step::CreateJournal => self.journal = Some(VecIo::default()),
            Step::RemoveJournal => self.journal = None,
        }
    }

    fn file(&mut self, t: Target) -> Option<&mut VecIo> {
        match t {
            Target::Image => Some(&mut self.image),
            Target::Journal => self.journal.as_mut(),
        }
    }
}

/// Both devices, one write counter, one fault (as `FaultIo` has for one file).
struct Machine {
    files: Files,
    fault: Fault,
    writes: usize,
    log: Vec<Step>,
}

type Shared = Rc<RefCell<Machine>>;

impl Machine {
    fn new(files: Files, fault: Fault) -> Shared {
        Rc::new(RefCell::new(Machine {
            files,
            fault,
            writes: 0,
            log: Vec::new(),
        }))
    }

    fn powered(&self) -> bool {
        !matches!(self.fault, Fault::CutAfterWrites(n) if self.writes >= n)
    }

    /// Counts one change and applies it unless the power is off; a failing device
    /// refuses it.
    fn change(&mut self, s: Step) -> Result<(), ErrorKind> {
        if let Fault::FailWrite(n) = self.fault {
            if self.writes >= n {
                return Err(ErrorKind::StorageFull);
            }
        }
        let on = self.powered();
        self.writes += 1;
        if on {
            self.files.apply(&s);
            self.log.push(s);
        }
        Ok(())
    }
}

/// One of the machine's devices as the engine's I/O.
struct Dev {
    m: Shared,
    target: Target,
}

fn dev(m: &Shared, target: Target) -> Dev {
    Dev {
        m: m.clone(),
        target,
    }
}

impl Io for Dev {
    type Error = ErrorKind;
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), ErrorKind> {
        let mut m = self.m.borrow_mut();
        let f = m.files.file(self.target).ok_or(ErrorKind::NotFound)?;
        f.read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> Result<(), ErrorKind> {
        let mut m = self.m.borrow_mut();
        m.files.file(self.target).ok_or(ErrorKind::NotFound)?;
        m.change(Step::Write(self.target, offset, buf.to_vec()))
    }
    fn flush(&mut self) -> Result<(), ErrorKind> {
        let mut m = self.m.borrow_mut();
        if m.powered() {
            m.log.push(Step::Flush(self.target));
        }
        Ok(())
    }
    fn size(&mut self) -> Result<u64, ErrorKind> {
        let mut m = self.m.borrow_mut();
        m.files.file(self.target).ok_or(ErrorKind::NotFound)?.size()
    }
    fn set_size(&mut self, size: u64) -> Result<(), ErrorKind> {
        let mut m = self.m.borrow_mut();
        m.files.file(self.target).ok_or(ErrorKind::NotFound)?;
        m.change(Step::SetSize(self.target, size))
    }
}

/// A new journal file (`O_CREAT | O_EXCL`): counted like a write.
fn create_journal_file(m: &Shared) -> Result<(), E> {
    let mut m = m.borrow_mut();
    if m.files.journal.is_some() {
        return Err(Error::Io(ErrorKind::AlreadyExists));
    }
    m.change(Step::CreateJournal).map_err(Error::Io)
}

/// Deleting the journal file: counted like a write.
fn remove_journal_file(m: &Shared) -> Result<(), E> {
    m.borrow_mut()
        .change(Step::RemoveJournal)
        .map_err(Error::Io)
}

/// Read-write options, `ignore_disabled` to open a poisoned image.
fn rw(ignore_disabled: bool) -> OpenOptions {
    OpenOptions {
        writable: true,
        ignore_disabled,
        ..Default::default()
    }
}

// ---- the operations, as vhd-util runs them ----

type Op = Box<dyn Fn(&Shared) -> Result<(), E>>;

fn create_and_poison(m: &Shared, scratch: usize) -> Result<Disk<Dev, Vec<u8>>, E> {
    create_journal_file(m)?;
    let mut disk = open_with(dev(m, Target::Image), rw(false))?;
    let mut buf = vec![0u8; scratch];
    journal::create(&mut dev(m, Target::Journal), &mut disk, &mut buf)?;
    Ok(disk)
}

fn commit_and_unpoison(m: &Shared, disk: &mut Disk<Dev, Vec<u8>>) -> Result<(), E> {
    let mut j = dev(m, Target::Journal);
    let mut h = journal::read_header(&mut j)?;
    journal::commit(&mut j, &mut h, true)?;
    disk.unpoison()?;
    remove_journal_file(m)
}

/// The recovery: revert a journal that verifies, enable the image, delete the journal.
fn recover(m: &Shared, scratch: usize) -> Result<(), E> {
    if m.borrow().files.journal.is_none() {
        return Ok(());
    }
    let scratch = &mut vec![0u8; scratch][..];
    let mut j = dev(m, Target::Journal);
    match journal::verify(&mut j, scratch) {
        Ok(_) => {
            journal::revert(&mut j, &mut dev(m, Target::Image), scratch)?;
            let mut disk = open_with(dev(m, Target::Image), rw(true))?;
            if disk.is_poisoned() {
                disk.unpoison()?;
            }
        }
        Err(Error::Format(_)) => {}
        Err(e) => return Err(e),
    }
    remove_journal_file(m)
}

fn op_create(scratch: usize) -> Op {
    Box::new(move |m| create_and_poison(m, scratch).map(drop))
}

fn op_grow(bytes: u64) -> Op {
    Box::new(move |m| {
        let mut disk = open_with(dev(m, Target::Image), rw(true))?;
        vhd_nostd::resize::grow(&mut disk, bytes)
    })
}

fn op_revert(scratch: usize) -> Op {
    Box::new(move |m| recover(m, scratch))
}

fn op_commit() -> Op {
    Box::new(|m| {
        let mut disk = open_with(dev(m, Target::Image), rw(true))?;
        commit_and_unpoison(m, &mut disk)
    })
}

/// `vhd-util resize` on success: journal, poison, grow, commit, un-poison, delete.
fn op_resize(bytes: u64, scratch: usize) -> Op {
    Box::new(move |m| {
        let mut disk = create_and_poison(m, scratch)?;
        vhd_nostd::resize::grow(&mut disk, bytes)?;
        commit_and_unpoison(m, &mut disk)
    })
}

/// The new parent of the reparent scenarios: another UUID, and a name and path of
/// another length (so the header's locator entries change too, not only its first
/// sector).
fn new_parent() -> NewParent<'static> {
    NewParent {
        uuid: uuid(0x77),
        timestamp: 3,
        name: "other-parent.vhd",
        relative_path: "./other-parent.vhd",
    }
}

/// `vhd-util modify -p` and `vhd_change_parent` as vhd-std's reparent runs them:
/// journal, poison, rewrite the link in place, commit, un-poison, delete.
fn op_reparent(scratch: usize) -> Op {
    Box::new(move |m| {
        let mut disk = create_and_poison(m, scratch)?;
        disk.set_parent(&new_parent(), &mut vec![0u8; scratch])?;
        commit_and_unpoison(m, &mut disk)
    })
}

// ---- the harness ----

struct Scenario {
    name: String,
    before: Files,
    parent: Option<VecIo>,
    old: Vec<u8>,
    /// The content once the operation has completed, if it can differ from `old`
    /// after recovery.
    new: Option<Vec<u8>>,
    /// A third content a crash may leave after recovery: a fixed disk's shrink, once
    /// the file is cut, reverts to the old size with the cut sectors reading zeros.
    cut: Option<Vec<u8>>,
    /// Scratch bytes of the operation and of the recovery.
    scratch: usize,
    op: Op,
}

fn content(sc: &Scenario, io: VecIo) -> Vec<u8> {
    let d = open(io, false).unwrap();
    assert!(d.recovered().is_empty(), "second open is clean");
    read_through(d, sc.parent.as_ref())
}

/// The image must be poisoned, or else consistent on its own: whoever opens it without
/// the journal (before any recovery) must find old or new content.
fn enabled_means_consistent(sc: &Scenario, image: &VecIo, links: &[Option<Link>], label: &str) {
    // The footer open goes by: the end one, else the copy at 0.
    let n = image.data.len();
    let end = n.checked_sub(512).map(|e| Footer::parse(&image.data[e..]));
    let in_force = match end {
        Some(Ok(f)) => Some(f),
        _ => image.data.get(..512).and_then(|b| Footer::parse(b).ok()),
    };
    if in_force.is_some_and(|f| f.is_disabled()) {
        return;
    }
    let d = open(image.clone(), true)
        .unwrap_or_else(|e| panic!("{label}: enabled before recovery, does not open: {e:?}"));
    let mut file = d.into_io();
    assert_eq!(
        check_msg(&mut file),
        Ok(()),
        "{label}: enabled before recovery"
    );
    old_or_new_link(&file, links, &format!("{label}: enabled before recovery"));
    old_or_new(
        sc,
        &content(sc, file),
        &format!("{label}: enabled before recovery"),
    );
}

fn old_or_new(sc: &Scenario, got: &[u8], label: &str) {
    let is = |c: &Vec<u8>| got.len() == c.len() && got == c.as_slice();
    if is(&sc.old) || sc.new.as_ref().is_some_and(is) || sc.cut.as_ref().is_some_and(is) {
        return;
    }
    let bad = (0..got.len() / 512)
        .find(|&i| {
            let s = &got[i * 512..][..512];
            sc.old.get(i * 512..i * 512 + 512) != Some(s)
                && sc.new.as_ref().and_then(|n| n.get(i * 512..i * 512 + 512)) != Some(s)
        })
        .map_or("size".to_string(), |i| format!("sector {i}"));
    panic!("{label}: neither old nor new ({bad}, {} bytes)", got.len());
}

/// Recovery, then the image must be enabled, consistent, and hold old or new content
/// (`done`: the operation completed, so exactly the final content).
fn verify(sc: &Scenario, files: Files, links: &[Option<Link>], label: &str, done: bool) {
    enabled_means_consistent(sc, &files.image, links, label);
    let m = Machine::new(files, Fault::None);
    recover(&m, sc.scratch).unwrap_or_else(|e| panic!("{label}: recovery: {e:?}"));
    // Recovery is idempotent and leaves no journal.
    recover(&m, sc.scratch).unwrap_or_else(|e| panic!("{label}: second recovery: {e:?}"));
    let image = {
        let m = m.borrow();
        assert!(m.files.journal.is_none(), "{label}: journal left");
        m.files.image.clone()
    };
    let d = open(image, true).unwrap_or_else(|e| panic!("{label}: open: {e:?}"));
    assert!(!d.is_poisoned(), "{label}");
    let mut file = d.into_io();
    assert_eq!(check_msg(&mut file), Ok(()), "{label}");
    old_or_new_link(&file, links, label);
    let got = content(sc, file);
    let final_content = sc.new.as_ref().unwrap_or(&sc.old);
    if done {
        assert!(&got == final_content, "{label}: not the final content");
        return;
    }
    old_or_new(sc, &got, label);
}

/// A differencing disk's parent link as readers find it: the parent UUID and name in
/// the header and the path each `MacX`/`W2ku`/`W2ru` locator decodes to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Link {
    uuid: uuid::Uuid,
    name: String,
    paths: Vec<Result<String, String>>,
}

/// The link of `image` (opened read-only, poisoned or not); `None` if it is not a
/// differencing disk or does not open.
fn link_of(image: &VecIo) -> Option<Link> {
    let opts = OpenOptions {
        ignore_disabled: true,
        ..Default::default()
    };
    let mut d = open_with(image.clone(), opts).ok()?;
    if d.disk_type() != Some(DiskType::Differencing) {
        return None;
    }
    let h = d.header()?.clone();
    let mut out = [0u8; 1024];
    let name = h.parent_name(&mut out).ok()?.to_string();
    let mut paths = Vec::new();
    for (i, l) in h.loc.iter().enumerate() {
        if ![PLAT_CODE_MACX, PLAT_CODE_W2KU, PLAT_CODE_W2RU].contains(&l.code) {
            continue;
        }
        let (mut scratch, mut out) = ([0u8; 8192], [0u8; 8192]);
        let p = d.parent_locator_path(i, &mut scratch, &mut out);
        paths.push(p.map(str::to_string).map_err(|e| format!("{e:?}")));
    }
    Some(Link {
        uuid: h.prt_uuid,
        name,
        paths,
    })
}

/// The image's parent link must be one of `links` as a whole: header and every
/// locator naming the same parent.
fn old_or_new_link(image: &VecIo, links: &[Option<Link>], label: &str) {
    let got = link_of(image);
    assert!(
        links.contains(&got),
        "{label}: parent link neither old nor new: {got:?}"
    );
}

/// Writes of `log[..k]` not yet made durable at `k`: on each file, those after its
/// last flush (for the journal, also after its last create or delete).
fn pending(log: &[Step], k: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, s) in log[..k].iter().enumerate() {
        let t = match s {
            Step::Write(t, ..) | Step::SetSize(t, _) => *t,
            _ => continue,
        };
        let settled = log[i + 1..k].iter().any(|later| match later {
            Step::Flush(f) => *f == t,
            Step::CreateJournal | Step::RemoveJournal => t == Target::Journal,
            _ => false,
        });
        if !settled {
            out.push(i);
        }
    }
    out
}

/// What was tried, for the report.
#[derive(Debug, Default)]
struct Tried {
    total_writes: usize,
    cuts: usize,
    failures: usize,
    torn: usize,
    reorderings: usize,
}

fn run(sc: Scenario) -> Tried {
    let m = Machine::new(sc.before.clone(), Fault::None);
    (sc.op)(&m).unwrap_or_else(|e| panic!("{}: clean run: {e:?}", sc.name));
    let (total, log, after) = {
        let m = m.borrow();
        (m.writes, m.log.clone(), m.files.clone())
    };
    assert!(total > 0, "{}: the operation writes", sc.name);
    // The parent link before and after (the same unless the operation reparents).
    let links = [link_of(&sc.before.image), link_of(&after.image)];
    let links = &links[..];
    verify(&sc, after, links, &format!("{}: clean", sc.name), true);
    let mut tried = Tried {
        total_writes: total,
        ..Default::default()
    };

    for n in 0..=total {
        let m = Machine::new(sc.before.clone(), Fault::CutAfterWrites(n));
        // The program goes on after the cut; whatever it returns, the disks are frozen.
        let _ = (sc.op)(&m);
        let files = m.borrow().files.clone();
        let label = format!("{}: cut after {n} of {total}", sc.name);
        verify(&sc, files, links, &label, n == total);
        tried.cuts += 1;
    }

    for n in 0..total {
        let m = Machine::new(sc.before.clone(), Fault::FailWrite(n));
        let r = (sc.op)(&m);
        assert_eq!(
            r,
            Err(Error::Io(ErrorKind::StorageFull)),
            "{}: write {n} fails",
            sc.name
        );
        let files = m.borrow().files.clone();
        verify(
            &sc,
            files,
            links,
            &format!("{}: write {n} failed", sc.name),
            false,
        );
        tried.failures += 1;
    }

    // Torn writes: only single sectors are atomic, so a write of several may stop
    // after any of them (everything before it landed, nothing after).
    for (i, s) in log.iter().enumerate() {
        let Step::Write(t, off, data) = s else {
            continue;
        };
        for k in 1..data.len().div_ceil(512) {
            let mut files = sc.before.clone();
            log[..i].iter().for_each(|s| files.apply(s));
            let part = &data[..k * 512];
            files.file(*t).unwrap().write_at(*off, part).unwrap();
            let label = format!("{}: step {i} torn after {k} sectors", sc.name);
            verify(&sc, files, links, &label, false);
            tried.torn += 1;
        }
    }

    let mut seen = HashSet::new();
    let barriers = log
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            matches!(
                s,
                Step::Flush(_) | Step::CreateJournal | Step::RemoveJournal
            )
        })
        .map(|(k, _)| k)
        .chain([log.len()]);
    for k in barriers {
        let pend = pending(&log, k);
        for mask in subsets(pend.len()) {
            let mut files = sc.before.clone();
            for (i, s) in log[..k].iter().enumerate() {
                let dropped = pend.iter().zip(&mask).any(|(&p, &keep)| p == i && !keep);
                if !dropped {
                    files.apply(s);
                }
            }
            let key = (
                files.image.data.clone(),
                files.journal.as_ref().map(|j| j.data.clone()),
            );
            if !seen.insert(key) {
                continue;
            }
            let label = format!("{}: at step {k}, pending {pend:?} kept {mask:?}", sc.name);
            verify(&sc, files, links, &label, false);
            tried.reorderings += 1;
        }
    }
    eprintln!(
        "{}: {} writes; {} cuts, {} failing writes, {} torn writes, {} reordered states",
        sc.name, tried.total_writes, tried.cuts, tried.failures, tried.torn, tried.reorderings
    );
    tried
}

// ---- the images ----

fn filled(len: usize, g: u8) -> Vec<u8> {
    let mut v = vec![0u8; len];
    pattern(u64::from(g), g, &mut v);
    v
}

/// A dynamic disk of `size` bytes with 64 KiB blocks and data in its first block (and
/// the start of the second, so two blocks are allocated), and its content.
fn dynamic() -> (VecIo, Vec<u8>) {
    let size = 256 * KIB;
    let mut d = open(new_image(DiskType::Dynamic, size as u64, 64 << 10), true).unwrap();
    let data = filled(80 * KIB, 7);
    d.write(0, &data).unwrap();
    let mut content = vec![0u8; size];
    content[..data.len()].copy_from_slice(&data);
    (d.into_io(), content)
}

/// A differencing disk (three parent locators) over a dynamic parent, with its own
/// data in one block, its parent, and the content read through it.
fn differencing() -> (VecIo, VecIo, Vec<u8>) {
    let (parent_io, mut content) = dynamic();
    let mut parent = open(parent_io, false).unwrap();
    let child_io = new_snapshot(&mut parent, "parent.vhd");
    let parent_io = parent.into_io();
    let mut child = open(child_io, true).unwrap();
    let ours = filled(3 * 512, 9);
    child.write(200, &ours).unwrap();
    content[200 * 512..][..ours.len()].copy_from_slice(&ours);
    (child.into_io(), parent_io, content)
}

/// `files` with the operation run (cleanly).
fn after(files: &Files, op: Op) -> Files {
    let m = Machine::new(files.clone(), Fault::None);
    op(&m).unwrap();
    let f = m.borrow().files.clone();
    f
}

fn grown(old: &[u8], bytes: u64) -> Vec<u8> {
    let mut v = old.to_vec();
    v.resize(bytes as usize, 0);
    v
}

/// The states a journaled growth passes through, each made by running the step before
/// cleanly, and the content once it is done.
struct Stages {
    clean: Files,
    journaled: Files,
    grown_under: Files,
    new: Vec<u8>,
}

fn stages(image: VecIo, old: &[u8], scratch: usize, grow_to: u64, grow: fn(u64) -> Op) -> Stages {
    let clean = Files {
        image,
        journal: None,
    };
    let journaled = after(&clean, op_create(scratch));
    let grown_under = after(&journaled, grow(grow_to));
    Stages {
        clean,
        journaled,
        grown_under,
        new: grown(old, grow_to),
    }
}

/// Scenarios of one image: a name, the files before, the content after, the operation.
fn scenario_maker(
    kind: &str,
    parent: Option<VecIo>,
    old: Vec<u8>,
    scratch: usize,
) -> impl Fn(&str, &Files, Option<&Vec<u8>>, Op) -> Scenario {
    let kind = kind.to_string();
    move |name, before, new, op| Scenario {
        name: format!("{kind} {name}"),
        before: before.clone(),
        parent: parent.clone(),
        old: old.clone(),
        new: new.cloned(),
        cut: None,
        scratch,
        op,
    }
}

fn scenarios(kind: &str) -> Vec<Scenario> {
    // Sizes that need more BAT entries (64 KiB blocks; the snapshot's are 2 MiB).
    let (image, parent, old, grow_to, scratch) = match kind {
        "dynamic" => {
            let (i, c) = dynamic();
            (i, None, c, 1 << 20, SMALL)
        }
        _ => {
            let (i, p, c) = differencing();
            (i, Some(p), c, 8 << 20, LARGE)
        }
    };
    let st = stages(image, &old, scratch, grow_to, op_grow);
    let (clean, journaled, grown_under, new) = (&st.clean, &st.journaled, &st.grown_under, &st.new);
    let sc = scenario_maker(kind, parent, old, scratch);
    vec![
        sc("create + poison", clean, None, op_create(scratch)),
        sc("grow under the journal", journaled, None, op_grow(grow_to)),
        sc("revert", grown_under, None, op_revert(scratch)),
        sc("commit + unpoison", grown_under, Some(new), op_commit()),
        sc(
            "whole resize",
            clean,
            Some(new),
            op_resize(grow_to, scratch),
        ),
    ]
}

fn run_all(kind: &str) {
    for sc in scenarios(kind) {
        run(sc);
    }
}

#[test]
fn journaled_resize_of_a_dynamic_disk() {
    run_all("dynamic");
}

#[test]
fn journaled_resize_of_a_differencing_disk() {
    run_all("differencing");
}

/// The states the harness depends on are what they should be: a journal exists and the
/// image is refused by a normal open once the journal is made, and after the grow.
/// A reparent killed anywhere leaves the old link or the new one, never locators
/// naming one parent and the header another.
#[test]
fn journaled_reparent() {
    let (image, parent, old) = differencing();
    for scratch in [SMALL, LARGE] {
        run(reparent_scenario(
            &image,
            &parent,
            &old,
            scratch,
            op_reparent(scratch),
        ));
    }
}

/// The harness sees what the journal prevents: the link rewritten in place alone is
/// cut between the locators and the header.
#[test]
#[should_panic(expected = "parent link neither old nor new")]
fn unjournaled_reparent_tears_the_link() {
    let (image, parent, old) = differencing();
    let op: Op = Box::new(|m| {
        let mut disk = open_with(dev(m, Target::Image), rw(false))?;
        disk.set_parent(&new_parent(), &mut [0u8; LARGE])
    });
    run(reparent_scenario(&image, &parent, &old, LARGE, op));
}

fn reparent_scenario(
    image: &VecIo,
    parent: &VecIo,
    old: &[u8],
    scratch: usize,
    op: Op,
) -> Scenario {
    Scenario {
        name: format!("reparent, {scratch}-byte scratch"),
        before: Files {
            image: image.clone(),
            journal: None,
        },
        parent: Some(parent.clone()),
        old: old.to_vec(),
        new: None,
        cut: None,
        scratch,
        op,
    }
}

#[test]
fn journal_disables_the_image() {
    for s in scenarios("dynamic").iter().skip(1).take(2) {
        let f = &s.before;
        assert!(f.journal.is_some(), "{}", s.name);
        assert!(
            matches!(open(f.image.clone(), true), Err(Error::Disabled)),
            "{}",
            s.name
        );
    }
}

// ---- growth that moves blocks, the batmap and the locators ----

/// Growth under the journal through `grow_journaled`, with the buffers `plan` asks for.
fn grow_moving(m: &Shared, disk: &mut Disk<Dev, Vec<u8>>, bytes: u64) -> Result<(), E> {
    let p = vhd_nostd::resize::plan(disk, bytes)?;
    assert!(
        p.relocates && p.blocks_moved > 0,
        "the scenario moves blocks"
    );
    vhd_nostd::resize::reserve(disk, vec![0; p.bat_bytes], vec![0; p.batmap_bytes])?;
    let mut j = dev(m, Target::Journal);
    let mut h = journal::read_header(&mut j)?;
    let mut copy = vec![0u8; p.copy_bytes];
    vhd_nostd::resize::grow_journaled(disk, bytes, &mut j, &mut h, &mut copy, |_| {})
}

fn op_grow_moving(bytes: u64) -> Op {
    Box::new(move |m| {
        let mut disk = open_with(dev(m, Target::Image), rw(true))?;
        grow_moving(m, &mut disk, bytes)
    })
}

fn op_resize_moving(bytes: u64, scratch: usize) -> Op {
    Box::new(move |m| {
        let mut disk = create_and_poison(m, scratch)?;
        grow_moving(m, &mut disk, bytes)?;
        commit_and_unpoison(m, &mut disk)
    })
}

/// Small blocks, so that a growth to a few MiB already needs a BAT larger than the
/// space before the first block.
const SMALL_BLOCK: u32 = 4096;
/// 64 entries to 4096: the BAT grows from 1 to 32 sectors over the first blocks.
const MOVING_FROM: usize = 256 * KIB;
const MOVING_TO: u64 = 16 << 20;

/// A dynamic disk with a batmap whose first blocks are full (their batmap bits set),
/// one partly written, and one far from them; its content.
fn dynamic_small_blocks() -> (VecIo, Vec<u8>) {
    let mut d = open(
        new_image(DiskType::Dynamic, MOVING_FROM as u64, SMALL_BLOCK),
        true,
    )
    .unwrap();
    let mut content = vec![0u8; MOVING_FROM];
    for (sector, len, g) in [(0u64, 20 * 1024, 3u8), (48, 1024, 4), (400, 512, 5)] {
        let data = filled(len, g);
        d.write(sector, &data).unwrap();
        content[sector as usize * 512..][..len].copy_from_slice(&data);
    }
    assert!(
        d.batmap().is_some_and(|(_, map)| map[0] != 0),
        "full blocks"
    );
    (d.into_io(), content)
}

/// A differencing disk with small blocks (three locators after its batmap) over
/// [`dynamic_small_blocks`], with data of its own in its first blocks.
fn differencing_small_blocks() -> (VecIo, VecIo, Vec<u8>) {
    let (parent_io, mut content) = dynamic_small_blocks();
    let mut parent = open(parent_io, false).unwrap();
    let child_io = new_snapshot_with(&mut parent, "parent.vhd", SMALL_BLOCK);
    let parent_io = parent.into_io();
    let mut child = open(child_io, true).unwrap();
    for (sector, len, g) in [(2u64, 9 * 512, 9u8), (30, 4096, 10)] {
        let ours = filled(len, g);
        child.write(sector, &ours).unwrap();
        content[sector as usize * 512..][..len].copy_from_slice(&ours);
    }
    (child.into_io(), parent_io, content)
}

fn moving_scenarios(kind: &str) -> Vec<Scenario> {
    let (image, parent, old) = match kind {
        "dynamic" => {
            let (i, c) = dynamic_small_blocks();
            (i, None, c)
        }
        _ => {
            let (i, p, c) = differencing_small_blocks();
            (i, Some(p), c)
        }
    };
    let st = stages(image, &old, SMALL, MOVING_TO, op_grow_moving);
    let (clean, journaled, grown_under, new) = (&st.clean, &st.journaled, &st.grown_under, &st.new);
    let sc = scenario_maker(kind, parent, old, SMALL);
    vec![
        sc(
            "grow moving blocks",
            journaled,
            None,
            op_grow_moving(MOVING_TO),
        ),
        sc(
            "revert of a moving grow",
            grown_under,
            None,
            op_revert(SMALL),
        ),
        sc(
            "commit of a moving grow",
            grown_under,
            Some(new),
            op_commit(),
        ),
        sc(
            "whole resize moving blocks",
            clean,
            Some(new),
            op_resize_moving(MOVING_TO, SMALL),
        ),
    ]
}

#[test]
fn journaled_growth_moving_blocks_of_a_dynamic_disk() {
    for sc in moving_scenarios("dynamic") {
        run(sc);
    }
}

#[test]
fn journaled_growth_moving_blocks_and_locators_of_a_differencing_disk() {
    for sc in moving_scenarios("differencing") {
        run(sc);
    }
}

/// Revert restores the image byte for byte after a growth that moved blocks, and the
/// grown image holds the moved blocks at the end with the metadata where the plan put it.
#[test]
fn moving_growth_is_reverted_byte_for_byte() {
    for kind in ["dynamic", "differencing"] {
        let scs = moving_scenarios(kind);
        let before = &scs[0].before;
        let clean_image = {
            let m = Machine::new(before.clone(), Fault::None);
            recover(&m, SMALL).unwrap();
            let img = m.borrow().files.image.clone();
            img
        };
        let grown = after(before, op_grow_moving(MOVING_TO));
        let m = Machine::new(grown, Fault::None);
        recover(&m, SMALL).unwrap();
        assert!(m.borrow().files.image.data == clean_image.data, "{kind}");
        let done = after(&scs[0].before, op_grow_moving(MOVING_TO));
        let d = open_with(done.image.clone(), rw(true)).unwrap();
        let h = d.header().unwrap();
        assert_eq!(h.max_bat_size, 4096, "{kind}");
        let first = d.bat().allocated().map(|(_, s)| u64::from(s) * 512).min();
        assert!(first.unwrap() >= d.end_of_headers(), "{kind}");
        if kind == "differencing" {
            let used: Vec<_> = h.loc.iter().filter(|l| l.is_used()).collect();
            assert_eq!(used.len(), 3);
            assert!(used.iter().all(|l| l.data_offset > 1536 + 16 * KIB as u64));
        }
    }
}

// ---- shrinking a dynamic disk, resizing a fixed one ----

fn op_shrink(bytes: u64) -> Op {
    Box::new(move |m| {
        let mut disk = create_and_poison(m, SMALL)?;
        vhd_nostd::resize::shrink(&mut disk, bytes)?;
        commit_and_unpoison(m, &mut disk)
    })
}

/// `vhd-util resize` of a fixed disk: journal of its footer, resize, commit.
fn op_resize_fixed(bytes: u64) -> Op {
    Box::new(move |m| {
        create_journal_file(m)?;
        let mut disk = open_with(dev(m, Target::Image), rw(false))?;
        let mut scratch = vec![0u8; SMALL];
        let mut j = dev(m, Target::Journal);
        let mut h = journal::create_fixed(&mut j, &mut disk, &mut scratch)?;
        vhd_nostd::resize::resize_fixed(&mut disk, bytes, &mut j, &mut h, &mut scratch)?;
        commit_and_unpoison(m, &mut disk)
    })
}

fn resize_scenario(name: &str, image: VecIo, old: Vec<u8>, to: u64, op: Op) -> Scenario {
    let mut new = old.clone();
    new.resize(to as usize, 0);
    // A fixed shrink reverted after the cut: the old size, zeros past the sector the
    // new footer took (which the journal restores).
    let cut = (to < old.len() as u64).then(|| {
        let mut c = old.clone();
        c[to as usize + 512..].fill(0);
        c
    });
    Scenario {
        name: name.to_string(),
        before: Files {
            image,
            journal: None,
        },
        parent: None,
        old,
        new: Some(new),
        cut,
        scratch: SMALL,
        op,
    }
}

#[test]
fn journaled_shrink_and_fixed_resize() {
    // Dynamic, 256 KiB with data in its first two 64 KiB blocks, shrunk to 192 KiB.
    let (image, old) = dynamic();
    run(resize_scenario(
        "dynamic shrink",
        image,
        old,
        192 * KIB as u64,
        op_shrink(192 << 10),
    ));
    // Fixed, 64 KiB with data throughout, grown to 96 KiB and shrunk to 32 KiB.
    let mut d = open(new_image(DiskType::Fixed, 64 << 10, 0), true).unwrap();
    let data = filled(64 * KIB, 6);
    d.write(0, &data).unwrap();
    let image = d.into_io();
    for (what, to) in [("grow", 96u64 << 10), ("shrink", 32 << 10)] {
        let sc = resize_scenario(
            &format!("fixed {what}"),
            image.clone(),
            data.clone(),
            to,
            op_resize_fixed(to),
        );
        run(sc);
    }
}

// ---- interchange with libvhd's layout ----

fn be32(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

fn be64(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

/// A journal in libvhd's layout, built from the documented format: 512-byte header,
/// then each entry as a 32-byte record (cookie, type, size, offset, checksum, 4 pad
/// bytes) immediately followed by its payload. `entries` are (type, offset, length) of
/// the image `img`; `pad` is what goes in the record's padding (libvhd leaves stack
/// bytes there).
fn reference_journal(
    img: &[u8],
    uuid: [u8; 16],
    footer_offset: u64,
    metadata: &[(u32, u64, u64)],
    data: &[(u32, u64, u64)],
    pad: [u8; 4],
) -> Vec<u8> {
    let mut j = vec![0u8; 512];
    let add = |j: &mut Vec<u8>, &(ty, off, len): &(u32, u64, u64)| {
        let payload = &img[off as usize..(off + len) as usize];
        let mut rec = Vec::new();
        rec.extend(be64(ENTRY_COOKIE));
        rec.extend(be32(ty));
        rec.extend(be32(len as u32));
        rec.extend(be64(off));
        rec.extend([0u8; 4]);
        rec.extend(pad);
        let sum = rec
            .iter()
            .chain(payload)
            .fold(0u32, |s, &b| s.wrapping_add(u32::from(b)));
        rec[24..28].copy_from_slice(&be32(!sum));
        j.extend(rec);
        j.extend_from_slice(payload);
    };
    for e in metadata {
        add(&mut j, e);
    }
    let data_offset = j.len() as u64;
    for e in data {
        add(&mut j, e);
    }
    let eof = j.len() as u64;
    j[..8].copy_from_slice(b"vjournal");
    j[8..24].copy_from_slice(&uuid);
    j[24..32].copy_from_slice(&be64(footer_offset));
    j[32..36].copy_from_slice(&be32(data.len() as u32));
    j[36..40].copy_from_slice(&be32(metadata.len() as u32));
    j[40..48].copy_from_slice(&be64(data_offset));
    j[48..56].copy_from_slice(&be64(512));
    // The reference's mistake: journal_eof in host byte order.
    j[56..64].copy_from_slice(&eof.to_ne_bytes());
    j
}

/// Recomputes the checksum of the entry whose record is at `at`.
fn reseal_entry(j: &mut [u8], at: usize) {
    let size = u32::from_be_bytes(j[at + 12..at + 16].try_into().unwrap()) as usize;
    j[at + 24..at + 28].fill(0);
    let sum = j[at..at + 32 + size]
        .iter()
        .fold(0u32, |s, &b| s.wrapping_add(u32::from(b)));
    j[at + 24..at + 28].copy_from_slice(&be32(!sum));
}

/// The metadata of the dynamic test image, as libvhd journals it (its layout is fixed by
/// `create`: header at 512, BAT at 1536, batmap header and map after the BAT's sector).
fn metadata_entries(img: &VecIo) -> Vec<(u32, u64, u64)> {
    let footer = img.data.len() as u64 - 512;
    vec![
        (1, footer, 512),
        (2, 0, 512),
        (3, 512, 1024),
        (5, 1536, 512),
        (6, 2048, 512),
        (7, 2560, 512),
    ]
}

/// The journal libvhd would write for `image`'s metadata, as `vhd-util resize` makes it.
fn metadata_journal(image: &VecIo) -> Vec<u8> {
    let uuid = *end_footer(image).uuid.as_bytes();
    let footer = image.data.len() as u64 - 512;
    reference_journal(
        &image.data,
        uuid,
        footer,
        &metadata_entries(image),
        &[],
        [0; 4],
    )
}

#[test]
fn core_journal_has_the_reference_bytes() {
    let (image, _) = dynamic();
    let expected = metadata_journal(&image);
    let m = Machine::new(
        Files {
            image,
            journal: None,
        },
        Fault::None,
    );
    create_and_poison(&m, LARGE).unwrap();
    let got = m.borrow().files.journal.clone().unwrap().data;
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "journal bytes differ from the documented layout"
    );
}

#[test]
fn core_reverts_a_reference_journal() {
    let (image, old) = dynamic();
    let before = image.data.clone();
    let uuid = *end_footer(&image).uuid.as_bytes();
    let footer = image.data.len() as u64 - 512;
    // Block 1 (sector 129 on: 64 KiB blocks, one bitmap sector) holds data.
    let bat = header_of(&image);
    let entry = u32::from_be_bytes(
        image.data[bat.table_offset as usize + 4..][..4]
            .try_into()
            .unwrap(),
    );
    let block1 = u64::from(entry) * 512;
    let data = [(8, block1 + 512, 64 * 1024)];
    let j = reference_journal(
        &image.data,
        uuid,
        footer,
        &metadata_entries(&image),
        &data,
        [0xde, 0xad, 0xbe, 0xef],
    );
    // The change: poisoned, grown, block 1 overwritten, a new block 3 (the file grows).
    let mut d = open(image, true).unwrap();
    d.poison().unwrap();
    vhd_nostd::resize::grow(&mut d, 1 << 20).unwrap();
    d.write(129, &filled(4096, 3)).unwrap();
    d.write(3 * 128 + 5, &filled(512, 4)).unwrap();
    let mut changed = d.into_io();
    assert!(changed.data.len() > before.len());

    let mut jio = VecIo { data: j };
    let v = journal::verify(&mut jio, &mut [0u8; 4096]).unwrap();
    assert_eq!(v.header.journal_metadata_entries, 6);
    assert_eq!(v.header.journal_data_entries, 1);
    assert_eq!(v.header.vhd_footer_offset, footer);
    assert_eq!(v.image_len, Some(footer + 512));
    journal::revert(&mut jio, &mut changed, &mut [0u8; 4096]).unwrap();
    assert!(changed.data == before, "the image is back, byte for byte");
    let s = Scenario {
        name: String::new(),
        before: Files::default(),
        parent: None,
        old: old.clone(),
        new: None,
        cut: None,
        scratch: SMALL,
        op: op_revert(SMALL),
    };
    assert!(content(&s, changed) == old);
}

#[test]
fn committed_reference_journal_cuts_nothing() {
    let (image, _) = dynamic();
    let uuid = *end_footer(&image).uuid.as_bytes();
    let footer = image.data.len() as u64 - 512;
    let mut j = reference_journal(&image.data, uuid, footer, &[], &[], [0; 4]);
    // libvhd's commit: counts and offsets zero, journal_eof left at the old end.
    j[40..56].fill(0);
    j[56..64].copy_from_slice(&40_000u64.to_ne_bytes());
    let mut d = open(image, true).unwrap();
    vhd_nostd::resize::grow(&mut d, 1 << 20).unwrap();
    d.write(3 * 128 + 5, &filled(512, 4)).unwrap();
    let mut img = d.into_io();
    let before = img.data.clone();
    let mut jio = VecIo { data: j };
    let v = journal::revert(&mut jio, &mut img, &mut [0u8; 512]).unwrap();
    assert!(v.header.is_empty());
    assert_eq!(v.image_len, None);
    assert!(img.data == before, "an empty journal changes nothing");
}

#[test]
fn damaged_journals_are_refused_before_anything_is_written() {
    let (image, _) = dynamic();
    let footer = image.data.len() as u64 - 512;
    let good = metadata_journal(&image);
    let mut d = open(image, true).unwrap();
    d.poison().unwrap();
    let poisoned = d.into_io();
    let last = good.len() - 1;
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Damage)> = vec![
        ("header cookie", Box::new(|j| j[0] = b'x')),
        ("last payload byte", Box::new(move |j| j[last] ^= 1)),
        ("entry cookie", Box::new(|j| j[512] ^= 1)),
        ("cut short", Box::new(move |j| j.truncate(last))),
        (
            "end past the file",
            Box::new(|j| {
                let n = j.len() as u64 + 512;
                j[56..64].copy_from_slice(&n.to_ne_bytes())
            }),
        ),
        (
            "more entries than the file holds",
            Box::new(|j| j[36..40].copy_from_slice(&be32(u32::MAX))),
        ),
        (
            "unknown type",
            Box::new(|j| {
                j[512 + 11] = 9;
                reseal_entry(j, 512);
            }),
        ),
        (
            "data type among the metadata",
            Box::new(|j| {
                j[512 + 11] = 8;
                reseal_entry(j, 512);
            }),
        ),
        (
            "unaligned size",
            Box::new(|j| {
                j[512 + 15] = 0xff;
                reseal_entry(j, 512);
            }),
        ),
        (
            "metadata past the journaled image",
            // With a checksum that matches: only the bound refuses it.
            Box::new(move |j| {
                j[528..536].copy_from_slice(&be64(footer + 512));
                reseal_entry(j, 512);
            }),
        ),
        (
            "unaligned footer offset",
            Box::new(|j| j[31] = j[31].wrapping_add(1)),
        ),
        ("shorter than a header", Box::new(|j| j.truncate(100))),
    ];
    for (what, damage) in cases {
        let mut j = good.clone();
        damage(&mut j);
        let mut jio = VecIo { data: j };
        let mut img = poisoned.clone();
        let r = journal::revert(&mut jio, &mut img, &mut [0u8; 4096]);
        assert!(
            matches!(r, Err(Error::Format(_))),
            "{what}: {r:?} (a format error)"
        );
        assert!(img.data == poisoned.data, "{what}: image untouched");
    }
    // Checksums are checked: the stored and computed values are reported.
    let mut j = good.clone();
    j[last] ^= 1;
    let r = journal::verify(&mut VecIo { data: j }, &mut [0u8; 512]);
    assert!(matches!(
        r,
        Err(Error::Format(FormatError::BadChecksum { .. }))
    ));
}

#[test]
fn journal_api_refusals() {
    let (image, _) = dynamic();
    // A poisoned image is not journaled (its journal could not enable it again).
    let mut d = open(image.clone(), true).unwrap();
    d.poison().unwrap();
    let mut j = VecIo::default();
    assert_eq!(
        journal::create(&mut j, &mut d, &mut [0u8; 512]).unwrap_err(),
        Error::Disabled
    );
    // Fixed disks have nothing to journal; a scratch under a sector is refused.
    let mut f = open(new_image(DiskType::Fixed, 64 * 1024, 0), true).unwrap();
    assert_eq!(
        journal::create(&mut j, &mut f, &mut [0u8; 512]).unwrap_err(),
        Error::WrongDiskType
    );
    let mut d = open(image, true).unwrap();
    assert!(matches!(
        journal::create(&mut j, &mut d, &mut [0u8; 100]),
        Err(Error::BufferTooSmall { .. })
    ));
    // Metadata after data entries would break the runs the header describes.
    let mut h = JournalHeader::new(d.footer().uuid, d.footer_position());
    let data = journal::Region {
        entry_type: journal::TYPE_DATA,
        offset: 0,
        len: 512,
    };
    let meta = journal::Region {
        entry_type: journal::TYPE_HEADER,
        ..data
    };
    let mut j = VecIo::default();
    journal::write_header(&mut j, &h).unwrap();
    journal::append(&mut j, &mut h, d.io(), data, &mut [0u8; 512]).unwrap();
    assert!(matches!(
        journal::append(&mut j, &mut h, d.io(), meta, &mut [0u8; 512]),
        Err(Error::InvalidArgument(_))
    ));
    let odd = journal::Region { len: 100, ..data };
    assert_eq!(
        journal::append(&mut j, &mut h, d.io(), odd, &mut [0u8; 512]),
        Err(Error::Unaligned)
    );
    assert_eq!(h.journal_data_entries, 1);
    assert!(journal::verify(&mut j, &mut [0u8; 512]).is_ok());
}

/// What the resize API refuses, each time before writing anything.
#[test]
fn resize_api_refusals() {
    use vhd_nostd::resize;
    let (image, _) = dynamic_small_blocks();
    let mut d = open_with(image.clone(), rw(false)).unwrap();
    // The BAT needs 32 sectors: in place it cannot grow.
    assert_eq!(resize::grow(&mut d, MOVING_TO), Err(Error::NoSpace));
    let p = resize::plan(&d, MOVING_TO).unwrap();
    assert!(p.relocates && p.blocks_moved > 0);
    assert_eq!(p.copy_bytes, 4096 + 512);
    let (mut j, mut copy) = (VecIo::default(), vec![0u8; p.copy_bytes]);
    let mut h = JournalHeader::new(d.footer().uuid, d.footer_position());
    // Buffers too small, then no journal (not poisoned), then another image's journal.
    assert!(matches!(
        resize::grow_journaled(&mut d, MOVING_TO, &mut j, &mut h, &mut copy, |_| {}),
        Err(Error::BufferTooSmall { .. })
    ));
    resize::reserve(&mut d, vec![0; p.bat_bytes], vec![0; p.batmap_bytes]).unwrap();
    let short = &mut copy[..512];
    assert!(matches!(
        resize::grow_journaled(&mut d, MOVING_TO, &mut j, &mut h, short, |_| {}),
        Err(Error::BufferTooSmall { .. })
    ));
    assert_eq!(
        resize::grow_journaled(&mut d, MOVING_TO, &mut j, &mut h, &mut copy, |_| {}),
        Err(Error::InvalidArgument("image not poisoned by its journal"))
    );
    let mut other = h;
    other.vhd_footer_offset += 512;
    assert_eq!(
        resize::grow_journaled(&mut d, MOVING_TO, &mut j, &mut other, &mut copy, |_| {}),
        Err(Error::InvalidArgument("journal of another image"))
    );
    assert!(d.into_io().data == image.data, "nothing written");
    // Shrinking past an allocated block (sector 400 is in block 50).
    let mut d = open_with(image.clone(), rw(false)).unwrap();
    assert_eq!(
        resize::shrink(&mut d, 200 * 512),
        Err(Error::InvalidArgument(
            "allocated block beyond the new size"
        ))
    );
    assert_eq!(
        resize::shrink(&mut d, 256 << 10),
        Err(Error::InvalidArgument("size"))
    );
    assert!(d.into_io().data == image.data, "nothing written");
    // Fixed resize wants a fixed disk, and its journal.
    let mut d = open_with(image.clone(), rw(false)).unwrap();
    assert_eq!(
        resize::resize_fixed(&mut d, 1 << 20, &mut j, &mut h, &mut copy),
        Err(Error::WrongDiskType)
    );
    assert_eq!(
        journal::create_fixed(&mut VecIo::default(), &mut d, &mut copy),
        Err(Error::WrongDiskType)
    );
}

/// Issue 21, class 4: journals whose records are well formed (cookies, bounds and
/// checksums all right) but whose journaled footer, header or BAT are garbage or do not
/// agree, and one whose footer offset is absurd. Reverting any of them must refuse
/// before the first write: no crash state can arise, so there is nothing for a power
/// cut to find (the revert runs over a FaultIo and its write count is asserted zero).
#[test]
fn hostile_journal_contents_are_refused_before_anything_is_written() {
    let (image, _) = dynamic();
    let good = metadata_journal(&image);
    let mut d = open(image, true).unwrap();
    d.poison().unwrap();
    let poisoned = d.into_io();
    // Records: footer at 512, copy at 1056, header at 1600, BAT at 2656.
    let (footer_rec, header_rec, bat_rec) = (512usize, 1600usize, 2656usize);
    let edit_header = move |j: &mut Vec<u8>, f: &dyn Fn(&mut vhd_nostd::Header)| {
        let p = header_rec + 32;
        let mut h = vhd_nostd::Header::decode(&j[p..p + 1024]).unwrap();
        f(&mut h);
        h.seal();
        j[p..p + 1024].copy_from_slice(&h.to_bytes());
        reseal_entry(j, header_rec);
    };
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Damage)> = vec![
        (
            "garbage header entry, entry checksum resealed",
            Box::new(move |j| {
                j[header_rec + 32..header_rec + 32 + 1024].fill(0xA5);
                reseal_entry(j, header_rec);
            }),
        ),
        (
            "header with its own checksum resealed but version 2.0",
            Box::new(move |j| edit_header(j, &|h| h.hdr_ver = 0x0002_0000)),
        ),
        (
            "header whose BAT is elsewhere than the BAT entry",
            Box::new(move |j| edit_header(j, &|h| h.table_offset = 2048)),
        ),
        (
            "garbage primary footer entry",
            Box::new(move |j| {
                j[footer_rec + 32..footer_rec + 32 + 512].fill(0x5A);
                reseal_entry(j, footer_rec);
            }),
        ),
        (
            "garbage footer copy entry",
            Box::new(|j| {
                j[1056 + 32 + 8] ^= 0xFF;
                reseal_entry(j, 1056);
            }),
        ),
        (
            "header entry at another offset than the footer names",
            Box::new(move |j| {
                j[header_rec + 16..header_rec + 24].copy_from_slice(&be64(1024));
                reseal_entry(j, header_rec);
            }),
        ),
        (
            "BAT entry not where the header puts it",
            Box::new(move |j| {
                j[bat_rec + 16..bat_rec + 24].copy_from_slice(&be64(2048));
                reseal_entry(j, bat_rec);
            }),
        ),
        (
            "footer offset near 2^63",
            Box::new(move |j| {
                let far = (1u64 << 63) - 512;
                j[24..32].copy_from_slice(&be64(far));
                j[footer_rec + 16..footer_rec + 24].copy_from_slice(&be64(far));
                reseal_entry(j, footer_rec);
            }),
        ),
    ];
    for (what, damage) in cases {
        let mut j = good.clone();
        damage(&mut j);
        let mut jio = FaultIo::new(VecIo { data: j }, Fault::None);
        let mut img = FaultIo::new(poisoned.clone(), Fault::None);
        let r = journal::revert(&mut jio, &mut img, &mut [0u8; 4096]);
        assert!(
            matches!(r, Err(Error::Format(_))),
            "{what}: {r:?} (a format error)"
        );
        assert_eq!(img.writes, 0, "{what}: nothing written");
        assert!(img.inner.data == poisoned.data, "{what}: image untouched");
    }
    // The untouched journal still reverts.
    let mut img = poisoned.clone();
    journal::revert(&mut VecIo { data: good }, &mut img, &mut [0u8; 4096]).unwrap();
    assert!(!end_footer(&img).is_disabled());
}
