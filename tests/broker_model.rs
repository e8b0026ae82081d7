//! Model-based test: random operation sequences over 2-5 virtual clients
//! (MQTT 3.1.1 and 5.0, persistent and clean sessions) against the broker
//! under `Durability::Strict`, with crashes at any point, storage that may
//! lag behind, and a virtual clock.
//!
//! The test keeps a model of what the broker must hold, in two copies: the
//! live state, and the durable state as of the last time the host persisted
//! every batch. A crash turns the live state into the durable one, exactly
//! as `Sim::crash_and_restart` restarts the broker from the store.
//!
//! Each virtual client implements its side of the protocol properly: QoS 2
//! method B (deliver on PUBLISH, keep the packet id until PUBREL, a PUBLISH
//! with a kept id is a duplicate), resending unacknowledged PUBLISH (DUP) and
//! PUBREL when the session is present, discarding its session state when it
//! is not. A client whose Clean Start CONNECT was never answered still owes
//! itself a clean start.
//!
//! Invariants, checked as the broker speaks:
//! - Session Present is what the model says (sessions survive, expire and
//!   end exactly when they should, crashes included);
//! - a live delivery goes only to a session that had a matching
//!   subscription when the broker accepted the message;
//! - QoS 2: at most one delivery to the application per session, counting
//!   DUP redeliveries of a packet id as the same delivery;
//! - per publisher and topic, first deliveries keep the publish order (a
//!   message the publisher had to send again is exempt: the broker received
//!   it twice);
//! - the retained state (what a new subscriber to `#` gets) is the last
//!   retained publish per topic, an empty payload clearing it;
//! - with group commit (a second run, as the real hosts commit), the same:
//!   operations then pile up in the core while a batch is in flight, and
//!   those that cancel out (a delivery stored and acknowledged before its
//!   commit) never reach the store, crashes between the two included;
//! - at the end, after everyone reconnects and acknowledges: every QoS 1/2
//!   message whose PUBACK/PUBREC the publisher received has reached, at
//!   least once, every persistent session that matched it when it was
//!   accepted, unless that session has ended since.

mod sim;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};
use sim::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tabmq::broker::{Config, ConnId};
use tabmq::codec::{
    Disconnect, Packet, Properties, PubResponse, Subscribe, Subscription, SubscriptionOptions,
    Unsubscribe,
};
use tabmq::time::Millis;

const TOPICS: [&str; 5] = ["a", "a/b", "a/c", "b/x", "a/b/c"];
const FILTERS: [&str; 7] = ["a", "a/+", "a/#", "#", "+/x", "a/b/c", "+/+"];
/// Session Expiry Interval of persistent 5.0 sessions, in seconds.
const EXPIRY: u32 = 300;
/// The intervals a `Reconnect` may ask for instead.
const EXPIRIES: [u32; 3] = [EXPIRY, 60, 0];

#[derive(Debug, Clone, Copy)]
struct ClientCfg {
    v5: bool,
    persistent: bool,
}

#[derive(Debug, Clone)]
enum Op {
    Connect {
        c: usize,
        clean: bool,
    },
    /// A 5.0 client with a persistent session reconnects (Clean Start 0)
    /// asking for another Session Expiry Interval (`EXPIRIES`).
    Reconnect {
        c: usize,
        expiry: usize,
    },
    Subscribe {
        c: usize,
        f: usize,
        qos: u8,
    },
    Unsubscribe {
        c: usize,
        f: usize,
    },
    Publish {
        c: usize,
        t: usize,
        qos: u8,
        retain: bool,
        empty: bool,
    },
    /// Sends the acknowledgements the client owes (PUBACK, PUBREC, PUBCOMP).
    Ack {
        c: usize,
    },
    Disconnect {
        c: usize,
    },
    /// The network connection drops.
    Drop {
        c: usize,
    },
    Crash,
    Advance {
        ms: u64,
    },
    /// The host stops writing batches (they pile up unpersisted).
    PauseStorage,
    /// The host writes everything pending, and keeps up from then on.
    ResumeStorage,
    /// The host writes everything pending (still paused afterwards).
    Persist,
    CheckRetained,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let c = 0..5usize;
    prop_oneof![
        4 => (c.clone(), prop::bool::weighted(0.15)).prop_map(|(c, clean)| Op::Connect { c, clean }),
        2 => (c.clone(), 0..EXPIRIES.len()).prop_map(|(c, expiry)| Op::Reconnect { c, expiry }),
        3 => (c.clone(), 0..FILTERS.len(), 0..3u8).prop_map(|(c, f, qos)| Op::Subscribe { c, f, qos }),
        2 => (c.clone(), 0..FILTERS.len()).prop_map(|(c, f)| Op::Unsubscribe { c, f }),
        8 => (
            c.clone(),
            0..TOPICS.len(),
            0..3u8,
            prop::bool::weighted(0.25),
            prop::bool::weighted(0.1)
        )
            .prop_map(|(c, t, qos, retain, empty)| Op::Publish {
                c,
                t,
                qos,
                retain,
                empty: empty && retain
            }),
        6 => c.clone().prop_map(|c| Op::Ack { c }),
        1 => c.clone().prop_map(|c| Op::Disconnect { c }),
        2 => c.prop_map(|c| Op::Drop { c }),
        2 => Just(Op::Crash),
        2 => prop_oneof![Just(100u64), Just(5_000), Just(60_000), Just(200_000)]
            .prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::PauseStorage),
        1 => Just(Op::ResumeStorage),
        1 => Just(Op::Persist),
        1 => Just(Op::CheckRetained),
    ]
}

fn case_strategy() -> impl Strategy<Value = (Vec<ClientCfg>, Vec<Op>)> {
    let cfg =
        (any::<bool>(), any::<bool>()).prop_map(|(v5, persistent)| ClientCfg { v5, persistent });
    (
        prop::collection::vec(cfg, 2..=5),
        prop::collection::vec(op_strategy(), 1..150),
    )
}

