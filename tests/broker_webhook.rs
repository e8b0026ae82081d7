//! A webhook's subscription (`Broker::handle_host_webhook`): a persistent
//! session `$host/webhook/<name>` whose deliveries the host acknowledges
//! itself (`handle_host_ack`) once its HTTP endpoint has taken them. Until
//! then they stay in flight and the rest stays queued in the session, which
//! a restart keeps under strict durability.

mod sim;
use sim::*;

use tabmq::broker::{
    hash_password, Access, Acl, Config, Durability, Event, HostWebhook, Passwords,
};

const HOOK: u64 = 7;

fn strict() -> Config {
    Config {
        durability: Durability::Strict,
        ..Config::default()
    }
}

fn webhook(s: &mut Sim, filter: &str, window: u16) {
    let now = s.now;
    let w = HostWebhook {
        name: "store".into(),
        filter: filter.into(),
        qos: QoS::AtLeastOnce,
        window,
    };
    s.broker.handle_host_webhook(HOOK, w, now);
    s.drive();
}

/// The webhook's deliveries so far: (packet id, payload, dup).
fn deliveries(s: &mut Sim) -> Vec<(u16, String, bool)> {
    (s.take_events().into_iter())
        .filter_map(|e| match e {
            Event::Message { id: HOOK, publish } => Some((
                publish.packet_id.map_or(0, |p| p.get()),
                String::from_utf8_lossy(&publish.payload).into_owned(),
                publish.dup,
            )),
            _ => None,
        })
        .collect()
}

fn ack(s: &mut Sim, packet_id: u16) {
    let now = s.now;
    s.broker.handle_host_ack(HOOK, packet_id, now);
    s.drive();
}

fn publish_three(s: &mut Sim) {
    let publisher = s.connect("publisher", V5, true);
    for (n, payload) in ["m1", "m2", "m3"].iter().enumerate() {
        s.publish(
            publisher,
            "sensors/a",
            payload.as_bytes(),
            QoS::AtLeastOnce,
            false,
            n as u16 + 1,
        );
    }
    s.drive();
}

#[test]
fn deliveries_wait_for_the_hosts_ack_in_order() {
    let mut s = Sim::new(strict());
    webhook(&mut s, "sensors/#", 1);
    let subscribed = s.take_events();
    assert!(subscribed
        .iter()
        .any(|e| matches!(e, Event::Subscribed { id: HOOK, reason } if (*reason as u8) < 0x80)));
    publish_three(&mut s);
    let first = deliveries(&mut s);
    assert_eq!(first.len(), 1, "one in flight until acked: {first:?}");
    assert_eq!(first[0].1, "m1");
    // No ack, no progress: time passing does not release the next one.
    s.advance(60_000);
    assert_eq!(deliveries(&mut s), vec![]);
    ack(&mut s, first[0].0);
    let second = deliveries(&mut s);
    assert_eq!(
        second.iter().map(|d| d.1.as_str()).collect::<Vec<_>>(),
        ["m2"]
    );
    // An ack for an unknown packet id is ignored.
    ack(&mut s, 999);
    assert_eq!(deliveries(&mut s), vec![]);
    ack(&mut s, second[0].0);
    let third = deliveries(&mut s);
    assert_eq!(
        third.iter().map(|d| d.1.as_str()).collect::<Vec<_>>(),
        ["m3"]
    );
    ack(&mut s, third[0].0);
    assert_eq!(deliveries(&mut s), vec![]);
}

#[test]
fn a_wider_window_sends_several_and_retained_messages_are_not_sent() {
    let mut s = Sim::new(strict());
    let publisher = s.connect("publisher", V5, true);
    s.publish(
        publisher,
        "sensors/old",
        b"retained",
        QoS::AtLeastOnce,
        true,
        1,
    );
    s.drive();
    webhook(&mut s, "sensors/#", 10);
    publish_three(&mut s);
    let got = deliveries(&mut s);
    let payloads: Vec<&str> = got.iter().map(|d| d.1.as_str()).collect();
    assert_eq!(payloads, ["m1", "m2", "m3"]);
}

#[test]
fn unacknowledged_deliveries_come_again_after_a_restart() {
    let mut s = Sim::new(strict());
    webhook(&mut s, "sensors/#", 1);
    publish_three(&mut s);
    let first = deliveries(&mut s);
    assert_eq!(
        first.iter().map(|d| d.1.as_str()).collect::<Vec<_>>(),
        ["m1"]
    );
    s.persist_all();
    s.crash_and_restart();
    s.take_events();
    // The host registers its webhook again: the session is resumed.
    webhook(&mut s, "sensors/#", 1);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let got = deliveries(&mut s);
        assert_eq!(got.len(), 1, "one at a time: {got:?}");
        seen.push(got[0].1.clone());
        if seen.len() == 1 {
            assert!(got[0].2, "m1 comes again with DUP");
        }
        ack(&mut s, got[0].0);
    }
    assert_eq!(seen, ["m1", "m2", "m3"]);
    assert_eq!(deliveries(&mut s), vec![]);
    // Acknowledged: a second restart brings nothing back.
    s.persist_all();
    s.crash_and_restart();
    s.take_events();
    webhook(&mut s, "sensors/#", 1);
    assert_eq!(deliveries(&mut s), vec![]);
}

