//! Bridges in the simulator: broker A bridges to broker B (both the tabmq
//! core, each in its own `Sim`), over wires this test carries and can cut.
//! Deterministic: one virtual clock drives both.

mod sim;

use sim::*;
use std::collections::HashMap;
use tabmq::broker::{BridgeConfig, BridgeState, Config, ConnId, Event, TopicMap};
use tabmq::codec::{self, Packet};

struct World {
    a: Sim,
    b: Sim,
    /// A's dialed connection, B's connection, bytes of B's already carried.
    pairs: Vec<(ConnId, ConnId, usize)>,
    net_up: bool,
    /// The bridge's protocol (how B's side of a link is read in the test).
    protocol: codec::ProtocolVersion,
    /// Announce this Maximum QoS in B's CONNACKs to the bridge (B itself
    /// has no such limit: the test rewrites the CONNACK on the wire).
    remote_max_qos: Option<u8>,
}

fn map(filter: &str, qos: QoS, local: &str, remote: &str) -> TopicMap {
    TopicMap {
        filter: filter.into(),
        qos,
        local_prefix: local.into(),
        remote_prefix: remote.into(),
    }
}

/// A bridge "cloud": `dev/#` out to `site1/dev/#`, `site1/cmd/#` in as `cmd/#`.
fn cloud(qos: QoS) -> BridgeConfig {
    let mut b = BridgeConfig::new("cloud", "mqtt://b.example:1883");
    b.out.push(map("dev/#", qos, "", "site1/"));
    b.inbound.push(map("cmd/#", qos, "", "site1/"));
    b
}

impl World {
    fn new(bridge: BridgeConfig, a_cfg: Config) -> World {
        let cfg = Config {
            bridges: vec![bridge],
            client_id_seed: 7,
            ..a_cfg
        };
        let protocol = cfg.bridges[0].protocol;
        let mut w = World {
            protocol,
            remote_max_qos: None,
            a: Sim::new(cfg),
            b: Sim::new(Config::default()),
            pairs: Vec::new(),
            net_up: true,
        };
        w.advance(0);
        w
    }

    /// Carries bytes, dials and closes until nothing moves.
    fn pump(&mut self) {
        loop {
            self.a.drive();
            self.b.drive();
            let mut moved = false;
            for d in std::mem::take(&mut self.a.dials) {
                moved = true;
                if self.net_up {
                    let bc = self.b.open();
                    self.b.clients.get_mut(&bc).unwrap().version = Some(self.protocol);
                    self.a.wires.insert(d.conn, Vec::new());
                    self.a.broker.handle_open(d.conn, self.a.now);
                    self.pairs.push((d.conn, bc, 0));
                } else {
                    self.a.broker.handle_closed(d.conn, self.a.now);
                }
            }
            let mut keep = Vec::new();
            for (ac, bc, mut seen) in std::mem::take(&mut self.pairs) {
                let out = self
                    .a
                    .wires
                    .get_mut(&ac)
                    .map(std::mem::take)
                    .unwrap_or_default();
                if !out.is_empty() && !self.b.is_closed(bc) {
                    moved = true;
                    self.b.send_raw(bc, &out);
                }
                let raw = &self.b.clients[&bc].raw;
                if raw.len() > seen {
                    moved = true;
                    let mut bytes = raw[seen..].to_vec();
                    seen = raw.len();
                    if let Some(max) = self.remote_max_qos {
                        bytes = with_max_qos(&bytes, self.protocol, max);
                    }
                    self.a.broker.handle_bytes(ac, &bytes, self.a.now);
                }
                if self.a.wires_closed.contains(&ac) {
                    moved = true;
                    self.b.drop_conn(bc);
                } else if self.b.is_closed(bc) {
                    moved = true;
                    self.a.broker.handle_closed(ac, self.a.now);
                } else {
                    keep.push((ac, bc, seen));
                }
            }
            self.pairs = keep;
            if !moved {
                break;
            }
        }
    }

