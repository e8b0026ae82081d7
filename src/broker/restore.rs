//! Rebuilding the broker from what storage held: sessions (all
//! disconnected), subscriptions, queued and in-flight deliveries with their
//! packet identifiers, incoming QoS 2 state, retained messages and pending
//! wills, with their timers.

use super::session::{Outgoing, SubscriptionState};
use super::topic_tree::SubEntry;
use super::{Broker, Config, Hooks, SessionKey, Timer};
use crate::codec::ProtocolVersion;
use crate::store::{DeliveryState, Message, Snapshot, StorageOp};
use crate::time::Millis;
use std::collections::HashMap;
use std::rc::Rc;

impl Broker {
    /// A broker holding exactly the state in `snapshot`. Sessions whose
    /// expiry passed while the broker was down end now (publishing their
    /// pending wills), and expired messages are dropped; the storage ops for
    /// that cleanup are in the first batch `poll_storage` returns.
    pub fn restore(cfg: Config, hooks: Box<dyn Hooks>, snapshot: Snapshot, now: Millis) -> Broker {
        let mut b = Broker::new(cfg, hooks);
        b.start(now);
        let max_id = snapshot
            .messages
            .iter()
            .chain(&snapshot.retained)
            .map(|m| m.id)
            .max();
        b.next_message_id = max_id.unwrap_or(0) + 1;
        for msg in snapshot.retained {
            if msg.is_expired(now) {
                b.store(StorageOp::DeleteRetained {
                    topic: msg.topic.clone(),
                });
            } else {
                b.retained.insert(msg.topic.clone(), msg);
            }
        }
        for rec in &snapshot.sessions {
            let protocol = match rec.protocol {
                3 => ProtocolVersion::V3_1,
                4 => ProtocolVersion::V3_1_1,
                _ => ProtocolVersion::V5,
            };
            let key = b.new_session_key(rec.client_id.clone(), protocol);
            let s = b.session_mut(key);
            s.expiry_interval = rec.expiry_interval;
            s.disconnected_at = Some(rec.disconnected_at.unwrap_or(now));
            s.stored = true;
            if let Some(w) = &rec.pending_will {
                let since = s.disconnected_at.unwrap_or(now);
                let due = since + u64::from(w.delay.min(s.expiry_interval)) * 1000;
                s.pending_will = Some((w.message.clone(), w.delay, due));
            }
        }
        for sub in snapshot.subscriptions {
            let Some(&key) = b.by_client_id.get(&sub.client_id) else {
                continue;
            };
            let entry = SubEntry {
                session: key,
                options: sub.options,
                identifier: sub.identifier,
            };
            b.tree.insert(&sub.filter, entry);
            let state = SubscriptionState {
                options: sub.options,
                identifier: sub.identifier,
            };
            b.session_mut(key).subscriptions.insert(sub.filter, state);
        }
        for (client_id, packet_id) in snapshot.incoming_qos2 {
            if let Some(&key) = b.by_client_id.get(&client_id) {
                b.session_mut(key).incoming_qos2.insert(packet_id);
            }
        }
        b.restore_deliveries(snapshot.deliveries, snapshot.messages, now);
        b.restore_timers(now);
        b
    }

    fn new_session_key(&mut self, client_id: Rc<str>, protocol: ProtocolVersion) -> SessionKey {
        let key = SessionKey(self.sessions.len() as u32);
        self.sessions.push(Some(super::session::Session::new(
            client_id.clone(),
            protocol,
        )));
        self.by_client_id.insert(client_id, key);
        key
    }

    fn restore_deliveries(
        &mut self,
        mut deliveries: Vec<crate::store::DeliveryRecord>,
        messages: Vec<Rc<Message>>,
        now: Millis,
    ) {
        let messages: HashMap<u64, Rc<Message>> = messages.into_iter().map(|m| (m.id, m)).collect();
        deliveries.sort_by(|a, b| (&a.client_id, a.seq).cmp(&(&b.client_id, b.seq)));
        for d in deliveries {
            let key = self.by_client_id.get(&d.client_id).copied();
            let msg = messages.get(&d.message_id).filter(|m| !m.is_expired(now));
            let (Some(key), Some(msg)) = (key, msg) else {
                self.store(StorageOp::DeleteDelivery {
                    client_id: d.client_id,
                    seq: d.seq,
                });
                continue;
            };
            *self.message_refs.entry(msg.id).or_insert(0) += 1;
            let out = Outgoing {
                seq: d.seq,
                msg: msg.clone(),
                qos: d.qos,
                retain: d.retain,
                sub_ids: d.subscription_identifiers,
                shared: d.shared_filter,
                state: d.state,
                stored: true,
            };
            let s = self.session_mut(key);
            s.next_seq = s.next_seq.max(d.seq);
            match out.state {
                DeliveryState::Queued => s.push_queue(out),
                _ => s.inflight.push_back(out),
            }
        }
        // Messages no delivery refers to any more (expired, or orphaned).
        for id in messages.keys() {
            if !self.message_refs.contains_key(id) {
                self.store(StorageOp::DeleteMessage { id: *id });
            }
        }
    }

    fn restore_timers(&mut self, now: Millis) {
        let keys: Vec<SessionKey> = self.by_client_id.values().copied().collect();
        for key in keys {
            let s = self.session(key);
            let client_id = s.client_id.clone();
            let will_due = s.pending_will.as_ref().map(|(_, _, due)| *due);
            let deadline = match (will_due, s.expires_at()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(at) = deadline {
                self.arm(at.max(now), Timer::Session(client_id));
            }
        }
    }
}
