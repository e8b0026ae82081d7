//! The IndexedDB store: one readwrite transaction per commit (group commit:
//! while a transaction is in flight, new batches wait and go out together in
//! the next one), and the whole database read back into a `Snapshot` at
//! start-up.
//!
//! A commit is one request: the batch's operations, as `store::wire` bytes,
//! appended to the `log` store (`append`). Every so often a commit is a
//! compaction instead (`compact`): what the log holds, coalesced
//! (`store::log::LogWindow`), applied to the record stores, one request per
//! operation, and the log emptied, in one transaction. At start-up the
//! record stores are read, then the log replayed on top (`load`).
//!
//! Nothing but IndexedDB requests is awaited inside a transaction: every
//! request is issued synchronously, then the commit is awaited.
//!
//! Schema (one database per broker, named `tabmq:<name>`):
//! - v1: object stores `sessions` (key client id), `subscriptions` ([client
//!   id, filter]), `messages` (id), `deliveries` ([client id, seq]),
//!   `retained` (topic), `incoming` ([client id, packet id]). Values are
//!   `{ r: Uint8Array }` (the record, see `store::records`); messages also
//!   carry `x`, their expiry time in ms, when they have one.
//! - v2: adds the object store `meta`: key `schema` holds `{ version,
//!   upgradedFrom, at }`, written after every open that upgraded, so a
//!   database says which code last changed its shape. (An index on an
//!   existing store would need the versionchange transaction, which
//!   indexed_db_futures 0.6 does not expose.)
//! - v3: adds the object store `log`: key a number counting up from 1 (the
//!   log is emptied by each compaction), value a `Uint8Array` holding one
//!   commit (`store::wire::encode_batch`). A v2 database has no log: its
//!   record stores are the whole state.

use crate::codec::PacketId;
use crate::store::log::{self, LogWindow};
use crate::store::records::{self, CorruptRecord};
use crate::store::{wire, Snapshot, StorageOp};
use crate::time::Millis;
use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use indexed_db_futures::KeyRange;
use js_sys::{Array, Object, Reflect, Uint8Array};
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};

/// The schema version this code writes.
pub const SCHEMA_VERSION: u32 = 3;

pub const SESSIONS: &str = "sessions";
pub const SUBSCRIPTIONS: &str = "subscriptions";
pub const MESSAGES: &str = "messages";
pub const DELIVERIES: &str = "deliveries";
pub const RETAINED: &str = "retained";
pub const INCOMING: &str = "incoming";
pub const META: &str = "meta";
pub const LOG: &str = "log";
/// The record stores, then the log: one list, so the two never disagree.
const STORES_AND_LOG: [&str; 7] = [
    SESSIONS,
    SUBSCRIPTIONS,
    MESSAGES,
    DELIVERIES,
    RETAINED,
    INCOMING,
    LOG,
];
/// The record stores.
pub const STORES: &[&str] = STORES_AND_LOG.split_at(6).0;

pub fn db_name(broker: &str) -> String {
    format!("tabmq:{broker}")
}

fn js_err(e: impl std::fmt::Display) -> JsValue {
    JsValue::from_str(&e.to_string())
}

/// Opens (creating or upgrading) the database at `version`. `on_blocked`
/// runs if another connection holds an older version open. Returns the
/// database and the version it had before (0: new).
pub async fn open(
    name: &str,
    version: u32,
    on_blocked: impl Fn() + 'static,
) -> Result<(Database, u32), JsValue> {
    let previous = Rc::new(std::cell::Cell::new(version));
    let seen = previous.clone();
    let db = Database::open(&db_name(name))
        .with_version(version)
        .with_on_blocked(move |_| {
            on_blocked();
            Ok(())
        })
        .with_on_upgrade_needed(move |event, db| {
            let old = event.old_version() as u32;
            let new = event.new_version().map_or(version, |v| v as u32);
            seen.set(old);
            upgrade(&db, old, new)
        })
        .await
        .map_err(js_err)?;
    let old = previous.get();
    if old != version && version >= 2 {
        write_schema_info(&db, version, old).await?;
    }
    Ok((db, old))
}

