//! `vhd-util scan [-m pattern] [-f] [-c] [-p] [-a] [-v] [FILES]`: one line per image
//! with its capacity, file size, hidden flag and parent, or a tree of images (`-p`).
//! With `-l VG` the images are the volume group's logical volumes (`scan_volume`).

use std::collections::HashSet;
use std::path::Path;

use vhd_nostd::keyhash::KeyHash;
use vhd_nostd::locator::{PLAT_CODE_MACX, PLAT_CODE_NONE, PLAT_CODE_W2RU};
use vhd_nostd::summary::hidden_flag;
use vhd_nostd::{DiskType, SECTOR_SIZE};
use vhd_std::path::{basename, realpath};
use vhd_std::summary::summary;
use vhd_std::{Errno, Image, OpenOptions};

use crate::flavour::{pick, BLKTAP3};
use crate::getopt::{Getopt, Opt};
use crate::lvm::VolumeGroup;
use crate::scan_volume;

fn usage() {
    println!("usage: [OPTIONS] FILES");
    println!(
        "options: [-m match filter] [-f fast] [-c continue on failure] [-l LVM volume] [-p pretty print] [-a scan parents] [-v verbose] [-h help]{}",
        pick("", " [-M show markers]")
    );
}

/// A failed scan, after its error line: blktap3 says so on stderr, blktap2 on stdout.
fn scan_failed(code: i32) {
    if BLKTAP3 {
        eprintln!("scan failed: {code}. Check syslog for details");
    } else {
        println!("scan failed: {code}");
    }
}

/// Scan settings.
#[derive(Default, Clone, Copy)]
pub(crate) struct Flags {
    pub(crate) fast: bool,
    cont: bool,
    pretty: bool,
    parents: bool,
    verbose: bool,
    /// blktap3's `-M`: each image's marker and key hash.
    pub(crate) markers: bool,
}

/// One scanned image, or a failure to scan it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) capacity: u64,
    pub(crate) size: u64,
    pub(crate) hidden: u8,
    pub(crate) parent: Option<String>,
    pub(crate) error: Option<(i32, &'static str)>,
    /// With `-M`: the marker and the key hash.
    pub(crate) tags: Option<(u8, Option<KeyHash>)>,
}

impl Entry {
    pub(crate) fn failed(name: &str, err: i32, msg: &'static str) -> Entry {
        Entry {
            name: name.to_string(),
            capacity: 0,
            size: 0,
            hidden: 0,
            parent: None,
            error: Some((err, msg)),
            tags: None,
        }
    }

    /// The output line, indented by `tab` columns.
    fn line(&self, flags: Flags, tab: usize, not_found: bool) -> String {
        let pad = " ".repeat(tab);
        if let Some((err, msg)) = self.error {
            return format!(
                "{pad}vhd={} scan-error={err} error-message='{msg}'",
                self.name
            );
        }
        let short = |s: &str| {
            if flags.verbose {
                s.to_string()
            } else {
                basename(Path::new(s))
            }
        };
        let parent = self.parent.as_deref().map_or("none".to_string(), short);
        let tags = match &self.tags {
            Some((marker, kh)) => {
                let hash = kh
                    .as_ref()
                    .map_or(String::new(), |k| crate::key::hex(&k.hash));
                format!(" marker={marker} keyhash={hash}")
            }
            None => String::new(),
        };
        format!(
            "{pad}vhd={} capacity={} size={} hidden={}{tags} parent={parent}{}",
            short(&self.name),
            self.capacity,
            self.size,
            self.hidden,
            if not_found {
                " (not found in scan)"
            } else {
                ""
            }
        )
    }
}

/// `glob(3)`: the paths matching `pattern`, sorted unless `sort` is false; blktap3
/// expands `{a,b}` too.
fn glob(pattern: &str, sort: bool) -> Vec<String> {
    vhd_sys::glob(pattern, sort, pick(false, true))
}

/// The hidden flag as libvhd's `vhd_hidden` reads it (the core's rule).
pub fn hidden(img: &mut Image) -> Result<u8, Errno> {
    let footer = img.disk().footer().clone();
    Ok(hidden_flag(img.disk_mut().io(), &footer)?)
}

