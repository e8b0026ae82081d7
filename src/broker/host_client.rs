//! The host's own publishes and subscriptions (an HTTP API, a CoAP
//! gateway, a page's code through the broker handle), without an MQTT
//! client of their own.
//!
//! Like a bridge's session, each is an internal connection of the broker,
//! whose input enters through `handle_packet` as if a client had sent it and
//! whose output is read here instead of going to the host. So a host publish
//! goes through exactly what a client's goes through: topic rules, the ACL
//! of the user the host authenticated, the `authorize` hook, the retained
//! store, routing, and, under strict, an acknowledgement held until its
//! storage batch is persisted; the host's answer is that acknowledgement
//! (`Event::Published`). A host subscription is a clean session of its own
//! (read ACL per message, retained messages at subscribe), whose messages
//! come out as `Event::Message`.
//!
//! Unlike a bridge's connection, these are subject to access control: the
//! host names the user it authenticated (`check_credentials`), and the
//! session is that user's.

use super::{Broker, Conn, ConnId, ConnState, Event, SessionKey};
use crate::codec::{
    self, Connect, Packet, Properties, ProtocolVersion, PubResponse, Publish, QoS, ReasonCode,
    Subscribe, Subscription, SubscriptionOptions, Unsubscribe,
};
use crate::time::Millis;
use bytes::Bytes;
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::num::NonZeroU16;
use std::rc::Rc;

/// Host clients' connections, above every bridge's (`ConnId::is_internal`):
/// they never reach the host, so they need not fit its 32-bit ids.
pub(super) const HOST_BASE: u64 = 1 << 40;
/// Their sessions' client ids; reserved (clients get 0x85).
pub const HOST_PREFIX: &str = "$host/";

/// A message the host publishes as `username` (authenticated by the host,
/// or `None` for anonymous).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPublish {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    pub properties: Properties,
    pub username: Option<String>,
}

/// A host subscription: `filter` at `qos`, read as `username`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSubscribe {
    pub filter: String,
    pub qos: QoS,
    pub username: Option<String>,
}

/// A webhook's subscription (`handle_host_webhook`): like a bridge's, a
/// persistent session of the broker's own, `$host/webhook/<name>`, with no
/// access control, whose QoS 1/2 deliveries the host acknowledges itself
/// (`handle_host_ack`) once the endpoint has taken them: until then they
/// stay in flight, and what follows stays queued, in the session (stored
/// under strict and relaxed, so a restart keeps them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostWebhook {
    pub name: String,
    pub filter: String,
    pub qos: QoS,
    /// Deliveries in flight at once (the session's Receive Maximum).
    pub window: u16,
}

/// Webhook sessions' client ids (under `HOST_PREFIX`, so no client's).
pub(super) const WEBHOOK_PREFIX: &str = "$host/webhook/";

/// A webhook session's client id.
pub fn webhook_client_id(name: &str) -> String {
    format!("{WEBHOOK_PREFIX}{name}")
}

/// Whether `client_id` is a session of the broker's own (a bridge's or a
/// webhook's): no ACL, no `authorize` hook, like the broker itself.
pub(super) fn is_broker_session(client_id: &str) -> bool {
    client_id.starts_with(super::bridge::SESSION_PREFIX) || client_id.starts_with(WEBHOOK_PREFIX)
}

#[derive(Debug)]
enum Role {
    /// Publishes of one user: packet identifier → the host's publish id.
    Publisher {
        user: Option<Rc<str>>,
        next_pid: u16,
        pending: FxHashMap<u16, u64>,
    },
    /// One subscription, by the host's id. `manual`: deliveries are
    /// acknowledged by the host (`unacked`: packet identifier → QoS).
    Subscriber {
        id: u64,
        manual: bool,
        unacked: FxHashMap<u16, QoS>,
    },
}

#[derive(Debug)]
struct HostConn {
    role: Role,
    rx: Vec<u8>,
}

#[derive(Debug, Default)]
pub(super) struct HostClients {
    made: u64,
    publishers: HashMap<Option<Rc<str>>, ConnId>,
    subscribers: FxHashMap<u64, ConnId>,
    conns: FxHashMap<ConnId, HostConn>,
}

impl ConnId {
    /// A host client's connection (see `host_client.rs`).
    pub fn is_host_client(self) -> bool {
        self.0 >= HOST_BASE
    }

    /// A bridge's own connection into the broker: the broker's, with no
    /// access control.
    pub(super) fn is_bridge_local(self) -> bool {
        self.is_internal() && !self.is_host_client()
    }
}