/// Each step takes the schema one version up.
fn upgrade(db: &Database, old: u32, new: u32) -> indexed_db_futures::Result<()> {
    if old < 1 && new >= 1 {
        for &store in STORES {
            db.create_object_store(store).build()?;
        }
    }
    if old < 2 && new >= 2 {
        db.create_object_store(META).build()?;
    }
    if old < 3 && new >= 3 {
        db.create_object_store(LOG).build()?;
    }
    Ok(())
}

async fn write_schema_info(db: &Database, version: u32, old: u32) -> Result<(), JsValue> {
    let info = Object::new();
    let _ = Reflect::set(&info, &"version".into(), &version.into());
    let _ = Reflect::set(&info, &"upgradedFrom".into(), &old.into());
    let _ = Reflect::set(&info, &"at".into(), &js_sys::Date::now().into());
    let tx = db
        .transaction(META)
        .with_mode(TransactionMode::Readwrite)
        .build()
        .map_err(js_err)?;
    let meta = tx.object_store(META).map_err(js_err)?;
    drop(
        meta.put(JsValue::from(info))
            .with_key(JsValue::from_str("schema"))
            .primitive()
            .map_err(js_err)?,
    );
    tx.commit().await.map_err(js_err)
}

/// The `meta` store's schema record, if the database has one.
pub async fn schema_info(db: &Database) -> Result<JsValue, JsValue> {
    let tx = db.transaction(META).build().map_err(js_err)?;
    let meta = tx.object_store(META).map_err(js_err)?;
    let v = meta
        .get(JsValue::from_str("schema"))
        .primitive()
        .map_err(js_err)?
        .await
        .map_err(js_err)?;
    Ok(v.unwrap_or(JsValue::UNDEFINED))
}

fn record_value(bytes: &[u8]) -> Object {
    let obj = Object::new();
    // Setting a property on a plain new object cannot fail.
    let _ = Reflect::set(&obj, &"r".into(), &Uint8Array::from(bytes));
    obj
}

fn key2(a: &str, b: JsValue) -> JsValue {
    Array::of2(&a.into(), &b).into()
}

/// Every key `[client_id, ...]` of one client: arrays sort after strings and
/// numbers, so `[client_id, []]` bounds them from above.
fn client_range(client_id: &str) -> (JsValue, JsValue) {
    (
        Array::of1(&client_id.into()).into(),
        Array::of2(&client_id.into(), &Array::new()).into(),
    )
}

/// Every key `[client_id, ...]` of one client, as a key range.
fn client_keys(client_id: &str) -> KeyRange<JsValue> {
    let (lo, hi) = client_range(client_id);
    KeyRange::Bound(lo, false, hi, false)
}

/// Appends one commit to the log, under `key`, and waits for it to commit.
/// `flush` as for `compact`.
pub async fn append(db: &Database, key: u64, entry: &[u8], flush: bool) -> Result<(), JsValue> {
    let tx = db
        .transaction(LOG)
        .with_mode(TransactionMode::Readwrite)
        .with_options(transaction_options(flush))
        .build()
        .map_err(js_err)?;
    let store = tx.object_store(LOG).map_err(js_err)?;
    let request = store
        .put(JsValue::from(Uint8Array::from(entry)))
        .with_key(JsValue::from(key as f64));
    request.primitive().map(drop).map_err(js_err)?;
    tx.commit().await.map_err(transaction_error)
}

fn transaction_options(flush: bool) -> indexed_db_futures::transaction::TransactionOptions {
    use indexed_db_futures::transaction::{TransactionDurability, TransactionOptions};
    let durability = if flush {
        TransactionDurability::Strict
    } else {
        TransactionDurability::Relaxed
    };
    TransactionOptions::new().with_durability(durability)
}

/// Applies `ops` to the record stores and empties the log, in one
/// transaction, and waits for it to commit. Returns the number of bytes of
/// record values written.
pub async fn compact(db: &Database, ops: &[StorageOp], flush: bool) -> Result<usize, JsValue> {
    write_records(db, ops, flush, true).await
}

