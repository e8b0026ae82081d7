//! The sans-IO broker core. No sockets, no clock, no randomness, no JS: the
//! host feeds inputs (`handle_*`) and drains outputs (`poll_*`).
//!
//! - inputs: `handle_open`, `handle_bytes`, `handle_closed`, `handle_timeout`,
//!   `handle_persisted`, `handle_auth_decision`, `handle_online`
//! - outputs: `poll_transmit` (bytes for a connection, or its close),
//!   `poll_storage` (storage batches, in order), `poll_timeout` (when to call
//!   `handle_timeout` next), `poll_event` (connects, drops, rejections,
//!   bridge states), `poll_dial` (connections to open for bridges)

mod access;
mod alias;
mod bridge;
mod config;
mod connect;
mod delivery;
mod durability;
mod events;
mod expiry;
mod hooks;
mod host_client;
mod inbound;
mod lifecycle;
mod outbox;
mod rate;
mod restore;
mod session;
pub(crate) mod sort;
mod sys;
mod topic_tree;

pub use access::{hash_password, Access, AccessError, Acl, ClientAcl, Passwords};
pub use bridge::{BridgeConfig, BridgeState, BridgeView, Dial, TopicMap};
pub use config::{limit, Config, Durability, Limit, LIMITS, RELAXED_BACKLOG};
pub use events::{ClientView, DropReason, Event, Stats};
pub use hooks::{AllowAll, AuthDecision, AuthRequest, ClientInfo, Hooks};
pub use host_client::{webhook_client_id, HostPublish, HostSubscribe, HostWebhook, HOST_PREFIX};
pub use topic_tree::SessionKey;

use crate::codec::{self, Connect, Packet, PacketType, ProtocolVersion};
use crate::store::{Message, StorageBatch, StorageOp, Ticket};
use crate::time::Millis;
use outbox::Outbox;
use rustc_hash::{FxHashMap, FxHashSet};
use session::Session;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::rc::Rc;
use topic_tree::{Hit, TopicTree};

/// A connection, named by the host. Never reuse one for a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl ConnId {
    /// A bridge's own connection into the broker (never the host's).
    pub fn is_internal(self) -> bool {
        self.0 >= bridge::LOCAL_BASE
    }

    /// A connection the broker asked the host to dial (`poll_dial`).
    fn is_dialed(self) -> bool {
        (bridge::DIAL_BASE..bridge::LOCAL_BASE).contains(&self.0)
    }
}

/// Bytes to write to a connection, and whether to close it afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub conn: ConnId,
    pub data: Vec<u8>,
    pub close: bool,
}

#[derive(Debug)]
enum ConnState {
    /// Waiting for CONNECT [MQTT-3.1.0-1].
    AwaitingConnect,
    /// CONNECT received; authentication (a host decision or an AUTH
    /// exchange) is under way.
    Authenticating(Box<Connect>),
    Connected,
    /// The broker decided to close; remaining output is flushed, input ignored.
    Closing,
    /// A bridge's connection to its remote broker (bridge index): the
    /// broker is the client here (see `bridge/`).
    Remote(usize),
}

#[derive(Debug)]
struct Conn {
    state: ConnState,
    rx: Vec<u8>,
    /// What is sent to the connection, and what of it waits for storage.
    outbox: Outbox,
    version: ProtocolVersion,
    session: Option<SessionKey>,
    /// 1.5 times the keep alive, in ms [MQTT-3.1.2-24]; 0 when off.
    keep_alive_ms: u64,
    last_rx: Millis,
    /// Inbound topic aliases [MQTT-3.3.2-10] (at most `topic_alias_maximum`
    /// small integers: the cheap hasher).
    aliases: FxHashMap<u16, Rc<str>>,
    /// Outgoing topic aliases, if the client allows them (see `alias.rs`).
    out_aliases: Option<Box<alias::OutAliases>>,
    /// The client's Maximum Packet Size [MQTT-3.1.2-25].
    max_packet_size: u32,
    /// The client's Receive Maximum [MQTT-3.3.4-9].
    receive_maximum: u16,
    /// Request Problem Information [MQTT-3.1.2-29].
    problem_info: bool,
    username: Option<Rc<str>>,
    auth_method: Option<String>,
    /// QoS 2 identifiers received on this connection and not yet released:
    /// the Receive Maximum quota starts afresh with each connection (spec 4.9).
    qos2_here: FxHashSet<codec::PacketId>,
    /// CONNECT said the client is a bridge (protocol level 0x80 | version).
    bridge: bool,
    /// The name the transport authenticated (`handle_identity`).
    identity: Option<Rc<str>>,
    /// The fingerprint of the password entry that admitted the client.
    credential: Option<u64>,
    /// Publish rate limits (`Config::publish_rate`), once connected.
    rate: Option<rate::PublishRate>,
}