    /// Moves both clocks forward in 100 ms steps, pumping on the way.
    fn advance(&mut self, ms: u64) {
        let mut left = ms;
        loop {
            let step = left.min(100);
            self.a.advance(step);
            self.b.advance(step);
            self.pump();
            if left == 0 {
                break;
            }
            left -= step;
        }
    }

    /// The network between A and B goes down: open links break, new dials fail.
    fn cut(&mut self) {
        self.net_up = false;
        for (ac, bc, _) in std::mem::take(&mut self.pairs) {
            self.a.wires.remove(&ac);
            self.a.broker.handle_closed(ac, self.a.now);
            self.b.drop_conn(bc);
        }
        self.pump();
    }

    fn restore(&mut self) {
        self.net_up = true;
    }

    fn bridge_state(&self) -> BridgeState {
        self.a.broker.stats(self.a.now).bridges[0].state
    }
}

/// `bytes` (whole packets from B), with Maximum QoS `max` in any CONNACK.
fn with_max_qos(bytes: &[u8], version: codec::ProtocolVersion, max: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some((mut p, used)) = codec::decode(&bytes[pos..], version, u32::MAX).unwrap() {
        if let Packet::ConnAck(a) = &mut p {
            a.properties.maximum_qos = Some(max);
        }
        out.extend(p.to_bytes(version).unwrap());
        pos += used;
    }
    out
}

/// Takes every PUBLISH a client got, acknowledging each (QoS 2 included:
/// PUBREC, then PUBCOMP for the PUBREL), until none is left.
fn take_acking(s: &mut Sim, conn: ConnId) -> Vec<codec::Publish> {
    let mut got = Vec::new();
    loop {
        let packets = s.recv_all(conn);
        if packets.is_empty() {
            return got;
        }
        for p in packets {
            match p {
                Packet::Publish(p) => {
                    match (p.qos, p.packet_id) {
                        (QoS::AtLeastOnce, Some(id)) => s.puback(conn, id),
                        (QoS::ExactlyOnce, Some(id)) => s.pubrec(conn, id),
                        _ => {}
                    }
                    got.push(p);
                }
                Packet::PubRel(r) => s.pubcomp(conn, r.packet_id),
                _ => {}
            }
        }
    }
}

fn payloads(ps: &[codec::Publish]) -> Vec<String> {
    ps.iter()
        .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
        .collect()
}

