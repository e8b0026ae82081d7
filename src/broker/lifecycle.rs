//! How connections and sessions end: DISCONNECT, protocol violations,
//! keep-alive timeouts, takeover, wills (with their delay) and session expiry.

use super::connect::session_record;
use super::{Broker, ConnId, ConnState, Event, SessionKey, Timer};
use crate::codec::{Disconnect, Packet, PacketType, ReasonCode};
use crate::store::{Message, StorageOp};
use crate::time::Millis;
use std::rc::Rc;

impl Broker {
    /// A protocol violation: DISCONNECT with the reason (MQTT 5), or a
    /// CONNACK while authentication is still under way, then close. Only
    /// this connection is affected.
    pub(super) fn protocol_violation(
        &mut self,
        conn: ConnId,
        reason: ReasonCode,
        detail: &str,
        now: Millis,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if matches!(c.state, ConnState::Authenticating(_)) {
            let connack = crate::codec::ConnAck {
                session_present: false,
                reason: if reason.allowed_in(PacketType::ConnAck) {
                    reason
                } else {
                    ReasonCode::ProtocolError
                },
                properties: Default::default(),
            };
            self.send(conn, Packet::ConnAck(connack));
            self.events.push_back(Event::Rejected { conn, reason });
            return self.close_quietly(conn, now);
        }
        if c.version.is_v5() {
            let wire_reason = if reason.allowed_in(PacketType::Disconnect) {
                reason
            } else {
                ReasonCode::ProtocolError
            };
            self.send(conn, Packet::Disconnect(Disconnect::new(wire_reason)));
        }
        self.connection_lost(conn, Some(reason), Some(detail.to_owned()), now);
    }

    /// The connection ended without a normal DISCONNECT: the will applies.
    pub(super) fn connection_lost(
        &mut self,
        conn: ConnId,
        reason: Option<ReasonCode>,
        detail: Option<String>,
        now: Millis,
    ) {
        self.end_connection(conn, true, reason, detail, now);
    }

    /// Closes without a word: before CONNECT, nobody is owed one.
    pub(super) fn drop_connection(
        &mut self,
        conn: ConnId,
        reason: Option<ReasonCode>,
        now: Millis,
    ) {
        self.end_connection(conn, true, reason, None, now);
    }

    /// Closes a connection that never got a session (a refused CONNECT).
    pub(super) fn close_quietly(&mut self, conn: ConnId, now: Millis) {
        self.end_connection(conn, false, None, None, now);
    }

    /// Marks the connection closing (its pending output still flushes) and
    /// detaches its session; publishes or schedules the will if `with_will`.
    pub(super) fn end_connection(
        &mut self,
        conn: ConnId,
        with_will: bool,
        reason: Option<ReasonCode>,
        detail: Option<String>,
        now: Millis,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.is_open() {
            return;
        }
        let was_connected = matches!(c.state, ConnState::Connected);
        c.state = ConnState::Closing;
        c.outbox.close(conn, &mut self.ready);
        c.rx = Vec::new();
        let session = c.session.take();
        let client_id = session.map(|k| self.session(k).client_id.clone());
        if let Some(key) = session {
            self.detach(key, with_will, now);
        }
        if was_connected || reason.is_some() {
            self.events.push_back(Event::Disconnected {
                conn,
                client_id,
                reason,
                detail,
            });
        }
    }

    fn detach(&mut self, key: SessionKey, with_will: bool, now: Millis) {
        let s = self.session_mut(key);
        s.conn = None;
        s.disconnected_at = Some(now);
        let will = s.will.take();
        let expiry = s.expiry_interval;
        if let (true, Some((msg, delay))) = (with_will, will) {
            if delay > 0 && expiry > 0 {
                // [MQTT-3.1.3-9]: after the delay, or when the session ends.
                let due = now + u64::from(delay.min(expiry)) * 1000;
                s.pending_will = Some((msg, delay, due));
            } else {
                let acl = self.session(key).acl.clone();
                self.publish_will(&msg, acl.as_deref(), now);
            }
        }
        if expiry == 0 {
            // The session is kept only with an expiry interval above 0
            // [MQTT-3.1.2-23]; at 0 it ends with the connection (spec 3.1.2.11.2).
            return self.end_session(key, now);
        }
        let s = self.session(key);
        let record = s.stored.then(|| session_record(s));
        let client_id = s.client_id.clone();
        if let Some(r) = record {
            self.store(StorageOp::PutSession(r));
        }
        if let Some(at) = self.next_session_deadline(key) {
            self.arm(at, Timer::Session(client_id));
        }
    }

