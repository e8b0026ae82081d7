//! Topic aliases the broker sets towards MQTT 5 clients that allow them
//! (spec 3.3.2.3.4): the first PUBLISH on a topic carries its name and an
//! alias, later ones the alias alone; only up to the client's Topic Alias
//! Maximum, per network connection, never to 3.1.1 clients, always within
//! the client's Maximum Packet Size. The replacement policy is in
//! `src/broker/alias.rs`.

mod sim;
use sim::*;
use std::collections::HashMap;
use tabmq::broker::{Config, ConnId, DropReason, Event};
use tabmq::codec::{Properties, Publish};

fn cfg() -> Config {
    Config {
        sys_interval_secs: 0,
        ..Config::default()
    }
}

/// An MQTT 5 client (Clean Start) whose CONNECT allows `max` topic aliases.
fn connect_aliases(s: &mut Sim, id: &str, max: u16) -> ConnId {
    s.connect_props(
        id,
        Properties {
            topic_alias_maximum: Some(max),
            ..Default::default()
        },
    )
}

/// The same, with a session that outlives the connection.
fn connect_aliases_persistent(s: &mut Sim, id: &str, max: u16) -> ConnId {
    let mut c = connect_packet(id, V5, false);
    c.properties.session_expiry_interval = Some(3600);
    c.properties.topic_alias_maximum = Some(max);
    match s.connect_with(c) {
        (conn, tabmq::codec::Packet::ConnAck(a)) if a.reason == ReasonCode::Success => conn,
        (_, other) => panic!("{other:?}"),
    }
}

/// What a client makes of the PUBLISHes it receives: it resolves aliases as
/// a client must, and checks what the broker may not do.
struct Receiver {
    max: u16,
    table: HashMap<u16, String>,
}

impl Receiver {
    fn new(max: u16) -> Receiver {
        Receiver {
            max,
            table: HashMap::new(),
        }
    }

    /// The topic of `p` [MQTT-3.3.2-12 client side]; panics on an alias
    /// the broker may not send.
    fn topic(&mut self, p: &Publish) -> String {
        match p.properties.topic_alias {
            None => {
                assert!(!p.topic.is_empty(), "an empty topic needs an alias");
                p.topic.clone()
            }
            Some(a) => {
                // [MQTT-3.3.2-8], [MQTT-3.1.2-26]
                assert!(a >= 1 && a <= self.max, "alias {a} beyond 1..={}", self.max);
                if p.topic.is_empty() {
                    self.table.get(&a).expect("alias set before use").clone()
                } else {
                    self.table.insert(a, p.topic.clone());
                    p.topic.clone()
                }
            }
        }
    }
}

/// (topic name as sent, alias) of each PUBLISH.
fn forms(ps: &[Publish]) -> Vec<(String, Option<u16>)> {
    ps.iter()
        .map(|p| (p.topic.clone(), p.properties.topic_alias))
        .collect()
}

fn named(topic: &str, alias: Option<u16>) -> (String, Option<u16>) {
    (topic.to_string(), alias)
}

#[test]
fn a_repeated_topic_is_sent_with_its_alias_only_spec_3_3_2_3_4() {
    let mut s = Sim::new(cfg());
    let sub = connect_aliases(&mut s, "sub", 10);
    s.subscribe(sub, "a/#", QoS::AtLeastOnce);
    let publ = s.connect("pub", V5, true);
    for topic in ["a/x", "a/x", "a/y", "a/x", "a/y"] {
        s.publish(publ, topic, b"p", QoS::AtMostOnce, false, 0);
    }
    let got = s.publishes(sub);
    assert_eq!(
        forms(&got),
        vec![
            named("a/x", Some(1)),
            named("", Some(1)),
            named("a/y", Some(2)),
            named("", Some(1)),
            named("", Some(2)),
        ]
    );
    let mut r = Receiver::new(10);
    let topics: Vec<String> = got.iter().map(|p| r.topic(p)).collect();
    assert_eq!(topics, ["a/x", "a/x", "a/y", "a/x", "a/y"]);
}

