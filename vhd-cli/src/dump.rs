//! The metadata dump of `vhd-util read -p` (and of `check` on a failure): footer,
//! header, parent locators and batmap header, labels padded to 20 columns.

use std::io::Read;
use std::os::unix::fs::FileExt;

use vhd_nostd::batmap::BatmapHeader;
use vhd_nostd::footer::{self, Footer, FOOTER_SIZE};
use vhd_nostd::header::{Header, HEADER_SIZE};
use vhd_nostd::keyhash::KeyHash;
use vhd_nostd::locator::{self, LOCATOR_COUNT};
use vhd_nostd::Io;
use vhd_std::{Image, VhdDisk};

use crate::out::{conv, time_string};

/// `HD_TYPE_STR`, indexed by the footer's disk type.
const HD_TYPE_STR: [&str; 7] = [
    "None",
    "Reserved (deprecated)",
    "Fixed hard disk",
    "Dynamic hard disk",
    "Differencing hard disk",
    "Reserved (deprecated)",
    "Reserved (deprecated)",
];

/// Prints `label` padded to 20 columns, `: `, then `value`.
fn field(label: &str, value: impl std::fmt::Display) {
    println!("{label:<20}: {value}");
}

/// Bytes up to the first NUL, as `%s` prints a fixed-size char array.
fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn checksum_line(stored: u32, computed: u32) -> String {
    let verdict = if stored == computed { "Good!" } else { "Bad!" };
    format!("0x{stored:x}|0x{computed:x} ({verdict})")
}

/// The footer summary.
pub fn print_footer(f: &Footer, hex: bool) {
    println!("VHD Footer Summary:");
    println!("-------------------");
    field("Cookie", c_str(&f.cookie));
    field(
        "Features",
        format!(
            "(0x{:08x}) {}{}",
            f.features,
            if f.features & footer::FEATURE_TEMPORARY != 0 {
                "<TEMP>"
            } else {
                ""
            },
            if f.features & footer::FEATURE_RESERVED != 0 {
                "<RESV>"
            } else {
                ""
            }
        ),
    );
    field(
        "File format version",
        format!(
            "Major: {}, Minor: {}",
            f.ff_version >> 16,
            f.ff_version & 0xffff
        ),
    );
    field("Data offset", conv(hex, f.data_offset));
    field("Timestamp", time_string(f.timestamp));
    field("Creator Application", format!("'{}'", c_str(&f.crtr_app)));
    field(
        "Creator version",
        format!(
            "Major: {}, Minor: {}",
            f.crtr_ver >> 16,
            f.crtr_ver & 0xffff
        ),
    );
    let os = match f.crtr_os {
        footer::CREATOR_OS_WINDOWS => "Windows",
        footer::CREATOR_OS_MACINTOSH => "Macintosh",
        _ => "Unknown!",
    };
    field("Creator OS", os);
    for (label, v) in [
        ("Original disk size", f.orig_size),
        ("Current disk size", f.curr_size),
    ] {
        field(
            label,
            format!("{} MB ({} Bytes)", conv(hex, v >> 20), conv(hex, v)),
        );
    }
    let g = vhd_nostd::geometry::Chs::decode(f.geometry);
    field(
        "Geometry",
        format!(
            "Cyl: {}, Hds: {}, Sctrs: {}",
            conv(hex, u64::from(g.cylinders)),
            conv(hex, u64::from(g.heads)),
            conv(hex, u64::from(g.sectors))
        ),
    );
    let cap = u64::from(g.cylinders) * u64::from(g.heads) * u64::from(g.sectors);
    field(
        "",
        format!(
            "= {} MB ({} Bytes)",
            conv(hex, cap / 2048),
            conv(hex, cap * 512)
        ),
    );
    match HD_TYPE_STR.get(f.disk_type as usize) {
        Some(s) => field("Disk type", s),
        None => field("Disk type", "Unknown type!\n"),
    }
    field("Checksum", checksum_line(f.checksum, f.compute_checksum()));
    field("UUID", f.uuid.hyphenated());
    field("Saved state", if f.saved == 0 { "No" } else { "Yes" });
    field("Hidden", f.hidden as i8);
    println!();
}

/// The header summary.
pub fn print_header(h: &Header, hex: bool) {
    println!("VHD Header Summary:");
    println!("-------------------");
    field("Cookie", c_str(&h.cookie));
    field("Data offset (unusd)", conv(hex, h.data_offset));
    field("Table offset", conv(hex, h.table_offset));
    field("Header version", format!("0x{:08x}", h.hdr_ver));
    field("Max BAT size", conv(hex, u64::from(h.max_bat_size)));
    field(
        "Block size",
        format!(
            "{} ({} MB)",
            conv(hex, u64::from(h.block_size)),
            conv(hex, u64::from(h.block_size >> 20))
        ),
    );
    let mut name = [0u8; 1024];
    match h.parent_location(&mut name) {
        Ok(n) => field("Parent name", n),
        Err(_) => field("Parent name", "failed to read name"),
    }
    field("Parent UUID", h.prt_uuid.hyphenated());
    field("Parent timestamp", time_string(h.prt_ts));
    field("Checksum", checksum_line(h.checksum, h.compute_checksum()));
    println!();
}

