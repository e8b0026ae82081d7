//! Per-connection publish rate limits: token buckets holding one second's
//! worth, refilled with the time the host passes in.

use crate::time::Millis;

/// One bucket: `rate` tokens a second, at most `rate` saved up.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    rate: u64,
    /// Tokens, in thousandths (so a millisecond refills `rate` of them).
    milli_tokens: u64,
}

impl Bucket {
    fn new(rate: u64) -> Bucket {
        Bucket {
            rate,
            milli_tokens: rate.saturating_mul(1000),
        }
    }

    fn refill(&mut self, ms: u64) {
        let cap = self.rate.saturating_mul(1000);
        self.milli_tokens = cap.min(
            self.milli_tokens
                .saturating_add(self.rate.saturating_mul(ms)),
        );
    }

    fn has(&self, n: u64) -> bool {
        self.milli_tokens >= n.saturating_mul(1000).min(self.rate.saturating_mul(1000))
    }

    fn take(&mut self, n: u64) {
        self.milli_tokens = self.milli_tokens.saturating_sub(n.saturating_mul(1000));
    }
}

/// The publish limits of one connection.
#[derive(Debug, Clone)]
pub(super) struct PublishRate {
    messages: Option<Bucket>,
    bytes: Option<Bucket>,
    last: Millis,
}

impl PublishRate {
    /// `None` when neither limit is set.
    pub fn new(messages: Option<u32>, bytes: Option<u64>, now: Millis) -> Option<PublishRate> {
        (messages.is_some() || bytes.is_some()).then(|| PublishRate {
            messages: messages.map(|r| Bucket::new(r.into())),
            bytes: bytes.map(Bucket::new),
            last: now,
        })
    }

    /// Counts one PUBLISH of `size` bytes; false if it is over a limit.
    /// A message larger than a second's bytes passes when the bucket is
    /// full (and empties it), so no message size is refused outright.
    pub fn admit(&mut self, size: u64, now: Millis) -> bool {
        let ms = now.0.saturating_sub(self.last.0);
        self.last = now;
        for b in [&mut self.messages, &mut self.bytes].into_iter().flatten() {
            b.refill(ms);
        }
        let ok =
            self.messages.map_or(true, |b| b.has(1)) && self.bytes.map_or(true, |b| b.has(size));
        if ok {
            if let Some(b) = &mut self.messages {
                b.take(1);
            }
            if let Some(b) = &mut self.bytes {
                b.take(size);
            }
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_of_messages_then_the_refill_rate() {
        let mut r = PublishRate::new(Some(10), None, Millis(0)).unwrap();
        assert!((0..10).all(|_| r.admit(1, Millis(0))));
        assert!(!r.admit(1, Millis(0)));
        assert!(!r.admit(1, Millis(50)));
        assert!(r.admit(1, Millis(150)));
        assert!(!r.admit(1, Millis(150)));
        assert!((0..10).all(|_| r.admit(1, Millis(10_000))));
    }

    #[test]
    fn bytes_are_counted_and_a_big_message_passes_a_full_bucket() {
        let mut r = PublishRate::new(None, Some(1000), Millis(0)).unwrap();
        assert!(r.admit(600, Millis(0)));
        assert!(!r.admit(600, Millis(0)));
        let mut big = PublishRate::new(None, Some(100), Millis(0)).unwrap();
        assert!(big.admit(5000, Millis(0)));
        assert!(!big.admit(1, Millis(0)));
        assert!(PublishRate::new(None, None, Millis(0)).is_none());
    }
}
