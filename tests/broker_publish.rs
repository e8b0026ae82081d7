//! Message flow through the broker: PUBLISH at QoS 0/1/2 in both directions,
//! the in-flight windows, durability holding of acknowledgements, redelivery
//! and offline queues, MQTT 5 PUBLISH properties end to end, topic aliases,
//! maximum packet size, queue limits and malformed input. Every test names
//! the normative statement it checks (MQTT 5.0 numbering unless marked
//! "3.1.1").

mod sim;
use bytes::Bytes;
use sim::*;
use tabmq::broker::{Config, ConnId, DropReason, Durability, Event};
use tabmq::codec::{Packet, Properties, ProtocolVersion, PubResponse, Publish};

fn cfg() -> Config {
    Config {
        sys_interval_secs: 0,
        ..Config::default()
    }
}

fn payloads(ps: &[Publish]) -> Vec<Vec<u8>> {
    ps.iter().map(|p| p.payload.to_vec()).collect()
}

fn id_of(p: &Publish) -> PacketId {
    p.packet_id.expect("QoS > 0 has a packet identifier")
}

/// A subscriber on `topic`, a publisher, both of `version`.
fn pair(s: &mut Sim, version: ProtocolVersion, topic: &str, qos: QoS) -> (ConnId, ConnId) {
    let sub = s.connect("sub", version, true);
    s.subscribe(sub, topic, qos);
    let publ = s.connect("pub", version, true);
    (sub, publ)
}

/// A persistent subscriber to `topic` that has gone offline.
/// A persistent session subscribed to `topic`, offline. Its setup is
/// persisted whatever `auto_persist` says: under Strict its CONNACK and
/// SUBACK wait for storage.
fn offline_subscriber(s: &mut Sim, id: &str, version: ProtocolVersion, topic: &str, qos: QoS) {
    let auto_persist = std::mem::replace(&mut s.auto_persist, true);
    let (c, _) = s.connect_persistent(id, version);
    s.subscribe(c, topic, qos);
    s.disconnect(c);
    s.auto_persist = auto_persist;
}

fn with_props(mut p: Publish, properties: Properties) -> Publish {
    p.properties = properties;
    p
}

// ---------------------------------------------------------------- QoS 0/1/2

#[test]
fn qos0_is_forwarded_with_qos0_dup0_and_no_ack_mqtt_4_3_1_1() {
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let (sub, publ) = pair(&mut s, v, "q0", QoS::ExactlyOnce);
        s.publish(publ, "q0", b"zero", QoS::AtMostOnce, false, 0);
        assert!(
            s.recv_all(publ).is_empty(),
            "{v:?}: QoS 0 is not acknowledged"
        );
        let got = s.publishes(sub);
        assert_eq!(got.len(), 1, "{v:?}");
        assert_eq!(got[0].qos, QoS::AtMostOnce);
        assert!(!got[0].dup);
        assert_eq!(got[0].packet_id, None);
        assert_eq!(&got[0].payload[..], b"zero");
    }
}

#[test]
fn qos1_puback_with_same_id_and_outbound_qos1_flow_mqtt_4_3_2_2_and_4_3_2_4() {
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let (sub, publ) = pair(&mut s, v, "q1", QoS::AtLeastOnce);
        s.publish(publ, "q1", b"one", QoS::AtLeastOnce, false, 42);
        // [MQTT-4.3.2-4]: PUBACK carrying the PUBLISH's packet identifier.
        assert_eq!(
            s.recv_all(publ),
            vec![Packet::PubAck(PubResponse::new(pid(42)))],
            "{v:?}"
        );
        // [MQTT-4.3.2-2]: the broker as sender uses QoS 1, DUP 0 and its own id.
        let got = s.publishes(sub);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].qos, QoS::AtLeastOnce);
        assert!(!got[0].dup);
        assert_eq!(s.broker.stats(s.now).inflight_messages, 1);
        // [MQTT-4.3.2-3]: unacknowledged until the PUBACK.
        s.puback(sub, id_of(&got[0]));
        assert_eq!(s.broker.stats(s.now).inflight_messages, 0, "{v:?}");
        assert!(s.recv_all(sub).is_empty());
    }
}

#[test]
fn qos2_inbound_pubrec_pubrel_pubcomp_mqtt_4_3_3_8_and_4_3_3_11() {
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let (sub, publ) = pair(&mut s, v, "q2", QoS::ExactlyOnce);
        s.publish(publ, "q2", b"two", QoS::ExactlyOnce, false, 9);
        assert_eq!(
            s.recv_all(publ),
            vec![Packet::PubRec(PubResponse::new(pid(9)))],
            "{v:?}: [MQTT-4.3.3-8]"
        );
        assert_eq!(s.publishes(sub).len(), 1, "routed once");
        s.pubrel(publ, pid(9));
        assert_eq!(
            s.recv_all(publ),
            vec![Packet::PubComp(PubResponse::new(pid(9)))],
            "{v:?}: [MQTT-4.3.3-11]"
        );
    }
}

#[test]
fn qos2_outbound_publish_pubrec_pubrel_pubcomp_mqtt_4_3_3_1_to_4_3_3_5() {
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let (sub, publ) = pair(&mut s, v, "q2", QoS::ExactlyOnce);
        s.publish(publ, "q2", b"two", QoS::ExactlyOnce, false, 1);
        let got = s.publishes(sub);
        assert_eq!(got.len(), 1);
        // [MQTT-4.3.3-2]: QoS 2, DUP 0.
        assert_eq!(got[0].qos, QoS::ExactlyOnce);
        assert!(!got[0].dup);
        let id = id_of(&got[0]);
        // [MQTT-4.3.3-4]: PUBREL with the same identifier after PUBREC.
        s.pubrec(sub, id);
        assert_eq!(
            s.recv_all(sub),
            vec![Packet::PubRel(PubResponse::new(id))],
            "{v:?}"
        );
        // [MQTT-4.3.3-5]: still unacknowledged until PUBCOMP.
        assert_eq!(s.broker.stats(s.now).inflight_messages, 1);
        s.pubcomp(sub, id);
        assert_eq!(s.broker.stats(s.now).inflight_messages, 0);
        assert!(s.recv_all(sub).is_empty(), "{v:?}");
    }
}

#[test]
fn qos2_resent_publish_before_pubrel_is_not_delivered_twice_mqtt_4_3_3_10() {
    // 3.1.1: [MQTT-4.3.3-2]; 5.0: [MQTT-4.3.3-10], and after PUBCOMP the
    // same identifier is a new message [MQTT-4.3.3-12].
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let (sub, publ) = pair(&mut s, v, "q2", QoS::AtMostOnce);
        s.publish(publ, "q2", b"first", QoS::ExactlyOnce, false, 5);
        let mut again = publish("q2", b"first", QoS::ExactlyOnce, false, 5);
        again.dup = true;
        s.send_publish(publ, again);
        assert_eq!(
            s.recv_all(publ),
            vec![
                Packet::PubRec(PubResponse::new(pid(5))),
                Packet::PubRec(PubResponse::new(pid(5)))
            ],
            "{v:?}"
        );
        assert_eq!(s.publishes(sub).len(), 1, "{v:?}: delivered once");
        s.pubrel(publ, pid(5));
        assert_eq!(
            s.recv_all(publ),
            vec![Packet::PubComp(PubResponse::new(pid(5)))]
        );
        s.publish(publ, "q2", b"second", QoS::ExactlyOnce, false, 5);
        assert_eq!(payloads(&s.publishes(sub)), vec![b"second".to_vec()]);
    }
}

#[test]
fn pubrel_for_unknown_id_gets_pubcomp_0x92_in_v5_mqtt_4_3_3_11() {
    let mut s = Sim::new(cfg());
    let c = s.connect("c", V5, true);
    s.pubrel(c, pid(77));
    assert_eq!(
        s.recv_all(c),
        vec![Packet::PubComp(PubResponse::with_reason(
            pid(77),
            ReasonCode::PacketIdentifierNotFound
        ))]
    );
    assert!(!s.is_closed(c));
    // 3.1.1 has no reason codes: a plain PUBCOMP.
    let c3 = s.connect("c3", V311, true);
    s.pubrel(c3, pid(77));
    assert_eq!(
        s.recv_all(c3),
        vec![Packet::PubComp(PubResponse::new(pid(77)))]
    );
}