/// Cases in which every client first connects and subscribes, then storage
/// lags and never catches up by itself (only `Persist` writes):
/// acknowledgements of deliveries race the commits all along.
fn lagging_case_strategy() -> impl Strategy<Value = (Vec<ClientCfg>, Vec<Op>)> {
    let filters = prop::collection::vec((0..FILTERS.len(), 1..3u8), 5);
    (case_strategy(), filters).prop_map(|((cfgs, ops), filters)| {
        let mut case = Vec::new();
        for (c, &(f, qos)) in filters.iter().enumerate().take(cfgs.len()) {
            case.push(Op::Connect { c, clean: false });
            case.push(Op::Subscribe { c, f, qos });
        }
        case.push(Op::PauseStorage);
        // More writes than usual, each of what piled up so far.
        case.extend(ops.into_iter().map(|op| match op {
            Op::ResumeStorage | Op::PauseStorage | Op::Advance { ms: 100 } => Op::Persist,
            op => op,
        }));
        (cfgs, case)
    })
}

// ---------------------------------------------------------------- model

#[derive(Debug, Clone)]
struct SessionM {
    epoch: u64,
    /// Seconds; 0 = ends with the connection, `u32::MAX` = never expires.
    expiry: u32,
    /// Filter index → granted QoS.
    subs: BTreeMap<usize, u8>,
    connected: bool,
    disconnected_at: Option<Millis>,
    /// Incoming QoS 2 packet ids received and not yet released.
    incoming_qos2: BTreeSet<u16>,
}

/// What the broker holds.
#[derive(Debug, Clone, Default)]
struct BrokerM {
    sessions: BTreeMap<usize, SessionM>,
    /// Topic index → message id.
    retained: BTreeMap<usize, usize>,
}

impl BrokerM {
    /// What storage holds of it: sessions that outlive their connection.
    fn durable_part(&self) -> BrokerM {
        let mut d = self.clone();
        d.sessions.retain(|_, s| s.expiry > 0);
        d
    }
}

#[derive(Debug)]
struct MsgInfo {
    publisher: usize,
    /// Order of publication by its publisher.
    pseq: u64,
    topic: usize,
    qos: u8,
    empty: bool,
    /// How many times the broker accepted it (more than once if the
    /// publisher had to send it again).
    acceptances: u32,
    /// Sessions (client, epoch) with a matching subscription at acceptance.
    matched: BTreeSet<(usize, u64)>,
}

#[derive(Debug)]
enum CState {
    Disconnected,
    /// CONNECT sent, CONNACK not yet received.
    Connecting {
        clean: bool,
        expect_present: bool,
    },
    Connected,
}

#[derive(Debug, Clone, Copy)]
struct Out {
    pid: u16,
    msg: usize,
    qos: u8,
    retain: bool,
    /// PUBREC received, PUBREL sent.
    released: bool,
}

#[derive(Debug)]
struct VClient {
    cfg: ClientCfg,
    id: String,
    conn: Option<ConnId>,
    state: CState,
    /// The broker session the current connection is attached to.
    epoch: u64,
    /// A Clean Start was sent and never answered: the next CONNECT is clean too.
    pending_clean: bool,
    /// The Session Expiry Interval of the latest CONNECT sent (0 for a
    /// 3.1.1 clean session): at 0 the session ends with the connection, on
    /// the client's side too (spec 3.1.2.11.2), CONNACK or not.
    sent_expiry: u32,
    /// Unacknowledged outgoing QoS 1/2 PUBLISHes, in the order sent.
    out: Vec<Out>,
    /// QoS 2 packet ids received and not released (method B).
    awaiting_pubrel: BTreeSet<u16>,
    /// Acknowledgements owed to the broker, not yet sent.
    to_ack: Vec<Packet>,
    pseq: u64,
    /// The session (epoch) whose state the broker acknowledged to this
    /// client by CONNACK, SUBACK and UNSUBACK, and that state: the expiry
    /// interval, and per filter subscribed (granted QoS) or not (`None`).
    acked_epoch: u64,
    /// `None` while a CONNECT is unanswered: it may have changed it.
    acked_expiry: Option<u32>,
    acked_subs: BTreeMap<usize, Option<u8>>,
    /// SUBSCRIBE (`Some(qos)`) and UNSUBSCRIBE (`None`) sent on this
    /// connection and not yet acknowledged: (packet id, filter, request).
    requests: Vec<(u16, usize, Option<u8>)>,
    /// Filters of requests left unanswered when their connection ended:
    /// their state is unknown until a later request is acknowledged.
    uncertain: BTreeSet<usize>,
}

impl VClient {
    fn version(&self) -> tabmq::codec::ProtocolVersion {
        if self.cfg.v5 {
            V5
        } else {
            V311
        }
    }

    /// The lowest packet id not in use: ids are reused as soon as their
    /// exchange completes, which is what exposes a broker that forgets (or
    /// remembers) one too early.
    fn alloc_pid(&mut self) -> u16 {
        (1..=u16::MAX)
            .find(|pid| !self.out.iter().any(|o| o.pid == *pid))
            .expect("a free packet id")
    }

    /// The connection ended: requests still unanswered leave their filters
    /// in an unknown state.
    fn forget_requests(&mut self) {
        let filters = self.requests.drain(..).map(|(_, f, _)| f);
        self.uncertain.extend(filters);
    }

    /// The connection ended. If the latest CONNECT asked for a Session
    /// Expiry Interval of 0, the session ended with it, here too: the
    /// client forgets its state, and, having none, connects with Clean
    /// Start next (were the server to answer Session Present 1, for a
    /// session it still has because that CONNECT was never processed or
    /// never stored, a client without state would have to close
    /// [MQTT-3.2.2-4] and start clean anyway).
    fn end_if_expired(&mut self) {
        if self.sent_expiry == 0 && self.cfg.persistent {
            self.discard_session_state();
            self.pending_clean = true;
        }
    }

    fn discard_session_state(&mut self) {
        self.out.clear();
        self.awaiting_pubrel.clear();
    }
}

