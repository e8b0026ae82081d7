//! Persistence and restore: after `crash_and_restart()` the broker holds
//! exactly the state it had persisted, and durability holds what each
//! `Durability` setting promises.
//!
//! - Strict: no byte leaves the broker before the storage batches emitted up
//!   to that moment are persisted. So every acknowledgement (PUBACK, PUBREC,
//!   PUBCOMP, PUBREL, SUBACK, CONNACK...) a client received describes state
//!   that survives a crash at any point.
//! - Relaxed: acknowledgements are not held; a crash loses exactly the
//!   effects of the batches not yet persisted (acknowledged or not), and
//!   nothing else.

mod sim;

use bytes::Bytes;
use sim::*;
use std::collections::{BTreeMap, BTreeSet};
use tabmq::broker::{Config, ConnId, Durability};
use tabmq::codec::{
    ConnAck, Connect, Disconnect, Packet, Properties, PubResponse, Publish, RetainHandling,
    SubscriptionOptions, Will,
};

fn cfg() -> Config {
    Config {
        sys_interval_secs: 0,
        ..Config::default()
    }
}

fn v5_connect(client_id: &str, clean: bool, expiry: u32) -> Connect {
    let mut c = connect_packet(client_id, V5, clean);
    c.properties.session_expiry_interval = Some(expiry);
    c
}

fn connack(p: Packet) -> ConnAck {
    match p {
        Packet::ConnAck(a) => a,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// Connects a 5.0 client with a session expiry; returns the connection and
/// Session Present.
fn connect5(s: &mut Sim, id: &str, clean: bool, expiry: u32) -> (ConnId, bool) {
    let (conn, ack) = s.connect_with(v5_connect(id, clean, expiry));
    let ack = connack(ack);
    assert_eq!(ack.reason, ReasonCode::Success, "{id} refused");
    (conn, ack.session_present)
}

fn with_will(mut c: Connect, topic: &str, payload: &[u8], delay: u32) -> Connect {
    c.will = Some(Will {
        topic: topic.into(),
        payload: Bytes::copy_from_slice(payload),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Properties {
            will_delay_interval: (delay > 0).then_some(delay),
            ..Properties::default()
        },
    });
    c
}

/// The broker dies at the current time and restarts `downtime_ms` later.
fn crash_for(s: &mut Sim, downtime_ms: u64) {
    s.now = s.now + downtime_ms;
    s.crash_and_restart();
}

/// Applies the first `n` unpersisted batches to the store and tells the
/// broker they are durable (as a host whose writes complete one by one).
fn persist_n(s: &mut Sim, n: usize) {
    let mut last = None;
    for _ in 0..n {
        let Some(batch) = s.unpersisted.pop_front() else {
            break;
        };
        s.store.apply_batch(&batch);
        last = Some(batch.ticket);
    }
    if let Some(t) = last {
        s.broker.handle_persisted(t);
    }
    s.drive();
}

/// Acknowledges every PUBLISH and PUBREL in the inbox as a well-behaved
/// client (QoS 2 method B: PUBREC at once, PUBCOMP on PUBREL), repeatedly
/// until the broker has nothing more to say. Returns the PUBLISHes.
fn take_and_ack(s: &mut Sim, conn: ConnId) -> Vec<Publish> {
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
                        (QoS::AtLeastOnce, Some(id)) => {
                            s.send(conn, Packet::PubAck(PubResponse::new(id)))
                        }
                        (QoS::ExactlyOnce, Some(id)) => {
                            s.send(conn, Packet::PubRec(PubResponse::new(id)))
                        }
                        _ => {}
                    }
                    got.push(p);
                }
                Packet::PubRel(r) => s.send(conn, Packet::PubComp(PubResponse::new(r.packet_id))),
                _ => {}
            }
        }
    }
}

fn payloads(pubs: &[Publish]) -> Vec<String> {
    pubs.iter()
        .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
        .collect()
}

/// Packets of one kind a client received, with everything else dropped.
fn acks_of(packets: &[Packet], kind: fn(&Packet) -> Option<u16>) -> Vec<u16> {
    packets.iter().filter_map(kind).collect()
}

fn puback_id(p: &Packet) -> Option<u16> {
    match p {
        Packet::PubAck(r) if r.reason == ReasonCode::Success => Some(r.packet_id.get()),
        _ => None,
    }
}

fn pubrec_id(p: &Packet) -> Option<u16> {
    match p {
        Packet::PubRec(r) if !r.reason.is_error() => Some(r.packet_id.get()),
        _ => None,
    }
}

// ---- sessions and subscriptions ----

#[test]
fn sessions_subscriptions_options_and_identifiers_survive_restart() {
    let mut s = Sim::new(cfg());
    let (a, _) = connect5(&mut s, "a", true, 3600);
    let opts = SubscriptionOptions {
        qos: QoS::AtLeastOnce,
        no_local: true,
        retain_as_published: true,
        retain_handling: RetainHandling::OnNewSubscribe,
    };
    assert_eq!(
        s.subscribe_with(a, "x/+", opts, Some(42)),
        vec![ReasonCode::GrantedQos1]
    );
    s.subscribe_with(
        a,
        "x/z/#",
        SubscriptionOptions::qos(QoS::ExactlyOnce),
        Some(7),
    );
    let b = s.connect("b3", V311, false);
    s.subscribe(b, "x/y", QoS::ExactlyOnce);
    let _clean = s.connect("clean", V311, true);
    s.send(a, Packet::Disconnect(Disconnect::new(ReasonCode::Success)));
    let stats_before = s.broker.stats(s.now);
    let snapshot_before = s.store.snapshot();

    crash_for(&mut s, 60_000);

    // The clean session is gone, the two persistent ones are back, all
    // disconnected. Storage changed in one way only: b3, connected when the
    // broker stopped, is recorded as disconnected at the restart.
    let mut ids: Vec<&str> = s.broker.client_ids().collect();
    ids.sort();
    assert_eq!(ids, ["a", "b3"]);
    let after = s.broker.stats(s.now);
    assert_eq!(after.sessions, 2);
    assert_eq!(after.connections, 0);
    assert_eq!(after.subscriptions, stats_before.subscriptions);
    let mut expected = snapshot_before;
    assert_eq!(expected.sessions[1].client_id.as_ref(), "b3");
    assert_eq!(expected.sessions[1].disconnected_at, None);
    expected.sessions[1].disconnected_at = Some(s.now);
    assert_eq!(s.store.snapshot(), expected);

    let (a, present) = connect5(&mut s, "a", false, 3600);
    assert!(present, "session present after restart [MQTT-3.2.2-2]");
    let b = s.connect("b3", V311, false);
    // No Local still applies: a's own publish reaches only b3.
    s.publish(a, "x/y", b"from-a", QoS::ExactlyOnce, true, 1);
    assert!(s.publishes(a).is_empty(), "No Local survived the restart");
    let got_b = take_and_ack(&mut s, b);
    assert_eq!(payloads(&got_b), ["from-a"]);
    assert_eq!(got_b[0].qos, QoS::ExactlyOnce);
    s.send(a, Packet::PubRel(PubResponse::new(pid(1))));
    s.recv_all(a);

    // From another publisher: one delivery to a carrying both identifiers, at
    // the highest granted QoS, with RETAIN as published.
    let p = s.connect("p", V5, true);
    s.publish(p, "x/z", b"hi", QoS::ExactlyOnce, true, 1);
    let got = take_and_ack(&mut s, a);
    assert_eq!(got.len(), 1);
    let mut sub_ids = got[0].properties.subscription_identifiers.clone();
    sub_ids.sort();
    assert_eq!(sub_ids, [7, 42]);
    assert_eq!(got[0].qos, QoS::ExactlyOnce);
    assert!(got[0].retain, "retain-as-published survived the restart");

    // Retain Handling 1 (send on new subscription only) survived too:
    // re-subscribing to an existing filter sends no retained message.
    s.subscribe_with(a, "x/+", opts, Some(42));
    assert!(s.publishes(a).is_empty());
}

#[test]
fn session_expiry_runs_on_across_a_restart() {
    let mut s = Sim::new(cfg());
    let (a, _) = connect5(&mut s, "a", true, 100);
    s.subscribe(a, "t", QoS::AtLeastOnce);
    s.drop_conn(a);
    s.advance(40_000);
    crash_for(&mut s, 30_000);
    // 70 s of the 100 s have passed: the session is still there...
    assert!(s.broker.client_ids().any(|c| c == "a"));
    s.advance(29_000);
    assert!(s.broker.client_ids().any(|c| c == "a"));
    // ...and ends exactly at 100 s, in memory and in storage.
    s.advance(1_000);
    assert!(!s.broker.client_ids().any(|c| c == "a"));
    assert_eq!(s.store.record_count(), 0);
}

