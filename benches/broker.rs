//! Routing throughput of the broker core, driven through the public API as a
//! host drives it: `handle_bytes` with pre-encoded PUBLISH bytes, then
//! `poll_transmit` drained; under `Durability::Strict` every storage batch is
//! reported persisted at once (the host's own write cost is not measured).
//! With QoS 1 the subscribers acknowledge every delivery (PUBACK parsed from
//! the routed bytes and fed back), so each case runs in steady state.
//!
//! - `fan_out`: 1 publisher → 1,000 subscribers of one topic; throughput in
//!   deliveries (divide by 1,000 for messages);
//! - `fan_in`: 1,000 publishers → 1 subscriber; throughput in messages;
//! - `match_100k`: one PUBLISH at a time among 100,000 subscriptions (10,000
//!   clients × 10 filters, a quarter with wildcards); throughput in
//!   messages, each matching a few subscriptions.
//!
//! Each in QoS 0 (clean sessions) and QoS 1 (persistent sessions), under
//! `Memory` and `Strict`. Allocations per routed message are counted in
//! `tests/broker_alloc.rs`.
//!
//! - `acl_100k`: `match_100k` in QoS 0 under `Memory`, without an ACL and
//!   with one of 10,000 users (one per client) and 1,000 rules: 997 `topic`
//!   rules in user sections and 3 patterns, one of them a denial inside
//!   subscribed filters, so some deliveries are checked one by one; and
//!   with 1,000 patterns instead. The throughputs should be within 10%.
//!
//! - `subscribe`: SUBSCRIBE → SUBACK of a persistent session, one filter,
//!   under `Memory` and `Strict` (where the SUBACK waits for the batch
//!   holding the subscription, reported persisted at once): the core's cost
//!   of holding it. It also prints p50/p99 of single round trips.
//!
//! - `topic_alias`: 1 MQTT 5 publisher → 1,000 MQTT 5 subscribers, eight
//!   topics in turn, QoS 0 and 1 under `Memory`, with subscribers that
//!   allow no topic alias and with ones that allow 16 (the broker then sends
//!   repeated topics as a 2-byte alias); throughput in deliveries. It also
//!   prints the bytes sent per delivery.
//!
//! `cargo bench --bench broker` measures; `cargo bench --bench broker --
//! --test` runs each case once.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use tabmq::broker::{Access, Acl, AllowAll, Broker, Config, ConnId, Durability};
use tabmq::codec::{
    Connect, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS, Subscribe, Subscription,
    SubscriptionOptions,
};
use tabmq::time::Millis;

const V: ProtocolVersion = ProtocolVersion::V3_1_1;
const NOW: Millis = Millis(1_700_000_000_000);
const PAYLOAD: [u8; 64] = [0xA5; 64];

struct Host {
    b: Broker,
    /// PUBACKs the subscribers owe, gathered while draining.
    acks: Vec<(ConnId, [u8; 4])>,
    auto_ack: bool,
}

impl Host {
    fn new(durability: Durability, auto_ack: bool) -> Host {
        Host::with_acl(durability, auto_ack, None)
    }

    fn with_acl(durability: Durability, auto_ack: bool, acl: Option<Acl>) -> Host {
        let cfg = Config {
            durability,
            sys_interval_secs: 0,
            max_connections: 100_000,
            access: Access {
                acl,
                ..Access::default()
            },
            ..Config::default()
        };
        Host {
            b: Broker::new(cfg, Box::new(AllowAll)),
            acks: Vec::new(),
            auto_ack,
        }
    }