struct World {
    s: Sim,
    clients: Vec<VClient>,
    live: BrokerM,
    durable: BrokerM,
    next_epoch: u64,
    msgs: Vec<MsgInfo>,
    /// Acceptance awaiting the publisher's PUBACK/PUBREC, by (publisher,
    /// epoch, packet id): the persistent sessions owed the message.
    pending: HashMap<(usize, u64, u16), Vec<(usize, u64)>>,
    /// (client, epoch, message) still owed at least once.
    obligations: BTreeSet<(usize, u64, usize)>,
    /// (client, epoch, message) delivered to the application (live deliveries).
    delivered: BTreeSet<(usize, u64, usize)>,
    qos2_delivered: BTreeSet<(usize, u64, usize)>,
    /// Last first-delivered publisher sequence per (client, epoch, publisher, topic).
    last_first: HashMap<(usize, u64, usize, usize), u64>,
    log: Vec<String>,
    /// Acknowledgements released before their batch was persisted, by the
    /// brokers before the last crash.
    released_early: u64,
}

impl World {
    fn new(cfgs: &[ClientCfg], group_commit: bool) -> World {
        let cfg = Config {
            sys_interval_secs: 0,
            max_inflight: 3,
            ..Config::default()
        };
        let clients = cfgs
            .iter()
            .enumerate()
            .map(|(i, &cfg)| VClient {
                cfg,
                id: format!("c{i}"),
                conn: None,
                state: CState::Disconnected,
                epoch: 0,
                pending_clean: false,
                sent_expiry: 0,
                out: Vec::new(),
                awaiting_pubrel: BTreeSet::new(),
                to_ack: Vec::new(),
                pseq: 0,
                acked_epoch: 0,
                acked_expiry: None,
                acked_subs: BTreeMap::new(),
                requests: Vec::new(),
                uncertain: BTreeSet::new(),
            })
            .collect();
        let mut s = Sim::new(cfg);
        s.group_commit = group_commit;
        World {
            s,
            clients,
            live: BrokerM::default(),
            durable: BrokerM::default(),
            next_epoch: 1,
            msgs: Vec::new(),
            pending: HashMap::new(),
            obligations: BTreeSet::new(),
            delivered: BTreeSet::new(),
            qos2_delivered: BTreeSet::new(),
            last_first: HashMap::new(),
            log: Vec::new(),
            released_early: 0,
        }
    }

    fn fail(&self, what: String) -> ! {
        let tail: Vec<&String> = self.log.iter().rev().take(40).collect();
        panic!("{what}\nlast steps (newest first):\n{tail:#?}");
    }

    fn apply(&mut self, op: &Op) {
        let n = self.clients.len();
        self.log.push(format!("{op:?}"));
        match *op {
            Op::Connect { c, clean } => self.connect(c % n, clean, None),
            Op::Reconnect { c, expiry } => {
                let c = c % n;
                if self.clients[c].cfg.v5 && self.clients[c].cfg.persistent {
                    self.connect(c, false, Some(EXPIRIES[expiry]));
                }
            }
            Op::Subscribe { c, f, qos } => self.subscribe(c % n, f, qos),
            Op::Unsubscribe { c, f } => self.unsubscribe(c % n, f),
            Op::Publish {
                c,
                t,
                qos,
                retain,
                empty,
            } => self.publish(c % n, t, qos, retain, empty),
            Op::Ack { c } => self.ack(c % n),
            Op::Disconnect { c } => self.disconnect(c % n, true),
            Op::Drop { c } => self.disconnect(c % n, false),
            Op::Crash => self.crash(),
            Op::Advance { ms } => self.advance(ms),
            Op::PauseStorage => self.s.auto_persist = false,
            Op::ResumeStorage => {
                self.s.auto_persist = true;
                self.persist();
            }
            Op::Persist => self.persist(),
            Op::CheckRetained => self.check_retained(),
        }
        self.pump();
        if self.s.auto_persist {
            self.durable = self.live.durable_part();
        }
        for (i, cl) in self.clients.iter().enumerate() {
            if let Some(conn) = cl.conn {
                if self.s.is_closed(conn) {
                    self.fail(format!("broker closed c{i}'s connection"));
                }
            }
        }
    }

    /// The host persists until it has caught up (with group commit, what
    /// piled up in the core goes out, one batch at a time).
    fn persist(&mut self) {
        loop {
            self.s.persist_all();
            self.s.drive();
            if self.s.unpersisted.is_empty() {
                break;
            }
        }
        self.durable = self.live.durable_part();
    }

    // ---- model transitions ----

    fn end_session(&mut self, c: usize) {
        if let Some(sess) = self.live.sessions.remove(&c) {
            let e = sess.epoch;
            self.obligations.retain(|&(s, ep, _)| !(s == c && ep == e));
        }
    }

    fn expire_sessions(&mut self) {
        let now = self.s.now;
        let expired: Vec<usize> = self
            .live
            .sessions
            .iter()
            .filter(|(_, s)| {
                !s.connected
                    && s.expiry != u32::MAX
                    && s.disconnected_at
                        .is_some_and(|at| now >= at + u64::from(s.expiry) * 1000)
            })
            .map(|(&c, _)| c)
            .collect();
        for c in expired {
            self.end_session(c);
        }
    }

    fn model_detach(&mut self, c: usize) {
        let now = self.s.now;
        let Some(sess) = self.live.sessions.get_mut(&c) else {
            self.fail(format!("c{c} detached without a session"));
        };
        sess.connected = false;
        sess.disconnected_at = Some(now);
        if sess.expiry == 0 {
            self.end_session(c);
        }
    }

    /// The broker accepts a PUBLISH (or dedupes a QoS 2 resend).
    fn accept(&mut self, p: usize, msg: usize, pid: u16, retain: bool) {
        let qos = self.msgs[msg].qos;
        let Some(ps) = self.live.sessions.get(&p) else {
            self.fail(format!("c{p} publishes without a session"));
        };
        let pe = ps.epoch;
        if qos == 2 && ps.incoming_qos2.contains(&pid) {
            return; // [MQTT-4.3.3-10]: not a new message
        }
        let topic = self.msgs[msg].topic;
        let mut owed = Vec::new();
        let mut matched = Vec::new();
        for (&s, sess) in &self.live.sessions {
            let best = sess
                .subs
                .iter()
                .filter(|(&f, _)| filter_matches(FILTERS[f], TOPICS[topic]))
                .map(|(_, &q)| q)
                .max();
            if let Some(best) = best {
                matched.push((s, sess.epoch));
                if best.min(qos) >= 1 && sess.expiry > 0 && !self.msgs[msg].empty {
                    owed.push((s, sess.epoch));
                }
            }
        }
        let m = &mut self.msgs[msg];
        m.acceptances += 1;
        m.matched.extend(matched);
        if retain {
            if m.empty {
                self.live.retained.remove(&topic);
            } else {
                self.live.retained.insert(topic, msg);
            }
        }
        if qos == 2 {
            if let Some(ps) = self.live.sessions.get_mut(&p) {
                ps.incoming_qos2.insert(pid);
            }
        }
        if qos > 0 {
            self.pending.insert((p, pe, pid), owed);
        }
    }