#[test]
fn session_that_expired_while_down_is_gone_and_its_pending_will_published() {
    let mut s = Sim::new(cfg());
    let (w, _) = connect5(&mut s, "watcher", true, u32::MAX);
    s.subscribe(w, "wills/#", QoS::AtLeastOnce);
    s.drop_conn(w);
    // A will delay longer than the session: the will goes when the session ends.
    let c = with_will(v5_connect("dying", true, 10), "wills/dying", b"gone", 3600);
    let (d, ack) = s.connect_with(c);
    assert_eq!(connack(ack).reason, ReasonCode::Success);
    s.subscribe(d, "t", QoS::AtLeastOnce);
    s.drop_conn(d);
    s.advance(5_000);

    crash_for(&mut s, 60_000);

    // Restarted long after the expiry: the session does not come back, even
    // to a client that connects before the host handles any timeout.
    assert!(!s.broker.client_ids().any(|c| c == "dying"));
    let (d, present) = connect5(&mut s, "dying", false, 10);
    assert!(!present, "an expired session is not resumed");
    s.drop_conn(d);
    let (w, present) = connect5(&mut s, "watcher", false, u32::MAX);
    assert!(present);
    assert_eq!(payloads(&take_and_ack(&mut s, w)), ["gone"]);
}

// ---- deliveries ----

