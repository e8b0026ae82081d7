//! The IndexedDB store against a real IndexedDB (Chromium, through
//! wasm-bindgen-test-runner): it applies storage operations exactly as the
//! reference `MemoryStore` does, deletes a session's records with it,
//! replays its log at start-up, and upgrades a database written by schema
//! version 1 or 2.
#![cfg(target_arch = "wasm32")]

use bytes::Bytes;
use std::rc::Rc;
use tabmq::codec::{PacketId, Properties, QoS, SubscriptionOptions};
use tabmq::store::{
    wire, DeliveryRecord, DeliveryState, MemoryStore, Message, SessionRecord, StorageOp,
    SubscriptionRecord,
};
use tabmq::time::Millis;
use tabmq::wasm::idb;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", js_sys::Math::random())
}

fn message(id: u64, topic: &str) -> Rc<Message> {
    Rc::new(Message {
        id,
        topic: Rc::from(topic),
        payload: Bytes::from(format!("payload {id}")),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Properties {
            content_type: Some("text/plain".into()),
            ..Default::default()
        },
        expires_at: Some(Millis(1_900_000_000_000)),
    })
}

fn session(id: &str) -> SessionRecord {
    SessionRecord {
        client_id: Rc::from(id),
        protocol: 5,
        expiry_interval: 3600,
        disconnected_at: Some(Millis(1_800_000_000_000)),
        pending_will: None,
        will: None,
        username: Some(Rc::from("alice")),
    }
}

fn subscription(client: &str, filter: &str) -> SubscriptionRecord {
    SubscriptionRecord {
        client_id: Rc::from(client),
        filter: filter.into(),
        options: SubscriptionOptions::qos(QoS::ExactlyOnce),
        identifier: Some(7),
    }
}

fn delivery(client: &str, seq: u64, message_id: u64, state: DeliveryState) -> DeliveryRecord {
    DeliveryRecord {
        client_id: Rc::from(client),
        seq,
        message_id,
        qos: QoS::AtLeastOnce,
        retain: false,
        subscription_identifiers: vec![7],
        shared_filter: None,
        state,
    }
}

/// A workload touching every kind of record, including overwrites and deletes.
fn workload() -> Vec<StorageOp> {
    let pid = |n| PacketId::new(n).unwrap();
    vec![
        StorageOp::PutSession(session("a")),
        StorageOp::PutSession(session("b")),
        StorageOp::PutSubscription(subscription("a", "home/#")),
        StorageOp::PutSubscription(subscription("a", "$share/g/x/+")),
        StorageOp::PutSubscription(subscription("b", "home/#")),
        StorageOp::PutMessage(message(1, "home/t")),
        StorageOp::PutMessage(message(2, "home/h")),
        StorageOp::PutDelivery(delivery("a", 1, 1, DeliveryState::Queued)),
        StorageOp::PutDelivery(delivery("a", 2, 2, DeliveryState::Queued)),
        StorageOp::PutDelivery(delivery("b", 1, 1, DeliveryState::AwaitingPubAck(pid(9)))),
        StorageOp::PutDelivery(delivery("a", 1, 1, DeliveryState::AwaitingPubRec(pid(3)))),
        StorageOp::DeleteDelivery {
            client_id: Rc::from("a"),
            seq: 2,
        },
        StorageOp::PutRetained(message(3, "cfg/a")),
        StorageOp::PutRetained(message(4, "cfg/b")),
        StorageOp::DeleteRetained {
            topic: Rc::from("cfg/b"),
        },
        StorageOp::PutIncomingQos2 {
            client_id: Rc::from("b"),
            packet_id: pid(5),
        },
        StorageOp::PutIncomingQos2 {
            client_id: Rc::from("b"),
            packet_id: pid(6),
        },
        StorageOp::DeleteIncomingQos2 {
            client_id: Rc::from("b"),
            packet_id: pid(6),
        },
        StorageOp::DeleteSubscription {
            client_id: Rc::from("a"),
            filter: "$share/g/x/+".into(),
        },
    ]
}

#[wasm_bindgen_test]
async fn the_store_agrees_with_the_reference_store() {
    let name = unique("agree");
    let (db, old) = idb::open(&name, idb::SCHEMA_VERSION, || {}).await.unwrap();
    assert_eq!(old, 0, "a new database");
    let ops = workload();
    // Two transactions, as group commit would split them.
    idb::compact(&db, &ops[..9], true).await.unwrap();
    idb::compact(&db, &ops[9..], true).await.unwrap();
    let mut reference = MemoryStore::default();
    for op in &ops {
        reference.apply(op);
    }
    let loaded = idb::load(&db).await.unwrap();
    assert!(loaded.corrupt.is_empty(), "{:?}", loaded.corrupt);
    assert_eq!(loaded.snapshot, reference.snapshot());
    assert_eq!(loaded.records, reference.record_count());
    assert_eq!(idb::count(&db).await.unwrap(), reference.record_count());
}