    /// The publisher received PUBACK/PUBREC: the broker owns the message.
    fn acknowledged(&mut self, p: usize, pid: u16, msg: usize) {
        let pe = self.clients[p].epoch;
        let Some(owed) = self.pending.remove(&(p, pe, pid)) else {
            self.fail(format!(
                "c{p}: m{msg} (id {pid}) acknowledged without being accepted: the broker \
                 took it for a duplicate of a message it had released, so m{msg} is lost"
            ));
        };
        for (s, e) in owed {
            let alive = self.live.sessions.get(&s).is_some_and(|x| x.epoch == e);
            if alive && !self.delivered.contains(&(s, e, msg)) {
                self.obligations.insert((s, e, msg));
            }
        }
    }

    // ---- operations ----

    fn connect(&mut self, c: usize, clean_requested: bool, expiry: Option<u32>) {
        let cl = &self.clients[c];
        if !matches!(cl.state, CState::Disconnected) {
            return;
        }
        let v5 = cl.cfg.v5;
        let persistent = cl.cfg.persistent;
        let clean = clean_requested || cl.pending_clean || !persistent;
        let expiry = match (v5, persistent, clean) {
            (true, true, _) => expiry.unwrap_or(EXPIRY),
            (true, false, _) => 0,
            (false, _, true) => 0,
            (false, _, false) => u32::MAX,
        };
        self.clients[c].sent_expiry = expiry;
        let cl = &self.clients[c];
        let mut connect = connect_packet(&cl.id, cl.version(), clean);
        if v5 {
            connect.properties.session_expiry_interval = Some(expiry);
        }
        // Broker side, as the CONNECT is processed.
        let existing = self.live.sessions.get(&c).map(|s| s.connected);
        if existing == Some(true) {
            self.fail(format!("c{c} connects while its session is connected"));
        }
        let expect_present = !clean && existing.is_some();
        if expect_present {
            let sess = self.live.sessions.get_mut(&c).expect("checked");
            sess.connected = true;
            sess.disconnected_at = None;
            sess.expiry = expiry;
        } else {
            self.end_session(c);
            let epoch = self.next_epoch;
            self.next_epoch += 1;
            self.live.sessions.insert(
                c,
                SessionM {
                    epoch,
                    expiry,
                    subs: BTreeMap::new(),
                    connected: true,
                    disconnected_at: None,
                    incoming_qos2: BTreeSet::new(),
                },
            );
        }
        let epoch = self.live.sessions[&c].epoch;
        let cl = &mut self.clients[c];
        if clean {
            // The client starts clean too [MQTT-3.1.2-4]; until a CONNACK
            // confirms it, its next CONNECT must be clean as well.
            cl.discard_session_state();
            cl.pending_clean = persistent;
        }
        cl.state = CState::Connecting {
            clean,
            expect_present,
        };
        cl.epoch = epoch;
        cl.to_ack.clear();
        cl.forget_requests();
        cl.acked_expiry = None;
        let conn = self.s.open();
        self.s.clients.get_mut(&conn).expect("open").version = Some(cl.version());
        cl.conn = Some(conn);
        self.s.send(conn, Packet::Connect(Box::new(connect)));
    }

    /// Connected (connecting first if needed); false if not possible now.
    fn ensure_connected(&mut self, c: usize) -> bool {
        if matches!(self.clients[c].state, CState::Disconnected) {
            self.connect(c, false, None);
            self.pump();
        }
        matches!(self.clients[c].state, CState::Connected)
    }

