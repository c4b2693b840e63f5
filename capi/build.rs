//! Gives the shared library the soname C clients link against (`libvhd.so.1.0`, as the
//! reference `vhd/lib/Makefile` does); `make lib` installs the file as `libvhd.so.1.0.0`
//! with the usual symlinks.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libvhd.so.1.0");
    println!("cargo:rerun-if-changed=build.rs");
}
