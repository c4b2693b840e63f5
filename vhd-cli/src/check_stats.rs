//! blktap3 `check -s`: per image checked, the sectors its allocated blocks span and
//! how many of them its bitmaps mark written; along a chain (`-p`), how many of those
//! written sectors the parent, and all the ancestors together, have not written.
//!
//! The images are walked window by window (the largest block of the chain), each
//! image's written sectors of the window taken from the core's sector map into one
//! reused bit buffer, so the cost is a few bitmaps, not a bitmap of the whole disk.

use std::path::{Path, PathBuf};

use vhd_nostd::bitmap::{BitOrder, Bitmap};
use vhd_nostd::Source;
use vhd_std::path::basename;
use vhd_std::{Errno, Image, OpenOptions, VhdDisk};

/// One image's counts, in sectors.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Sectors of the allocated blocks the virtual size covers (whole blocks).
    pub allocated: u64,
    /// Sectors whose bitmap bit is set.
    pub written: u64,
    /// Written sectors the image before it (its parent) has not written.
    pub not_in_parent: u64,
    /// Written sectors no image before it has written.
    pub not_in_ancestors: u64,
}

/// The share `num / den` as a percentage, 0 for an empty `den`; computed in single
/// precision as blktap3 does, so that the printed `%.2f` is the same.
fn pct(num: u64, den: u64) -> f64 {
    if den == 0 {
        return 0.0;
    }
    let share = num as f32 / den as f32;
    f64::from((f64::from(share) * 100.0) as f32)
}

/// The line `check -s` prints for one image; `with_parent` adds the chain counts.
pub fn line(name: &str, c: &Counts, with_parent: bool) -> String {
    let mut s = format!(
        "{name}: secs allocated: 0x{:x} secs written: 0x{:x} ({:.2}%)",
        c.allocated,
        c.written,
        pct(c.written, c.allocated)
    );
    if with_parent {
        s.push_str(&format!(
            " secs not in parent: 0x{:x} ({:.2}%) secs not in ancestors: 0x{:x} ({:.2}%)",
            c.not_in_parent,
            pct(c.not_in_parent, c.written),
            c.not_in_ancestors,
            pct(c.not_in_ancestors, c.written)
        ));
    }
    s
}

/// Prints the lines for `checked` (in the order checked: the image, then its
/// ancestors), the deepest ancestor first; an error reading a bitmap is printed and
/// returned as a negative errno.
pub fn print(checked: &[PathBuf]) -> Result<(), i32> {
    let paths: Vec<&Path> = checked.iter().rev().map(PathBuf::as_path).collect();
    let counts = count(&paths).map_err(|(msg, e)| {
        println!("{msg}");
        e.code()
    })?;
    for (i, (p, c)) in paths.iter().zip(&counts).enumerate() {
        println!("{}", line(&basename(p), c, i > 0));
    }
    Ok(())
}

/// The counts of each image of `paths`, which runs from the deepest ancestor to the
/// child: each image's parent is the one before it.
pub fn count(paths: &[&Path]) -> Result<Vec<Counts>, (String, Errno)> {
    let opts = OpenOptions {
        ignore_disabled: true,
        ..Default::default()
    };
    let mut images = Vec::with_capacity(paths.len());
    for p in paths {
        let img = Image::open(p, opts)
            .map_err(|e| (format!("error opening {}: {}", p.display(), e.code()), e))?;
        images.push(img);
    }
    let mut counts: Vec<Counts> = images
        .iter()
        .map(|i| Counts {
            allocated: allocated_sectors(i.disk()),
            ..Default::default()
        })
        .collect();
    let window = images
        .iter()
        .map(|i| i.disk().sectors_per_block())
        .max()
        .unwrap_or(1)
        .max(1);
    let end = images.iter().map(|i| i.disk().sectors()).max().unwrap_or(0);
    let bytes = window.div_ceil(8) as usize;
    let (mut cur, mut prev, mut seen) = (vec![0u8; bytes], vec![0u8; bytes], vec![0u8; bytes]);
    let mut base = 0u64;
    while base < end {
        if images.iter().any(|i| allocated_in(i.disk(), base, window)) {
            for (n, img) in images.iter_mut().enumerate() {
                written_in(img.disk_mut(), base, window, &mut cur)?;
                tally(&mut counts[n], &cur, &mut prev, &mut seen, n > 0);
            }
            prev.fill(0);
            seen.fill(0);
        }
        base += u64::from(window);
    }
    Ok(counts)
}

