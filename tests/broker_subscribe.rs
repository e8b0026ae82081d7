//! Subscriptions: wildcards, `$` topics, overlapping subscriptions, No
//! Local, subscription identifiers, SUBACK/UNSUBACK reason codes, replacing
//! and removing subscriptions, limits, and shared subscriptions. Every test
//! names the normative statement it checks (MQTT 5.0 numbering unless
//! marked "3.1.1").

mod sim;
use sim::*;
use tabmq::broker::{Config, ConnId};
use tabmq::codec::{Packet, PubResponse, Publish, SubscriptionOptions};

fn cfg() -> Config {
    Config {
        sys_interval_secs: 0,
        ..Config::default()
    }
}

fn topics(ps: &[Publish]) -> Vec<String> {
    ps.iter().map(|p| p.topic.clone()).collect()
}

fn payloads(ps: &[Publish]) -> Vec<Vec<u8>> {
    ps.iter().map(|p| p.payload.to_vec()).collect()
}

fn opts(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions::qos(qos)
}

fn no_local(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions {
        no_local: true,
        ..opts(qos)
    }
}

fn id_of(p: &Publish) -> PacketId {
    p.packet_id.expect("QoS > 0")
}

// ------------------------------------------------------------- wildcards

#[test]
fn single_level_wildcard_matches_exactly_one_level_mqtt_4_7_1_2() {
    // 3.1.1: [MQTT-4.7.1-3]; 5.0 spec 4.7.1.3.
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let sub = s.connect("sub", v, true);
        s.subscribe(sub, "sport/+/player", QoS::AtMostOnce);
        s.subscribe(sub, "+", QoS::AtMostOnce);
        let publ = s.connect("pub", v, true);
        for t in [
            "sport/tennis/player",
            "sport//player",
            "sport/tennis/x/player",
            "sport/player",
            "top",
            "/top",
        ] {
            s.publish(publ, t, b"", QoS::AtMostOnce, false, 0);
        }
        assert_eq!(
            topics(&s.publishes(sub)),
            vec!["sport/tennis/player", "sport//player", "top"],
            "{v:?}"
        );
    }
}

#[test]
fn multi_level_wildcard_matches_parent_and_all_children_mqtt_4_7_1_2() {
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let sub = s.connect("sub", v, true);
        s.subscribe(sub, "sport/tennis/#", QoS::AtMostOnce);
        let all = s.connect("all", v, true);
        s.subscribe(all, "#", QoS::AtMostOnce);
        let publ = s.connect("pub", v, true);
        for t in [
            "sport/tennis",
            "sport/tennis/p1",
            "sport/tennis/p1/r",
            "sport",
            "sport/tennisx",
        ] {
            s.publish(publ, t, b"", QoS::AtMostOnce, false, 0);
        }
        assert_eq!(
            topics(&s.publishes(sub)),
            vec!["sport/tennis", "sport/tennis/p1", "sport/tennis/p1/r"],
            "{v:?}"
        );
        assert_eq!(s.publishes(all).len(), 5);
    }
}

#[test]
fn dollar_topics_are_not_matched_by_a_leading_wildcard_mqtt_4_7_2_1() {
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let wild = s.connect("wild", v, true);
        s.subscribe(wild, "#", QoS::AtMostOnce);
        s.subscribe(wild, "+/info", QoS::AtMostOnce);
        let dollar = s.connect("dollar", v, true);
        s.subscribe(dollar, "$app/#", QoS::AtMostOnce);
        s.subscribe(dollar, "$app/+", QoS::AtMostOnce);
        let publ = s.connect("pub", v, true);
        s.publish(publ, "$app/info", b"", QoS::AtMostOnce, false, 0);
        s.publish(publ, "app/info", b"", QoS::AtMostOnce, false, 0);
        assert_eq!(topics(&s.publishes(wild)), vec!["app/info"], "{v:?}");
        assert_eq!(topics(&s.publishes(dollar)), vec!["$app/info"], "{v:?}");
    }
}