#[test]
fn queued_and_inflight_deliveries_come_back_with_their_packet_ids() {
    let mut s = Sim::new(Config {
        max_inflight: 3,
        ..cfg()
    });
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    s.subscribe(sub, "t/#", QoS::ExactlyOnce);
    let p = s.connect("pub", V5, true);
    s.publish(p, "t/1", b"m1", QoS::AtLeastOnce, false, 1);
    s.publish(p, "t/2", b"m2", QoS::ExactlyOnce, false, 2);
    s.publish(p, "t/3", b"m3", QoS::ExactlyOnce, false, 3);
    s.publish(p, "t/4", b"m4", QoS::AtLeastOnce, false, 4);
    s.publish(p, "t/5", b"m5", QoS::ExactlyOnce, false, 5);
    let got = s.publishes(sub);
    assert_eq!(payloads(&got), ["m1", "m2", "m3"]);
    let ids: Vec<_> = got.iter().map(|p| p.packet_id.unwrap()).collect();
    // m1 unacknowledged; m2 PUBREC'd (PUBREL comes, PUBCOMP not sent);
    // m3 unacknowledged; m4 and m5 wait for room in the window.
    s.send(sub, Packet::PubRec(PubResponse::new(ids[1])));
    assert_eq!(s.recv_all(sub), [Packet::PubRel(PubResponse::new(ids[1]))]);
    let stats = s.broker.stats(s.now);
    assert_eq!((stats.inflight_messages, stats.queued_messages), (3, 2));

    crash_for(&mut s, 1_000);
    let stats = s.broker.stats(s.now);
    assert_eq!((stats.inflight_messages, stats.queued_messages), (3, 2));

    let (sub, present) = connect5(&mut s, "sub", false, 3600);
    assert!(present);
    // [MQTT-4.4.0-1]: unacknowledged PUBLISHes resent with their original
    // packet identifiers and DUP set [MQTT-3.3.1-1], PUBREL resent, in order.
    let resent = s.recv_all(sub);
    assert_eq!(resent.len(), 3, "{resent:?}");
    match &resent[0] {
        Packet::Publish(p) => {
            assert_eq!(
                (p.dup, p.packet_id, &p.payload[..]),
                (true, Some(ids[0]), &b"m1"[..])
            );
            assert_eq!(p.qos, QoS::AtLeastOnce);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(resent[1], Packet::PubRel(PubResponse::new(ids[1])));
    match &resent[2] {
        Packet::Publish(p) => {
            assert_eq!(
                (p.dup, p.packet_id, &p.payload[..]),
                (true, Some(ids[2]), &b"m3"[..])
            );
            assert_eq!(p.qos, QoS::ExactlyOnce);
        }
        other => panic!("{other:?}"),
    }
    s.send(sub, Packet::PubAck(PubResponse::new(ids[0])));
    s.send(sub, Packet::PubComp(PubResponse::new(ids[1])));
    s.send(sub, Packet::PubRec(PubResponse::new(ids[2])));
    // The window opened: m4 and m5 follow with packet ids not in use.
    let rest = take_and_ack(&mut s, sub);
    assert_eq!(payloads(&rest), ["m4", "m5"]);
    assert!(rest.iter().all(|p| !p.dup));
    // Everything acknowledged: only the session and its subscription remain.
    assert_eq!(s.store.record_count(), 2);
    let stats = s.broker.stats(s.now);
    assert_eq!((stats.inflight_messages, stats.queued_messages), (0, 0));
}

#[test]
fn inflight_message_that_expired_is_still_resent_after_restart() {
    // Onward delivery had started, so the PUBLISH is resent [MQTT-4.4.0-1]
    // whatever its expiry; only messages not yet sent are dropped [MQTT-3.3.2-5].
    let mut s = Sim::new(Config {
        max_inflight: 1,
        ..cfg()
    });
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    s.subscribe(sub, "t", QoS::ExactlyOnce);
    let p = s.connect("pub", V5, true);
    for (i, qos) in [(1u16, QoS::ExactlyOnce), (2, QoS::AtLeastOnce)] {
        let mut m = publish("t", format!("m{i}").as_bytes(), qos, false, i);
        m.properties.message_expiry_interval = Some(10);
        s.send(p, Packet::Publish(m));
    }
    let first = s.publishes(sub);
    assert_eq!(payloads(&first), ["m1"]);
    s.drop_conn(sub);
    crash_for(&mut s, 60_000);
    let (sub, _) = connect5(&mut s, "sub", false, 3600);
    let again = s.publishes(sub);
    assert_eq!(payloads(&again), ["m1"], "in-flight QoS 2 resent");
    assert!(again[0].dup);
    assert_eq!(again[0].packet_id, first[0].packet_id);
    s.send(
        sub,
        Packet::PubRec(PubResponse::new(first[0].packet_id.unwrap())),
    );
    let rest = take_and_ack(&mut s, sub);
    assert!(
        rest.is_empty(),
        "the queued, never-sent m2 expired: {rest:?}"
    );
    assert_eq!(s.store.record_count(), 2, "nothing left but session + sub");
}

#[test]
fn inflight_message_that_expired_offline_is_resent_without_restart() {
    let mut s = Sim::new(Config {
        max_inflight: 1,
        ..cfg()
    });
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    s.subscribe(sub, "t", QoS::AtLeastOnce);
    let p = s.connect("pub", V5, true);
    let mut m = publish("t", b"m1", QoS::AtLeastOnce, false, 1);
    m.properties.message_expiry_interval = Some(10);
    s.send(p, Packet::Publish(m));
    s.publish(p, "t", b"m2", QoS::AtLeastOnce, false, 2);
    assert_eq!(payloads(&s.publishes(sub)), ["m1"]);
    s.drop_conn(sub);
    s.advance(60_000);
    let (sub, _) = connect5(&mut s, "sub", false, 3600);
    // m1 is resent; once it is acknowledged the window moves on to m2 (had
    // m1 been dropped but kept in flight, m2 would never come).
    let got = take_and_ack(&mut s, sub);
    assert_eq!(payloads(&got), ["m1", "m2"]);
    assert!(got[0].dup);
}

// ---- incoming QoS 2 ----

#[test]
fn incoming_qos2_resent_after_restart_is_not_routed_twice() {
    let mut s = Sim::new(cfg());
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    s.subscribe(sub, "q", QoS::ExactlyOnce);
    let (p, _) = connect5(&mut s, "pub", true, 3600);
    s.publish(p, "q", b"once", QoS::ExactlyOnce, false, 9);
    assert_eq!(s.recv_all(p), [Packet::PubRec(PubResponse::new(pid(9)))]);
    let first = take_and_ack(&mut s, sub);
    assert_eq!(payloads(&first), ["once"]);

    crash_for(&mut s, 1_000);
    let (sub, _) = connect5(&mut s, "sub", false, 3600);
    let (p, present) = connect5(&mut s, "pub", false, 3600);
    assert!(present);
    // The publisher never saw PUBCOMP, so it resends the PUBLISH with DUP.
    let mut again = publish("q", b"once", QoS::ExactlyOnce, false, 9);
    again.dup = true;
    s.send(p, Packet::Publish(again));
    assert_eq!(
        s.recv_all(p),
        [Packet::PubRec(PubResponse::new(pid(9)))],
        "acknowledged again [MQTT-4.3.3-10]"
    );
    assert!(take_and_ack(&mut s, sub).is_empty(), "not delivered twice");
    s.send(p, Packet::PubRel(PubResponse::new(pid(9))));
    assert_eq!(s.recv_all(p), [Packet::PubComp(PubResponse::new(pid(9)))]);
    // Packet id 9 is free again: a new message with it is a new message.
    s.publish(p, "q", b"next", QoS::ExactlyOnce, false, 9);
    assert_eq!(s.recv_all(p), [Packet::PubRec(PubResponse::new(pid(9)))]);
    assert_eq!(payloads(&take_and_ack(&mut s, sub)), ["next"]);
}

#[test]
fn pubrel_after_restart_is_answered_with_pubcomp() {
    let mut s = Sim::new(cfg());
    let (p, _) = connect5(&mut s, "pub", true, 3600);
    s.publish(p, "nobody/listens", b"x", QoS::ExactlyOnce, false, 3);
    assert!(matches!(s.recv(p), Some(Packet::PubRec(_))));
    crash_for(&mut s, 1_000);
    let (p, _) = connect5(&mut s, "pub", false, 3600);
    s.send(p, Packet::PubRel(PubResponse::new(pid(3))));
    assert_eq!(
        s.recv_all(p),
        [Packet::PubComp(PubResponse::new(pid(3)))],
        "Success, not Packet Identifier Not Found"
    );
    assert_eq!(s.store.record_count(), 1, "incoming QoS 2 state deleted");
}

// ---- retained messages ----

fn retained_state(s: &mut Sim) -> BTreeMap<String, String> {
    let probe = s.connect("probe", V5, true);
    s.subscribe(probe, "#", QoS::AtLeastOnce);
    let got = take_and_ack(s, probe);
    s.send(
        probe,
        Packet::Disconnect(Disconnect::new(ReasonCode::Success)),
    );
    got.into_iter()
        .map(|p| {
            assert!(p.retain);
            (p.topic, String::from_utf8_lossy(&p.payload).into_owned())
        })
        .collect()
}

#[test]
fn retained_messages_survive_restart() {
    let mut s = Sim::new(cfg());
    let p = s.connect("pub", V5, true);
    s.publish(p, "r/a", b"a1", QoS::AtLeastOnce, true, 1);
    s.publish(p, "r/a", b"a2", QoS::AtMostOnce, true, 0);
    s.publish(p, "r/b", b"b", QoS::ExactlyOnce, true, 2);
    s.send(p, Packet::PubRel(PubResponse::new(pid(2))));
    s.publish(p, "r/c", b"c", QoS::AtLeastOnce, true, 3);
    s.publish(p, "r/c", b"", QoS::AtLeastOnce, true, 4); // clears r/c
    let mut m = publish("r/short", b"s", QoS::AtLeastOnce, true, 5);
    m.properties.message_expiry_interval = Some(30);
    s.send(p, Packet::Publish(m));
    s.recv_all(p);
    let before = retained_state(&mut s);
    assert_eq!(before.len(), 3);

    crash_for(&mut s, 10_000);
    assert_eq!(retained_state(&mut s), before);
    assert_eq!(s.broker.stats(s.now).retained, 3);

    // Expiry ran on while the broker was down.
    crash_for(&mut s, 60_000);
    let after = retained_state(&mut s);
    assert_eq!(
        after,
        BTreeMap::from([("r/a".into(), "a2".into()), ("r/b".into(), "b".into())])
    );
    assert_eq!(s.store.record_count(), 2, "the expired one left storage");
}

// ---- wills ----

#[test]
fn delayed_will_is_published_at_the_right_time_after_restart() {
    let mut s = Sim::new(cfg());
    let (w, _) = connect5(&mut s, "watcher", true, 3600);
    s.subscribe(w, "wills/#", QoS::AtLeastOnce);
    let c = with_will(v5_connect("d", true, 3600), "wills/d", b"bye", 30);
    let (d, _) = s.connect_with(c);
    s.drop_conn(d); // due 30 s from now
    s.advance(10_000);
    crash_for(&mut s, 5_000); // 15 s elapsed
    let (w, _) = connect5(&mut s, "watcher", false, 3600);
    s.advance(14_999);
    assert!(s.publishes(w).is_empty(), "not before the delay");
    s.advance(1);
    assert_eq!(payloads(&take_and_ack(&mut s, w)), ["bye"]);
    // The will is gone from storage: another restart does not repeat it.
    crash_for(&mut s, 100_000);
    let (w, _) = connect5(&mut s, "watcher", false, 3600);
    s.advance(1_000);
    assert!(s.publishes(w).is_empty());
    assert!(
        s.broker.client_ids().any(|c| c == "d"),
        "session still lives"
    );
}

#[test]
fn delayed_will_due_during_downtime_is_published_at_restart() {
    let mut s = Sim::new(cfg());
    let (w, _) = connect5(&mut s, "watcher", true, 3600);
    s.subscribe(w, "wills/#", QoS::AtLeastOnce);
    let c = with_will(v5_connect("d", true, 3600), "wills/d", b"bye", 30);
    let (d, _) = s.connect_with(c);
    s.drop_conn(d);
    s.drop_conn(w);
    crash_for(&mut s, 120_000);
    // Published (to the watcher's stored session) as the broker comes back,
    // before any client reconnects.
    let (w, _) = connect5(&mut s, "watcher", false, 3600);
    assert_eq!(payloads(&take_and_ack(&mut s, w)), ["bye"]);
    // Reconnecting now does not bring it back.
    let (d, present) = connect5(&mut s, "d", false, 3600);
    assert!(present);
    s.drop_conn(d);
}

#[test]
fn will_of_a_connection_cut_by_a_crash_is_published_after_restart() {
    // The will is stored with the session [MQTT-3.1.2-7]; a broker crash
    // ends the network connection without a DISCONNECT [MQTT-3.1.2-8].
    let mut s = Sim::new(cfg());
    let (w, _) = connect5(&mut s, "watcher", true, 3600);
    s.subscribe(w, "wills/#", QoS::AtLeastOnce);
    let c = with_will(v5_connect("d", true, 3600), "wills/d", b"bye", 0);
    s.connect_with(c);
    let c = with_will(
        v5_connect("delayed", true, 3600),
        "wills/delayed",
        b"later",
        20,
    );
    s.connect_with(c);
    let c = with_will(
        v5_connect("polite", true, 3600),
        "wills/polite",
        b"never",
        0,
    );
    let (polite, _) = s.connect_with(c);
    s.send(
        polite,
        Packet::Disconnect(Disconnect::new(ReasonCode::Success)),
    );
    crash_for(&mut s, 1_000);
    let (w, _) = connect5(&mut s, "watcher", false, 3600);
    assert_eq!(payloads(&take_and_ack(&mut s, w)), ["bye"]);
    s.advance(19_999);
    assert!(s.publishes(w).is_empty());
    s.advance(1);
    assert_eq!(payloads(&take_and_ack(&mut s, w)), ["later"]);
}

// ---- Strict durability ----

#[derive(Debug, Clone, Copy)]
enum Step {
    /// The publisher sends message `i` (QoS 1 if even, QoS 2 if odd).
    Publish(u16),
    /// The host finishes writing the oldest pending batch.
    PersistOne,
}

/// Every message whose PUBACK/PUBREC the publisher received reaches the
/// persistent subscriber, wherever the crash falls; messages not
/// acknowledged may be lost, but only those.
#[test]
fn strict_every_acknowledged_message_survives_a_crash_at_any_point() {
    let script: Vec<Step> = [
        Step::Publish(1),
        Step::Publish(2),
        Step::PersistOne,
        Step::Publish(3),
        Step::PersistOne,
        Step::PersistOne,
        Step::Publish(4),
        Step::Publish(5),
        Step::Publish(6),
        Step::PersistOne,
        Step::Publish(7),
        Step::PersistOne,
        Step::PersistOne,
        Step::PersistOne,
    ]
    .into();
    for crash_at in 0..=script.len() {
        for online in [true, false] {
            strict_case(&script[..crash_at], online);
        }
    }
}

fn strict_case(script: &[Step], sub_online: bool) {
    let ctx = format!("script {script:?}, subscriber online: {sub_online}");
    let mut s = Sim::new(cfg());
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    s.subscribe(sub, "d/#", QoS::ExactlyOnce);
    if !sub_online {
        s.drop_conn(sub);
    }
    let (p, _) = connect5(&mut s, "pub", true, 3600);
    s.auto_persist = false;
    let mut received = Vec::new();
    let mut acked = BTreeSet::new();
    for step in script {
        match *step {
            Step::Publish(i) => {
                let qos = if i % 2 == 0 {
                    QoS::AtLeastOnce
                } else {
                    QoS::ExactlyOnce
                };
                s.publish(
                    p,
                    &format!("d/{i}"),
                    format!("m{i}").as_bytes(),
                    qos,
                    false,
                    i,
                );
            }
            Step::PersistOne => persist_n(&mut s, 1),
        }
        let from_broker = s.recv_all(p);
        acked.extend(acks_of(&from_broker, puback_id));
        acked.extend(acks_of(&from_broker, pubrec_id));
        if sub_online {
            // The subscriber reads but acknowledges nothing before the crash.
            received.extend(payloads(&s.publishes(sub)));
        }
    }
    s.crash_and_restart();
    s.auto_persist = true;
    s.drive();
    let (sub, _) = connect5(&mut s, "sub", false, 3600);
    received.extend(payloads(&take_and_ack(&mut s, sub)));
    for i in &acked {
        assert!(
            received.contains(&format!("m{i}")),
            "m{i} was acknowledged but lost ({ctx}); received {received:?}"
        );
    }
    // And nothing was acknowledged before its batch was written.
    let persisted_publishes = script
        .iter()
        .filter(|s| matches!(s, Step::PersistOne))
        .count();
    assert!(acked.len() <= persisted_publishes, "{ctx}: {acked:?}");
}

#[test]
fn strict_unpersisted_batches_are_lost_on_crash_and_were_never_acknowledged() {
    let mut s = Sim::new(cfg());
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    s.subscribe(sub, "t", QoS::AtLeastOnce);
    s.drop_conn(sub);
    let (p, _) = connect5(&mut s, "pub", true, 3600);
    s.auto_persist = false;
    s.publish(p, "t", b"kept", QoS::AtLeastOnce, false, 1);
    assert!(s.recv_all(p).is_empty(), "PUBACK waits for storage");
    persist_n(&mut s, usize::MAX);
    assert_eq!(s.recv_all(p), [Packet::PubAck(PubResponse::new(pid(1)))]);
    s.publish(p, "t", b"lost1", QoS::AtLeastOnce, false, 2);
    s.publish(p, "t", b"lost2", QoS::ExactlyOnce, false, 3);
    s.publish(p, "t", b"lost3", QoS::AtLeastOnce, true, 4);
    assert_eq!(s.unpersisted.len(), 3);
    assert!(
        s.recv_all(p).is_empty(),
        "no acknowledgement left the broker"
    );
    s.crash_and_restart();
    s.auto_persist = true;
    let (sub, _) = connect5(&mut s, "sub", false, 3600);
    assert_eq!(payloads(&take_and_ack(&mut s, sub)), ["kept"]);
    assert!(retained_state(&mut s).is_empty());
    // The publisher still owns those messages and resends them.
    let (p, present) = connect5(&mut s, "pub", false, 3600);
    assert!(present);
    s.publish(p, "t", b"lost1", QoS::AtLeastOnce, false, 2);
    assert_eq!(s.recv_all(p), [Packet::PubAck(PubResponse::new(pid(2)))]);
    assert_eq!(payloads(&take_and_ack(&mut s, sub)), ["lost1"]);
}

#[test]
fn strict_pubcomp_waits_until_the_incoming_qos2_state_is_deleted() {
    // Otherwise a crash after PUBCOMP would bring back packet id 5 as "still
    // awaiting PUBREL", and the publisher's next message with id 5 would be
    // taken for a duplicate and dropped after being acknowledged.
    let mut s = Sim::new(cfg());
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    s.subscribe(sub, "t", QoS::ExactlyOnce);
    let (p, _) = connect5(&mut s, "pub", true, 3600);
    s.publish(p, "t", b"first", QoS::ExactlyOnce, false, 5);
    assert!(matches!(s.recv(p), Some(Packet::PubRec(_))));
    s.auto_persist = false;
    s.send(p, Packet::PubRel(PubResponse::new(pid(5))));
    let early = s.recv_all(p);
    s.crash_and_restart();
    s.auto_persist = true;
    let (p, _) = connect5(&mut s, "pub", false, 3600);
    if early.contains(&Packet::PubComp(PubResponse::new(pid(5)))) {
        // The publisher considers id 5 free and reuses it.
        s.publish(p, "t", b"second", QoS::ExactlyOnce, false, 5);
    } else {
        // It has to repeat PUBREL, then reuses id 5.
        s.send(p, Packet::PubRel(PubResponse::new(pid(5))));
        s.publish(p, "t", b"second", QoS::ExactlyOnce, false, 5);
    }
    s.send(p, Packet::PubRel(PubResponse::new(pid(5))));
    let (sub, _) = connect5(&mut s, "sub", false, 3600);
    let got = payloads(&take_and_ack(&mut s, sub));
    assert!(got.contains(&"second".to_string()), "{got:?}");
}

#[test]
fn strict_resent_qos2_is_not_acknowledged_before_its_state_is_durable() {
    let mut s = Sim::new(cfg());
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    s.subscribe(sub, "t", QoS::AtLeastOnce);
    s.drop_conn(sub);
    // A session that never expires, without a will: resuming it is not held
    // for storage (see `Durability::Strict`), so the resend below reaches
    // the broker while the message's state is not yet durable.
    let (p, _) = connect5(&mut s, "pub", true, u32::MAX);
    s.auto_persist = false;
    s.publish(p, "t", b"m", QoS::ExactlyOnce, false, 1);
    // The publisher loses its connection before the PUBREC and resends.
    s.drop_conn(p);
    let (p, _) = s.connect_with(v5_connect("pub", false, u32::MAX));
    let mut again = publish("t", b"m", QoS::ExactlyOnce, false, 1);
    again.dup = true;
    s.send(p, Packet::Publish(again));
    let got_pubrec = s.recv_all(p).iter().any(|x| matches!(x, Packet::PubRec(_)));
    s.crash_and_restart();
    s.auto_persist = true;
    if got_pubrec {
        let (sub, _) = connect5(&mut s, "sub", false, 3600);
        assert_eq!(
            payloads(&take_and_ack(&mut s, sub)),
            ["m"],
            "PUBREC was sent, so the message must have survived"
        );
    }
}

/// The subscriber side of QoS 2 across a crash: a subscriber that received
/// PUBLISH (id X) keeps X until PUBREL; the broker must still know about X
/// after a restart, or it would reuse X for a new message the subscriber
/// then discards as a duplicate.
#[test]
fn strict_qos2_to_subscriber_is_neither_lost_nor_duplicated_across_crashes() {
    for crash_after in 0..6 {
        let mut s = Sim::new(cfg());
        let (sub, _) = connect5(&mut s, "sub", true, 3600);
        s.subscribe(sub, "t", QoS::ExactlyOnce);
        let (p, _) = connect5(&mut s, "pub", true, 3600);
        s.auto_persist = false;
        // The subscriber's QoS 2 receive state (method B).
        let mut awaiting_pubrel: BTreeSet<u16> = BTreeSet::new();
        let mut delivered: Vec<String> = Vec::new();
        let mut step = 0;
        let mut publisher_done = BTreeSet::new();
        let handle = |s: &mut Sim,
                      sub: ConnId,
                      awaiting: &mut BTreeSet<u16>,
                      delivered: &mut Vec<String>| {
            for pk in s.recv_all(sub) {
                match pk {
                    Packet::Publish(m) => {
                        let id = m.packet_id.unwrap().get();
                        if awaiting.insert(id) {
                            delivered.push(String::from_utf8_lossy(&m.payload).into());
                        }
                        s.send(sub, Packet::PubRec(PubResponse::new(pid(id))));
                    }
                    Packet::PubRel(r) => {
                        awaiting.remove(&r.packet_id.get());
                        s.send(sub, Packet::PubComp(PubResponse::new(r.packet_id)));
                    }
                    _ => {}
                }
            }
        };
        s.publish(p, "t", b"a", QoS::ExactlyOnce, false, 1);
        while step < crash_after {
            handle(&mut s, sub, &mut awaiting_pubrel, &mut delivered);
            persist_n(&mut s, 1);
            for pk in s.recv_all(p) {
                match pk {
                    Packet::PubRec(r) => s.send(p, Packet::PubRel(PubResponse::new(r.packet_id))),
                    Packet::PubComp(r) => {
                        publisher_done.insert(r.packet_id.get());
                    }
                    _ => {}
                }
            }
            step += 1;
        }
        s.crash_and_restart();
        s.auto_persist = true;
        s.drive();
        let (sub, _) = connect5(&mut s, "sub", false, 3600);
        let (p, _) = connect5(&mut s, "pub", false, 3600);
        // The publisher completes "a" if it has not, then sends "b".
        if !publisher_done.contains(&1) {
            let mut again = publish("t", b"a", QoS::ExactlyOnce, false, 1);
            again.dup = true;
            s.send(p, Packet::Publish(again));
            s.send(p, Packet::PubRel(PubResponse::new(pid(1))));
        }
        s.publish(p, "t", b"b", QoS::ExactlyOnce, false, 2);
        s.send(p, Packet::PubRel(PubResponse::new(pid(2))));
        for _ in 0..4 {
            handle(&mut s, sub, &mut awaiting_pubrel, &mut delivered);
        }
        assert_eq!(
            delivered,
            ["a", "b"],
            "crash after {crash_after} persisted batches"
        );
        assert!(awaiting_pubrel.is_empty());
    }
}

/// A subscriber that saw PUBLISH (QoS 2, id X) before the broker's record
/// of X was persisted keeps X until PUBREL. Had the crash lost that record,
/// the broker would give X to a later message, which the subscriber would
/// drop as a duplicate after acknowledging it. So the PUBLISH must not leave
/// before its record is durable.
#[test]
fn strict_qos2_publish_is_not_seen_before_its_delivery_record_is_durable() {
    let mut s = Sim::new(cfg());
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    s.subscribe(sub, "t", QoS::ExactlyOnce);
    let (p, _) = connect5(&mut s, "pub", true, 3600);
    // m0 occupies packet id 1 towards sub, unacknowledged, persisted.
    s.publish(p, "t", b"m0", QoS::AtLeastOnce, false, 1);
    assert_eq!(payloads(&s.publishes(sub)), ["m0"]);
    s.recv_all(p);
    s.auto_persist = false;
    s.publish(p, "t", b"a", QoS::ExactlyOnce, false, 7);
    let mut client = Qos2Receiver::default();
    client.handle(&mut s, sub, false);
    s.crash_and_restart();
    s.auto_persist = true;
    let (sub, _) = connect5(&mut s, "sub", false, 3600);
    // sub acknowledges m0 (resent): packet id 1 is free again.
    client.handle(&mut s, sub, true);
    let (p, _) = connect5(&mut s, "pub", false, 3600);
    // The publisher never got PUBREC for "a": it resends, then sends "b".
    let mut again = publish("t", b"a", QoS::ExactlyOnce, false, 7);
    again.dup = true;
    s.send(p, Packet::Publish(again));
    s.send(p, Packet::PubRel(PubResponse::new(pid(7))));
    s.publish(p, "t", b"b", QoS::ExactlyOnce, false, 8);
    s.send(p, Packet::PubRel(PubResponse::new(pid(8))));
    client.handle(&mut s, sub, true);
    assert_eq!(
        client.delivered,
        ["m0", "a", "b"],
        "exactly once, nothing lost"
    );
    assert!(client.awaiting_pubrel.is_empty());
}

/// The receiving side of QoS 1 and 2 as a client implements it (QoS 2
/// method B: deliver on PUBLISH, keep the packet id until PUBREL, treat a
/// PUBLISH with a kept id as a duplicate).
#[derive(Default)]
struct Qos2Receiver {
    awaiting_pubrel: BTreeSet<u16>,
    delivered: Vec<String>,
}

impl Qos2Receiver {
    /// Reads what the broker sent; answers it if `respond`, until quiet.
    fn handle(&mut self, s: &mut Sim, conn: ConnId, respond: bool) {
        loop {
            let packets = s.recv_all(conn);
            if packets.is_empty() {
                return;
            }
            for pk in packets {
                match pk {
                    Packet::Publish(m) => {
                        let text = String::from_utf8_lossy(&m.payload).into_owned();
                        match (m.qos, m.packet_id) {
                            (QoS::ExactlyOnce, Some(id)) => {
                                if self.awaiting_pubrel.insert(id.get()) {
                                    self.delivered.push(text);
                                }
                                if respond {
                                    s.send(conn, Packet::PubRec(PubResponse::new(id)));
                                }
                            }
                            (_, id) => {
                                if !self.delivered.contains(&text) {
                                    self.delivered.push(text);
                                }
                                if let (true, Some(id)) = (respond, id) {
                                    s.send(conn, Packet::PubAck(PubResponse::new(id)));
                                }
                            }
                        }
                    }
                    Packet::PubRel(r) => {
                        self.awaiting_pubrel.remove(&r.packet_id.get());
                        if respond {
                            s.send(conn, Packet::PubComp(PubResponse::new(r.packet_id)));
                        }
                    }
                    _ => {}
                }
            }
            if !respond {
                return;
            }
        }
    }
}

/// A subscriber that saw PUBREL forgets the packet id. Had the crash lost
/// the broker's "PUBREC received" state, the broker would resend the
/// PUBLISH and the subscriber would deliver it again.
#[test]
fn strict_pubrel_is_not_seen_before_the_pubrec_state_is_durable() {
    let mut s = Sim::new(cfg());
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    s.subscribe(sub, "t", QoS::ExactlyOnce);
    let p = s.connect("pub", V5, true);
    s.publish(p, "t", b"a", QoS::ExactlyOnce, false, 1);
    let got = s.publishes(sub);
    assert_eq!(payloads(&got), ["a"]);
    let id = got[0].packet_id.unwrap();
    s.auto_persist = false;
    s.send(sub, Packet::PubRec(PubResponse::new(id)));
    let saw_pubrel = s
        .recv_all(sub)
        .contains(&Packet::PubRel(PubResponse::new(id)));
    assert!(
        !saw_pubrel,
        "PUBREL waits for the PUBREC state to be stored"
    );
    s.crash_and_restart();
    s.auto_persist = true;
    let (sub, _) = connect5(&mut s, "sub", false, 3600);
    // The subscriber still holds id (no PUBREL seen): a resent PUBLISH with
    // it is a duplicate it does not deliver again.
    let resent = s.recv_all(sub);
    assert_eq!(resent.len(), 1, "{resent:?}");
    match &resent[0] {
        Packet::Publish(m) => assert_eq!((m.dup, m.packet_id), (true, Some(id))),
        other => panic!("{other:?}"),
    }
    s.send(sub, Packet::PubRec(PubResponse::new(id)));
    assert_eq!(s.recv_all(sub), [Packet::PubRel(PubResponse::new(id))]);
    s.send(sub, Packet::PubComp(PubResponse::new(id)));
    assert_eq!(s.store.record_count(), 2);
}

/// A SUBACK tells the client the subscription is part of its session state
/// (spec 4.1: the Server's session state includes the client's
/// subscriptions) [MQTT-3.8.4-1]. Under Strict it leaves only once the
/// subscription's batch is persisted, so a crash cannot undo a subscription
/// the client saw acknowledged, and the retained message sent for it does
/// not overtake it [MQTT-3.8.4-3].
#[test]
fn strict_suback_waits_until_the_subscription_is_durable_mqtt_3_8_4_1() {
    let mut s = Sim::new(cfg());
    let p = s.connect("pub", V5, true);
    s.publish(p, "kept", b"r", QoS::AtLeastOnce, true, 1);
    s.recv_all(p);
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    s.auto_persist = false;
    let subscribe = |s: &mut Sim, sub: ConnId, filter: &str| {
        let sub_packet = tabmq::codec::Subscribe {
            packet_id: pid(1),
            properties: Properties::default(),
            subscriptions: vec![tabmq::codec::Subscription {
                filter: filter.into(),
                options: SubscriptionOptions::qos(QoS::AtLeastOnce),
            }],
        };
        s.send(sub, Packet::Subscribe(sub_packet));
    };
    // Not persisted: no SUBACK, and a crash loses the subscription, which
    // the client never saw acknowledged.
    subscribe(&mut s, sub, "lost");
    assert!(s.recv_all(sub).is_empty(), "SUBACK waits for storage");
    s.crash_and_restart();
    s.auto_persist = true;
    let (sub, present) = connect5(&mut s, "sub", false, 3600);
    assert!(present);
    assert_eq!(s.broker.stats(s.now).subscriptions, 0);

    // Persisted: the SUBACK, then the retained message behind it; the
    // subscription survives the crash that follows.
    s.auto_persist = false;
    subscribe(&mut s, sub, "kept");
    assert!(s.recv_all(sub).is_empty(), "neither SUBACK nor retained");
    persist_n(&mut s, usize::MAX);
    let got = s.recv_all(sub);
    assert!(matches!(got[0], Packet::SubAck(_)), "{got:?}");
    assert!(matches!(&got[1], Packet::Publish(m) if m.retain), "{got:?}");
    assert_eq!(got.len(), 2, "{got:?}");
    s.crash_and_restart();
    s.auto_persist = true;
    let (sub, present) = connect5(&mut s, "sub", false, 3600);
    assert!(present);
    assert_eq!(s.broker.stats(s.now).subscriptions, 1);
    take_and_ack(&mut s, sub);
    let p = s.connect("pub", V5, true);
    s.publish(p, "kept", b"m", QoS::AtLeastOnce, false, 1);
    assert_eq!(payloads(&take_and_ack(&mut s, sub)), ["m"]);
}

/// An UNSUBACK tells the client the subscription is gone [MQTT-3.10.4-4]:
/// under Strict it waits until the deletion is persisted, so a crash cannot
/// bring back a subscription the client saw removed.
#[test]
fn strict_unsuback_waits_until_the_unsubscription_is_durable_mqtt_3_10_4_4() {
    let mut s = Sim::new(cfg());
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    s.subscribe(sub, "t", QoS::AtLeastOnce);
    s.auto_persist = false;
    let unsubscribe = tabmq::codec::Unsubscribe {
        packet_id: pid(2),
        properties: Properties::default(),
        filters: vec!["t".into()],
    };
    s.send(sub, Packet::Unsubscribe(unsubscribe));
    assert!(s.recv_all(sub).is_empty(), "UNSUBACK waits for storage");
    persist_n(&mut s, usize::MAX);
    assert!(matches!(s.recv_all(sub)[..], [Packet::UnsubAck(_)]));
    s.crash_and_restart();
    s.auto_persist = true;
    let (_sub, present) = connect5(&mut s, "sub", false, 3600);
    assert!(present);
    assert_eq!(s.broker.stats(s.now).subscriptions, 0);
}

/// Under Strict, a SUBSCRIBE or UNSUBSCRIBE of a clean session (nothing
/// stored) is acknowledged at once, even while other batches are pending.
#[test]
fn strict_clean_session_suback_and_unsuback_are_not_held() {
    let mut s = Sim::new(cfg());
    let (stored, _) = connect5(&mut s, "stored", true, 3600);
    let clean = s.connect("clean", V5, true);
    s.auto_persist = false;
    s.send(
        stored,
        Packet::Subscribe(tabmq::codec::Subscribe {
            packet_id: pid(1),
            properties: Properties::default(),
            subscriptions: vec![tabmq::codec::Subscription {
                filter: "x".into(),
                options: SubscriptionOptions::qos(QoS::AtLeastOnce),
            }],
        }),
    );
    assert!(!s.unpersisted.is_empty());
    s.subscribe(clean, "t", QoS::AtLeastOnce);
    assert_eq!(s.unsubscribe(clean, &["t"]), [ReasonCode::Success]);
}

/// A CONNACK that creates a stored session, or resumes one with an expiry
/// interval or a will, waits under Strict until the session record is
/// persisted [MQTT-3.2.2-2]: a crash cannot undo a session the client was
/// told it has, nor the settings it was granted, nor restart its expiry
/// from an earlier disconnection [MQTT-3.1.2-23]. Resuming a session that
/// never expires, without a will, leaves nothing at stake and is not held.
#[test]
fn strict_connack_waits_until_a_created_or_changed_session_is_durable_mqtt_3_2_2_2() {
    let mut s = Sim::new(cfg());
    s.auto_persist = false;
    let open = |s: &mut Sim, c: Connect| {
        let conn = s.open();
        s.clients.get_mut(&conn).unwrap().version = Some(V5);
        s.send(conn, Packet::Connect(Box::new(c)));
        conn
    };
    // Created: held until persisted.
    let c = open(&mut s, v5_connect("c", true, 3600));
    assert!(s.recv_all(c).is_empty(), "CONNACK of a new stored session");
    persist_n(&mut s, usize::MAX);
    assert!(!connack(s.recv(c).unwrap()).session_present);
    s.drop_conn(c);
    // Resumed with an expiry: held (the record says when it disconnected).
    let c = open(&mut s, v5_connect("c", false, 3600));
    assert!(
        s.recv_all(c).is_empty(),
        "CONNACK of a session that expires"
    );
    persist_n(&mut s, usize::MAX);
    assert!(connack(s.recv(c).unwrap()).session_present);
    s.drop_conn(c);
    // A new will, or a new expiry interval: held; lost with a crash.
    let c = open(
        &mut s,
        with_will(v5_connect("c", false, 3600), "w", b"x", 0),
    );
    assert!(s.recv_all(c).is_empty(), "CONNACK with a new will");
    s.drop_conn(c);
    let c = open(&mut s, v5_connect("c", false, 60));
    assert!(s.recv_all(c).is_empty(), "CONNACK with a new expiry");
    s.crash_and_restart();
    s.auto_persist = true;
    assert!(s.recv_all(c).is_empty());
    let (c, present) = connect5(&mut s, "c", false, 60);
    assert!(present);
    s.drop_conn(c);
    // Persisted: the expiry granted is the one in storage after a crash.
    crash_for(&mut s, 61_000);
    let (_, present) = connect5(&mut s, "c", false, 60);
    assert!(!present, "expired after the 60 s acknowledged");
    // Never expires, no will: resumed at once once it exists durably.
    let (n, _) = connect5(&mut s, "n", true, u32::MAX);
    s.drop_conn(n);
    s.auto_persist = false;
    let n = open(&mut s, v5_connect("n", false, u32::MAX));
    assert!(connack(s.recv(n).expect("at once")).session_present);
    // A clean session is never held, even with batches pending.
    let k = open(&mut s, v5_connect("k", true, 3600));
    assert!(s.recv_all(k).is_empty(), "held");
    assert!(!s.unpersisted.is_empty());
    let clean = open(&mut s, v5_connect("clean", true, 0));
    assert!(!connack(s.recv(clean).expect("at once")).session_present);
}

// ---- Relaxed durability ----

/// Relaxed acknowledges at once; what a crash may lose is exactly what the
/// unpersisted batches held: every message acknowledged since the last
/// persisted batch, and nothing older.
#[test]
fn relaxed_loses_exactly_the_acknowledged_but_unpersisted_messages() {
    for persisted_upto in 0..=6usize {
        let mut s = Sim::new(Config {
            durability: Durability::Relaxed,
            ..cfg()
        });
        let (sub, _) = connect5(&mut s, "sub", true, 3600);
        s.subscribe(sub, "t", QoS::AtLeastOnce);
        s.drop_conn(sub);
        let (p, _) = connect5(&mut s, "pub", true, 3600);
        s.auto_persist = false;
        let mut batches_before = Vec::new();
        for i in 1..=6u16 {
            batches_before.push(s.unpersisted.len());
            let retain = i == 3;
            s.publish(
                p,
                "t",
                format!("m{i}").as_bytes(),
                QoS::AtLeastOnce,
                retain,
                i,
            );
            // Relaxed: the PUBACK comes at once, persisted or not.
            assert_eq!(s.recv_all(p), [Packet::PubAck(PubResponse::new(pid(i)))]);
        }
        assert_eq!(s.unpersisted.len(), 6, "one batch per message");
        persist_n(&mut s, persisted_upto);
        s.crash_and_restart();
        s.auto_persist = true;
        let (sub, _) = connect5(&mut s, "sub", false, 3600);
        let got = payloads(&take_and_ack(&mut s, sub));
        let expected: Vec<String> = (1..=persisted_upto).map(|i| format!("m{i}")).collect();
        assert_eq!(got, expected, "persisted {persisted_upto} batches");
        let retained = retained_state(&mut s);
        assert_eq!(retained.len(), usize::from(persisted_upto >= 3));
    }
}

// ---- storage stays bounded ----

#[test]
fn storage_stays_bounded_under_steady_load_with_clean_sessions() {
    let mut s = Sim::new(cfg());
    let mut max_records = 0;
    for round in 0..200u16 {
        let sub = s.connect("cs", V311, true);
        s.subscribe(sub, "load/#", QoS::ExactlyOnce);
        let (sub5, _) = connect5(&mut s, "cs5", true, 0);
        s.subscribe(sub5, "load/+", QoS::AtLeastOnce);
        let p = s.connect("cp", V5, true);
        for i in 1..=5u16 {
            let qos = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][usize::from(i % 3)];
            s.publish(p, &format!("load/{i}"), b"x", qos, false, i);
            if qos == QoS::ExactlyOnce {
                s.send(p, Packet::PubRel(PubResponse::new(pid(i))));
            }
        }
        // Half the rounds end cleanly with everything acknowledged, half
        // with unacknowledged deliveries and dropped connections.
        if round % 2 == 0 {
            take_and_ack(&mut s, sub);
            take_and_ack(&mut s, sub5);
            s.send(
                sub,
                Packet::Disconnect(Disconnect::new(ReasonCode::Success)),
            );
            s.send(
                sub5,
                Packet::Disconnect(Disconnect::new(ReasonCode::Success)),
            );
        } else {
            s.drop_conn(sub);
            s.drop_conn(sub5);
        }
        s.drop_conn(p);
        s.advance(1_000);
        max_records = max_records.max(s.store.record_count());
        let st = s.broker.stats(s.now);
        assert_eq!(st.sessions, 0, "round {round}");
        assert_eq!((st.queued_messages, st.inflight_messages), (0, 0));
    }
    assert_eq!(max_records, 0, "clean sessions never reach storage");
    assert_eq!(s.broker.stats(s.now).subscriptions, 0);
}

#[test]
fn stored_deliveries_and_messages_are_deleted_once_acknowledged() {
    let mut s = Sim::new(cfg());
    let (a, _) = connect5(&mut s, "a", true, 3600);
    s.subscribe(a, "t/#", QoS::ExactlyOnce);
    let b = s.connect("b", V311, false);
    s.subscribe(b, "t/#", QoS::AtLeastOnce);
    // Baseline: two sessions and two subscriptions.
    assert_eq!(s.store.record_count(), 4);
    let p = s.connect("pub", V5, true);
    for round in 0..50u16 {
        let id = round + 1;
        let qos = if round % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        s.publish(p, "t/x", b"payload", qos, false, id);
        if qos == QoS::ExactlyOnce {
            s.send(p, Packet::PubRel(PubResponse::new(pid(id))));
        }
        s.recv_all(p);
        // One message and two deliveries while unacknowledged.
        assert_eq!(s.store.record_count(), 7, "round {round}");
        take_and_ack(&mut s, a);
        take_and_ack(&mut s, b);
        assert_eq!(s.store.record_count(), 4, "round {round}");
    }
    // Offline: queued deliveries are stored, and deleted once delivered.
    s.drop_conn(a);
    s.drop_conn(b);
    for i in 1..=20u16 {
        s.publish(p, "t/y", b"queued", QoS::AtLeastOnce, false, i);
    }
    assert_eq!(s.store.record_count(), 4 + 20 + 40);
    let (a, _) = connect5(&mut s, "a", false, 3600);
    let b = s.connect("b", V311, false);
    assert_eq!(take_and_ack(&mut s, a).len(), 20);
    assert_eq!(take_and_ack(&mut s, b).len(), 20);
    assert_eq!(s.store.record_count(), 4);
}

#[test]
fn new_messages_after_restart_do_not_clash_with_stored_ones() {
    let mut s = Sim::new(cfg());
    let (a, _) = connect5(&mut s, "a", true, 3600);
    s.subscribe(a, "t", QoS::AtLeastOnce);
    s.drop_conn(a);
    let p = s.connect("pub", V5, true);
    s.publish(p, "t", b"before", QoS::AtLeastOnce, false, 1);
    s.publish(p, "keep", b"retained", QoS::AtLeastOnce, true, 2);
    crash_for(&mut s, 1_000);
    let p = s.connect("pub", V5, true);
    s.publish(p, "t", b"after1", QoS::AtLeastOnce, false, 1);
    s.publish(p, "t", b"after2", QoS::AtLeastOnce, false, 2);
    crash_for(&mut s, 1_000);
    let (a, _) = connect5(&mut s, "a", false, 3600);
    assert_eq!(
        payloads(&take_and_ack(&mut s, a)),
        ["before", "after1", "after2"]
    );
    assert_eq!(retained_state(&mut s).len(), 1);
}

#[test]
fn restart_of_a_restarted_broker_is_stable() {
    let mut s = Sim::new(Config {
        max_inflight: 2,
        ..cfg()
    });
    let (a, _) = connect5(&mut s, "a", true, 3600);
    s.subscribe(a, "t", QoS::ExactlyOnce);
    let p = s.connect("pub", V5, true);
    for i in 1..=5u16 {
        s.publish(
            p,
            "t",
            format!("m{i}").as_bytes(),
            QoS::AtLeastOnce,
            false,
            i,
        );
    }
    let _ = s.publishes(a);
    // The first restart records that a's connection was lost...
    crash_for(&mut s, 1_000);
    let snap = s.store.snapshot();
    assert_eq!(snap.sessions[0].disconnected_at, Some(s.now));
    // ...after that, a restart changes nothing.
    for _ in 0..3 {
        crash_for(&mut s, 1_000);
        assert_eq!(s.store.snapshot(), snap, "a restart writes nothing");
    }
    let (a, _) = connect5(&mut s, "a", false, 3600);
    let got = take_and_ack(&mut s, a);
    assert_eq!(payloads(&got), ["m1", "m2", "m3", "m4", "m5"]);
    assert_eq!(got.iter().filter(|p| p.dup).count(), 2);
}

/// Clean Start over a stored session: the client drops its own session
/// state (here, the QoS 2 packet id it holds), so the CONNACK saying the old
/// session is gone must not leave before that is durable. Otherwise a crash
/// would bring the old session back, and its QoS 2 message would be resent
/// to a client that has forgotten it already delivered it.
#[test]
fn strict_clean_start_connack_waits_until_the_old_session_is_deleted() {
    let mut s = Sim::new(cfg());
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    s.subscribe(sub, "t", QoS::ExactlyOnce);
    let p = s.connect("pub", V5, true);
    s.publish(p, "t", b"a", QoS::ExactlyOnce, false, 1);
    let got = s.publishes(sub);
    assert_eq!(payloads(&got), ["a"]); // delivered; PUBREC not sent
    s.drop_conn(sub);
    s.auto_persist = false;
    let sub = s.open();
    s.clients.get_mut(&sub).unwrap().version = Some(V5);
    s.send(
        sub,
        Packet::Connect(Box::new(v5_connect("sub", true, 3600))),
    );
    let connack_seen = s
        .recv_all(sub)
        .iter()
        .any(|p| matches!(p, Packet::ConnAck(_)));
    assert!(
        !connack_seen,
        "CONNACK waits for the old session's deletion"
    );
    s.crash_and_restart();
    s.auto_persist = true;
    // The client never learned that its clean start took effect, so it
    // starts clean again; the old message does not come back.
    let (sub, present) = connect5(&mut s, "sub", true, 3600);
    assert!(!present);
    assert!(s.recv_all(sub).is_empty());
    // Once persisted, the CONNACK goes out.
    s.drop_conn(sub);
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    assert!(s.recv_all(sub).is_empty());
}

/// Found by the model test. The publisher's PUBREL is answered while the
/// deletion of its QoS 2 state is still unpersisted; the connection drops
/// before that PUBCOMP leaves, and the PUBREL resent on the new connection
/// finds the identifier already gone from memory. Even that PUBCOMP (0x92,
/// Packet Identifier Not Found) frees the identifier for the client, so it
/// must wait for storage too: after a crash the identifier would come back
/// and the client's next message with it would be swallowed.
#[test]
fn strict_pubcomp_for_an_unknown_id_waits_for_a_pending_deletion() {
    let mut s = Sim::new(cfg());
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    s.subscribe(sub, "t", QoS::AtLeastOnce);
    s.drop_conn(sub);
    let p = s.connect("pub", V311, false);
    s.publish(p, "t", b"first", QoS::ExactlyOnce, false, 1);
    assert_eq!(s.recv_all(p), [Packet::PubRec(PubResponse::new(pid(1)))]);
    s.auto_persist = false;
    s.send(p, Packet::PubRel(PubResponse::new(pid(1))));
    assert!(s.recv_all(p).is_empty(), "PUBCOMP waits for storage");
    s.drop_conn(p);
    let p = s.connect("pub", V311, false);
    s.send(p, Packet::PubRel(PubResponse::new(pid(1))));
    assert!(
        s.recv_all(p).is_empty(),
        "the PUBCOMP for the resent PUBREL waits as well"
    );
    s.crash_and_restart();
    s.auto_persist = true;
    // No PUBCOMP was seen: the client repeats PUBREL, then reuses id 1.
    let p = s.connect("pub", V311, false);
    s.send(p, Packet::PubRel(PubResponse::new(pid(1))));
    assert_eq!(s.recv_all(p), [Packet::PubComp(PubResponse::new(pid(1)))]);
    s.publish(p, "t", b"second", QoS::ExactlyOnce, false, 1);
    s.send(p, Packet::PubRel(PubResponse::new(pid(1))));
    let (sub, _) = connect5(&mut s, "sub", false, 3600);
    assert_eq!(payloads(&take_and_ack(&mut s, sub)), ["first", "second"]);
}

/// Found by the model test. A first Clean Start ends the stored session (its
/// CONNACK is held); the connection drops and the client starts clean again.
/// That second CONNACK ends no stored session itself, but still tells the
/// client it has no session, while the first deletion is not yet durable: it
/// waits too, or a crash would bring back the old session (with its QoS 2
/// state) after the client discarded its own.
#[test]
fn strict_any_session_present_0_waits_for_a_pending_deletion() {
    let mut s = Sim::new(cfg());
    let p = s.connect("pub", V311, false);
    s.publish(p, "t", b"m", QoS::ExactlyOnce, false, 1);
    assert_eq!(s.recv_all(p), [Packet::PubRec(PubResponse::new(pid(1)))]);
    s.drop_conn(p);
    s.auto_persist = false;
    let open_clean = |s: &mut Sim| {
        let conn = s.open();
        s.clients.get_mut(&conn).unwrap().version = Some(V311);
        s.send(
            conn,
            Packet::Connect(Box::new(connect_packet("pub", V311, true))),
        );
        conn
    };
    let first = open_clean(&mut s);
    assert!(s.recv_all(first).is_empty(), "first CONNACK held");
    s.drop_conn(first);
    let second = open_clean(&mut s);
    assert!(s.recv_all(second).is_empty(), "second CONNACK held too");
    persist_n(&mut s, usize::MAX);
    match s.recv(second) {
        Some(Packet::ConnAck(a)) => assert!(!a.session_present),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    s.crash_and_restart();
    s.auto_persist = true;
    let (_, ack) = s.connect_with(connect_packet("pub", V311, false));
    assert!(!connack(ack).session_present, "the old session stays gone");
}

// ---- a full store ----

fn puback_reason(packets: &[Packet]) -> Vec<ReasonCode> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::PubAck(r) => Some(r.reason),
            _ => None,
        })
        .collect()
}