    /// Drains transmits (and storage, persisted at once) until quiet, then
    /// feeds back the subscribers' PUBACKs, and again.
    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.b.poll_transmit() {
                progressed = true;
                if self.auto_ack {
                    collect_pubacks(t.conn, &t.data, &mut self.acks);
                }
                black_box(&t.data);
            }
            let mut last = None;
            while let Some(batch) = self.b.poll_storage() {
                last = Some(batch.ticket);
            }
            if let Some(t) = last {
                progressed = true;
                self.b.handle_persisted(t);
            }
            while self.b.poll_event().is_some() {}
            for (conn, ack) in self.acks.drain(..) {
                progressed = true;
                self.b.handle_bytes(conn, &ack, NOW);
            }
            if !progressed {
                return;
            }
        }
    }

    fn connect(&mut self, conn: u64, id: &str, clean: bool) -> ConnId {
        self.connect_as(conn, id, clean, None)
    }

    fn connect_as(&mut self, conn: u64, id: &str, clean: bool, user: Option<String>) -> ConnId {
        let conn = ConnId(conn);
        self.b.handle_open(conn, NOW);
        let c = Connect {
            protocol: V,
            bridge: false,
            clean_start: clean,
            keep_alive: 0,
            properties: Properties::default(),
            client_id: id.into(),
            will: None,
            username: user,
            password: None,
        };
        self.b
            .handle_bytes(conn, &encode(&Packet::Connect(Box::new(c))), NOW);
        conn
    }

    /// An MQTT 5 client allowing `aliases` topic aliases (0: none).
    fn connect_v5(&mut self, conn: u64, id: &str, clean: bool, aliases: u16) -> ConnId {
        let conn = ConnId(conn);
        self.b.handle_open(conn, NOW);
        let c = Connect {
            protocol: ProtocolVersion::V5,
            bridge: false,
            clean_start: clean,
            keep_alive: 0,
            properties: Properties {
                topic_alias_maximum: Some(aliases),
                session_expiry_interval: (!clean).then_some(3600),
                ..Properties::default()
            },
            client_id: id.into(),
            will: None,
            username: None,
            password: None,
        };
        let bytes = Packet::Connect(Box::new(c)).to_bytes(ProtocolVersion::V5);
        self.b.handle_bytes(conn, &bytes.unwrap(), NOW);
        conn
    }

    fn subscribe(&mut self, conn: ConnId, filters: &[String], qos: QoS) {
        let s = Subscribe {
            packet_id: PacketId::new(1).unwrap(),
            properties: Properties::default(),
            subscriptions: filters
                .iter()
                .map(|f| Subscription {
                    filter: f.clone(),
                    options: SubscriptionOptions::qos(qos),
                })
                .collect(),
        };
        self.b
            .handle_bytes(conn, &encode(&Packet::Subscribe(s)), NOW);
    }
}

/// Finds QoS 1 PUBLISHes in a routed byte stream and queues their PUBACKs.
fn collect_pubacks(conn: ConnId, mut data: &[u8], out: &mut Vec<(ConnId, [u8; 4])>) {
    while let Some(&first) = data.first() {
        let (mut len, mut shift, mut i) = (0usize, 0, 1);
        loop {
            let b = data[i];
            len |= usize::from(b & 0x7F) << shift;
            shift += 7;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        let body = &data[i..i + len];
        if first >> 4 == 3 && (first >> 1) & 3 == 1 {
            let topic_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
            let id = [body[2 + topic_len], body[3 + topic_len]];
            out.push((conn, [0x40, 0x02, id[0], id[1]]));
        }
        data = &data[i + len..];
    }
}

fn encode(p: &Packet) -> Vec<u8> {
    p.to_bytes(V).unwrap()
}

fn publish(topic: &str, qos: QoS) -> Vec<u8> {
    encode(&Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        packet_id: (qos != QoS::AtMostOnce).then(|| PacketId::new(1).unwrap()),
        properties: Properties::default(),
        payload: bytes::Bytes::from_static(&PAYLOAD),
    }))
}