/// The parent as stored when it cannot be resolved: the first `MacX` path, else the
/// last `W2ru` one, else the first decodable path.
fn raw_locator(img: &mut Image) -> Option<String> {
    let h = img.disk().header()?.clone();
    let mut macx = None;
    let mut w2ru = None;
    let mut any = None;
    for (i, l) in h.loc.iter().enumerate() {
        if l.code == PLAT_CODE_NONE {
            continue;
        }
        let Ok(p) = img.locator_path(i) else { continue };
        if l.code == PLAT_CODE_MACX && macx.is_none() {
            macx = Some(p.clone());
        }
        if l.code == PLAT_CODE_W2RU {
            w2ru = Some(p.clone());
        }
        any.get_or_insert(p);
    }
    macx.or(w2ru).or(any)
}

/// Scans one image file, with its marker and key hash under `-M`.
fn scan_image(target: &str, flags: Flags) -> Entry {
    let mut e = scan_image_fields(target, flags);
    if flags.markers && e.error.is_none() {
        match tags(&e.name) {
            Ok(t) => e.tags = Some(t),
            Err(err) => return Entry::failed(&e.name, err.code(), "checking markers"),
        }
    }
    e
}

/// The marker and key hash of the image at `name`, as blktap3's `vhd_marker` and
/// `vhd_get_keyhash` read them.
fn tags(name: &str) -> Result<(u8, Option<KeyHash>), Errno> {
    let opts = OpenOptions {
        ignore_disabled: true,
        ..Default::default()
    };
    let mut img = Image::open_buffered(name, opts)?;
    Ok((
        vhd_std::tags::marker(&mut img)?,
        vhd_std::tags::keyhash(&mut img)?,
    ))
}

fn scan_image_fields(target: &str, flags: Flags) -> Entry {
    let name = if flags.pretty {
        realpath(Path::new(target)).map_or(target.to_string(), |p| p.to_string_lossy().into_owned())
    } else {
        target.to_string()
    };
    if flags.fast {
        return scan_fast(name);
    }
    let opts = OpenOptions {
        ignore_disabled: true,
        ..Default::default()
    };
    // Through the page cache: a scan reads a few small pieces of many images.
    let mut img = match Image::open_buffered(&name, opts) {
        Ok(i) => i,
        Err(e) => return Entry::failed(&name, e.code(), "opening file"),
    };
    let size = match std::fs::metadata(&name) {
        Ok(m) => m.len(),
        Err(e) => return Entry::failed(&name, Errno::from(e).code(), "getting physical size"),
    };
    let hidden = match hidden(&mut img) {
        Ok(h) => h,
        Err(e) => return Entry::failed(&name, e.code(), "checking 'hidden' field"),
    };
    let parent = if !img.is_differencing() {
        None
    } else {
        match img.parent() {
            Ok(p) => Some(p.path.to_string_lossy().into_owned()),
            Err(e) => match raw_locator(&mut img) {
                Some(s) => Some(s),
                None => return Entry::failed(&name, e.code(), "getting parent"),
            },
        }
    };
    Entry {
        name,
        capacity: img.disk().size(),
        size,
        hidden,
        parent,
        error: None,
        tags: None,
    }
}

/// `-f`: the footer and header alone, read through the page cache; the parent is the
/// header's parent name, not resolved.
fn scan_fast(name: String) -> Entry {
    let s = match summary(Path::new(&name)) {
        Ok(s) => s,
        Err(e) => return Entry::failed(&name, e.code(), "opening file"),
    };
    let hidden = match s.hidden {
        Ok(h) => h,
        Err(e) => return Entry::failed(&name, e.code(), "checking 'hidden' field"),
    };
    let parent = match (&s.summary.header, s.summary.disk_type) {
        (Some(h), DiskType::Differencing) => {
            let mut buf = [0u8; 1024];
            match h.parent_location(&mut buf) {
                Ok(n) => Some(n.to_string()),
                Err(_) => return Entry::failed(&name, -libc::EINVAL, "getting parent"),
            }
        }
        _ => None,
    };
    Entry {
        name,
        capacity: s.summary.footer.curr_size / SECTOR_SIZE as u64 * SECTOR_SIZE as u64,
        size: s.file_size,
        hidden,
        parent,
        error: None,
        tags: None,
    }
}

