//! The host step: builds the chain the program opens (a dynamic parent and a
//! differencing child, through the same engine) into `OUT_DIR`, where the program
//! embeds both in its flash image.

#[path = "src/chain.rs"]
#[allow(dead_code)]
mod chain;

use chain::{fill, Layer, BLOCK_SIZE, CHILD, PARENT, SIZE};
use uuid::Uuid;
use vhd_nostd::create::{create, CreateParams, Parent};
use vhd_nostd::footer::DiskType;
use vhd_nostd::io::MemIo;
use vhd_nostd::{Buffers, Disk, OpenOptions};

const PARENT_UUID: u128 = 0x7668_6472_732d_7061_7265_6e74_0000_0001;
const CHILD_UUID: u128 = 0x7668_6472_732d_6368_696c_6400_0000_0002;

/// Creates an image in `room` and writes `ranges` of `layer` into it; its length.
fn build(room: &mut [u8], p: &CreateParams<'_>, layer: Layer, ranges: &[(u64, u64)]) -> usize {
    let mut scratch = vec![0u8; 4096];
    let mut io = MemIo::new(&mut *room);
    create(&mut io, p, &mut scratch).expect("create");
    let len = io.contents().len();
    let bufs = Buffers {
        bat: vec![0u8; 4096],
        batmap: vec![0u8; 4096],
        bitmap: vec![0u8; 4096],
    };
    let opts = OpenOptions {
        writable: true,
        ..Default::default()
    };
    let mut disk = Disk::open(MemIo::with_len(room, len), bufs, opts).expect("open");
    for &(first, n) in ranges {
        let mut data = vec![0u8; n as usize * 512];
        fill(layer, first, &mut data);
        disk.write(first, &data).expect("write");
    }
    disk.flush().expect("flush");
    disk.io().contents().len()
}

fn main() {
    println!("cargo:rerun-if-changed=src/chain.rs");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../vhd-nostd/src");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let mut room = vec![0u8; 1 << 20];
    let parent = CreateParams {
        kind: DiskType::Dynamic,
        size: SIZE,
        block_size: BLOCK_SIZE,
        uuid: Uuid::from_u128(PARENT_UUID),
        timestamp: 0,
        parent: None,
    };
    let n = build(&mut room, &parent, Layer::Parent, &PARENT);
    std::fs::write(out.join("parent.vhd"), &room[..n]).expect("write parent.vhd");
    room.fill(0);
    let child = CreateParams {
        kind: DiskType::Differencing,
        uuid: Uuid::from_u128(CHILD_UUID),
        parent: Some(Parent {
            uuid: parent.uuid,
            timestamp: 0,
            name: "parent.vhd",
            relative_path: "./parent.vhd",
        }),
        ..parent
    };
    let n = build(&mut room, &child, Layer::Child, &CHILD);
    std::fs::write(out.join("child.vhd"), &room[..n]).expect("write child.vhd");
}
