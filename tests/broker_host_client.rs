//! The host's own publishes and subscriptions (`Broker::handle_host_publish`,
//! `handle_host_subscribe`): an HTTP API, a CoAP gateway or a page's code
//! using the broker without an MQTT client. They go through what a
//! client's packets go through: the user's ACL, the retained store and,
//! under strict, an answer held until the message is stored.

mod sim;
use sim::*;

use tabmq::broker::{
    hash_password, Access, Acl, Config, Durability, Event, HostPublish, HostSubscribe, Passwords,
};
use tabmq::codec::{Packet, Properties, ProtocolVersion::V5};

fn host_publish(topic: &str, payload: &str, qos: QoS, retain: bool) -> HostPublish {
    HostPublish {
        topic: topic.into(),
        payload: bytes::Bytes::copy_from_slice(payload.as_bytes()),
        qos,
        retain,
        properties: Properties::default(),
        username: None,
    }
}

fn as_user(mut p: HostPublish, user: &str) -> HostPublish {
    p.username = Some(user.into());
    p
}

fn published(s: &mut Sim) -> Vec<(u64, ReasonCode)> {
    (s.take_events().into_iter())
        .filter_map(|e| match e {
            Event::Published { id, reason } => Some((id, reason)),
            _ => None,
        })
        .collect()
}

/// Messages of host subscriptions, as (subscription, topic, payload, retain).
fn messages(events: &[Event]) -> Vec<(u64, String, String, bool)> {
    (events.iter())
        .filter_map(|e| match e {
            Event::Message { id, publish } => Some((
                *id,
                publish.topic.clone(),
                String::from_utf8_lossy(&publish.payload).into_owned(),
                publish.retain,
            )),
            _ => None,
        })
        .collect()
}

fn publish_now(s: &mut Sim, id: u64, p: HostPublish) {
    let now = s.now;
    s.broker.handle_host_publish(id, p, now);
    s.drive();
}

fn subscribe_now(s: &mut Sim, id: u64, filter: &str, qos: QoS, user: Option<&str>) {
    let now = s.now;
    let sub = HostSubscribe {
        filter: filter.into(),
        qos,
        username: user.map(str::to_owned),
    };
    s.broker.handle_host_subscribe(id, sub, now);
    s.drive();
}

const ACL: &str = "\
user alice
topic readwrite alice/#
topic read public/#
";

fn with_access() -> Config {
    let alice = hash_password(b"alicepw", b"0123456789ab", 101);
    Config {
        sys_interval_secs: 0,
        access: Access {
            passwords: Some(Passwords::parse(&format!("alice:{alice}\n")).unwrap()),
            allow_anonymous: None,
            acl: Some(Acl::parse(ACL).unwrap()),
        },
        ..Config::default()
    }
}

#[test]
fn host_publish_reaches_subscribers_at_each_qos_and_is_answered() {
    let mut s = Sim::new(Config::default());
    let sub = s.connect("sub", V5, true);
    s.subscribe(sub, "t/#", QoS::ExactlyOnce);
    s.recv_all(sub);
    s.take_events();
    for (id, qos) in [
        (1, QoS::AtMostOnce),
        (2, QoS::AtLeastOnce),
        (3, QoS::ExactlyOnce),
    ] {
        publish_now(
            &mut s,
            id,
            host_publish("t/a", &format!("m{id}"), qos, false),
        );
        assert_eq!(published(&mut s), vec![(id, ReasonCode::Success)]);
    }
    let got: Vec<(String, QoS)> = (s.publishes(sub).into_iter())
        .map(|p| (String::from_utf8_lossy(&p.payload).into_owned(), p.qos))
        .collect();
    let want = [
        ("m1", QoS::AtMostOnce),
        ("m2", QoS::AtLeastOnce),
        ("m3", QoS::ExactlyOnce),
    ];
    let want: Vec<(String, QoS)> = want.iter().map(|(m, q)| (m.to_string(), *q)).collect();
    assert_eq!(got, want);
    // The QoS 2 exchange ended (PUBREL answered): nothing is left pending.
    assert_eq!(s.broker.stats(s.now).pending_acks, 0);
}

