//! `vhd-util read -n name [-p] [-t sec] [-b blk] [-m blk] [-i sec] [-a] [-j blk]
//! [-d blk] [-r sec] [-c num] [-x]`: metadata dumps, address translation and raw reads.
//! Actions run in the order p, t, b, m, i, a, j, d, r, each over `-c` units; the first
//! failing one ends the run with its errno.
//!
//! blktap3 adds `-B` (the BAT as a bitmap, raw), `-e sec` (runs of present sectors),
//! `-R byte` (`-c` bytes through the chain, raw) and `-C` (a cached open, the same
//! here), runs them in the order p, t, b, B, m, i, e, a, j, d, r, R, and makes `-i`
//! test the sector's own bit.

use std::io::Write;

use vhd_nostd::bitmap::Bitmap;
use vhd_nostd::Io;
use vhd_nostd::{allocation, batmap, layout};
use vhd_std::fileio::AlignedBuf;
use vhd_std::{Chain, Errno, Image, OpenOptions, VhdDisk};

use crate::dump;
use crate::flavour::{self, pick};
use crate::getopt::{Getopt, Opt};
use crate::out::{conv, strtoull};

/// Size of the one buffer the raw outputs (`-m`, `-a`, `-d`, `-r`) stream through.
const BUF_SIZE: usize = 1 << 20;

fn usage() -> i32 {
    println!("options:");
    for l in [
        "-h          help",
        "-n          name",
        "-p          print VHD headers",
        "-t sec      translate logical sector to VHD location",
        "-b blk      print bat entry",
        "-B          print entire bat as a bitmap",
        "-m blk      print bitmap",
        "-i sec      test bitmap for logical sector",
        "-e sec      output extent list of allocated logical sectors",
        "-a          print batmap",
        "-j blk      test batmap for block",
        "-d blk      print data",
        "-c num      num units",
        "-r sec      read num sectors at sec",
        "-R byte     read num bytes at byte",
        "-x          print in hex",
    ] {
        let new = l.starts_with("-B") || l.starts_with("-e") || l.starts_with("-R");
        if flavour::BLKTAP3 || !new {
            println!("{l}");
        }
    }
    libc::EINVAL
}

/// The requested actions.
#[derive(Default)]
struct Actions {
    headers: bool,
    translate: Option<u64>,
    bat: Option<u64>,
    bat_bitmap: bool,
    bitmap: Option<u64>,
    test_bitmap: Option<u64>,
    extents: Option<u64>,
    batmap: bool,
    test_batmap: Option<u64>,
    data: Option<u64>,
    read: Option<u64>,
    read_bytes: Option<u64>,
    count: u64,
    hex: bool,
}

