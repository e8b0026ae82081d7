//! Retained messages: set, replace, clear, the RETAIN flag on delivery,
//! Retain Handling and Retain As Published, expiry, ordering after SUBACK,
//! shared subscriptions and `$` topics. Every test names the normative
//! statement it checks (MQTT 5.0 numbering unless marked "3.1.1").

mod sim;
use sim::*;
use tabmq::broker::{Config, Durability};
use tabmq::codec::{Packet, Properties, PubResponse, Publish, RetainHandling, SubscriptionOptions};

fn cfg() -> Config {
    Config {
        sys_interval_secs: 0,
        ..Config::default()
    }
}

fn payloads(ps: &[Publish]) -> Vec<Vec<u8>> {
    ps.iter().map(|p| p.payload.to_vec()).collect()
}

fn handling(qos: QoS, retain_handling: RetainHandling) -> SubscriptionOptions {
    SubscriptionOptions {
        retain_handling,
        ..SubscriptionOptions::qos(qos)
    }
}

fn retain_as_published(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions {
        retain_as_published: true,
        ..SubscriptionOptions::qos(qos)
    }
}

#[test]
fn retained_message_is_sent_to_a_new_subscriber_with_retain_1() {
    // 3.1.1 [MQTT-3.3.1-5] stored, [MQTT-3.3.1-6] sent to new subscribers,
    // [MQTT-3.3.1-8] with RETAIN 1; 5.0 [MQTT-3.3.1-5], [MQTT-3.3.1-9].
    for (pv, sv) in [(V5, V5), (V311, V311), (V5, V311), (V311, V5)] {
        let mut s = Sim::new(cfg());
        let publ = s.connect("pub", pv, true);
        s.publish(publ, "r/t", b"kept", QoS::AtLeastOnce, true, 1);
        assert_eq!(s.broker.stats(s.now).retained, 1);
        let sub = s.connect("sub", sv, true);
        s.subscribe(sub, "r/t", QoS::AtLeastOnce);
        let got = s.publishes(sub);
        assert_eq!(payloads(&got), vec![b"kept".to_vec()], "{pv:?} -> {sv:?}");
        assert!(got[0].retain);
        assert!(!got[0].dup);
        assert_eq!(got[0].qos, QoS::AtLeastOnce);
    }
}

#[test]
fn retained_message_is_replaced_mqtt_3_3_1_5() {
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let publ = s.connect("pub", v, true);
        s.publish(publ, "r", b"old", QoS::AtLeastOnce, true, 1);
        // 3.1.1 [MQTT-3.3.1-7]: a QoS 0 retained message replaces it too.
        s.publish(publ, "r", b"new", QoS::AtMostOnce, true, 0);
        let sub = s.connect("sub", v, true);
        s.subscribe(sub, "r", QoS::ExactlyOnce);
        let got = s.publishes(sub);
        assert_eq!(payloads(&got), vec![b"new".to_vec()], "{v:?}");
        assert_eq!(got[0].qos, QoS::AtMostOnce);
        assert_eq!(s.broker.stats(s.now).retained, 1);
    }
}

#[test]
fn empty_retained_payload_clears_and_is_still_forwarded_mqtt_3_3_1_6_and_7() {
    // 3.1.1: [MQTT-3.3.1-10], [MQTT-3.3.1-11].
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let live = s.connect("live", v, true);
        s.subscribe(live, "r", QoS::AtMostOnce);
        let publ = s.connect("pub", v, true);
        s.publish(publ, "r", b"value", QoS::AtMostOnce, true, 0);
        s.publish(publ, "r", b"", QoS::AtLeastOnce, true, 1);
        assert_eq!(
            payloads(&s.publishes(live)),
            vec![b"value".to_vec(), Vec::new()],
            "{v:?}: processed as normal"
        );
        assert_eq!(s.broker.stats(s.now).retained, 0);
        let sub = s.connect("sub", v, true);
        s.subscribe(sub, "r", QoS::AtMostOnce);
        assert!(s.publishes(sub).is_empty(), "{v:?}: nothing retained");
        assert!(
            !s.store.snapshot().retained.iter().any(|m| &*m.topic == "r"),
            "not stored either"
        );
    }
}