fn acks(s: &mut Sim, conn: ConnId) -> Vec<(u16, ReasonCode)> {
    s.recv_all(conn)
        .into_iter()
        .filter_map(|p| match p {
            Packet::PubAck(r) | Packet::PubRec(r) => Some((r.packet_id.get(), r.reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn bridge_connects_and_carries_both_directions_with_prefixes() {
    let mut w = World::new(cloud(QoS::AtLeastOnce), Config::default());
    assert_eq!(w.bridge_state(), BridgeState::Connected);
    let (remote_sub, _) = w.b.connect_persistent("remote-sub", V5);
    w.b.subscribe(remote_sub, "site1/dev/#", QoS::AtLeastOnce);
    let (local, _) = w.a.connect_persistent("device", V5);
    w.a.subscribe(local, "cmd/#", QoS::AtLeastOnce);
    // Out: dev/1/temp leaves as site1/dev/1/temp.
    w.a.publish(local, "dev/1/temp", b"21.5", QoS::AtLeastOnce, false, 1);
    w.pump();
    let got = take_acking(&mut w.b, remote_sub);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].topic, "site1/dev/1/temp");
    assert_eq!(&got[0].payload[..], b"21.5");
    // In: site1/cmd/light arrives as cmd/light.
    let (remote_pub, _) = w.b.connect_persistent("remote-pub", V5);
    w.b.publish(
        remote_pub,
        "site1/cmd/light",
        b"on",
        QoS::AtLeastOnce,
        false,
        1,
    );
    w.pump();
    let got = take_acking(&mut w.a, local);
    assert_eq!(payloads(&got), ["on"]);
    assert_eq!(got[0].topic, "cmd/light");
    // Nothing outside the entries crosses.
    w.a.publish(local, "other/x", b"no", QoS::AtLeastOnce, false, 2);
    w.pump();
    assert!(take_acking(&mut w.b, remote_sub).is_empty());
    let view = &w.a.broker.stats(w.a.now).bridges[0];
    assert_eq!((view.messages_out, view.messages_in), (1, 1));
    assert!(view.bytes_out > 0 && view.bytes_in > 0);
}

#[test]
fn retained_flag_crosses_as_published_both_ways() {
    let mut w = World::new(cloud(QoS::AtLeastOnce), Config::default());
    let (local, _) = w.a.connect_persistent("device", V5);
    w.a.publish(local, "dev/1/status", b"online", QoS::AtLeastOnce, true, 1);
    w.pump();
    // A late remote subscriber gets it from B's retained store.
    let late = w.b.connect("late", V5, true);
    w.b.subscribe(late, "site1/dev/#", QoS::AtLeastOnce);
    let got = take_acking(&mut w.b, late);
    assert_eq!(payloads(&got), ["online"]);
    assert!(got[0].retain);
    // And a retained command on B becomes retained on A.
    let remote = w.b.connect("remote", V5, true);
    w.b.publish(remote, "site1/cmd/mode", b"eco", QoS::AtLeastOnce, true, 1);
    w.pump();
    let late_local = w.a.connect("late-local", V5, true);
    w.a.subscribe(late_local, "cmd/#", QoS::AtLeastOnce);
    let got = take_acking(&mut w.a, late_local);
    assert_eq!(payloads(&got), ["eco"]);
    assert!(got[0].retain);
}

#[test]
fn messages_published_while_the_remote_is_unreachable_queue_and_drain_in_order() {
    let mut w = World::new(cloud(QoS::AtLeastOnce), Config::default());
    let (remote_sub, _) = w.b.connect_persistent("remote-sub", V5);
    w.b.subscribe(remote_sub, "site1/dev/#", QoS::AtLeastOnce);
    w.cut();
    assert_eq!(w.bridge_state(), BridgeState::Backoff);
    let (local, _) = w.a.connect_persistent("device", V5);
    for n in 1..=200u16 {
        w.a.publish(
            local,
            "dev/1/seq",
            n.to_string().as_bytes(),
            QoS::AtLeastOnce,
            false,
            n,
        );
    }
    w.pump();
    let got_acks = acks(&mut w.a, local);
    assert_eq!(
        got_acks.len(),
        200,
        "every QoS 1 message acknowledged while offline"
    );
    assert!(got_acks.iter().all(|(_, r)| *r == ReasonCode::Success));
    let view = w.a.broker.stats(w.a.now).bridges[0].clone();
    assert_eq!(view.queued + view.inflight, 200);
    // Dials keep failing, with growing waits: few attempts in a minute.
    w.advance(60_000);
    let view = w.a.broker.stats(w.a.now).bridges[0].clone();
    let attempts = view.attempts;
    assert!(
        (3..=10).contains(&attempts),
        "attempts in a minute: {attempts}"
    );
    // Retrying takes nothing out of the queue: the session stays offline.
    assert_eq!((view.queued, view.inflight), (200, 0));
    w.restore();
    w.advance(70_000);
    assert_eq!(w.bridge_state(), BridgeState::Connected);
    let got = take_acking(&mut w.b, remote_sub);
    w.advance(1_000);
    let mut got = got;
    got.extend(take_acking(&mut w.b, remote_sub));
    let expected: Vec<String> = (1..=200).map(|n: u32| n.to_string()).collect();
    assert_eq!(payloads(&got), expected);
    let view = &w.a.broker.stats(w.a.now).bridges[0];
    assert_eq!((view.queued, view.inflight), (0, 0));
}

#[test]
fn qos2_stays_exactly_once_when_the_link_breaks_mid_stream() {
    let mut w = World::new(cloud(QoS::ExactlyOnce), Config::default());
    let (remote_sub, _) = w.b.connect_persistent("remote-sub", V5);
    w.b.subscribe(remote_sub, "site1/dev/#", QoS::ExactlyOnce);
    let (local, _) = w.a.connect_persistent("device", V5);
    let mut got = Vec::new();
    for n in 1..=60u16 {
        w.a.publish(
            local,
            "dev/q2",
            n.to_string().as_bytes(),
            QoS::ExactlyOnce,
            false,
            n,
        );
        let _ = w.a.recv_all(local);
        w.a.pubrel(local, pid(n));
        if n % 7 == 0 {
            // The link breaks with exchanges in every state.
            w.cut();
            w.restore();
            w.advance(5_000);
        }
        got.extend(take_acking(&mut w.b, remote_sub));
    }
    // Links that keep breaking soon after CONNACK make the backoff grow.
    w.advance(70_000);
    got.extend(take_acking(&mut w.b, remote_sub));
    let expected: Vec<String> = (1..=60).map(|n: u32| n.to_string()).collect();
    assert_eq!(
        payloads(&got),
        expected,
        "each QoS 2 message once, in order"
    );
}

#[test]
fn the_queue_survives_a_crash_of_the_bridging_broker() {
    let mut w = World::new(cloud(QoS::AtLeastOnce), Config::default());
    let (remote_sub, _) = w.b.connect_persistent("remote-sub", V5);
    w.b.subscribe(remote_sub, "site1/dev/#", QoS::AtLeastOnce);
    w.cut();
    let (local, _) = w.a.connect_persistent("device", V5);
    for n in 1..=50u16 {
        w.a.publish(
            local,
            "dev/1/seq",
            n.to_string().as_bytes(),
            QoS::AtLeastOnce,
            false,
            n,
        );
    }
    w.pump();
    assert_eq!(acks(&mut w.a, local).len(), 50);
    w.a.crash_and_restart();
    w.restore();
    w.advance(2_000);
    assert_eq!(w.bridge_state(), BridgeState::Connected);
    w.advance(1_000);
    let got = take_acking(&mut w.b, remote_sub);
    let expected: Vec<String> = (1..=50).map(|n: u32| n.to_string()).collect();
    assert_eq!(payloads(&got), expected);
}

#[test]
fn messages_for_in_published_while_the_bridge_was_away_arrive_when_it_returns() {
    let mut w = World::new(cloud(QoS::AtLeastOnce), Config::default());
    let (local, _) = w.a.connect_persistent("device", V5);
    w.a.subscribe(local, "cmd/#", QoS::AtLeastOnce);
    w.cut();
    let remote = w.b.connect("remote", V5, true);
    for n in 1..=5u16 {
        w.b.publish(
            remote,
            "site1/cmd/x",
            n.to_string().as_bytes(),
            QoS::AtLeastOnce,
            false,
            n,
        );
    }
    w.pump();
    w.restore();
    w.advance(70_000);
    let got = take_acking(&mut w.a, local);
    assert_eq!(payloads(&got), ["1", "2", "3", "4", "5"]);
}

#[test]
fn a_remote_that_refuses_connect_gives_state_refused_and_backs_off() {
    struct Refuse;
    impl tabmq::broker::Hooks for Refuse {
        fn authenticate(&mut self, _: &tabmq::broker::AuthRequest) -> tabmq::broker::AuthDecision {
            tabmq::broker::AuthDecision::Reject(ReasonCode::BadUserNameOrPassword)
        }
    }
    let mut w = World::new(cloud(QoS::AtLeastOnce), Config::default());
    w.cut();
    w.b = Sim::with_hooks(Config::default(), Box::new(Refuse));
    w.pairs.clear();
    w.restore();
    w.advance(60_000);
    let view = w.a.broker.stats(w.a.now).bridges[0].clone();
    assert_eq!(view.state, BridgeState::Refused);
    assert_eq!(view.reason, Some(ReasonCode::BadUserNameOrPassword));
    assert!(
        view.attempts <= 10,
        "no hot loop: {} attempts in a minute",
        view.attempts
    );
    let refusals = (w.a.events.iter())
        .filter(|e| {
            matches!(
                e,
                Event::Bridge {
                    state: BridgeState::Refused,
                    ..
                }
            )
        })
        .count();
    assert!(refusals >= 2);
}

#[test]
fn a_full_bridge_queue_refuses_new_qos1_with_quota_exceeded() {
    let cfg = Config {
        max_queued_messages: 5,
        ..Config::default()
    };
    let mut w = World::new(cloud(QoS::AtLeastOnce), cfg);
    w.cut();
    let (local, _) = w.a.connect_persistent("device", V5);
    for n in 1..=8u16 {
        w.a.publish(
            local,
            "dev/1/seq",
            n.to_string().as_bytes(),
            QoS::AtLeastOnce,
            false,
            n,
        );
    }
    w.pump();
    let got = acks(&mut w.a, local);
    let ok = got
        .iter()
        .filter(|(_, r)| *r == ReasonCode::Success)
        .count();
    let refused = got
        .iter()
        .filter(|(_, r)| *r == ReasonCode::QuotaExceeded)
        .count();
    assert_eq!((ok, refused), (5, 3));
    // Other topics are not held up by the bridge.
    w.a.publish(local, "elsewhere", b"x", QoS::AtLeastOnce, false, 9);
    w.pump();
    assert_eq!(
        acks(&mut w.a, local),
        [(9, ReasonCode::NoMatchingSubscribers)]
    );
    assert_eq!(w.a.broker.stats(w.a.now).messages_dropped, 0);
}

#[test]
fn a_message_that_came_over_the_bridge_never_goes_back_over_it() {
    // Both directions on the same topics: the classic loop.
    let mut b = BridgeConfig::new("loop", "mqtt://b.example");
    b.out.push(map("shared/#", QoS::AtLeastOnce, "", ""));
    b.inbound.push(map("shared/#", QoS::AtLeastOnce, "", ""));
    let mut w = World::new(b, Config::default());
    let (a_sub, _) = w.a.connect_persistent("a-sub", V5);
    w.a.subscribe(a_sub, "shared/#", QoS::AtLeastOnce);
    let (b_sub, _) = w.b.connect_persistent("b-sub", V5);
    w.b.subscribe(b_sub, "shared/#", QoS::AtLeastOnce);
    let a_pub = w.a.connect("a-pub", V5, true);
    w.a.publish(a_pub, "shared/x", b"from-a", QoS::AtLeastOnce, false, 1);
    let b_pub = w.b.connect("b-pub", V5, true);
    w.b.publish(b_pub, "shared/y", b"from-b", QoS::AtLeastOnce, false, 1);
    w.advance(1_000);
    // Once each (publishers of different brokers have no order between them).
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(payloads(&take_acking(&mut w.a, a_sub))),
        ["from-a", "from-b"]
    );
    assert_eq!(
        sorted(payloads(&take_acking(&mut w.b, b_sub))),
        ["from-a", "from-b"]
    );
    let view = &w.a.broker.stats(w.a.now).bridges[0];
    assert_eq!((view.messages_out, view.messages_in), (1, 1));
}

#[test]
fn garbage_from_the_remote_costs_nothing_acknowledged() {
    let mut w = World::new(cloud(QoS::AtLeastOnce), Config::default());
    let (remote_sub, _) = w.b.connect_persistent("remote-sub", V5);
    w.b.subscribe(remote_sub, "site1/dev/#", QoS::AtLeastOnce);
    let (local, _) = w.a.connect_persistent("device", V5);
    // The remote's subscriber stops acknowledging, so messages stay in flight.
    w.a.publish(local, "dev/1", b"1", QoS::AtLeastOnce, false, 1);
    w.pump();
    let (ac, _, _) = w.pairs[0];
    w.a.broker.handle_bytes(ac, &[0x00, 0x00, 0xFF], w.a.now);
    w.pump();
    assert_ne!(w.bridge_state(), BridgeState::Connected);
    let error = w.a.broker.stats(w.a.now).bridges[0].last_error.clone();
    assert!(error.is_some_and(|e| e.contains("malformed")));
    w.a.publish(local, "dev/1", b"2", QoS::AtLeastOnce, false, 2);
    w.advance(5_000);
    assert_eq!(w.bridge_state(), BridgeState::Connected);
    let got = take_acking(&mut w.b, remote_sub);
    let mut seen: Vec<String> = payloads(&got);
    seen.dedup();
    assert_eq!(seen, ["1", "2"]);
}

#[test]
fn bridge_state_is_published_under_sys() {
    let mut w = World::new(cloud(QoS::AtLeastOnce), Config::default());
    let watcher = w.a.connect("watcher", V5, true);
    w.a.subscribe(watcher, "$SYS/broker/bridges/#", QoS::AtMostOnce);
    let got = w.a.publishes(watcher);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].topic, "$SYS/broker/bridges/cloud/state");
    assert_eq!(&got[0].payload[..], b"connected");
    w.cut();
    let got = w.a.publishes(watcher);
    assert_eq!(&got.last().unwrap().payload[..], b"backoff");
}