/// Runs the subcommand; `args[0]` is `read`.
pub fn run(args: &[String]) -> i32 {
    let mut name = None;
    let mut a = Actions {
        count: 1,
        ..Default::default()
    };
    let spec = pick("n:pt:b:m:i:aj:d:c:r:xh", "n:pt:b:Bm:i:e:aj:d:c:r:R:xCh");
    let mut g = Getopt::new(args, spec);
    for o in g.by_ref() {
        let num = |v: &Option<String>| strtoull(v.as_deref().unwrap_or("")).0;
        match o {
            Opt::Opt('n', v) => name = v,
            Opt::Opt('p', _) => a.headers = true,
            Opt::Opt('t', v) => a.translate = Some(num(&v)),
            Opt::Opt('b', v) => a.bat = Some(num(&v)),
            Opt::Opt('m', v) => a.bitmap = Some(num(&v)),
            Opt::Opt('i', v) => a.test_bitmap = Some(num(&v)),
            Opt::Opt('a', _) => a.batmap = true,
            Opt::Opt('j', v) => a.test_batmap = Some(num(&v)),
            Opt::Opt('d', v) => a.data = Some(num(&v)),
            Opt::Opt('c', v) => a.count = num(&v),
            Opt::Opt('r', v) => a.read = Some(num(&v)),
            Opt::Opt('x', _) => a.hex = true,
            Opt::Opt('B', _) => a.bat_bitmap = true,
            Opt::Opt('e', v) => a.extents = Some(num(&v)),
            Opt::Opt('R', v) => a.read_bytes = Some(num(&v)),
            // A cached open only changes how libvhd buffers; reads are the same.
            Opt::Opt('C', _) => {}
            _ => return usage(),
        }
    }
    let Some(name) = g.with_no_operands(name) else {
        return usage();
    };
    let opts = OpenOptions {
        ignore_disabled: true,
        ..Default::default()
    };
    let img = match Image::open(&name, opts) {
        Ok(i) => i,
        Err(e) => {
            println!("Failed to open {name}: {e}");
            dump::print_invalid(&name, a.hex);
            return e.code();
        }
    };
    if img.disk().header().is_none() {
        println!("Failed to get bat for {name}: {}", -libc::EINVAL);
        return -libc::EINVAL;
    }
    match actions(img, &a) {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}

fn actions(mut img: Image, a: &Actions) -> Result<(), Errno> {
    let hex = a.hex;
    let mut buf = AlignedBuf::new(BUF_SIZE);
    if a.headers {
        dump::print_headers(&mut img, hex);
    }
    let disk = img.disk_mut();
    if let Some(s) = a.translate {
        translate(disk, s, a.count, hex)?;
    }
    if let Some(b) = a.bat {
        block_range(disk, b, a.count, hex)?;
        for blk in b..b + a.count {
            let off = match disk.bat().get(blk as u32).and_then(layout::block_offset) {
                Some(o) => conv(hex, o),
                None => "not allocated".to_string(),
            };
            println!("block: {}: offset: {off}", conv(hex, blk));
        }
    }
    if a.bat_bitmap {
        let mut bits = vec![0u8; allocation::bat_bitmap_bytes(disk)?];
        let n = allocation::bat_bitmap(disk, &mut bits)?;
        let mut out = std::io::stdout().lock();
        out.write_all(&bits[..n])?;
        out.flush()?;
    }
    if let Some(b) = a.bitmap {
        block_range(disk, b, a.count, hex)?;
        let len = u64::from(disk.bitmap_sectors()) * 512;
        for blk in b..b + a.count {
            match disk.bat().get(blk as u32).and_then(layout::block_offset) {
                Some(o) => copy_out(disk, o, len, &mut buf)?,
                None => println!("block {} not allocated", conv(hex, blk)),
            }
        }
    }
    if let Some(s) = a.test_bitmap {
        test_bitmap(disk, s, a.count, hex)?;
    }
    if let Some(s) = a.extents {
        extents(disk, s, a.count, hex)?;
    }
    if a.batmap {
        // As libvhd's vhd_read_batmap: a map that fails its checksum is no batmap.
        match disk.batmap().map(|(h, _)| h.clone()) {
            Some(h) => copy_out(disk, h.batmap_offset, h.map_bytes(), &mut buf)?,
            None => {
                println!("failed to read batmap: {}", -libc::EINVAL);
                return Err(Errno::EINVAL);
            }
        }
    }
    if let Some(b) = a.test_batmap {
        block_range(disk, b, a.count, hex)?;
        let Some((_, map)) = disk.batmap() else {
            eprintln!("failed to get batmap");
            return Err(Errno::EINVAL);
        };
        for blk in b..b + a.count {
            let bit = u8::from(batmap::test(map, blk as u32));
            eprintln!("batmap for block {}: {bit}", conv(hex, blk));
        }
    }
    if let Some(b) = a.data {
        block_range(disk, b, a.count, hex)?;
        let bm = u64::from(disk.bitmap_sectors()) * 512;
        let len = u64::from(disk.sectors_per_block()) * 512;
        for blk in b..b + a.count {
            match disk.bat().get(blk as u32).and_then(layout::block_offset) {
                Some(o) => copy_out(disk, o + bm, len, &mut buf)?,
                None => println!("block {} not allocated", conv(hex, blk)),
            }
        }
    }
    let sectors = disk.sectors();
    if a.read.is_none() && a.read_bytes.is_none() {
        return Ok(());
    }
    let read = match a.read {
        Some(s) => {
            let end = s.checked_add(a.count).ok_or(Errno::ERANGE)?;
            if end > sectors {
                return Err(Errno::ERANGE);
            }
            Some((s, end))
        }
        None => None,
    };
    let name = img.path().display().to_string();
    crate::open::refuse_chain_loop(&name, &mut img).map_err(Errno)?;
    let mut chain = Chain::from_image(img)?;
    if let Some((s, end)) = read {
        let mut out = std::io::stdout().lock();
        let mut cur = s;
        while cur < end {
            let n = (end - cur).min((BUF_SIZE / 512) as u64) as usize;
            chain.read(cur, &mut buf[..n * 512])?;
            out.write_all(&buf[..n * 512])?;
            cur += n as u64;
        }
        out.flush()?;
    }
    if let Some(b) = a.read_bytes {
        read_bytes(&mut chain, b, a.count, &mut buf)?;
    }
    Ok(())
}

/// `-R`: `count` bytes from byte `from` through the chain, raw; past the end is
/// `-ERANGE` with nothing printed.
fn read_bytes(chain: &mut Chain, from: u64, count: u64, buf: &mut [u8]) -> Result<(), Errno> {
    let end = from.checked_add(count).ok_or(Errno::ERANGE)?;
    if end > chain.top().size() {
        return Err(Errno::ERANGE);
    }
    let mut out = std::io::stdout().lock();
    let mut cur = from;
    while cur < end {
        let skip = (cur % 512) as usize;
        let want = (end - cur).min((buf.len() - skip) as u64) as usize;
        let secs = (skip + want).div_ceil(512);
        chain.read(cur / 512, &mut buf[..secs * 512])?;
        out.write_all(&buf[skip..skip + want])?;
        cur += want as u64;
    }
    out.flush()?;
    Ok(())
}

/// `-e`: prints `<start> <length>` for each run of sectors the image holds among the
/// `count` from `s`; a range past the end is `sector <s> past end of file`.
fn extents(disk: &mut VhdDisk, s: u64, count: u64, hex: bool) -> Result<(), Errno> {
    let end = s.checked_add(count).ok_or(Errno::ERANGE)?;
    if end > disk.sectors() {
        println!("sector {} past end of file", conv(hex, s));
        return Err(Errno::ERANGE);
    }
    let mut cur = s;
    while let Some((start, len)) = allocation::next_extent(disk, cur, end)? {
        println!("{} {}", conv(hex, start), conv(hex, len));
        cur = start + len;
    }
    Ok(())
}

/// Checks that blocks `b .. b+count` exist; else `block <b+count> past end of file`.
fn block_range(disk: &VhdDisk, b: u64, count: u64, hex: bool) -> Result<(), Errno> {
    let end = b.saturating_add(count);
    if end > u64::from(disk.bat().entries()) {
        eprintln!("block {} past end of file", conv(hex, end));
        return Err(Errno::ERANGE);
    }
    Ok(())
}

fn translate(disk: &VhdDisk, s: u64, count: u64, hex: bool) -> Result<(), Errno> {
    let end = s.saturating_add(count);
    if end > disk.sectors() {
        eprintln!("sector {} past end of file", conv(hex, end));
        return Err(Errno::ERANGE);
    }
    let spb = u64::from(disk.sectors_per_block());
    for cur in s..end {
        let (blk, off) = (cur / spb, cur % spb);
        // The reference counts one bitmap sector whatever the block size.
        let file = match disk.bat().get(blk as u32) {
            Some(b) => conv(hex, u64::from(layout::data_sector(b, 1, off as u32)) * 512),
            None => "not allocated".to_string(),
        };
        println!(
            "logical sector {}: block number: {}, sector offset: {}, file offset: {file}",
            conv(hex, cur),
            conv(hex, blk),
            conv(hex, off)
        );
    }
    Ok(())
}

/// `-i`: blktap2 tests the bit numbered by the *block*, not the sector offset (the
/// dialect keeps that); blktap3 the sector's own bit.
fn test_bitmap(disk: &mut VhdDisk, s: u64, count: u64, hex: bool) -> Result<(), Errno> {
    if s.saturating_add(count) > disk.sectors() {
        println!("sector {} past end of file", conv(hex, s));
        return Err(Errno::ERANGE);
    }
    let spb = u64::from(disk.sectors_per_block());
    let len = disk.bitmap_sectors() as usize * 512;
    let order = disk.bitmap_order();
    let mut bits = vec![0u8; len];
    let mut loaded = None;
    for cur in s..s + count {
        let (blk, off) = (cur / spb, cur % spb);
        let bit = match disk.bat().get(blk as u32) {
            Some(b) => {
                if loaded != Some(blk) {
                    let at = layout::block_offset(b).ok_or(Errno::EINVAL)?;
                    disk.io().read_at(at, &mut bits)?;
                    loaded = Some(blk);
                }
                let bit = pick(blk, off) as u32;
                u8::from(Bitmap::new(&bits[..], order).test(bit))
            }
            None => 0,
        };
        println!("block {}: sec: {}: {bit}", conv(hex, blk), conv(hex, off));
    }
    Ok(())
}

/// Streams `len` bytes of the file at `off` to stdout through `buf`.
fn copy_out(disk: &mut VhdDisk, off: u64, len: u64, buf: &mut [u8]) -> Result<(), Errno> {
    let mut out = std::io::stdout().lock();
    let mut done = 0;
    while done < len {
        let n = (len - done).min(buf.len() as u64) as usize;
        disk.io().read_at(off + done, &mut buf[..n])?;
        out.write_all(&buf[..n])?;
        done += n as u64;
    }
    out.flush()?;
    Ok(())
}