/// QoS 0 and 1 use the alias alone; a QoS 2 PUBLISH names its topic and
/// repeats (or sets) the alias: MQTT.js 5.16 hands a QoS 2 message received
/// by alias alone to the application with an empty topic (see `alias.rs`).
#[test]
fn aliased_deliveries_complete_as_usual_and_qos2_names_its_topic() {
    let mut s = Sim::new(cfg());
    let sub = connect_aliases(&mut s, "sub", 4);
    s.subscribe(sub, "q/#", QoS::ExactlyOnce);
    let publ = s.connect("pub", V5, true);
    let sends = [
        ("q/a", QoS::AtMostOnce),
        ("q/a", QoS::AtLeastOnce),
        ("q/a", QoS::ExactlyOnce),
        ("q/b", QoS::ExactlyOnce),
        ("q/b", QoS::AtLeastOnce),
    ];
    for (n, (topic, qos)) in sends.into_iter().enumerate() {
        s.publish(publ, topic, b"m", qos, false, n as u16 + 1);
    }
    let got = s.publishes(sub);
    assert_eq!(
        forms(&got),
        vec![
            named("q/a", Some(1)),
            named("", Some(1)),
            named("q/a", Some(1)),
            named("q/b", Some(2)),
            named("", Some(2)),
        ]
    );
    s.puback(sub, got[1].packet_id.unwrap());
    s.puback(sub, got[4].packet_id.unwrap());
    for p in &got[2..4] {
        s.pubrec(sub, p.packet_id.unwrap());
        s.pubcomp(sub, p.packet_id.unwrap());
    }
    assert_eq!(s.broker.stats(s.now).inflight_messages, 0);
}

#[test]
fn aliases_never_exceed_the_clients_topic_alias_maximum_mqtt_3_1_2_26_and_3_3_2_11() {
    let mut s = Sim::new(cfg());
    let sub = connect_aliases(&mut s, "sub", 3);
    s.subscribe(sub, "#", QoS::AtMostOnce);
    let publ = s.connect("pub", V5, true);
    let mut sent = Vec::new();
    for i in 0..200u32 {
        // A few hot topics, some warm ones and many seen once.
        let topic = match i % 4 {
            0 | 1 => format!("hot/{}", i % 3),
            2 => format!("warm/{}", i % 7),
            _ => format!("once/{i}"),
        };
        s.publish(publ, &topic, b"p", QoS::AtMostOnce, false, 0);
        sent.push(topic);
    }
    let got = s.publishes(sub);
    let mut r = Receiver::new(3);
    let topics: Vec<String> = got.iter().map(|p| r.topic(p)).collect();
    assert_eq!(topics, sent, "every message resolves to its own topic");
    assert!(got.iter().any(|p| p.topic.is_empty()), "aliases were used");
}

#[test]
fn the_broker_setting_caps_the_aliases_and_0_turns_them_off() {
    let mut s = Sim::new(Config {
        max_outgoing_topic_aliases: 2,
        ..cfg()
    });
    let sub = connect_aliases(&mut s, "sub", 100);
    s.subscribe(sub, "#", QoS::AtMostOnce);
    let publ = s.connect("pub", V5, true);
    for t in ["a", "b", "c", "a", "b", "c"] {
        s.publish(publ, t, b"p", QoS::AtMostOnce, false, 0);
    }
    let got = s.publishes(sub);
    assert!(got.iter().all(|p| p.properties.topic_alias <= Some(2)));
    assert_eq!(got[2].properties.topic_alias, None, "c: the table is full");

    let mut s = Sim::new(Config {
        max_outgoing_topic_aliases: 0,
        ..cfg()
    });
    let sub = connect_aliases(&mut s, "sub", 100);
    s.subscribe(sub, "#", QoS::AtMostOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "a", b"p", QoS::AtMostOnce, false, 0);
    s.publish(publ, "a", b"p", QoS::AtMostOnce, false, 0);
    assert_eq!(
        forms(&s.publishes(sub)),
        vec![named("a", None), named("a", None)]
    );
}

#[test]
fn no_alias_to_a_client_that_did_not_allow_them_mqtt_3_1_2_27() {
    let mut s = Sim::new(cfg());
    let absent = s.connect("absent", V5, true);
    let zero = connect_aliases(&mut s, "zero", 0);
    let v311 = s.connect("v311", V311, true);
    for c in [absent, zero, v311] {
        s.subscribe(c, "t", QoS::AtLeastOnce);
    }
    let publ = s.connect("pub", V5, true);
    for n in 1..=3 {
        s.publish(publ, "t", b"p", QoS::AtLeastOnce, false, n);
    }
    for c in [absent, zero, v311] {
        let got = s.publishes(c);
        assert_eq!(got.len(), 3);
        assert_eq!(forms(&got), vec![named("t", None); 3], "{c:?}");
    }
}