#[test]
fn clients_may_not_take_a_bridge_session_id() {
    let mut w = World::new(cloud(QoS::AtLeastOnce), Config::default());
    let (_, ack) = w.a.connect_with(connect_packet("$bridge/cloud", V5, false));
    match ack {
        Packet::ConnAck(a) => assert_eq!(a.reason, ReasonCode::ClientIdentifierNotValid),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.bridge_state(), BridgeState::Connected);
}

#[test]
fn a_removed_bridge_leaves_no_session_after_a_restart() {
    let mut w = World::new(cloud(QoS::AtLeastOnce), Config::default());
    w.cut();
    let (local, _) = w.a.connect_persistent("device", V5);
    w.a.publish(local, "dev/1", b"1", QoS::AtLeastOnce, false, 1);
    w.pump();
    assert!(w.a.broker.client_ids().any(|c| c == "$bridge/cloud"));
    w.a.cfg.bridges.clear();
    w.a.crash_and_restart();
    assert!(!w.a.broker.client_ids().any(|c| c == "$bridge/cloud"));
    let _: HashMap<(), ()> = HashMap::new();
}

#[test]
fn bridge_options_are_checked_with_the_field_named() {
    let mut b = cloud(QoS::AtLeastOnce);
    b.url = "http://x".into();
    assert_eq!(b.check().unwrap_err().0, "url");
    let mut b = cloud(QoS::AtLeastOnce);
    b.out[0].filter = "dev/#/x".into();
    assert_eq!(b.check().unwrap_err().0, "out[0].filter");
    let mut b = cloud(QoS::AtLeastOnce);
    b.inbound[0].remote_prefix = "a/+/".into();
    assert_eq!(b.check().unwrap_err().0, "in[0].remotePrefix");
    let mut b = cloud(QoS::AtLeastOnce);
    b.name = "a/b".into();
    assert_eq!(b.check().unwrap_err().0, "name");
    assert!(cloud(QoS::AtLeastOnce).check().is_ok());
}

