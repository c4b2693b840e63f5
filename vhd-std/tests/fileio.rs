//! FileIo on a real disk (O_DIRECT where the file system allows it) and on tmpfs (where
//! older kernels refuse O_DIRECT and the buffered fallback is used): aligned and unaligned
//! transfers, reads past the end, and a whole image round trip through the engine.

use std::path::{Path, PathBuf};

use vhd_nostd::footer::DiskType;
use vhd_nostd::Io;
use vhd_std::fileio::{AlignedBuf, FileIo, OpenMode};
use vhd_std::{create_file, Chain, Image, OpenOptions};

/// Work directories, removed again when dropped (the tmpfs one would outlive the run).
struct Dirs(Vec<PathBuf>);

impl Drop for Dirs {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn dirs(test: &str) -> Dirs {
    let disk = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("fileio")
        .join(test);
    let mut v = vec![disk];
    if Path::new("/dev/shm").is_dir() {
        v.push(
            PathBuf::from("/dev/shm").join(format!("vhd-std-fileio-{}-{test}", std::process::id())),
        );
    }
    for d in &v {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).unwrap();
    }
    Dirs(v)
}

fn exercise(io: &mut FileIo) {
    io.set_size(0).unwrap();
    // Aligned buffer, aligned offset: straight through.
    let mut a = AlignedBuf::new(8192);
    a.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
    io.write_at(4096, &a).unwrap();
    assert_eq!(io.size().unwrap(), 12288);
    // Unaligned everything: bounce buffer, read-modify-write of the edge sectors.
    let odd: Vec<u8> = (0..1000).map(|i| (i * 7) as u8).collect();
    io.write_at(4096 + 300, &odd).unwrap();
    let mut back = vec![0u8; 8192];
    io.read_at(4096, &mut back).unwrap();
    let mut want: Vec<u8> = (0..8192).map(|i| i as u8).collect();
    want[300..1300].copy_from_slice(&odd);
    assert_eq!(back, want);
    let mut small = [0u8; 3];
    io.read_at(4096 + 301, &mut small).unwrap();
    assert_eq!(small, [odd[1], odd[2], odd[3]]);
    // A transfer larger than the bounce buffer, unaligned.
    let big: Vec<u8> = (0..(300 << 10)).map(|i| (i % 253) as u8).collect();
    io.write_at(100_000, &big).unwrap();
    let mut got = vec![0u8; big.len()];
    io.read_at(100_000, &mut got).unwrap();
    assert!(got == big);
    vectored(io);
    // Reads past the end are errors, never zeros.
    let end = io.size().unwrap();
    let mut buf = [0u8; 512];
    assert!(io.read_at(end - 100, &mut buf).is_err());
    assert!(io.read_at(end, &mut a[..512]).is_err());
    io.flush().unwrap();
}

