//! A deterministic multi-client simulator for the broker core: virtual
//! clients that speak bytes, a virtual clock, and the reference store, so
//! that every broker behaviour can be scripted and checked exactly.
#![allow(dead_code)]

use std::collections::HashSet;
use std::collections::{HashMap, VecDeque};
use tabmq::broker::{Broker, Config, ConnId, Dial, Event, Hooks};
use tabmq::codec::{self, Connect, Packet, Properties, ProtocolVersion};
use tabmq::store::{MemoryStore, StorageBatch};
use tabmq::time::Millis;

pub use tabmq::codec::{PacketId, QoS, ReasonCode};

/// One virtual client: what the broker sent it, decoded.
#[derive(Debug, Default)]
pub struct Client {
    pub version: Option<ProtocolVersion>,
    rx: Vec<u8>,
    pub inbox: VecDeque<Packet>,
    pub closed: bool,
    /// Raw bytes the broker sent, in order (for byte-exact checks).
    pub raw: Vec<u8>,
}

pub struct Sim {
    pub broker: Broker,
    pub cfg: Config,
    pub now: Millis,
    pub store: MemoryStore,
    pub clients: HashMap<ConnId, Client>,
    next_conn: u64,
    /// Apply storage batches and report them persisted on every `drive`.
    pub auto_persist: bool,
    /// Batches emitted but not yet persisted (when `auto_persist` is off).
    pub unpersisted: VecDeque<StorageBatch>,
    /// Take a new batch only once the previous ones are persisted, as the
    /// real hosts do (group commit): meanwhile operations pile up in the
    /// core's pending batch, where they coalesce.
    pub group_commit: bool,
    pub events: Vec<Event>,
    /// Connections the broker dialed (bridges): their bytes collect here
    /// for a test to carry, instead of being decoded as a client's.
    pub wires: HashMap<ConnId, Vec<u8>>,
    /// Dialed connections the broker closed.
    pub wires_closed: HashSet<ConnId>,
    /// What `poll_dial` asked for, not yet taken by the test.
    pub dials: Vec<Dial>,
}

impl Sim {
    pub fn new(cfg: Config) -> Sim {
        let broker = Broker::new(cfg.clone(), Box::new(tabmq::broker::AllowAll));
        Sim::with_broker(broker, cfg)
    }

    pub fn with_hooks(cfg: Config, hooks: Box<dyn Hooks>) -> Sim {
        let broker = Broker::new(cfg.clone(), hooks);
        Sim::with_broker(broker, cfg)
    }

    fn with_broker(broker: Broker, cfg: Config) -> Sim {
        Sim {
            broker,
            cfg,
            now: Millis(1_700_000_000_000),
            store: MemoryStore::default(),
            clients: HashMap::new(),
            next_conn: 1,
            auto_persist: true,
            group_commit: false,
            unpersisted: VecDeque::new(),
            events: Vec::new(),
            wires: HashMap::new(),
            wires_closed: HashSet::new(),
            dials: Vec::new(),
        }
    }