impl Conn {
    fn new(now: Millis) -> Conn {
        Conn {
            state: ConnState::AwaitingConnect,
            rx: Vec::new(),
            outbox: Outbox::default(),
            version: ProtocolVersion::V5,
            session: None,
            keep_alive_ms: 0,
            last_rx: now,
            aliases: FxHashMap::default(),
            out_aliases: None,
            max_packet_size: codec::wire::VARINT_MAX + 5,
            receive_maximum: u16::MAX,
            problem_info: true,
            username: None,
            auth_method: None,
            qos2_here: FxHashSet::default(),
            bridge: false,
            identity: None,
            credential: None,
            rate: None,
        }
    }

    fn is_open(&self) -> bool {
        !matches!(self.state, ConnState::Closing)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    ConnectTimeout(ConnId),
    KeepAlive(ConnId),
    /// Will delay or session expiry of a disconnected session.
    Session(Rc<str>),
    Sys,
    /// Periodic removal of expired messages (see `expiry.rs`).
    Sweep,
    /// A bridge's next connection attempt.
    BridgeRetry(usize),
    /// A bridge link's CONNACK deadline, then its keep alive.
    BridgeTick(usize, ConnId),
}

#[derive(Debug, Default)]
struct Counters {
    /// PUBLISHes accepted (wills included) and sent, by QoS.
    messages_received: [u64; 3],
    messages_sent: [u64; 3],
    messages_dropped: u64,
    bytes_received: u64,
    bytes_sent: u64,
    storage_ops: u64,
    acks_released_early: u64,
}

/// Maps keyed by small integers the broker or the host assigns (connection
/// ids, message ids) or that are bounded and only identify (packet ids,
/// inbound topic aliases) use rustc-hash's Fx hasher; maps keyed by what
/// clients choose freely (client ids, topics, filters) keep std's keyed
/// hash, against HashDoS.
pub struct Broker {
    cfg: Config,
    hooks: Box<dyn Hooks>,
    conns: FxHashMap<ConnId, Conn>,
    sessions: Vec<Option<Session>>,
    free_sessions: Vec<u32>,
    by_client_id: HashMap<Rc<str>, SessionKey>,
    tree: TopicTree,
    retained: HashMap<Rc<str>, Rc<Message>>,
    timers: BinaryHeap<Reverse<(Millis, Timer)>>,
    /// Connections with output to take, each once (see `Outbox::mark_ready`).
    ready: VecDeque<ConnId>,
    /// The storage operations since the last `poll_storage` (store/pending.rs).
    ops: crate::store::PendingOps,
    /// The ticket the next storage batch will carry.
    next_ticket: Ticket,
    persisted: Ticket,
    /// Connections whose outbox waits for storage: held acknowledgements or
    /// gated output (see `durability.rs`).
    waiting: BTreeSet<ConnId>,
    /// Strict: clients whose stored session was created, changed (expiry
    /// interval, will, protocol) or deleted, with the newest batch holding
    /// such a change, until that batch is persisted (see `durability.rs`).
    session_changes: HashMap<Rc<str>, Ticket>,
    events: VecDeque<Event>,
    next_message_id: u64,
    /// Stored deliveries per stored message id; at zero the message is deleted.
    message_refs: FxHashMap<u64, u32>,
    /// Strict: stored messages whose publisher's acknowledgement is held
    /// and may leave once their deliveries are acknowledged, with the
    /// publisher's connection (see `durability.rs`).
    settling: FxHashMap<u64, ConnId>,
    counters: Counters,
    started_at: Option<Millis>,
    assigned_ids: u64,
    hits: Vec<Hit>,
    /// A `Timer::Sweep` is armed (only while expiring messages are held).
    sweep_armed: bool,
    bridges: Vec<bridge::Bridge>,
    /// Connections the host is asked to open, for bridges.
    dials: VecDeque<Dial>,
    dials_made: u64,
    /// The latest time a host input gave (for work done while polling).
    clock: Millis,
    /// The host's store is over its size limit or failing
    /// (`handle_storage_full`).
    storage_full: bool,
    /// Hashes topics for the connections' outgoing topic aliases.
    topic_hasher: alias::TopicHasher,
    /// The host's own publishes and subscriptions (`host_client.rs`).
    host: host_client::HostClients,
}

impl Broker {
    pub fn new(cfg: Config, hooks: Box<dyn Hooks>) -> Broker {
        let topic_hasher = alias::TopicHasher::new(cfg.client_id_seed);
        Broker {
            cfg,
            hooks,
            conns: FxHashMap::default(),
            sessions: Vec::new(),
            free_sessions: Vec::new(),
            by_client_id: HashMap::new(),
            tree: TopicTree::default(),
            retained: HashMap::new(),
            timers: BinaryHeap::new(),
            ready: VecDeque::new(),
            ops: crate::store::PendingOps::default(),
            next_ticket: 1,
            persisted: 0,
            waiting: BTreeSet::new(),
            session_changes: HashMap::new(),
            events: VecDeque::new(),
            next_message_id: 1,
            message_refs: FxHashMap::default(),
            settling: FxHashMap::default(),
            counters: Counters::default(),
            started_at: None,
            assigned_ids: 0,
            hits: Vec::new(),
            sweep_armed: false,
            bridges: Vec::new(),
            dials: VecDeque::new(),
            dials_made: 0,
            clock: Millis(0),
            storage_full: false,
            topic_hasher,
            host: host_client::HostClients::default(),
        }
        .with_bridges()
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn set_hooks(&mut self, hooks: Box<dyn Hooks>) {
        self.hooks = hooks;
    }

    // ---- inputs ----

    /// A new network connection. It must send CONNECT within the connect timeout.
    /// For a connection `poll_dial` asked for, the host's socket is open.
    pub fn handle_open(&mut self, conn: ConnId, now: Millis) {
        self.start(now);
        self.clock = now;
        if conn.is_dialed() {
            return self.bridge_link_opened(conn, now);
        }
        self.conns.insert(conn, Conn::new(now));
        self.arm(
            now + self.cfg.connect_timeout_ms,
            Timer::ConnectTimeout(conn),
        );
    }

    /// Bytes received on a connection: any number of packets, or part of one.
    /// Over WebSocket as well: a message need not hold whole packets
    /// [MQTT-6.0.0-2].
    pub fn handle_bytes(&mut self, conn: ConnId, bytes: &[u8], now: Millis) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.is_open() {
            return;
        }
        let mut buf = std::mem::take(&mut c.rx);
        self.clock = now;
        self.counters.bytes_received += bytes.len() as u64;
        if conn.is_dialed() {
            self.bridge_received(conn, bytes.len());
        }
        buf.extend_from_slice(bytes);
        let consumed = self.process(conn, &buf, now);
        buf.drain(..consumed);
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.is_open() {
                c.rx = buf;
            }
        }
    }

