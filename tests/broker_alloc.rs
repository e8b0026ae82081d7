//! Heap allocations per routed message in steady state, counted by a global
//! allocator, through the public API only: `handle_bytes` with a pre-encoded
//! PUBLISH, then everything the broker has to say drained (transmits,
//! storage batches reported persisted at once, events).
//!
//! The bounds are generous on purpose (this guards against a regression to
//! allocating per subscriber or per byte, not against one more `Rc`); run
//! with `--nocapture` to see the exact counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tabmq::broker::{AllowAll, Broker, Config, ConnId, Durability};
use tabmq::codec::{
    Connect, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS, Subscribe, Subscription,
    SubscriptionOptions,
};
use tabmq::time::Millis;

struct Counting;

thread_local! {
    /// Allocations made by this thread (tests run on several threads).
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards to the system allocator unchanged; counting touches only
// a const-initialised thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCS.with(Cell::get)
}

const V: ProtocolVersion = ProtocolVersion::V3_1_1;
const NOW: Millis = Millis(1_700_000_000_000);

/// A host that persists every batch at once and discards what it sends.
struct Host {
    b: Broker,
    version: ProtocolVersion,
}

impl Host {
    fn new(durability: Durability) -> Host {
        let cfg = Config {
            durability,
            sys_interval_secs: 0,
            ..Config::default()
        };
        Host {
            b: Broker::new(cfg, Box::new(AllowAll)),
            version: V,
        }
    }

    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.b.poll_transmit() {
                progressed = true;
                std::hint::black_box(&t.data);
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
            if !progressed {
                return;
            }
        }
    }

    fn connect(&mut self, conn: u64, id: &str, clean: bool) -> ConnId {
        self.connect_with(conn, id, clean, Properties::default())
    }

    fn connect_with(&mut self, conn: u64, id: &str, clean: bool, properties: Properties) -> ConnId {
        let conn = ConnId(conn);
        self.b.handle_open(conn, NOW);
        let c = Connect {
            protocol: self.version,
            bridge: false,
            clean_start: clean,
            keep_alive: 0,
            properties,
            client_id: id.into(),
            will: None,
            username: None,
            password: None,
        };
        self.feed(conn, &Packet::Connect(Box::new(c)));
        conn
    }

    fn subscribe(&mut self, conn: ConnId, filter: &str, qos: QoS) {
        let s = Subscribe {
            packet_id: PacketId::new(1).unwrap(),
            properties: Properties::default(),
            subscriptions: vec![Subscription {
                filter: filter.into(),
                options: SubscriptionOptions::qos(qos),
            }],
        };
        self.feed(conn, &Packet::Subscribe(s));
    }

    fn feed(&mut self, conn: ConnId, p: &Packet) {
        let bytes = p.to_bytes(self.version).unwrap();
        self.b.handle_bytes(conn, &bytes, NOW);
        self.drain();
    }
}

fn publish_bytes(qos: QoS) -> Vec<u8> {
    publish_bytes_for(qos, V)
}

fn publish_bytes_for(qos: QoS, version: ProtocolVersion) -> Vec<u8> {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: "sensors/building-1/floor-3/temperature".into(),
        packet_id: (qos != QoS::AtMostOnce).then(|| PacketId::new(1).unwrap()),
        properties: Properties::default(),
        payload: bytes::Bytes::from_static(&[0xA5; 64]),
    })
    .to_bytes(version)
    .unwrap()
}

fn puback(id: u16) -> [u8; 4] {
    let [hi, lo] = id.to_be_bytes();
    [0x40, 0x02, hi, lo]
}

/// Allocations per published message, averaged over `n` in steady state.
/// With QoS 1 the subscribers acknowledge each delivery.
fn per_message(
    durability: Durability,
    qos: QoS,
    subscribers: usize,
    persistent: bool,
    n: u64,
) -> f64 {
    let mut h = Host::new(durability);
    let subs: Vec<ConnId> = (0..subscribers)
        .map(|i| {
            let c = h.connect(100 + i as u64, &format!("sub{i}"), !persistent);
            h.subscribe(c, "sensors/+/+/temperature", qos);
            c
        })
        .collect();
    let publisher = h.connect(1, "pub", true);
    let bytes = publish_bytes(qos);
    let mut next_id: u16 = 0;
    let mut round = |h: &mut Host| {
        h.b.handle_bytes(publisher, &bytes, NOW);
        h.drain();
        if qos != QoS::AtMostOnce {
            next_id = next_id.checked_add(1).unwrap_or(1);
            let ack = puback(next_id);
            for &s in &subs {
                h.b.handle_bytes(s, &ack, NOW);
            }
            h.drain();
        }
    };
    // Warm up: buffers, maps and queues reach their steady capacity.
    for _ in 0..200 {
        round(&mut h);
    }
    let before = allocations();
    for _ in 0..n {
        round(&mut h);
    }
    let total = allocations() - before;
    // Nothing piles up: the sessions are empty again.
    let st = h.b.stats(NOW);
    assert_eq!((st.queued_messages, st.inflight_messages), (0, 0));
    total as f64 / n as f64
}

