//! Rebuilding the broker from what storage held: sessions (all
//! disconnected), subscriptions, queued and in-flight deliveries with their
//! packet identifiers, incoming QoS 2 state, retained messages and pending
//! wills, with their timers.

use super::connect::session_record;
use super::session::{Outgoing, SubscriptionState};
use super::sort::{sort, sort_by};
use super::topic_tree::SubEntry;
use super::{Broker, Config, Hooks, SessionKey, Timer};
use crate::codec::ProtocolVersion;
use crate::store::{DeliveryRecord, DeliveryState, Message, Snapshot, StorageOp};
use crate::time::Millis;
use rustc_hash::FxHashMap;
use std::rc::Rc;

impl Broker {
    /// A broker holding exactly the state in `snapshot`, as of `now`.
    ///
    /// Every session comes back disconnected. One whose connection was cut
    /// by the stop (stored while connected) counts as disconnected at `now`,
    /// abnormally: its will applies [MQTT-3.1.2-8]. What fell due while the
    /// broker was down happens here, before any client can connect: sessions
    /// whose expiry passed end (publishing their pending wills), wills whose
    /// delay passed are published, and expired messages not yet sent are
    /// dropped [MQTT-3.3.2-5]. The storage ops for that are in the first
    /// batch `poll_storage` returns.
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
            s.username = rec.username.clone();
            s.stored = true;
            // A will delay counts from the disconnection, and ends with the
            // session [MQTT-3.1.3-9].
            let will_due = |since: Millis, delay: u32| {
                since + u64::from(delay.min(rec.expiry_interval)) * 1000
            };
            match rec.disconnected_at {
                Some(at) => {
                    s.disconnected_at = Some(at);
                    if let Some(w) = &rec.pending_will {
                        s.pending_will = Some((w.message.clone(), w.delay, will_due(at, w.delay)));
                    }
                }
                None => {
                    // Connected when the broker stopped: the connection is
                    // lost now, without a DISCONNECT.
                    s.disconnected_at = Some(now);
                    if let Some(w) = rec.will.as_ref().or(rec.pending_will.as_ref()) {
                        s.pending_will = Some((w.message.clone(), w.delay, will_due(now, w.delay)));
                    }
                    // Record the disconnection, so that a second stop does
                    // not move the expiry or repeat the will.
                    let record = session_record(s);
                    b.store(StorageOp::PutSession(record));
                }
            }
        }
        for sub in snapshot.subscriptions {
            let Some(&key) = b.by_client_id.get(&sub.client_id) else {
                // Its session is gone (or its record was unreadable): the
                // orphan must not attach to a later session of that id.
                let (client_id, filter) = (sub.client_id, sub.filter);
                b.store(StorageOp::DeleteSubscription { client_id, filter });
                continue;
            };
            let entry = SubEntry {
                session: key,
                options: sub.options,
                identifier: sub.identifier,
                check_read: false, // set by `refresh_acls` below
            };
            b.tree.insert(&sub.filter, entry);
            let state = SubscriptionState {
                options: sub.options,
                identifier: sub.identifier,
            };
            b.session_mut(key).subscriptions.insert(sub.filter, state);
        }
        for (client_id, packet_id) in snapshot.incoming_qos2 {
            match b.by_client_id.get(&client_id) {
                Some(&key) => {
                    b.session_mut(key).incoming_qos2.insert(packet_id);
                }
                None => b.store(StorageOp::DeleteIncomingQos2 {
                    client_id,
                    packet_id,
                }),
            }
        }
        b.refresh_acls();
        b.restore_deliveries(snapshot.deliveries, snapshot.messages, now);
        b.restore_timers(now);
        b.forget_removed_bridges(now);
        if b.holds_expiring() {
            b.arm_sweep(now + super::expiry::SWEEP_INTERVAL_MS);
        }
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
        mut deliveries: Vec<DeliveryRecord>,
        messages: Vec<Rc<Message>>,
        now: Millis,
    ) {
        let messages: FxHashMap<u64, Rc<Message>> =
            messages.into_iter().map(|m| (m.id, m)).collect();
        sort_by(&mut deliveries, |a, b| {
            (&a.client_id, a.seq).cmp(&(&b.client_id, b.seq))
        });
        for d in deliveries {
            let key = self.by_client_id.get(&d.client_id).copied();
            // A message whose onward delivery started is resent whatever its
            // expiry [MQTT-4.4.0-1]; one still queued is dropped once expired
            // [MQTT-3.3.2-5].
            let queued = d.state == DeliveryState::Queued;
            let msg = messages
                .get(&d.message_id)
                .filter(|m| !(queued && m.is_expired(now)));
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
                _ => s.restore_inflight(out),
            }
        }
        // Messages no delivery refers to any more (expired, or orphaned), in
        // id order so that the first batch is the same on every restart.
        let mut unused: Vec<u64> = messages
            .keys()
            .filter(|id| !self.message_refs.contains_key(id))
            .copied()
            .collect();
        sort(&mut unused);
        for id in unused {
            self.store(StorageOp::DeleteMessage { id });
        }
    }

    /// Arms each session's will and expiry timer, and runs the ones already
    /// due, in the order they fell due.
    fn restore_timers(&mut self, now: Millis) {
        let mut deadlines: Vec<(Millis, Rc<str>)> = self
            .by_client_id
            .values()
            .filter_map(|&key| {
                let s = self.session(key);
                let will_due = s.pending_will.as_ref().map(|(_, _, due)| *due);
                let deadline = match (will_due, s.expires_at()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                deadline.map(|at| (at, s.client_id.clone()))
            })
            .collect();
        sort(&mut deadlines);
        for (at, client_id) in deadlines {
            if at <= now {
                // Ends the session or publishes the will, and re-arms.
                self.fire(Timer::Session(client_id), now);
            } else {
                self.arm(at, Timer::Session(client_id));
            }
        }
    }
}