#[test]
fn publish_without_retain_leaves_the_retained_message_mqtt_3_3_1_8() {
    // 3.1.1: [MQTT-3.3.1-12].
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let publ = s.connect("pub", v, true);
        s.publish(publ, "r", b"retained", QoS::AtMostOnce, true, 0);
        s.publish(publ, "r", b"live only", QoS::AtMostOnce, false, 0);
        s.publish(publ, "r", b"", QoS::AtMostOnce, false, 0);
        let sub = s.connect("sub", v, true);
        s.subscribe(sub, "r", QoS::AtMostOnce);
        assert_eq!(
            payloads(&s.publishes(sub)),
            vec![b"retained".to_vec()],
            "{v:?}"
        );
    }
}

#[test]
fn live_delivery_clears_retain_unless_retain_as_published_mqtt_3_3_1_12_and_13() {
    // 3.1.1 [MQTT-3.3.1-9]: RETAIN 0 for an established subscription.
    let mut s = Sim::new(cfg());
    let plain = s.connect("plain", V5, true);
    s.subscribe(plain, "r", QoS::AtMostOnce);
    let rap = s.connect("rap", V5, true);
    s.subscribe_with(rap, "r", retain_as_published(QoS::AtMostOnce), None);
    let old = s.connect("old", V311, true);
    s.subscribe(old, "r", QoS::AtMostOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "r", b"1", QoS::AtMostOnce, true, 0);
    s.publish(publ, "r", b"2", QoS::AtMostOnce, false, 0);
    let flags = |ps: Vec<Publish>| ps.iter().map(|p| p.retain).collect::<Vec<_>>();
    assert_eq!(flags(s.publishes(plain)), vec![false, false]);
    assert_eq!(flags(s.publishes(rap)), vec![true, false]);
    assert_eq!(flags(s.publishes(old)), vec![false, false]);
}

#[test]
fn retain_handling_0_sends_on_every_subscribe_mqtt_3_3_1_9() {
    // Also re-sent when a subscription is replaced [MQTT-3.8.4-3].
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let publ = s.connect("pub", v, true);
        s.publish(publ, "r", b"x", QoS::AtMostOnce, true, 0);
        let sub = s.connect("sub", v, true);
        s.subscribe(sub, "r", QoS::AtMostOnce);
        assert_eq!(s.publishes(sub).len(), 1);
        s.subscribe(sub, "r", QoS::AtLeastOnce);
        assert_eq!(s.publishes(sub).len(), 1, "{v:?}: again on replace");
    }
}

#[test]
fn retain_handling_1_sends_only_for_a_new_subscription_mqtt_3_3_1_10() {
    let mut s = Sim::new(cfg());
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "r", b"x", QoS::AtMostOnce, true, 0);
    let sub = s.connect("sub", V5, true);
    let o = handling(QoS::AtMostOnce, RetainHandling::OnNewSubscribe);
    s.subscribe_with(sub, "r", o, None);
    assert_eq!(s.publishes(sub).len(), 1);
    s.subscribe_with(sub, "r", o, None);
    assert!(s.publishes(sub).is_empty(), "the subscription existed");
    s.unsubscribe(sub, &["r"]);
    s.subscribe_with(sub, "r", o, None);
    assert_eq!(s.publishes(sub).len(), 1, "new again after UNSUBSCRIBE");
}

#[test]
fn retain_handling_2_never_sends_mqtt_3_3_1_11() {
    let mut s = Sim::new(cfg());
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "r", b"x", QoS::AtMostOnce, true, 0);
    let sub = s.connect("sub", V5, true);
    s.subscribe_with(
        sub,
        "r",
        handling(QoS::AtMostOnce, RetainHandling::Never),
        None,
    );
    assert!(s.publishes(sub).is_empty());
    // The subscription itself works.
    s.publish(publ, "r", b"live", QoS::AtMostOnce, true, 0);
    assert_eq!(payloads(&s.publishes(sub)), vec![b"live".to_vec()]);
}