#[test]
fn sys_topics_reach_sys_hash_but_not_hash_mqtt_4_7_2_1() {
    for v in [V5, V311] {
        let mut s = Sim::new(Config {
            sys_interval_secs: 1,
            ..Config::default()
        });
        let wild = s.connect("wild", v, true);
        s.subscribe(wild, "#", QoS::AtMostOnce);
        s.subscribe(wild, "+/broker/#", QoS::AtMostOnce);
        let sys = s.connect("sys", v, true);
        s.subscribe(sys, "$SYS/#", QoS::AtMostOnce);
        s.advance(1_000);
        assert!(s.publishes(wild).is_empty(), "{v:?}");
        let got = s.publishes(sys);
        assert!(!got.is_empty());
        assert!(got.iter().all(|p| p.topic.starts_with("$SYS/broker/")));
        assert!(got.iter().any(|p| p.topic == "$SYS/broker/uptime"));
    }
}

// ------------------------------------------------ overlapping subscriptions

#[test]
fn overlapping_subscriptions_give_one_delivery_at_max_qos_with_all_ids_mqtt_3_3_4_2_to_4() {
    let mut s = Sim::new(cfg());
    let sub = s.connect("sub", V5, true);
    s.subscribe_with(sub, "a/+", opts(QoS::AtLeastOnce), Some(1));
    s.subscribe_with(sub, "a/#", opts(QoS::AtMostOnce), Some(2));
    s.subscribe_with(sub, "a/b", opts(QoS::ExactlyOnce), None);
    s.subscribe_with(sub, "x/#", opts(QoS::AtMostOnce), Some(3));
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "a/b", b"m", QoS::ExactlyOnce, false, 1);
    let got = s.publishes(sub);
    assert_eq!(got.len(), 1, "one copy");
    // [MQTT-3.3.4-2]: the maximum QoS of the matching subscriptions.
    assert_eq!(got[0].qos, QoS::ExactlyOnce);
    // [MQTT-3.3.4-3], [MQTT-3.3.4-4]: every matching identifier, any order.
    let mut ids = got[0].properties.subscription_identifiers.clone();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2]);
}

#[test]
fn v311_overlapping_subscriptions_deliver_at_max_qos_mqtt_3_3_5_1() {
    // 3.1.1 [MQTT-3.3.5-1]: the maximum QoS of all matching subscriptions.
    let mut s = Sim::new(cfg());
    let sub = s.connect("sub", V311, true);
    s.subscribe(sub, "a/+", QoS::AtMostOnce);
    s.subscribe(sub, "a/#", QoS::AtLeastOnce);
    let publ = s.connect("pub", V311, true);
    s.publish(publ, "a/b", b"m", QoS::ExactlyOnce, false, 1);
    let got = s.publishes(sub);
    assert_eq!(got.len(), 1, "this broker sends one copy");
    assert_eq!(got[0].qos, QoS::AtLeastOnce);
}

#[test]
fn subscription_identifier_is_sent_and_replaced_with_the_subscription_mqtt_3_3_4_3() {
    let mut s = Sim::new(cfg());
    let sub = s.connect("sub", V5, true);
    s.subscribe_with(sub, "id/t", opts(QoS::AtMostOnce), Some(268_435_455));
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "id/t", b"1", QoS::AtMostOnce, false, 0);
    assert_eq!(
        s.publishes(sub)[0].properties.subscription_identifiers,
        vec![268_435_455]
    );
    // Replacing the subscription without an identifier drops it.
    s.subscribe_with(sub, "id/t", opts(QoS::AtMostOnce), None);
    s.publish(publ, "id/t", b"2", QoS::AtMostOnce, false, 0);
    assert!(s.publishes(sub)[0]
        .properties
        .subscription_identifiers
        .is_empty());
    // Several filters in one SUBSCRIBE share its identifier.
    s.subscribe_many(
        sub,
        &[
            ("m/1", opts(QoS::AtMostOnce)),
            ("m/2", opts(QoS::AtMostOnce)),
        ],
        Some(9),
    );
    s.publish(publ, "m/2", b"3", QoS::AtMostOnce, false, 0);
    assert_eq!(
        s.publishes(sub)[0].properties.subscription_identifiers,
        vec![9]
    );
}

// ----------------------------------------------------------------- no local

