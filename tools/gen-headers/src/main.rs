//! Generates libvhd's C headers (`include/libvhd.h`, `include/libvhd-journal.h`,
//! `include/vhd-util.h`) from the `vhd-capi` sources.
//!
//! cbindgen (as a library) declares the structs, typedefs, exported data and functions
//! from the Rust sources; the `#define`d constants come from the crate's own tables
//! (`vhd::consts::DEFINES`, `vhd::journal::JOURNAL_DEFINES`), so their C spelling and
//! values follow the Rust constants; the function-like macros and inline helpers, which
//! have no Rust source, are the C fragments in `fragments/`.
//!
//! Usage: `gen-headers [OUTDIR]` (default: the workspace's `include/`). The output
//! depends only on the sources, so regenerating unchanged sources gives identical files
//! (`make check-headers` relies on it).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cbindgen::{
    Builder, Config, DocumentationLength, DocumentationStyle, Language, SortKey, Style,
};
use vhd::blktap3::consts::{BLKTAP3_DEFINES, INDEX_DEFINES};
use vhd::consts::{CDefine, CValue, DEFINES};
use vhd::journal::JOURNAL_DEFINES;

mod cfg;

/// One generated header.
struct Header {
    /// File name under the output directory.
    file: &'static str,
    /// Include guard macro.
    guard: &'static str,
    /// What the header is, for its opening comment.
    about: &'static str,
    /// `capi/src` files cbindgen reads for this header.
    sources: &'static [&'static str],
    /// Exported items of those files that the header does not declare (the reference
    /// exports them without a declaration).
    exclude: &'static [&'static str],
    /// Types to declare though no exported function of the header uses them.
    types: &'static [&'static str],
    /// `#include <...>` lines.
    sys_includes: &'static [&'static str],
    /// `#include "..."` lines.
    includes: &'static [&'static str],
    /// Tables of constants to `#define` after the includes, in order; an entry of a later
    /// table replaces the earlier one of the same name in place.
    defines: &'static [&'static [CDefine]],
    /// C text after the constants.
    prelude: &'static str,
    /// C text after the declarations, the fragments joined.
    trailer: &'static [&'static str],
}

/// Which C ABI a header set declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    /// Xen's blktap2 `libvhd.so.1.0`.
    Blktap2,
    /// xapi-project/blktap's `libvhd.so.0`.
    Blktap3,
}

impl Flavour {
    /// The cargo features of `vhd-capi` that build this flavour.
    fn features(self) -> &'static [&'static str] {
        match self {
            Flavour::Blktap2 => &[],
            Flavour::Blktap3 => &["blktap3"],
        }
    }

    /// Its headers.
    fn headers(self) -> &'static [Header] {
        match self {
            Flavour::Blktap2 => BLKTAP2,
            Flavour::Blktap3 => BLKTAP3,
        }
    }

    /// Where its headers are kept, under the workspace.
    fn dir(self) -> &'static str {
        match self {
            Flavour::Blktap2 => "include",
            Flavour::Blktap3 => "include/blktap3",
        }
    }
}

/// The headers of blktap2's `libvhd.so.1.0`.
const BLKTAP2: &[Header] = &[
    Header {
        file: "libvhd.h",
        guard: "LIBVHD_H",
        about: "libvhd: VHD images (structs, constants, functions and inline helpers).",
        sources: &[
            "types.rs",
            "testfail.rs",
            "helpers.rs",
            "uuid.rs",
            "path.rs",
            "open.rs",
            "create.rs",
            "meta.rs",
            "bat.rs",
            "extent.rs",
            "batmap.rs",
            "bitmap.rs",
            "parent.rs",
            "io.rs",
        ],
        exclude: &[],
        types: &[],
        // The reference's libvhd.h, vhd.h and vhd-uuid.h bring in string.h, inttypes.h,
        // endian.h and byteswap.h; clients (tapdisk's driver) rely on them.
        sys_includes: &[
            "stdint.h",
            "stddef.h",
            "string.h",
            "inttypes.h",
            "endian.h",
            "byteswap.h",
            "sys/types.h",
            "time.h",
            "uuid/uuid.h",
        ],
        includes: &[],
        defines: &[DEFINES],
        prelude: include_str!("../fragments/libvhd-macros.h"),
        trailer: &[
            include_str!("../fragments/blktap2-inline-head.h"),
            include_str!("../fragments/libvhd-inline.h"),
            include_str!("../fragments/blktap2-inline-tail.h"),
        ],
    },
    Header {
        file: "libvhd-journal.h",
        guard: "LIBVHD_JOURNAL_H",
        about: "libvhd's metadata journal (resize and vhd-update undo).",
        sources: &["journal.rs"],
        exclude: &[],
        types: &[],
        sys_includes: &[],
        includes: &["libvhd.h"],
        defines: &[JOURNAL_DEFINES],
        prelude: "",
        trailer: &[],
    },
    Header {
        file: "vhd-util.h",
        guard: "VHD_UTIL_H",
        about: "The vhd-util subcommands, as the C vhd-util dispatches to them.",
        sources: &["util.rs"],
        exclude: &[],
        types: &[],
        sys_includes: &[],
        includes: &[],
        defines: &[],
        prelude: "",
        trailer: &[],
    },
];