    /// Opens a network connection (no bytes sent yet).
    pub fn open(&mut self) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.clients.insert(conn, Client::default());
        self.broker.handle_open(conn, self.now);
        self.drive();
        conn
    }

    /// Opens a connection and sends CONNECT; returns the connection and CONNACK.
    pub fn connect_with(&mut self, connect: Connect) -> (ConnId, Packet) {
        let conn = self.open();
        self.clients.get_mut(&conn).unwrap().version = Some(connect.protocol);
        self.send(conn, Packet::Connect(Box::new(connect)));
        let ack = self.recv(conn).expect("a reply to CONNECT");
        (conn, ack)
    }

    /// Connects a client that must be accepted.
    pub fn connect(&mut self, client_id: &str, version: ProtocolVersion, clean: bool) -> ConnId {
        let (conn, ack) = self.connect_with(connect_packet(client_id, version, clean));
        match ack {
            Packet::ConnAck(a) if a.reason == ReasonCode::Success => conn,
            other => panic!("CONNECT of {client_id} refused: {other:?}"),
        }
    }

    pub fn version(&self, conn: ConnId) -> ProtocolVersion {
        self.clients[&conn].version.unwrap_or(ProtocolVersion::V5)
    }

    /// Sends a packet from a client, encoded for its protocol version.
    pub fn send(&mut self, conn: ConnId, packet: Packet) {
        let version = self.version(conn);
        let bytes = packet.to_bytes(version).expect("test packets encode");
        self.send_raw(conn, &bytes);
    }

    pub fn send_raw(&mut self, conn: ConnId, bytes: &[u8]) {
        self.broker.handle_bytes(conn, bytes, self.now);
        self.drive();
    }

    /// The client's network connection drops.
    pub fn drop_conn(&mut self, conn: ConnId) {
        self.broker.handle_closed(conn, self.now);
        if let Some(c) = self.clients.get_mut(&conn) {
            c.closed = true;
        }
        self.drive();
    }

    /// Delivers everything the broker has to say: bytes to clients, storage
    /// batches to the store (persisted at once when `auto_persist`), events.
    pub fn drive(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.broker.poll_transmit() {
                progressed = true;
                if let Some(wire) = self.wires.get_mut(&t.conn) {
                    wire.extend_from_slice(&t.data);
                    if t.close {
                        self.wires.remove(&t.conn);
                        self.wires_closed.insert(t.conn);
                        self.broker.handle_closed(t.conn, self.now);
                    }
                    continue;
                }
                let client = self
                    .clients
                    .get_mut(&t.conn)
                    .expect("transmit to a known client");
                client.raw.extend_from_slice(&t.data);
                client.rx.extend_from_slice(&t.data);
                let version = client.version.unwrap_or(ProtocolVersion::V5);
                let mut pos = 0;
                while let Some((p, used)) = codec::decode(&client.rx[pos..], version, u32::MAX)
                    .unwrap_or_else(|e| panic!("broker sent undecodable bytes: {e}"))
                {
                    client.inbox.push_back(p);
                    pos += used;
                }
                client.rx.drain(..pos);
                if t.close {
                    client.closed = true;
                    self.broker.handle_closed(t.conn, self.now);
                }
            }
            while !self.group_commit || self.unpersisted.is_empty() {
                let Some(batch) = self.broker.poll_storage() else {
                    break;
                };
                progressed = true;
                self.unpersisted.push_back(batch);
            }
            if self.auto_persist {
                self.persist_all();
            }
            while let Some(e) = self.broker.poll_event() {
                self.events.push(e);
            }
            while let Some(d) = self.broker.poll_dial() {
                progressed = true;
                self.dials.push(d);
            }
            if !progressed {
                break;
            }
        }
    }

    /// Applies and acknowledges every batch emitted so far.
    pub fn persist_all(&mut self) {
        let mut last = None;
        while let Some(batch) = self.unpersisted.pop_front() {
            self.store.apply_batch(&batch);
            last = Some(batch.ticket);
        }
        if let Some(t) = last {
            self.broker.handle_persisted(t);
        }
    }

    /// Moves the virtual clock forward, firing every timer on the way.
    pub fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        while let Some(at) = self.broker.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.broker.handle_timeout(self.now);
            self.drive();
        }
        self.now = end;
        self.broker.handle_timeout(self.now);
        self.drive();
    }

    /// The broker process dies: everything not persisted is lost, every
    /// connection is gone, and a new broker starts from the store.
    pub fn crash_and_restart(&mut self) {
        self.unpersisted.clear();
        for c in self.clients.values_mut() {
            c.closed = true;
        }
        let snapshot = self.store.snapshot();
        self.broker = Broker::restore(
            self.cfg.clone(),
            Box::new(tabmq::broker::AllowAll),
            snapshot,
            self.now,
        );
        self.drive();
    }

    pub fn recv(&mut self, conn: ConnId) -> Option<Packet> {
        self.clients.get_mut(&conn)?.inbox.pop_front()
    }

    pub fn recv_all(&mut self, conn: ConnId) -> Vec<Packet> {
        self.clients
            .get_mut(&conn)
            .map(|c| c.inbox.drain(..).collect())
            .unwrap_or_default()
    }

    /// PUBLISH packets received, in order.
    pub fn publishes(&mut self, conn: ConnId) -> Vec<codec::Publish> {
        self.recv_all(conn)
            .into_iter()
            .filter_map(|p| match p {
                Packet::Publish(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    pub fn is_closed(&self, conn: ConnId) -> bool {
        self.clients[&conn].closed
    }

    pub fn subscribe(&mut self, conn: ConnId, filter: &str, qos: QoS) {
        self.subscribe_with(conn, filter, codec::SubscriptionOptions::qos(qos), None);
    }

    pub fn subscribe_with(
        &mut self,
        conn: ConnId,
        filter: &str,
        options: codec::SubscriptionOptions,
        identifier: Option<u32>,
    ) -> Vec<ReasonCode> {
        let properties = Properties {
            subscription_identifiers: identifier.into_iter().collect(),
            ..Default::default()
        };
        let sub = codec::Subscribe {
            packet_id: PacketId::new(1).unwrap(),
            properties,
            subscriptions: vec![codec::Subscription {
                filter: filter.into(),
                options,
            }],
        };
        self.send(conn, Packet::Subscribe(sub));
        match self.recv(conn) {
            Some(Packet::SubAck(a)) => a.reasons,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Publishes from a client; QoS 1/2 use `packet_id`. Does not read the ack.
    pub fn publish(
        &mut self,
        conn: ConnId,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        packet_id: u16,
    ) {
        self.send(
            conn,
            Packet::Publish(publish(topic, payload, qos, retain, packet_id)),
        );
    }
}

pub fn connect_packet(client_id: &str, version: ProtocolVersion, clean: bool) -> Connect {
    Connect {
        protocol: version,
        bridge: false,
        clean_start: clean,
        keep_alive: 0,
        properties: Properties::default(),
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
    }
}

pub fn publish(
    topic: &str,
    payload: &[u8],
    qos: QoS,
    retain: bool,
    packet_id: u16,
) -> codec::Publish {
    codec::Publish {
        dup: false,
        qos,
        retain,
        topic: topic.into(),
        packet_id: if qos == QoS::AtMostOnce {
            None
        } else {
            PacketId::new(packet_id)
        },
        properties: Properties::default(),
        payload: bytes::Bytes::copy_from_slice(payload),
    }
}

pub fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

pub const V5: ProtocolVersion = ProtocolVersion::V5;
pub const V311: ProtocolVersion = ProtocolVersion::V3_1_1;

// ---- message-flow helpers (added for broker_publish / broker_subscribe /
// broker_retained; additive only) ----

impl Sim {
    /// Connects with a resumable session: Clean Session 0 in 3.1.1, Clean
    /// Start 0 with a session expiry of one hour in MQTT 5. Returns the
    /// connection and whether a session was present.
    pub fn connect_persistent(
        &mut self,
        client_id: &str,
        version: ProtocolVersion,
    ) -> (ConnId, bool) {
        let mut c = connect_packet(client_id, version, false);
        if version == ProtocolVersion::V5 {
            c.properties.session_expiry_interval = Some(3600);
        }
        match self.connect_with(c) {
            (conn, Packet::ConnAck(a)) if a.reason == ReasonCode::Success => {
                (conn, a.session_present)
            }
            (_, other) => panic!("CONNECT of {client_id} refused: {other:?}"),
        }
    }

    /// Connects with the given CONNECT properties (MQTT 5, Clean Start 1).
    pub fn connect_props(&mut self, client_id: &str, properties: Properties) -> ConnId {
        let mut c = connect_packet(client_id, ProtocolVersion::V5, true);
        c.properties = properties;
        match self.connect_with(c) {
            (conn, Packet::ConnAck(a)) if a.reason == ReasonCode::Success => conn,
            (_, other) => panic!("CONNECT of {client_id} refused: {other:?}"),
        }
    }

    /// Sends a normal DISCONNECT and lets the broker close the connection.
    pub fn disconnect(&mut self, conn: ConnId) {
        self.send(
            conn,
            Packet::Disconnect(codec::Disconnect::new(ReasonCode::Success)),
        );
        if let Some(c) = self.clients.get_mut(&conn) {
            c.closed = true;
        }
    }

    pub fn send_publish(&mut self, conn: ConnId, p: codec::Publish) {
        self.send(conn, Packet::Publish(p));
    }

    pub fn puback(&mut self, conn: ConnId, id: PacketId) {
        self.send(conn, Packet::PubAck(codec::PubResponse::new(id)));
    }

    pub fn pubrec(&mut self, conn: ConnId, id: PacketId) {
        self.send(conn, Packet::PubRec(codec::PubResponse::new(id)));
    }

    pub fn pubrel(&mut self, conn: ConnId, id: PacketId) {
        self.send(conn, Packet::PubRel(codec::PubResponse::new(id)));
    }

    pub fn pubcomp(&mut self, conn: ConnId, id: PacketId) {
        self.send(conn, Packet::PubComp(codec::PubResponse::new(id)));
    }

    /// One SUBSCRIBE with several filters; returns the SUBACK reasons.
    pub fn subscribe_many(
        &mut self,
        conn: ConnId,
        subscriptions: &[(&str, codec::SubscriptionOptions)],
        identifier: Option<u32>,
    ) -> Vec<ReasonCode> {
        let sub = codec::Subscribe {
            packet_id: PacketId::new(2).unwrap(),
            properties: Properties {
                subscription_identifiers: identifier.into_iter().collect(),
                ..Default::default()
            },
            subscriptions: subscriptions
                .iter()
                .map(|(filter, options)| codec::Subscription {
                    filter: (*filter).into(),
                    options: *options,
                })
                .collect(),
        };
        self.send(conn, Packet::Subscribe(sub));
        match self.recv(conn) {
            Some(Packet::SubAck(a)) => a.reasons,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// UNSUBSCRIBE; returns the UNSUBACK reasons (empty in 3.1.1).
    pub fn unsubscribe(&mut self, conn: ConnId, filters: &[&str]) -> Vec<ReasonCode> {
        let u = codec::Unsubscribe {
            packet_id: PacketId::new(3).unwrap(),
            properties: Properties::default(),
            filters: filters.iter().map(|f| (*f).to_string()).collect(),
        };
        self.send(conn, Packet::Unsubscribe(u));
        match self.recv(conn) {
            Some(Packet::UnsubAck(a)) => a.reasons,
            other => panic!("expected UNSUBACK, got {other:?}"),
        }
    }

    /// The DISCONNECT the broker sent this client, if any (inbox drained).
    pub fn disconnect_reason(&mut self, conn: ConnId) -> Option<ReasonCode> {
        self.recv_all(conn).into_iter().find_map(|p| match p {
            Packet::Disconnect(d) => Some(d.reason),
            _ => None,
        })
    }

    /// Events collected so far, emptied.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}