#[test]
fn a_311_bridge_with_the_private_level_does_not_get_its_own_messages_back() {
    // What a Mosquitto bridge does with try_private: level 0x84.
    let mut s = Sim::new(Config::default());
    let mut c = connect_packet("mosquitto-bridge", V311, false);
    c.bridge = true;
    let (bridge, ack) = s.connect_with(c);
    assert!(matches!(ack, Packet::ConnAck(a) if a.reason == ReasonCode::Success));
    s.subscribe(bridge, "t/#", QoS::AtLeastOnce);
    s.publish(bridge, "t/own", b"own", QoS::AtLeastOnce, false, 1);
    let other = s.connect("other", V311, true);
    s.publish(other, "t/other", b"other", QoS::AtMostOnce, false, 0);
    assert_eq!(payloads(&s.publishes(bridge)), ["other"]);
}

#[test]
fn the_bridge_connects_311_remotes_with_the_private_level() {
    let mut cfg = cloud(QoS::AtLeastOnce);
    cfg.protocol = V311;
    let mut w = World::new(cfg, Config::default());
    // tabmq takes 0x84 itself, so the bridge is connected with it at once.
    assert_eq!(w.bridge_state(), BridgeState::Connected);
    let (remote_sub, _) = w.b.connect_persistent("remote-sub", V5);
    w.b.subscribe(remote_sub, "site1/dev/#", QoS::AtLeastOnce);
    let (local, _) = w.a.connect_persistent("device", V5);
    w.a.publish(local, "dev/1", b"v311", QoS::AtLeastOnce, false, 1);
    w.pump();
    assert_eq!(payloads(&take_acking(&mut w.b, remote_sub)), ["v311"]);
}

