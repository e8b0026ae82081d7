//! Expired messages leave memory and storage on a timer, not only when they
//! reach the head of a queue: a persistent session that stays offline must
//! not hold (nor keep stored) messages nobody may receive any more
//! [MQTT-3.3.2-5]. Expired retained messages go the same way.

use super::events::DropReason;
use super::session::Outgoing;
use super::{Broker, SessionKey};
use crate::store::StorageOp;
use crate::time::Millis;
use std::rc::Rc;

/// How often the sweep runs.
pub(super) const SWEEP_INTERVAL_MS: u64 = 60_000;

impl Broker {
    /// Makes sure a sweep will run at `at` or later: called whenever a
    /// message with an expiry is queued or retained (with its expiry time).
    /// An idle broker holds no timer for it.
    pub(super) fn arm_sweep(&mut self, at: Millis) {
        if !self.sweep_armed {
            self.sweep_armed = true;
            self.arm(at, super::Timer::Sweep);
        }
    }

    pub(super) fn holds_expiring(&self) -> bool {
        let queued = self.sessions.iter().flatten().flat_map(|s| &s.queue);
        queued.clone().any(|o| o.msg.expires_at.is_some())
            || self.retained.values().any(|m| m.expires_at.is_some())
    }

    /// Drops expired messages that are queued (never sent: those in flight
    /// are owed to the client regardless of expiry) and expired retained
    /// messages, with their storage records.
    pub(super) fn sweep_expired(&mut self, now: Millis) {
        let keys: Vec<SessionKey> = self.by_client_id.values().copied().collect();
        for key in keys {
            let s = self.session_mut(key);
            if !s.queue.iter().any(|o| o.msg.is_expired(now)) {
                continue;
            }
            let (expired, kept): (Vec<Outgoing>, Vec<Outgoing>) =
                s.queue.drain(..).partition(|o| o.msg.is_expired(now));
            s.queue = kept.into();
            s.queued_bytes = s.queue.iter().map(|o| o.msg.payload.len()).sum();
            for out in &expired {
                self.forget_delivery(key, out);
                self.dropped(key, &out.msg, DropReason::Expired);
            }
        }
        let stale: Vec<Rc<str>> = self
            .retained
            .values()
            .filter(|m| m.is_expired(now))
            .map(|m| m.topic.clone())
            .collect();
        for topic in stale {
            self.retained.remove(&topic);
            if self.durable() && !topic.starts_with("$SYS/") {
                self.store(StorageOp::DeleteRetained { topic });
            }
        }
        if self.holds_expiring() {
            self.arm_sweep(now + SWEEP_INTERVAL_MS);
        }
    }
}