/// The headers of blktap3's `libvhd.so.0`, installed under `include/vhd/`: the same
/// sources as blktap2's seen with the `blktap3` feature, plus `blktap3/`.
const BLKTAP3: &[Header] = &[
    Header {
        file: "libvhd.h",
        guard: "LIBVHD_H",
        about: "libvhd (blktap3, libvhd.so.0): VHD images (structs, constants, functions \
                and inline helpers).",
        sources: &[
            "types.rs",
            "blktap3/types.rs",
            "testfail.rs",
            "blktap3/data.rs",
            "helpers.rs",
            "path.rs",
            "blktap3/path.rs",
            "open.rs",
            "blktap3/open.rs",
            "create.rs",
            "blktap3/create.rs",
            "meta.rs",
            "blktap3/meta.rs",
            "bat.rs",
            "extent.rs",
            "batmap.rs",
            "blktap3/batmap.rs",
            "bitmap.rs",
            "parent.rs",
            "blktap3/parent.rs",
            "io.rs",
            "blktap3/io.rs",
        ],
        // Exported, used inside the reference, declared nowhere it installs; and the
        // variadic `open_optional_odirect`, declared by the trailer.
        exclude: &[
            "vhd_open_fast",
            "vhd_read_short_footer",
            "open_optional_odirect",
        ],
        types: &["vhd_keyhash"],
        sys_includes: &[
            "stdint.h",
            "stddef.h",
            "stdbool.h",
            "string.h",
            "inttypes.h",
            "endian.h",
            "byteswap.h",
            "sys/types.h",
            "time.h",
            "uuid/uuid.h",
        ],
        includes: &["list.h"],
        defines: &[DEFINES, BLKTAP3_DEFINES],
        prelude: include_str!("../fragments/libvhd-macros.h"),
        trailer: &[
            include_str!("../fragments/blktap3-inline-head.h"),
            include_str!("../fragments/libvhd-inline.h"),
            include_str!("../fragments/blktap3-inline-tail.h"),
        ],
    },
    Header {
        file: "list.h",
        guard: "VHD_LIST_H",
        about: "Kernel-style linked lists (struct list_head), as libvhd.h uses them.",
        sources: &["blktap3/list.rs"],
        exclude: &[],
        types: &["list_head"],
        sys_includes: &["stddef.h"],
        includes: &[],
        defines: &[],
        prelude: "",
        trailer: &[include_str!("../fragments/list.h")],
    },
    Header {
        file: "vhd.h",
        guard: "VHD_VHD_H",
        about: "The VHD on-disk structs and constants: declared by libvhd.h.",
        sources: &[],
        exclude: &[],
        types: &[],
        sys_includes: &[],
        includes: &["libvhd.h"],
        defines: &[],
        prelude: "",
        trailer: &[],
    },
    Header {
        file: "libvhd-journal.h",
        guard: "LIBVHD_JOURNAL_H",
        about: "libvhd's metadata journal (resize undo).",
        sources: &["journal.rs"],
        exclude: &[],
        types: &[],
        sys_includes: &[],
        includes: &["libvhd.h"],
        defines: &[JOURNAL_DEFINES],
        prelude: "",
        trailer: &[],
    },
    Header {
        file: "vhd-util.h",
        guard: "VHD_UTIL_H",
        about: "The vhd-util subcommands, as the C vhd-util and td-util call them.",
        sources: &["util.rs", "blktap3/util.rs"],
        exclude: &["vhd_util_get_vhd_basename", "read_encryption_key"],
        types: &[],
        sys_includes: &[],
        includes: &[],
        defines: &[],
        prelude: "",
        trailer: &[],
    },
    Header {
        file: "libvhd-index.h",
        guard: "LIBVHD_INDEX_H",
        about: "vhd-index: block index files of tapdisk's vindex driver.",
        sources: &["blktap3/index.rs"],
        exclude: &[],
        types: &[],
        sys_includes: &["stdint.h", "uuid/uuid.h"],
        includes: &[],
        defines: &[INDEX_DEFINES],
        prelude: "",
        trailer: &[],
    },
];