/// A parent found with `-a`: a VHD, or a raw image if the child says so.
fn scan_parent(path: &str, raw: bool, flags: Flags) -> Entry {
    if !raw {
        return scan_image(path, flags);
    }
    match std::fs::metadata(path) {
        Ok(m) => Entry {
            name: path.to_string(),
            capacity: m.len(),
            size: m.len(),
            hidden: 1,
            parent: None,
            error: None,
            tags: flags.markers.then_some((0, None)),
        },
        Err(e) => Entry::failed(path, Errno::from(e).code(), "opening file"),
    }
}

/// Runs the subcommand; `args[0]` is `scan`.
pub fn run(args: &[String]) -> i32 {
    let (mut pattern, mut lvm) = (None, None);
    let mut flags = Flags::default();
    let mut g = Getopt::new(args, pick("m:fcl:pavh", "m:fcl:pavMh"));
    for o in g.by_ref() {
        match o {
            Opt::Opt('m', v) => pattern = v,
            Opt::Opt('f', _) => flags.fast = true,
            Opt::Opt('c', _) => flags.cont = true,
            Opt::Opt('l', v) => lvm = v,
            Opt::Opt('p', _) => flags.pretty = true,
            Opt::Opt('a', _) => flags.parents = true,
            Opt::Opt('v', _) => flags.verbose = true,
            Opt::Opt('M', _) => flags.markers = true,
            other => {
                usage();
                return other.usage_status();
            }
        }
    }
    if flags.pretty {
        flags.fast = false;
    }
    let files = g.operands().to_vec();
    if pattern.is_none() && files.is_empty() {
        usage();
        return -libc::EINVAL;
    }
    let group = match lvm.as_deref().map(VolumeGroup::scan) {
        Some(Err(code)) => {
            if BLKTAP3 {
                eprintln!("lvm_scan_vg failed {code}");
            }
            scan_failed(code);
            return code;
        }
        Some(Ok(g)) => Some(g),
        None => None,
    };
    let mut entries: Vec<Entry> = Vec::new();
    let err = match &group {
        Some(g) => {
            let volumes = scan_volume::targets(g, pattern.as_deref(), &files);
            let scans = volumes.into_iter().map(|v| Ok(scan_volume::scan(v, flags)));
            match report(scans, flags, &mut entries) {
                Ok(e) => e,
                Err(code) => return code,
            }
        }
        None => {
            let mut targets = pattern.map_or_else(Vec::new, |p| glob(&p, !flags.fast));
            targets.extend(files);
            match report(
                targets.iter().map(|t| scan_target(t, flags)),
                flags,
                &mut entries,
            ) {
                Ok(e) => e,
                Err(code) => return code,
            }
        }
    };
    if flags.parents {
        add_parents(&mut entries, flags, group.as_ref());
    }
    if flags.pretty {
        print_trees(&entries, flags);
    }
    if flags.cont {
        0
    } else {
        err
    }
}

/// A file target: stat'ed first; without `-c` a failed stat ends the scan (`Err`).
fn scan_target(t: &str, flags: Flags) -> Result<Entry, i32> {
    match std::fs::metadata(t) {
        Err(e) => {
            let code = Errno::from(e).code();
            println!(
                "{}",
                Entry::failed(t, code, "failure scanning target").line(flags, 0, false)
            );
            if !flags.cont {
                scan_failed(code);
                return Err(code);
            }
            Ok(Entry {
                name: ".".to_string(),
                capacity: 0,
                size: 0,
                hidden: 1,
                parent: None,
                error: None,
                tags: flags.markers.then_some((0, None)),
            })
        }
        Ok(_) => Ok(scan_image(t, flags)),
    }
}

