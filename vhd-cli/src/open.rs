//! Opening the image a subcommand names, with the reference's report on failure.

use std::path::Path;

use vhd_std::{walk_chain, ChainEnd, Image, OpenOptions};

/// Opens `name`; on failure prints `error opening <name>: <err>` as vhd-util does and
/// returns the negative errno to exit with.
pub fn open_image(name: &str, opts: OpenOptions) -> Result<Image, i32> {
    Image::open(name, opts).map_err(|e| {
        println!("error opening {name}: {e}");
        e.code()
    })
}

/// [`open_image`] read-write, with the normal options.
pub fn open_image_rw(name: &str) -> Result<Image, i32> {
    let opts = OpenOptions {
        writable: true,
        ..Default::default()
    };
    open_image(name, opts)
}

/// The line every subcommand prints for a chain of parents that comes back to a file
/// already in it (the reference loops until it runs out of descriptors).
pub fn loop_message(name: &str, path: &Path) -> String {
    format!("{name}: parent chain loops back to {}", path.display())
}

/// Refuses an image whose chain of parents comes back to a file already in it (a
/// parent that is the image itself through a link or `..`, or a longer cycle), naming
/// the file, with `-EINVAL`. Other failures of the walk are left to the subcommand,
/// which reports them in its own words when it follows the chain itself.
pub fn refuse_chain_loop(name: &str, img: &mut Image) -> Result<(), i32> {
    match walk_chain(img) {
        Ok(ChainEnd::Loop { path }) => {
            println!("{}", loop_message(name, &path));
            Err(-libc::EINVAL)
        }
        _ => Ok(()),
    }
}