#[test]
fn outbound_packet_ids_are_reused_only_after_completion_mqtt_2_2_1_4() {
    // Identifier 1 waits for PUBCOMP and 2 for PUBACK while the broker's
    // counter goes all the way round: neither may be given out again, a
    // completed one (3) may.
    let mut s = Sim::new(Config {
        max_inflight: 10,
        ..cfg()
    });
    let sub = s.connect("sub", V5, true);
    s.subscribe(sub, "a", QoS::ExactlyOnce);
    s.subscribe(sub, "b", QoS::AtLeastOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "a", b"q2", QoS::ExactlyOnce, false, 1);
    s.publish(publ, "b", b"q1", QoS::AtLeastOnce, false, 2);
    let got = s.publishes(sub);
    assert_eq!(
        got.iter().map(id_of).collect::<Vec<_>>(),
        vec![pid(1), pid(2)]
    );
    s.pubrec(sub, pid(1));
    s.recv_all(sub);
    for _ in 3..=u16::MAX {
        s.publish(publ, "b", b"x", QoS::AtLeastOnce, false, 3);
        let p = s.publishes(sub);
        assert_eq!(p.len(), 1);
        s.puback(sub, id_of(&p[0]));
    }
    s.recv_all(publ);
    s.publish(publ, "b", b"wrapped", QoS::AtLeastOnce, false, 3);
    let p = s.publishes(sub);
    assert_eq!(p.len(), 1);
    assert_eq!(id_of(&p[0]), pid(3), "1 and 2 are still in use");
}

#[test]
fn dup_is_set_on_redelivery_with_the_same_ids_in_order_mqtt_3_3_1_1_and_4_4_0_1() {
    // Also [MQTT-4.6.0-1] (resent in the original order) and PUBREL resent
    // for a QoS 2 message already PUBREC'd [MQTT-4.3.3-6]: not the PUBLISH.
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let (sub, _) = s.connect_persistent("sub", v);
        s.subscribe(sub, "a", QoS::ExactlyOnce);
        s.subscribe(sub, "b", QoS::AtLeastOnce);
        let publ = s.connect("pub", v, true);
        s.publish(publ, "b", b"m1", QoS::AtLeastOnce, false, 1);
        s.publish(publ, "a", b"m2", QoS::ExactlyOnce, false, 2);
        s.publish(publ, "a", b"m3", QoS::ExactlyOnce, false, 3);
        let first = s.publishes(sub);
        assert_eq!(
            payloads(&first),
            vec![b"m1".to_vec(), b"m2".to_vec(), b"m3".to_vec()]
        );
        assert!(first.iter().all(|p| !p.dup));
        s.pubrec(sub, id_of(&first[1]));
        assert_eq!(
            s.recv_all(sub),
            vec![Packet::PubRel(PubResponse::new(id_of(&first[1])))]
        );
        s.drop_conn(sub);

        let (sub, present) = s.connect_persistent("sub", v);
        assert!(present, "{v:?}");
        let again = s.recv_all(sub);
        assert_eq!(again.len(), 3, "{v:?}: {again:?}");
        match &again[0] {
            Packet::Publish(p) => {
                assert!(p.dup, "{v:?}: [MQTT-3.3.1-1]");
                assert_eq!(p.packet_id, first[0].packet_id);
                assert_eq!(&p.payload[..], b"m1");
                assert_eq!(p.qos, QoS::AtLeastOnce);
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
        assert_eq!(again[1], Packet::PubRel(PubResponse::new(id_of(&first[1]))));
        match &again[2] {
            Packet::Publish(p) => {
                assert!(p.dup);
                assert_eq!(p.packet_id, first[2].packet_id);
                assert_eq!(&p.payload[..], b"m3");
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
        s.puback(sub, id_of(&first[0]));
        s.pubcomp(sub, id_of(&first[1]));
        s.pubrec(sub, id_of(&first[2]));
        s.pubcomp(sub, id_of(&first[2]));
        assert_eq!(s.broker.stats(s.now).inflight_messages, 0);
    }
}

#[test]
fn qos_is_downgraded_to_the_granted_qos_mqtt_3_8_4_8() {
    // 3.1.1: [MQTT-3.8.4-6]. Never upgraded either.
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let sub = s.connect("sub", v, true);
        s.subscribe(sub, "g0", QoS::AtMostOnce);
        s.subscribe(sub, "g1", QoS::AtLeastOnce);
        s.subscribe(sub, "g2", QoS::ExactlyOnce);
        let publ = s.connect("pub", v, true);
        s.publish(publ, "g0", b"", QoS::ExactlyOnce, false, 1);
        s.publish(publ, "g1", b"", QoS::ExactlyOnce, false, 2);
        s.publish(publ, "g2", b"", QoS::AtMostOnce, false, 0);
        s.publish(publ, "g2", b"", QoS::AtLeastOnce, false, 3);
        let got: Vec<(String, QoS)> = s
            .publishes(sub)
            .into_iter()
            .map(|p| (p.topic, p.qos))
            .collect();
        assert_eq!(
            got,
            vec![
                ("g0".into(), QoS::AtMostOnce),
                ("g1".into(), QoS::AtLeastOnce),
                ("g2".into(), QoS::AtMostOnce),
                ("g2".into(), QoS::AtLeastOnce),
            ],
            "{v:?}"
        );
    }
}

#[test]
fn puback_and_pubrec_0x10_when_no_subscriber_matches_v5_only() {
    // Spec 3.4.2.1 / 3.5.2.1: 0x10 No matching subscribers (5.0); 3.1.1
    // has no reason code.
    let mut s = Sim::new(cfg());
    let p5 = s.connect("p5", V5, true);
    s.publish(p5, "nobody", b"x", QoS::AtLeastOnce, false, 1);
    s.publish(p5, "nobody", b"x", QoS::ExactlyOnce, false, 2);
    assert_eq!(
        s.recv_all(p5),
        vec![
            Packet::PubAck(PubResponse::with_reason(
                pid(1),
                ReasonCode::NoMatchingSubscribers
            )),
            Packet::PubRec(PubResponse::with_reason(
                pid(2),
                ReasonCode::NoMatchingSubscribers
            )),
        ]
    );
    let p3 = s.connect("p3", V311, true);
    s.publish(p3, "nobody", b"x", QoS::AtLeastOnce, false, 1);
    assert_eq!(
        s.recv_all(p3),
        vec![Packet::PubAck(PubResponse::new(pid(1)))]
    );
    // With a subscriber: Success.
    let sub = s.connect("sub", V311, true);
    s.subscribe(sub, "somebody", QoS::AtMostOnce);
    s.publish(p5, "somebody", b"x", QoS::AtLeastOnce, false, 3);
    assert_eq!(
        s.recv_all(p5),
        vec![Packet::PubAck(PubResponse::new(pid(3)))]
    );
}

// ---------------------------------------------------------- in-flight windows

#[test]
fn outbound_window_is_the_clients_receive_maximum_mqtt_3_3_4_9() {
    let mut s = Sim::new(cfg());
    let sub = s.connect_props(
        "sub",
        Properties {
            receive_maximum: Some(2),
            ..Default::default()
        },
    );
    s.subscribe(sub, "w", QoS::ExactlyOnce);
    let publ = s.connect("pub", V5, true);
    for i in 0..5u8 {
        let qos = if i % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        s.publish(publ, "w", &[i], qos, false, u16::from(i) + 1);
    }
    let first = s.publishes(sub);
    assert_eq!(payloads(&first), vec![vec![0], vec![1]]);
    assert_eq!(s.broker.stats(s.now).queued_messages, 3);
    // Acknowledge everything as it comes; never more than 2 unacknowledged.
    // A QoS 2 message stays unacknowledged until PUBCOMP, not PUBREC.
    let mut seen = Vec::new();
    let mut outstanding = std::collections::HashSet::new();
    let mut pending: Vec<Packet> = first.into_iter().map(Packet::Publish).collect();
    while !pending.is_empty() {
        for packet in pending {
            match packet {
                Packet::Publish(p) => {
                    outstanding.insert(id_of(&p));
                    assert!(outstanding.len() <= 2, "[MQTT-3.3.4-9]");
                    seen.push(p.payload[0]);
                    match p.qos {
                        QoS::AtLeastOnce => {
                            s.puback(sub, id_of(&p));
                            outstanding.remove(&id_of(&p));
                        }
                        _ => s.pubrec(sub, id_of(&p)),
                    }
                }
                Packet::PubRel(r) => {
                    s.pubcomp(sub, r.packet_id);
                    outstanding.remove(&r.packet_id);
                }
                other => panic!("{other:?}"),
            }
        }
        pending = s.recv_all(sub);
    }
    assert_eq!(seen, vec![0, 1, 2, 3, 4], "in order, none lost");
}

#[test]
fn outbound_window_is_bounded_by_config_max_inflight() {
    for v in [V5, V311] {
        let mut s = Sim::new(Config {
            max_inflight: 3,
            ..cfg()
        });
        let (sub, publ) = pair(&mut s, v, "w", QoS::AtLeastOnce);
        for i in 0..7u8 {
            s.publish(publ, "w", &[i], QoS::AtLeastOnce, false, u16::from(i) + 1);
        }
        let first = s.publishes(sub);
        assert_eq!(payloads(&first), vec![vec![0], vec![1], vec![2]], "{v:?}");
        // Acks out of order still let the next queued ones flow in order.
        s.puback(sub, id_of(&first[1]));
        assert_eq!(payloads(&s.publishes(sub)), vec![vec![3]]);
        s.puback(sub, id_of(&first[0]));
        s.puback(sub, id_of(&first[2]));
        let next = s.publishes(sub);
        assert_eq!(payloads(&next), vec![vec![4], vec![5]]);
        assert_eq!(s.broker.stats(s.now).inflight_messages, 3);
        assert_eq!(s.broker.stats(s.now).queued_messages, 1);
    }
}

#[test]
fn qos0_queued_behind_a_full_window_keeps_its_order() {
    // [MQTT-4.6.0-6]: messages to one subscriber keep the order they came in.
    let mut s = Sim::new(Config {
        max_inflight: 1,
        ..cfg()
    });
    let (sub, publ) = pair(&mut s, V5, "o", QoS::AtLeastOnce);
    s.publish(publ, "o", b"1", QoS::AtLeastOnce, false, 1);
    s.publish(publ, "o", b"2", QoS::AtLeastOnce, false, 2);
    s.publish(publ, "o", b"3", QoS::AtMostOnce, false, 0);
    let first = s.publishes(sub);
    assert_eq!(payloads(&first), vec![b"1".to_vec()]);
    s.puback(sub, id_of(&first[0]));
    let rest = s.publishes(sub);
    assert_eq!(payloads(&rest)[0], b"2".to_vec());
    s.puback(sub, id_of(&rest[0]));
    let mut all = payloads(&rest);
    all.extend(payloads(&s.publishes(sub)));
    assert_eq!(all, vec![b"2".to_vec(), b"3".to_vec()]);
}

#[test]
fn inbound_more_unacknowledged_qos1_than_receive_maximum_is_0x93() {
    // Spec 3.2.2.3.3 / 4.9: more than Receive Maximum QoS 1/2 PUBLISHes
    // without PUBACK is DISCONNECT 0x93 [MQTT-3.3.4-7]. The PUBACKs are held
    // here because the messages go to a persistent session and storage has
    // not confirmed them.
    let mut s = Sim::new(Config {
        receive_maximum: 2,
        durability: Durability::Strict,
        ..cfg()
    });
    s.auto_persist = false;
    offline_subscriber(&mut s, "off", V5, "t", QoS::AtLeastOnce);
    let (publ, ack) = s.connect_with(connect_packet("pub", V5, true));
    match ack {
        Packet::ConnAck(a) => assert_eq!(a.properties.receive_maximum, Some(2)),
        other => panic!("{other:?}"),
    }
    let other = s.connect("bystander", V5, true);
    s.publish(publ, "t", b"1", QoS::AtLeastOnce, false, 1);
    s.publish(publ, "t", b"2", QoS::AtLeastOnce, false, 2);
    assert!(s.recv_all(publ).is_empty(), "acks held until persisted");
    s.publish(publ, "t", b"3", QoS::AtLeastOnce, false, 3);
    assert_eq!(
        s.disconnect_reason(publ),
        Some(ReasonCode::ReceiveMaximumExceeded)
    );
    assert!(s.is_closed(publ));
    assert!(!s.is_closed(other));
}

#[test]
fn inbound_unreleased_qos2_count_against_receive_maximum_until_pubcomp() {
    let mut s = Sim::new(Config {
        receive_maximum: 2,
        ..cfg()
    });
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "t", b"1", QoS::ExactlyOnce, false, 1);
    s.publish(publ, "t", b"2", QoS::ExactlyOnce, false, 2);
    assert_eq!(s.recv_all(publ).len(), 2, "two PUBRECs");
    // PUBREL/PUBCOMP of 1 frees one place.
    s.pubrel(publ, pid(1));
    s.recv_all(publ);
    s.publish(publ, "t", b"3", QoS::ExactlyOnce, false, 3);
    assert_eq!(s.recv_all(publ).len(), 1);
    assert!(!s.is_closed(publ));
    // Now 2 and 3 are unreleased: a fourth is one too many.
    s.publish(publ, "t", b"4", QoS::ExactlyOnce, false, 4);
    assert_eq!(
        s.disconnect_reason(publ),
        Some(ReasonCode::ReceiveMaximumExceeded)
    );
}

#[test]
fn inbound_resent_qos2_publish_at_the_limit_is_not_a_new_one_mqtt_4_3_3_10() {
    // A DUP resend of an unreleased QoS 2 PUBLISH is not a new PUBLISH, so
    // it cannot exceed Receive Maximum; it is answered with PUBREC.
    let mut s = Sim::new(Config {
        receive_maximum: 2,
        ..cfg()
    });
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "t", b"1", QoS::ExactlyOnce, false, 1);
    s.publish(publ, "t", b"2", QoS::ExactlyOnce, false, 2);
    s.recv_all(publ);
    let mut again = publish("t", b"2", QoS::ExactlyOnce, false, 2);
    again.dup = true;
    s.send_publish(publ, again);
    match &s.recv_all(publ)[..] {
        [Packet::PubRec(r)] => {
            assert_eq!(r.packet_id, pid(2));
            assert!(!r.reason.is_error());
        }
        other => panic!("expected one PUBREC, got {other:?}"),
    }
    assert!(!s.is_closed(publ));
}