    fn subscribe(&mut self, c: usize, f: usize, qos: u8) {
        if !self.ensure_connected(c) {
            return;
        }
        let qos_level = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][usize::from(qos)];
        self.live
            .sessions
            .get_mut(&c)
            .expect("connected")
            .subs
            .insert(f, qos);
        let pid = self.clients[c].alloc_pid();
        self.clients[c].requests.push((pid, f, Some(qos)));
        let sub = Subscribe {
            packet_id: tabmq::codec::PacketId::new(pid).expect("non-zero"),
            properties: Properties::default(),
            subscriptions: vec![Subscription {
                filter: FILTERS[f].into(),
                options: SubscriptionOptions::qos(qos_level),
            }],
        };
        let conn = self.clients[c].conn.expect("connected");
        self.s.send(conn, Packet::Subscribe(sub));
    }

    fn unsubscribe(&mut self, c: usize, f: usize) {
        if !matches!(self.clients[c].state, CState::Connected) {
            return;
        }
        self.live
            .sessions
            .get_mut(&c)
            .expect("connected")
            .subs
            .remove(&f);
        let pid = self.clients[c].alloc_pid();
        self.clients[c].requests.push((pid, f, None));
        let u = Unsubscribe {
            packet_id: tabmq::codec::PacketId::new(pid).expect("non-zero"),
            properties: Properties::default(),
            filters: vec![FILTERS[f].into()],
        };
        let conn = self.clients[c].conn.expect("connected");
        self.s.send(conn, Packet::Unsubscribe(u));
    }

    fn publish(&mut self, c: usize, t: usize, qos: u8, retain: bool, empty: bool) {
        if !self.ensure_connected(c) {
            return;
        }
        let id = self.msgs.len();
        let cl = &mut self.clients[c];
        cl.pseq += 1;
        self.msgs.push(MsgInfo {
            publisher: c,
            pseq: cl.pseq,
            topic: t,
            qos,
            empty,
            acceptances: 0,
            matched: BTreeSet::new(),
        });
        let pid = if qos > 0 { cl.alloc_pid() } else { 0 };
        if qos > 0 {
            cl.out.push(Out {
                pid,
                msg: id,
                qos,
                retain,
                released: false,
            });
        }
        self.send_publish(c, id, pid, retain, false);
    }

    fn send_publish(&mut self, c: usize, msg: usize, pid: u16, retain: bool, dup: bool) {
        let m = &self.msgs[msg];
        let qos_level = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][usize::from(m.qos)];
        let payload = if m.empty {
            Vec::new()
        } else {
            format!("m{msg}").into_bytes()
        };
        let mut p = publish(TOPICS[m.topic], &payload, qos_level, retain, pid);
        p.dup = dup;
        self.accept(c, msg, pid, retain);
        let conn = self.clients[c].conn.expect("connected");
        self.s.send(conn, Packet::Publish(p));
    }

    fn ack(&mut self, c: usize) {
        let Some(conn) = self.clients[c].conn else {
            return;
        };
        let owed = std::mem::take(&mut self.clients[c].to_ack);
        for p in owed {
            self.s.send(conn, p);
        }
    }

    /// SUBACK or UNSUBACK for packet id `pid`: under Strict, storage holds
    /// what it acknowledges (unless a later request for the same filter is
    /// still unanswered), and the client now knows that state.
    fn on_sub_ack(&mut self, c: usize, pid: u16, what: &str) {
        let cl = &mut self.clients[c];
        let Some(i) = cl.requests.iter().position(|r| r.0 == pid) else {
            self.fail(format!("c{c}: {what} for unknown packet id {pid}"));
        };
        let (_, f, state) = cl.requests.remove(i);
        if cl.requests.iter().any(|r| r.1 == f) {
            return;
        }
        cl.acked_subs.insert(f, state);
        cl.uncertain.remove(&f);
        let stored = self.live.sessions.get(&c).is_some_and(|s| s.expiry > 0);
        if !stored {
            return;
        }
        let id = self.clients[c].id.clone();
        let in_store = self
            .s
            .store
            .snapshot()
            .subscriptions
            .into_iter()
            .find(|r| *r.client_id == *id && r.filter == FILTERS[f])
            .map(|r| r.options.qos as u8);
        if in_store != state {
            self.fail(format!(
                "c{c}: {what} for {} ({state:?}) received while storage holds {in_store:?}",
                FILTERS[f]
            ));
        }
    }

    /// CONNACK: under Strict, storage holds the session it acknowledges
    /// with the expiry interval granted, or holds none if it does not
    /// outlive the connection.
    fn check_connack_durable(&mut self, c: usize) {
        let id = &self.clients[c].id;
        let expiry = self.live.sessions.get(&c).map_or(0, |s| s.expiry);
        let in_store = self
            .s
            .store
            .snapshot()
            .sessions
            .into_iter()
            .find(|r| *r.client_id == **id)
            .map(|r| r.expiry_interval);
        let expected = (expiry > 0).then_some(expiry);
        if in_store != expected {
            self.fail(format!(
                "c{c}: CONNACK for expiry {expiry} received while storage holds {in_store:?}"
            ));
        }
    }

    /// After a restart: every session state a client was told about (its
    /// expiry interval, each subscription made or removed) is there, for the
    /// sessions the model says survive; only what an unanswered request
    /// asked for may differ.
    fn check_acknowledged_state_restored(&mut self) {
        let views = self.s.broker.clients();
        for (c, cl) in self.clients.iter().enumerate() {
            let survives = self
                .live
                .sessions
                .get(&c)
                .is_some_and(|s| s.epoch == cl.acked_epoch);
            if !survives {
                continue;
            }
            let Some(view) = views.iter().find(|v| *v.client_id == *cl.id) else {
                self.fail(format!("c{c}: acknowledged session gone after restart"));
            };
            if cl.acked_expiry.is_some_and(|e| e != view.session_expiry) {
                self.fail(format!(
                    "c{c}: expiry {} after restart, {:?} acknowledged",
                    view.session_expiry, cl.acked_expiry
                ));
            }
            for (&f, &state) in &cl.acked_subs {
                if cl.uncertain.contains(&f) {
                    continue;
                }
                let there = view
                    .subscriptions
                    .iter()
                    .find(|(filter, _)| filter == FILTERS[f])
                    .map(|&(_, q)| q);
                if there != state {
                    self.fail(format!(
                        "c{c}: {} is {there:?} after restart, {state:?} acknowledged",
                        FILTERS[f]
                    ));
                }
            }
        }
    }

    fn disconnect(&mut self, c: usize, normal: bool) {
        let Some(conn) = self.clients[c].conn else {
            return;
        };
        let connected = matches!(self.clients[c].state, CState::Connected);
        if normal && !connected {
            return;
        }
        if normal {
            self.s.send(
                conn,
                Packet::Disconnect(Disconnect::new(ReasonCode::Success)),
            );
        } else {
            self.s.drop_conn(conn);
        }
        let cl = &mut self.clients[c];
        cl.conn = None;
        cl.state = CState::Disconnected;
        cl.to_ack.clear();
        cl.forget_requests();
        cl.end_if_expired();
        self.model_detach(c);
    }

    fn crash(&mut self) {
        self.released_early += self.s.broker.stats(self.s.now).acks_released_early;
        self.s.crash_and_restart();
        // Requests never answered: what they asked for may or may not be
        // there after the restart.
        for cl in &mut self.clients {
            if cl.conn.is_some() {
                cl.end_if_expired();
            }
            cl.conn = None;
            cl.state = CState::Disconnected;
            cl.to_ack.clear();
            cl.forget_requests();
        }
        let now = self.s.now;
        self.live = self.durable.clone();
        for sess in self.live.sessions.values_mut() {
            if sess.connected {
                // Connected when the broker stopped: lost at the restart.
                sess.connected = false;
                sess.disconnected_at = Some(now);
            }
        }
        let live = &self.live;
        self.obligations
            .retain(|&(s, e, _)| live.sessions.get(&s).is_some_and(|x| x.epoch == e));
        self.expire_sessions();
        self.check_acknowledged_state_restored();
    }

    fn advance(&mut self, ms: u64) {
        self.s.advance(ms);
        self.expire_sessions();
    }

    fn check_retained(&mut self) {
        let probe = self.s.open();
        self.s.clients.get_mut(&probe).expect("open").version = Some(V5);
        self.s.send(
            probe,
            Packet::Connect(Box::new(connect_packet("probe", V5, true))),
        );
        match self.s.recv(probe) {
            Some(Packet::ConnAck(a)) if a.reason == ReasonCode::Success => {}
            other => self.fail(format!("probe: {other:?}")),
        }
        self.s.subscribe(probe, "#", QoS::AtMostOnce);
        let got: BTreeMap<usize, usize> = self
            .s
            .publishes(probe)
            .into_iter()
            .map(|p| {
                assert!(p.retain, "a retained copy has RETAIN set [MQTT-3.3.1-8]");
                let topic = TOPICS
                    .iter()
                    .position(|t| *t == p.topic)
                    .expect("known topic");
                (topic, parse_msg(&p.payload).expect("non-empty retained"))
            })
            .collect();
        self.s.drop_conn(probe);
        if got != self.live.retained {
            self.fail(format!(
                "retained state {got:?}, expected {:?}",
                self.live.retained
            ));
        }
    }

    // ---- the clients' side: everything the broker sent ----

    /// Processes what the broker sent to every client until quiet.
    /// Returns whether anything arrived.
    fn pump(&mut self) -> bool {
        let mut any = false;
        loop {
            let mut progressed = false;
            for c in 0..self.clients.len() {
                let Some(conn) = self.clients[c].conn else {
                    continue;
                };
                let packets = self.s.recv_all(conn);
                for p in packets {
                    progressed = true;
                    self.receive(c, conn, p);
                }
            }
            if !progressed {
                return any;
            }
            any = true;
        }
    }

    fn receive(&mut self, c: usize, conn: ConnId, packet: Packet) {
        match packet {
            Packet::ConnAck(a) => self.on_connack(c, conn, a),
            Packet::Publish(p) => self.on_publish(c, p),
            Packet::PubRel(r) => {
                let cl = &mut self.clients[c];
                cl.awaiting_pubrel.remove(&r.packet_id.get());
                cl.to_ack
                    .push(Packet::PubComp(PubResponse::new(r.packet_id)));
            }
            Packet::PubAck(r) => {
                let pid = r.packet_id.get();
                let cl = &mut self.clients[c];
                if r.reason.is_error() {
                    self.fail(format!("c{c}: PUBACK {r:?}"));
                }
                if let Some(i) = cl.out.iter().position(|o| o.pid == pid && o.qos == 1) {
                    let o = cl.out.remove(i);
                    self.acknowledged(c, pid, o.msg);
                }
            }
            Packet::PubRec(r) => {
                let pid = r.packet_id.get();
                if r.reason.is_error() {
                    self.fail(format!("c{c}: PUBREC {r:?}"));
                }
                let cl = &mut self.clients[c];
                let Some(i) = cl.out.iter().position(|o| o.pid == pid && o.qos == 2) else {
                    return;
                };
                let first = !cl.out[i].released;
                cl.out[i].released = true;
                let msg = cl.out[i].msg;
                if first {
                    self.acknowledged(c, pid, msg);
                }
                if let Some(ps) = self.live.sessions.get_mut(&c) {
                    ps.incoming_qos2.remove(&pid);
                }
                self.s
                    .send(conn, Packet::PubRel(PubResponse::new(r.packet_id)));
            }
            Packet::PubComp(r) => {
                let pid = r.packet_id.get();
                let cl = &mut self.clients[c];
                cl.out
                    .retain(|o| !(o.pid == pid && o.qos == 2 && o.released));
            }
            Packet::SubAck(a) => {
                if a.reasons.iter().any(|r| r.is_error()) {
                    self.fail(format!("c{c}: SUBACK {a:?}"));
                }
                self.on_sub_ack(c, a.packet_id.get(), "SUBACK");
            }
            Packet::UnsubAck(a) => self.on_sub_ack(c, a.packet_id.get(), "UNSUBACK"),
            other => self.fail(format!("c{c} got unexpected {other:?}")),
        }
    }

    fn on_connack(&mut self, c: usize, conn: ConnId, a: tabmq::codec::ConnAck) {
        let CState::Connecting {
            clean,
            expect_present,
        } = self.clients[c].state
        else {
            self.fail(format!("c{c}: CONNACK while {:?}", self.clients[c].state));
        };
        if a.reason != ReasonCode::Success {
            self.fail(format!("c{c}: CONNACK {a:?}"));
        }
        if a.session_present != expect_present {
            self.fail(format!(
                "c{c}: Session Present {} but the model says {expect_present}",
                a.session_present
            ));
        }
        self.check_connack_durable(c);
        let expiry = self.live.sessions.get(&c).map_or(0, |s| s.expiry);
        let cl = &mut self.clients[c];
        cl.state = CState::Connected;
        if clean {
            cl.pending_clean = false;
        }
        if !a.session_present || cl.acked_epoch != cl.epoch {
            cl.acked_subs.clear();
            cl.uncertain.clear();
        }
        cl.acked_epoch = cl.epoch;
        cl.acked_expiry = Some(expiry);
        if !a.session_present {
            // [MQTT-3.2.2-4 region]: no session on the server, so none here.
            cl.discard_session_state();
            return;
        }
        // [MQTT-4.4.0-1]: resend unacknowledged PUBLISH (DUP) and PUBREL.
        let resend = cl.out.clone();
        for o in resend {
            if o.released {
                if let Some(ps) = self.live.sessions.get_mut(&c) {
                    ps.incoming_qos2.remove(&o.pid);
                }
                let id = tabmq::codec::PacketId::new(o.pid).expect("non-zero");
                self.s.send(conn, Packet::PubRel(PubResponse::new(id)));
            } else {
                self.send_publish(c, o.msg, o.pid, o.retain, true);
            }
        }
    }

    fn on_publish(&mut self, c: usize, p: tabmq::codec::Publish) {
        if !matches!(self.clients[c].state, CState::Connected) {
            self.fail(format!("c{c}: PUBLISH before CONNACK"));
        }
        let e = self.clients[c].epoch;
        let cl = &mut self.clients[c];
        let to_app = match (p.qos, p.packet_id) {
            (QoS::ExactlyOnce, Some(id)) => {
                cl.to_ack.push(Packet::PubRec(PubResponse::new(id)));
                cl.awaiting_pubrel.insert(id.get())
            }
            (QoS::AtLeastOnce, Some(id)) => {
                cl.to_ack.push(Packet::PubAck(PubResponse::new(id)));
                true
            }
            _ => true,
        };
        let Some(msg) = parse_msg(&p.payload) else {
            return; // an empty payload: anonymous
        };
        if !to_app || p.retain {
            // A duplicate the client recognised, or a retained copy sent
            // on subscription (a delivery of its own).
            return;
        }
        let info = &self.msgs[msg];
        if !info.matched.contains(&(c, e)) {
            self.fail(format!(
                "c{c} (session {e}) got m{msg}, which matched {:?}",
                info.matched
            ));
        }
        let qos = p.qos as u8;
        if qos > info.qos {
            self.fail(format!(
                "c{c}: m{msg} at QoS {qos} > published {}",
                info.qos
            ));
        }
        // A message the broker accepted twice (its publisher's session,
        // with the QoS 2 state, ended between the two: an expiry while the
        // PUBREC waited for storage, then a CONNACK the client never saw,
        // so it resent into a new session it took for the old one) may
        // arrive twice: exactly once holds within a session [MQTT-4.3.3].
        if qos == 2 && !self.qos2_delivered.insert((c, e, msg)) && info.acceptances == 1 {
            self.fail(format!(
                "c{c} (session {e}): QoS 2 m{msg} delivered twice (packet id {:?}, dup {})",
                p.packet_id, p.dup
            ));
        }
        self.obligations.remove(&(c, e, msg));
        let first = self.delivered.insert((c, e, msg));
        if first && info.acceptances == 1 {
            let key = (c, e, info.publisher, info.topic);
            let pseq = info.pseq;
            if let Some(&last) = self.last_first.get(&key) {
                if pseq < last {
                    self.fail(format!(
                        "c{c}: m{msg} (#{pseq} of c{} on {}) after #{last}",
                        info.publisher, TOPICS[info.topic]
                    ));
                }
            }
            self.last_first.insert(key, pseq);
        }
    }

    /// Everyone reconnects and acknowledges everything; what was owed must
    /// have arrived.
    fn finish(&mut self) {
        self.log.push("-- finish --".into());
        self.s.auto_persist = true;
        self.persist();
        self.pump();
        for c in 0..self.clients.len() {
            if self.clients[c].cfg.persistent {
                self.ensure_connected(c);
            }
        }
        for _ in 0..10_000 {
            for c in 0..self.clients.len() {
                self.ack(c);
            }
            let owed = self.clients.iter().any(|c| !c.to_ack.is_empty());
            if !self.pump() && !owed {
                break;
            }
        }
        self.durable = self.live.durable_part();
        if let Some(&(c, e, m)) = self.obligations.iter().next() {
            let info = &self.msgs[m];
            self.fail(format!(
                "acknowledged m{m} (QoS {} from c{} on {}) never reached c{c} (session {e}); \
                 {} obligations unmet: {:?}",
                info.qos,
                info.publisher,
                TOPICS[info.topic],
                self.obligations.len(),
                self.obligations
            ));
        }
        self.check_retained();
    }
}

