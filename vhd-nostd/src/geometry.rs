//! CHS geometry, computed from a size with the VHD specification's algorithm.
//!
//! The footer's geometry is advisory: Hyper-V, Azure and qemu write current sizes that are
//! not a CHS product, so a geometry disagreeing with the size is never an error.

/// Cylinders, heads and sectors per track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chs {
    /// Cylinders (16 bits on disk).
    pub cylinders: u16,
    /// Heads.
    pub heads: u8,
    /// Sectors per track.
    pub sectors: u8,
}

/// The largest sector count CHS can describe: 65535 × 16 × 255.
pub const MAX_CHS_SECTORS: u64 = 65535 * 16 * 255;

impl Chs {
    /// Packs as the footer stores it: `cylinders << 16 | heads << 8 | sectors`
    /// (libvhd's `GEOM_ENCODE`).
    pub const fn encode(self) -> u32 {
        (self.cylinders as u32) << 16 | (self.heads as u32) << 8 | self.sectors as u32
    }

    /// Unpacks a footer geometry field.
    pub const fn decode(v: u32) -> Chs {
        Chs {
            cylinders: (v >> 16) as u16,
            heads: (v >> 8) as u8,
            sectors: v as u8,
        }
    }

    /// The capacity this geometry describes, in bytes (`C × H × S × 512`).
    pub const fn capacity(self) -> u64 {
        self.cylinders as u64 * self.heads as u64 * self.sectors as u64 * 512
    }
}

/// The geometry for a disk of `size` bytes, as the VHD specification computes it
/// (libvhd's `vhd_chs`: sectors rounded up, at least one); sizes beyond the CHS maximum
/// get the maximum geometry.
pub const fn chs(size: u64) -> Chs {
    let mut total = size.div_ceil(512);
    if total == 0 {
        total = 1;
    }
    if total > MAX_CHS_SECTORS {
        total = MAX_CHS_SECTORS;
    }
    let (spt, heads, cth);
    if total >= 65535 * 16 * 63 {
        spt = 255;
        heads = 16;
        cth = total / spt;
    } else {
        let mut s = 17;
        let mut c = total / s;
        let mut h = c.div_ceil(1024);
        if h < 4 {
            h = 4;
        }
        if c >= h * 1024 || h > 16 {
            s = 31;
            h = 16;
            c = total / s;
        }
        if c >= h * 1024 {
            s = 63;
            h = 16;
            c = total / s;
        }
        spt = s;
        heads = h;
        cth = c;
    }
    Chs {
        cylinders: (cth / heads) as u16,
        heads: heads as u8,
        sectors: spt as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_geometries() {
        // Sizes and geometries recorded in the footers of the sample images in tests/data/images.
        assert_eq!(
            chs(4_212_736),
            Chs {
                cylinders: 121,
                heads: 4,
                sectors: 17
            }
        );
        assert_eq!(
            chs(104_448),
            Chs {
                cylinders: 3,
                heads: 4,
                sectors: 17
            }
        );
        assert_eq!(
            chs(136_365_211_648),
            Chs {
                cylinders: 65278,
                heads: 16,
                sectors: 255
            }
        );
        assert_eq!(
            chs(4_194_304),
            Chs {
                cylinders: 120,
                heads: 4,
                sectors: 17
            }
        );
        // Spec boundaries: beyond the maximum clamps; the 63-spt switch.
        assert_eq!(
            chs(u64::MAX),
            Chs {
                cylinders: 65535,
                heads: 16,
                sectors: 255
            }
        );
        assert_eq!(chs(65535 * 16 * 63 * 512).sectors, 255);
        assert_eq!(chs(65535 * 16 * 63 * 512 - 512).sectors, 63);
        assert_eq!(
            chs(0),
            Chs {
                cylinders: 0,
                heads: 4,
                sectors: 17
            }
        );
    }

    #[test]
    fn encode_round_trip() {
        let g = Chs {
            cylinders: 0x1234,
            heads: 16,
            sectors: 63,
        };
        assert_eq!(g.encode(), 0x1234_103f);
        assert_eq!(Chs::decode(g.encode()), g);
        assert_eq!(g.capacity(), 0x1234 * 16 * 63 * 512);
    }

    #[test]
    fn capacity_never_exceeds_size_below_max() {
        let mut size = 512u64;
        while size < (1 << 40) {
            assert!(chs(size).capacity() <= size, "{size}");
            size = size * 3 + 512;
        }
    }
}