#[test]
fn inbound_pubrec_held_for_storage_is_counted_once() {
    // A QoS 2 PUBREC held for storage and the unreleased QoS 2 state are one
    // unacknowledged PUBLISH, not two.
    let mut s = Sim::new(Config {
        receive_maximum: 2,
        ..cfg()
    });
    s.auto_persist = false;
    offline_subscriber(&mut s, "off", V5, "t", QoS::ExactlyOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "t", b"1", QoS::ExactlyOnce, false, 1);
    assert!(s.recv_all(publ).is_empty(), "PUBREC held");
    s.publish(publ, "t", b"2", QoS::ExactlyOnce, false, 2);
    assert!(
        !s.is_closed(publ),
        "two unacknowledged is within the maximum"
    );
    s.persist_all();
    s.drive();
    assert_eq!(
        s.recv_all(publ),
        vec![
            Packet::PubRec(PubResponse::new(pid(1))),
            Packet::PubRec(PubResponse::new(pid(2)))
        ]
    );
}

#[test]
fn v311_has_no_inbound_receive_maximum() {
    let mut s = Sim::new(Config {
        receive_maximum: 2,
        ..cfg()
    });
    let publ = s.connect("pub", V311, true);
    for i in 1..=5 {
        s.publish(publ, "t", b"x", QoS::ExactlyOnce, false, i);
    }
    assert_eq!(s.recv_all(publ).len(), 5);
    assert!(!s.is_closed(publ));
}

// ------------------------------------------------------------- durability