/// While the host's store is full (past maxStoreBytes, or failing), a QoS
/// 1/2 message that would be stored is refused with 0x97 rather than
/// acknowledged and not kept; messages that need no storage still flow.
#[test]
fn a_full_store_refuses_only_the_messages_it_would_have_to_keep() {
    let mut s = Sim::new(cfg());
    let (keeper, _) = connect5(&mut s, "keeper", true, 3600);
    s.subscribe(keeper, "kept/#", QoS::AtLeastOnce);
    s.send(
        keeper,
        Packet::Disconnect(Disconnect::new(ReasonCode::Success)),
    );
    let watcher = s.connect("watcher", V5, true);
    s.subscribe(watcher, "#", QoS::AtLeastOnce);
    let (p, _) = connect5(&mut s, "p", true, 0);
    s.persist_all();
    s.recv_all(p);
    take_and_ack(&mut s, watcher);

    s.broker.handle_storage_full(true);
    s.publish(p, "kept/a", b"1", QoS::AtLeastOnce, false, 1);
    s.publish(p, "kept/a", b"2", QoS::ExactlyOnce, false, 2);
    s.publish(p, "loose/a", b"3", QoS::AtLeastOnce, false, 3);
    s.publish(p, "cfg", b"4", QoS::AtLeastOnce, true, 4);
    s.publish(p, "kept/a", b"5", QoS::AtMostOnce, false, 0);
    s.persist_all();
    let got = s.recv_all(p);
    assert_eq!(
        puback_reason(&got),
        [
            ReasonCode::QuotaExceeded,
            ReasonCode::Success,
            ReasonCode::QuotaExceeded
        ],
        "kept/a and a retained message would be stored; loose/a would not"
    );
    let pubrecs: Vec<ReasonCode> = got
        .iter()
        .filter_map(|p| match p {
            Packet::PubRec(r) => Some(r.reason),
            _ => None,
        })
        .collect();
    assert_eq!(pubrecs, [ReasonCode::QuotaExceeded]);
    // The watcher (clean session) gets what was accepted: 3 and the QoS 0 one.
    assert_eq!(payloads(&take_and_ack(&mut s, watcher)), ["3", "5"]);

    s.broker.handle_storage_full(false);
    s.publish(p, "kept/a", b"6", QoS::AtLeastOnce, false, 5);
    s.persist_all();
    assert_eq!(puback_reason(&s.recv_all(p)), [ReasonCode::Success]);
    let (keeper, present) = connect5(&mut s, "keeper", false, 3600);
    assert!(present);
    assert_eq!(payloads(&take_and_ack(&mut s, keeper)), ["6"]);
}

