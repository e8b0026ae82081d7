//! From an accepted message to the bytes each subscriber receives: routing,
//! the in-flight window and queue of each session, and the sending side of
//! the QoS 1 and QoS 2 exchanges.

use super::alias::TopicForm;
use super::events::DropReason;
use super::session::Outgoing;
use super::topic_tree::SubEntry;
use super::{Broker, ConnId, Event, SessionKey};
use crate::codec::{
    encode_routed_publish, routed_publish_len, Packet, PacketId, PubResponse, PublishHeader, QoS,
    ReasonCode,
};
use crate::store::{DeliveryState, Message, StorageOp};
use crate::time::Millis;
use std::rc::Rc;

impl Broker {
    /// Sends `msg` to every matching subscription. Overlapping subscriptions
    /// of one session give one delivery at the highest granted QoS, carrying
    /// every subscription identifier [MQTT-3.3.4-2], [MQTT-3.3.4-3]. Returns
    /// whether any subscription matched.
    pub(super) fn route(
        &mut self,
        msg: &Rc<Message>,
        from: Option<SessionKey>,
        now: Millis,
    ) -> bool {
        let mut hits = std::mem::take(&mut self.hits);
        hits.clear();
        {
            let sessions = &self.sessions;
            let topic = &*msg.topic;
            let mut choose = |members: &[SubEntry], start: usize| {
                pick_member(sessions, members, start, None, topic)
            };
            self.tree.matches(&msg.topic, &mut hits, &mut choose);
        }
        // [MQTT-3.8.3-3]: No Local skips the publisher's own subscriptions.
        // The ACL: a subscription reaches only what its session may read
        // (`pick_member` already chose a shared group's member that may).
        let sessions = &self.sessions;
        hits.retain(|h| {
            !(h.entry.options.no_local && Some(h.entry.session) == from)
                && (h.shared.is_some() || readable(sessions, &h.entry, &msg.topic))
        });
        // The standard library's sort, not `sort.rs`'s: this runs per
        // message, and it needs no allocation for a few hits.
        hits.sort_by_key(|h| (h.shared.is_some(), h.entry.session));
        let matched = !hits.is_empty();
        let mut i = 0;
        while i < hits.len() {
            let mut j = i + 1;
            if hits[i].shared.is_none() {
                while j < hits.len()
                    && hits[j].shared.is_none()
                    && hits[j].entry.session == hits[i].entry.session
                {
                    j += 1;
                }
            }
            let group = &hits[i..j];
            let key = group[0].entry.session;
            let granted = group
                .iter()
                .map(|h| h.entry.options.qos)
                .max()
                .unwrap_or(QoS::AtMostOnce);
            // [MQTT-3.3.1-12], [MQTT-3.3.1-13]: RETAIN as published only where asked.
            let retain = msg.retain && group.iter().any(|h| h.entry.options.retain_as_published);
            let sub_ids: Vec<u32> = group.iter().filter_map(|h| h.entry.identifier).collect();
            let shared = group[0].shared.clone();
            // [MQTT-3.8.4-8]: the lower of the message's and the subscription's QoS.
            self.deliver(
                key,
                msg.clone(),
                msg.qos.min(granted),
                retain,
                sub_ids,
                shared,
                now,
            );
            i = j;
        }
        self.hits = hits;
        matched
    }