#[test]
fn unsubscribing_keeps_the_queue_for_the_next_registration() {
    let mut s = Sim::new(strict());
    webhook(&mut s, "sensors/#", 1);
    let now = s.now;
    s.broker.handle_host_unsubscribe(HOOK, now);
    s.drive();
    publish_three(&mut s);
    assert_eq!(deliveries(&mut s), vec![]);
    webhook(&mut s, "sensors/#", 5);
    let got = deliveries(&mut s);
    assert_eq!(
        got.iter().map(|d| d.1.as_str()).collect::<Vec<_>>(),
        ["m1", "m2", "m3"]
    );
}

#[test]
fn acks_of_redelivered_deliveries_hold_across_a_second_restart() {
    let mut s = Sim::new(strict());
    webhook(&mut s, "sensors/#", 10);
    publish_three(&mut s);
    assert_eq!(deliveries(&mut s).len(), 3);
    s.persist_all();
    s.crash_and_restart();
    s.take_events();
    webhook(&mut s, "sensors/#", 10);
    let again = deliveries(&mut s);
    let payloads: Vec<&str> = again.iter().map(|d| d.1.as_str()).collect();
    assert_eq!(payloads, ["m1", "m2", "m3"]);
    for d in &again {
        ack(&mut s, d.0);
    }
    s.persist_all();
    s.crash_and_restart();
    s.take_events();
    webhook(&mut s, "sensors/#", 10);
    assert_eq!(deliveries(&mut s), vec![]);
}

#[test]
fn a_webhook_is_the_brokers_own_no_acl_and_no_anonymous_refusal() {
    // Anonymous clients refused (a password file), and an ACL that gives
    // an anonymous session nothing: a webhook still gets every message.
    let alice = hash_password(b"alicepw", b"0123456789ab", 101);
    let mut s = Sim::new(Config {
        durability: Durability::Strict,
        access: Access {
            passwords: Some(Passwords::parse(&format!("alice:{alice}\n")).unwrap()),
            allow_anonymous: None,
            acl: Some(Acl::parse("user alice\ntopic readwrite sensors/#\n").unwrap()),
        },
        ..Config::default()
    });
    webhook(&mut s, "sensors/#", 10);
    let subscribed = s.take_events();
    assert!(
        subscribed
            .iter()
            .any(|e| matches!(e, Event::Subscribed { id: HOOK, reason } if (*reason as u8) < 0x80)),
        "{subscribed:?}"
    );
    let mut c = connect_packet("alice", V5, true);
    c.username = Some("alice".into());
    c.password = Some(bytes::Bytes::from_static(b"alicepw"));
    let publisher = s.connect_with(c).0;
    s.publish(publisher, "sensors/x", b"m1", QoS::AtLeastOnce, false, 1);
    s.drive();
    let got = deliveries(&mut s);
    assert_eq!(got.iter().map(|d| d.1.as_str()).collect::<Vec<_>>(), ["m1"]);
}

#[test]
fn a_webhook_whose_filter_changed_forwards_only_the_new_filter() {
    let mut s = Sim::new(strict());
    webhook(&mut s, "sensors/#", 5);
    s.persist_all();
    s.crash_and_restart();
    s.take_events();
    // Configured again with another filter: the old one is gone.
    webhook(&mut s, "other/#", 5);
    publish_three(&mut s);
    assert_eq!(deliveries(&mut s), vec![]);
    let publisher = s.connect("p2", V5, true);
    s.publish(publisher, "other/x", b"o", QoS::AtLeastOnce, false, 1);
    s.drive();
    let got = deliveries(&mut s);
    assert_eq!(got.iter().map(|d| d.1.as_str()).collect::<Vec<_>>(), ["o"]);
}

#[test]
fn a_removed_webhooks_session_is_forgotten_with_its_queue_and_storage_forgets_it() {
    let mut s = Sim::new(strict());
    webhook(&mut s, "sensors/#", 1);
    let now = s.now;
    s.broker.handle_host_unsubscribe(HOOK, now);
    s.drive();
    publish_three(&mut s);
    s.persist_all();
    s.crash_and_restart();
    s.take_events();
    assert!(s.broker.stats(s.now).queued_messages >= 3);
    // Restored, the host runs no webhook named "store" any more.
    let now = s.now;
    s.broker
        .handle_host_forget_webhooks(&["other".to_string()], now);
    s.drive();
    assert_eq!(s.broker.stats(s.now).queued_messages, 0);
    s.persist_all();
    s.crash_and_restart();
    assert_eq!(
        s.broker.stats(s.now).queued_messages,
        0,
        "storage forgot it"
    );
    // Registered again under that name, it starts empty.
    webhook(&mut s, "sensors/#", 5);
    assert_eq!(deliveries(&mut s), vec![]);
}