/// 3.1.1 has no negative PUBACK: a message that would be stored is not
/// acknowledged; the connection closes and the client resends it later.
#[test]
fn a_full_store_closes_a_3_1_1_publisher_instead_of_acknowledging() {
    let mut s = Sim::new(cfg());
    let keeper = s.connect("keeper", V311, false);
    s.subscribe(keeper, "kept/#", QoS::AtLeastOnce);
    s.drop_conn(keeper);
    let p = s.connect("p", V311, true);
    s.persist_all();
    s.broker.handle_storage_full(true);
    s.publish(p, "kept/a", b"1", QoS::AtLeastOnce, false, 1);
    s.persist_all();
    assert!(puback_reason(&s.recv_all(p)).is_empty(), "no PUBACK");
    assert!(s.is_closed(p));
}

/// Relaxed acknowledges at once while storage keeps up; when it falls
/// behind (the pending batch reaches `RELAXED_BACKLOG` operations),
/// acknowledgements wait for it, so what a crash can lose stays bounded.
#[test]
fn relaxed_holds_acknowledgements_once_storage_falls_behind() {
    let mut s = Sim::new(Config {
        durability: Durability::Relaxed,
        ..cfg()
    });
    s.group_commit = true;
    let (keeper, _) = connect5(&mut s, "keeper", true, 3600);
    s.subscribe(keeper, "q", QoS::AtLeastOnce);
    s.send(
        keeper,
        Packet::Disconnect(Disconnect::new(ReasonCode::Success)),
    );
    let p = s.connect("p", V5, true);
    s.persist_all();
    s.drive();
    s.persist_all();
    s.auto_persist = false;
    // A batch in flight that never finishes: everything after piles up.
    s.publish(p, "q", b"first", QoS::AtLeastOnce, false, 1);
    let n = tabmq::broker::RELAXED_BACKLOG as u16; // 2 ops a message: half are held
    for id in 2..=n {
        s.publish(p, "q", b"m", QoS::AtLeastOnce, false, id);
    }
    let acked = acks_of(&s.recv_all(p), puback_id).len();
    assert!(
        acked < n as usize && acked > n as usize / 3,
        "{acked} of {n} acknowledged before storage caught up"
    );
    loop {
        s.persist_all();
        s.drive();
        if s.unpersisted.is_empty() {
            break;
        }
    }
    assert_eq!(acked + acks_of(&s.recv_all(p), puback_id).len(), n as usize);
}