#[test]
fn retained_messages_come_after_the_suback_mqtt_3_8_4_1() {
    // The SUBACK answers the SUBSCRIBE [MQTT-3.8.4-1]; the retained
    // messages it causes follow it.
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let publ = s.connect("pub", v, true);
        s.publish(publ, "a/1", b"1", QoS::AtLeastOnce, true, 1);
        s.publish(publ, "a/2", b"2", QoS::AtMostOnce, true, 0);
        let sub = s.connect("sub", v, true);
        let sub_packet = tabmq::codec::Subscribe {
            packet_id: pid(5),
            properties: Properties::default(),
            subscriptions: vec![tabmq::codec::Subscription {
                filter: "a/#".into(),
                options: SubscriptionOptions::qos(QoS::AtLeastOnce),
            }],
        };
        s.send(sub, Packet::Subscribe(sub_packet));
        let out = s.recv_all(sub);
        assert_eq!(out.len(), 3, "{v:?}: {out:?}");
        assert!(matches!(&out[0], Packet::SubAck(a) if a.packet_id == pid(5)));
        let retained: Vec<Vec<u8>> = out[1..]
            .iter()
            .map(|p| match p {
                Packet::Publish(p) => {
                    assert!(p.retain);
                    p.payload.to_vec()
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            retained,
            vec![b"1".to_vec(), b"2".to_vec()],
            "arrival order"
        );
    }
}

#[test]
fn retained_message_is_sent_at_the_lower_qos_and_completes_its_flow_mqtt_3_8_4_8() {
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let publ = s.connect("pub", v, true);
        s.publish(publ, "r2", b"q2", QoS::ExactlyOnce, true, 1);
        s.publish(publ, "r0", b"q0", QoS::AtMostOnce, true, 0);
        let sub = s.connect("sub", v, true);
        s.subscribe_many(
            sub,
            &[
                ("r2", SubscriptionOptions::qos(QoS::AtLeastOnce)),
                ("r0", SubscriptionOptions::qos(QoS::ExactlyOnce)),
            ],
            None,
        );
        let got = s.publishes(sub);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].qos, QoS::AtLeastOnce, "{v:?}");
        assert_eq!(got[1].qos, QoS::AtMostOnce);
        s.puback(sub, got[0].packet_id.unwrap());
        assert_eq!(s.broker.stats(s.now).inflight_messages, 0);
    }
}

#[test]
fn wildcard_subscription_gets_every_matching_retained_message_but_no_dollar_topic() {
    // [MQTT-4.7.2-1] applies to retained messages too.
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let publ = s.connect("pub", v, true);
        for t in ["h/1", "h/2/x", "other", "$h/1"] {
            s.publish(publ, t, t.as_bytes(), QoS::AtMostOnce, true, 0);
        }
        let sub = s.connect("sub", v, true);
        s.subscribe(sub, "h/#", QoS::AtMostOnce);
        let mut got: Vec<String> = s.publishes(sub).into_iter().map(|p| p.topic).collect();
        got.sort();
        assert_eq!(got, vec!["h/1", "h/2/x"], "{v:?}");
        let all = s.connect("all", v, true);
        s.subscribe(all, "#", QoS::AtMostOnce);
        assert_eq!(s.publishes(all).len(), 3, "{v:?}: not $h/1");
        s.subscribe(all, "$h/+", QoS::AtMostOnce);
        assert_eq!(
            s.publishes(all)
                .into_iter()
                .map(|p| p.topic)
                .collect::<Vec<_>>(),
            vec!["$h/1"]
        );
    }
}

#[test]
fn retained_messages_are_not_sent_for_a_shared_subscription() {
    // Spec 4.8.2: retained messages are not sent when a Shared
    // Subscription is established.
    let mut s = Sim::new(cfg());
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "job", b"old", QoS::AtLeastOnce, true, 1);
    let m = s.connect("m", V5, true);
    s.subscribe(m, "$share/g/job", QoS::AtLeastOnce);
    assert!(s.publishes(m).is_empty());
    s.publish(publ, "job", b"new", QoS::AtLeastOnce, true, 2);
    let got = s.publishes(m);
    assert_eq!(payloads(&got), vec![b"new".to_vec()]);
    assert!(!got[0].retain, "live delivery, Retain As Published not set");
}