/// As `compact`, with `clear_log` false: the record stores alone (a
/// database of schema version 1 or 2, which has no log, in tests).
/// `flush`: ask for IndexedDB's strict durability (the commit completes once
/// the data is flushed to disk, so an OS crash or power loss cannot take back
/// an acknowledgement); otherwise relaxed, as current browsers default to.
///
/// Each operation is a put of one record (store, key, record bytes) or a
/// delete of keys in one store; requests go out as they are built, and only
/// the commit is awaited.
pub async fn write_records(
    db: &Database,
    ops: &[StorageOp],
    flush: bool,
    clear_log: bool,
) -> Result<usize, JsValue> {
    let names: &[&str] = if clear_log { &STORES_AND_LOG } else { STORES };
    let tx = db
        .transaction(names)
        .with_mode(TransactionMode::Readwrite)
        .with_options(transaction_options(flush))
        .build()
        .map_err(js_err)?;
    if clear_log {
        drop(
            tx.object_store(LOG)
                .map_err(js_err)?
                .clear()
                .map_err(js_err)?,
        );
    }
    let mut stores = Vec::with_capacity(STORES.len());
    for &name in STORES {
        stores.push(tx.object_store(name).map_err(js_err)?);
    }
    let store = |name: &str| {
        let i = STORES.iter().position(|s| *s == name);
        &stores[i.expect("every store of STORES is in the transaction")]
    };
    let mut written = 0;
    // `expires_at`: kept beside a message's record as `x`.
    let mut put = |name: &str, key: JsValue, record: &[u8], expires_at: Option<Millis>| {
        written += record.len();
        let value = record_value(record);
        if let Some(at) = expires_at {
            let _ = Reflect::set(&value, &"x".into(), &(at.0 as f64).into());
        }
        let request = store(name).put(JsValue::from(value)).with_key(key);
        request.primitive().map(drop).map_err(js_err)
    };
    let delete = |name: &str, keys: KeyRange<JsValue>| {
        let request = store(name).delete::<JsValue, _>(keys);
        request.primitive().map(drop).map_err(js_err)
    };
    let key = |k: JsValue| KeyRange::Only(k);
    let id = |n: u64| JsValue::from(n as f64);
    let pid = |p: PacketId| JsValue::from(p.get());
    for op in ops {
        match op {
            StorageOp::PutSession(s) => put(
                SESSIONS,
                s.client_id.as_ref().into(),
                &records::encode_session(s),
                None,
            )?,
            StorageOp::DeleteSession { client_id } => {
                // The session, and everything keyed by its client id.
                delete(SESSIONS, key(client_id.as_ref().into()))?;
                for name in [SUBSCRIPTIONS, DELIVERIES, INCOMING] {
                    delete(name, client_keys(client_id))?;
                }
            }
            StorageOp::PutSubscription(s) => put(
                SUBSCRIPTIONS,
                key2(&s.client_id, s.filter.as_str().into()),
                &records::encode_subscription(s),
                None,
            )?,
            StorageOp::DeleteSubscription { client_id, filter } => {
                delete(SUBSCRIPTIONS, key(key2(client_id, filter.as_str().into())))?
            }
            StorageOp::PutMessage(m) => put(
                MESSAGES,
                id(m.id),
                &records::encode_message(m),
                m.expires_at,
            )?,
            StorageOp::DeleteMessage { id: n } => delete(MESSAGES, key(id(*n)))?,
            StorageOp::PutDelivery(d) => put(
                DELIVERIES,
                key2(&d.client_id, id(d.seq)),
                &records::encode_delivery(d),
                None,
            )?,
            StorageOp::DeleteDelivery { client_id, seq } => {
                delete(DELIVERIES, key(key2(client_id, id(*seq))))?
            }
            StorageOp::PutRetained(m) => put(
                RETAINED,
                m.topic.as_ref().into(),
                &records::encode_message(m),
                None,
            )?,
            StorageOp::DeleteRetained { topic } => delete(RETAINED, key(topic.as_ref().into()))?,
            // The state is the key alone: the record is empty.
            StorageOp::PutIncomingQos2 {
                client_id,
                packet_id,
            } => put(INCOMING, key2(client_id, pid(*packet_id)), &[], None)?,
            StorageOp::DeleteIncomingQos2 {
                client_id,
                packet_id,
            } => delete(INCOMING, key(key2(client_id, pid(*packet_id))))?,
        }
    }
    tx.commit().await.map_err(transaction_error)?;
    Ok(written)
}