#[test]
fn a_paused_bridge_queues_and_resumes_where_it_left_off() {
    let mut w = World::new(cloud(QoS::AtLeastOnce), Config::default());
    let (remote_sub, _) = w.b.connect_persistent("remote-sub", V5);
    w.b.subscribe(remote_sub, "site1/dev/#", QoS::AtLeastOnce);
    assert!(w.a.broker.handle_bridge_pause("cloud", true, w.a.now));
    w.pump();
    assert_eq!(w.bridge_state(), BridgeState::Paused);
    let (local, _) = w.a.connect_persistent("device", V5);
    for n in 1..=20u16 {
        w.a.publish(
            local,
            "dev/1",
            n.to_string().as_bytes(),
            QoS::AtLeastOnce,
            false,
            n,
        );
    }
    w.advance(120_000);
    assert_eq!(
        w.bridge_state(),
        BridgeState::Paused,
        "no retries while paused"
    );
    assert!(take_acking(&mut w.b, remote_sub).is_empty());
    assert_eq!(w.a.broker.stats(w.a.now).bridges[0].queued, 20);
    assert!(w.a.broker.handle_bridge_pause("cloud", false, w.a.now));
    w.advance(1_000);
    assert_eq!(w.bridge_state(), BridgeState::Connected);
    let expected: Vec<String> = (1..=20).map(|n: u32| n.to_string()).collect();
    assert_eq!(payloads(&take_acking(&mut w.b, remote_sub)), expected);
    assert!(!w.a.broker.handle_bridge_pause("nope", true, w.a.now));
}