#[test]
fn retained_message_carries_the_subscription_identifier_mqtt_3_3_4_3() {
    let mut s = Sim::new(cfg());
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "r", b"x", QoS::AtMostOnce, true, 0);
    let sub = s.connect("sub", V5, true);
    s.subscribe_with(
        sub,
        "r",
        SubscriptionOptions::qos(QoS::AtMostOnce),
        Some(17),
    );
    let got = s.publishes(sub);
    assert_eq!(got[0].properties.subscription_identifiers, vec![17]);
}

#[test]
fn retained_message_keeps_its_properties_and_remaining_expiry_mqtt_3_3_2_6() {
    let mut s = Sim::new(cfg());
    let publ = s.connect("pub", V5, true);
    let mut p = publish("r", b"x", QoS::AtMostOnce, true, 0);
    p.properties = Properties {
        message_expiry_interval: Some(60),
        content_type: Some("text/plain".into()),
        user_properties: vec![("k".into(), "v".into())],
        ..Default::default()
    };
    s.send_publish(publ, p);
    s.advance(20_000);
    let sub = s.connect("sub", V5, true);
    s.subscribe(sub, "r", QoS::AtMostOnce);
    let got = s.publishes(sub);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].properties.message_expiry_interval, Some(40));
    assert_eq!(
        got[0].properties.content_type.as_deref(),
        Some("text/plain")
    );
    assert_eq!(
        got[0].properties.user_properties,
        vec![("k".to_string(), "v".to_string())]
    );
}

#[test]
fn expired_retained_message_is_not_sent_mqtt_3_3_2_5() {
    for v in [V5, V311] {
        let mut s = Sim::new(cfg());
        let publ = s.connect("pub", V5, true);
        let mut p = publish("r", b"short-lived", QoS::AtLeastOnce, true, 1);
        p.properties.message_expiry_interval = Some(5);
        s.send_publish(publ, p);
        s.advance(5_000);
        let sub = s.connect("sub", v, true);
        s.subscribe(sub, "r", QoS::AtLeastOnce);
        assert!(s.publishes(sub).is_empty(), "{v:?}");
    }
}

#[test]
fn retained_change_is_acknowledged_after_it_is_stored_under_strict() {
    // Config::durability Strict: the ack of a retained change waits for
    // storage; then a restart still has it.
    let mut s = Sim::new(Config {
        durability: Durability::Strict,
        ..cfg()
    });
    s.auto_persist = false;
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "r", b"durable", QoS::AtLeastOnce, true, 1);
    assert!(s.recv_all(publ).is_empty());
    s.persist_all();
    s.drive();
    assert_eq!(
        s.recv_all(publ),
        vec![Packet::PubAck(PubResponse::with_reason(
            pid(1),
            ReasonCode::NoMatchingSubscribers
        ))]
    );
    s.crash_and_restart();
    let sub = s.connect("sub", V311, true);
    s.subscribe(sub, "r", QoS::AtLeastOnce);
    assert_eq!(payloads(&s.publishes(sub)), vec![b"durable".to_vec()]);
}

#[test]
fn retain_not_available_refuses_a_retained_publish_with_0x9a() {
    // Spec 3.2.2.3.5: Retain Available 0 in CONNACK; a PUBLISH with RETAIN
    // 1 is then DISCONNECT 0x9A [MQTT-3.2.2-14 region].
    let mut s = Sim::new(Config {
        retain_available: false,
        ..cfg()
    });
    let (publ, ack) = s.connect_with(connect_packet("pub", V5, true));
    match ack {
        Packet::ConnAck(a) => assert_eq!(a.properties.retain_available, Some(false)),
        other => panic!("{other:?}"),
    }
    s.publish(publ, "r", b"x", QoS::AtMostOnce, true, 0);
    assert_eq!(
        s.disconnect_reason(publ),
        Some(ReasonCode::RetainNotSupported)
    );
    assert_eq!(s.broker.stats(s.now).retained, 0);
}
