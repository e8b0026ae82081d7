//! A bridge's connection to its remote broker: dialing, CONNECT/CONNACK,
//! the remote's packets, keep alive, losing the link and backing off.

use super::{Bridge, BridgeState, Dial, LocalMode, DIAL_BASE};
use crate::broker::{Broker, Conn, ConnId, ConnState, Event, Timer};
use crate::codec::{
    Connect, DecodeError, Disconnect, Packet, Properties, PubResponse, Publish, QoS, ReasonCode,
    RetainHandling, Subscribe, Subscription, SubscriptionOptions,
};
use crate::time::Millis;
use std::num::NonZeroU16;
use std::rc::Rc;

impl Broker {
    /// Sets up a bridge per configured one; each dials at the first
    /// `handle_timeout`.
    pub(in crate::broker) fn with_bridges(mut self) -> Broker {
        let seed = self.cfg.client_id_seed;
        self.bridges = (self.cfg.bridges.iter().cloned().enumerate())
            .map(|(i, cfg)| Bridge::new(cfg, i, seed))
            .collect();
        for i in 0..self.bridges.len() {
            self.arm(Millis(0), Timer::BridgeRetry(i));
        }
        self
    }

    /// The next connection the host should open for a bridge. The host
    /// reports it with `handle_open(dial.conn)` once it is open, or with
    /// `handle_closed(dial.conn)` if it could not be opened; the rest is as
    /// for any connection (`handle_bytes`, `poll_transmit`).
    pub fn poll_dial(&mut self) -> Option<Dial> {
        self.dials.pop_front()
    }

    /// The host's network is back (a browser's `online` event): bridges
    /// waiting to retry do so now.
    pub fn handle_online(&mut self, now: Millis) {
        self.clock = now;
        for i in 0..self.bridges.len() {
            let b = &mut self.bridges[i];
            if matches!(b.state, BridgeState::Backoff | BridgeState::Refused) && b.link.is_none() {
                b.attempts = 0;
                self.bridge_dial(i, now);
            }
        }
    }

    /// Takes a bridge's link down (`paused`), or brings it back at once.
    /// Messages for it queue meanwhile, as in any outage. Returns false if
    /// no bridge has that name.
    pub fn handle_bridge_pause(&mut self, name: &str, paused: bool, now: Millis) -> bool {
        self.clock = now;
        let Some(i) = self.bridges.iter().position(|b| b.cfg.name == name) else {
            return false;
        };
        match (paused, self.bridges[i].state) {
            (true, BridgeState::Paused | BridgeState::Stopped) => {}
            (true, _) => {
                if let Some(link) = self.bridges[i].link {
                    if self.bridges[i].session_up {
                        let bye = Disconnect::new(ReasonCode::Success);
                        self.send(link, Packet::Disconnect(bye));
                    }
                }
                self.set_bridge_state(i, BridgeState::Paused, now);
                self.bridge_lost(i, None, "paused".into(), now);
                self.bridges[i].last_error = None;
            }
            (false, BridgeState::Paused) => {
                self.bridges[i].attempts = 0;
                self.bridge_dial(i, now);
            }
            (false, _) => {}
        }
        true
    }

    pub(in crate::broker) fn bridge_retry(&mut self, i: usize, now: Millis) {
        let b = &self.bridges[i];
        let due = b.link.is_none()
            && b.retry_at <= now
            && !matches!(
                b.state,
                BridgeState::Connected | BridgeState::Stopped | BridgeState::Paused
            );
        if due {
            if b.local_mode == LocalMode::Down && self.bridge_needs_setup(i) {
                // The session and its subscriptions exist from the start,
                // so messages queue even if the remote never answers.
                self.bridge_local_open(i, LocalMode::Setup, now);
            }
            self.bridge_dial(i, now);
        }
    }

    fn bridge_dial(&mut self, i: usize, now: Millis) {
        self.dials_made += 1;
        let conn = ConnId(DIAL_BASE + self.dials_made % (super::LOCAL_BASE - DIAL_BASE));
        let b = &mut self.bridges[i];
        b.link = Some(conn);
        b.attempts += 1;
        self.dials.push_back(Dial {
            conn,
            bridge: b.cfg.name.clone(),
            url: b.cfg.url.clone(),
        });
        self.set_bridge_state(i, BridgeState::Connecting, now);
        // The host may take long to report a dial that hangs.
        let deadline = now + self.cfg.connect_timeout_ms;
        self.bridges[i].next_tick = deadline;
        self.arm(deadline, Timer::BridgeTick(i, conn));
    }