#[test]
fn no_local_does_not_echo_own_messages_mqtt_3_8_3_3() {
    let mut s = Sim::new(cfg());
    let me = s.connect("me", V5, true);
    s.subscribe_with(me, "chat", no_local(QoS::AtLeastOnce), None);
    let other = s.connect("other", V5, true);
    s.subscribe_with(other, "chat", opts(QoS::AtLeastOnce), None);
    s.publish(me, "chat", b"mine", QoS::AtLeastOnce, false, 1);
    assert_eq!(
        s.recv_all(me),
        vec![Packet::PubAck(PubResponse::new(pid(1)))],
        "acknowledged, not echoed"
    );
    assert_eq!(payloads(&s.publishes(other)), vec![b"mine".to_vec()]);
    s.publish(other, "chat", b"theirs", QoS::AtMostOnce, false, 0);
    assert_eq!(payloads(&s.publishes(me)), vec![b"theirs".to_vec()]);
    // Without No Local, a client gets its own message.
    s.publish(other, "chat", b"echo", QoS::AtMostOnce, false, 0);
    assert_eq!(
        payloads(&s.publishes(other)),
        vec![b"theirs".to_vec(), b"echo".to_vec()]
    );
}

#[test]
fn no_local_on_a_shared_subscription_is_a_protocol_error_mqtt_3_8_3_4() {
    let mut s = Sim::new(cfg());
    let c = s.connect("c", V5, true);
    let sub = tabmq::codec::Subscribe {
        packet_id: pid(1),
        properties: Default::default(),
        subscriptions: vec![tabmq::codec::Subscription {
            filter: "$share/g/t".into(),
            options: no_local(QoS::AtMostOnce),
        }],
    };
    // The encoder refuses this packet, so write it by hand: SUBSCRIBE id 1,
    // no properties, "$share/g/t", options 0x04 (No Local).
    assert!(Packet::Subscribe(sub).to_bytes(V5).is_err());
    let mut raw = vec![0x82, 0, 0, 1, 0];
    raw.extend_from_slice(&[0, 10]);
    raw.extend_from_slice(b"$share/g/t");
    raw.push(0x04);
    raw[1] = (raw.len() - 2) as u8;
    s.send_raw(c, &raw);
    assert_eq!(s.disconnect_reason(c), Some(ReasonCode::ProtocolError));
}

// ------------------------------------------------------ SUBACK / UNSUBACK

#[test]
fn suback_has_one_granted_qos_per_filter_in_order_mqtt_3_8_4_5_and_3_9_3_1() {
    // Also 3.1.1 [MQTT-3.8.4-5] and [MQTT-3.9.3-1]; multiple filters act as
    // a sequence of SUBSCRIBEs [MQTT-3.8.4-4].
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let c = s.connect("c", v, true);
        let reasons = s.subscribe_many(
            c,
            &[
                ("q/2", opts(QoS::ExactlyOnce)),
                ("q/0", opts(QoS::AtMostOnce)),
                ("q/1", opts(QoS::AtLeastOnce)),
            ],
            None,
        );
        assert_eq!(
            reasons,
            vec![
                ReasonCode::GrantedQos2,
                ReasonCode::GRANTED_QOS_0,
                ReasonCode::GrantedQos1
            ],
            "{v:?}"
        );
        assert_eq!(s.broker.stats(s.now).subscriptions, 3);
    }
}

#[test]
fn unsuback_reason_codes_0x00_and_0x11_in_v5() {
    // Spec 3.11.3: 0x11 No subscription existed. An UNSUBACK is sent even
    // when nothing was removed [MQTT-3.10.4-5].
    let mut s = Sim::new(cfg());
    let c = s.connect("c", V5, true);
    s.subscribe(c, "u/a", QoS::AtMostOnce);
    assert_eq!(
        s.unsubscribe(c, &["u/a", "u/b", "u/+"]),
        vec![
            ReasonCode::Success,
            ReasonCode::NoSubscriptionExisted,
            ReasonCode::NoSubscriptionExisted
        ]
    );
    let c3 = s.connect("c3", V311, true);
    assert!(
        s.unsubscribe(c3, &["nothing"]).is_empty(),
        "3.1.1 has no reasons"
    );
}