impl Broker {
    /// Whether `username` and `password` would be admitted at CONNECT (the
    /// password file, anonymous access): for a host that authenticates its
    /// own requests (HTTP Basic, CoAP query) against the same users.
    pub fn check_credentials(&self, username: Option<&str>, password: Option<&[u8]>) -> bool {
        self.cfg.access.admit(username, password, false).is_ok()
    }

    /// Publishes a message for the host, as `p.username`. The answer is an
    /// `Event::Published` with the host's `id`: at QoS 0 once the message
    /// is routed (or refused); at QoS 1 and 2 the broker's PUBACK or PUBREC,
    /// so under strict only once the message is stored.
    pub fn handle_host_publish(&mut self, id: u64, p: HostPublish, now: Millis) {
        self.clock = now;
        self.start(now);
        // No topic alias can stand for an empty topic here.
        let checked = match p.topic.is_empty() {
            true => Err(ReasonCode::TopicNameInvalid),
            false => codec::topic::check_topic_name(&p.topic).map_err(|e| e.reason_code()),
        };
        if let Err(reason) = checked {
            return self.host_answer(id, reason);
        }
        // What a client's PUBLISH could not carry is refused here, not
        // written out to subscribers: a topic or property string over
        // 65,535 bytes or holding U+0000 [MQTT-1.5.4-2], a Response Topic
        // with wildcards [MQTT-3.3.2-14], a property PUBLISH has not.
        let scope = codec::PropertyScope::Packet(codec::PacketType::Publish);
        let sound =
            codec::properties::check_str(&p.topic).and_then(|()| p.properties.validate(scope));
        if sound.is_err() {
            return self.host_answer(id, ReasonCode::ProtocolError);
        }
        let conn = self.host_publisher(p.username.as_deref(), now);
        let mut properties = p.properties;
        // Per delivery, or per connection: not the host's to set.
        properties.topic_alias = None;
        properties.subscription_identifiers.clear();
        let mut publish = Publish {
            dup: false,
            qos: p.qos,
            retain: p.retain,
            topic: p.topic,
            packet_id: None,
            properties,
            payload: p.payload,
        };
        let Some(conn) = conn else {
            return self.host_answer(id, ReasonCode::UnspecifiedError);
        };
        if p.qos == QoS::AtMostOnce {
            // No acknowledgement to carry the answer: checked first.
            let refused = self.refusal(conn, &publish);
            let routed = refused.is_none();
            if routed {
                self.handle_packet(conn, Packet::Publish(publish), now);
            }
            return self.host_answer(id, refused.unwrap_or(ReasonCode::Success));
        }
        let limit = usize::from(self.cfg.receive_maximum);
        let Some(pid) = self.host_packet_id(conn, id, limit) else {
            return self.host_answer(id, ReasonCode::ReceiveMaximumExceeded);
        };
        publish.packet_id = Some(pid);
        self.handle_packet(conn, Packet::Publish(publish), now);
    }

    /// Subscribes for the host; the answer is an `Event::Subscribed` with
    /// the host's `id` (the SUBACK's reason), then each message is an
    /// `Event::Message` with that id, until `handle_host_unsubscribe(id)`.
    pub fn handle_host_subscribe(&mut self, id: u64, s: HostSubscribe, now: Millis) {
        let Some(conn) = self.open_host_subscriber(id, s.username.as_deref(), None, now) else {
            return;
        };
        let options = SubscriptionOptions::qos(s.qos);
        self.send_host_subscribe(conn, s.filter, options, now);
    }

    /// Subscribes a webhook (`HostWebhook`), as the host's subscription
    /// `id`: resumes its session if the broker has it (what was in flight
    /// comes again, with DUP), then subscribes (retained messages are not
    /// sent: a webhook forwards what is published). Answered like
    /// `handle_host_subscribe`; each message is an `Event::Message` whose
    /// `packet_id` the host passes to `handle_host_ack` once forwarded (at
    /// QoS 0 there is nothing to acknowledge). `handle_host_unsubscribe(id)`
    /// disconnects it and keeps its session.
    pub fn handle_host_webhook(&mut self, id: u64, w: HostWebhook, now: Millis) {
        let session = (webhook_client_id(&w.name), w.window.max(1));
        let Some(conn) = self.open_host_subscriber(id, None, Some(session), now) else {
            return;
        };
        // A webhook whose filter changed keeps its queue but not the old
        // filter: the session holds exactly the configured one.
        let stale: Vec<String> = (self.conns.get(&conn))
            .and_then(|c| c.session)
            .map(|key| self.session(key).subscriptions.keys())
            .into_iter()
            .flatten()
            .filter(|f| **f != w.filter)
            .cloned()
            .collect();
        if !stale.is_empty() {
            let unsubscribe = Unsubscribe {
                packet_id: NonZeroU16::MIN,
                properties: Properties::default(),
                filters: stale,
            };
            self.handle_packet(conn, Packet::Unsubscribe(unsubscribe), now);
        }
        let mut options = SubscriptionOptions::qos(w.qos);
        options.retain_as_published = true;
        options.retain_handling = codec::RetainHandling::Never;
        self.send_host_subscribe(conn, w.filter, options, now);
    }