    fn bridge_of(&self, link: ConnId) -> Option<usize> {
        self.bridges.iter().position(|b| b.link == Some(link))
    }

    /// The host opened a connection `poll_dial` asked for: CONNECT.
    pub(in crate::broker) fn bridge_link_opened(&mut self, conn: ConnId, now: Millis) {
        let Some(i) = self.bridge_of(conn) else {
            // Asked for before a shutdown, or given up on: close it.
            let mut c = Conn::new(now);
            c.state = ConnState::Closing;
            c.outbox.close(conn, &mut self.ready);
            self.conns.insert(conn, c);
            return;
        };
        let b = &mut self.bridges[i];
        b.last_rx = now;
        let cfg = &b.cfg;
        let mut c = Conn::new(now);
        c.state = ConnState::Remote(i);
        c.version = cfg.protocol;
        let mut properties = Properties::default();
        if cfg.protocol.is_v5() {
            properties.session_expiry_interval = Some(cfg.session_expiry);
            properties.receive_maximum = Some(self.cfg.receive_maximum);
            properties.maximum_packet_size = Some(self.cfg.max_packet_size);
        }
        let connect = Connect {
            protocol: cfg.protocol,
            bridge: b.private,
            // The remote keeps the session across links, so what it queued
            // for `in` meanwhile arrives now; unless ours is new, whose
            // packet identifiers start again.
            clean_start: b.fresh_session,
            keep_alive: cfg.keep_alive,
            properties,
            client_id: cfg.client_id.clone(),
            will: None,
            username: cfg.username.clone(),
            password: cfg.password.clone(),
        };
        self.conns.insert(conn, c);
        self.send(conn, Packet::Connect(Box::new(connect)));
    }

    /// The host saw a bridge link end, or could not open it.
    pub(in crate::broker) fn bridge_link_closed(&mut self, conn: ConnId, now: Millis) {
        self.conns.remove(&conn);
        self.waiting.remove(&conn);
        if let Some(i) = self.bridge_of(conn) {
            let what = if self.bridges[i].session_up {
                "the connection to the remote broker closed"
            } else {
                "could not connect to the remote broker"
            };
            self.bridge_lost(i, None, what.into(), now);
        }
    }

    pub(in crate::broker) fn bridge_remote_malformed(
        &mut self,
        i: usize,
        e: DecodeError,
        now: Millis,
    ) {
        let reason = e.reason_code();
        self.bridge_lost(
            i,
            Some(reason),
            format!("the remote broker sent a malformed packet: {e}"),
            now,
        );
    }

    /// Bytes the host read from a bridge link.
    pub(in crate::broker) fn bridge_received(&mut self, conn: ConnId, len: usize) {
        if let Some(i) = self.bridge_of(conn) {
            self.bridges[i].bytes_in += len as u64;
        }
    }

    /// Bytes the host is about to write to a bridge link.
    pub(in crate::broker) fn bridge_sent(&mut self, conn: ConnId, len: usize) {
        if let Some(i) = self.bridge_of(conn) {
            self.bridges[i].bytes_out += len as u64;
        }
    }

    pub(in crate::broker) fn handle_remote_packet(
        &mut self,
        i: usize,
        packet: Packet,
        now: Millis,
    ) {
        let b = &mut self.bridges[i];
        b.last_rx = now;
        let connected = b.session_up;
        match packet {
            Packet::ConnAck(a) if !connected => self.bridge_connack(i, a, now),
            Packet::Publish(p) if connected => self.bridge_publish_in(i, p, now),
            // Acknowledgements mirror onto the same exchange locally.
            Packet::PubAck(r) if connected && b.downgraded.contains(&r.packet_id) => {
                // A QoS 2 message the remote took at QoS 1: for the
                // broker, received; the rest of the exchange is the bridge's.
                b.downgraded.retain(|id| *id != r.packet_id);
                b.local_completes.push(r.packet_id);
                self.bridge_to_local(i, Packet::PubRec(quiet(r)), now)
            }
            Packet::PubAck(r) if connected => {
                self.bridge_to_local(i, Packet::PubAck(quiet(r)), now)
            }
            Packet::PubRec(r) if connected => {
                self.bridge_to_local(i, Packet::PubRec(quiet(r)), now)
            }
            Packet::PubRel(r) if connected => {
                self.bridge_to_local(i, Packet::PubRel(quiet(r)), now)
            }
            Packet::PubComp(r) if connected => {
                self.bridge_to_local(i, Packet::PubComp(quiet(r)), now)
            }
            Packet::SubAck(a) if connected => {
                if let Some(bad) = a.reasons.iter().find(|r| r.is_error()) {
                    let error = format!("the remote broker refused an 'in' subscription: {bad:?}");
                    self.bridges[i].last_error = Some(error);
                }
                // Connected: what the remote publishes from now on comes in.
                self.set_bridge_state(i, BridgeState::Connected, now);
            }
            Packet::UnsubAck(_) | Packet::PingResp if connected => {}
            Packet::Disconnect(d) => {
                let error = format!("the remote broker disconnected: {:?}", d.reason);
                self.bridge_lost(i, Some(d.reason), error, now);
            }
            other => {
                let error = format!(
                    "the remote broker sent {:?} out of turn",
                    other.packet_type()
                );
                self.bridge_lost(i, Some(ReasonCode::ProtocolError), error, now);
            }
        }
    }