fn parse_msg(payload: &[u8]) -> Option<usize> {
    std::str::from_utf8(payload)
        .ok()?
        .strip_prefix('m')?
        .parse()
        .ok()
}

fn filter_matches(filter: &str, topic: &str) -> bool {
    tabmq::codec::topic::filter_matches(filter, topic)
}

/// Runs one case through the checker; returns how many acknowledgements
/// left before their batch was persisted (every stored delivery of their
/// message acknowledged first: see durability.rs).
fn run_case(cfgs: &[ClientCfg], ops: &[Op], group_commit: bool) -> u64 {
    let mut w = World::new(cfgs, group_commit);
    for op in ops {
        w.apply(op);
    }
    let early = w.released_early + w.s.broker.stats(w.s.now).acks_released_early;
    w.finish();
    early
}

/// The model meets the early release of acknowledgements often when
/// storage lags: acknowledgements of deliveries racing the commit of the
/// batch that stored them, and crashes in between (the same random cases
/// as `broker_matches_the_model_with_storage_lagging`, from a fixed seed).
#[test]
fn the_model_exercises_acknowledgements_released_before_their_commit() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(ProptestConfig::default(), rng);
    let (mut early, mut cases_with) = (0, 0);
    for _ in 0..400 {
        let (cfgs, ops) = lagging_case_strategy()
            .new_tree(&mut runner)
            .expect("a case")
            .current();
        let n = run_case(&cfgs, &ops, true);
        early += n;
        cases_with += u64::from(n > 0);
    }
    eprintln!("{early} acknowledgements released early, in {cases_with} of 400 cases");
    assert!(
        cases_with >= 40,
        "only {cases_with} of 400 cases release an acknowledgement early"
    );
}

