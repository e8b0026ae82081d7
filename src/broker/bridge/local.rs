//! A bridge's side inside the broker: the internal connection its session
//! is attached to while the remote is reachable, and what crosses it.

use super::{BridgeView, LocalMode, SESSION_PREFIX};
use crate::broker::{Broker, Conn, ConnId, ConnState, SessionKey};
use crate::codec::{
    self, Connect, Disconnect, Packet, PacketType, Properties, ProtocolVersion, PubResponse,
    RawPublish, ReasonCode, RetainHandling, Subscribe, Subscription, SubscriptionOptions,
    Unsubscribe,
};
use crate::time::Millis;
use std::num::NonZeroU16;

impl Broker {
    /// Connects the bridge's session: `Live` while the remote is connected,
    /// `Setup` just long enough to create the session and its subscriptions
    /// (everything here is synchronous: the connection is the broker's own).
    pub(super) fn bridge_local_open(&mut self, i: usize, mode: LocalMode, now: Millis) {
        self.bridge_local_close(i, now);
        let local = self.bridges[i].local;
        if self.conns.remove(&local).is_some() {
            self.waiting.remove(&local);
        }
        self.conns.insert(local, Conn::new(now));
        let b = &mut self.bridges[i];
        b.local_mode = mode;
        b.local_rx.clear();
        b.quiet_pubcomps.clear();
        let created = !self.by_client_id.contains_key(&b.session_id);
        b.fresh_session |= created;
        let mut properties = Properties {
            // The queue outlives any outage; it goes with the bridge's
            // configuration (see `forget_removed_bridges`).
            session_expiry_interval: Some(u32::MAX),
            // Setup takes nothing into flight that it would only drop.
            receive_maximum: Some(1),
            ..Properties::default()
        };
        if mode == LocalMode::Live {
            // What the remote takes is what the session may send, up to
            // a window of its own (not `limits.maxInflight`, which is for
            // clients: a bridge's throughput is its window over the
            // round trip to the remote).
            properties.receive_maximum = Some(b.remote_receive_maximum.min(super::WINDOW));
            properties.maximum_packet_size =
                Some(b.remote_max_packet_size.min(codec::wire::VARINT_MAX + 5));
        }
        let client_id = b.session_id.to_string();
        let connect = Connect {
            protocol: ProtocolVersion::V5,
            bridge: false,
            clean_start: false,
            keep_alive: 0,
            properties,
            client_id: client_id.clone(),
            will: None,
            username: None,
            password: None,
        };
        self.handle_packet(local, Packet::Connect(Box::new(connect)), now);
        let connected =
            (self.conns.get(&local)).is_some_and(|c| matches!(c.state, ConnState::Connected));
        let Some(&key) = self
            .by_client_id
            .get(client_id.as_str())
            .filter(|_| connected)
        else {
            self.bridges[i].last_error = Some("the broker refused the bridge's session".into());
            self.bridges[i].local_mode = LocalMode::Down;
            return;
        };
        self.bridge_local_subscribe(i, key, now);
        if mode == LocalMode::Setup {
            return self.bridge_local_close(i, now);
        }
        if !self.bridges[i].remote_session_present {
            // The remote forgot its session, so it may reuse identifiers of
            // QoS 2 exchanges the broker still holds open: release them.
            let ids: Vec<codec::PacketId> =
                self.session(key).incoming_qos2.iter().copied().collect();
            for id in ids {
                self.bridges[i].quiet_pubcomps.push(id);
                self.handle_packet(local, Packet::PubRel(PubResponse::new(id)), now);
            }
        }
    }