    /// The connection of the host's subscription `id` (replacing one of the
    /// same id): a clean session, or the persistent `session` (client id,
    /// window) of a webhook, whose deliveries the host acknowledges itself.
    /// None, with the `Subscribed` answer given, if it is not admitted.
    fn open_host_subscriber(
        &mut self,
        id: u64,
        username: Option<&str>,
        session: Option<(String, u16)>,
        now: Millis,
    ) -> Option<ConnId> {
        self.clock = now;
        self.start(now);
        self.handle_host_unsubscribe(id, now);
        let role = Role::Subscriber {
            id,
            manual: session.is_some(),
            unacked: FxHashMap::default(),
        };
        let Some(conn) = self.host_connect(username, role, session, now) else {
            let reason = ReasonCode::UnspecifiedError;
            self.host_event(Event::Subscribed { id, reason });
            return None;
        };
        self.host.subscribers.insert(id, conn);
        Some(conn)
    }

    /// The host subscription's one SUBSCRIBE; its SUBACK is the answer.
    fn send_host_subscribe(
        &mut self,
        conn: ConnId,
        filter: String,
        options: SubscriptionOptions,
        now: Millis,
    ) {
        let subscribe = Subscribe {
            packet_id: NonZeroU16::MIN,
            properties: Properties::default(),
            subscriptions: vec![Subscription { filter, options }],
        };
        self.handle_packet(conn, Packet::Subscribe(subscribe), now);
    }

    /// Ends the session of every webhook not named in `keep` (one removed
    /// from the options, or renamed): its queue is dropped and storage
    /// forgets it. The host calls this once it is restored, with the
    /// names of the webhooks it runs.
    pub fn handle_host_forget_webhooks(&mut self, keep: &[String], now: Millis) {
        self.clock = now;
        let gone: Vec<SessionKey> = (self.by_client_id.iter())
            .filter(|(id, _)| {
                id.strip_prefix(WEBHOOK_PREFIX)
                    .is_some_and(|name| !keep.iter().any(|k| k == name))
            })
            .map(|(_, &key)| key)
            .collect();
        for key in gone {
            if let Some(conn) = self.session(key).conn {
                self.close_quietly(conn, now);
            }
            self.end_session(key, now);
        }
    }

    /// The host has forwarded delivery `packet_id` of its webhook
    /// subscription `id`: the broker gets its PUBACK (or PUBREC), and the
    /// session's next queued message may go. Unknown ids are ignored (a
    /// subscription ended meanwhile: the session delivers it again).
    pub fn handle_host_ack(&mut self, id: u64, packet_id: u16, now: Millis) {
        self.clock = now;
        let Some(&conn) = self.host.subscribers.get(&id) else {
            return;
        };
        let Some(HostConn {
            role: Role::Subscriber { unacked, .. },
            ..
        }) = self.host.conns.get_mut(&conn)
        else {
            return;
        };
        let (Some(qos), Some(pid)) = (unacked.remove(&packet_id), NonZeroU16::new(packet_id))
        else {
            return;
        };
        let ack = match qos {
            QoS::ExactlyOnce => Packet::PubRec(PubResponse::new(pid)),
            _ => Packet::PubAck(PubResponse::new(pid)),
        };
        self.handle_packet(conn, ack, now);
    }

    /// Ends a host subscription (its session is clean: nothing remains).
    pub fn handle_host_unsubscribe(&mut self, id: u64, now: Millis) {
        if let Some(conn) = self.host.subscribers.remove(&id) {
            self.host.conns.remove(&conn);
            self.host_disconnect(conn, now);
        }
    }

