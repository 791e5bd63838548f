//! The [`Rand`] seam: seeded randomness.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};

/// A source of random numbers. Library code takes randomness only from here, so a simulation seed
/// decides every "random" choice (election timeouts, jitter, fault draws).
pub trait Rand: Send + Sync + Debug + 'static {
    /// The next random 64-bit number.
    fn next_u64(&self) -> u64;

    /// A number in `0..n` (`n > 0`).
    fn below(&self, n: u64) -> u64 {
        // Multiply-shift maps 64 random bits onto 0..n with negligible bias for rig's uses.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// A seeded splitmix64 generator: the same seed gives the same sequence.
///
/// ```
/// use rig_core::seams::{Rand, SeededRand};
/// let a = SeededRand::new(42);
/// let b = SeededRand::new(42);
/// assert_eq!(a.next_u64(), b.next_u64());
/// assert!(a.below(10) < 10);
/// let child = a.split();
/// assert_ne!(child.next_u64(), a.next_u64());
/// ```
#[derive(Debug)]
pub struct SeededRand {
    state: AtomicU64,
}

impl SeededRand {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: AtomicU64::new(seed),
        }
    }

    /// A generator seeded from the process's hash randomness (production only).
    pub fn from_entropy() -> Self {
        use std::hash::{BuildHasher, Hasher};
        // RandomState is seeded by the OS per process: the only ambient randomness rig uses, and
        // only here in the production seam.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x9e37_79b9_7f4a_7c15);
        Self::new(h.finish())
    }

    /// An independent generator derived from this one (one per component in a simulation).
    pub fn split(&self) -> Self {
        Self::new(self.next_u64() ^ 0xd1b5_4a32_d192_ed03)
    }
}

impl Rand for SeededRand {
    fn next_u64(&self) -> u64 {
        let mut z = self
            .state
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