/// Adds one window of an image (`bits`) to its counts; `prev` becomes it, `seen` takes
/// it in. Only a child (`in_chain`) counts what its parent and ancestors lack.
fn tally(c: &mut Counts, bits: &[u8], prev: &mut [u8], seen: &mut [u8], in_chain: bool) {
    for ((&w, p), s) in bits.iter().zip(prev.iter_mut()).zip(seen.iter_mut()) {
        c.written += u64::from(w.count_ones());
        if in_chain {
            c.not_in_parent += u64::from((w & !*p).count_ones());
            c.not_in_ancestors += u64::from((w & !*s).count_ones());
        }
        *s |= w;
        *p = w;
    }
}

/// Sectors of the allocated blocks `disk`'s virtual size covers.
fn allocated_sectors(disk: &VhdDisk) -> u64 {
    let spb = disk.sectors_per_block().max(1);
    let blocks = disk.sectors().div_ceil(u64::from(spb));
    let n = disk
        .bat()
        .allocated()
        .filter(|&(b, _)| u64::from(b) < blocks)
        .count();
    n as u64 * u64::from(spb)
}

/// Whether `disk` has a block allocated among those holding sectors
/// `base..base + window` (`base` a multiple of `window`, itself of the block size).
fn allocated_in(disk: &VhdDisk, base: u64, window: u32) -> bool {
    let spb = u64::from(disk.sectors_per_block().max(1));
    let end = (base + u64::from(window)).min(disk.sectors());
    let mut s = base;
    while s < end {
        if u32::try_from(s / spb).is_ok_and(|b| disk.bat().get(b).is_some()) {
            return true;
        }
        s += spb;
    }
    false
}

/// Sets in `bits` (bit 0 = sector `base`) the sectors of `base..base + window` that
/// `disk` holds, by the core's map of its bitmaps; clears the rest.
fn written_in(
    disk: &mut VhdDisk,
    base: u64,
    window: u32,
    bits: &mut [u8],
) -> Result<(), (String, Errno)> {
    bits.fill(0);
    let mut map = Bitmap::new(bits, BitOrder::MsbFirst);
    let end = (base + u64::from(window)).min(disk.sectors());
    let spb = u64::from(disk.sectors_per_block().max(1));
    let mut s = base;
    while s < end {
        let (src, n) = disk.map_sectors(s, (end - s) as u32).map_err(|e| {
            let e = Errno::from(e);
            (format!("error reading bitmap 0x{:x}", s / spb), e)
        })?;
        if matches!(src, Source::Data(_)) {
            map.set_range((s - base) as u32, n);
        }
        s += u64::from(n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_as_single_precision_printf() {
        assert_eq!(pct(0, 0), 0.0);
        assert_eq!(format!("{:.2}", pct(1, 3)), "33.33");
        assert_eq!(format!("{:.2}", pct(2, 3)), "66.67");
        assert_eq!(format!("{:.2}", pct(4096, 4096)), "100.00");
        assert_eq!(format!("{:.2}", pct(1, 8)), "12.50");
    }

    #[test]
    fn lines() {
        let c = Counts {
            allocated: 0x2000,
            written: 0x10,
            not_in_parent: 0x8,
            not_in_ancestors: 0x4,
        };
        assert_eq!(
            line("a.vhd", &c, false),
            "a.vhd: secs allocated: 0x2000 secs written: 0x10 (0.20%)"
        );
        assert_eq!(
            line("a.vhd", &c, true),
            "a.vhd: secs allocated: 0x2000 secs written: 0x10 (0.20%) \
             secs not in parent: 0x8 (50.00%) secs not in ancestors: 0x4 (25.00%)"
        );
    }
}