fn plat_code_name(code: u32) -> &'static str {
    match code {
        locator::PLAT_CODE_NONE => "PLAT_CODE_NONE",
        locator::PLAT_CODE_WI2R => "PLAT_CODE_WI2R",
        locator::PLAT_CODE_WI2K => "PLAT_CODE_WI2K",
        locator::PLAT_CODE_W2RU => "PLAT_CODE_W2RU",
        locator::PLAT_CODE_W2KU => "PLAT_CODE_W2KU",
        locator::PLAT_CODE_MAC => "PLAT_CODE_MAC",
        locator::PLAT_CODE_MACX => "PLAT_CODE_MACX",
        _ => "UNKOWN",
    }
}

/// The parent locators of a differencing disk, each non-empty slot with its decoded path.
pub fn print_locators(img: &mut Image, hex: bool) {
    let Some(h) = img.disk().header().cloned() else {
        return;
    };
    println!("VHD Parent Locators:");
    println!("--------------------");
    for (i, l) in h.loc.iter().enumerate().take(LOCATOR_COUNT) {
        if !l.is_used() {
            continue;
        }
        field("locator:", i);
        field("       code", plat_code_name(l.code));
        field("       data_space", conv(hex, u64::from(l.data_space)));
        field("       data_length", conv(hex, u64::from(l.data_len)));
        field("       data_offset", conv(hex, l.data_offset));
        match img.locator_path(i) {
            Ok(p) => field("       decoded name", p),
            Err(_) => field("       decoded name", "failed to read parent name"),
        }
        println!();
    }
}

/// Whether the footer promises a batmap (`vhd_has_batmap`'s version test, the core's
/// rule).
pub fn batmap_version(f: &Footer) -> bool {
    f.batmap_presence() != vhd_nostd::layout::BatmapPresence::Absent
}

/// Reads the batmap's map as stored (whatever its checksum) for the summary's checksum.
fn read_map(disk: &mut VhdDisk, h: &BatmapHeader) -> Option<Vec<u8>> {
    let size = disk.io().size().ok()?;
    let len = h.map_bytes();
    if h.batmap_offset.checked_add(len)? > size {
        return None;
    }
    let mut map = vec![0u8; usize::try_from(len).ok()?];
    disk.io().read_at(h.batmap_offset, &mut map).ok()?;
    Some(map)
}

/// The batmap header summary (for images whose creator version has one).
pub fn print_batmap(disk: &mut VhdDisk, hex: bool) {
    let Some(h) = disk.batmap_header().cloned() else {
        println!("failed to get batmap header");
        return;
    };
    let Some(map) = read_map(disk, &h) else {
        println!("failed to get batmap header");
        return;
    };
    println!("VHD Batmap Summary:");
    println!("-------------------");
    field("Batmap offset", conv(hex, h.batmap_offset));
    field("Batmap size (secs)", conv(hex, u64::from(h.batmap_size)));
    field("Batmap version", format!("0x{:08x}", h.batmap_version));
    if crate::flavour::BLKTAP3 {
        let kh = disk.keyhash_bytes().and_then(|b| KeyHash::decode(&b));
        if let Some(k) = kh {
            field("Batmap keyhash nonce", crate::key::hex(&k.nonce));
            field("Batmap keyhash hash ", crate::key::hex(&k.hash));
        }
    }
    field(
        "Checksum",
        checksum_line(h.checksum, h.compute_checksum(&map)),
    );
    println!();
}

/// Everything `read -p` prints for an open sparse image.
pub fn print_headers(img: &mut Image, hex: bool) {
    let f = img.disk().footer().clone();
    print_footer(&f, hex);
    if let Some(h) = img.disk().header().cloned() {
        print_header(&h, hex);
    }
    if img.is_differencing() {
        print_locators(img, hex);
    }
    if batmap_version(&f) {
        print_batmap(img.disk_mut(), hex);
    }
}

/// The dump of an image that would not open: `\n<name> appears invalid; dumping
/// headers\n\n`, then the footer (the one at the end if its cookie and checksum are
/// right, else the copy at offset 0) and the header at its data offset, whatever they
/// hold. Nothing more if the file cannot be opened.
pub fn print_invalid(name: &str, hex: bool) {
    println!("\n{name} appears invalid; dumping headers\n");
    let Ok(mut file) = std::fs::File::open(name) else {
        return;
    };
    // The image's length: on a block device, where its data ends.
    let len = vhd_std::FileIo::open(name.as_ref(), vhd_std::OpenMode::ReadOnly)
        .and_then(|mut io| io.size())
        .unwrap_or(0);
    let mut fb = [0u8; FOOTER_SIZE];
    let end_ok = len >= FOOTER_SIZE as u64
        && file
            .read_exact_at(&mut fb, len - FOOTER_SIZE as u64)
            .is_ok()
        && Footer::parse(&fb).is_ok();
    if !end_ok {
        fb = [0u8; FOOTER_SIZE];
        let _ = file.read(&mut fb);
    }
    let Ok(f) = Footer::decode(&fb) else {
        return;
    };
    let mut hb = [0u8; HEADER_SIZE];
    if file.read_exact_at(&mut hb, f.data_offset).is_err() {
        hb = [0u8; HEADER_SIZE];
    }
    print_footer(&f, hex);
    if let Ok(h) = Header::decode(&hb) {
        print_header(&h, hex);
    }
}