#[test]
fn unsubscribe_compares_filters_character_by_character_mqtt_3_10_4_1() {
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let c = s.connect("c", v, true);
        s.subscribe(c, "w/+", QoS::AtMostOnce);
        s.unsubscribe(c, &["w/x"]); // not the same filter, though it matches
        let publ = s.connect("pub", v, true);
        s.publish(publ, "w/x", b"", QoS::AtMostOnce, false, 0);
        assert_eq!(s.publishes(c).len(), 1, "{v:?}: still subscribed");
        s.unsubscribe(c, &["w/+"]);
        s.publish(publ, "w/x", b"", QoS::AtMostOnce, false, 0);
        assert!(s.publishes(c).is_empty());
    }
}

#[test]
fn unsubscribe_stops_new_messages_and_completes_inflight_mqtt_3_10_4_2_and_3() {
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let c = s.connect("c", v, true);
        s.subscribe(c, "t", QoS::ExactlyOnce);
        let publ = s.connect("pub", v, true);
        s.publish(publ, "t", b"before", QoS::ExactlyOnce, false, 1);
        let inflight = s.publishes(c);
        assert_eq!(inflight.len(), 1);
        s.unsubscribe(c, &["t"]);
        s.publish(publ, "t", b"after", QoS::AtLeastOnce, false, 2);
        assert!(s.publishes(c).is_empty(), "{v:?}: [MQTT-3.10.4-2]");
        // [MQTT-3.10.4-3]: the QoS 2 exchange already started completes.
        let id = id_of(&inflight[0]);
        s.pubrec(c, id);
        assert_eq!(s.recv_all(c), vec![Packet::PubRel(PubResponse::new(id))]);
        s.pubcomp(c, id);
        assert_eq!(s.broker.stats(s.now).inflight_messages, 0);
    }
}

#[test]
fn subscribing_again_replaces_the_subscription_mqtt_3_8_4_3() {
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let c = s.connect("c", v, true);
        s.subscribe(c, "r", QoS::AtMostOnce);
        s.subscribe(c, "r", QoS::ExactlyOnce);
        assert_eq!(s.broker.stats(s.now).subscriptions, 1, "{v:?}");
        let publ = s.connect("pub", v, true);
        s.publish(publ, "r", b"x", QoS::ExactlyOnce, false, 1);
        let got = s.publishes(c);
        assert_eq!(got.len(), 1, "one subscription, one copy");
        assert_eq!(got[0].qos, QoS::ExactlyOnce, "the new options apply");
        // ... and replacing it again does not lose the message in flight.
        s.subscribe(c, "r", QoS::AtLeastOnce);
        let id = id_of(&got[0]);
        s.pubrec(c, id);
        assert_eq!(s.recv_all(c), vec![Packet::PubRel(PubResponse::new(id))]);
    }
}

#[test]
fn subscriptions_over_the_per_client_maximum_get_0x97() {
    // v5 0x97 Quota exceeded (spec 3.9.3); 3.1.1 0x80 Failure [MQTT-3.9.3-2 (3.1.1)].
    for (v, refused) in [
        (V5, ReasonCode::QuotaExceeded),
        (V311, ReasonCode::UnspecifiedError),
    ] {
        let mut s = Sim::new(Config {
            max_subscriptions_per_client: 2,
            ..cfg()
        });
        let c = s.connect("c", v, true);
        let reasons = s.subscribe_many(
            c,
            &[
                ("s/1", opts(QoS::AtLeastOnce)),
                ("s/2", opts(QoS::AtLeastOnce)),
                ("s/3", opts(QoS::AtLeastOnce)),
            ],
            None,
        );
        assert_eq!(
            reasons,
            vec![ReasonCode::GrantedQos1, ReasonCode::GrantedQos1, refused],
            "{v:?}"
        );
        // Replacing one held already is not a new one.
        assert_eq!(
            s.subscribe_with(c, "s/1", opts(QoS::ExactlyOnce), None),
            vec![ReasonCode::GrantedQos2]
        );
        let publ = s.connect("pub", v, true);
        s.publish(publ, "s/3", b"", QoS::AtMostOnce, false, 0);
        assert!(s.publishes(c).is_empty(), "the refused filter is not held");
    }
}