/// Scatter/gather: aligned parts (one system call under O_DIRECT), parts with an odd
/// buffer or length (part by part, bounced), and more parts than one call takes.
fn vectored(io: &mut FileIo) {
    let base = io.size().unwrap().div_ceil(4096) * 4096;
    let mut a = AlignedBuf::new(4096);
    let mut b = AlignedBuf::new(8192);
    a.fill(0x11);
    b.iter_mut()
        .enumerate()
        .for_each(|(i, x)| *x = (i / 512) as u8);
    io.write_vectored_at(base, &[&a[..512], &b, &a[..1024]])
        .unwrap();
    let odd: Vec<u8> = (0..700).map(|i| (i % 13) as u8).collect();
    io.write_vectored_at(base + 9728, &[&odd, &a[..300]])
        .unwrap();
    let mut want = vec![0x11u8; 512];
    want.extend_from_slice(&b);
    want.extend_from_slice(&[0x11; 1024]);
    want.extend_from_slice(&odd);
    want.extend_from_slice(&[0x11; 300]);
    let mut whole = vec![0u8; want.len()];
    io.read_at(base, &mut whole).unwrap();
    assert!(whole == want, "vectored writes land in order");
    // Read back scattered: aligned parts, then an unaligned tail part.
    let (mut x, mut y) = (AlignedBuf::new(512), AlignedBuf::new(9216));
    let mut z = vec![0u8; 1000];
    io.read_vectored_at(base, &mut [&mut x[..], &mut y[..], &mut z[..]])
        .unwrap();
    assert!(x[..] == want[..512] && y[..] == want[512..9728] && z[..] == want[9728..]);
    // More parts than one call takes (40 sectors, one part each).
    let sectors = AlignedBuf::new(40 * 512);
    let parts: Vec<&[u8]> = sectors.chunks(512).collect();
    let at = base + 16384;
    io.write_vectored_at(at, &parts).unwrap();
    let mut back = AlignedBuf::new(40 * 512);
    {
        let mut outs: Vec<&mut [u8]> = back.chunks_mut(512).collect();
        io.read_vectored_at(at, &mut outs).unwrap();
    }
    assert!(back[..] == sectors[..]);
    // A read that runs past the end fails, whichever part it is in.
    let end = io.size().unwrap();
    let (mut p, mut q) = (AlignedBuf::new(512), AlignedBuf::new(1024));
    assert!(io
        .read_vectored_at(end - 1024, &mut [&mut p[..], &mut q[..]])
        .is_err());
}

#[test]
fn transfers_direct_and_buffered() {
    let dirs = dirs("transfers");
    for d in dirs.0.iter() {
        let p = d.join("f");
        let mut io = FileIo::open(&p, OpenMode::Create).unwrap();
        eprintln!("{}: O_DIRECT {}", d.display(), io.is_direct());
        exercise(&mut io);
        let mut io = FileIo::open_buffered(&p, OpenMode::ReadWrite).unwrap();
        assert!(!io.is_direct());
        exercise(&mut io);
        assert_eq!(
            FileIo::open(&d.join("missing"), OpenMode::ReadOnly)
                .unwrap_err()
                .0,
            libc::ENOENT
        );
    }
}

#[test]
fn images_on_both_kinds_of_file_system() {
    let dirs = dirs("images");
    for d in dirs.0.iter() {
        let base = d.join("base.vhd");
        create_file(&base, DiskType::Dynamic, 5 << 20).unwrap();
        let rw = OpenOptions {
            writable: true,
            ..Default::default()
        };
        let mut img = Image::open(&base, rw).unwrap();
        assert_eq!(img.disk().size(), 6 << 20, "rounded up to 2 MiB");
        img.disk_mut().write(10, &[0x5a; 4096]).unwrap();
        drop(img);
        vhd_std::snapshot_file(&d.join("snap.vhd"), &base, false).unwrap();
        let mut chain = Chain::open(d.join("snap.vhd"), rw).unwrap();
        chain.write(12, &[0xa5; 512]).unwrap();
        let mut buf = vec![0u8; 16 * 512];
        chain.read(8, &mut buf).unwrap();
        let mut want = vec![0u8; 16 * 512];
        want[2 * 512..10 * 512].fill(0x5a);
        want[4 * 512..5 * 512].fill(0xa5);
        assert_eq!(buf, want);
        assert_eq!(chain.paths()[1], base.canonicalize().unwrap());
    }
}

#[test]
fn chain_errors() {
    let dirs = dirs("chain-errors");
    let d = &dirs.0[0];
    let a = d.join("a.vhd");
    create_file(&a, DiskType::Dynamic, 2 << 20).unwrap();
    vhd_std::snapshot_file(&d.join("b.vhd"), &a, false).unwrap();
    // A parent with another UUID is refused.
    create_file(&a, DiskType::Dynamic, 2 << 20).unwrap();
    let e = Chain::open(d.join("b.vhd"), OpenOptions::default()).unwrap_err();
    assert_eq!(e.code(), -libc::EINVAL);
    // A missing file is -ENOENT.
    let e = Image::open(d.join("none.vhd"), OpenOptions::default()).unwrap_err();
    assert_eq!(e.code(), -libc::ENOENT);
}