#[test]
fn host_publish_at_qos1_under_strict_is_answered_only_once_stored() {
    let cfg = Config {
        durability: Durability::Strict,
        ..Config::default()
    };
    let mut s = Sim::new(cfg);
    s.auto_persist = false;
    publish_now(&mut s, 7, host_publish("keep", "v", QoS::AtLeastOnce, true));
    assert_eq!(published(&mut s), vec![], "not answered before the commit");
    assert!(
        !s.unpersisted.is_empty(),
        "the retained message is to be stored"
    );
    s.persist_all();
    s.drive();
    let no_subscriber = ReasonCode::NoMatchingSubscribers;
    assert_eq!(published(&mut s), vec![(7, no_subscriber)]);
    // And it survives a crash: the answer meant stored.
    s.crash_and_restart();
    let sub = s.connect("late", V5, true);
    s.subscribe(sub, "keep", QoS::AtMostOnce);
    let got = s.publishes(sub);
    assert_eq!(got.len(), 1);
    assert!(got[0].retain);
}

#[test]
fn host_publish_at_qos0_is_answered_at_once_even_under_strict() {
    let mut s = Sim::new(Config::default());
    s.auto_persist = false;
    publish_now(&mut s, 1, host_publish("t", "v", QoS::AtMostOnce, false));
    assert_eq!(published(&mut s), vec![(1, ReasonCode::Success)]);
}

#[test]
fn host_publish_is_checked_against_the_users_acl() {
    let mut s = Sim::new(with_access());
    let alice = {
        let mut c = connect_packet("alice-sub", V5, true);
        c.username = Some("alice".into());
        c.password = Some(bytes::Bytes::from_static(b"alicepw"));
        s.connect_with(c).0
    };
    s.subscribe(alice, "#", QoS::AtLeastOnce);
    s.recv_all(alice);
    s.take_events();
    let tries = [
        (1, QoS::AtMostOnce, "public/x"),
        (2, QoS::AtLeastOnce, "public/x"),
        (3, QoS::ExactlyOnce, "public/x"),
        (4, QoS::AtLeastOnce, "alice/ok"),
    ];
    for (id, qos, topic) in tries {
        publish_now(
            &mut s,
            id,
            as_user(host_publish(topic, "m", qos, false), "alice"),
        );
    }
    let answers = published(&mut s);
    assert_eq!(
        answers,
        vec![
            (1, ReasonCode::NotAuthorized),
            (2, ReasonCode::NotAuthorized),
            (3, ReasonCode::NotAuthorized),
            (4, ReasonCode::Success),
        ]
    );
    let got: Vec<String> = s.publishes(alice).into_iter().map(|p| p.topic).collect();
    assert_eq!(got, vec!["alice/ok"], "only the allowed publish is routed");
    // Anonymous (no username) is not admitted by a password file: its ACL
    // has no rules for it either, so nothing passes.
    publish_now(
        &mut s,
        5,
        host_publish("alice/ok", "m", QoS::AtLeastOnce, false),
    );
    assert_eq!(published(&mut s), vec![(5, ReasonCode::NotAuthorized)]);
}

#[test]
fn host_credentials_are_checked_like_a_connect() {
    let s = Sim::new(with_access());
    assert!(s.broker.check_credentials(Some("alice"), Some(b"alicepw")));
    assert!(!s.broker.check_credentials(Some("alice"), Some(b"wrong")));
    assert!(!s.broker.check_credentials(Some("eve"), Some(b"alicepw")));
    assert!(
        !s.broker.check_credentials(None, None),
        "no anonymous access"
    );
    let open = Sim::new(Config::default());
    assert!(open.broker.check_credentials(None, None));
}

#[test]
fn host_publish_with_an_invalid_topic_is_refused() {
    let mut s = Sim::new(Config::default());
    publish_now(&mut s, 1, host_publish("a/+", "m", QoS::AtLeastOnce, false));
    publish_now(&mut s, 2, host_publish("", "m", QoS::AtMostOnce, false));
    publish_now(
        &mut s,
        3,
        host_publish("$SYS/x", "m", QoS::AtLeastOnce, false),
    );
    let answers = published(&mut s);
    assert_eq!(answers[0], (1, ReasonCode::TopicNameInvalid));
    assert_eq!(answers[1], (2, ReasonCode::TopicNameInvalid));
    assert_eq!(answers[2], (3, ReasonCode::NotAuthorized));
}