    fn bridge_connack(&mut self, i: usize, a: crate::codec::ConnAck, now: Millis) {
        let b = &mut self.bridges[i];
        if a.reason.is_error() {
            if b.private && a.reason == ReasonCode::UnsupportedProtocolVersion {
                // Not a Mosquitto: try again as a plain 3.1.1 client.
                b.private = false;
                b.attempts = 0;
                let error = "the remote broker does not take bridge protocol levels; retrying as a plain client";
                return self.bridge_lost(i, None, error.into(), now);
            }
            let error = format!("the remote broker refused CONNECT: {:?}", a.reason);
            return self.bridge_lost(i, Some(a.reason), error, now);
        }
        let Some(link) = b.link else {
            return;
        };
        let p = &a.properties;
        b.remote_session_present = a.session_present;
        b.remote_receive_maximum = p.receive_maximum.unwrap_or(u16::MAX);
        b.remote_max_packet_size = p.maximum_packet_size.unwrap_or(u32::MAX);
        b.remote_maximum_qos = match p.maximum_qos {
            Some(0) => QoS::AtMostOnce,
            Some(1) => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        };
        b.remote_retain = p.retain_available != Some(false);
        b.fresh_session = false;
        // `attempts` is reset once the link has lasted (the first keep
        // alive check): a remote that takes CONNECT and then kicks the
        // bridge out (another broker with the same client id) still gets
        // a growing backoff.
        if b.cfg.keep_alive == 0 {
            b.attempts = 0;
        }
        b.reason = None;
        b.last_error = None;
        let v5 = b.cfg.protocol.is_v5();
        let subscriptions: Vec<Subscription> = (b.cfg.inbound.iter())
            .map(|m| Subscription {
                filter: m.remote_filter(),
                options: SubscriptionOptions {
                    qos: m.qos,
                    // Loop prevention: what the bridge publishes there
                    // does not come back [MQTT-3.8.3-3].
                    no_local: v5,
                    retain_as_published: v5,
                    retain_handling: RetainHandling::OnNewSubscribe,
                },
            })
            .collect();
        let keep_alive = u64::from(b.cfg.keep_alive) * 1000;
        if let Some(c) = self.conns.get_mut(&link) {
            c.max_packet_size = self.bridges[i].remote_max_packet_size;
        }
        self.bridges[i].session_up = true;
        if subscriptions.is_empty() {
            self.set_bridge_state(i, BridgeState::Connected, now);
        } else {
            let subscribe = Subscribe {
                packet_id: NonZeroU16::MIN,
                properties: Properties::default(),
                subscriptions,
            };
            self.send(link, Packet::Subscribe(subscribe));
        }
        if keep_alive > 0 {
            self.bridges[i].next_tick = now + keep_alive;
            self.arm(now + keep_alive, Timer::BridgeTick(i, link));
        }
        self.bridge_local_open(i, LocalMode::Live, now);
    }

    /// A message from the remote enters the broker as the session's client
    /// publishing it, under its local name and with the same identifier.
    fn bridge_publish_in(&mut self, i: usize, mut p: Publish, now: Millis) {
        let b = &mut self.bridges[i];
        let Some(topic) = b.cfg.in_topic(&p.topic) else {
            // Not one of ours (a subscription the session kept from an
            // older configuration): acknowledge it, so it is not resent.
            let Some(link) = b.link else { return };
            let reply = p.packet_id.map(|id| {
                let rsp = PubResponse::with_reason(id, ReasonCode::NoMatchingSubscribers);
                match p.qos {
                    QoS::ExactlyOnce => Packet::PubRec(rsp),
                    _ => Packet::PubAck(rsp),
                }
            });
            if let Some(reply) = reply {
                self.send(link, reply);
            }
            return;
        };
        b.messages_in += 1;
        p.topic = topic;
        p.dup = false;
        // A broker without retained messages takes them as plain ones.
        p.retain &= self.cfg.retain_available;
        p.properties.subscription_identifiers.clear();
        p.properties.topic_alias = None;
        self.bridge_to_local(i, Packet::Publish(p), now);
    }