    /// The session's subscriptions become the `out` entries: No Local (a
    /// message that came over this bridge never goes back over it), Retain
    /// As Published, retained messages only for a new subscription.
    fn bridge_local_subscribe(&mut self, i: usize, key: SessionKey, now: Millis) {
        let b = &self.bridges[i];
        let live = b.local_mode == LocalMode::Live;
        let wanted: Vec<Subscription> = (b.cfg.out.iter())
            .map(|m| Subscription {
                filter: m.local_filter(),
                options: SubscriptionOptions {
                    qos: if live {
                        m.qos.min(b.remote_maximum_qos)
                    } else {
                        m.qos
                    },
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::OnNewSubscribe,
                },
            })
            .collect();
        let stale: Vec<String> = (self.session(key).subscriptions.keys())
            .filter(|f| !wanted.iter().any(|w| &w.filter == *f))
            .cloned()
            .collect();
        let local = b.local;
        let id = NonZeroU16::MIN;
        if !stale.is_empty() {
            let properties = Properties::default();
            let unsubscribe = Unsubscribe {
                packet_id: id,
                properties,
                filters: stale,
            };
            self.handle_packet(local, Packet::Unsubscribe(unsubscribe), now);
        }
        if !wanted.is_empty() {
            let properties = Properties::default();
            let subscribe = Subscribe {
                packet_id: id,
                properties,
                subscriptions: wanted,
            };
            self.handle_packet(local, Packet::Subscribe(subscribe), now);
        }
    }

    /// Whether the session must be connected once before the link is up:
    /// it does not exist yet, or its subscriptions are not the `out`
    /// entries (a changed configuration).
    pub(super) fn bridge_needs_setup(&self, i: usize) -> bool {
        let b = &self.bridges[i];
        let Some(&key) = self.by_client_id.get(&b.session_id) else {
            return true;
        };
        let subs = &self.session(key).subscriptions;
        subs.len() != b.cfg.out.len()
            || (b.cfg.out.iter())
                .any(|m| (subs.get(&m.local_filter())).map_or(true, |s| s.options.qos != m.qos))
    }

    /// Disconnects the session normally: messages for it queue from now on.
    pub(in crate::broker) fn bridge_local_close(&mut self, i: usize, now: Millis) {
        let b = &mut self.bridges[i];
        if b.local_mode == LocalMode::Down {
            return;
        }
        b.local_mode = LocalMode::Down;
        let local = b.local;
        let connected =
            (self.conns.get(&local)).is_some_and(|c| matches!(c.state, ConnState::Connected));
        if connected {
            let bye = Disconnect::new(ReasonCode::Success);
            self.handle_packet(local, Packet::Disconnect(bye), now);
        }
    }