#[test]
fn host_publish_with_properties_no_publish_could_carry_is_refused_and_subscribers_see_nothing_mqtt_1_5_4_2_and_3_3_2_14(
) {
    let mut s = Sim::new(Config::default());
    let sub = s.connect("sub", V5, true);
    s.subscribe(sub, "a/#", QoS::AtLeastOnce);
    let with = |f: fn(&mut Properties)| {
        let mut p = host_publish("a/1", "m", QoS::AtLeastOnce, true);
        f(&mut p.properties);
        p
    };
    publish_now(&mut s, 1, with(|p| p.content_type = Some("a\u{0}b".into())));
    publish_now(
        &mut s,
        2,
        with(|p| p.content_type = Some("z".repeat(70_000))),
    );
    publish_now(&mut s, 3, with(|p| p.response_topic = Some("r/#".into())));
    let long_topic = "t".repeat(70_000);
    publish_now(
        &mut s,
        4,
        host_publish(&long_topic, "m", QoS::AtMostOnce, false),
    );
    let answers = published(&mut s);
    assert_eq!(
        answers,
        (1..=4)
            .map(|id| (id, ReasonCode::ProtocolError))
            .collect::<Vec<_>>()
    );
    assert!(s.publishes(sub).is_empty());
    assert_eq!(s.broker.stats(s.now).retained, 0);
    // A sound one still goes.
    publish_now(
        &mut s,
        5,
        with(|p| p.content_type = Some("text/plain".into())),
    );
    assert_eq!(s.publishes(sub).len(), 1);
}

#[test]
fn host_subscription_gets_retained_then_live_messages_in_order() {
    let mut s = Sim::new(Config::default());
    let publisher = s.connect("pub", V5, true);
    s.publish(publisher, "room/1", b"old", QoS::AtLeastOnce, true, 1);
    subscribe_now(&mut s, 9, "room/+", QoS::AtLeastOnce, None);
    for (i, n) in (0..10).enumerate() {
        s.publish(
            publisher,
            "room/2",
            format!("{n}").as_bytes(),
            QoS::AtLeastOnce,
            false,
            (i + 2) as u16,
        );
    }
    let events = s.take_events();
    let subscribed = events.iter().find_map(|e| match e {
        Event::Subscribed { id: 9, reason } => Some(*reason),
        _ => None,
    });
    assert_eq!(subscribed, Some(ReasonCode::GrantedQos1));
    let got = messages(&events);
    assert_eq!(got[0], (9, "room/1".into(), "old".into(), true));
    let live: Vec<String> = got[1..].iter().map(|m| m.2.clone()).collect();
    let want: Vec<String> = (0..10).map(|n| n.to_string()).collect();
    assert_eq!(live, want);
    // Each delivery was acknowledged by the host client: nothing in flight.
    assert_eq!(s.broker.stats(s.now).inflight_messages, 0);
}

#[test]
fn host_unsubscribe_stops_messages_and_leaves_no_session() {
    let mut s = Sim::new(Config::default());
    subscribe_now(&mut s, 1, "t", QoS::ExactlyOnce, None);
    publish_now(&mut s, 1, host_publish("t", "a", QoS::ExactlyOnce, false));
    assert_eq!(messages(&s.take_events()).len(), 1);
    let now = s.now;
    s.broker.handle_host_unsubscribe(1, now);
    s.drive();
    publish_now(&mut s, 2, host_publish("t", "b", QoS::AtLeastOnce, false));
    let events = s.take_events();
    assert_eq!(messages(&events), vec![]);
    assert!(
        events.contains(&Event::Published {
            id: 2,
            reason: ReasonCode::NoMatchingSubscribers
        }) || events.contains(&Event::Published {
            id: 2,
            reason: ReasonCode::Success
        })
    );
    assert_eq!(s.broker.stats(s.now).subscriptions, 0);
    assert!(s.broker.clients().is_empty(), "host clients are not listed");
}