// ---- acknowledgements that need no commit (see durability.rs) ----

/// A subscriber with a stored session online, a publisher, storage paused.
fn online_pair(s: &mut Sim) -> (ConnId, ConnId) {
    let (sub, _) = connect5(s, "sub", true, 3600);
    s.subscribe(sub, "t/#", QoS::AtLeastOnce);
    let (p, _) = connect5(s, "pub", true, 3600);
    s.auto_persist = false;
    (sub, p)
}

#[test]
fn strict_a_qos1_acknowledgement_leaves_once_every_stored_delivery_is_acknowledged() {
    let mut s = Sim::new(cfg());
    s.group_commit = true;
    let (other, _) = connect5(&mut s, "other", true, 3600);
    let (sub, p) = online_pair(&mut s);
    // A commit in flight: what follows piles up in the core meanwhile.
    s.publish(other, "r", b"retained", QoS::AtLeastOnce, true, 1);
    assert_eq!(s.unpersisted.len(), 1);
    s.publish(p, "t/1", b"m1", QoS::AtLeastOnce, false, 1);
    assert!(
        s.recv_all(p).is_empty(),
        "PUBACK waits: the stored delivery is not acknowledged yet"
    );
    assert_eq!(payloads(&take_and_ack(&mut s, sub)), ["m1"]);
    assert_eq!(
        s.recv_all(p),
        [Packet::PubAck(PubResponse::new(pid(1)))],
        "nothing of m1 needs storage any more"
    );
    assert_eq!(s.broker.stats(s.now).acks_released_early, 1);
    assert!(s.recv_all(other).is_empty(), "the retained message waits");
    // The store sees nothing of m1: put and delete cancelled out, and the
    // batch left empty counts as persisted without a commit.
    persist_n(&mut s, 1);
    assert_eq!(s.recv_all(other).len(), 1);
    assert!(s.unpersisted.is_empty(), "{:?}", s.unpersisted);
    let stored = s.store.snapshot();
    assert!(stored.messages.is_empty() && stored.deliveries.is_empty());
    assert_eq!(stored.retained.len(), 1);
    // A crash now loses nothing acknowledged: the subscriber has m1.
    s.crash_and_restart();
    s.auto_persist = true;
    let (sub, present) = connect5(&mut s, "sub", false, 3600);
    assert!(present);
    assert!(take_and_ack(&mut s, sub).is_empty());
}