#[test]
fn strict_holds_the_puback_until_storage_confirms_mqtt_4_3_2_4() {
    // The PUBACK says the broker owns the message [MQTT-4.3.2-4]; under
    // Strict durability it is sent once the delivery to the offline
    // persistent session is persisted.
    for v in [V5, V311] {
        let mut s = Sim::new(Config {
            durability: Durability::Strict,
            ..cfg()
        });
        s.auto_persist = false;
        offline_subscriber(&mut s, "off", v, "t", QoS::AtLeastOnce);
        let publ = s.connect("pub", v, true);
        s.publish(publ, "t", b"x", QoS::AtLeastOnce, false, 1);
        assert!(s.recv_all(publ).is_empty(), "{v:?}: held");
        assert_eq!(s.broker.stats(s.now).pending_acks, 1);
        assert!(!s.unpersisted.is_empty());
        s.persist_all();
        s.drive();
        assert_eq!(
            s.recv_all(publ),
            vec![Packet::PubAck(PubResponse::new(pid(1)))],
            "{v:?}"
        );
        assert_eq!(s.broker.stats(s.now).pending_acks, 0);
    }
}

#[test]
fn strict_held_acks_leave_in_publish_order_mqtt_4_6_0_2() {
    // [MQTT-4.6.0-2] PUBACKs and [MQTT-4.6.0-3] PUBRECs in the order the
    // PUBLISHes were received, even when a later one needs no storage.
    let mut s = Sim::new(cfg());
    s.auto_persist = false;
    offline_subscriber(&mut s, "off", V311, "t", QoS::ExactlyOnce);
    let publ = s.connect("pub", V311, true);
    s.publish(publ, "t", b"stored", QoS::AtLeastOnce, false, 1);
    s.publish(publ, "nobody", b"not stored", QoS::AtLeastOnce, false, 2);
    s.publish(publ, "t", b"stored", QoS::ExactlyOnce, false, 3);
    s.publish(publ, "nobody", b"not stored", QoS::ExactlyOnce, false, 4);
    assert!(s.recv_all(publ).is_empty());
    s.persist_all();
    s.drive();
    assert_eq!(
        s.recv_all(publ),
        vec![
            Packet::PubAck(PubResponse::new(pid(1))),
            Packet::PubAck(PubResponse::new(pid(2))),
            Packet::PubRec(PubResponse::new(pid(3))),
            Packet::PubRec(PubResponse::new(pid(4))),
        ]
    );
}

#[test]
fn strict_acks_wait_only_for_their_own_batch() {
    let mut s = Sim::new(cfg());
    s.auto_persist = false;
    offline_subscriber(&mut s, "off", V5, "t", QoS::AtLeastOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "t", b"1", QoS::AtLeastOnce, false, 1);
    // Persist what exists so far (the first message's batch) only.
    s.persist_all();
    s.publish(publ, "t", b"2", QoS::AtLeastOnce, false, 2);
    s.drive();
    assert_eq!(
        s.recv_all(publ),
        vec![Packet::PubAck(PubResponse::new(pid(1)))]
    );
    s.persist_all();
    s.drive();
    assert_eq!(
        s.recv_all(publ),
        vec![Packet::PubAck(PubResponse::new(pid(2)))]
    );
}

#[test]
fn relaxed_acknowledges_at_once_while_storage_is_pending() {
    let mut s = Sim::new(Config {
        durability: Durability::Relaxed,
        ..cfg()
    });
    s.auto_persist = false;
    offline_subscriber(&mut s, "off", V5, "t", QoS::AtLeastOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "t", b"x", QoS::AtLeastOnce, false, 1);
    assert_eq!(
        s.recv_all(publ),
        vec![Packet::PubAck(PubResponse::new(pid(1)))]
    );
    assert!(
        !s.unpersisted.is_empty(),
        "storage operations are still emitted"
    );
}

#[test]
fn memory_durability_emits_no_storage_batches() {
    let mut s = Sim::new(Config {
        durability: Durability::Memory,
        ..cfg()
    });
    s.auto_persist = false;
    offline_subscriber(&mut s, "off", V5, "t", QoS::ExactlyOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "t", b"x", QoS::AtLeastOnce, false, 1);
    s.publish(publ, "t", b"r", QoS::ExactlyOnce, true, 2);
    assert_eq!(
        s.recv_all(publ),
        vec![
            Packet::PubAck(PubResponse::new(pid(1))),
            Packet::PubRec(PubResponse::new(pid(2)))
        ]
    );
    let (off, present) = s.connect_persistent("off", V5);
    assert!(present);
    assert_eq!(s.publishes(off).len(), 2, "still queued in memory");
    assert!(s.unpersisted.is_empty());
    assert_eq!(s.broker.stats(s.now).storage_ops, 0);
}

// ------------------------------------------------- offline queue / reconnect

#[test]
fn queued_offline_messages_are_delivered_on_reconnect_in_order() {
    // [MQTT-4.6.0-6]: in the order received; first sends carry DUP 0
    // [MQTT-3.3.1-3] (not a retransmission).
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        offline_subscriber(&mut s, "off", v, "t/#", QoS::ExactlyOnce);
        let publ = s.connect("pub", v, true);
        for i in 0..6u8 {
            let qos = [QoS::AtLeastOnce, QoS::ExactlyOnce][usize::from(i % 2)];
            s.publish(publ, &format!("t/{i}"), &[i], qos, false, u16::from(i) + 1);
        }
        let (off, present) = s.connect_persistent("off", v);
        assert!(present);
        let got = s.publishes(off);
        assert_eq!(
            payloads(&got),
            (0..6u8).map(|i| vec![i]).collect::<Vec<_>>(),
            "{v:?}"
        );
        assert!(got.iter().all(|p| !p.dup));
    }
}

#[test]
fn qos0_is_not_queued_for_an_offline_session_by_default() {
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        offline_subscriber(&mut s, "off", v, "t", QoS::AtLeastOnce);
        let publ = s.connect("pub", v, true);
        s.publish(publ, "t", b"q0", QoS::AtMostOnce, false, 0);
        s.publish(publ, "t", b"q1", QoS::AtLeastOnce, false, 1);
        let (off, _) = s.connect_persistent("off", v);
        assert_eq!(payloads(&s.publishes(off)), vec![b"q1".to_vec()], "{v:?}");
    }
}

#[test]
fn qos0_is_queued_offline_with_queue_qos0_offline() {
    for v in [V5, V311] {
        let mut s = Sim::new(Config {
            queue_qos0_offline: true,
            ..cfg()
        });
        offline_subscriber(&mut s, "off", v, "t", QoS::AtLeastOnce);
        let publ = s.connect("pub", v, true);
        s.publish(publ, "t", b"q0", QoS::AtMostOnce, false, 0);
        s.publish(publ, "t", b"q1", QoS::AtLeastOnce, false, 1);
        let (off, _) = s.connect_persistent("off", v);
        let got = s.publishes(off);
        assert_eq!(payloads(&got), vec![b"q0".to_vec(), b"q1".to_vec()]);
        assert_eq!(got[0].qos, QoS::AtMostOnce);
    }
}

#[test]
fn offline_queue_message_limit_drops_the_new_message_and_counts_it() {
    for v in [V5, V311] {
        let mut s = Sim::new(Config {
            max_queued_messages: 3,
            ..cfg()
        });
        offline_subscriber(&mut s, "off", v, "t", QoS::AtLeastOnce);
        let publ = s.connect("pub", v, true);
        for i in 0..5u8 {
            s.publish(publ, "t", &[i], QoS::AtLeastOnce, false, u16::from(i) + 1);
        }
        assert_eq!(s.broker.stats(s.now).messages_dropped, 2);
        let drops: Vec<_> = s
            .take_events()
            .into_iter()
            .filter(|e| matches!(e, Event::Dropped { .. }))
            .collect();
        assert_eq!(drops.len(), 2);
        for d in drops {
            assert_eq!(
                d,
                Event::Dropped {
                    client_id: "off".into(),
                    topic: "t".into(),
                    why: DropReason::QueueFull
                }
            );
        }
        let (off, _) = s.connect_persistent("off", v);
        assert_eq!(
            payloads(&s.publishes(off)),
            vec![vec![0], vec![1], vec![2]],
            "{v:?}: the oldest are kept"
        );
    }
}