#[test]
fn a_new_connection_starts_without_aliases_and_resends_carry_the_topic_mqtt_3_3_2_7() {
    let mut s = Sim::new(cfg());
    let sub = connect_aliases_persistent(&mut s, "sub", 5);
    s.subscribe(sub, "t/#", QoS::AtLeastOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "t/a", b"1", QoS::AtLeastOnce, false, 1);
    s.publish(publ, "t/a", b"2", QoS::AtLeastOnce, false, 2);
    let got = s.publishes(sub);
    assert_eq!(forms(&got), vec![named("t/a", Some(1)), named("", Some(1))]);
    // Unacknowledged, the connection drops; the session reconnects.
    s.drop_conn(sub);
    let sub = connect_aliases_persistent(&mut s, "sub", 5);
    let again = s.publishes(sub);
    assert_eq!(again.len(), 2);
    assert!(
        again.iter().all(|p| p.dup),
        "resent with DUP [MQTT-3.3.1-1]"
    );
    // The first resend sets the alias afresh, with the topic; the second
    // may use it: it follows on the same connection.
    assert_eq!(
        forms(&again),
        vec![named("t/a", Some(1)), named("", Some(1))]
    );
    let mut r = Receiver::new(5);
    assert!(again.iter().all(|p| r.topic(p) == "t/a"));
}

#[test]
fn a_resend_on_the_same_connection_uses_the_alias_only_while_it_stands_for_its_topic() {
    // Receive Maximum 1 after the reconnect: the second in-flight message
    // is resent on the new connection only once the first is acknowledged
    // [MQTT-3.3.4-9]; meanwhile the one alias has moved to another topic.
    let mut s = Sim::new(Config {
        max_inflight: 2,
        ..cfg()
    });
    let sub = connect_aliases_persistent(&mut s, "sub", 1);
    s.subscribe(sub, "t/#", QoS::AtLeastOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "t/a", b"1", QoS::AtLeastOnce, false, 1);
    s.publish(publ, "t/b", b"2", QoS::AtLeastOnce, false, 2);
    assert_eq!(s.publishes(sub).len(), 2);
    s.drop_conn(sub);
    let mut c = connect_packet("sub", V5, false);
    c.properties.session_expiry_interval = Some(3600);
    c.properties.topic_alias_maximum = Some(1);
    c.properties.receive_maximum = Some(1);
    let (sub, _) = s.connect_with(c);
    let first = s.publishes(sub);
    assert_eq!(forms(&first), vec![named("t/a", Some(1))]);
    assert!(first[0].dup);
    s.puback(sub, first[0].packet_id.unwrap());
    let second = s.publishes(sub);
    assert_eq!(second.len(), 1);
    assert!(second[0].dup);
    // Alias 1 stands for t/a: t/b is named in full (the table is full and
    // t/b new to this connection, so it gets no alias).
    assert_eq!(forms(&second), vec![named("t/b", None)]);
    s.puback(sub, second[0].packet_id.unwrap());
    // t/a again: its alias alone.
    s.publish(publ, "t/a", b"3", QoS::AtLeastOnce, false, 3);
    let third = s.publishes(sub);
    assert_eq!(forms(&third), vec![named("", Some(1))]);
    assert!(!third[0].dup);
}