    /// Disconnects the client `client_id` for the host (an operator's
    /// request): an MQTT 5 client first gets DISCONNECT 0x98
    /// (administrative action); its will and session follow the usual rules.
    /// Returns false if no client of that id is connected.
    pub fn handle_disconnect_client(&mut self, client_id: &str, now: Millis) -> bool {
        self.clock = now;
        let conn = (self.by_client_id.get(client_id))
            .and_then(|&key| self.session(key).conn)
            .filter(|c| !c.is_internal());
        let Some(conn) = conn else {
            return false;
        };
        let reason = ReasonCode::AdministrativeAction;
        let v5 = self
            .conns
            .get(&conn)
            .is_some_and(|c| matches!(c.state, ConnState::Connected) && c.version.is_v5());
        if v5 {
            self.send(conn, Packet::Disconnect(codec::Disconnect::new(reason)));
        }
        let detail = Some("disconnected by the host".into());
        self.connection_lost(conn, Some(reason), detail, now);
        true
    }

    /// The user's publishing connection, connected on first use.
    fn host_publisher(&mut self, username: Option<&str>, now: Millis) -> Option<ConnId> {
        let user: Option<Rc<str>> = username.map(Rc::from);
        if let Some(&conn) = self.host.publishers.get(&user) {
            return Some(conn);
        }
        let role = Role::Publisher {
            user: user.clone(),
            next_pid: 0,
            pending: FxHashMap::default(),
        };
        let conn = self.host_connect(username, role, None, now)?;
        self.host.publishers.insert(user, conn);
        Some(conn)
    }

    /// A free packet identifier on a publishing connection, for `id`; none
    /// while `limit` publishes wait for their acknowledgement.
    fn host_packet_id(&mut self, conn: ConnId, id: u64, limit: usize) -> Option<codec::PacketId> {
        let Some(HostConn {
            role: Role::Publisher {
                next_pid, pending, ..
            },
            ..
        }) = self.host.conns.get_mut(&conn)
        else {
            return None;
        };
        if pending.len() >= limit.min(usize::from(u16::MAX)) {
            return None;
        }
        loop {
            *next_pid = next_pid.checked_add(1).unwrap_or(1);
            if !pending.contains_key(next_pid) {
                pending.insert(*next_pid, id);
                return NonZeroU16::new(*next_pid);
            }
        }
    }

    /// Opens and connects a host client's connection: a clean MQTT 5
    /// session of `username`, or, with `persistent` (client id, Receive
    /// Maximum), that session resumed or made, never expiring.
    fn host_connect(
        &mut self,
        username: Option<&str>,
        role: Role,
        persistent: Option<(String, u16)>,
        now: Millis,
    ) -> Option<ConnId> {
        self.host.made += 1;
        let n = self.host.made;
        let conn = ConnId(HOST_BASE + n);
        self.conns.insert(conn, Conn::new(now));
        let rx = Vec::new();
        self.host.conns.insert(conn, HostConn { role, rx });
        let mut properties = Properties::default();
        let clean_start = persistent.is_none();
        let client_id = match persistent {
            Some((client_id, window)) => {
                properties.session_expiry_interval = Some(u32::MAX);
                properties.receive_maximum = Some(window);
                client_id
            }
            None => format!("{HOST_PREFIX}{n}"),
        };
        let connect = Connect {
            protocol: ProtocolVersion::V5,
            bridge: false,
            clean_start,
            keep_alive: 0,
            properties,
            client_id,
            will: None,
            username: username.map(str::to_owned),
            password: None,
        };
        self.handle_packet(conn, Packet::Connect(Box::new(connect)), now);
        let connected =
            (self.conns.get(&conn)).is_some_and(|c| matches!(c.state, ConnState::Connected));
        if !connected {
            self.host.conns.remove(&conn);
            return None;
        }
        // The password entry the host checked the user against (its
        // checkCredentials): an access change that removes the user or
        // changes the password ends this connection, as a client's.
        let credential = username.and_then(|u| self.cfg.access.credential(u));
        if let Some(c) = self.conns.get_mut(&conn) {
            c.credential = credential;
        }
        Some(conn)
    }

    /// Whether `conn` is one the host opened for a user, or for an
    /// anonymous request (a publisher or a subscription, not a webhook,
    /// which is the broker's own): access changes apply to it as to a
    /// client's.
    pub(super) fn acts_for_a_user(&self, conn: ConnId) -> bool {
        match self.host.conns.get(&conn) {
            Some(h) => !matches!(h.role, Role::Subscriber { manual: true, .. }),
            None => false,
        }
    }