#[test]
fn strict_an_acknowledgement_released_early_still_waits_behind_a_held_one_mqtt_4_6_0_2() {
    let mut s = Sim::new(cfg());
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    s.subscribe(sub, "t/#", QoS::AtLeastOnce);
    let (away, _) = connect5(&mut s, "away", true, 3600);
    s.subscribe(away, "q/#", QoS::AtLeastOnce);
    s.drop_conn(away);
    let (p, _) = connect5(&mut s, "pub", true, 3600);
    s.auto_persist = false;
    s.publish(p, "q/1", b"queued", QoS::AtLeastOnce, false, 1);
    s.publish(p, "t/1", b"online", QoS::AtLeastOnce, false, 2);
    assert_eq!(payloads(&take_and_ack(&mut s, sub)), ["online"]);
    assert!(
        s.recv_all(p).is_empty(),
        "the PUBACK of 2 leaves after that of 1, which waits for its commit"
    );
    persist_n(&mut s, usize::MAX);
    assert_eq!(
        s.recv_all(p),
        [
            Packet::PubAck(PubResponse::new(pid(1))),
            Packet::PubAck(PubResponse::new(pid(2)))
        ]
    );
}

#[test]
fn strict_a_message_stored_otherwise_waits_for_its_commit() {
    // Retained: its retained copy must be durable.
    let mut s = Sim::new(cfg());
    let (sub, p) = online_pair(&mut s);
    s.publish(p, "t/r", b"r", QoS::AtLeastOnce, true, 1);
    take_and_ack(&mut s, sub);
    assert!(s.recv_all(p).is_empty(), "a retained message waits");
    // QoS 2: the publisher's packet id state must be durable.
    s.publish(p, "t/2", b"two", QoS::ExactlyOnce, false, 2);
    take_and_ack(&mut s, sub);
    assert!(s.recv_all(p).is_empty(), "QoS 2 waits");
    // Two stored sessions, one acknowledges: the other's delivery is owed.
    let mut s = Sim::new(cfg());
    let (sub, _) = connect5(&mut s, "sub", true, 3600);
    s.subscribe(sub, "t/#", QoS::AtLeastOnce);
    let (other, _) = connect5(&mut s, "other", true, 3600);
    s.subscribe(other, "t/#", QoS::AtLeastOnce);
    let (p, _) = connect5(&mut s, "pub", true, 3600);
    s.auto_persist = false;
    s.publish(p, "t/1", b"m", QoS::AtLeastOnce, false, 1);
    take_and_ack(&mut s, sub);
    assert!(s.recv_all(p).is_empty(), "still owed to 'other'");
    take_and_ack(&mut s, other);
    assert_eq!(s.recv_all(p), [Packet::PubAck(PubResponse::new(pid(1)))]);
    assert_eq!(s.broker.stats(s.now).acks_released_early, 1);
}