/// The reason a transaction failed, with the DOMException name (for example
/// QuotaExceededError) when the browser gives one.
fn transaction_error(e: indexed_db_futures::error::Error) -> JsValue {
    js_err(format!("IndexedDB transaction failed: {e}"))
}

/// Raw values of one store.
async fn values(db: &Database, store: &str) -> Result<Vec<JsValue>, JsValue> {
    let tx = db.transaction(store).build().map_err(js_err)?;
    let s = tx.object_store(store).map_err(js_err)?;
    let iter = s
        .get_all::<JsValue>()
        .primitive()
        .map_err(js_err)?
        .await
        .map_err(js_err)?;
    iter.map(|v| v.map_err(js_err)).collect()
}

fn record_bytes(value: &JsValue) -> Option<Vec<u8>> {
    let r = Reflect::get(value, &"r".into()).ok()?;
    r.dyn_ref::<Uint8Array>().map(Uint8Array::to_vec)
}

/// What reading the database found: the snapshot, the number of records,
/// the records that could not be read (skipped), the log since the last
/// compaction and the key for the next log entry.
pub struct Loaded {
    pub snapshot: Snapshot,
    pub records: usize,
    pub corrupt: Vec<String>,
    pub window: LogWindow,
    pub next_log_key: u64,
}

/// Reads every store into a snapshot: the record stores, then the log
/// replayed on top. A record that cannot be read is skipped and reported,
/// never fatal.
pub async fn load(db: &Database) -> Result<Loaded, JsValue> {
    let mut out = Loaded {
        snapshot: Snapshot::default(),
        records: 0,
        corrupt: Vec::new(),
        window: LogWindow::default(),
        next_log_key: 1,
    };
    let mut read = |store: &str, value: &JsValue| -> Option<Vec<u8>> {
        out.records += 1;
        let bytes = record_bytes(value);
        if bytes.is_none() {
            out.corrupt
                .push(format!("{store}: value is not a tabmq record"));
        }
        bytes
    };
    let mut corrupt = Vec::new();
    let mut note = |store: &str, r: Result<(), CorruptRecord>| {
        if let Err(e) = r {
            corrupt.push(format!("{store}: {e}"));
        }
    };
    for v in values(db, SESSIONS).await? {
        if let Some(b) = read(SESSIONS, &v) {
            note(
                SESSIONS,
                records::decode_session(&b).map(|s| out.snapshot.sessions.push(s)),
            );
        }
    }
    for v in values(db, SUBSCRIPTIONS).await? {
        if let Some(b) = read(SUBSCRIPTIONS, &v) {
            note(
                SUBSCRIPTIONS,
                records::decode_subscription(&b).map(|s| out.snapshot.subscriptions.push(s)),
            );
        }
    }
    for v in values(db, MESSAGES).await? {
        if let Some(b) = read(MESSAGES, &v) {
            note(
                MESSAGES,
                records::decode_message(&b).map(|m| out.snapshot.messages.push(Rc::new(m))),
            );
        }
    }
    for v in values(db, DELIVERIES).await? {
        if let Some(b) = read(DELIVERIES, &v) {
            note(
                DELIVERIES,
                records::decode_delivery(&b).map(|d| out.snapshot.deliveries.push(d)),
            );
        }
    }
    for v in values(db, RETAINED).await? {
        if let Some(b) = read(RETAINED, &v) {
            note(
                RETAINED,
                records::decode_message(&b).map(|m| out.snapshot.retained.push(Rc::new(m))),
            );
        }
    }
    out.snapshot.incoming_qos2 = incoming_keys(db).await?;
    out.records += out.snapshot.incoming_qos2.len();
    out.corrupt.extend(corrupt);
    let (entries, next_key) = log_entries(db, &mut out.corrupt).await?;
    let tables = std::mem::take(&mut out.snapshot);
    (out.snapshot, out.window) = log::replay(tables, entries);
    out.next_log_key = next_key;
    Ok(out)
}

