//! Seeded randomness: runs are deterministic, and a failure names a seed that replays.

/// xorshift64*: deterministic, fast, and good enough to pick sizes, offsets and edits.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    // The suites call it as `rng.next()`; an endless generator gains nothing from
    // being an `Iterator`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The environment variable `name` as a number, or `default` when unset or not a number
/// (the knobs that make a campaign longer than `make check`'s).
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