#[test]
fn an_unaligned_write_past_the_end_leaves_the_file_where_it_ends() {
    let dirs = dirs("eof-trim");
    for d in dirs.0.iter() {
        let p = d.join("f");
        let mut io = FileIo::open(&p, OpenMode::Create).unwrap();
        io.write_at(100, b"hello").unwrap();
        assert_eq!(io.size().unwrap(), 105, "direct {}", io.is_direct());
        let mut b = [0u8; 6];
        io.read_at(99, &mut b).unwrap();
        assert_eq!(&b, b"\0hello");
        // Larger than the bounce buffer, odd offset and length, past the end.
        let big: Vec<u8> = (0..vhd_std::fileio::BOUNCE_SIZE * 2 + 333)
            .map(|i| i as u8)
            .collect();
        io.write_at(511, &big).unwrap();
        assert_eq!(io.size().unwrap(), 511 + big.len() as u64);
        let mut back = vec![0u8; big.len()];
        io.read_at(511, &mut back).unwrap();
        assert!(back == big);
    }
}

#[test]
fn a_borrowed_descriptor_stays_open() {
    use std::os::fd::AsFd;
    let dirs = dirs("borrowed");
    for d in dirs.0.iter() {
        let p = d.join("f");
        let owner = FileIo::open(&p, OpenMode::Create).unwrap();
        {
            let mut io = FileIo::borrow(owner.file().as_fd()).unwrap();
            assert_eq!(io.is_direct(), owner.is_direct());
            io.write_at(0, &[7u8; 512]).unwrap();
        }
        // Dropping the borrowed one closed nothing: the owner still reads.
        let mut owner = owner;
        let mut b = [0u8; 512];
        owner.read_at(0, &mut b).unwrap();
        assert_eq!(b, [7u8; 512]);
    }
}

#[test]
fn a_deep_chain_reads_its_levels_together_and_as_written() {
    const SIZE: u64 = 16 << 20;
    let dirs = dirs("deep-chain");
    let rw = OpenOptions {
        writable: true,
        ..Default::default()
    };
    for d in dirs.0.iter() {
        let mut model = vec![0u8; SIZE as usize];
        let mut path = d.join("l0.vhd");
        create_file(&path, DiskType::Dynamic, SIZE).unwrap();
        let mut img = Image::open(&path, rw).unwrap();
        for (i, b) in model.iter_mut().enumerate() {
            *b = (i / 512 % 251) as u8;
        }
        img.disk_mut().write(0, &model).unwrap();
        drop(img);
        let mut seed = 99u64;
        for level in 1..=4u8 {
            let child = d.join(format!("l{level}.vhd"));
            vhd_std::snapshot_file(&child, &path, false).unwrap();
            let mut img = Image::open(&child, rw).unwrap();
            // Scattered 4 KiB writes: each 1 MiB read interleaves every level's runs.
            for _ in 0..160 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let sector = (seed >> 33) % (SIZE / 512 - 8);
                let data = [level.wrapping_mul(37) ^ (sector as u8); 4096];
                img.disk_mut().write(sector, &data).unwrap();
                model[sector as usize * 512..][..4096].copy_from_slice(&data);
            }
            img.disk_mut().flush().unwrap();
            path = child;
        }
        let mut chain = Chain::open(&path, OpenOptions::default()).unwrap();
        assert_eq!(chain.len(), 5);
        let before = vhd_sys::uring::batches();
        let mut got = AlignedBuf::try_new(SIZE as usize).unwrap();
        for (i, part) in got.as_mut().chunks_mut(1 << 20).enumerate() {
            chain.read(i as u64 * 2048, part).unwrap();
        }
        assert!(
            got.as_ref() == &model[..],
            "{}: the chain reads as written",
            d.display()
        );
        // Where io_uring is on (VHD_IO_URING=0 turns it off), the levels went together.
        let on = std::env::var_os("VHD_IO_URING").is_none_or(|v| v != "0");
        assert_eq!(vhd_sys::uring::batches() > before, on, "{}", d.display());
    }
}