#[wasm_bindgen_test]
async fn deleting_a_session_deletes_everything_keyed_by_it() {
    let name = unique("cascade");
    let (db, _) = idb::open(&name, idb::SCHEMA_VERSION, || {}).await.unwrap();
    let mut ops = workload();
    ops.push(StorageOp::DeleteSession {
        client_id: Rc::from("b"),
    });
    idb::compact(&db, &ops, true).await.unwrap();
    let mut reference = MemoryStore::default();
    for op in &ops {
        reference.apply(op);
    }
    let snap = idb::load(&db).await.unwrap().snapshot;
    assert_eq!(snap, reference.snapshot());
    assert!(snap.sessions.iter().all(|s| &*s.client_id != "b"));
    assert!(snap.subscriptions.iter().all(|s| &*s.client_id != "b"));
    assert!(snap.deliveries.iter().all(|d| &*d.client_id != "b"));
    assert!(snap.incoming_qos2.is_empty());
    assert_eq!(snap.subscriptions.len(), 1, "a's own subscription stays");
}

#[wasm_bindgen_test]
async fn a_version_1_or_2_database_upgrades_to_the_current_version_with_its_records() {
    for from in [1, 2] {
        let name = unique("upgrade");
        let (before, old) = idb::open(&name, from, || {}).await.unwrap();
        assert_eq!(old, 0);
        let ops = workload();
        idb::write_records(&before, &ops, true, false)
            .await
            .unwrap();
        before.close();
        let (db, old) = idb::open(&name, idb::SCHEMA_VERSION, || {}).await.unwrap();
        assert_eq!(old, from, "opened at version {from} before");
        let info = idb::schema_info(&db).await.unwrap();
        let get = |k: &str| js_sys::Reflect::get(&info, &k.into()).unwrap().as_f64();
        assert_eq!(get("version"), Some(f64::from(idb::SCHEMA_VERSION)));
        assert_eq!(get("upgradedFrom"), Some(f64::from(from)));
        let mut reference = MemoryStore::default();
        for op in &ops {
            reference.apply(op);
        }
        let loaded = idb::load(&db).await.unwrap();
        assert_eq!(loaded.snapshot, reference.snapshot());
        // The upgraded database takes log entries.
        let more = [StorageOp::DeleteSession {
            client_id: Rc::from("a"),
        }];
        let mut entry = Vec::new();
        wire::encode_batch(1, &more, &mut entry);
        idb::append(&db, loaded.next_log_key, &entry, true)
            .await
            .unwrap();
        reference.apply(&more[0]);
        assert_eq!(idb::load(&db).await.unwrap().snapshot, reference.snapshot());
    }
}

#[wasm_bindgen_test]
async fn the_log_is_replayed_at_start_and_a_compaction_empties_it() {
    let name = unique("log");
    let (db, _) = idb::open(&name, idb::SCHEMA_VERSION, || {}).await.unwrap();
    let ops = workload();
    let mut reference = MemoryStore::default();
    for op in &ops {
        reference.apply(op);
    }
    idb::compact(&db, &ops[..5], true).await.unwrap();
    for (i, part) in [&ops[5..12], &ops[12..]].into_iter().enumerate() {
        let mut entry = Vec::new();
        wire::encode_batch(i as u64 + 1, part, &mut entry);
        idb::append(&db, i as u64 + 1, &entry, true).await.unwrap();
    }
    // A log entry whose framing is broken: reported, the rest restored.
    idb::append(&db, 3, &[0, 0, 0, 0, 0, 0, 0, 0, 99], true)
        .await
        .unwrap();
    let mut loaded = idb::load(&db).await.unwrap();
    assert_eq!(loaded.corrupt.len(), 1, "{:?}", loaded.corrupt);
    assert!(
        loaded.corrupt[0].starts_with("log:"),
        "{}",
        loaded.corrupt[0]
    );
    assert_eq!(loaded.snapshot, reference.snapshot());
    assert_eq!(loaded.window.entries(), 3);
    assert_eq!(loaded.next_log_key, 4);
    // The compaction writes what the log held to the record stores.
    idb::compact(&db, &loaded.window.take(), true)
        .await
        .unwrap();
    let after = idb::load(&db).await.unwrap();
    assert_eq!(after.snapshot, reference.snapshot());
    assert_eq!(after.window.entries(), 0, "the log is empty");
    assert_eq!(after.next_log_key, 1);
    assert_eq!(idb::count(&db).await.unwrap(), reference.record_count());
}

#[wasm_bindgen_test]
async fn a_record_that_cannot_be_read_is_skipped_and_reported() {
    use indexed_db_futures::prelude::*;
    use indexed_db_futures::transaction::TransactionMode;
    let name = unique("corrupt");
    let (db, _) = idb::open(&name, idb::SCHEMA_VERSION, || {}).await.unwrap();
    idb::compact(&db, &workload(), true).await.unwrap();
    let tx = db
        .transaction(idb::SESSIONS)
        .with_mode(TransactionMode::Readwrite)
        .build()
        .unwrap();
    let store = tx.object_store(idb::SESSIONS).unwrap();
    let junk = js_sys::Object::new();
    js_sys::Reflect::set(
        &junk,
        &"r".into(),
        &js_sys::Uint8Array::from(&[1u8, 0, 9, 0xff][..]),
    )
    .unwrap();
    drop(
        store
            .put(wasm_bindgen::JsValue::from(junk))
            .with_key(wasm_bindgen::JsValue::from_str("zz"))
            .primitive()
            .unwrap(),
    );
    tx.commit().await.unwrap();
    let loaded = idb::load(&db).await.unwrap();
    assert_eq!(loaded.corrupt.len(), 1, "{:?}", loaded.corrupt);
    assert!(
        loaded.corrupt[0].starts_with("sessions:"),
        "{}",
        loaded.corrupt[0]
    );
    assert_eq!(
        loaded.snapshot.sessions.len(),
        2,
        "the readable sessions are kept"
    );
}