#[test]
fn a_bridge_without_keep_alive_stays_connected() {
    let mut b = cloud(QoS::AtLeastOnce);
    b.keep_alive = 0;
    let mut w = World::new(b, Config::default());
    assert_eq!(w.bridge_state(), BridgeState::Connected);
    // Past the CONNACK deadline (10 s) and well beyond.
    w.advance(120_000);
    assert_eq!(w.bridge_state(), BridgeState::Connected);
    assert_eq!(w.a.broker.stats(w.a.now).bridges[0].attempts, 0);
}

#[test]
fn a_bridge_whose_session_is_new_starts_the_remote_session_clean() {
    // Memory durability: a restart loses the bridge's session, so packet
    // identifiers start again; the remote must not take them for the old
    // QoS 2 exchanges it may still hold.
    let cfg = Config {
        durability: tabmq::broker::Durability::Memory,
        ..Config::default()
    };
    let mut w = World::new(cloud(QoS::ExactlyOnce), cfg);
    let fresh = |w: &World| {
        (w.b.events.iter())
            .filter(|e| {
                matches!(
                    e,
                    Event::Connected {
                        session_present: false,
                        ..
                    }
                )
            })
            .count()
    };
    let first = fresh(&w);
    w.a.crash_and_restart();
    w.pairs.clear();
    w.advance(5_000);
    assert_eq!(w.bridge_state(), BridgeState::Connected);
    assert_eq!(fresh(&w), first + 1, "the remote session was started clean");
}

