//! Opening the image a subcommand names, with the reference's report on failure.

use vhd_std::{Image, OpenOptions};

/// Opens `name`; on failure prints `error opening <name>: <err>` as vhd-util does and
/// returns the negative errno to exit with.
pub fn open_image(name: &str, opts: OpenOptions) -> Result<Image, i32> {
    Image::open(name, opts).map_err(|e| {
        println!("error opening {name}: {e}");
        e.code()
    })
}
