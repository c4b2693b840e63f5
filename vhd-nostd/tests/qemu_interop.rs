//! Interoperability with qemu's `vpc` driver: images the core writes open in qemu-img and
//! convert to the same raw content; images qemu-io writes read identically through the
//! core. CI installs qemu-utils; a missing qemu-img fails these tests.

use std::path::PathBuf;
use std::process::Command;
use vhd_nostd::footer::DiskType;
use vhd_testkit::*;

fn workdir(name: &str) -> PathBuf {
    vhd_testkit::workdir!("qemu-interop", name)
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e} (install qemu-utils)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn qemu_virtual_size(path: &PathBuf) -> u64 {
    // The human output's first "virtual size" line is the image's own (JSON lists the
    // protocol child's size too).
    let out = run(Command::new("qemu-img")
        .args(["info", "-f", "vpc"])
        .arg(path));
    let s = String::from_utf8(out).unwrap();
    let line = s.lines().find(|l| l.starts_with("virtual size:")).unwrap();
    let i = line.find('(').unwrap() + 1;
    line[i..].split(' ').next().unwrap().parse().unwrap()
}

fn qemu_raw(path: &PathBuf) -> Vec<u8> {
    let raw = path.with_extension("raw");
    run(Command::new("qemu-img")
        .args(["convert", "-f", "vpc", "-O", "raw"])
        .arg(path)
        .arg(&raw));
    std::fs::read(raw).unwrap()
}

#[test]
fn images_we_write_read_the_same_in_qemu() {
    let dir = workdir("ours");
    // Several sizes, including ones that are not a multiple of the block size.
    for (i, (kind, size, bs)) in [
        (DiskType::Dynamic, 12u64 << 20, 2u32 << 20),
        (DiskType::Dynamic, (5 << 20) + 512 * 7, 2 << 20),
        (DiskType::Dynamic, 3 << 20, 512 << 10),
        (DiskType::Fixed, 3 << 20, 0),
        (DiskType::Fixed, (1 << 20) + 512 * 3, 0),
    ]
    .into_iter()
    .enumerate()
    {
        let mut d = open(new_image(kind, size, bs), true).unwrap();
        let sectors = size / 512;
        let mut model = vec![0u8; size as usize];
        for (j, s) in [0, 1, sectors / 3, sectors / 2 + 5, sectors - 9]
            .into_iter()
            .enumerate()
        {
            let n = 8.min(sectors - s) as usize;
            let mut buf = vec![0u8; n * 512];
            pattern(s, j as u8 + 1, &mut buf);
            d.write(s, &buf).unwrap();
            model[s as usize * 512..][..buf.len()].copy_from_slice(&buf);
        }
        let path = dir.join(format!("img{i}.vhd"));
        std::fs::write(&path, &d.into_io().data).unwrap();
        assert_eq!(qemu_virtual_size(&path), size, "{kind:?} {size}");
        assert!(
            qemu_raw(&path) == model,
            "{kind:?} {size}: qemu reads different data"
        );
    }
}

#[test]
fn images_qemu_writes_read_the_same_through_the_core() {
    let dir = workdir("theirs");
    for (i, (sub, size)) in [("dynamic", "10M"), ("fixed", "6M"), ("dynamic", "33M")]
        .into_iter()
        .enumerate()
    {
        let path = dir.join(format!("q{i}.vhd"));
        run(Command::new("qemu-img")
            .args(["create", "-q", "-f", "vpc", "-o"])
            .arg(format!("subformat={sub}"))
            .arg(&path)
            .arg(size));
        run(Command::new("qemu-io")
            .args(["-f", "vpc"])
            .arg(&path)
            .args([
                "-c",
                "write -P 0xab 0 1M",
                "-c",
                "write -P 0x17 3M 4k",
                "-c",
                "write -P 0x5c 2093568 1024",
            ]));
        let expect = qemu_raw(&path);
        let data = std::fs::read(&path).unwrap();
        let mut d = open(VecIo { data }, false).unwrap();
        assert_eq!(d.size(), expect.len() as u64, "{sub} {size}");
        let mut all = vec![0u8; expect.len()];
        d.read(0, &mut all).unwrap();
        assert!(all == expect, "{sub} {size}: the core reads different data");
    }
}