    /// Puts one message on its way to one session: sent now, or queued.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn deliver(
        &mut self,
        key: SessionKey,
        msg: Rc<Message>,
        qos: QoS,
        retain: bool,
        sub_ids: Vec<u32>,
        shared: Option<Rc<str>>,
        now: Millis,
    ) {
        let window = self.window(key);
        let queue_qos0_offline = self.cfg.queue_qos0_offline;
        let s = self.session_mut(key);
        let seq = s.take_seq();
        let state = DeliveryState::Queued;
        let out = Outgoing {
            seq,
            msg,
            qos,
            retain,
            sub_ids,
            shared,
            state,
            stored: false,
        };
        match s.conn {
            Some(conn) if qos == QoS::AtMostOnce && s.queue.is_empty() => {
                self.send_publish(conn, key, &out, Send::First, now);
            }
            Some(_) if s.inflight.len() < window && s.queue.is_empty() => {
                self.start_inflight(key, out, now)
            }
            Some(_) => self.enqueue(key, out, now),
            None if qos == QoS::AtMostOnce && !queue_qos0_offline => {}
            None => self.enqueue(key, out, now),
        }
    }

    /// Most messages in flight to this session's client at once [MQTT-3.3.4-9].
    /// A bridge's session takes the window its connection asked for (see
    /// `bridge::WINDOW`).
    fn window(&self, key: SessionKey) -> usize {
        let conn = self.session(key).conn;
        let client_max =
            (conn.and_then(|c| self.conns.get(&c))).map_or(u16::MAX, |c| c.receive_maximum);
        if conn.is_some_and(ConnId::is_internal) {
            return usize::from(client_max);
        }
        usize::from(self.cfg.max_inflight.min(client_max))
    }

    fn enqueue(&mut self, key: SessionKey, mut out: Outgoing, now: Millis) {
        if out.msg.is_expired(now) {
            // Its lifetime is over before delivery could start (a Message
            // Expiry Interval of 0): nothing to keep [MQTT-3.3.2-5].
            return self.dropped(key, &out.msg, DropReason::Expired);
        }
        let (max_messages, max_bytes) = (self.cfg.max_queued_messages, self.cfg.max_queued_bytes);
        let s = self.session(key);
        if s.queue.len() >= max_messages || s.queued_bytes + out.msg.payload.len() > max_bytes {
            // Policy when full: the new message is dropped, the queue kept.
            return self.dropped(key, &out.msg, DropReason::QueueFull);
        }
        if out.qos != QoS::AtMostOnce {
            self.persist_delivery(key, &mut out);
        }
        if let Some(at) = out.msg.expires_at {
            self.arm_sweep(at);
        }
        self.session_mut(key).push_queue(out);
    }

    pub(super) fn dropped(&mut self, key: SessionKey, msg: &Message, why: DropReason) {
        self.counters.messages_dropped += 1;
        let client_id = self.session(key).client_id.clone();
        self.events.push_back(Event::Dropped {
            client_id,
            topic: msg.topic.clone(),
            why,
        });
    }

    /// Records a delivery in storage (only for sessions storage holds); the
    /// message itself is stored with the first delivery that refers to it.
    fn persist_delivery(&mut self, key: SessionKey, out: &mut Outgoing) {
        let s = self.session(key);
        if !s.stored || !self.durable() {
            return;
        }
        let record = out.record(&s.client_id);
        let fresh = !out.stored;
        if fresh {
            out.stored = true;
            let refs = self.message_refs.entry(out.msg.id).or_insert(0);
            *refs += 1;
            if *refs == 1 {
                // No stored delivery refers to it: storage holds none of it.
                self.store_op(StorageOp::PutMessage(out.msg.clone()), true);
            }
        }
        self.store_op(StorageOp::PutDelivery(record), fresh);
    }

    /// A delivery is over (acknowledged, dropped or its session ended).
    /// Returns the publisher's connection whose acknowledgement of the
    /// message may now leave, if this was the message's last stored
    /// delivery and that acknowledgement waits for it (see `settle`).
    pub(super) fn forget_delivery(&mut self, key: SessionKey, out: &Outgoing) -> Option<ConnId> {
        if !out.stored {
            return None;
        }
        let client_id = self.session(key).client_id.clone();
        self.store(StorageOp::DeleteDelivery {
            client_id,
            seq: out.seq,
        });
        if let Some(refs) = self.message_refs.get_mut(&out.msg.id) {
            *refs -= 1;
            if *refs == 0 {
                self.message_refs.remove(&out.msg.id);
                self.store(StorageOp::DeleteMessage { id: out.msg.id });
                return self.settling.remove(&out.msg.id);
            }
        }
        None
    }

    /// Gives a QoS 1/2 delivery a packet identifier and sends it.
    fn start_inflight(&mut self, key: SessionKey, mut out: Outgoing, now: Millis) {
        let s = self.session_mut(key);
        let (Some(conn), Some(id)) = (s.conn, s.allocate_packet_id()) else {
            s.queued_bytes += out.msg.payload.len();
            return s.queue.push_front(out);
        };
        out.state = match out.qos {
            QoS::ExactlyOnce => DeliveryState::AwaitingPubRec(id),
            _ => DeliveryState::AwaitingPubAck(id),
        };
        let from = self.conns.get(&conn).map_or(0, |c| c.outbox.written());
        if !self.send_publish(conn, key, &out, Send::First, now) {
            // Dropped as too large or expired: as if delivered [MQTT-3.1.2-25].
            self.forget_delivery(key, &out);
            return;
        }
        self.persist_delivery(key, &mut out);
        self.gate_qos2_from(conn, key, out.qos, from); // see durability.rs
        let s = self.session_mut(key);
        s.inflight.push_back(out);
        s.resent = s.inflight.len();
    }

    /// Writes one PUBLISH to the connection. Returns false if the message was
    /// dropped instead: expired before its first send, or larger than the
    /// client accepts.
    fn send_publish(
        &mut self,
        conn: ConnId,
        key: SessionKey,
        out: &Outgoing,
        kind: Send,
        now: Millis,
    ) -> bool {
        let msg = &out.msg;
        let expiry = match msg.expires_at {
            // [MQTT-3.3.2-5]: expired before onward delivery started (a
            // lifetime of 0 still reaches those it can be sent to at once).
            // Once a PUBLISH has been sent, expiry no longer applies
            // [MQTT-4.3.3-7].
            Some(at) if at < now && kind == Send::First => {
                self.dropped(key, msg, DropReason::Expired);
                return false;
            }
            // [MQTT-3.3.2-6]: the interval sent is what remains of it.
            Some(at) => Some(now.secs_until(at).min(u64::from(u32::MAX)) as u32),
            None => None,
        };
        let mut header = PublishHeader {
            dup: kind == Send::Again,
            qos: out.qos,
            retain: out.retain,
            packet_id: out.packet_id(),
            message_expiry_interval: expiry,
            subscription_identifiers: &out.sub_ids,
            topic_alias: None,
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        let (version, max) = (c.version, c.max_packet_size as usize);
        // With a topic alias the packet is smaller, never larger, than the
        // client's Maximum Packet Size allows [MQTT-3.1.2-25].
        let len = |form: TopicForm| {
            let header = PublishHeader {
                topic_alias: form.alias(),
                ..header
            };
            let topic = form.topic(&msg.topic);
            routed_publish_len(version, &header, topic, &msg.properties, &msg.payload)
        };
        let fits = |form: TopicForm| len(form) <= max;
        let form = match c.out_aliases.as_deref_mut() {
            // Chosen as it is written: the client reads the output in this
            // order, so a resend uses an alias only if it still stands for
            // the same topic.
            // A QoS 2 PUBLISH names its topic (see `alias.rs`).
            Some(aliases) => {
                let hash = self.topic_hasher.hash(&msg.topic);
                aliases.choose(&msg.topic, hash, out.qos == QoS::ExactlyOnce, fits)
            }
            None => fits(TopicForm::Name).then_some(TopicForm::Name),
        };
        let Some(form) = form else {
            self.dropped(key, msg, DropReason::TooLarge);
            return false;
        };
        header.topic_alias = form.alias();
        let topic = form.topic(&msg.topic);
        c.outbox.write(conn, &mut self.ready, |tx| {
            encode_routed_publish(tx, version, &header, topic, &msg.properties, &msg.payload);
            true
        });
        self.counters.messages_sent[header.qos as usize] += 1;
        true
    }

    /// Moves queued messages into the in-flight window while there is room.
    pub(super) fn fill_window(&mut self, key: SessionKey, now: Millis) {
        let window = self.window(key);
        loop {
            let s = self.session_mut(key);
            let Some(conn) = s.conn else {
                return;
            };
            if s.inflight.len() >= window {
                return;
            }
            let Some(out) = s.pop_queue() else {
                return;
            };
            if out.qos == QoS::AtMostOnce {
                self.send_publish(conn, key, &out, Send::First, now);
            } else {
                self.start_inflight(key, out, now);
            }
        }
    }

    /// On reconnect: resend what was in flight, in order, PUBLISH with DUP
    /// set and PUBREL as they were [MQTT-4.4.0-1], [MQTT-3.3.1-1]; then
    /// continue with the queue.
    pub(super) fn resume_delivery(&mut self, key: SessionKey, now: Millis) {
        self.session_mut(key).resent = 0;
        self.resend_inflight(key, now);
        self.fill_window(key, now);
    }

    /// Resends in-flight messages not yet sent on this connection, in order,
    /// while the client's Receive Maximum allows [MQTT-3.3.4-9].
    fn resend_inflight(&mut self, key: SessionKey, now: Millis) {
        let window = self.window(key);
        loop {
            let s = self.session(key);
            let Some(conn) = s.conn else {
                return;
            };
            if s.resent >= s.inflight.len() || s.resent >= window {
                return;
            }
            let out = s.inflight[s.resent].clone();
            self.gate_qos2(conn, key, out.qos); // see durability.rs
            let sent = match out.state {
                DeliveryState::AwaitingPubComp(id) => {
                    self.send(conn, pubrel(id));
                    true
                }
                _ => self.send_publish(conn, key, &out, Send::Again, now),
            };
            let s = self.session_mut(key);
            if sent {
                s.resent += 1;
            } else if let Some(out) = s.remove_inflight(s.resent) {
                // Too large for the client's new Maximum Packet Size: as if
                // delivered [MQTT-3.1.2-25]; its slot and identifier are free.
                self.forget_delivery(key, &out);
            }
        }
    }

    pub(super) fn handle_puback(&mut self, conn: ConnId, id: PacketId, now: Millis) {
        self.complete(
            conn,
            id,
            |s| matches!(s, DeliveryState::AwaitingPubAck(_)),
            now,
        );
    }

    pub(super) fn handle_pubcomp(&mut self, conn: ConnId, id: PacketId, now: Millis) {
        self.complete(
            conn,
            id,
            |s| matches!(s, DeliveryState::AwaitingPubComp(_)),
            now,
        );
    }

    /// Ends the exchange for `id` if it is in the expected state; an
    /// acknowledgement for anything else is ignored.
    fn complete(
        &mut self,
        conn: ConnId,
        id: PacketId,
        expected: fn(DeliveryState) -> bool,
        now: Millis,
    ) {
        let Some(key) = self.conns.get(&conn).and_then(|c| c.session) else {
            return;
        };
        let s = self.session_mut(key);
        let Some(pos) = s
            .inflight_position(id)
            .filter(|&p| expected(s.inflight[p].state))
        else {
            return;
        };
        if let Some(out) = s.remove_inflight(pos) {
            if let Some(publisher) = self.forget_delivery(key, &out) {
                // Its last stored delivery acknowledged: nothing of the
                // message needs storage any more.
                self.settle(publisher, out.msg.id);
            }
        }
        self.resend_inflight(key, now);
        self.fill_window(key, now);
    }

    /// PUBREC: the client has the QoS 2 message; release it with PUBREL
    /// [MQTT-4.3.3-4]. A failure reason ends the exchange: the PUBLISH is
    /// acknowledged and not retransmitted [MQTT-4.4.0-2], nor given to
    /// another shared subscriber [MQTT-4.8.2-6].
    pub(super) fn handle_pubrec(&mut self, conn: ConnId, r: PubResponse, now: Millis) {
        let Some(key) = self.conns.get(&conn).and_then(|c| c.session) else {
            return;
        };
        let id = r.packet_id;
        let s = self.session_mut(key);
        let Some(pos) = s.inflight_position(id) else {
            let rsp = PubResponse::with_reason(id, ReasonCode::PacketIdentifierNotFound);
            return self.send(conn, Packet::PubRel(rsp));
        };
        match s.inflight[pos].state {
            DeliveryState::AwaitingPubRec(_) if r.reason.is_error() => {
                if let Some(out) = s.remove_inflight(pos) {
                    self.forget_delivery(key, &out);
                }
                self.resend_inflight(key, now);
                self.fill_window(key, now);
            }
            DeliveryState::AwaitingPubRec(_) => {
                s.inflight[pos].state = DeliveryState::AwaitingPubComp(id);
                let mut out = s.inflight[pos].clone();
                self.persist_delivery(key, &mut out);
                self.session_mut(key).inflight[pos].stored = out.stored;
                self.gate_qos2(conn, key, QoS::ExactlyOnce); // see durability.rs
                self.send(conn, pubrel(id));
            }
            DeliveryState::AwaitingPubComp(_) => {
                self.gate_qos2(conn, key, QoS::ExactlyOnce);
                self.send(conn, pubrel(id))
            }
            _ => {}
        }
    }

    /// Stores or clears the retained message for a topic [MQTT-3.3.1-5],
    /// [MQTT-3.3.1-6]; an empty payload clears it and is not stored
    /// [MQTT-3.3.1-7].
    pub(super) fn set_retained(&mut self, msg: &Rc<Message>) {
        // `$SYS` values are recomputed at start-up: never stored.
        let stored = self.durable() && !msg.topic.starts_with("$SYS/");
        if msg.payload.is_empty() {
            if self.retained.remove(&msg.topic).is_some() && stored {
                self.store(StorageOp::DeleteRetained {
                    topic: msg.topic.clone(),
                });
            }
            return;
        }
        self.retained.insert(msg.topic.clone(), msg.clone());
        if stored {
            self.store(StorageOp::PutRetained(msg.clone()));
        }
        if let Some(at) = msg.expires_at {
            self.arm_sweep(at);
        }
    }

    /// A member left a shared subscription: messages it was given but has
    /// not been sent go to another member.
    pub(super) fn hand_back_shared(&mut self, key: SessionKey, filter: &str, now: Millis) {
        let s = self.session_mut(key);
        let (mine, rest): (Vec<Outgoing>, Vec<Outgoing>) = s
            .queue
            .drain(..)
            .partition(|o| o.shared.as_deref() == Some(filter));
        s.queue = rest.into();
        s.queued_bytes = s.queue.iter().map(|o| o.msg.payload.len()).sum();
        self.redistribute(key, mine, now);
    }

    /// Sends deliveries made for shared subscriptions to another member of
    /// the same group; deliveries not made for one are dropped.
    pub(super) fn redistribute(&mut self, from: SessionKey, outs: Vec<Outgoing>, now: Millis) {
        for out in outs {
            self.forget_delivery(from, &out);
            let Some(filter) = out.shared.clone() else {
                continue;
            };
            // A QoS 2 PUBLISH already sent to the member whose session ended
            // goes to no other member [MQTT-4.8.2-5]; QoS 1 does [spec 4.8.2].
            if matches!(
                out.state,
                DeliveryState::AwaitingPubRec(_) | DeliveryState::AwaitingPubComp(_)
            ) {
                continue;
            }
            let members = self
                .tree
                .shared_group(&filter)
                .map(<[SubEntry]>::to_vec)
                .unwrap_or_default();
            let others: Vec<SubEntry> = members.into_iter().filter(|m| m.session != from).collect();
            match pick_member(&self.sessions, &others, 0, Some(from), &out.msg.topic) {
                Some(i) => {
                    let m = others[i];
                    let sub_ids = m.identifier.into_iter().collect();
                    let qos = out.msg.qos.min(m.options.qos);
                    self.deliver(
                        m.session,
                        out.msg,
                        qos,
                        out.retain,
                        sub_ids,
                        Some(filter),
                        now,
                    );
                }
                None => self.dropped(from, &out.msg, DropReason::QueueFull),
            }
        }
    }
}

