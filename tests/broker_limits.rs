//! `$SYS/broker/...`: published at the configured interval, as retained QoS 0
//! messages, with counters that match what happened; reachable only through
//! filters that start with `$SYS` [MQTT-4.7.2-1]; off when the interval is 0.
//! Plus the storage side of the per-session queue limits.

mod sim;

use sim::*;
use std::collections::BTreeMap;
use tabmq::broker::{Config, ConnId};
use tabmq::codec::{Disconnect, Packet, PubResponse, Publish};

const SYS_TOPICS: [&str; 13] = [
    "$SYS/broker/version",
    "$SYS/broker/uptime",
    "$SYS/broker/clients/connected",
    "$SYS/broker/clients/total",
    "$SYS/broker/messages/received",
    "$SYS/broker/messages/sent",
    "$SYS/broker/messages/dropped",
    "$SYS/broker/messages/inflight",
    "$SYS/broker/messages/queued",
    "$SYS/broker/bytes/received",
    "$SYS/broker/bytes/sent",
    "$SYS/broker/subscriptions/count",
    "$SYS/broker/retained messages/count",
];

fn sys_cfg(secs: u32) -> Config {
    Config {
        sys_interval_secs: secs,
        ..Config::default()
    }
}

/// topic → payload of the PUBLISHes, the last one per topic winning.
fn values(pubs: &[Publish]) -> BTreeMap<String, String> {
    pubs.iter()
        .map(|p| {
            (
                p.topic.clone(),
                String::from_utf8_lossy(&p.payload).into_owned(),
            )
        })
        .collect()
}

fn value(v: &BTreeMap<String, String>, name: &str) -> String {
    v.get(&format!("$SYS/broker/{name}"))
        .unwrap_or_else(|| panic!("no $SYS/broker/{name} in {v:?}"))
        .clone()
}

/// Everything retained under `$SYS/#` now, as a new subscriber sees it.
fn sys_snapshot(s: &mut Sim) -> BTreeMap<String, String> {
    let probe = s.connect("sys-probe", V5, true);
    s.subscribe(probe, "$SYS/#", QoS::AtMostOnce);
    let got = s.publishes(probe);
    assert!(got.iter().all(|p| p.retain && p.qos == QoS::AtMostOnce));
    s.send(
        probe,
        Packet::Disconnect(Disconnect::new(ReasonCode::Success)),
    );
    values(&got)
}

