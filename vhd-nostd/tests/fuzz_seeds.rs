//! Small images of every kind, used as the fuzzers' seed corpus. The test checks they
//! open and stay small; with `VHD_FUZZ_SEEDS=<dir>` set it also writes them there
//! (`make -C fuzz seeds` does).

use vhd_nostd::DiskType;
use vhd_testkit::*;

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    out.push(("fixed", new_image(DiskType::Fixed, 8192, 0).data));
    out.push((
        "dynamic-100m-empty",
        new_image(DiskType::Dynamic, 100 << 20, 2 << 20).data,
    ));
    let mut d = open(new_image(DiskType::Dynamic, 64 << 10, 4096), true).unwrap();
    d.write(0, &[0x11; 4096]).unwrap();
    d.write(20, &[0x22; 1024]).unwrap();
    out.push(("dynamic-4k-blocks", d.io().data.clone()));
    let io = Child {
        size: 64 << 10,
        block_size: 4096,
        uuid: uuid(5),
        timestamp: 7,
        parent_uuid: d.footer().uuid,
        parent_timestamp: 3,
        parent_path: "./p.vhd",
    }
    .image();
    let mut c = open(io, true).unwrap();
    c.write(3, &[0x33; 512]).unwrap();
    c.write(16, &[0x44; 4096]).unwrap();
    out.push(("differencing-4k-blocks", c.into_io().data));
    out
}

#[test]
fn fuzz_seed_images_open_and_are_small() {
    let seeds = seeds();
    for (name, data) in &seeds {
        assert!(data.len() <= 64 << 10, "{name}: {} bytes", data.len());
        let d = open(VecIo { data: data.clone() }, false).unwrap();
        assert!(d.recovered().is_empty(), "{name}");
    }
    if let Some(dir) = std::env::var_os("VHD_FUZZ_SEEDS") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, data) in &seeds {
            std::fs::write(dir.join(name), data).unwrap();
        }
    }
}
