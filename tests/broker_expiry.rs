//! Expired messages leave memory and storage on the periodic sweep, even
//! while their session stays offline [MQTT-3.3.2-5].

mod sim;
use sim::*;
use tabmq::broker::{Config, Durability};
use tabmq::codec::{Packet, Properties};

fn cfg() -> Config {
    Config {
        durability: Durability::Strict,
        sys_interval_secs: 0,
        ..Config::default()
    }
}

fn with_expiry(topic: &str, secs: u32, retain: bool, id: u16) -> Packet {
    let mut p = publish(topic, b"soon stale", QoS::AtLeastOnce, retain, id);
    p.properties = Properties {
        message_expiry_interval: Some(secs),
        ..Default::default()
    };
    Packet::Publish(p)
}

#[test]
fn mqtt_3_3_2_5_expired_messages_queued_for_an_offline_session_are_swept_from_memory_and_storage() {
    let mut s = Sim::new(cfg());
    let (sub, _) = s.connect_persistent("sub", V5);
    s.subscribe(sub, "t/#", QoS::AtLeastOnce);
    s.disconnect(sub);
    let p = s.connect("pub", V5, true);
    s.send(p, with_expiry("t/short", 10, false, 1));
    s.send(p, with_expiry("t/long", 600, false, 2));
    s.send(p, with_expiry("t/kept", 10, true, 3));
    assert_eq!(s.broker.stats(s.now).queued_messages, 3);
    let records_before = s.store.record_count();
    s.advance(70_000);
    let stats = s.broker.stats(s.now);
    assert_eq!(
        stats.queued_messages, 1,
        "only the message that has not expired stays"
    );
    assert_eq!(stats.retained, 0, "the expired retained message is gone");
    assert_eq!(stats.messages_dropped, 2);
    let snap = s.store.snapshot();
    assert_eq!(snap.deliveries.len(), 1);
    assert_eq!(snap.messages.len(), 1);
    assert!(snap.retained.is_empty());
    assert!(s.store.record_count() < records_before);
}

#[test]
fn the_sweep_leaves_unexpired_state_alone() {
    let mut s = Sim::new(cfg());
    let (sub, _) = s.connect_persistent("sub", V311);
    s.subscribe(sub, "a", QoS::AtLeastOnce);
    s.disconnect(sub);
    let p = s.connect("pub", V311, true);
    s.publish(p, "a", b"no expiry", QoS::AtLeastOnce, true, 1);
    s.advance(3 * 60_000);
    assert_eq!(s.broker.stats(s.now).queued_messages, 1);
    assert_eq!(s.broker.stats(s.now).retained, 1);
}