#[test]
fn topic_filter_over_the_length_or_level_limit_is_refused() {
    // v5 SUBACK 0x8F Topic Filter invalid; 3.1.1 0x80.
    for (v, refused) in [
        (V5, ReasonCode::TopicFilterInvalid),
        (V311, ReasonCode::UnspecifiedError),
    ] {
        let mut s = Sim::new(Config {
            max_topic_length: 10,
            max_topic_levels: 3,
            ..cfg()
        });
        let c = s.connect("c", v, true);
        let reasons = s.subscribe_many(
            c,
            &[
                ("a/b/c", opts(QoS::AtMostOnce)),
                ("a/b/c/d", opts(QoS::AtMostOnce)),
                ("abcdefghijk", opts(QoS::AtMostOnce)),
                ("abcdefghij", opts(QoS::AtMostOnce)),
            ],
            None,
        );
        assert_eq!(
            reasons,
            vec![
                ReasonCode::GRANTED_QOS_0,
                refused,
                refused,
                ReasonCode::GRANTED_QOS_0
            ],
            "{v:?}"
        );
        assert_eq!(s.broker.stats(s.now).subscriptions, 2);
    }
}

#[test]
fn topic_name_over_the_limit_is_refused_with_0x90() {
    // v5: PUBACK 0x90 Topic Name invalid, or DISCONNECT 0x90 at QoS 0;
    // 3.1.1 cannot refuse a PUBLISH, so the connection closes.
    let limits = Config {
        max_topic_length: 10,
        max_topic_levels: 3,
        ..cfg()
    };
    let mut s = Sim::new(limits.clone());
    let all = s.connect("all", V5, true);
    s.subscribe(all, "#", QoS::AtMostOnce);
    let p = s.connect("p", V5, true);
    s.publish(p, "a/b/c/d", b"", QoS::AtLeastOnce, false, 1);
    s.publish(p, "abcdefghijk", b"", QoS::ExactlyOnce, false, 2);
    let acks = s.recv_all(p);
    assert!(matches!(&acks[0], Packet::PubAck(a) if a.reason == ReasonCode::TopicNameInvalid));
    assert!(matches!(&acks[1], Packet::PubRec(a) if a.reason == ReasonCode::TopicNameInvalid));
    s.publish(p, "a/b/c/d", b"", QoS::AtMostOnce, false, 0);
    assert_eq!(s.disconnect_reason(p), Some(ReasonCode::TopicNameInvalid));
    assert!(s.publishes(all).is_empty());

    let p3 = s.connect("p3", V311, true);
    s.publish(p3, "a/b/c/d", b"", QoS::AtLeastOnce, false, 1);
    assert!(s.is_closed(p3));
    assert!(s.publishes(all).is_empty());
}

// ------------------------------------------------------ shared subscriptions

/// Shared-group members `m0..m{n}` on `$share/g/job`, all MQTT 5.
fn members(s: &mut Sim, n: usize, qos: QoS) -> Vec<ConnId> {
    (0..n)
        .map(|i| {
            let c = s.connect(&format!("m{i}"), V5, true);
            s.subscribe(c, "$share/g/job", qos);
            c
        })
        .collect()
}

#[test]
fn shared_subscription_delivers_each_message_to_one_member_round_robin() {
    // Spec 4.8.2: each message goes to exactly one session of the group.
    let mut s = Sim::new(cfg());
    let m = members(&mut s, 3, QoS::AtMostOnce);
    let plain = s.connect("plain", V5, true);
    s.subscribe(plain, "job", QoS::AtMostOnce);
    let other_group = s.connect("h", V5, true);
    s.subscribe(other_group, "$share/h/job", QoS::AtMostOnce);
    let publ = s.connect("pub", V5, true);
    for i in 0..6u8 {
        s.publish(publ, "job", &[i], QoS::AtMostOnce, false, 0);
    }
    let got: Vec<Vec<Vec<u8>>> = m.iter().map(|&c| payloads(&s.publishes(c))).collect();
    assert_eq!(
        got,
        vec![
            vec![vec![0], vec![3]],
            vec![vec![1], vec![4]],
            vec![vec![2], vec![5]]
        ]
    );
    assert_eq!(s.publishes(plain).len(), 6, "a plain subscription gets all");
    assert_eq!(s.publishes(other_group).len(), 6, "each group gets a copy");
}