/// Width of the name column of `#define` lines.
const NAME_COLUMN: usize = 27;

/// The C spelling of a constant's value.
fn c_value(value: CValue) -> String {
    match value {
        CValue::Dec(v) => v.to_string(),
        CValue::DecUll(v) => format!("{v}ULL"),
        CValue::Hex(v) if v <= u64::from(u32::MAX) => format!("0x{v:08X}"),
        CValue::Hex(v) => format!("0x{v:016X}"),
        CValue::HexUll(v) => format!("0x{v:016X}ULL"),
        CValue::Str(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
            out
        }
    }
}

/// A constant's documentation as one line of C comment text: rustdoc lines joined,
/// intra-doc link brackets removed.
fn c_comment(doc: &str) -> String {
    let text = doc
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    text.replace("[`", "`")
        .replace("`]", "`")
        .replace("*/", "* /")
}

/// The constants of `tables` in order, a later entry replacing an earlier one of the same
/// name where that one stood.
fn merge_defines(tables: &[&[CDefine]]) -> Vec<CDefine> {
    let mut out: Vec<CDefine> = Vec::new();
    for d in tables.iter().flat_map(|t| t.iter()) {
        match out.iter_mut().find(|o| o.name == d.name) {
            Some(o) => *o = *d,
            None => out.push(*d),
        }
    }
    out
}

/// `#define` lines for `defines`, each with its documentation as a trailing comment.
fn render_defines(defines: &[CDefine]) -> String {
    let mut out = String::new();
    for d in defines {
        let value = c_value(d.value);
        let line = format!("#define {:<NAME_COLUMN$} {value}", d.name);
        let comment = c_comment(d.doc);
        if comment.is_empty() {
            out.push_str(&line);
        } else {
            out.push_str(&format!("{line} /* {comment} */"));
        }
        out.push('\n');
    }
    out
}

/// The cbindgen configuration of one header.
fn config(h: &Header) -> Config {
    let mut c = Config {
        language: Language::C,
        style: Style::Tag,
        cpp_compat: true,
        // The guard is written with the header and trailer text so that it also covers
        // the trailer (cbindgen closes its own guard before the trailer).
        include_guard: None,
        no_includes: true,
        sys_includes: h.sys_includes.iter().map(|s| s.to_string()).collect(),
        includes: h.includes.iter().map(|s| s.to_string()).collect(),
        header: Some(format!(
            "/*\n * {}\n *\n * Generated by tools/gen-headers from capi/src; do not edit.\n \
             * Regenerate with `make headers`.\n */\n\n#ifndef {guard}\n#define {guard}",
            h.about,
            guard = h.guard
        )),
        usize_is_size_t: true,
        documentation: true,
        documentation_style: DocumentationStyle::Doxy,
        documentation_length: DocumentationLength::Full,
        line_length: 100,
        tab_width: 8,
        ..Config::default()
    };
    let mut after = render_defines(&merge_defines(h.defines));
    if !h.prelude.is_empty() {
        if !after.is_empty() {
            after.push('\n');
        }
        after.push_str(h.prelude.trim_end());
    }
    if !after.is_empty() {
        c.after_includes = Some(format!("\n{}", after.trim_end()));
    }
    let mut trailer = String::new();
    let fragments = h.trailer.concat();
    if !fragments.is_empty() {
        trailer.push_str(fragments.trim_end());
        trailer.push_str("\n\n");
    }
    trailer.push_str(&format!("#endif /* {} */", h.guard));
    c.trailer = Some(trailer);
    c.function.sort_by = Some(SortKey::None);
    c.constant.allow_static_const = false;
    // libuuid's type comes from <uuid/uuid.h>.
    c.export.exclude = vec!["uuid_t".to_owned()];
    c.export
        .exclude
        .extend(h.exclude.iter().map(|s| (*s).to_owned()));
    c.export.include = h.types.iter().map(|s| (*s).to_owned()).collect();
    if h.includes.contains(&"list.h") {
        // Declared by list.h; named with its tag here.
        c.export.exclude.push("list_head".to_owned());
        c.export
            .rename
            .insert("list_head".to_owned(), "struct list_head".to_owned());
    }
    c
}