#[test]
fn allocations_per_routed_message() {
    let cases: [(&str, Durability, QoS, usize, bool, f64); 6] = [
        // (name, durability, QoS, subscribers, persistent, bound per message)
        (
            "QoS 0 → 1, Memory",
            Durability::Memory,
            QoS::AtMostOnce,
            1,
            false,
            8.0,
        ),
        (
            "QoS 0 → 1, Strict",
            Durability::Strict,
            QoS::AtMostOnce,
            1,
            false,
            8.0,
        ),
        (
            "QoS 0 → 100, Memory",
            Durability::Memory,
            QoS::AtMostOnce,
            100,
            false,
            210.0,
        ),
        (
            "QoS 1 → 1, Memory",
            Durability::Memory,
            QoS::AtLeastOnce,
            1,
            false,
            12.0,
        ),
        (
            "QoS 1 → 1 persistent, Strict",
            Durability::Strict,
            QoS::AtLeastOnce,
            1,
            true,
            24.0,
        ),
        (
            "QoS 1 → 100 persistent, Strict",
            Durability::Strict,
            QoS::AtLeastOnce,
            100,
            true,
            420.0,
        ),
    ];
    let mut report = Vec::new();
    for (name, durability, qos, subs, persistent, bound) in cases {
        let per = per_message(durability, qos, subs, persistent, 1_000);
        report.push(format!("{name}: {per:.2} allocations per message"));
        assert!(
            per <= bound,
            "{name}: {per} allocations per message (bound {bound})"
        );
    }
    println!("{}", report.join("\n"));
}

#[test]
fn qos0_to_one_subscriber_is_a_small_constant() {
    // Independent of the payload size and of how many messages went before.
    let small = per_message(Durability::Memory, QoS::AtMostOnce, 1, false, 500);
    let more = per_message(Durability::Memory, QoS::AtMostOnce, 1, false, 5_000);
    assert_eq!(small, more, "per-message allocations must not drift");
    assert!(small <= 8.0, "{small}");
    // The codec's own share: decoding a PUBLISH allocates its topic and payload.
    let bytes = publish_bytes(QoS::AtMostOnce);
    let before = allocations();
    let p = tabmq::codec::decode(&bytes, V, u32::MAX).unwrap();
    let decode = allocations() - before;
    drop(p);
    println!("decode: {decode} allocations; broker total per message: {small}");
    assert_eq!(decode, 2, "topic and payload");
}

/// Allocations per QoS 0 message from an MQTT 5 publisher to one MQTT 5
/// subscriber that allows `aliases` topic aliases (0: none), and the bytes
/// the subscriber receives per message.
fn per_message_v5(aliases: u16, n: u64) -> (f64, f64) {
    let mut h = Host::new(Durability::Memory);
    h.version = ProtocolVersion::V5;
    let properties = Properties {
        topic_alias_maximum: Some(aliases),
        ..Properties::default()
    };
    let sub = h.connect_with(100, "sub", true, properties);
    h.subscribe(sub, "sensors/+/+/temperature", QoS::AtMostOnce);
    let publisher = h.connect(1, "pub", true);
    let bytes = publish_bytes_for(QoS::AtMostOnce, ProtocolVersion::V5);
    for _ in 0..200 {
        h.b.handle_bytes(publisher, &bytes, NOW);
        h.drain();
    }
    let (before, sent) = (allocations(), h.b.stats(NOW).bytes_sent);
    for _ in 0..n {
        h.b.handle_bytes(publisher, &bytes, NOW);
        h.drain();
    }
    let total = allocations() - before;
    let sent = h.b.stats(NOW).bytes_sent - sent;
    (total as f64 / n as f64, sent as f64 / n as f64)
}

#[test]
fn a_topic_alias_costs_no_allocation_and_saves_the_topic_bytes() {
    let (plain, plain_bytes) = per_message_v5(0, 1_000);
    let (aliased, aliased_bytes) = per_message_v5(10, 1_000);
    println!(
        "MQTT 5 QoS 0 → 1: {plain:.2} allocations, {plain_bytes:.1} bytes per message; \
         with topic aliases {aliased:.2} allocations, {aliased_bytes:.1} bytes"
    );
    assert!(aliased <= plain, "{aliased} > {plain}");
    // The 38-byte topic becomes an empty one and a 3-byte property.
    let topic = "sensors/building-1/floor-3/temperature".len() as f64;
    assert_eq!(plain_bytes - aliased_bytes, topic - 3.0);
}