proptest! {
    // ~20 s in a debug build. No regression file is written (the checkout
    // is shared); a failure prints its shrunk input and the last steps.
    #![proptest_config(ProptestConfig {
        cases: 4000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    })]

    #[test]
    fn broker_matches_the_model((cfgs, ops) in case_strategy()) {
        run_case(&cfgs, &ops, false);
    }

    #[test]
    fn broker_matches_the_model_with_group_commit((cfgs, ops) in case_strategy()) {
        run_case(&cfgs, &ops, true);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    })]

    #[test]
    fn broker_matches_the_model_with_storage_lagging((cfgs, ops) in lagging_case_strategy()) {
        run_case(&cfgs, &ops, true);
    }
}

/// A few fixed scenarios through the same checker, so that the model itself
/// is known to exercise crashes with storage behind.
#[test]
fn model_scenarios() {
    let p = |v5, persistent| ClientCfg { v5, persistent };
    let cfgs = [p(true, true), p(false, true), p(true, false)];
    use Op::*;
    let scenarios: Vec<Vec<Op>> = vec![
        vec![
            Subscribe { c: 0, f: 3, qos: 2 },
            Subscribe { c: 1, f: 2, qos: 1 },
            PauseStorage,
            Publish {
                c: 2,
                t: 1,
                qos: 2,
                retain: false,
                empty: false,
            },
            Publish {
                c: 2,
                t: 0,
                qos: 1,
                retain: true,
                empty: false,
            },
            Persist,
            Publish {
                c: 0,
                t: 2,
                qos: 2,
                retain: true,
                empty: false,
            },
            Ack { c: 0 },
            Crash,
            Connect { c: 0, clean: false },
            Ack { c: 0 },
            CheckRetained,
        ],
        vec![
            Subscribe { c: 0, f: 0, qos: 2 },
            Publish {
                c: 1,
                t: 0,
                qos: 2,
                retain: false,
                empty: false,
            },
            Drop { c: 0 },
            PauseStorage,
            Connect { c: 0, clean: true },
            Crash,
            ResumeStorage,
            Connect { c: 0, clean: false },
            Ack { c: 0 },
        ],
        vec![
            Subscribe { c: 1, f: 1, qos: 1 },
            Drop { c: 1 },
            Publish {
                c: 0,
                t: 1,
                qos: 1,
                retain: false,
                empty: false,
            },
            Advance { ms: 200_000 },
            Crash,
            Advance { ms: 200_000 },
            Publish {
                c: 0,
                t: 2,
                qos: 2,
                retain: true,
                empty: false,
            },
            Publish {
                c: 0,
                t: 2,
                qos: 1,
                retain: true,
                empty: true,
            },
            CheckRetained,
        ],
    ];
    for ops in scenarios {
        for group_commit in [false, true] {
            run_case(&cfgs, &ops, group_commit);
        }
    }
}

