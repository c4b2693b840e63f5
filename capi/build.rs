//! Gives the shared library the soname C clients link against: `libvhd.so.1.0` for
//! blktap2 (as the reference `vhd/lib/Makefile` does), `libvhd.so.0` for blktap3 (libtool
//! `-version-info 1:1:1`). `make lib` installs the file as `libvhd.so.1.0.0` or
//! `libvhd.so.0.1.1` with the usual symlinks.

fn main() {
    let soname = if std::env::var_os("CARGO_FEATURE_BLKTAP3").is_some() {
        "libvhd.so.0"
    } else {
        "libvhd.so.1.0"
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    println!("cargo:rerun-if-changed=build.rs");
}