#[test]
fn shared_members_leave_by_unsubscribe_or_clean_disconnect_and_join() {
    let mut s = Sim::new(cfg());
    let m = members(&mut s, 3, QoS::AtMostOnce);
    let publ = s.connect("pub", V5, true);
    s.unsubscribe(m[0], &["$share/g/job"]);
    s.disconnect(m[1]); // clean session: it ends, and its membership with it
    for i in 0..3u8 {
        s.publish(publ, "job", &[i], QoS::AtMostOnce, false, 0);
    }
    assert!(s.publishes(m[0]).is_empty());
    assert_eq!(s.publishes(m[2]).len(), 3);
    let late = s.connect("late", V5, true);
    s.subscribe(late, "$share/g/job", QoS::AtMostOnce);
    for i in 0..4u8 {
        s.publish(publ, "job", &[i], QoS::AtMostOnce, false, 0);
    }
    assert_eq!(s.publishes(m[2]).len(), 2);
    assert_eq!(s.publishes(late).len(), 2);
}

#[test]
fn shared_messages_of_a_member_whose_session_ends_go_to_another_member() {
    // Spec 4.8.2: a QoS 1 message sent to a member whose session ends
    // before it acknowledged goes to another member; so do messages queued
    // for it. None is lost, none is duplicated within the group.
    let mut s = Sim::new(Config {
        max_inflight: 1,
        ..cfg()
    });
    let m = members(&mut s, 2, QoS::AtLeastOnce);
    let publ = s.connect("pub", V5, true);
    for i in 0..4u8 {
        s.publish(publ, "job", &[i], QoS::AtLeastOnce, false, u16::from(i) + 1);
    }
    let to_first = s.publishes(m[0]);
    assert_eq!(to_first.len(), 1, "one in flight, the rest queued");
    s.drop_conn(m[0]);
    let mut received = Vec::new();
    loop {
        let got = s.publishes(m[1]);
        if got.is_empty() {
            break;
        }
        for p in got {
            received.push(p.payload[0]);
            s.puback(m[1], id_of(&p));
        }
    }
    received.sort_unstable();
    assert_eq!(received, vec![0, 1, 2, 3]);
    assert_eq!(s.broker.stats(s.now).queued_messages, 0);
}

#[test]
fn shared_queued_messages_of_an_unsubscribing_member_go_to_another_member() {
    let mut s = Sim::new(Config {
        max_inflight: 1,
        ..cfg()
    });
    let m = members(&mut s, 2, QoS::AtLeastOnce);
    let publ = s.connect("pub", V5, true);
    for i in 0..4u8 {
        s.publish(publ, "job", &[i], QoS::AtLeastOnce, false, u16::from(i) + 1);
    }
    let first = s.publishes(m[0]);
    assert_eq!(first.len(), 1);
    s.unsubscribe(m[0], &["$share/g/job"]);
    // The one in flight stays with m0 and completes [MQTT-3.10.4-3].
    s.puback(m[0], id_of(&first[0]));
    assert!(s.publishes(m[0]).is_empty());
    let mut received = vec![first[0].payload[0]];
    loop {
        let got = s.publishes(m[1]);
        if got.is_empty() {
            break;
        }
        for p in got {
            received.push(p.payload[0]);
            s.puback(m[1], id_of(&p));
        }
    }
    received.sort_unstable();
    assert_eq!(received, vec![0, 1, 2, 3]);
}

#[test]
fn shared_qos2_already_sent_is_not_given_to_another_member_mqtt_4_8_2_5() {
    let mut s = Sim::new(cfg());
    let m = members(&mut s, 2, QoS::ExactlyOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "job", b"q2", QoS::ExactlyOnce, false, 1);
    assert_eq!(s.publishes(m[0]).len(), 1);
    s.drop_conn(m[0]); // clean session: it ends before the client returns
    assert!(s.publishes(m[1]).is_empty());
    assert_eq!(s.broker.stats(s.now).inflight_messages, 0);
}

#[test]
fn shared_message_refused_by_a_member_is_discarded_mqtt_4_8_2_6() {
    let mut s = Sim::new(cfg());
    let m = members(&mut s, 2, QoS::AtLeastOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "job", b"no", QoS::AtLeastOnce, false, 1);
    let got = s.publishes(m[0]);
    s.send(
        m[0],
        Packet::PubAck(PubResponse::with_reason(
            id_of(&got[0]),
            ReasonCode::UnspecifiedError,
        )),
    );
    s.drop_conn(m[0]);
    assert!(s.publishes(m[1]).is_empty());
    assert_eq!(s.broker.stats(s.now).inflight_messages, 0);
}