fn variants() -> [(&'static str, QoS, Durability); 4] {
    [
        ("qos0/memory", QoS::AtMostOnce, Durability::Memory),
        ("qos0/strict", QoS::AtMostOnce, Durability::Strict),
        ("qos1/memory", QoS::AtLeastOnce, Durability::Memory),
        ("qos1/strict", QoS::AtLeastOnce, Durability::Strict),
    ]
}

fn fan_out(c: &mut Criterion) {
    const SUBSCRIBERS: u64 = 1_000;
    let mut group = c.benchmark_group("fan_out");
    group.throughput(Throughput::Elements(SUBSCRIBERS));
    for (name, qos, durability) in variants() {
        let persistent = qos != QoS::AtMostOnce;
        let mut h = Host::new(durability, persistent);
        for i in 0..SUBSCRIBERS {
            let conn = h.connect(10 + i, &format!("sub{i}"), !persistent);
            h.subscribe(conn, &["bench/+/temperature".into()], qos);
        }
        let publisher = h.connect(1, "pub", true);
        h.drain();
        let bytes = publish("bench/room-1/temperature", qos);
        group.bench_function(name, |b| {
            b.iter(|| {
                h.b.handle_bytes(publisher, black_box(&bytes), NOW);
                h.drain();
            })
        });
        check_steady(&h, name);
    }
    group.finish();
}

fn fan_in(c: &mut Criterion) {
    const PUBLISHERS: u64 = 1_000;
    let mut group = c.benchmark_group("fan_in");
    group.throughput(Throughput::Elements(PUBLISHERS));
    for (name, qos, durability) in variants() {
        let persistent = qos != QoS::AtMostOnce;
        let mut h = Host::new(durability, persistent);
        let sub = h.connect(1, "sub", !persistent);
        h.subscribe(sub, &["bench/in/#".into()], qos);
        let publishers: Vec<(ConnId, Vec<u8>)> = (0..PUBLISHERS)
            .map(|i| {
                let conn = h.connect(10 + i, &format!("pub{i}"), true);
                (conn, publish(&format!("bench/in/{i}"), qos))
            })
            .collect();
        h.drain();
        group.bench_function(name, |b| {
            b.iter(|| {
                for (conn, bytes) in &publishers {
                    h.b.handle_bytes(*conn, black_box(bytes), NOW);
                    h.drain();
                }
            })
        });
        check_steady(&h, name);
    }
    group.finish();
}

fn topic_alias(c: &mut Criterion) {
    const SUBSCRIBERS: u64 = 1_000;
    const TOPICS: usize = 8;
    let mut group = c.benchmark_group("topic_alias");
    group.throughput(Throughput::Elements(SUBSCRIBERS * TOPICS as u64));
    for (name, qos, aliases) in [
        ("qos0/none", QoS::AtMostOnce, 0),
        ("qos0/aliases", QoS::AtMostOnce, 16),
        ("qos1/none", QoS::AtLeastOnce, 0),
        ("qos1/aliases", QoS::AtLeastOnce, 16),
    ] {
        let mut h = Host::new(Durability::Memory, qos != QoS::AtMostOnce);
        for i in 0..SUBSCRIBERS {
            let conn = h.connect_v5(10 + i, &format!("sub{i}"), true, aliases);
            let sub = Subscribe {
                packet_id: PacketId::new(1).unwrap(),
                properties: Properties::default(),
                subscriptions: vec![Subscription {
                    filter: "bench/+/+/temperature".into(),
                    options: SubscriptionOptions::qos(qos),
                }],
            };
            let bytes = Packet::Subscribe(sub).to_bytes(ProtocolVersion::V5);
            h.b.handle_bytes(conn, &bytes.unwrap(), NOW);
        }
        let publisher = h.connect_v5(1, "pub", true, 0);
        h.drain();
        let messages: Vec<Vec<u8>> = (0..TOPICS)
            .map(|i| {
                let p = Packet::Publish(Publish {
                    dup: false,
                    qos,
                    retain: false,
                    topic: format!("bench/building-1/room-{i}/temperature"),
                    packet_id: (qos != QoS::AtMostOnce).then(|| PacketId::new(1).unwrap()),
                    properties: Properties::default(),
                    payload: bytes::Bytes::from_static(&PAYLOAD),
                });
                p.to_bytes(ProtocolVersion::V5).unwrap()
            })
            .collect();
        let round = |h: &mut Host| {
            for bytes in &messages {
                h.b.handle_bytes(publisher, black_box(bytes), NOW);
                h.drain();
            }
        };
        round(&mut h);
        let before = h.b.stats(NOW);
        round(&mut h);
        let after = h.b.stats(NOW);
        let bytes = after.bytes_sent - before.bytes_sent;
        let deliveries = after.messages_sent - before.messages_sent;
        assert_eq!(deliveries, SUBSCRIBERS * TOPICS as u64);
        let per = bytes as f64 / deliveries as f64;
        println!("topic_alias/{name}: {per:.1} bytes sent per delivery");
        group.bench_function(name, |b| b.iter(|| round(&mut h)));
        check_steady(&h, name);
    }
    group.finish();
}

/// 10,000 clients × 10 filters (a quarter with wildcards); client `i` is
/// user `u{i}` when `users`. Returns the publisher.
fn fleet(h: &mut Host, qos: QoS, users: bool) -> ConnId {
    const CLIENTS: u64 = 10_000;
    let persistent = qos != QoS::AtMostOnce;
    for i in 0..CLIENTS {
        let user = users.then(|| format!("u{i}"));
        let conn = h.connect_as(10 + i, &format!("c{i}"), !persistent, user);
        let (a, b) = (i % 1_000, i % 100);
        let mut filters = vec![
            format!("fleet/{a}/+/status"),
            format!("fleet/{a}/{b}/#"),
            format!("+/{a}/{b}/alarm"),
        ];
        // Exact topics, spread over the whole space.
        filters.extend((0..7).map(|k| format!("fleet/{}/{}/status", (i * 7 + k) % 1_000, k)));
        h.subscribe(conn, &filters, qos);
        if i % 500 == 0 {
            h.drain();
        }
    }
    let publisher = h.connect_as(1, "pub", true, users.then(|| "publisher".into()));
    h.drain();
    let subs = h.b.stats(NOW).subscriptions;
    assert_eq!(subs, 100_000, "subscriptions held");
    publisher
}

/// The topics `match_100k` publishes, in turn.
fn fleet_topics(qos: QoS) -> Vec<Vec<u8>> {
    (0..1_000u64)
        .map(|k| publish(&format!("fleet/{}/{}/status", (k * 37) % 1_000, k % 7), qos))
        .collect()
}

fn match_100k(c: &mut Criterion) {
    let mut group = c.benchmark_group("match_100k");
    group.throughput(Throughput::Elements(1));
    for (name, qos, durability) in variants() {
        let persistent = qos != QoS::AtMostOnce;
        let mut h = Host::new(durability, persistent);
        let publisher = fleet(&mut h, qos, false);
        let topics = fleet_topics(qos);
        let mut next = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                h.b.handle_bytes(publisher, black_box(&topics[next]), NOW);
                h.drain();
                next = (next + 1) % topics.len();
            })
        });
        check_steady(&h, name);
        let st = h.b.stats(NOW);
        eprintln!(
            "match_100k/{name}: {:.1} deliveries per message",
            st.messages_sent as f64 / st.messages_received as f64
        );
    }
    group.finish();
}