/// Whether a PUBLISH is a delivery's first send or a retransmission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Send {
    /// DUP 0 [MQTT-3.3.1-3]; an expired message is dropped [MQTT-3.3.2-5].
    First,
    /// DUP 1 [MQTT-3.3.1-1]; sent even if expired meanwhile [MQTT-4.3.3-7].
    Again,
}

fn pubrel(id: PacketId) -> Packet {
    Packet::PubRel(PubResponse::new(id))
}

/// Whether a message on `topic` may go through subscription `entry`: its
/// session's ACL lets it read the topic (checked only where the ACL does
/// not let it read all the filter matches).
fn readable(sessions: &[Option<super::session::Session>], entry: &SubEntry, topic: &str) -> bool {
    if !entry.check_read {
        return true;
    }
    let acl = sessions
        .get(entry.session.0 as usize)
        .and_then(Option::as_ref)
        .and_then(|s| s.acl.as_ref());
    acl.map_or(true, |acl| acl.allows(topic, super::access::READ))
}

/// Chooses the member of a shared group to get a message on `topic`,
/// searching round robin from `start` among those that may read it: a
/// connected member with room in its window first, then any connected
/// member, then any member (queued until it returns).
fn pick_member(
    sessions: &[Option<super::session::Session>],
    members: &[SubEntry],
    start: usize,
    exclude: Option<SessionKey>,
    topic: &str,
) -> Option<usize> {
    let n = members.len();
    let order = (0..n)
        .map(|k| (start + k) % n)
        .filter(|&i| Some(members[i].session) != exclude)
        .filter(|&i| readable(sessions, &members[i], topic));
    let state = |i: usize| {
        sessions
            .get(members[i].session.0 as usize)
            .and_then(Option::as_ref)
    };
    let connected = |i: &usize| state(*i).is_some_and(|s| s.conn.is_some());
    let idle = |i: &usize| state(*i).is_some_and(|s| s.conn.is_some() && s.queue.is_empty());
    order
        .clone()
        .find(idle)
        .or_else(|| order.clone().find(connected))
        .or_else(|| order.clone().next())
}