#[test]
fn offline_queue_byte_limit_drops_the_new_message_and_counts_it() {
    let mut s = Sim::new(Config {
        max_queued_bytes: 10,
        ..cfg()
    });
    offline_subscriber(&mut s, "off", V5, "t", QoS::AtLeastOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "t", b"aaaa", QoS::AtLeastOnce, false, 1);
    s.publish(publ, "t", b"bbbb", QoS::AtLeastOnce, false, 2);
    s.publish(publ, "t", b"cccc", QoS::AtLeastOnce, false, 3); // 12 > 10
    s.publish(publ, "t", b"dd", QoS::AtLeastOnce, false, 4); // 10 fits
    assert_eq!(s.broker.stats(s.now).messages_dropped, 1);
    assert!(s.events.iter().any(|e| matches!(
        e,
        Event::Dropped {
            why: DropReason::QueueFull,
            ..
        }
    )));
    let (off, _) = s.connect_persistent("off", V5);
    assert_eq!(
        payloads(&s.publishes(off)),
        vec![b"aaaa".to_vec(), b"bbbb".to_vec(), b"dd".to_vec()]
    );
}

// ------------------------------------------------------ MQTT 5 properties

#[test]
fn message_expiry_is_decremented_while_queued_mqtt_3_3_2_6() {
    let mut s = Sim::new(cfg());
    offline_subscriber(&mut s, "off", V5, "t", QoS::AtLeastOnce);
    let live = s.connect("live", V5, true);
    s.subscribe(live, "t", QoS::AtLeastOnce);
    let publ = s.connect("pub", V5, true);
    let p = with_props(
        publish("t", b"x", QoS::AtLeastOnce, false, 1),
        Properties {
            message_expiry_interval: Some(10),
            ..Default::default()
        },
    );
    s.send_publish(publ, p);
    let now = s.publishes(live);
    assert_eq!(now[0].properties.message_expiry_interval, Some(10));
    s.advance(4_000);
    let (off, _) = s.connect_persistent("off", V5);
    let later = s.publishes(off);
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].properties.message_expiry_interval, Some(6));
}

#[test]
fn expired_queued_messages_are_dropped_mqtt_3_3_2_5() {
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        offline_subscriber(&mut s, "off", v, "t", QoS::AtLeastOnce);
        let publ = s.connect("pub", V5, true);
        let expiring = with_props(
            publish("t", b"expires", QoS::AtLeastOnce, false, 1),
            Properties {
                message_expiry_interval: Some(2),
                ..Default::default()
            },
        );
        s.send_publish(publ, expiring);
        s.publish(publ, "t", b"stays", QoS::AtLeastOnce, false, 2);
        s.take_events();
        // The periodic sweep (armed for the expiry time) drops it while the
        // session is still offline.
        s.advance(3_000);
        let (off, _) = s.connect_persistent("off", v);
        assert_eq!(
            payloads(&s.publishes(off)),
            vec![b"stays".to_vec()],
            "{v:?}"
        );
        assert!(s.events.iter().any(|e| matches!(
            e,
            Event::Dropped {
                why: DropReason::Expired,
                ..
            }
        )));
        assert_eq!(s.broker.stats(s.now).inflight_messages, 1);
    }
}

#[test]
fn inflight_message_is_resent_on_reconnect_even_after_its_expiry_mqtt_4_3_3_7() {
    // Once a PUBLISH has been sent, expiry no longer applies to it
    // [MQTT-4.3.3-7]: the reconnecting client gets it again [MQTT-4.4.0-1],
    // and its packet identifier and window slot are not leaked.
    let mut s = Sim::new(cfg());
    let (sub, _) = s.connect_persistent("sub", V5);
    s.subscribe(sub, "t", QoS::ExactlyOnce);
    let publ = s.connect("pub", V5, true);
    let p = with_props(
        publish("t", b"x", QoS::ExactlyOnce, false, 1),
        Properties {
            message_expiry_interval: Some(2),
            ..Default::default()
        },
    );
    s.send_publish(publ, p);
    let first = s.publishes(sub);
    assert_eq!(first.len(), 1);
    s.drop_conn(sub);
    s.advance(5_000);
    let (sub, present) = s.connect_persistent("sub", V5);
    assert!(present);
    let again = s.publishes(sub);
    assert_eq!(again.len(), 1, "resent although expired");
    assert!(again[0].dup);
    assert_eq!(again[0].packet_id, first[0].packet_id);
    s.pubrec(sub, id_of(&again[0]));
    s.pubcomp(sub, id_of(&again[0]));
    assert_eq!(s.broker.stats(s.now).inflight_messages, 0);
}

#[test]
fn publish_properties_are_forwarded_unaltered_mqtt_3_3_2_4_and_15_to_20() {
    // Payload Format Indicator [MQTT-3.3.2-4], Response Topic
    // [MQTT-3.3.2-15], Correlation Data [MQTT-3.3.2-16], User Properties
    // unaltered and in order [MQTT-3.3.2-17], [MQTT-3.3.2-18], Content Type
    // [MQTT-3.3.2-20]. A 3.1.1 subscriber gets the same payload, no properties.
    let mut s = Sim::new(cfg());
    let sub = s.connect("sub", V5, true);
    s.subscribe(sub, "req", QoS::AtLeastOnce);
    let sub3 = s.connect("sub3", V311, true);
    s.subscribe(sub3, "req", QoS::AtLeastOnce);
    let publ = s.connect("pub", V5, true);
    let user = vec![
        ("z".to_string(), "1".to_string()),
        ("a".to_string(), "2".to_string()),
        ("z".to_string(), "3".to_string()),
    ];
    let props = Properties {
        payload_format_indicator: Some(1),
        content_type: Some("application/json".into()),
        response_topic: Some("resp/42".into()),
        correlation_data: Some(Bytes::from_static(b"\x00\x01corr")),
        user_properties: user.clone(),
        ..Default::default()
    };
    s.send_publish(
        publ,
        with_props(
            publish("req", b"{\"a\":1}", QoS::AtLeastOnce, false, 1),
            props,
        ),
    );
    let got = s.publishes(sub);
    assert_eq!(got.len(), 1);
    let p = &got[0].properties;
    assert_eq!(p.payload_format_indicator, Some(1));
    assert_eq!(p.content_type.as_deref(), Some("application/json"));
    assert_eq!(p.response_topic.as_deref(), Some("resp/42"));
    assert_eq!(p.correlation_data.as_deref(), Some(&b"\x00\x01corr"[..]));
    assert_eq!(p.user_properties, user);
    assert_eq!(p.topic_alias, None);
    assert_eq!(p.message_expiry_interval, None);
    let got3 = s.publishes(sub3);
    assert_eq!(&got3[0].payload[..], b"{\"a\":1}");
    assert_eq!(got3[0].properties, Properties::default());
}

#[test]
fn payload_not_utf8_but_marked_utf8_is_refused_0x99() {
    // Spec 3.3.2.3.2: a receiver may check the payload; if it is not what
    // the indicator says, PUBACK/PUBREC or DISCONNECT with 0x99.
    let mut s = Sim::new(cfg());
    let (sub, publ) = pair(&mut s, V5, "t", QoS::AtLeastOnce);
    let bad = Properties {
        payload_format_indicator: Some(1),
        ..Default::default()
    };
    s.send_publish(
        publ,
        with_props(
            publish("t", b"\xff\xfe", QoS::AtLeastOnce, false, 1),
            bad.clone(),
        ),
    );
    s.send_publish(
        publ,
        with_props(
            publish("t", b"\xc3", QoS::ExactlyOnce, false, 2),
            bad.clone(),
        ),
    );
    let acks = s.recv_all(publ);
    assert_eq!(acks.len(), 2);
    match (&acks[0], &acks[1]) {
        (Packet::PubAck(a), Packet::PubRec(r)) => {
            assert_eq!(a.reason, ReasonCode::PayloadFormatInvalid);
            assert_eq!(r.reason, ReasonCode::PayloadFormatInvalid);
        }
        other => panic!("{other:?}"),
    }
    assert!(s.publishes(sub).is_empty(), "not delivered");
    // QoS 0 has no acknowledgement to say it with: DISCONNECT 0x99.
    s.send_publish(
        publ,
        with_props(publish("t", b"\xff", QoS::AtMostOnce, false, 0), bad),
    );
    assert_eq!(
        s.disconnect_reason(publ),
        Some(ReasonCode::PayloadFormatInvalid)
    );
    assert!(s.is_closed(publ));
    assert!(s.publishes(sub).is_empty());
    assert!(!s.is_closed(sub));
}