/// An ACL of 10,000 users and 1,000 rules that lets every fleet client read
/// what it subscribes, except `fleet/+/+/secret`.
fn fleet_acl() -> Acl {
    let mut text = String::new();
    for i in 0..10_000 {
        text += &format!("user u{i}\n");
        if i < 997 {
            text += &format!("topic readwrite private/u{i}/#\n");
        }
    }
    text += "user publisher\ntopic write fleet/#\n";
    text += "pattern read fleet/#\npattern read +/+/+/alarm\npattern deny fleet/+/+/secret\n";
    Acl::parse(&text).unwrap()
}

/// The same users, and 1,000 rules that are all patterns: 997 about other
/// parts of the tree (`site<i>/%c/#`) and the three above.
fn fleet_pattern_acl() -> Acl {
    let mut text = String::new();
    for i in 0..10_000 {
        text += &format!("user u{i}\n");
    }
    text += "user publisher\ntopic write fleet/#\n";
    for i in 0..997 {
        text += &format!("pattern readwrite site{i}/%c/#\n");
    }
    text += "pattern read fleet/#\npattern read +/+/+/alarm\npattern deny fleet/+/+/secret\n";
    Acl::parse(&text).unwrap()
}

fn acl_100k(c: &mut Criterion) {
    let mut group = c.benchmark_group("acl_100k");
    group.throughput(Throughput::Elements(1));
    let cases = [
        ("none", None),
        ("10k-users-1k-rules", Some(fleet_acl())),
        ("10k-users-1k-patterns", Some(fleet_pattern_acl())),
    ];
    for (name, acl) in cases {
        let users = acl.is_some();
        let mut h = Host::with_acl(Durability::Memory, false, acl);
        let publisher = fleet(&mut h, QoS::AtMostOnce, users);
        let topics = fleet_topics(QoS::AtMostOnce);
        let mut next = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                h.b.handle_bytes(publisher, black_box(&topics[next]), NOW);
                h.drain();
                next = (next + 1) % topics.len();
            })
        });
        let st = h.b.stats(NOW);
        eprintln!(
            "acl_100k/{name}: {:.1} deliveries per message",
            st.messages_sent as f64 / st.messages_received as f64
        );
    }
    group.finish();
}

