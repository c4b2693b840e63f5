//! vhd-util's argument parsing: NUL-separated arguments after `vhd-util`, run in a
//! scratch directory holding a small dynamic image (`a.vhd`) and a snapshot of it
//! (`b.vhd`), rewritten before every run. Arguments naming other directories and
//! numbers above 64 are skipped: the target is the parsing and the refusals, not
//! writing large images.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "capi_harness.rs"]
mod capi_harness;
use capi_harness::{clear, dir};

/// The fixture images, made once per process by the library itself.
fn fixtures() -> &'static [(String, Vec<u8>)] {
    static F: std::sync::OnceLock<Vec<(String, Vec<u8>)>> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let d = dir();
        std::env::set_current_dir(d).unwrap();
        let run = |a: &[&str]| {
            let v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
            assert_eq!(vhd_cli::main_with_args(&v), 0, "fixture {a:?}");
        };
        clear();
        run(&["vhd-util", "create", "-n", "a.vhd", "-s", "4"]);
        run(&["vhd-util", "snapshot", "-n", "b.vhd", "-p", "a.vhd"]);
        ["a.vhd", "b.vhd"]
            .iter()
            .map(|n| (n.to_string(), std::fs::read(d.join(n)).unwrap()))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let args: Vec<String> = std::iter::once("vhd-util".to_string())
        .chain(text.split('\0').map(str::to_string))
        .collect();
    if args.len() > 12
        || args
            .iter()
            .any(|a| a.contains('/') || a.contains("..") || a.parse::<u64>().is_ok_and(|n| n > 64))
    {
        return;
    }
    let fx = fixtures();
    clear();
    for (n, b) in fx {
        std::fs::write(dir().join(n), b).unwrap();
    }
    let code = vhd_cli::main_with_args(&args);
    assert!((0..=255).contains(&code), "exit status {code} for {args:?}");
});