    fn host_disconnect(&mut self, conn: ConnId, now: Millis) {
        if self.conns.contains_key(&conn) {
            let bye = codec::Disconnect::new(ReasonCode::Success);
            self.handle_packet(conn, Packet::Disconnect(bye), now);
        }
    }

    fn host_answer(&mut self, id: u64, reason: ReasonCode) {
        self.host_event(Event::Published { id, reason });
    }

    fn host_event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    /// What the broker wrote to a host client's connection.
    pub(super) fn host_output(&mut self, conn: ConnId, data: &[u8], close: bool) {
        let now = self.clock;
        let Some(h) = self.host.conns.get_mut(&conn) else {
            return; // a subscription the host has ended
        };
        let mut buf = std::mem::take(&mut h.rx);
        buf.extend_from_slice(data);
        let mut pos = 0;
        let mut broken = false;
        loop {
            match codec::decode(&buf[pos..], ProtocolVersion::V5, u32::MAX) {
                Ok(Some((packet, used))) => {
                    pos += used;
                    self.host_packet(conn, packet, now);
                }
                Ok(None) => break,
                Err(_) => {
                    broken = true;
                    break;
                }
            }
        }
        buf.drain(..pos);
        if close || broken {
            return self.host_closed(conn, ReasonCode::UnspecifiedError);
        }
        if let Some(h) = self.host.conns.get_mut(&conn) {
            h.rx = buf;
        }
    }

    fn host_packet(&mut self, conn: ConnId, packet: Packet, now: Millis) {
        let Some(h) = self.host.conns.get_mut(&conn) else {
            return;
        };
        let is_pubrec = matches!(packet, Packet::PubRec(_));
        match (&mut h.role, packet) {
            (Role::Publisher { pending, .. }, Packet::PubAck(r) | Packet::PubRec(r)) => {
                let id = pending.remove(&r.packet_id.get());
                if is_pubrec && (r.reason as u8) < 0x80 {
                    // QoS 2: the message is the broker's once PUBREC says
                    // so; PUBREL ends the exchange [MQTT-4.3.3-3].
                    let rel = Packet::PubRel(PubResponse::new(r.packet_id));
                    self.handle_packet(conn, rel, now);
                }
                if let Some(id) = id {
                    self.host_answer(id, r.reason);
                }
            }
            (&mut Role::Subscriber { id, .. }, Packet::SubAck(a)) => {
                let reason = a.reasons.first().copied();
                let reason = reason.unwrap_or(ReasonCode::UnspecifiedError);
                self.host_event(Event::Subscribed { id, reason });
            }
            (
                Role::Subscriber {
                    id,
                    manual: true,
                    unacked,
                },
                Packet::Publish(p),
            ) => {
                if let Some(pid) = p.packet_id {
                    unacked.insert(pid.get(), p.qos);
                }
                let id = *id;
                self.host_event(Event::Message {
                    id,
                    publish: Box::new(p),
                });
            }
            (&mut Role::Subscriber { id, .. }, Packet::Publish(p)) => {
                let ack = match (p.qos, p.packet_id) {
                    (QoS::AtLeastOnce, Some(pid)) => Some(Packet::PubAck(PubResponse::new(pid))),
                    (QoS::ExactlyOnce, Some(pid)) => Some(Packet::PubRec(PubResponse::new(pid))),
                    _ => None,
                };
                self.host_event(Event::Message {
                    id,
                    publish: Box::new(p),
                });
                if let Some(ack) = ack {
                    self.handle_packet(conn, ack, now);
                }
            }
            (Role::Subscriber { .. }, Packet::PubRel(r)) => {
                self.handle_packet(conn, Packet::PubComp(PubResponse::new(r.packet_id)), now);
            }
            (_, Packet::Disconnect(d)) => self.host_closed(conn, d.reason),
            _ => {} // CONNACK, PUBCOMP
        }
    }

    /// The broker closed a host client's connection (an access change, a
    /// protocol error), for `reason` (its DISCONNECT's): pending publishes
    /// fail, a subscription ends.
    fn host_closed(&mut self, conn: ConnId, reason: ReasonCode) {
        let Some(h) = self.host.conns.remove(&conn) else {
            return;
        };
        match h.role {
            Role::Publisher { user, pending, .. } => {
                self.host.publishers.remove(&user);
                let mut ids: Vec<u64> = pending.into_values().collect();
                ids.sort_unstable();
                for id in ids {
                    self.host_answer(id, reason);
                }
            }
            Role::Subscriber { id, .. } => {
                self.host.subscribers.remove(&id);
                self.host_event(Event::Unsubscribed { id, reason });
            }
        }
    }
}
