//! The IndexedDB store's write-ahead log (src/store/log.rs) against the
//! reference store: whatever the operations, however they fall into
//! commits, wherever compactions and crashes come, what a restart rebuilds
//! from the record stores and the log is exactly what the reference store
//! holds after the same operations; and compaction writes nothing of a
//! message stored and forgotten within the window.

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::rc::Rc;
use tabmq::codec::{PacketId, Properties, QoS, SubscriptionOptions};
use tabmq::store::log::{replay, LogWindow};
use tabmq::store::{
    DeliveryRecord, DeliveryState, MemoryStore, Message, SessionRecord, Snapshot, StorageOp,
    SubscriptionRecord,
};

const CLIENTS: [&str; 2] = ["a", "b"];

fn message(id: u64) -> Rc<Message> {
    Rc::new(Message {
        id,
        topic: Rc::from(format!("t/{}", id % 3)),
        payload: Bytes::from(format!("payload {id}")),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Properties::default(),
        expires_at: None,
    })
}

fn delivery(client: &str, seq: u64, state: u16) -> DeliveryRecord {
    DeliveryRecord {
        client_id: Rc::from(client),
        seq,
        message_id: seq,
        qos: QoS::AtLeastOnce,
        retain: false,
        subscription_identifiers: Vec::new(),
        shared_filter: None,
        state: PacketId::new(state).map_or(DeliveryState::Queued, DeliveryState::AwaitingPubAck),
    }
}

fn op_strategy() -> impl Strategy<Value = StorageOp> {
    let client = (0..CLIENTS.len()).prop_map(|i| Rc::<str>::from(CLIENTS[i]));
    let id = 1..8u64;
    prop_oneof![
        1 => client.clone().prop_map(|c| StorageOp::PutSession(SessionRecord {
            client_id: c,
            protocol: 5,
            expiry_interval: 60,
            disconnected_at: None,
            pending_will: None,
            will: None,
            username: None,
        })),
        1 => client.clone().prop_map(|client_id| StorageOp::DeleteSession { client_id }),
        1 => (client.clone(), 0..2u8).prop_map(|(c, f)| StorageOp::PutSubscription(SubscriptionRecord {
            client_id: c,
            filter: format!("f/{f}"),
            options: SubscriptionOptions::qos(QoS::AtLeastOnce),
            identifier: None,
        })),
        1 => (client.clone(), 0..2u8).prop_map(|(client_id, f)| StorageOp::DeleteSubscription {
            client_id,
            filter: format!("f/{f}"),
        }),
        4 => id.clone().prop_map(|id| StorageOp::PutMessage(message(id))),
        4 => id.clone().prop_map(|id| StorageOp::DeleteMessage { id }),
        5 => (client.clone(), id.clone(), 0..3u16)
            .prop_map(|(c, seq, state)| StorageOp::PutDelivery(delivery(&c, seq, state))),
        5 => (client.clone(), id.clone()).prop_map(|(client_id, seq)| StorageOp::DeleteDelivery { client_id, seq }),
        1 => id.clone().prop_map(|id| StorageOp::PutRetained(message(id))),
        1 => (1..8u64).prop_map(|id| StorageOp::DeleteRetained { topic: Rc::from(format!("t/{}", id % 3)) }),
        1 => (client.clone(), 1..4u16).prop_map(|(client_id, p)| StorageOp::PutIncomingQos2 {
            client_id,
            packet_id: PacketId::new(p).unwrap(),
        }),
        1 => (client, 1..4u16).prop_map(|(client_id, p)| StorageOp::DeleteIncomingQos2 {
            client_id,
            packet_id: PacketId::new(p).unwrap(),
        }),
    ]
}

/// What happens after each commit.
#[derive(Debug, Clone, Copy)]
enum Then {
    Nothing,
    Compact,
    Crash,
}