    /// Each keep alive period: PINGREQ, and the link is given up if the
    /// remote said nothing for two periods. Before CONNACK: its deadline.
    pub(in crate::broker) fn bridge_tick(&mut self, i: usize, link: ConnId, now: Millis) {
        let b = &mut self.bridges[i];
        if b.link != Some(link) || now < b.next_tick {
            return; // another link's, or superseded
        }
        if b.session_up && b.cfg.keep_alive == 0 {
            return; // the CONNACK deadline passed with CONNACK in hand
        }
        if !b.session_up {
            let error = "no CONNACK from the remote broker in time";
            self.close_link(link);
            return self.bridge_lost(i, None, error.into(), now);
        }
        let period = u64::from(b.cfg.keep_alive) * 1000;
        if now - b.last_rx >= 2 * period {
            self.close_link(link);
            let error = "the remote broker stopped answering (keep alive)";
            return self.bridge_lost(i, Some(ReasonCode::KeepAliveTimeout), error.into(), now);
        }
        b.attempts = 0; // the link lasted a keep alive period
        b.next_tick = now + period;
        self.send(link, Packet::PingReq);
        self.arm(now + period, Timer::BridgeTick(i, link));
    }

    fn close_link(&mut self, link: ConnId) {
        if let Some(c) = self.conns.get_mut(&link) {
            if c.is_open() {
                c.state = ConnState::Closing;
                c.outbox.close(link, &mut self.ready);
            }
        }
    }

    /// The link is gone (or never came): the local side disconnects, so
    /// messages queue in the session, and the next attempt is scheduled.
    pub(in crate::broker) fn bridge_lost(
        &mut self,
        i: usize,
        reason: Option<ReasonCode>,
        error: String,
        now: Millis,
    ) {
        let Some(link) = self.bridges[i].link.take() else {
            return;
        };
        let was_up = std::mem::take(&mut self.bridges[i].session_up);
        // The broker resends these on the next link, downgraded again.
        self.bridges[i].downgraded.clear();
        self.close_link(link);
        self.bridge_local_close(i, now);
        let b = &mut self.bridges[i];
        if matches!(b.state, BridgeState::Stopped | BridgeState::Paused) {
            return;
        }
        let refused = !was_up && reason.is_some_and(|r| r.is_error());
        b.reason = reason.filter(|r| r.is_error());
        b.last_error = Some(error);
        // Never at once, even after a link that was up (two brokers
        // bridging with one client id would take the session from each
        // other in a hot loop): after a success, between half the minimum
        // delay and the minimum.
        let delay = b.backoff_delay();
        b.retry_at = now + delay;
        let state = if refused {
            BridgeState::Refused
        } else {
            BridgeState::Backoff
        };
        self.arm(now + delay, Timer::BridgeRetry(i));
        self.set_bridge_state(i, state, now);
    }

    pub(in crate::broker) fn stop_bridges(&mut self, now: Millis) {
        self.dials.clear();
        for i in 0..self.bridges.len() {
            let b = &self.bridges[i];
            if let (Some(link), true) = (b.link, b.session_up) {
                self.send(
                    link,
                    Packet::Disconnect(Disconnect::new(ReasonCode::Success)),
                );
            }
            self.set_bridge_state(i, BridgeState::Stopped, now);
            self.bridge_lost(i, None, "the broker shut down".into(), now);
        }
    }

    /// Records a state change: an event, and `$SYS/broker/bridges/<name>/state`.
    fn set_bridge_state(&mut self, i: usize, state: BridgeState, now: Millis) {
        let b = &mut self.bridges[i];
        if b.state == state && state != BridgeState::Refused {
            return;
        }
        b.state = state;
        let name: Rc<str> = Rc::from(b.cfg.name.as_str());
        self.events.push_back(Event::Bridge {
            name: name.clone(),
            state,
            reason: b.reason,
            error: b.last_error.clone(),
        });
        if self.cfg.sys_interval_secs > 0 {
            let topic = format!("$SYS/broker/bridges/{name}/state");
            self.publish_sys_value(topic, state.name().to_owned(), now);
        }
    }
}

/// An acknowledgement without the other side's reason string and user
/// properties, which were meant for the other hop.
fn quiet(mut r: PubResponse) -> PubResponse {
    r.properties = Properties::default();
    r
}