#[test]
fn sys_values_are_published_at_the_interval_with_correct_counters() {
    let mut s = Sim::new(sys_cfg(10));
    let mon = s.connect("mon", V5, true);
    s.subscribe(mon, "$SYS/#", QoS::AtLeastOnce);
    // The first values go out at the first timeout after start.
    assert!(s.publishes(mon).is_empty());
    s.advance(0);
    let first = s.publishes(mon);
    assert_eq!(first.len(), SYS_TOPICS.len());
    let v = values(&first);
    let mut names: Vec<&str> = v.keys().map(String::as_str).collect();
    names.sort();
    let mut expected = SYS_TOPICS.to_vec();
    expected.sort();
    assert_eq!(names, expected);
    // QoS 0 whatever the subscription's QoS; RETAIN 0 on live delivery
    // [MQTT-3.3.1-9].
    assert!(first.iter().all(|p| p.qos == QoS::AtMostOnce && !p.retain));
    assert_eq!(
        value(&v, "version"),
        format!("tabmq {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(value(&v, "uptime"), "0 seconds");
    assert_eq!(value(&v, "clients/connected"), "1");
    assert_eq!(value(&v, "clients/total"), "1");
    assert_eq!(value(&v, "subscriptions/count"), "1");
    assert_eq!(value(&v, "messages/received"), "0");
    assert_eq!(value(&v, "messages/sent"), "0");
    assert_eq!(value(&v, "retained messages/count"), "0");

    // Some traffic: 2 subscribers, 3 messages in (2 retained), 5 out.
    let a = s.connect("a", V311, true);
    s.subscribe(a, "t/#", QoS::AtMostOnce);
    let b = s.connect("b", V5, true);
    s.subscribe(b, "t/1", QoS::AtLeastOnce);
    let p = s.connect("p", V5, true);
    s.publish(p, "t/1", b"x", QoS::AtLeastOnce, true, 1); // to a and b
    s.publish(p, "t/2", b"y", QoS::AtMostOnce, true, 0); // to a
    s.publish(p, "t/1", b"z", QoS::AtMostOnce, false, 0); // to a and b
    s.recv_all(p);
    assert_eq!(s.publishes(a).len(), 3);
    assert_eq!(take_and_ack(&mut s, b).len(), 2);
    s.send(p, Packet::Disconnect(Disconnect::new(ReasonCode::Success)));

    s.advance(9_999);
    assert!(s.publishes(mon).is_empty(), "not before the interval");
    s.advance(1);
    let v = values(&s.publishes(mon));
    assert_eq!(value(&v, "uptime"), "10 seconds");
    assert_eq!(value(&v, "clients/connected"), "3");
    assert_eq!(value(&v, "clients/total"), "3");
    assert_eq!(value(&v, "subscriptions/count"), "3");
    assert_eq!(value(&v, "messages/received"), "3");
    // 5 routed messages, plus the 13 `$SYS` messages mon received.
    assert_eq!(value(&v, "messages/sent"), "18");
    assert_eq!(value(&v, "retained messages/count"), "2");
    assert!(
        !v.contains_key("$SYS/broker/version"),
        "unchanged: not resent"
    );

    // The retained values are the latest ones, for any new subscriber.
    let snap = sys_snapshot(&mut s);
    assert_eq!(snap.len(), SYS_TOPICS.len());
    assert_eq!(value(&snap, "uptime"), "10 seconds");
    assert_eq!(value(&snap, "messages/received"), "3");
    // And they agree with `Broker::stats` at the time they were taken.
    let st = s.broker.stats(s.now);
    assert_eq!(
        value(&snap, "retained messages/count"),
        st.retained.to_string()
    );
    // (The probe's clean session, and its subscription, ended with it.)
    assert_eq!(
        value(&snap, "subscriptions/count"),
        st.subscriptions.to_string()
    );

    // Disconnections and a cleared retained message show at the next interval.
    s.send(a, Packet::Disconnect(Disconnect::new(ReasonCode::Success)));
    let p = s.connect("p", V5, true);
    s.publish(p, "t/2", b"", QoS::AtMostOnce, true, 0);
    s.send(p, Packet::Disconnect(Disconnect::new(ReasonCode::Success)));
    s.advance(10_000);
    let v = values(&s.publishes(mon));
    assert_eq!(value(&v, "uptime"), "20 seconds");
    assert_eq!(value(&v, "clients/connected"), "2");
    assert_eq!(value(&v, "clients/total"), "2");
    assert_eq!(value(&v, "subscriptions/count"), "2");
    assert_eq!(value(&v, "messages/received"), "4");
    assert_eq!(value(&v, "retained messages/count"), "1");

    // Uptime follows the clock, one value per interval.
    for t in [30, 40, 50] {
        s.advance(10_000);
        let v = values(&s.publishes(mon));
        assert_eq!(value(&v, "uptime"), format!("{t} seconds"));
    }
}

fn take_and_ack(s: &mut Sim, conn: ConnId) -> Vec<Publish> {
    let pubs = s.publishes(conn);
    for p in &pubs {
        if let (QoS::AtLeastOnce, Some(id)) = (p.qos, p.packet_id) {
            s.send(conn, Packet::PubAck(PubResponse::new(id)));
        }
    }
    pubs
}

#[test]
fn sys_topics_are_not_matched_by_leading_wildcards() {
    let mut s = Sim::new(sys_cfg(5));
    let all = s.connect("all", V5, true);
    s.subscribe(all, "#", QoS::AtMostOnce);
    let plus = s.connect("plus", V311, true);
    s.subscribe(plus, "+/broker/#", QoS::AtMostOnce);
    s.subscribe(plus, "+/+/uptime", QoS::AtMostOnce);
    let sys = s.connect("sys", V311, true);
    s.subscribe(sys, "$SYS/#", QoS::AtMostOnce);
    let one = s.connect("one", V5, true);
    s.subscribe(one, "$SYS/broker/+", QoS::AtMostOnce);
    s.subscribe(one, "$SYS/broker/clients/connected", QoS::AtMostOnce);
    s.advance(0);
    s.advance(5_000);
    assert!(
        s.publishes(all).is_empty(),
        "# does not match $SYS [MQTT-4.7.2-1]"
    );
    assert!(s.publishes(plus).is_empty(), "nor does a leading +");
    let got = s.publishes(sys);
    assert_eq!(got.len(), SYS_TOPICS.len() + 3, "all, then what changed");
    assert!(got.iter().all(|p| p.topic.starts_with("$SYS/broker/")));
    let got_one = s.publishes(one);
    // $SYS/broker/+ matches the one-level names only: version, uptime.
    let topics: Vec<&str> = got_one.iter().map(|p| p.topic.as_str()).collect();
    assert!(topics.contains(&"$SYS/broker/version"));
    assert!(topics.contains(&"$SYS/broker/uptime"));
    assert!(topics.contains(&"$SYS/broker/clients/connected"));
    assert!(!topics.contains(&"$SYS/broker/messages/sent"));
    // Overlapping subscriptions still give one copy per message [MQTT-3.3.4-2].
    let connected = topics
        .iter()
        .filter(|t| **t == "$SYS/broker/clients/connected")
        .count();
    assert_eq!(connected, 1);
    // Retained `$SYS` values are not sent to a new `#` subscriber either.
    let late = s.connect("late", V5, true);
    s.subscribe(late, "#", QoS::AtMostOnce);
    assert!(s.publishes(late).is_empty());
    let late2 = s.connect("late2", V5, true);
    s.subscribe(late2, "$SYS/broker/uptime", QoS::AtMostOnce);
    let got = s.publishes(late2);
    assert_eq!(got.len(), 1);
    assert!(got[0].retain);
    assert_eq!(&got[0].payload[..], b"5 seconds");
}

#[test]
fn sys_interval_zero_turns_sys_off() {
    let mut s = Sim::new(sys_cfg(0));
    let sys = s.connect("sys", V5, true);
    s.subscribe(sys, "$SYS/#", QoS::AtMostOnce);
    let p = s.connect("p", V5, true);
    s.publish(p, "t", b"x", QoS::AtMostOnce, true, 0);
    for _ in 0..5 {
        s.advance(60_000);
    }
    assert!(s.publishes(sys).is_empty());
    assert!(sys_snapshot(&mut s).is_empty());
    assert_eq!(s.broker.stats(s.now).retained, 1);
    // No `$SYS` timer: with no keep alive and no pending session deadline,
    // the broker needs no timeout at all.
    s.advance(60_000);
    assert_eq!(s.broker.poll_timeout(), None);

    let mut on = Sim::new(sys_cfg(60));
    on.connect("c", V5, true);
    on.advance(60_000);
    assert!(
        on.broker.poll_timeout().is_some(),
        "$SYS keeps a timer armed"
    );
}

#[test]
fn clients_cannot_publish_into_sys() {
    // `$SYS` is the broker's own namespace (spec 4.7.2): a client PUBLISH
    // there is refused as not authorized, and cannot spoof a counter.
    let mut s = Sim::new(sys_cfg(10));
    let mon = s.connect("mon", V5, true);
    s.subscribe(mon, "$SYS/#", QoS::AtMostOnce);
    s.advance(0);
    s.publishes(mon);
    let p = s.connect("p", V5, true);
    s.publish(
        p,
        "$SYS/broker/version",
        b"evil 6.6.6",
        QoS::AtLeastOnce,
        true,
        1,
    );
    match s.recv(p) {
        Some(Packet::PubAck(r)) => assert_eq!(r.reason, ReasonCode::NotAuthorized),
        other => panic!("expected PUBACK 0x87, got {other:?}"),
    }
    s.publish(
        p,
        "$SYS/broker/uptime",
        b"0 seconds",
        QoS::AtMostOnce,
        true,
        0,
    );
    let p3 = s.connect("p3", V311, true);
    s.publish(
        p3,
        "$SYS/broker/clients/connected",
        b"0",
        QoS::AtLeastOnce,
        true,
        2,
    );
    // 3.1.1 cannot refuse a PUBLISH: it is acknowledged and dropped.
    assert_eq!(s.recv(p3), Some(Packet::PubAck(PubResponse::new(pid(2)))));
    assert!(!s.is_closed(p) && !s.is_closed(p3));
    assert!(
        s.publishes(mon).is_empty(),
        "nothing reached $SYS subscribers"
    );
    let snap = sys_snapshot(&mut s);
    assert_eq!(
        value(&snap, "version"),
        format!("tabmq {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(value(&snap, "clients/connected"), "1");
    // Refused messages are not counted as received.
    s.advance(10_000);
    assert_eq!(value(&sys_snapshot(&mut s), "messages/received"), "0");
}

#[test]
fn sys_values_are_not_stored() {
    let mut s = Sim::new(sys_cfg(1));
    let (mon, _) = s.connect_persistent("mon", V5);
    s.subscribe(mon, "$SYS/#", QoS::AtLeastOnce);
    s.drop_conn(mon);
    for _ in 0..20 {
        s.advance(1_000);
    }
    // Session and subscription only: `$SYS` messages are QoS 0, not queued
    // offline, and their retained values are recomputed after a restart.
    assert_eq!(s.store.record_count(), 2);
    s.crash_and_restart();
    s.advance(0);
    let snap = sys_snapshot(&mut s);
    assert_eq!(value(&snap, "uptime"), "0 seconds", "a new process");
    assert_eq!(value(&snap, "clients/total"), "1");
}

// ---- queue limits and storage ----

#[test]
fn a_full_offline_queue_drops_new_messages_without_storing_them() {
    let mut s = Sim::new(Config {
        max_queued_messages: 5,
        sys_interval_secs: 0,
        ..Config::default()
    });
    let (sub, _) = s.connect_persistent("sub", V5);
    s.subscribe(sub, "t", QoS::AtLeastOnce);
    s.drop_conn(sub);
    let p = s.connect("p", V5, true);
    for i in 1..=50u16 {
        s.publish(
            p,
            "t",
            format!("m{i}").as_bytes(),
            QoS::AtLeastOnce,
            false,
            i,
        );
    }
    // The oldest 5 are kept (session + subscription + 5 messages + 5 deliveries).
    assert_eq!(s.store.record_count(), 2 + 5 + 5);
    let st = s.broker.stats(s.now);
    assert_eq!((st.queued_messages, st.messages_dropped), (5, 45));
    let (sub, _) = s.connect_persistent("sub", V5);
    let got = take_and_ack(&mut s, sub);
    let texts: Vec<String> = got
        .iter()
        .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
        .collect();
    assert_eq!(texts, ["m1", "m2", "m3", "m4", "m5"]);
    assert_eq!(s.store.record_count(), 2);
}

#[test]
fn queued_bytes_limit_bounds_storage_too() {
    let mut s = Sim::new(Config {
        max_queued_bytes: 1000,
        sys_interval_secs: 0,
        ..Config::default()
    });
    let (sub, _) = s.connect_persistent("sub", V311);
    s.subscribe(sub, "t", QoS::ExactlyOnce);
    s.drop_conn(sub);
    let p = s.connect("p", V5, true);
    for i in 1..=20u16 {
        s.publish(p, "t", &[b'x'; 300], QoS::ExactlyOnce, false, i);
        s.send(p, Packet::PubRel(PubResponse::new(pid(i))));
    }
    // 3 × 300 bytes fit in 1000; the rest are dropped.
    assert_eq!(s.broker.stats(s.now).queued_messages, 3);
    assert_eq!(s.store.record_count(), 2 + 3 + 3);
}