#[test]
fn host_subscription_reads_only_what_the_users_acl_allows() {
    let mut s = Sim::new(with_access());
    subscribe_now(&mut s, 1, "#", QoS::AtMostOnce, Some("alice"));
    subscribe_now(&mut s, 2, "secret/#", QoS::AtMostOnce, Some("alice"));
    let events = s.take_events();
    assert!(events.contains(&Event::Subscribed {
        id: 2,
        reason: ReasonCode::NotAuthorized
    }));
    for topic in ["public/a", "secret/b", "alice/c"] {
        publish_now(
            &mut s,
            0,
            as_user(host_publish(topic, "m", QoS::AtMostOnce, false), "alice"),
        );
    }
    let got: Vec<String> = messages(&s.take_events())
        .into_iter()
        .map(|m| m.1)
        .collect();
    // alice may write only alice/#, and read alice/# and public/#.
    assert_eq!(got, vec!["alice/c"]);
}

#[test]
fn a_client_cannot_take_a_host_client_id() {
    let mut s = Sim::new(Config::default());
    let (_, ack) = s.connect_with(connect_packet("$host/1", V5, true));
    match ack {
        Packet::ConnAck(a) => assert_eq!(a.reason, ReasonCode::ClientIdentifierNotValid),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

#[test]
fn host_clients_are_not_counted_as_connections() {
    let mut s = Sim::new(Config {
        max_connections: 1,
        ..Config::default()
    });
    subscribe_now(&mut s, 1, "t", QoS::AtMostOnce, None);
    publish_now(&mut s, 1, host_publish("t", "a", QoS::AtLeastOnce, false));
    assert_eq!(s.broker.stats(s.now).connections, 0);
    s.connect("only", V5, true);
}

#[test]
fn host_disconnects_a_client_with_0x98_and_its_will_is_sent() {
    let mut s = Sim::new(Config::default());
    let watcher = s.connect("watcher", V5, true);
    s.subscribe(watcher, "wills/#", QoS::AtMostOnce);
    s.recv_all(watcher);
    let mut c = connect_packet("victim", V5, true);
    c.will = Some(tabmq::codec::Will {
        topic: "wills/victim".into(),
        payload: bytes::Bytes::from_static(b"gone"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties::default(),
    });
    let (victim, _) = s.connect_with(c);
    let old = s.connect("old", tabmq::codec::ProtocolVersion::V3_1_1, true);
    let now = s.now;
    assert!(s.broker.handle_disconnect_client("victim", now));
    assert!(s.broker.handle_disconnect_client("old", now));
    assert!(!s.broker.handle_disconnect_client("nobody", now));
    s.drive();
    assert_eq!(
        s.disconnect_reason(victim),
        Some(ReasonCode::AdministrativeAction)
    );
    assert!(s.is_closed(victim));
    assert!(
        s.is_closed(old),
        "a 3.1.1 client is closed without a DISCONNECT"
    );
    let wills: Vec<String> = s.publishes(watcher).into_iter().map(|p| p.topic).collect();
    assert_eq!(wills, vec!["wills/victim"]);
}

#[test]
fn an_access_change_that_removes_the_user_ends_its_host_subscription_and_a_webhook_stays() {
    let mut s = Sim::new(with_access());
    subscribe_now(&mut s, 1, "alice/#", QoS::AtMostOnce, Some("alice"));
    let now = s.now;
    let hook = tabmq::broker::HostWebhook {
        name: "w".into(),
        filter: "alice/#".into(),
        qos: QoS::AtLeastOnce,
        window: 1,
    };
    s.broker.handle_host_webhook(2, hook, now);
    s.drive();
    s.take_events();
    // The same rules without alice in the password file.
    let mut access = with_access().access;
    access.passwords = Some(Passwords::parse("").unwrap());
    let now = s.now;
    s.broker.set_access(access, now);
    s.drive();
    let ended: Vec<(u64, ReasonCode)> = (s.take_events().into_iter())
        .filter_map(|e| match e {
            Event::Unsubscribed { id, reason } => Some((id, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ended,
        [(1, ReasonCode::NotAuthorized)],
        "alice's subscription ends; the webhook is the broker's own"
    );
    // Her publishes are refused from now on too: a fresh host connection
    // for "alice" is not admitted by the host (checkCredentials), and the
    // old one is gone.
    assert!(!s.broker.check_credentials(Some("alice"), Some(b"alicepw")));
}