#[test]
fn when_the_table_is_full_a_topic_seen_once_does_not_evict_a_hot_one() {
    let mut s = Sim::new(cfg());
    let sub = connect_aliases(&mut s, "sub", 4);
    s.subscribe(sub, "#", QoS::AtMostOnce);
    let publ = s.connect("pub", V5, true);
    let hot = ["hot/0", "hot/1", "hot/2", "hot/3"];
    let mut sent = Vec::new();
    for round in 0..50 {
        for (i, h) in hot.iter().enumerate() {
            s.publish(publ, h, b"p", QoS::AtMostOnce, false, 0);
            let once = format!("once/{round}/{i}");
            s.publish(publ, &once, b"p", QoS::AtMostOnce, false, 0);
            sent.push(h.to_string());
            sent.push(once);
        }
    }
    let got = s.publishes(sub);
    let mut r = Receiver::new(4);
    let topics: Vec<String> = got.iter().map(|p| r.topic(p)).collect();
    assert_eq!(topics, sent);
    // The first round fills the table (the hot topics and, in between, the
    // first ones seen once); after that every hot topic holds an alias
    // that one-off topics never take away.
    let hot_after_warmup: Vec<&Publish> = got
        .iter()
        .skip(16)
        .filter(|p| p.topic.is_empty() || p.topic.starts_with("hot/"))
        .collect();
    let aliased = hot_after_warmup
        .iter()
        .filter(|p| p.topic.is_empty())
        .count();
    assert!(
        aliased as f64 >= 0.95 * hot_after_warmup.len() as f64,
        "{aliased} of {} hot deliveries by alias alone",
        hot_after_warmup.len()
    );
    assert!(got
        .iter()
        .filter(|p| p.topic.starts_with("once/"))
        .skip(8)
        .all(|p| p.properties.topic_alias.is_none()));
}

#[test]
fn when_the_table_is_full_a_recurring_topic_replaces_one_no_longer_used() {
    let mut s = Sim::new(cfg());
    let sub = connect_aliases(&mut s, "sub", 2);
    s.subscribe(sub, "#", QoS::AtMostOnce);
    let publ = s.connect("pub", V5, true);
    for t in ["old", "kept", "kept", "new", "new", "new", "kept"] {
        s.publish(publ, t, b"p", QoS::AtMostOnce, false, 0);
    }
    assert_eq!(
        forms(&s.publishes(sub)),
        vec![
            named("old", Some(1)),
            named("kept", Some(2)),
            named("", Some(2)),
            named("new", None),    // seen once: no alias yet
            named("new", Some(1)), // seen again: takes old's alias
            named("", Some(1)),
            named("", Some(2)),
        ]
    );
}

#[test]
fn a_retained_message_sent_on_subscribe_takes_an_alias_too() {
    let mut s = Sim::new(cfg());
    let publ = s.connect("pub", V5, true);
    s.publish(publ, "r/x", b"kept", QoS::AtLeastOnce, true, 1);
    let sub = connect_aliases(&mut s, "sub", 2);
    s.subscribe(sub, "r/#", QoS::AtLeastOnce);
    s.publish(publ, "r/x", b"live", QoS::AtMostOnce, false, 0);
    let got = s.publishes(sub);
    assert_eq!(forms(&got), vec![named("r/x", Some(1)), named("", Some(1))]);
    assert!(got[0].retain);
}

#[test]
fn the_alias_counts_in_the_clients_maximum_packet_size_mqtt_3_1_2_25() {
    let topic = "a/rather/long/topic/name/for/the/test";
    // PUBLISH QoS 0: 1 + 1 (remaining length) + 2 + topic + properties.
    let name_only = 1 + 1 + 2 + topic.len() + 1;
    let payload = 8;
    let mut s = Sim::new(cfg());
    // Room for the name alone, not for name and alias (3 more bytes).
    let max = (name_only + payload + 2) as u32;
    let sub = s.connect_props(
        "sub",
        Properties {
            topic_alias_maximum: Some(4),
            maximum_packet_size: Some(max),
            ..Default::default()
        },
    );
    s.subscribe(sub, "#", QoS::AtMostOnce);
    let publ = s.connect("pub", V5, true);
    s.publish(publ, topic, &[1; 8], QoS::AtMostOnce, false, 0);
    s.publish(publ, "short", &[2; 8], QoS::AtMostOnce, false, 0);
    // Too large by name (alias or not) until an alias is set for the topic;
    // then the alias alone makes it fit.
    s.publish(publ, topic, &[3; 30], QoS::AtMostOnce, false, 0);
    s.publish(publ, topic, &[4; 1], QoS::AtMostOnce, false, 0);
    s.publish(publ, topic, &[5; 30], QoS::AtMostOnce, false, 0);
    let got = s.publishes(sub);
    assert_eq!(
        forms(&got),
        vec![
            named(topic, None), // name and alias would not fit
            named("short", Some(1)),
            named(topic, Some(2)), // the small one sets it
            named("", Some(2)),    // and the large one fits with it
        ]
    );
    assert_eq!(got[3].payload.len(), 30);
    let dropped = s
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Dropped {
                    why: DropReason::TooLarge,
                    ..
                }
            )
        })
        .count();
    assert_eq!(dropped, 1);
}