/// The log's entries in order, each as its operations and its size; and
/// the key after the last. An operation that does not read is skipped and
/// reported (broken framing: the rest of that entry).
async fn log_entries(
    db: &Database,
    corrupt: &mut Vec<String>,
) -> Result<(Vec<(Vec<StorageOp>, usize)>, u64), JsValue> {
    let tx = db.transaction(LOG).build().map_err(js_err)?;
    let s = tx.object_store(LOG).map_err(js_err)?;
    let keys = s.get_all_keys::<JsValue>().primitive().map_err(js_err)?;
    let values = s.get_all::<JsValue>().primitive().map_err(js_err)?;
    let last = keys
        .await
        .map_err(js_err)?
        .filter_map(|k| k.ok()?.as_f64())
        .fold(0.0, f64::max);
    let mut entries = Vec::new();
    for v in values.await.map_err(js_err)? {
        let v = v.map_err(js_err)?;
        let Some(bytes) = v.dyn_ref::<Uint8Array>().map(Uint8Array::to_vec) else {
            corrupt.push(format!("{LOG}: an entry is not a tabmq log entry"));
            continue;
        };
        let mut ops = Vec::new();
        match wire::decode_batch(&bytes) {
            Ok((_, reads)) => {
                for r in reads {
                    match r {
                        wire::Read::Op(op) => ops.push(op),
                        wire::Read::Corrupt(store, e) => {
                            corrupt.push(format!("{LOG} ({store}): {e}"))
                        }
                    }
                }
            }
            Err(e) => corrupt.push(format!("{LOG}: {e}")),
        }
        entries.push((ops, bytes.len()));
    }
    Ok((entries, last as u64 + 1))
}

/// The incoming QoS 2 state lives in the keys alone.
async fn incoming_keys(db: &Database) -> Result<Vec<(Rc<str>, PacketId)>, JsValue> {
    let tx = db.transaction(INCOMING).build().map_err(js_err)?;
    let s = tx.object_store(INCOMING).map_err(js_err)?;
    let keys = s
        .get_all_keys::<JsValue>()
        .primitive()
        .map_err(js_err)?
        .await
        .map_err(js_err)?;
    let mut out = Vec::new();
    for key in keys {
        let key = key.map_err(js_err)?;
        let arr: Array = key.unchecked_into();
        let client = arr.get(0).as_string();
        let pid = arr.get(1).as_f64().and_then(|p| PacketId::new(p as u16));
        if let (Some(c), Some(p)) = (client, pid) {
            out.push((Rc::from(c), p));
        }
    }
    Ok(out)
}

/// Deletes every record (best effort, after a failed commit: what the
/// database holds no longer matches the broker, and a later start must not
/// restore it).
pub async fn clear(db: &Database) -> Result<(), JsValue> {
    let tx = db
        .transaction(STORES_AND_LOG)
        .with_mode(TransactionMode::Readwrite)
        .build()
        .map_err(js_err)?;
    for name in STORES_AND_LOG {
        let s = tx.object_store(name).map_err(js_err)?;
        drop(s.clear().map_err(js_err)?);
    }
    tx.commit().await.map_err(js_err)
}

/// Number of records in every store (for stats).
pub async fn count(db: &Database) -> Result<usize, JsValue> {
    let tx = db.transaction(STORES).build().map_err(js_err)?;
    let mut total = 0;
    for name in STORES {
        let s = tx.object_store(name).map_err(js_err)?;
        total += s
            .count()
            .primitive()
            .map_err(js_err)?
            .await
            .map_err(js_err)? as usize;
    }
    Ok(total)
}