/// SUBSCRIBE → SUBACK of a persistent 3.1.1 session, one filter, each
/// iteration a new filter (a new subscription record under Strict).
fn subscribe(c: &mut Criterion) {
    let mut group = c.benchmark_group("subscribe");
    group.throughput(Throughput::Elements(1));
    for (name, durability) in [
        ("memory", Durability::Memory),
        ("strict", Durability::Strict),
    ] {
        let mut h = Host::new(durability, false);
        let conn = h.connect(1, "sub", false);
        h.drain();
        let filters: Vec<Vec<u8>> = (0..1024)
            .map(|i| {
                encode(&Packet::Subscribe(Subscribe {
                    packet_id: PacketId::new(1).unwrap(),
                    properties: Properties::default(),
                    subscriptions: vec![Subscription {
                        filter: format!("sensors/{i}/+"),
                        options: SubscriptionOptions::qos(QoS::AtLeastOnce),
                    }],
                }))
            })
            .collect();
        let mut i = 0usize;
        let mut round_trip = |h: &mut Host| {
            h.b.handle_bytes(conn, &filters[i % filters.len()], NOW);
            i += 1;
            let got = suback_round(h);
            assert!(got, "{name}: no SUBACK");
        };
        // Warm up (every filter subscribed once) before taking samples.
        for _ in 0..20_000 {
            round_trip(&mut h);
        }
        let mut samples: Vec<std::time::Duration> = (0..20_000)
            .map(|_| {
                let t = std::time::Instant::now();
                round_trip(&mut h);
                t.elapsed()
            })
            .collect();
        samples.sort();
        let pct = |p: usize| samples[samples.len() * p / 100];
        eprintln!(
            "subscribe/{name}: SUBSCRIBE -> SUBACK p50 {:?}, p99 {:?} (20,000 round trips)",
            pct(50),
            pct(99)
        );
        group.bench_function(name, |b| b.iter(|| round_trip(&mut h)));
    }
    group.finish();
}

/// Drains one SUBSCRIBE's output as a host does (storage reported persisted
/// at once); returns whether a SUBACK left.
fn suback_round(h: &mut Host) -> bool {
    let mut suback = false;
    loop {
        let mut progressed = false;
        while let Some(t) = h.b.poll_transmit() {
            progressed = true;
            suback |= t.data.first() == Some(&0x90);
        }
        let mut last = None;
        while let Some(batch) = h.b.poll_storage() {
            last = Some(batch.ticket);
        }
        if let Some(t) = last {
            progressed = true;
            h.b.handle_persisted(t);
        }
        if !progressed {
            return suback;
        }
    }
}

/// Nothing piled up while measuring: every delivery was made.
fn check_steady(h: &Host, name: &str) {
    let st = h.b.stats(NOW);
    assert_eq!(
        (
            st.queued_messages,
            st.inflight_messages,
            st.messages_dropped
        ),
        (0, 0, 0),
        "{name}: not in steady state"
    );
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = fan_out, fan_in, match_100k, acl_100k, subscribe, topic_alias
}
criterion_main!(benches);