#[test]
fn request_problem_information_false_strips_reason_strings_mqtt_3_1_2_29() {
    let bad = Properties {
        payload_format_indicator: Some(1),
        ..Default::default()
    };
    let mut s = Sim::new(cfg());
    let chatty = s.connect("chatty", V5, true);
    let quiet = s.connect_props(
        "quiet",
        Properties {
            request_problem_information: Some(false),
            ..Default::default()
        },
    );
    for c in [chatty, quiet] {
        s.send_publish(
            c,
            with_props(
                publish("t", b"\xff", QoS::AtLeastOnce, false, 1),
                bad.clone(),
            ),
        );
    }
    let reason_string = |p: Packet| match p {
        Packet::PubAck(a) => {
            assert_eq!(a.reason, ReasonCode::PayloadFormatInvalid);
            a.properties.reason_string
        }
        other => panic!("{other:?}"),
    };
    let loud = reason_string(s.recv(chatty).unwrap());
    assert!(loud.is_some(), "the broker explains a refusal");
    assert_eq!(reason_string(s.recv(quiet).unwrap()), None);
}

// ------------------------------------------------------------ topic aliases

#[test]
fn topic_alias_is_set_and_reused_inbound_mqtt_3_3_2_12() {
    let mut s = Sim::new(cfg());
    let (sub, publ) = pair(&mut s, V5, "al/#", QoS::AtMostOnce);
    let alias = |n| Properties {
        topic_alias: Some(n),
        ..Default::default()
    };
    s.send_publish(
        publ,
        with_props(publish("al/one", b"1", QoS::AtMostOnce, false, 0), alias(1)),
    );
    s.send_publish(
        publ,
        with_props(publish("", b"2", QoS::AtLeastOnce, false, 1), alias(1)),
    );
    // Re-pointing the alias [MQTT-3.3.2-12 region: a new mapping replaces it].
    s.send_publish(
        publ,
        with_props(publish("al/two", b"3", QoS::AtMostOnce, false, 0), alias(1)),
    );
    s.send_publish(
        publ,
        with_props(publish("", b"4", QoS::AtMostOnce, false, 0), alias(1)),
    );
    assert_eq!(
        s.recv_all(publ),
        vec![Packet::PubAck(PubResponse::new(pid(1)))]
    );
    let got: Vec<(String, Option<u16>)> = s
        .publishes(sub)
        .into_iter()
        .map(|p| (p.topic, p.properties.topic_alias))
        .collect();
    assert_eq!(
        got,
        vec![
            ("al/one".into(), None),
            ("al/one".into(), None),
            ("al/two".into(), None),
            ("al/two".into(), None),
        ]
    );
}

#[test]
fn topic_alias_above_the_maximum_is_0x94_mqtt_3_3_2_9() {
    let mut s = Sim::new(Config {
        topic_alias_maximum: 4,
        ..cfg()
    });
    let (publ, ack) = s.connect_with(connect_packet("pub", V5, true));
    match ack {
        Packet::ConnAck(a) => assert_eq!(a.properties.topic_alias_maximum, Some(4)),
        other => panic!("{other:?}"),
    }
    let p = with_props(
        publish("t", b"x", QoS::AtMostOnce, false, 0),
        Properties {
            topic_alias: Some(5),
            ..Default::default()
        },
    );
    s.send_publish(publ, p);
    assert_eq!(
        s.disconnect_reason(publ),
        Some(ReasonCode::TopicAliasInvalid)
    );
    assert!(s.is_closed(publ));
}

#[test]
fn topic_alias_zero_is_0x94_mqtt_3_3_2_8() {
    let mut s = Sim::new(cfg());
    let publ = s.connect("pub", V5, true);
    // PUBLISH QoS 0, topic "a", properties: Topic Alias (0x23) = 0.
    s.send_raw(publ, &[0x30, 8, 0, 1, b'a', 3, 0x23, 0, 0, b'x']);
    assert_eq!(
        s.disconnect_reason(publ),
        Some(ReasonCode::TopicAliasInvalid)
    );
}

#[test]
fn unknown_topic_alias_is_a_protocol_error_0x82() {
    // Spec 3.3.2.3.4: an empty topic with an alias that has no mapping.
    let mut s = Sim::new(cfg());
    let publ = s.connect("pub", V5, true);
    let p = with_props(
        publish("", b"x", QoS::AtMostOnce, false, 0),
        Properties {
            topic_alias: Some(3),
            ..Default::default()
        },
    );
    s.send_publish(publ, p);
    assert_eq!(s.disconnect_reason(publ), Some(ReasonCode::ProtocolError));
}

#[test]
fn topic_aliases_do_not_carry_over_to_a_new_connection_mqtt_3_3_2_7() {
    let mut s = Sim::new(cfg());
    let (publ, _) = s.connect_persistent("pub", V5);
    let alias = Properties {
        topic_alias: Some(1),
        ..Default::default()
    };
    s.send_publish(
        publ,
        with_props(publish("t", b"1", QoS::AtMostOnce, false, 0), alias.clone()),
    );
    s.drop_conn(publ);
    let (publ, present) = s.connect_persistent("pub", V5);
    assert!(present);
    s.send_publish(
        publ,
        with_props(publish("", b"2", QoS::AtMostOnce, false, 0), alias),
    );
    assert_eq!(s.disconnect_reason(publ), Some(ReasonCode::ProtocolError));
}

// ----------------------------------------------------- maximum packet size

#[test]
fn message_over_a_clients_maximum_packet_size_is_dropped_for_it_only_mqtt_3_1_2_25() {
    let mut s = Sim::new(cfg());
    let small = s.connect_props(
        "small",
        Properties {
            maximum_packet_size: Some(40),
            ..Default::default()
        },
    );
    s.subscribe(small, "big", QoS::AtLeastOnce);
    let large = s.connect("large", V311, true);
    s.subscribe(large, "big", QoS::AtLeastOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "big", &[7u8; 100], QoS::AtLeastOnce, false, 1);
    s.publish(publ, "big", b"fits", QoS::AtLeastOnce, false, 2);
    // [MQTT-3.1.2-24]: nothing over the limit is sent; [MQTT-3.1.2-25]: it
    // is as if sent and completed (no window slot, no identifier kept).
    let got = s.publishes(small);
    assert_eq!(payloads(&got), vec![b"fits".to_vec()]);
    assert!(s.clients[&small].raw.len() < 200);
    assert_eq!(s.publishes(large).len(), 2, "other subscribers get it");
    assert!(s.events.iter().any(|e| *e
        == Event::Dropped {
            client_id: "small".into(),
            topic: "big".into(),
            why: DropReason::TooLarge
        }));
    s.puback(small, id_of(&got[0]));
    assert!(!s.is_closed(small));
    assert_eq!(
        s.broker.stats(s.now).inflight_messages,
        2,
        "only the large subscriber's two"
    );
}

// -------------------------------------------------------- malformed input

#[test]
fn malformed_packet_closes_only_that_client_with_0x81() {
    // PUBLISH with QoS 3 [MQTT-3.3.1-4] is a Malformed Packet (0x81).
    let mut s = Sim::new(cfg());
    offline_subscriber(&mut s, "off", V5, "t", QoS::AtLeastOnce);
    let live = s.connect("live", V311, true);
    s.subscribe(live, "t", QoS::AtLeastOnce);
    let bad = s.connect("bad", V5, true);
    let good = s.connect("good", V5, true);
    // One acknowledged QoS 1 message, then the malformed packet.
    s.publish(bad, "t", b"acked", QoS::AtLeastOnce, false, 1);
    assert_eq!(
        s.recv_all(bad),
        vec![Packet::PubAck(PubResponse::new(pid(1)))]
    );
    s.send_raw(bad, &[0x36, 8, 0, 1, b't', 0, 1, 0, b'x', b'y']);
    assert_eq!(s.disconnect_reason(bad), Some(ReasonCode::MalformedPacket));
    assert!(s.is_closed(bad));
    assert!(!s.is_closed(good) && !s.is_closed(live));
    // The acknowledged message reached everyone it was for.
    assert_eq!(payloads(&s.publishes(live)), vec![b"acked".to_vec()]);
    let (off, _) = s.connect_persistent("off", V5);
    assert_eq!(payloads(&s.publishes(off)), vec![b"acked".to_vec()]);
    // Others carry on.
    s.publish(good, "t", b"after", QoS::AtLeastOnce, false, 1);
    assert_eq!(
        s.recv_all(good),
        vec![Packet::PubAck(PubResponse::new(pid(1)))]
    );
    assert_eq!(payloads(&s.publishes(live)), vec![b"after".to_vec()]);
    assert!(s.events.iter().any(|e| matches!(
        e,
        Event::Disconnected {
            reason: Some(ReasonCode::MalformedPacket),
            ..
        }
    )));
}

