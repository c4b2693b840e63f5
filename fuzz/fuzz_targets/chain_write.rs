//! Two arbitrary images as child and parent: reads of arbitrary sectors through the
//! chain, then an arbitrary write sequence into the child, each write read back.
//! Input: a 4-byte big-endian length of the child image, the child, then the parent;
//! the last 64 bytes (if any) drive the writes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vhd_nostd::read_chain;

#[path = "harness.rs"]
mod harness;
use harness::open;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let n = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let rest = &data[4..];
    let (child, parent) = rest.split_at(n.min(rest.len()));
    let script: Vec<u8> = rest[rest.len().saturating_sub(64)..].to_vec();
    let (Some(c), Some(p)) = (open(child, true), open(parent, false)) else {
        return;
    };
    let mut chain = [c, p];
    let sectors = chain[0].sectors();
    if sectors == 0 {
        return;
    }
    let mut buf = vec![0u8; 16 * 512];
    for (i, pair) in script.chunks(8).enumerate() {
        let mut v = [0u8; 8];
        v[..pair.len()].copy_from_slice(pair);
        let x = u64::from_le_bytes(v);
        let s = x % sectors;
        let len = ((x >> 40) % 16 + 1).min(sectors - s) as usize * 512;
        let _ = read_chain(&mut chain, s, &mut buf[..len]);
        let fill = [i as u8 ^ 0xA5; 16 * 512];
        if chain[0].write(s, &fill[..len]).is_ok() {
            let mut back = vec![0u8; len];
            read_chain(&mut chain, s, &mut back).expect("a written range must read");
            assert!(back == fill[..len], "a written range reads back");
        }
    }
});