    /// Decodes and handles whole packets from `buf`; returns the bytes used.
    fn process(&mut self, conn: ConnId, buf: &[u8], now: Millis) -> usize {
        let mut pos = 0;
        loop {
            let Some(c) = self.conns.get(&conn) else {
                return pos;
            };
            if !c.is_open() {
                return pos;
            }
            let version = c.version;
            let remote = match c.state {
                ConnState::Remote(i) => Some(i),
                _ => None,
            };
            // [MQTT-3.1.0-1]: the first packet must be CONNECT; no need to
            // wait for the rest of something else (an HTTP request, noise).
            let first = buf.get(pos).copied();
            if matches!(c.state, ConnState::AwaitingConnect) && first.is_some_and(|b| b >> 4 != 1) {
                self.drop_connection(conn, Some(codec::ReasonCode::ProtocolError), now);
                return pos;
            }
            // Packets after a CONNECT whose authentication is pending wait.
            if self.holds_input(conn, buf.len() - pos, now) {
                return pos;
            }
            match codec::decode(&buf[pos..], version, self.cfg.max_packet_size) {
                Ok(Some((packet, used))) => {
                    pos += used;
                    // Keep alive counts whole control packets [MQTT-3.1.2-24]:
                    // trickled bytes of an unfinished one do not reset it.
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.last_rx = now;
                    }
                    self.handle_packet(conn, packet, now);
                }
                Ok(None) => return pos,
                Err(e) => {
                    match remote {
                        Some(i) => self.bridge_remote_malformed(i, e, now),
                        None => self.decode_failed(conn, &buf[pos..], e, now),
                    }
                    return pos;
                }
            }
        }
    }

    fn handle_packet(&mut self, conn: ConnId, packet: Packet, now: Millis) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        match (&c.state, packet) {
            (ConnState::AwaitingConnect, Packet::Connect(connect)) => {
                self.handle_connect(conn, connect, now)
            }
            // [MQTT-3.1.0-1]: the first packet must be CONNECT.
            (ConnState::AwaitingConnect, _) => self.drop_connection(conn, None, now),
            (ConnState::Authenticating(_), Packet::Auth(auth)) => {
                self.handle_auth_step(conn, auth, now)
            }
            (ConnState::Authenticating(_), Packet::Disconnect(_)) => {
                self.drop_connection(conn, None, now)
            }
            (ConnState::Authenticating(_), _) => self.protocol_violation(
                conn,
                codec::ReasonCode::ProtocolError,
                "packet before authentication completed",
                now,
            ),
            (ConnState::Connected, packet) => self.handle_connected(conn, packet, now),
            (&ConnState::Remote(i), packet) => self.handle_remote_packet(i, packet, now),
            (ConnState::Closing, _) => {}
        }
    }

    /// The host saw the connection end (socket closed or errored).
    pub fn handle_closed(&mut self, conn: ConnId, now: Millis) {
        self.clock = now;
        if conn.is_dialed() {
            self.bridge_link_closed(conn, now);
        } else if self.conns.get(&conn).is_some_and(Conn::is_open) {
            self.connection_lost(conn, None, None, now);
        }
        self.conns.remove(&conn);
    }

    /// Time has reached at least the deadline `poll_timeout` gave.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.clock = now;
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, timer))) = self.timers.pop() else {
                break;
            };
            self.fire(timer, now);
        }
    }

    /// Storage batches up to and including `ticket` are durable: release the
    /// output that waited for them.
    pub fn handle_persisted(&mut self, ticket: Ticket) {
        self.persisted = self.persisted.max(ticket);
        self.release_persisted();
    }

    /// The host's store is full (past its size limit, or out of disk) or
    /// recovers. While it is full, QoS 1/2 PUBLISHes that would be stored
    /// are refused with 0x97 quota exceeded (a 3.1.1 client, which cannot be
    /// told, is disconnected and resends later), so that nothing is
    /// acknowledged that storage cannot keep; everything else, QoS 0 and
    /// online delivery included, goes on.
    pub fn handle_storage_full(&mut self, full: bool) {
        self.storage_full = full;
    }

    /// The broker is stopping: every connection is closed, MQTT 5 clients
    /// first get DISCONNECT 0x8B (server shutting down). Sessions, and the
    /// wills of connections that end this way, follow the usual rules.
    pub fn handle_shutdown(&mut self, now: Millis) {
        self.clock = now;
        self.stop_bridges(now);
        let mut conns: Vec<ConnId> = self.conns.keys().copied().collect();
        sort::sort(&mut conns);
        let reason = codec::ReasonCode::ServerShuttingDown;
        for conn in conns {
            let c = &self.conns[&conn];
            if conn.is_internal() {
                continue;
            }
            if matches!(c.state, ConnState::Connected) && c.version.is_v5() {
                self.send(conn, Packet::Disconnect(codec::Disconnect::new(reason)));
            }
            self.connection_lost(conn, Some(reason), Some("server shutting down".into()), now);
        }
    }

    // ---- outputs ----

    /// Bytes for one connection: everything queued for it so far.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        while let Some(conn) = self.ready.pop_front() {
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            let (data, close) = c.outbox.take(self.persisted);
            if close {
                self.conns.remove(&conn);
                self.waiting.remove(&conn);
            } else if data.is_empty() {
                continue;
            }
            if conn.is_host_client() {
                // The host's own publishes and subscriptions: read here.
                self.host_output(conn, &data, close);
                continue;
            }
            if conn.is_internal() {
                // A bridge's session: its client is the bridge, not the host.
                self.bridge_local_output(conn, &data, close);
                continue;
            }
            if conn.is_dialed() {
                self.bridge_sent(conn, data.len());
            }
            self.counters.bytes_sent += data.len() as u64;
            return Some(Transmit { conn, data, close });
        }
        None
    }

    /// The storage operations made since the last call, as one batch.
    pub fn poll_storage(&mut self) -> Option<StorageBatch> {
        if self.ops.is_empty() {
            return None;
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let ops = self.ops.take();
        self.counters.storage_ops += ops.len() as u64;
        if ops.is_empty() && self.persisted + 1 == ticket {
            // Everything in it cancelled out, and every batch before it is
            // persisted: so is this one, without a commit.
            self.handle_persisted(ticket);
            return None;
        }
        // Possibly empty: still handed out, for the acknowledgements that
        // wait for its ticket, since a batch before it is not persisted yet.
        Some(StorageBatch { ticket, ops })
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Events of internal connections stay inside (the `Bridge` events
    /// tell of bridges; `Published`, `Subscribed` and `Message` answer the
    /// host's own operations).
    pub fn poll_event(&mut self) -> Option<Event> {
        loop {
            let e = self.events.pop_front()?;
            if !e.conn().is_some_and(ConnId::is_internal) {
                return Some(e);
            }
        }
    }

    pub fn stats(&self, now: Millis) -> Stats {
        let live = || self.sessions.iter().flatten();
        Stats {
            connections: self.connected_clients(),
            // The host's own clients (`host_client.rs`) are not sessions of clients.
            sessions: live()
                .filter(|s| !s.client_id.starts_with(HOST_PREFIX))
                .count(),
            subscriptions: self.tree.len(),
            // The broker's own `$SYS` values are not the user's retained messages.
            retained: self
                .retained
                .keys()
                .filter(|t| !t.starts_with("$SYS/"))
                .count(),
            messages_received: self.counters.messages_received.iter().sum(),
            messages_sent: self.counters.messages_sent.iter().sum(),
            messages_received_by_qos: self.counters.messages_received,
            messages_sent_by_qos: self.counters.messages_sent,
            messages_dropped: self.counters.messages_dropped,
            bytes_received: self.counters.bytes_received,
            bytes_sent: self.counters.bytes_sent,
            queued_messages: live().map(|s| s.queue.len()).sum(),
            inflight_messages: live().map(|s| s.inflight.len()).sum(),
            storage_ops: self.counters.storage_ops,
            acks_released_early: self.counters.acks_released_early,
            stored_records: self.stored_records(),
            pending_acks: self.conns.values().map(|c| c.outbox.held_acks()).sum(),
            uptime_secs: self.started_at.map_or(0, |s| (now - s) / 1000),
            bridges: self.bridge_views(),
        }
    }

    /// How many records storage holds once the pending operations are
    /// written: stored sessions with their subscriptions, deliveries and
    /// incoming QoS 2 identifiers, stored messages, retained messages.
    fn stored_records(&self) -> usize {
        if !self.durable() {
            return 0;
        }
        let sessions: usize = (self.sessions.iter().flatten())
            .filter(|s| s.stored)
            .map(|s| {
                let deliveries = s.inflight.iter().chain(&s.queue).filter(|o| o.stored);
                1 + s.subscriptions.len() + s.incoming_qos2.len() + deliveries.count()
            })
            .sum();
        let retained = self.retained.keys().filter(|t| !t.starts_with("$SYS/"));
        sessions + self.message_refs.len() + retained.count()
    }

    /// Connected clients (bridges' own connections are not clients).
    fn connected_clients(&self) -> usize {
        (self.conns.iter())
            .filter(|(id, c)| matches!(c.state, ConnState::Connected) && !id.is_internal())
            .count()
    }

    /// Client ids of the sessions the broker holds, for inspection.
    pub fn client_ids(&self) -> impl Iterator<Item = &str> {
        self.sessions.iter().flatten().map(|s| &*s.client_id)
    }

    /// Every session, for an inspector (a cold path: it allocates).
    pub fn clients(&self) -> Vec<ClientView> {
        let mut out: Vec<ClientView> = self
            .sessions
            .iter()
            .flatten()
            .filter(|s| !s.client_id.starts_with(HOST_PREFIX))
            .map(|s| {
                let mut subscriptions: Vec<(String, u8)> = s
                    .subscriptions
                    .iter()
                    .map(|(f, st)| (f.clone(), st.options.qos as u8))
                    .collect();
                sort::sort(&mut subscriptions);
                ClientView {
                    client_id: s.client_id.clone(),
                    connected: s.conn.is_some(),
                    protocol: s.protocol,
                    session_expiry: s.expiry_interval,
                    subscriptions,
                    inflight: s.inflight.len(),
                    queued: s.queue.len(),
                }
            })
            .collect();
        sort::sort_by(&mut out, |a, b| a.client_id.cmp(&b.client_id));
        out
    }

    /// The retained messages, sorted by topic, at most `limit` of them.
    pub fn retained_messages(&self, limit: usize) -> Vec<Rc<Message>> {
        let mut out: Vec<Rc<Message>> = self.retained.values().cloned().collect();
        sort::sort_by(&mut out, |a, b| a.topic.cmp(&b.topic));
        out.truncate(limit);
        out
    }

    // ---- shared helpers ----

    fn start(&mut self, now: Millis) {
        if self.started_at.is_none() {
            self.started_at = Some(now);
            if self.cfg.sys_interval_secs > 0 {
                self.arm(now, Timer::Sys);
            }
        }
    }

    fn arm(&mut self, at: Millis, timer: Timer) {
        self.timers.push(Reverse((at, timer)));
    }

    fn session(&self, key: SessionKey) -> &Session {
        self.sessions[key.0 as usize]
            .as_ref()
            .expect("live session key")
    }

    fn session_mut(&mut self, key: SessionKey) -> &mut Session {
        self.sessions[key.0 as usize]
            .as_mut()
            .expect("live session key")
    }

    fn durable(&self) -> bool {
        self.cfg.durability != crate::broker::Durability::Memory
    }

    fn store(&mut self, op: StorageOp) {
        self.store_op(op, false);
    }

    /// Stores `op`; `fresh`: it puts a record no batch holds yet (see
    /// store/pending.rs).
    fn store_op(&mut self, op: StorageOp, fresh: bool) {
        if self.durable() {
            let deleted = match &op {
                StorageOp::DeleteSession { client_id } => Some(client_id.clone()),
                _ => None,
            };
            self.ops.push(op, fresh);
            // A deletion is a session change (see `durability.rs`).
            if let Some(client_id) = deleted {
                self.note_session_change(&client_id);
            }
        }
    }

    /// Encodes and queues a control packet (not a routed PUBLISH) straight
    /// into the connection's output.
    fn send(&mut self, conn: ConnId, packet: Packet) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let limits = ClientLimits::of(c);
        c.outbox
            .write(conn, &mut self.ready, |tx| limits.encode(packet, tx));
    }

    fn client_info(&self, conn: ConnId) -> Option<(Rc<str>, Option<Rc<str>>, ProtocolVersion)> {
        let c = self.conns.get(&conn)?;
        let s = self.session(c.session?);
        Some((s.client_id.clone(), c.username.clone(), c.version))
    }
}

/// What a client accepts of the control packets sent to it.
#[derive(Clone, Copy)]
struct ClientLimits {
    version: ProtocolVersion,
    max_packet_size: u32,
    problem_info: bool,
}

impl ClientLimits {
    fn of(c: &Conn) -> ClientLimits {
        ClientLimits {
            version: c.version,
            max_packet_size: c.max_packet_size,
            problem_info: c.problem_info,
        }
    }

    /// Appends `packet` to `out`. Problem information is left out where the
    /// client asked for none [MQTT-3.1.2-29], and where it would exceed the
    /// client's Maximum Packet Size [MQTT-3.1.2-25]. Returns false, writing
    /// nothing, if even that is too large: the client's limit wins.
    fn encode(self, mut packet: Packet, out: &mut Vec<u8>) -> bool {
        let max = self.max_packet_size as usize;
        let keeps_problem_info = matches!(
            packet.packet_type(),
            PacketType::Publish | PacketType::ConnAck | PacketType::Disconnect
        );
        let too_large = |p: &Packet| p.encoded_len(self.version).is_ok_and(|len| len > max);
        if (!self.problem_info && !keeps_problem_info) || too_large(&packet) {
            strip_problem_info(&mut packet);
        }
        let start = out.len();
        match packet.encode(self.version, out) {
            Ok(len) if len <= max => true,
            Ok(_) => {
                out.truncate(start);
                false
            }
            Err(_) => false,
        }
    }
}

fn strip_problem_info(packet: &mut Packet) {
    let props = match packet {
        Packet::ConnAck(p) => &mut p.properties,
        Packet::PubAck(p) | Packet::PubRec(p) | Packet::PubRel(p) | Packet::PubComp(p) => {
            &mut p.properties
        }
        Packet::SubAck(p) => &mut p.properties,
        Packet::UnsubAck(p) => &mut p.properties,
        Packet::Disconnect(p) => &mut p.properties,
        Packet::Auth(p) => &mut p.properties,
        _ => return,
    };
    props.reason_string = None;
    props.user_properties.clear();
}