#[test]
fn qos2_messages_cross_a_remote_whose_maximum_qos_is_lower_at_that_qos_once_each() {
    // [MQTT-3.2.2-11]: the bridge may not send above the remote's Maximum
    // QoS; the broker's QoS 2 exchange is completed by the bridge.
    for max in [1u8, 0] {
        let mut w = World::new(cloud(QoS::ExactlyOnce), Config::default());
        let (remote_sub, _) = w.b.connect_persistent("remote-sub", V5);
        w.b.subscribe(remote_sub, "site1/dev/#", QoS::ExactlyOnce);
        w.cut();
        let (local, _) = w.a.connect_persistent("device", V5);
        // Queued at QoS 2 while the remote's limit is not known yet.
        for n in 1..=10u16 {
            w.a.publish(
                local,
                "dev/q2",
                n.to_string().as_bytes(),
                QoS::ExactlyOnce,
                false,
                n,
            );
            let _ = w.a.recv_all(local);
            w.a.pubrel(local, pid(n));
        }
        w.remote_max_qos = Some(max);
        w.restore();
        w.advance(70_000);
        assert_eq!(w.bridge_state(), BridgeState::Connected);
        let got = take_acking(&mut w.b, remote_sub);
        let expected: Vec<String> = (1..=10).map(|n: u32| n.to_string()).collect();
        assert_eq!(payloads(&got), expected, "Maximum QoS {max}");
        assert!(
            got.iter().all(|p| p.qos as u8 <= max),
            "Maximum QoS {max}: {got:?}"
        );
        let view = w.a.broker.stats(w.a.now).bridges[0].clone();
        assert_eq!((view.queued, view.inflight), (0, 0), "Maximum QoS {max}");
        assert_eq!(view.messages_out, 10);
    }
}

/// A full store (past maxStoreBytes, or failing) refuses clients' QoS 1/2
/// messages that would be stored, but never what a bridge brings in: a
/// refusal would reach the remote, which would drop the message (a 3.1.1
/// remote reads the PUBACK as success). It is taken, and its PUBACK to the
/// remote waits for storage like any other.
#[test]
fn a_full_store_never_refuses_what_a_bridge_brings_in() {
    for protocol in [V311, V5] {
        let mut bridge = cloud(QoS::AtLeastOnce);
        bridge.protocol = protocol;
        let mut w = World::new(bridge, Config::default());
        w.advance(0);
        let (local, _) = w.a.connect_persistent("device", V5);
        w.a.subscribe(local, "cmd/#", QoS::AtLeastOnce);
        w.a.drop_conn(local);
        w.pump();
        w.a.broker.handle_storage_full(true);
        let remote = w.b.connect("remote", V5, true);
        w.b.publish(remote, "site1/cmd/x", b"kept", QoS::AtLeastOnce, false, 1);
        w.advance(1_000);
        let (local, present) = w.a.connect_persistent("device", V5);
        assert!(present);
        let got = take_acking(&mut w.a, local);
        assert_eq!(payloads(&got), ["kept"], "{protocol:?}");
        assert_eq!(w.a.broker.stats(w.a.now).messages_dropped, 0);
    }
}
