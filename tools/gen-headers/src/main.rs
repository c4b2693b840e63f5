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
use vhd::consts::{CDefine, CValue, DEFINES};
use vhd::journal::JOURNAL_DEFINES;

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
    /// `#include <...>` lines.
    sys_includes: &'static [&'static str],
    /// `#include "..."` lines.
    includes: &'static [&'static str],
    /// Constants to `#define` after the includes.
    defines: &'static [CDefine],
    /// C text after the constants.
    prelude: &'static str,
    /// C text after the declarations.
    trailer: &'static str,
}

const HEADERS: &[Header] = &[
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
            "batmap.rs",
            "bitmap.rs",
            "parent.rs",
            "io.rs",
        ],
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
        defines: DEFINES,
        prelude: include_str!("../fragments/libvhd-macros.h"),
        trailer: include_str!("../fragments/libvhd-inline.h"),
    },
    Header {
        file: "libvhd-journal.h",
        guard: "LIBVHD_JOURNAL_H",
        about: "libvhd's metadata journal (resize and vhd-update undo).",
        sources: &["journal.rs"],
        sys_includes: &[],
        includes: &["libvhd.h"],
        defines: JOURNAL_DEFINES,
        prelude: "",
        trailer: "",
    },
    Header {
        file: "vhd-util.h",
        guard: "VHD_UTIL_H",
        about: "The vhd-util subcommands, as the C vhd-util dispatches to them.",
        sources: &["util.rs"],
        sys_includes: &[],
        includes: &[],
        defines: &[],
        prelude: "",
        trailer: "",
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
    let mut after = render_defines(h.defines);
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
    if !h.trailer.is_empty() {
        trailer.push_str(h.trailer.trim_end());
        trailer.push_str("\n\n");
    }
    trailer.push_str(&format!("#endif /* {} */", h.guard));
    c.trailer = Some(trailer);
    c.function.sort_by = Some(SortKey::None);
    c.constant.allow_static_const = false;
    // libuuid's type comes from <uuid/uuid.h>.
    c.export.exclude = vec!["uuid_t".to_owned()];
    c
}

/// The text of header `h`, generated from the sources in `src_dir`.
fn generate(h: &Header, src_dir: &Path) -> Result<Vec<u8>, String> {
    let mut builder = Builder::new().with_config(config(h));
    for s in h.sources {
        builder = builder.with_src(src_dir.join(s));
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

fn main() -> ExitCode {
    let root = workspace_root();
    let out_dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| root.join("include"), PathBuf::from);
    let src_dir = root.join("capi/src");
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        eprintln!("gen-headers: {}: {e}", out_dir.display());
        return ExitCode::FAILURE;
    }
    for h in HEADERS {
        let path = out_dir.join(h.file);
        let written = generate(h, &src_dir).and_then(|text| {
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
        });
        if let Err(e) = written {
            eprintln!("gen-headers: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
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
        for h in HEADERS {
            let a = generate(h, &src).unwrap();
            let b = generate(h, &src).unwrap();
            assert_eq!(a, b, "{} differs between runs", h.file);
            let text = String::from_utf8(a).unwrap();
            assert!(text.contains(&format!("#ifndef {}", h.guard)));
            for d in h.defines {
                assert!(text.contains(&format!("#define {}", d.name)), "{}", d.name);
            }
        }
    }
}
