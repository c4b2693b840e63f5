//! The chain the program works on, shared by the host step that builds it (`build.rs`)
//! and the program that checks it: a dynamic parent and a differencing child, which
//! sectors each holds, what the program writes, and every sector's expected bytes.

/// Virtual size of both disks: 1 MiB.
pub const SIZE: u64 = 1 << 20;
/// Block size: 16 KiB, so that a few blocks make a small image.
pub const BLOCK_SIZE: u32 = 16 << 10;
/// Sectors per block.
pub const SPB: u64 = BLOCK_SIZE as u64 / 512;
/// Virtual size in sectors.
pub const SECTORS: u64 = SIZE / 512;

/// Sector ranges `(first, count)` the parent holds: four whole blocks and part of
/// block 10.
pub const PARENT: [(u64, u64); 2] = [(0, 4 * SPB), (10 * SPB, 5)];
/// Sector ranges the child holds when built: over the parent's blocks 1 and 2, and
/// part of block 20, which the parent lacks.
pub const CHILD: [(u64, u64); 2] = [(40, 30), (20 * SPB + 3, 6)];
/// Sector ranges the program writes through the child: into a block the child holds,
/// into one only the parent holds (the child allocates it), and into one neither holds.
pub const WRITES: [(u64, u64); 3] = [(45, 2), (10 * SPB + 2, 6), (30 * SPB + 31, 1)];

/// Who wrote a sector last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Nobody: it reads as zeros.
    None,
    /// The parent, when built.
    Parent,
    /// The child, when built.
    Child,
    /// The program, through the child.
    Write,
}

fn within(ranges: &[(u64, u64)], sector: u64) -> bool {
    ranges
        .iter()
        .any(|&(first, n)| sector >= first && sector < first + n)
}

/// Who holds `sector` after the build, and after the program's writes if `written`.
pub fn layer(sector: u64, written: bool) -> Layer {
    if written && within(&WRITES, sector) {
        Layer::Write
    } else if within(&CHILD, sector) {
        Layer::Child
    } else if within(&PARENT, sector) {
        Layer::Parent
    } else {
        Layer::None
    }
}

/// Byte `i` of `sector` as `layer` writes it: differs by layer, sector and offset.
pub fn byte(layer: Layer, sector: u64, i: usize) -> u8 {
    let tag = match layer {
        Layer::None => return 0,
        Layer::Parent => 0x11,
        Layer::Child => 0x22,
        Layer::Write => 0x33,
    };
    (sector as u8).wrapping_mul(31) ^ (i as u8).wrapping_mul(7) ^ tag | 1
}

/// Fills `buf` (whole sectors from `first`) with what `layer` writes there.
pub fn fill(layer: Layer, first: u64, buf: &mut [u8]) {
    for (n, sector) in buf.chunks_mut(512).enumerate() {
        for (i, b) in sector.iter_mut().enumerate() {
            *b = byte(layer, first + n as u64, i);
        }
    }
}