    /// What the broker wrote to a bridge's internal connection.
    pub(in crate::broker) fn bridge_local_output(
        &mut self,
        conn: ConnId,
        data: &[u8],
        close: bool,
    ) {
        let now = self.clock;
        let Some(i) = self.bridges.iter().position(|b| b.local == conn) else {
            return;
        };
        let b = &mut self.bridges[i];
        if b.local_mode == LocalMode::Down {
            return; // a connection the bridge has already left
        }
        let mut buf = std::mem::take(&mut b.local_rx);
        buf.extend_from_slice(data);
        let mut pos = 0;
        let mut broken = false;
        while self.bridges[i].local_mode != LocalMode::Down {
            let f = match codec::frame(&buf[pos..], u32::MAX) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => {
                    broken = true;
                    break;
                }
            };
            let body = &buf[pos + f.header_len..pos + f.total_len];
            let live = self.bridges[i].local_mode == LocalMode::Live;
            let done = if f.first_byte >> 4 == PacketType::Publish as u8 && live {
                // The hot path: relayed from its bytes, not decoded and
                // encoded again.
                RawPublish::parse(f.first_byte, body, ProtocolVersion::V5)
                    .map(|p| self.bridge_publish_out(i, &p, now))
            } else {
                codec::decode_frame(f.first_byte, body, ProtocolVersion::V5)
                    .map(|packet| self.bridge_local_packet(i, packet))
            };
            pos += f.total_len;
            if done.is_err() {
                broken = true;
                break;
            }
        }
        let b = &mut self.bridges[i];
        if b.local_mode == LocalMode::Down {
            return;
        }
        buf.drain(..pos);
        b.local_rx = buf;
        if close || broken {
            // The broker ended the session's connection itself.
            b.local_mode = LocalMode::Down;
            if b.session_up {
                let error = "the broker closed the bridge's session";
                self.bridge_lost(i, None, error.into(), now);
            }
        }
    }

    fn bridge_local_packet(&mut self, i: usize, packet: Packet) {
        let b = &mut self.bridges[i];
        let Some(link) = b.link.filter(|_| b.local_mode == LocalMode::Live) else {
            return; // Setup: messages wait in the session for the link
        };
        let to_remote = match packet {
            Packet::PubComp(r) if b.quiet_pubcomps.contains(&r.packet_id) => {
                b.quiet_pubcomps.retain(|id| *id != r.packet_id);
                return;
            }
            Packet::PubRel(r) if b.local_completes.contains(&r.packet_id) => {
                // The remote has it at a lower QoS: complete it here.
                b.local_completes.retain(|id| *id != r.packet_id);
                let now = self.clock;
                let done = Packet::PubComp(PubResponse::new(r.packet_id));
                return self.bridge_to_local(i, done, now);
            }
            Packet::PubAck(r) => Packet::PubAck(r),
            Packet::PubRec(r) => Packet::PubRec(r),
            Packet::PubRel(r) => Packet::PubRel(r),
            Packet::PubComp(r) => Packet::PubComp(r),
            Packet::SubAck(a) => {
                if let Some(bad) = a.reasons.iter().find(|r| r.is_error()) {
                    let error = format!("the broker refused an 'out' subscription: {bad:?}");
                    b.last_error = Some(error);
                }
                return;
            }
            _ => return,
        };
        self.send(link, to_remote);
    }

    /// A message for the session leaves for the remote, under its remote
    /// name and with the identifier the broker gave it, so the remote's
    /// acknowledgement completes the broker's own exchange. Its properties
    /// are copied as they are: the session's subscriptions carry no
    /// identifier and its connection takes no topic alias, so neither is
    /// among them.
    fn bridge_publish_out(&mut self, i: usize, p: &RawPublish, now: Millis) {
        let b = &mut self.bridges[i];
        let Some(link) = b.link else {
            return;
        };
        let mapped = b.cfg.out_route(p.topic).filter(|(_, remote_prefix, rest)| {
            remote_prefix.len() + rest.len() <= usize::from(u16::MAX)
        });
        let version = b.cfg.protocol;
        let retain = b.remote_retain;
        // A new PUBLISH with an identifier ends whatever it was used for.
        if let Some(id) = p.packet_id {
            b.downgraded.retain(|x| *x != id);
            b.local_completes.retain(|x| *x != id);
        }
        // Above the remote's Maximum QoS, it goes at that QoS [MQTT-3.2.2-11].
        let (qos, max_qos) = ((p.first_byte >> 1) & 0b11, b.remote_maximum_qos as u8);
        let mut wire = *p;
        if qos > max_qos {
            wire.first_byte = (p.first_byte & !0b0110) | (max_qos << 1);
            if max_qos == 0 {
                wire.first_byte &= !0b1000; // no DUP at QoS 0 [MQTT-3.3.1-2]
                wire.packet_id = None;
            }
        }
        let sent = match (mapped, self.conns.get_mut(&link)) {
            (Some((_, prefix, rest)), Some(c)) => {
                let max = c.max_packet_size as usize;
                c.outbox.write(link, &mut self.ready, |tx| {
                    let start = tx.len();
                    let len = wire.encode(tx, version, prefix, rest, retain);
                    if len > max {
                        tx.truncate(start);
                    }
                    len <= max
                })
            }
            _ => false,
        };
        if sent {
            let b = &mut self.bridges[i];
            b.messages_out += 1;
            match (p.packet_id, qos, max_qos) {
                (Some(id), 2, 1) => b.downgraded.push(id),
                (Some(id), _, 0) => {
                    // Nothing will come back from the remote: the broker's
                    // exchange is settled here.
                    let ack = if qos == 2 {
                        b.local_completes.push(id);
                        Packet::PubRec(PubResponse::new(id))
                    } else {
                        Packet::PubAck(PubResponse::new(id))
                    };
                    self.bridge_to_local(i, ack, now);
                }
                _ => {}
            }
            return;
        }
        // Not for the remote after all (a subscription no longer
        // configured, or too large for it): let it go, so it does not
        // hold the session's window.
        let ack = p.packet_id.map(|id| match (p.first_byte >> 1) & 0b11 {
            2 => Packet::PubRec(PubResponse::new(id)),
            _ => Packet::PubAck(PubResponse::new(id)),
        });
        if let Some(ack) = ack {
            self.bridge_to_local(i, ack, now);
        }
    }

    /// A packet from the remote side for the session's exchange with the
    /// broker, as if its client had sent it.
    pub(in crate::broker) fn bridge_to_local(&mut self, i: usize, packet: Packet, now: Millis) {
        let b = &self.bridges[i];
        let local = b.local;
        let live = b.local_mode == LocalMode::Live
            && (self.conns.get(&local)).is_some_and(|c| matches!(c.state, ConnState::Connected));
        if live {
            self.handle_packet(local, packet, now);
        }
    }

    /// Whether a QoS 1/2 message for `topic` must be refused because a
    /// bridge that carries it has a full queue: refusing (0x97) keeps the
    /// publisher's copy, where dropping would lose an acknowledged message.
    pub(in crate::broker) fn bridge_queue_full(
        &self,
        topic: &str,
        len: usize,
        conn: ConnId,
    ) -> bool {
        if self.bridges.is_empty() {
            return false; // the common case, on the hot path: nothing to look up
        }
        let from = (self.conns.get(&conn)).and_then(|c| c.session);
        let (max_messages, max_bytes) = (self.cfg.max_queued_messages, self.cfg.max_queued_bytes);
        self.bridges.iter().any(|b| {
            let Some(&key) = self.by_client_id.get(&b.session_id) else {
                return false;
            };
            let s = self.session(key);
            let full = s.queue.len() >= max_messages || s.queued_bytes + len > max_bytes;
            full && Some(key) != from && b.cfg.carries_out(topic)
        })
    }

    /// After a restart: the sessions of bridges no longer configured end.
    pub(in crate::broker) fn forget_removed_bridges(&mut self, now: Millis) {
        let removed: Vec<SessionKey> = (self.by_client_id.iter())
            .filter(|(id, _)| {
                id.strip_prefix(SESSION_PREFIX)
                    .is_some_and(|name| !self.bridges.iter().any(|b| b.cfg.name == name))
            })
            .map(|(_, &key)| key)
            .collect();
        for key in removed {
            self.end_session(key, now);
        }
    }

    pub(in crate::broker) fn bridge_views(&self) -> Vec<BridgeView> {
        (self.bridges.iter())
            .map(|b| {
                let session = (self.by_client_id.get(&b.session_id)).map(|&k| self.session(k));
                BridgeView {
                    name: b.cfg.name.clone(),
                    url: b.cfg.url.clone(),
                    state: b.state,
                    reason: b.reason,
                    last_error: b.last_error.clone(),
                    queued: session.map_or(0, |s| s.queue.len()),
                    inflight: session.map_or(0, |s| s.inflight.len()),
                    messages_out: b.messages_out,
                    messages_in: b.messages_in,
                    bytes_out: b.bytes_out,
                    bytes_in: b.bytes_in,
                    attempts: b.attempts,
                }
            })
            .collect()
    }
}