#[test]
fn packet_over_the_brokers_maximum_is_0x95() {
    let mut s = Sim::new(Config {
        max_packet_size: 100,
        ..cfg()
    });
    let (sub, publ) = pair(&mut s, V5, "t", QoS::AtMostOnce);
    s.publish(publ, "t", &[0u8; 200], QoS::AtMostOnce, false, 0);
    assert_eq!(s.disconnect_reason(publ), Some(ReasonCode::PacketTooLarge));
    assert!(s.is_closed(publ));
    assert!(s.publishes(sub).is_empty());
    assert!(!s.is_closed(sub));
}

#[test]
fn protocol_error_closes_only_that_client_with_0x82() {
    // A second CONNECT [MQTT-3.1.0-2], and a packet only servers send.
    let mut s = Sim::new(cfg());
    let (sub, publ) = pair(&mut s, V5, "t", QoS::AtMostOnce);
    s.send(
        publ,
        Packet::Connect(Box::new(connect_packet("pub", V5, true))),
    );
    assert_eq!(s.disconnect_reason(publ), Some(ReasonCode::ProtocolError));
    assert!(s.is_closed(publ));
    let other = s.connect("other", V5, true);
    s.send(other, Packet::PingResp);
    assert_eq!(s.disconnect_reason(other), Some(ReasonCode::ProtocolError));
    let p2 = s.connect("p2", V5, true);
    s.publish(p2, "t", b"still", QoS::AtMostOnce, false, 0);
    assert_eq!(payloads(&s.publishes(sub)), vec![b"still".to_vec()]);
}

#[test]
fn v311_malformed_packet_closes_without_disconnect() {
    // 3.1.1 servers have no DISCONNECT: the network connection is closed
    // [MQTT-4.8.0-1 (3.1.1)].
    let mut s = Sim::new(cfg());
    let (sub, publ) = pair(&mut s, V311, "t", QoS::AtMostOnce);
    s.send_raw(publ, &[0x38, 5, 0, 1, b't', b'x', b'y']); // DUP on QoS 0
    assert!(s.is_closed(publ));
    assert!(s.recv_all(publ).is_empty());
    let p2 = s.connect("p2", V311, true);
    s.publish(p2, "t", b"ok", QoS::AtMostOnce, false, 0);
    assert_eq!(payloads(&s.publishes(sub)), vec![b"ok".to_vec()]);
}

// ------------------------------------------------------------ more QoS flows

#[test]
fn pubrec_with_an_error_ends_the_exchange_without_pubrel_mqtt_4_3_3_4_and_4_4_0_2() {
    // PUBREL only for a PUBREC below 0x80 [MQTT-4.3.3-4]; the PUBLISH is
    // then acknowledged and never retransmitted [MQTT-4.4.0-2].
    let mut s = Sim::new(cfg());
    let (sub, _) = s.connect_persistent("sub", V5);
    s.subscribe(sub, "t", QoS::ExactlyOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "t", b"x", QoS::ExactlyOnce, false, 1);
    let got = s.publishes(sub);
    s.send(
        sub,
        Packet::PubRec(PubResponse::with_reason(
            id_of(&got[0]),
            ReasonCode::ImplementationSpecificError,
        )),
    );
    assert!(s.recv_all(sub).is_empty(), "no PUBREL");
    assert_eq!(s.broker.stats(s.now).inflight_messages, 0);
    s.drop_conn(sub);
    let (sub, _) = s.connect_persistent("sub", V5);
    assert!(s.recv_all(sub).is_empty(), "not resent");
}

#[test]
fn inbound_qos2_resent_after_reconnect_is_not_delivered_twice_mqtt_4_3_3_10() {
    // The unreleased QoS 2 identifiers are session state (spec 4.1): a
    // publisher that lost its connection before PUBREL resends the PUBLISH
    // (DUP) and then PUBREL [MQTT-4.4.0-1].
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let sub = s.connect("sub", v, true);
        s.subscribe(sub, "t", QoS::ExactlyOnce);
        let (publ, _) = s.connect_persistent("pub", v);
        s.publish(publ, "t", b"once", QoS::ExactlyOnce, false, 11);
        assert_eq!(
            s.recv_all(publ),
            vec![Packet::PubRec(PubResponse::new(pid(11)))]
        );
        s.drop_conn(publ);
        let (publ, present) = s.connect_persistent("pub", v);
        assert!(present);
        let mut again = publish("t", b"once", QoS::ExactlyOnce, false, 11);
        again.dup = true;
        s.send_publish(publ, again);
        assert_eq!(
            s.recv_all(publ),
            vec![Packet::PubRec(PubResponse::new(pid(11)))]
        );
        s.pubrel(publ, pid(11));
        assert_eq!(
            s.recv_all(publ),
            vec![Packet::PubComp(PubResponse::new(pid(11)))]
        );
        let got = s.publishes(sub);
        assert_eq!(payloads(&got), vec![b"once".to_vec()], "{v:?}");
    }
}

#[test]
fn incoming_dup_flag_is_not_propagated_mqtt_3_3_1_3() {
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let (sub, publ) = pair(&mut s, v, "t", QoS::AtLeastOnce);
        let mut p = publish("t", b"x", QoS::AtLeastOnce, false, 1);
        p.dup = true;
        s.send_publish(publ, p);
        let got = s.publishes(sub);
        assert_eq!(got.len(), 1);
        assert!(!got[0].dup, "{v:?}: a first send to this client");
    }
}

#[test]
fn reconnect_resends_inflight_first_then_the_queue_in_order_mqtt_4_6_0_1() {
    for v in [V5, V311] {
        let mut s = Sim::new(Config {
            max_inflight: 2,
            ..cfg()
        });
        let (sub, _) = s.connect_persistent("sub", v);
        s.subscribe(sub, "t", QoS::AtLeastOnce);
        let publ = s.connect("pub", v, true);
        for i in 0..3u8 {
            s.publish(publ, "t", &[i], QoS::AtLeastOnce, false, u16::from(i) + 1);
        }
        assert_eq!(s.publishes(sub).len(), 2);
        s.drop_conn(sub);
        for i in 3..5u8 {
            s.publish(publ, "t", &[i], QoS::AtLeastOnce, false, u16::from(i) + 1);
        }
        let (sub, _) = s.connect_persistent("sub", v);
        let got = s.publishes(sub);
        assert_eq!(payloads(&got), vec![vec![0], vec![1]], "{v:?}: window full");
        assert!(got.iter().all(|p| p.dup));
        let mut all = payloads(&got);
        let mut pending = got;
        while !pending.is_empty() {
            for p in &pending {
                s.puback(sub, id_of(p));
            }
            pending = s.publishes(sub);
            assert!(pending.iter().all(|p| !p.dup));
            all.extend(payloads(&pending));
        }
        assert_eq!(all, (0..5u8).map(|i| vec![i]).collect::<Vec<_>>());
    }
}

#[test]
fn inflight_too_large_for_a_reconnecting_clients_new_limit_is_dropped_mqtt_3_1_2_25() {
    let mut s = Sim::new(Config {
        max_inflight: 1,
        ..cfg()
    });
    let (sub, _) = s.connect_persistent("sub", V5);
    s.subscribe(sub, "t", QoS::AtLeastOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "t", &[1u8; 200], QoS::AtLeastOnce, false, 1);
    s.publish(publ, "t", b"small", QoS::AtLeastOnce, false, 2);
    assert_eq!(s.publishes(sub).len(), 1);
    s.drop_conn(sub);
    let mut c = connect_packet("sub", V5, false);
    c.properties.session_expiry_interval = Some(3600);
    c.properties.maximum_packet_size = Some(64);
    let (sub, _) = s.connect_with(c);
    // The big one cannot be resent; its slot goes to the next message.
    let got = s.publishes(sub);
    assert_eq!(payloads(&got), vec![b"small".to_vec()]);
    s.puback(sub, id_of(&got[0]));
    assert_eq!(s.broker.stats(s.now).inflight_messages, 0);
}