/// The text of header `h` of `flavour`, generated from the sources in `src_dir`; the
/// sources are configured for the flavour in `work` (a scratch directory) first.
fn generate(h: &Header, flavour: Flavour, src_dir: &Path, work: &Path) -> Result<Vec<u8>, String> {
    let mut builder = Builder::new().with_config(config(h));
    for (i, s) in h.sources.iter().enumerate() {
        let path = src_dir.join(s);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let text = cfg::configure(&text, flavour.features())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let out = work.join(format!("{}-{i}.rs", h.file));
        std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
        builder = builder.with_src(out);
    }
    let bindings = builder.generate().map_err(|e| format!("{}: {e}", h.file))?;
    let mut out = Vec::new();
    bindings.write(&mut out);
    Ok(out)
}

/// The workspace root (two levels above this crate).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self, String> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("gen-headers.{}.{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes the headers of `flavour` to `out_dir`.
fn run(flavour: Flavour, out_dir: &Path) -> Result<(), String> {
    let src_dir = workspace_root().join("capi/src");
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let work = Scratch::new()?;
    for h in flavour.headers() {
        let path = out_dir.join(h.file);
        let text = generate(h, flavour, &src_dir, &work.0)?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let flavour = match args.first().and_then(|a| a.to_str()) {
        Some("--flavour=blktap3") => Flavour::Blktap3,
        Some("--flavour=blktap2") => Flavour::Blktap2,
        Some(a) if a.starts_with("--") => {
            eprintln!("usage: gen-headers [--flavour=blktap2|blktap3] [OUTDIR]");
            return ExitCode::FAILURE;
        }
        _ => Flavour::Blktap2,
    };
    if args
        .first()
        .and_then(|a| a.to_str())
        .is_some_and(|a| a.starts_with("--"))
    {
        args.remove(0);
    }
    let out_dir = args
        .first()
        .map_or_else(|| workspace_root().join(flavour.dir()), PathBuf::from);
    match run(flavour, &out_dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-headers: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_spelled_as_c_expects() {
        assert_eq!(c_value(CValue::Dec(512)), "512");
        assert_eq!(c_value(CValue::DecUll(2097152)), "2097152ULL");
        assert_eq!(c_value(CValue::Hex(0x10000)), "0x00010000");
        assert_eq!(
            c_value(CValue::HexUll(0xAAAA_1234_4321_AAAA)),
            "0xAAAA12344321AAAAULL"
        );
        assert_eq!(c_value(CValue::Str("a\"b")), "\"a\\\"b\"");
        assert_eq!(
            c_comment(" Sector size of [`X`].\n Second line.\n"),
            "Sector size of `X`. Second line."
        );
    }

    #[test]
    fn generation_is_deterministic_and_complete() {
        let src = workspace_root().join("capi/src");
        let work = Scratch::new().unwrap();
        for flavour in [Flavour::Blktap2, Flavour::Blktap3] {
            for h in flavour.headers() {
                let a = generate(h, flavour, &src, &work.0).unwrap();
                let b = generate(h, flavour, &src, &work.0).unwrap();
                assert_eq!(a, b, "{} differs between runs", h.file);
                let text = String::from_utf8(a).unwrap();
                assert!(text.contains(&format!("#ifndef {}", h.guard)));
                for d in merge_defines(h.defines) {
                    assert!(text.contains(&format!("#define {}", d.name)), "{}", d.name);
                }
            }
        }
    }

    #[test]
    fn later_tables_override_in_place() {
        let a = [
            CDefine {
                name: "A",
                doc: "",
                value: CValue::Dec(1),
            },
            CDefine {
                name: "B",
                doc: "",
                value: CValue::Dec(2),
            },
        ];
        let b = [
            CDefine {
                name: "A",
                doc: "",
                value: CValue::Dec(3),
            },
            CDefine {
                name: "C",
                doc: "",
                value: CValue::Dec(4),
            },
        ];
        let m = merge_defines(&[&a, &b]);
        let got: Vec<_> = m.iter().map(|d| (d.name, d.value)).collect();
        assert_eq!(
            got,
            [
                ("A", CValue::Dec(3)),
                ("B", CValue::Dec(2)),
                ("C", CValue::Dec(4))
            ]
        );
    }
}