#[test]
fn shared_subscription_respects_each_members_granted_qos_mqtt_4_8_2_3() {
    let mut s = Sim::new(cfg());
    let a = s.connect("a", V5, true);
    s.subscribe(a, "$share/g/job", QoS::AtMostOnce);
    let b = s.connect("b", V5, true);
    s.subscribe(b, "$share/g/job", QoS::AtLeastOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "job", b"1", QoS::ExactlyOnce, false, 1);
    s.publish(publ, "job", b"2", QoS::ExactlyOnce, false, 2);
    let (ga, gb) = (s.publishes(a), s.publishes(b));
    assert_eq!((ga.len(), gb.len()), (1, 1));
    assert_eq!(ga[0].qos, QoS::AtMostOnce);
    assert_eq!(gb[0].qos, QoS::AtLeastOnce);
}

#[test]
fn shared_subscription_prefers_connected_members_over_offline_ones() {
    let mut s = Sim::new(cfg());
    let (p, _) = s.connect_persistent("persistent", V5);
    s.subscribe(p, "$share/g/job", QoS::AtLeastOnce);
    let live = s.connect("live", V5, true);
    s.subscribe(live, "$share/g/job", QoS::AtLeastOnce);
    s.disconnect(p);
    let publ = s.connect("pub", V5, true);
    for i in 0..4u8 {
        s.publish(publ, "job", &[i], QoS::AtLeastOnce, false, u16::from(i) + 1);
    }
    assert_eq!(s.publishes(live).len(), 4);
    let (p, present) = s.connect_persistent("persistent", V5);
    assert!(present);
    assert!(s.publishes(p).is_empty());
    // Back online, it takes its turn again.
    for i in 0..4u8 {
        s.publish(publ, "job", &[i], QoS::AtMostOnce, false, 0);
    }
    assert_eq!(s.publishes(p).len(), 2);
    assert_eq!(s.publishes(live).len(), 2);
}

#[test]
fn topic_limits_apply_to_the_filter_of_a_shared_subscription() {
    // `$share/group/` is not part of what is matched (spec 4.8.2): a shared
    // subscription to a filter within the limits is accepted.
    let mut s = Sim::new(Config {
        max_topic_length: 10,
        max_topic_levels: 3,
        ..cfg()
    });
    let c = s.connect("c", V5, true);
    let reasons = s.subscribe_many(
        c,
        &[
            ("$share/group/a/b/c", opts(QoS::AtMostOnce)),
            ("$share/group/a/b/c/d", opts(QoS::AtMostOnce)),
            ("$share/g/abcdefghijk", opts(QoS::AtMostOnce)),
        ],
        None,
    );
    assert_eq!(
        reasons,
        vec![
            ReasonCode::GRANTED_QOS_0,
            ReasonCode::TopicFilterInvalid,
            ReasonCode::TopicFilterInvalid
        ]
    );
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "a/b/c", b"", QoS::AtMostOnce, false, 0);
    assert_eq!(s.publishes(c).len(), 1);
}

#[test]
fn shared_qos2_to_a_member_that_reconnects_is_completed_with_it_mqtt_4_8_2_4() {
    let mut s = Sim::new(cfg());
    let (p, _) = s.connect_persistent("persistent", V5);
    s.subscribe(p, "$share/g/job", QoS::ExactlyOnce);
    let other = s.connect("other", V5, true);
    s.subscribe(other, "$share/g/job", QoS::ExactlyOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "job", b"q2", QoS::ExactlyOnce, false, 1);
    let first = s.publishes(p);
    assert_eq!(first.len(), 1, "round robin starts with the first member");
    s.drop_conn(p);
    assert!(s.publishes(other).is_empty());
    let (p, present) = s.connect_persistent("persistent", V5);
    assert!(present);
    let again = s.publishes(p);
    assert_eq!(again.len(), 1);
    assert!(again[0].dup);
    assert_eq!(again[0].packet_id, first[0].packet_id);
}
