//! Storage records survive the trip to bytes and back, and damaged bytes are
//! reported as corrupt, never a panic.

use proptest::prelude::*;
use std::rc::Rc;
use tabmq::codec::{PacketId, Properties, QoS, RetainHandling, SubscriptionOptions};
use tabmq::store::records::*;
use tabmq::store::{
    DeliveryRecord, DeliveryState, Message, SessionRecord, SubscriptionRecord, WillRecord,
};
use tabmq::time::Millis;

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn text() -> impl Strategy<Value = String> {
    "[a-z/é€]{0,20}"
}

fn message() -> impl Strategy<Value = Message> {
    (
        any::<u64>(),
        "[a-z/]{1,20}",
        proptest::collection::vec(any::<u8>(), 0..64),
        qos(),
        any::<bool>(),
        proptest::option::of(any::<u64>()),
        proptest::option::of(text()),
        proptest::collection::vec((text(), text()), 0..3),
    )
        .prop_map(|(id, topic, payload, qos, retain, exp, ct, ups)| Message {
            id,
            topic: Rc::from(topic),
            payload: payload.into(),
            qos,
            retain,
            properties: Properties {
                content_type: ct,
                user_properties: ups,
                ..Default::default()
            },
            expires_at: exp.map(Millis),
        })
}

fn will() -> impl Strategy<Value = Option<WillRecord>> {
    proptest::option::of((message(), any::<u32>()).prop_map(|(m, delay)| WillRecord {
        message: Rc::new(m),
        delay,
    }))
}

proptest! {
    #[test]
    fn messages_round_trip(m in message()) {
        prop_assert_eq!(decode_message(&encode_message(&m)).unwrap(), m);
    }

    #[test]
    fn sessions_round_trip(id in text(), protocol in 3u8..=5, expiry in any::<u32>(), at in proptest::option::of(any::<u64>()), pending in will(), current in will(), user in proptest::option::of(text())) {
        let s = SessionRecord { client_id: Rc::from(id), protocol, expiry_interval: expiry, disconnected_at: at.map(Millis), pending_will: pending, will: current, username: user.map(|u| Rc::from(u.as_str())) };
        prop_assert_eq!(decode_session(&encode_session(&s)).unwrap(), s);
    }

    #[test]
    fn subscriptions_round_trip(id in text(), filter in "[a-z/+#]{1,20}", q in qos(), nl in any::<bool>(), rap in any::<bool>(), rh in 0u8..3, ident in proptest::option::of(1u32..268_435_455)) {
        let retain_handling = [RetainHandling::OnSubscribe, RetainHandling::OnNewSubscribe, RetainHandling::Never][rh as usize];
        let s = SubscriptionRecord { client_id: Rc::from(id), filter, options: SubscriptionOptions { qos: q, no_local: nl, retain_as_published: rap, retain_handling }, identifier: ident };
        prop_assert_eq!(decode_subscription(&encode_subscription(&s)).unwrap(), s);
    }

    #[test]
    fn deliveries_round_trip(id in text(), seq in any::<u64>(), mid in any::<u64>(), q in qos(), retain in any::<bool>(), ids in proptest::collection::vec(1u32..1000, 0..4), shared in proptest::option::of("\\$share/g/[a-z]{1,5}"), tag in 0u8..4, pid in 1u16..) {
        let p = PacketId::new(pid).unwrap();
        let state = [DeliveryState::Queued, DeliveryState::AwaitingPubAck(p), DeliveryState::AwaitingPubRec(p), DeliveryState::AwaitingPubComp(p)][tag as usize];
        let d = DeliveryRecord { client_id: Rc::from(id), seq, message_id: mid, qos: q, retain, subscription_identifiers: ids, shared_filter: shared.map(Rc::from), state };
        prop_assert_eq!(decode_delivery(&encode_delivery(&d)).unwrap(), d);
    }

    /// Truncated or flipped bytes are an error or a value, never a panic.
    #[test]
    fn damaged_records_never_panic(m in message(), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
        let bytes = encode_message(&m);
        let _ = decode_message(&bytes[..cut.index(bytes.len())]);
        let mut damaged = bytes.clone();
        let i = flip.index(damaged.len());
        damaged[i] ^= 0x5A;
        let _ = decode_message(&damaged);
        let _ = decode_session(&damaged);
        let _ = decode_delivery(&damaged);
        let _ = decode_subscription(&damaged);
    }
}

#[test]
fn an_unknown_format_is_reported_as_corrupt() {
    let mut bytes = encode_message(&Message {
        id: 1,
        topic: Rc::from("t"),
        payload: Default::default(),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties::default(),
        expires_at: None,
    });
    bytes[0] = 9;
    let err = decode_message(&bytes).unwrap_err();
    assert!(err.to_string().contains("format 9"), "{err}");
}
