//! Storage operations as flat bytes (`store::wire`), the form in which a
//! host-kept store (the Node host's SQLite database) receives commits and
//! hands the database back at start-up: every operation survives the trip,
//! loading what a store holds restores the reference store's snapshot, and
//! damaged bytes are skipped and reported, never a panic.

use proptest::prelude::*;
use std::rc::Rc;
use tabmq::codec::{PacketId, Properties, QoS, SubscriptionOptions};
use tabmq::store::wire::{self, Read};
use tabmq::store::{
    DeliveryRecord, DeliveryState, MemoryStore, Message, SessionRecord, Snapshot, StorageOp,
    SubscriptionRecord, WillRecord,
};
use tabmq::time::Millis;

const MAX_SAFE: u64 = (1 << 53) - 1;

fn client() -> impl Strategy<Value = Rc<str>> {
    prop_oneof![Just("a"), Just("b"), Just("c/é"), Just("")].prop_map(Rc::from)
}

fn message() -> impl Strategy<Value = Rc<Message>> {
    (
        1..MAX_SAFE,
        prop_oneof![Just("t/1"), Just("t/2"), Just("cfg")],
        proptest::collection::vec(any::<u8>(), 0..32),
        proptest::option::of(0..MAX_SAFE),
    )
        .prop_map(|(id, topic, payload, exp)| {
            Rc::new(Message {
                id,
                topic: Rc::from(topic),
                payload: payload.into(),
                qos: QoS::AtLeastOnce,
                retain: false,
                properties: Properties {
                    content_type: Some("text/plain".into()),
                    ..Default::default()
                },
                expires_at: exp.map(Millis),
            })
        })
}

fn op() -> impl Strategy<Value = StorageOp> {
    let pid = (1u16..).prop_map(|p| PacketId::new(p).unwrap());
    prop_oneof![
        (client(), any::<u32>(), proptest::option::of(message())).prop_map(|(c, e, w)| {
            StorageOp::PutSession(SessionRecord {
                client_id: c,
                protocol: 5,
                expiry_interval: e,
                disconnected_at: Some(Millis(5)),
                pending_will: w.map(|message| WillRecord { message, delay: 3 }),
                will: None,
                username: Some(Rc::from("u")),
            })
        }),
        client().prop_map(|client_id| StorageOp::DeleteSession { client_id }),
        (client(), prop_oneof![Just("x/#"), Just("$share/g/y")]).prop_map(|(c, f)| {
            StorageOp::PutSubscription(SubscriptionRecord {
                client_id: c,
                filter: f.into(),
                options: SubscriptionOptions::qos(QoS::ExactlyOnce),
                identifier: Some(9),
            })
        }),
        (client(), prop_oneof![Just("x/#"), Just("$share/g/y")]).prop_map(|(c, f)| {
            StorageOp::DeleteSubscription {
                client_id: c,
                filter: f.into(),
            }
        }),
        message().prop_map(StorageOp::PutMessage),
        (1..MAX_SAFE).prop_map(|id| StorageOp::DeleteMessage { id }),
        (client(), 1..MAX_SAFE, 1..MAX_SAFE, pid.clone()).prop_map(|(c, seq, m, p)| {
            StorageOp::PutDelivery(DeliveryRecord {
                client_id: c,
                seq,
                message_id: m,
                qos: QoS::ExactlyOnce,
                retain: false,
                subscription_identifiers: vec![9],
                shared_filter: None,
                state: DeliveryState::AwaitingPubRec(p),
            })
        }),
        (client(), 1..MAX_SAFE)
            .prop_map(|(client_id, seq)| StorageOp::DeleteDelivery { client_id, seq }),
        message().prop_map(StorageOp::PutRetained),
        prop_oneof![Just("t/1"), Just("cfg")]
            .prop_map(|t| StorageOp::DeleteRetained { topic: Rc::from(t) }),
        (client(), pid.clone()).prop_map(|(client_id, packet_id)| StorageOp::PutIncomingQos2 {
            client_id,
            packet_id
        }),
        (client(), pid).prop_map(|(client_id, packet_id)| StorageOp::DeleteIncomingQos2 {
            client_id,
            packet_id
        }),
    ]
}

/// What a store holding `snapshot` hands back at start-up: a put per record.
fn puts(snapshot: &Snapshot) -> Vec<u8> {
    let mut out = Vec::new();
    let mut put = |op: StorageOp| wire::encode_op(&op, &mut out);
    snapshot
        .sessions
        .iter()
        .cloned()
        .for_each(|s| put(StorageOp::PutSession(s)));
    (snapshot.subscriptions.iter().cloned()).for_each(|s| put(StorageOp::PutSubscription(s)));
    snapshot
        .messages
        .iter()
        .cloned()
        .for_each(|m| put(StorageOp::PutMessage(m)));
    snapshot
        .deliveries
        .iter()
        .cloned()
        .for_each(|d| put(StorageOp::PutDelivery(d)));
    snapshot
        .retained
        .iter()
        .cloned()
        .for_each(|m| put(StorageOp::PutRetained(m)));
    for (client_id, packet_id) in snapshot.incoming_qos2.iter().cloned() {
        put(StorageOp::PutIncomingQos2 {
            client_id,
            packet_id,
        });
    }
    out
}