/// Found by the property test: a client reconnects with a Session Expiry
/// Interval of 0 and its connection drops before the (held) CONNACK
/// arrives: the session ended there, on both sides, so the client must not
/// resend its old QoS 2 PUBLISH into the session a later CONNECT created
/// (whose CONNACK it never saw either): that would publish it twice.
#[test]
fn a_session_with_expiry_0_ends_with_its_connection_on_the_client_side_too() {
    let cfgs = vec![
        ClientCfg {
            v5: true,
            persistent: true,
        },
        ClientCfg {
            v5: false,
            persistent: true,
        },
    ];
    let ops = vec![
        Op::Subscribe { c: 1, f: 2, qos: 2 },
        Op::PauseStorage,
        Op::Publish {
            c: 2,
            t: 0,
            qos: 0,
            retain: false,
            empty: false,
        },
        Op::Persist,
        Op::Publish {
            c: 2,
            t: 0,
            qos: 2,
            retain: false,
            empty: false,
        },
        Op::Drop { c: 2 },
        Op::Reconnect { c: 2, expiry: 2 },
        Op::Drop { c: 2 },
        Op::Connect { c: 2, clean: false },
        Op::Drop { c: 0 },
        Op::Advance { ms: 100 },
        Op::Connect { c: 0, clean: false },
    ];
    for group_commit in [false, true] {
        run_case(&cfgs, &ops, group_commit);
    }
}

/// The same ended by a crash: the broker restores the session as stored
/// (the expiry change was not), but the client, its state gone, starts
/// clean, so the restored copy cannot deliver a QoS 2 message twice.
#[test]
fn after_an_expiry_0_connection_a_client_without_state_starts_clean() {
    let cfgs = vec![
        ClientCfg {
            v5: true,
            persistent: true,
        },
        ClientCfg {
            v5: false,
            persistent: false,
        },
    ];
    let ops = vec![
        Op::Subscribe { c: 0, f: 1, qos: 2 },
        Op::Publish {
            c: 0,
            t: 1,
            qos: 2,
            retain: false,
            empty: false,
        },
        Op::PauseStorage,
        Op::Disconnect { c: 2 },
        Op::Reconnect { c: 2, expiry: 2 },
        Op::Crash,
    ];
    for group_commit in [false, true] {
        run_case(&cfgs, &ops, group_commit);
    }
}

/// Found by the property test: an UNSUBACK held for storage is lost with
/// its connection; the client reconnects and unsubscribes again, which
/// changes nothing in memory, but its UNSUBACK must still wait for the
/// first deletion to be stored, or a crash would bring the subscription back.
#[test]
fn a_repeated_unsubscribe_waits_for_the_first_ones_deletion() {
    let cfgs = vec![
        ClientCfg {
            v5: false,
            persistent: true,
        },
        ClientCfg {
            v5: false,
            persistent: false,
        },
    ];
    let ops = vec![
        Op::Reconnect { c: 0, expiry: 0 },
        Op::Subscribe { c: 0, f: 5, qos: 0 },
        Op::Connect { c: 0, clean: false },
        Op::PauseStorage,
        Op::Connect { c: 0, clean: false },
        Op::Unsubscribe { c: 2, f: 5 },
        Op::Disconnect { c: 2 },
        Op::Connect { c: 0, clean: false },
        Op::Unsubscribe { c: 2, f: 5 },
    ];
    for group_commit in [false, true] {
        run_case(&cfgs, &ops, group_commit);
    }
}

/// Found by the property test: a publisher's session expires while its
/// QoS 2 PUBREC waits for storage; its next CONNECT (Clean Start 0) creates
/// a new session, but the connection drops before the CONNACK; the one
/// after gets Session Present 1, so the client takes the new session for
/// its old one and resends the PUBLISH (DUP), which the new session cannot
/// know: the broker accepts it again, and it reaches the subscriber twice.
/// Exactly once holds within a session; the model allows a message the
/// broker accepted twice to arrive twice.
#[test]
fn a_qos2_resend_into_a_session_that_replaced_an_expired_one_is_a_new_message() {
    let p = |v5, persistent| ClientCfg { v5, persistent };
    let cfgs = [
        p(false, true),
        p(false, false),
        p(true, true),
        p(false, false),
    ];
    use Op::*;
    let ops = vec![
        Reconnect { c: 2, expiry: 1 },
        Subscribe { c: 3, f: 1, qos: 2 },
        PauseStorage,
        Publish {
            c: 2,
            t: 1,
            qos: 2,
            retain: false,
            empty: false,
        },
        Drop { c: 2 },
        Advance { ms: 60000 },
        Connect { c: 2, clean: false },
        Drop { c: 2 },
        Advance { ms: 100 },
    ];
    let mut w = World::new(&cfgs, true);
    for op in &ops {
        w.apply(op);
    }
    w.finish();
}