    fn next_session_deadline(&self, key: SessionKey) -> Option<Millis> {
        let s = self.session(key);
        let will = s.pending_will.as_ref().map(|(_, _, due)| *due);
        match (will, s.expires_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Publishes a will as the client's last message. Its Message Expiry
    /// Interval is the lifetime from now, its publication (v5 3.1.3.2.4).
    /// The ACL of its session (`acl`) is asked again, as the rules may have
    /// changed since CONNECT checked it.
    pub(super) fn publish_will(
        &mut self,
        will: &Rc<Message>,
        acl: Option<&super::ClientAcl>,
        now: Millis,
    ) {
        if acl.is_some_and(|acl| !acl.allows(&will.topic, super::access::WRITE)) {
            return;
        }
        let mut msg = Message::clone(will);
        msg.id = self.take_message_id();
        if let Some(secs) = msg.properties.message_expiry_interval.take() {
            msg.expires_at = Some(now + u64::from(secs) * 1000);
        }
        if msg.is_expired(now) {
            return;
        }
        let msg = Rc::new(msg);
        self.counters.messages_received[msg.qos as usize] += 1;
        if msg.retain {
            self.set_retained(&msg);
        }
        self.route(&msg, None, now);
    }

    /// The session ends: its pending will is published [MQTT-3.1.3-9],
    /// its subscriptions go, and deliveries made for shared subscriptions
    /// go to other members of the group.
    pub(super) fn end_session(&mut self, key: SessionKey, now: Millis) {
        let Some(mut s) = self.sessions[key.0 as usize].take() else {
            return;
        };
        self.by_client_id.remove(&s.client_id);
        for filter in s.subscriptions.keys() {
            self.tree.remove(filter, key);
        }
        // Put the session back briefly so storage bookkeeping can see it.
        let pending_will = s.pending_will.take();
        let outs: Vec<_> = s.inflight.drain(..).chain(s.queue.drain(..)).collect();
        let stored = s.stored;
        let client_id = s.client_id.clone();
        let acl = s.acl.clone();
        self.sessions[key.0 as usize] = Some(s);
        let (shared, own): (Vec<_>, Vec<_>) = outs.into_iter().partition(|o| {
            // QoS 2 already received by the client stays with it [MQTT-4.8.2-5].
            o.shared.is_some()
                && !matches!(o.state, crate::store::DeliveryState::AwaitingPubComp(_))
        });
        for out in &own {
            self.forget_delivery(key, out);
        }
        self.redistribute(key, shared, now);
        self.sessions[key.0 as usize] = None;
        self.free_sessions.push(key.0);
        if stored && self.durable() {
            self.store(StorageOp::DeleteSession { client_id });
        }
        if let Some((msg, _, _)) = pending_will {
            self.publish_will(&msg, acl.as_deref(), now);
        }
    }

    pub(super) fn fire(&mut self, timer: Timer, now: Millis) {
        match timer {
            Timer::ConnectTimeout(conn) => {
                let waiting = self.conns.get(&conn).is_some_and(|c| {
                    matches!(
                        c.state,
                        ConnState::AwaitingConnect | ConnState::Authenticating(_)
                    )
                });
                if waiting {
                    self.drop_connection(conn, Some(ReasonCode::MaximumConnectTime), now);
                }
            }
            Timer::KeepAlive(conn) => self.check_keep_alive(conn, now),
            Timer::Session(client_id) => self.check_session(&client_id, now),
            Timer::Sys => {
                self.publish_sys(now);
                let next = now + u64::from(self.cfg.sys_interval_secs) * 1000;
                self.arm(next, Timer::Sys);
            }
            Timer::Sweep => {
                self.sweep_armed = false;
                self.sweep_expired(now);
            }
            Timer::BridgeRetry(i) => self.bridge_retry(i, now),
            Timer::BridgeTick(i, link) => self.bridge_tick(i, link, now),
        }
    }

    /// [MQTT-3.1.2-24]: nothing received for 1.5 times the keep alive.
    fn check_keep_alive(&mut self, conn: ConnId, now: Millis) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if !matches!(c.state, ConnState::Connected) || c.keep_alive_ms == 0 {
            return;
        }
        let deadline = c.last_rx + c.keep_alive_ms;
        if now >= deadline {
            self.protocol_violation(
                conn,
                ReasonCode::KeepAliveTimeout,
                "keep alive timeout",
                now,
            );
        } else {
            self.arm(deadline, Timer::KeepAlive(conn));
        }
    }

    fn check_session(&mut self, client_id: &Rc<str>, now: Millis) {
        let Some(&key) = self.by_client_id.get(client_id) else {
            return;
        };
        if self.session(key).conn.is_some() {
            return;
        }
        if self.session(key).expires_at().is_some_and(|at| at <= now) {
            return self.end_session(key, now);
        }
        let s = self.session_mut(key);
        if s.pending_will
            .as_ref()
            .is_some_and(|(_, _, due)| *due <= now)
        {
            let (msg, _, _) = s.pending_will.take().expect("checked above");
            let record = s.stored.then(|| session_record(s));
            let acl = s.acl.clone();
            self.publish_will(&msg, acl.as_deref(), now);
            if let Some(r) = record {
                self.store(StorageOp::PutSession(r));
            }
        }
        if let Some(at) = self.next_session_deadline(key) {
            self.arm(at, Timer::Session(client_id.clone()));
        }
    }
}
