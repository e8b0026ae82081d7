//! Time as the host gives it: the core never reads a clock.

use std::ops::{Add, Sub};

/// Milliseconds since the Unix epoch, as the host's clock reads them
/// (`Date.now()` in JS). Absolute, so deadlines kept in storage stay
/// meaningful across a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub u64);

impl Millis {
    pub fn from_secs(secs: u64) -> Millis {
        Millis(secs.saturating_mul(1000))
    }

    /// Whole seconds from `self` until `later`, rounded up; 0 if `later` has passed.
    pub fn secs_until(self, later: Millis) -> u64 {
        later.0.saturating_sub(self.0).div_ceil(1000)
    }
}

impl Add<u64> for Millis {
    type Output = Millis;
    fn add(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }
}

impl Sub for Millis {
    type Output = u64;
    fn sub(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}
