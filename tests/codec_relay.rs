//! `RawPublish`: a PUBLISH relayed from its bytes (a bridge's hot path)
//! must read back as the same message under its new topic, in either
//! protocol version.

use bytes::Bytes;
use tabmq::codec::{
    decode, frame, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS, RawPublish,
};

fn message(qos: QoS, retain: bool, properties: Properties) -> Publish {
    Publish {
        dup: qos != QoS::AtMostOnce,
        qos,
        retain,
        topic: "home/lamp/state".into(),
        packet_id: (qos != QoS::AtMostOnce).then(|| PacketId::new(513).unwrap()),
        properties,
        payload: Bytes::from_static(b"{\"on\":true}"),
    }
}

fn relay(p: &Publish, to: ProtocolVersion, prefix: &str, strip: usize, retain: bool) -> Publish {
    let bytes = Packet::Publish(p.clone())
        .to_bytes(ProtocolVersion::V5)
        .unwrap();
    let f = frame(&bytes, u32::MAX).unwrap().unwrap();
    let raw = RawPublish::parse(f.first_byte, &bytes[f.header_len..], ProtocolVersion::V5).unwrap();
    assert_eq!(raw.topic, p.topic);
    let mut out = Vec::new();
    let len = raw.encode(&mut out, to, prefix, &raw.topic[strip..], retain);
    assert_eq!(len, out.len());
    match decode(&out, to, u32::MAX).unwrap() {
        Some((Packet::Publish(q), used)) if used == out.len() => q,
        other => panic!("relayed bytes read back as {other:?}"),
    }
}

#[test]
fn a_relayed_publish_keeps_everything_but_its_topic_prefix() {
    let properties = Properties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(30),
        content_type: Some("application/json".into()),
        user_properties: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
        ..Properties::default()
    };
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let p = message(qos, true, properties.clone());
        let q = relay(&p, ProtocolVersion::V5, "site1/", "home/".len(), true);
        assert_eq!(q.topic, "site1/lamp/state");
        assert_eq!(q.properties, p.properties);
        assert_eq!(
            (q.qos, q.dup, q.retain, q.packet_id),
            (p.qos, p.dup, true, p.packet_id)
        );
        assert_eq!(q.payload, p.payload);
    }
}

#[test]
fn relayed_to_311_the_properties_are_left_out_and_retain_can_be_cleared() {
    let properties = Properties {
        content_type: Some("text/plain".into()),
        ..Properties::default()
    };
    let p = message(QoS::AtLeastOnce, true, properties);
    let q = relay(&p, ProtocolVersion::V3_1_1, "", 0, false);
    assert_eq!(q.topic, p.topic);
    assert_eq!(q.properties, Properties::default());
    assert!(!q.retain);
    assert_eq!(q.payload, p.payload);
}

#[test]
fn a_publish_without_properties_gets_an_empty_block_in_mqtt_5() {
    let p = message(QoS::AtMostOnce, false, Properties::default());
    let q = relay(&p, ProtocolVersion::V5, "x/", 0, true);
    assert_eq!(q.topic, "x/home/lamp/state");
    assert_eq!(q.properties, Properties::default());
}
