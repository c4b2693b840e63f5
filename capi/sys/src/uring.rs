//! Several positioned reads in flight at once, through one `io_uring` per thread.
//!
//! A read through a chain of differencing disks wants one read from each level's file;
//! issued one after another, each waits for the last, while the device would serve them
//! together. [`read_together`] submits them in one system call and returns when every
//! one has completed.
//!
//! The ring is made on a thread's first batch and kept for the thread's life (a few
//! pages of shared memory; no allocation after that). Where `io_uring` is missing or
//! refused (an old kernel, a container's seccomp policy, `kernel.io_uring_disabled`), or
//! `VHD_IO_URING=0` is set in the environment, [`read_together`] says so and the caller
//! reads one by one.

use std::cell::{Cell, RefCell};
use std::os::fd::{AsRawFd, BorrowedFd};

use io_uring::{opcode, types, IoUring};

/// Most reads one batch may hold: the ring's size.
pub const MAX_READS: usize = 16;

/// One read of a batch, and after [`read_together`] its outcome.
#[derive(Debug)]
pub struct ReadAt<'a> {
    /// The file read.
    pub fd: BorrowedFd<'a>,
    /// Where in it.
    pub offset: u64,
    /// Into what: the read asks for the whole of it.
    pub buf: &'a mut [u8],
    /// After the batch: the bytes read (which may be fewer than asked), or the error.
    pub result: Result<usize, i32>,
}

impl<'a> ReadAt<'a> {
    /// A read of `buf.len()` bytes of `fd` at `offset`, not yet done.
    pub fn new(fd: BorrowedFd<'a>, offset: u64, buf: &'a mut [u8]) -> Self {
        ReadAt {
            fd,
            offset,
            buf,
            result: Err(libc::EINPROGRESS),
        }
    }
}

// One per thread, made in place and never moved: its size costs nothing.
#[allow(clippy::large_enum_variant)]
enum Ring {
    Untried,
    Unavailable,
    Ready(IoUring),
}

thread_local! {
    static RING: RefCell<Ring> = const { RefCell::new(Ring::Untried) };
    static BATCHES: Cell<u64> = const { Cell::new(0) };
}

/// How many batches this thread has submitted: for tests and diagnostics, which
/// cannot tell a batch from reads one by one by their results.
pub fn batches() -> u64 {
    BATCHES.with(Cell::get)
}

fn enabled() -> bool {
    std::env::var_os("VHD_IO_URING").is_none_or(|v| v != "0")
}

/// Whether this thread can batch reads, making its ring if it has none yet.
pub fn available() -> bool {
    RING.with(|r| ready(&mut r.borrow_mut()).is_some())
}

fn ready(ring: &mut Ring) -> Option<&mut IoUring> {
    if let Ring::Untried = ring {
        *ring = match enabled().then(|| IoUring::new(MAX_READS as u32)) {
            Some(Ok(r)) => Ring::Ready(r),
            _ => Ring::Unavailable,
        };
    }
    match ring {
        Ring::Ready(r) => Some(r),
        _ => None,
    }
}