struct DenyTopics;

impl tabmq::broker::Hooks for DenyTopics {
    fn authorize_publish(
        &mut self,
        _client: &tabmq::broker::ClientInfo,
        topic: &str,
        _qos: QoS,
        _retain: bool,
    ) -> bool {
        !topic.starts_with("deny")
    }
}

#[test]
fn unauthorized_publish_is_refused_and_its_qos2_id_is_free_again_mqtt_4_3_3_9() {
    // v5: PUBACK/PUBREC 0x87; after a PUBREC of 0x80 or more, the same
    // identifier is a new message [MQTT-4.3.3-9]. 3.1.1: a positive
    // acknowledgement and the message is dropped [MQTT-3.3.5-2 (3.1.1)].
    let mut s = Sim::with_hooks(cfg(), Box::new(DenyTopics));
    let all = s.connect("all", V5, true);
    s.subscribe(all, "#", QoS::ExactlyOnce);
    let p5 = s.connect("p5", V5, true);
    s.publish(p5, "deny/x", b"no", QoS::ExactlyOnce, false, 4);
    match s.recv(p5) {
        Some(Packet::PubRec(r)) => {
            assert_eq!(r.packet_id, pid(4));
            assert_eq!(r.reason, ReasonCode::NotAuthorized);
        }
        other => panic!("{other:?}"),
    }
    s.publish(p5, "ok/x", b"yes", QoS::ExactlyOnce, false, 4);
    assert_eq!(
        s.recv_all(p5),
        vec![Packet::PubRec(PubResponse::new(pid(4)))]
    );
    assert_eq!(payloads(&s.publishes(all)), vec![b"yes".to_vec()]);

    let p3 = s.connect("p3", V311, true);
    s.publish(p3, "deny/y", b"no", QoS::AtLeastOnce, false, 1);
    assert_eq!(
        s.recv_all(p3),
        vec![Packet::PubAck(PubResponse::new(pid(1)))]
    );
    assert!(!s.is_closed(p3));
    assert!(s.publishes(all).is_empty());
}

#[test]
fn message_expiry_interval_0_reaches_connected_subscribers_only_mqtt_3_3_2_5() {
    // A lifetime of 0: delivery to a connected subscriber starts at once;
    // nothing is kept for an offline session.
    let mut s = Sim::new(cfg());
    offline_subscriber(&mut s, "off", V5, "t", QoS::AtLeastOnce);
    let live = s.connect("live", V5, true);
    s.subscribe(live, "t", QoS::AtLeastOnce);
    let publ = s.connect("pub", V5, true);
    let p = with_props(
        publish("t", b"now or never", QoS::AtLeastOnce, false, 1),
        Properties {
            message_expiry_interval: Some(0),
            ..Default::default()
        },
    );
    s.send_publish(publ, p);
    let got = s.publishes(live);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].properties.message_expiry_interval, Some(0));
    assert_eq!(s.broker.stats(s.now).queued_messages, 0);
    assert!(s.events.iter().any(|e| *e
        == Event::Dropped {
            client_id: "off".into(),
            topic: "t".into(),
            why: DropReason::Expired
        }));
    let (off, _) = s.connect_persistent("off", V5);
    assert!(s.publishes(off).is_empty());
}

#[test]
fn session_takeover_resends_inflight_messages_with_dup_mqtt_4_4_0_1() {
    // [MQTT-3.1.4-3]: the existing connection is closed; the session goes
    // on with the new one, which gets the unacknowledged PUBLISH again.
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let (old, _) = s.connect_persistent("sub", v);
        s.subscribe(old, "t", QoS::AtLeastOnce);
        let publ = s.connect("pub", v, true);
        s.publish(publ, "t", b"x", QoS::AtLeastOnce, false, 1);
        let first = s.publishes(old);
        let (new, present) = s.connect_persistent("sub", v);
        assert!(present);
        assert!(s.is_closed(old), "{v:?}");
        let again = s.publishes(new);
        assert_eq!(again.len(), 1, "{v:?}");
        assert!(again[0].dup);
        assert_eq!(again[0].packet_id, first[0].packet_id);
    }
}

/// [MQTT-3.3.4-9]: after a reconnect the in-flight messages are resent only
/// as far as the client's new Receive Maximum allows; the rest follow as
/// acknowledgements free the window, in order.
#[test]
fn mqtt_3_3_4_9_resend_after_reconnect_respects_the_new_receive_maximum() {
    let mut s = Sim::new(cfg());
    let (sub, _) = s.connect_persistent("sub", V5);
    s.subscribe(sub, "t", QoS::AtLeastOnce);
    let p = s.connect("pub", V5, true);
    for i in 0..10 {
        s.publish(
            p,
            "t",
            format!("{i}").as_bytes(),
            QoS::AtLeastOnce,
            false,
            i + 1,
        );
    }
    assert_eq!(s.publishes(sub).len(), 10);
    s.drop_conn(sub);
    let mut c = connect_packet("sub", V5, false);
    c.properties = Properties {
        session_expiry_interval: Some(3600),
        receive_maximum: Some(2),
        ..Default::default()
    };
    let (sub2, _) = s.connect_with(c);
    let first = s.publishes(sub2);
    assert_eq!(first.len(), 2, "only the new Receive Maximum's worth");
    assert!(first.iter().all(|p| p.dup));
    let mut seen: Vec<Vec<u8>> = first.iter().map(|p| p.payload.to_vec()).collect();
    let mut pending: Vec<PacketId> = first.iter().map(|p| p.packet_id.unwrap()).collect();
    while let Some(id) = pending.pop() {
        s.puback(sub2, id);
        for p in s.publishes(sub2) {
            pending.push(p.packet_id.unwrap());
            seen.push(p.payload.to_vec());
        }
        assert!(pending.len() <= 2, "never more than 2 unacknowledged");
    }
    let mut expected: Vec<Vec<u8>> = (0..10).map(|i| format!("{i}").into_bytes()).collect();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);
}

/// Spec 4.9: the Receive Maximum quota starts afresh on each connection:
/// unreleased QoS 2 identifiers from an earlier connection do not count.
#[test]
fn receive_maximum_quota_is_per_connection() {
    let mut s = Sim::new(Config {
        receive_maximum: 2,
        ..cfg()
    });
    let (p, _) = s.connect_persistent("pub", V5);
    s.publish(p, "t", b"a", QoS::ExactlyOnce, false, 1);
    s.publish(p, "t", b"b", QoS::ExactlyOnce, false, 2);
    s.recv_all(p);
    s.drop_conn(p);
    let (p2, _) = s.connect_persistent("pub", V5);
    s.publish(p2, "t", b"c", QoS::ExactlyOnce, false, 3);
    assert!(!s.is_closed(p2), "not disconnected with 0x93");
}

#[test]
fn stats_count_publishes_received_and_sent_by_qos_with_a_subscription_downgrading_them() {
    let mut s = Sim::new(Config {
        durability: Durability::Memory,
        ..cfg()
    });
    // Granted QoS 1: a QoS 2 message goes out at QoS 1 [MQTT-3.8.4-8].
    let (sub, publ) = pair(&mut s, ProtocolVersion::V5, "t/#", QoS::AtLeastOnce);
    s.publish(publ, "t/0", b"a", QoS::AtMostOnce, false, 0);
    s.publish(publ, "t/1", b"b", QoS::AtLeastOnce, false, 1);
    s.publish(publ, "t/2", b"c", QoS::ExactlyOnce, false, 2);
    s.publish(publ, "t/2", b"d", QoS::ExactlyOnce, false, 3);
    let got = s.publishes(sub);
    assert_eq!(got.len(), 4);
    let st = s.broker.stats(s.now);
    assert_eq!(st.messages_received_by_qos, [1, 1, 2]);
    assert_eq!(st.messages_sent_by_qos, [1, 3, 0]);
    assert_eq!(st.messages_received, 4);
    assert_eq!(st.messages_sent, 4);
}