fn case_strategy() -> impl Strategy<Value = (Vec<StorageOp>, Vec<(Vec<StorageOp>, Then)>)> {
    let then =
        prop_oneof![6 => Just(Then::Nothing), 2 => Just(Then::Compact), 1 => Just(Then::Crash)];
    (
        prop::collection::vec(op_strategy(), 0..12),
        prop::collection::vec((prop::collection::vec(op_strategy(), 0..8), then), 1..30),
    )
}

/// The record stores and the log of a store, as IndexedDB would hold them.
struct Disk {
    tables: MemoryStore,
    log: Vec<(Vec<StorageOp>, usize)>,
}

proptest! {
    // No regression file is written (the checkout is shared); a failure
    // prints its shrunk input.
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_restart_rebuilds_exactly_what_the_reference_store_holds((initial, commits) in case_strategy()) {
        let mut reference = MemoryStore::default();
        let mut disk = Disk { tables: MemoryStore::default(), log: Vec::new() };
        for op in &initial {
            reference.apply(op);
            disk.tables.apply(op);
        }
        let mut window = LogWindow::new(&disk.tables.snapshot());
        for (ops, then) in commits {
            for op in &ops {
                reference.apply(op);
            }
            // A commit: a log entry, or (a compaction) the window with this
            // batch in it applied to the record stores, and the log emptied.
            window.append(ops.clone(), ops.len());
            if matches!(then, Then::Compact) {
                for op in window.take() {
                    disk.tables.apply(&op);
                }
                disk.log.clear();
            } else {
                let size = ops.len();
                disk.log.push((ops, size));
            }
            if matches!(then, Then::Crash) {
                let (state, rebuilt) = replay(disk.tables.snapshot(), disk.log.clone());
                prop_assert_eq!(&state, &reference.snapshot());
                window = rebuilt;
            }
        }
        // A last compaction, then a restart.
        for op in window.take() {
            disk.tables.apply(&op);
        }
        disk.log.clear();
        let (state, _) = replay(disk.tables.snapshot(), Vec::new());
        prop_assert_eq!(state, reference.snapshot());
    }
}

#[test]
fn a_message_stored_and_forgotten_within_the_window_costs_the_record_stores_nothing() {
    let tables = Snapshot::default();
    let mut w = LogWindow::new(&tables);
    w.append(
        vec![
            StorageOp::PutMessage(message(1)),
            StorageOp::PutDelivery(delivery("a", 1, 0)),
        ],
        100,
    );
    w.append(vec![StorageOp::PutDelivery(delivery("a", 1, 4))], 50);
    w.append(
        vec![
            StorageOp::DeleteDelivery {
                client_id: Rc::from("a"),
                seq: 1,
            },
            StorageOp::DeleteMessage { id: 1 },
        ],
        50,
    );
    assert_eq!(w.entries(), 3);
    assert_eq!(w.take(), Vec::<StorageOp>::new());
}

#[test]
fn a_record_the_record_stores_may_hold_keeps_its_delete() {
    // Message 5 and delivery (a, 3) were compacted: their deletes must reach
    // the record stores even if a put of them is in the window too.
    let mut tables = MemoryStore::default();
    tables.apply(&StorageOp::PutMessage(message(5)));
    tables.apply(&StorageOp::PutDelivery(delivery("a", 3, 0)));
    let mut w = LogWindow::new(&tables.snapshot());
    let ops = [
        StorageOp::PutMessage(message(4)),
        StorageOp::PutDelivery(delivery("a", 2, 0)),
        StorageOp::DeleteMessage { id: 4 },
        StorageOp::DeleteDelivery {
            client_id: Rc::from("a"),
            seq: 2,
        },
    ];
    w.append(ops.to_vec(), 10);
    assert_eq!(w.take(), ops[2..], "ids below what was written: not fresh");
    let ops = [
        StorageOp::PutMessage(message(6)),
        StorageOp::PutDelivery(delivery("a", 4, 0)),
        StorageOp::DeleteMessage { id: 6 },
        StorageOp::DeleteDelivery {
            client_id: Rc::from("a"),
            seq: 4,
        },
    ];
    w.append(ops.to_vec(), 10);
    assert_eq!(w.take(), Vec::<StorageOp>::new(), "ids above: fresh");
}