/// Prints each scanned image (or, with `-p`, keeps it for the trees) and its error line;
/// without `-c` the first error ends the scan (`Err`). The first error code otherwise.
fn report(
    scans: impl Iterator<Item = Result<Entry, i32>>,
    flags: Flags,
    entries: &mut Vec<Entry>,
) -> Result<i32, i32> {
    let mut err = 0;
    for e in scans {
        let e = e?;
        if let Some((code, _)) = e.error {
            println!("{}", e.line(flags, 0, false));
            if !flags.cont {
                return Err(code);
            }
            if err == 0 {
                err = code;
            }
            continue;
        }
        if !flags.pretty {
            println!("{}", e.line(flags, 0, false));
        }
        entries.push(e);
    }
    Ok(err)
}

/// `-a`: appends every parent not already listed (by basename), and theirs. In a volume
/// group parents are volumes of the group; one the group lacks is left out.
fn add_parents(entries: &mut Vec<Entry>, flags: Flags, group: Option<&VolumeGroup>) {
    let mut seen: HashSet<String> = entries
        .iter()
        .map(|e| basename(Path::new(&e.name)))
        .collect();
    let mut i = 0;
    while i < entries.len() {
        let child = entries[i].clone();
        i += 1;
        let Some(parent) = child.parent else { continue };
        if let Some(g) = group {
            let Some(vol) = g.find(&parent) else { continue };
            if !seen.insert(parent) {
                continue;
            }
            let e = scan_volume::scan(vol, flags);
            if e.error.is_some() || !flags.pretty {
                println!("{}", e.line(flags, 0, false));
            }
            if e.error.is_none() {
                entries.push(e);
            }
            continue;
        }
        if !Path::new(&parent).is_absolute() || !seen.insert(basename(Path::new(&parent))) {
            continue;
        }
        let raw = Image::open(
            &child.name,
            OpenOptions {
                ignore_disabled: true,
                ..Default::default()
            },
        )
        .map(|i| i.disk().parent_is_raw())
        .unwrap_or(false);
        let e = scan_parent(&parent, raw, flags);
        if e.error.is_some() || !flags.pretty {
            println!("{}", e.line(flags, 0, false));
        }
        if e.error.is_none() {
            entries.push(e);
        }
    }
}

/// `-p`: trees sorted by name: hidden roots, other roots, then anything not yet printed;
/// children indented by three spaces per level, visible before hidden.
fn print_trees(entries: &[Entry], flags: Flags) {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&a, &b| entries[a].name.cmp(&entries[b].name));
    let names: HashSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let is_root = |e: &Entry| e.parent.as_deref().is_none_or(|p| !names.contains(p));
    let mut printed = vec![false; entries.len()];
    let roots_hidden: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| is_root(&entries[i]) && entries[i].hidden != 0)
        .collect();
    let roots_visible: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| is_root(&entries[i]) && entries[i].hidden == 0)
        .collect();
    for i in roots_hidden.into_iter().chain(roots_visible) {
        print_tree(entries, &order, i, 0, flags, &names, &mut printed);
    }
    for &i in &order {
        if !printed[i] {
            print_tree(entries, &order, i, 0, flags, &names, &mut printed);
        }
    }
}

fn print_tree(
    entries: &[Entry],
    order: &[usize],
    i: usize,
    level: usize,
    flags: Flags,
    names: &HashSet<&str>,
    printed: &mut [bool],
) {
    if printed[i] {
        return;
    }
    printed[i] = true;
    let e = &entries[i];
    let not_found = e.parent.as_deref().is_some_and(|p| !names.contains(p));
    println!("{}", e.line(flags, level * 3, not_found));
    let children = |hidden: bool| {
        order
            .iter()
            .copied()
            .filter(move |&c| {
                entries[c].parent.as_deref() == Some(e.name.as_str())
                    && (entries[c].hidden != 0) == hidden
            })
            .collect::<Vec<_>>()
    };
    for c in children(false).into_iter().chain(children(true)) {
        print_tree(entries, order, c, level + 1, flags, names, printed);
    }
}