proptest! {
    #[test]
    fn every_operation_survives_the_trip(ticket in 1..MAX_SAFE, ops in proptest::collection::vec(op(), 0..40)) {
        let mut bytes = Vec::new();
        wire::encode_batch(ticket, &ops, &mut bytes);
        let (t, read) = wire::decode_batch(&bytes).unwrap();
        prop_assert_eq!(t, ticket);
        let read: Vec<StorageOp> = read.into_iter().map(|r| match r {
            Read::Op(op) => op,
            Read::Corrupt(table, e) => panic!("{table}: {e}"),
        }).collect();
        prop_assert_eq!(read, ops);
    }

    #[test]
    fn loading_what_a_store_holds_restores_the_reference_snapshot(ops in proptest::collection::vec(op(), 0..60)) {
        let mut reference = MemoryStore::default();
        for op in &ops {
            reference.apply(op);
        }
        let loaded = wire::load(&puts(&reference.snapshot()));
        prop_assert!(loaded.corrupt.is_empty(), "{:?}", loaded.corrupt);
        prop_assert_eq!(loaded.records, reference.record_count());
        prop_assert_eq!(loaded.snapshot, reference.snapshot());
    }

    /// Truncated or flipped bytes are skipped and reported, never a panic.
    #[test]
    fn damaged_bytes_never_panic(ops in proptest::collection::vec(op(), 1..20), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
        let mut bytes = Vec::new();
        ops.iter().for_each(|op| wire::encode_op(op, &mut bytes));
        let _ = wire::load(&bytes[..cut.index(bytes.len())]);
        let i = flip.index(bytes.len());
        bytes[i] ^= 0x5A;
        let _ = wire::load(&bytes);
    }
}

fn session(id: &str) -> StorageOp {
    StorageOp::PutSession(SessionRecord {
        client_id: Rc::from(id),
        protocol: 4,
        expiry_interval: u32::MAX,
        disconnected_at: None,
        pending_will: None,
        will: None,
        username: None,
    })
}

#[test]
fn a_record_that_does_not_read_is_skipped_and_the_rest_restored() {
    let mut rows = Vec::new();
    wire::encode_op(&session("a"), &mut rows);
    // A session row whose record is junk, framed correctly.
    rows.push(wire::kind::PUT_SESSION);
    rows.extend_from_slice(&1u32.to_le_bytes());
    rows.push(b'z');
    rows.extend_from_slice(&3u32.to_le_bytes());
    rows.extend_from_slice(&[1, 0, 9]);
    wire::encode_op(&session("b"), &mut rows);
    let loaded = wire::load(&rows);
    assert_eq!(loaded.records, 3);
    assert_eq!(loaded.corrupt.len(), 1, "{:?}", loaded.corrupt);
    assert!(
        loaded.corrupt[0].starts_with("sessions:"),
        "{}",
        loaded.corrupt[0]
    );
    let ids: Vec<&str> = loaded
        .snapshot
        .sessions
        .iter()
        .map(|s| &*s.client_id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

#[test]
fn truncated_rows_keep_what_came_before() {
    let mut rows = Vec::new();
    wire::encode_op(&session("a"), &mut rows);
    let whole = rows.len();
    wire::encode_op(&session("b"), &mut rows);
    let loaded = wire::load(&rows[..whole + 5]);
    assert_eq!(loaded.snapshot.sessions.len(), 1);
    assert_eq!(loaded.corrupt.len(), 1);
    assert!(
        loaded.corrupt[0].contains("truncated"),
        "{}",
        loaded.corrupt[0]
    );
}

#[test]
fn a_damaged_key_costs_its_row_alone() {
    let mut rows = Vec::new();
    // A delivery whose seq key is not a whole number: its record still
    // reads, so it is restored; what follows is restored too.
    let delivery = StorageOp::PutDelivery(DeliveryRecord {
        client_id: Rc::from("a"),
        seq: 1,
        message_id: 1,
        qos: QoS::AtLeastOnce,
        retain: false,
        subscription_identifiers: vec![],
        shared_filter: None,
        state: DeliveryState::Queued,
    });
    let start = rows.len();
    wire::encode_op(&delivery, &mut rows);
    let seq_at = start + 1 + 4 + 1;
    rows[seq_at..seq_at + 8].copy_from_slice(&1.5f64.to_le_bytes());
    // An incoming QoS 2 row with packet id 0, then a good session.
    rows.push(wire::kind::PUT_INCOMING);
    rows.extend_from_slice(&1u32.to_le_bytes());
    rows.push(b'a');
    rows.extend_from_slice(&0u16.to_le_bytes());
    wire::encode_op(&session("b"), &mut rows);
    let loaded = wire::load(&rows);
    assert_eq!(loaded.records, 3);
    assert_eq!(loaded.corrupt.len(), 1, "{:?}", loaded.corrupt);
    assert!(
        loaded.corrupt[0].starts_with("incoming:"),
        "{}",
        loaded.corrupt[0]
    );
    assert_eq!(loaded.snapshot.deliveries.len(), 1);
    assert_eq!(loaded.snapshot.sessions.len(), 1);
}