/// Starts every read of `reads` at once and waits for all of them, setting each one's
/// `result`. Returns `false`, having started none, when the batch cannot be submitted
/// (no ring on this thread, more than [`MAX_READS`] reads, or a buffer longer than one
/// request can ask for); the caller then reads one by one.
pub fn read_together(reads: &mut [ReadAt<'_>]) -> bool {
    if reads.is_empty() || reads.len() > MAX_READS {
        return false;
    }
    if reads.iter().any(|r| u32::try_from(r.buf.len()).is_err()) {
        return false;
    }
    RING.with(|r| {
        let mut ring = r.borrow_mut();
        let Some(ring) = ready(&mut ring) else {
            return false;
        };
        submit_and_collect(ring, reads);
        BATCHES.with(|b| b.set(b.get() + 1));
        true
    })
}

fn submit_and_collect(ring: &mut IoUring, reads: &mut [ReadAt<'_>]) {
    {
        let mut sq = ring.submission();
        for (i, r) in reads.iter_mut().enumerate() {
            let len = r.buf.len() as u32;
            let entry = opcode::Read::new(types::Fd(r.fd.as_raw_fd()), r.buf.as_mut_ptr(), len)
                .offset(r.offset)
                .build()
                .user_data(i as u64);
            // SAFETY: the descriptor and the buffer are borrowed for the whole call, and
            // the call does not return until the kernel has completed this entry (the
            // loop below waits for one completion per entry pushed). The ring is this
            // thread's own, empty between calls, and holds MAX_READS entries, so the push
            // cannot fail.
            unsafe { sq.push(&entry) }.expect("an empty ring holds MAX_READS entries");
        }
    }
    let mut left = reads.len();
    while left > 0 {
        match ring.submit_and_wait(left) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)
                ) => {}
            Err(e) => {
                // The kernel may still write into the caller's buffers: returning now
                // would let them be reused under it. Nothing else is sound.
                eprintln!("vhd: io_uring wait failed with reads in flight: {e}");
                std::process::abort();
            }
        }
        for cqe in ring.completion() {
            let Some(r) = usize::try_from(cqe.user_data())
                .ok()
                .and_then(|i| reads.get_mut(i))
            else {
                continue;
            };
            let res = cqe.result();
            r.result = usize::try_from(res).map_err(|_| -res);
            left -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Write;
    use std::os::fd::AsFd;

    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A file holding `bytes`, already unlinked.
    fn file_with(bytes: &[u8]) -> File {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("vhd-sys-uring-{}-{n}", std::process::id()));
        let mut f = File::create(&path).unwrap();
        f.write_all(bytes).unwrap();
        drop(f);
        let f = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    #[test]
    fn reads_land_where_asked_and_short_reads_say_so() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let a = file_with(&data);
        let b = file_with(&data[..3000]);
        let (mut x, mut y, mut z) = (vec![0u8; 4096], vec![0u8; 512], vec![0u8; 1000]);
        let mut reads = [
            ReadAt::new(a.as_fd(), 10_000, &mut x),
            ReadAt::new(b.as_fd(), 1000, &mut y),
            ReadAt::new(b.as_fd(), 2500, &mut z),
        ];
        // The machines this project supports have io_uring; VHD_IO_URING=0 turns it off.
        assert_eq!(read_together(&mut reads), enabled());
        if !enabled() {
            return;
        }
        assert_eq!(reads[0].result, Ok(4096));
        assert_eq!(reads[1].result, Ok(512));
        assert_eq!(
            reads[2].result,
            Ok(500),
            "a read past the end is short, not padded"
        );
        assert_eq!(&x[..], &data[10_000..14_096]);
        assert_eq!(&y[..], &data[1000..1512]);
        assert_eq!(&z[..500], &data[2500..3000]);
    }

    #[test]
    fn a_batch_too_large_is_refused_whole() {
        let a = file_with(&[1u8; 64]);
        let mut bufs = [[0u8; 4]; MAX_READS + 1];
        let mut reads: Vec<_> = bufs
            .iter_mut()
            .map(|b| ReadAt::new(a.as_fd(), 0, b))
            .collect();
        assert!(!read_together(&mut reads));
        assert!(reads.iter().all(|r| r.result == Err(libc::EINPROGRESS)));
        assert_eq!(read_together(&mut reads[..MAX_READS]), enabled());
    }

    #[test]
    fn an_error_is_reported_per_read() {
        let dir = File::open(std::env::temp_dir()).unwrap();
        let a = file_with(&[9u8; 512]);
        let (mut x, mut y) = ([0u8; 512], [0u8; 512]);
        let mut reads = [
            ReadAt::new(dir.as_fd(), 0, &mut x),
            ReadAt::new(a.as_fd(), 0, &mut y),
        ];
        assert_eq!(read_together(&mut reads), enabled());
        if !enabled() {
            return;
        }
        assert_eq!(reads[0].result, Err(libc::EISDIR));
        assert_eq!(reads[1].result, Ok(512));
        assert_eq!(y, [9u8; 512]);
    }
}
