//! The header's parent name of a differencing disk made by Windows holds a full Windows
//! path; vhd-util shows and compares it decoded as the reference does (as a `W2ku`
//! location: drive letter dropped, `\` turned into `/`).

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_vhd-util");

fn image() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/images/fat-differential.vhd")
        .to_string_lossy()
        .into_owned()
}

fn run(args: &[&str]) -> String {
    let o = Command::new(BIN)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn read_check_and_scan_print_the_decoded_parent_name() {
    let img = image();
    let read = run(&["read", "-n", &img, "-p"]);
    assert!(
        read.contains("\nParent name         : /Projects/dfvfs/test_data/fat-parent.vhd\n"),
        "{read}"
    );
    let check = run(&["check", "-n", &img]);
    assert!(
        check
            .lines()
            .next()
            .unwrap_or("")
            .ends_with("does not match header name (/Projects/dfvfs/test_data/fat-parent.vhd)"),
        "{check}"
    );
    let scan = run(&["scan", "-f", &img]);
    assert!(
        scan.ends_with("parent=fat-parent.vhd\n"),
        "the basename of the decoded name: {scan}"
    );
}
