//! Storage operations as flat bytes, for a store that lives in the host
//! (the Node host's SQLite database, `www/node/store/`). One commit crosses
//! from wasm to the host as one buffer, and the whole database comes back at
//! start-up as one buffer of the same shape: no per-record calls between
//! wasm and JS. The records inside are `records.rs`'s bytes, exactly what
//! the IndexedDB store keeps; the fields before them are the keys a store
//! indexes them by.
//!
//! A buffer is a sequence of operations; a commit starts with its ticket
//! (f64, little-endian). Each operation is one kind byte, then its fields,
//! in this order (`str`/`rec`: u32 little-endian length, then the bytes;
//! `f64`: little-endian; `u16`: little-endian):
//!
//! | kind | operation            | fields                        |
//! |------|----------------------|-------------------------------|
//! | 1    | PutSession           | client str, record rec        |
//! | 2    | DeleteSession        | client str                    |
//! | 3    | PutSubscription      | client str, filter str, rec   |
//! | 4    | DeleteSubscription   | client str, filter str        |
//! | 5    | PutMessage           | id f64, expires f64 (-1: none), rec |
//! | 6    | DeleteMessage        | id f64                        |
//! | 7    | PutDelivery          | client str, seq f64, rec      |
//! | 8    | DeleteDelivery       | client str, seq f64           |
//! | 9    | PutRetained          | topic str, rec                |
//! | 10   | DeleteRetained       | topic str                     |
//! | 11   | PutIncomingQos2      | client str, packet id u16     |
//! | 12   | DeleteIncomingQos2   | client str, packet id u16     |
//!
//! What a store reads back at start-up is the put operations of what it
//! holds, with no ticket; `load` replays them into the reference store.

use super::records::{self, CorruptRecord};
use super::{MemoryStore, Snapshot, StorageOp, Ticket};
use crate::codec::PacketId;
use crate::time::Millis;
use std::rc::Rc;

/// The kind byte of each operation.
pub mod kind {
    pub const PUT_SESSION: u8 = 1;
    pub const DELETE_SESSION: u8 = 2;
    pub const PUT_SUBSCRIPTION: u8 = 3;
    pub const DELETE_SUBSCRIPTION: u8 = 4;
    pub const PUT_MESSAGE: u8 = 5;
    pub const DELETE_MESSAGE: u8 = 6;
    pub const PUT_DELIVERY: u8 = 7;
    pub const DELETE_DELIVERY: u8 = 8;
    pub const PUT_RETAINED: u8 = 9;
    pub const DELETE_RETAINED: u8 = 10;
    pub const PUT_INCOMING: u8 = 11;
    pub const DELETE_INCOMING: u8 = 12;
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    // Records and strings come from packets the codec accepted (at most the
    // 256 MiB an MQTT packet can hold).
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_f64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&(v as f64).to_le_bytes());
}

/// Appends the record `encode` writes, its length first.
fn put_rec(out: &mut Vec<u8>, encode: impl FnOnce() -> Vec<u8>) {
    let record = encode();
    put_len(out, record.len());
    out.extend_from_slice(&record);
}

/// Appends one commit: `ticket`, then `ops` in order.
pub fn encode_batch(ticket: Ticket, ops: &[StorageOp], out: &mut Vec<u8>) {
    put_f64(out, ticket);
    for op in ops {
        encode_op(op, out);
    }
}

/// Appends one operation.
pub fn encode_op(op: &StorageOp, out: &mut Vec<u8>) {
    match op {
        StorageOp::PutSession(s) => {
            out.push(kind::PUT_SESSION);
            put_str(out, &s.client_id);
            put_rec(out, || records::encode_session(s));
        }
        StorageOp::DeleteSession { client_id } => {
            out.push(kind::DELETE_SESSION);
            put_str(out, client_id);
        }
        StorageOp::PutSubscription(s) => {
            out.push(kind::PUT_SUBSCRIPTION);
            put_str(out, &s.client_id);
            put_str(out, &s.filter);
            put_rec(out, || records::encode_subscription(s));
        }
        StorageOp::DeleteSubscription { client_id, filter } => {
            out.push(kind::DELETE_SUBSCRIPTION);
            put_str(out, client_id);
            put_str(out, filter);
        }
        StorageOp::PutMessage(m) => {
            out.push(kind::PUT_MESSAGE);
            put_f64(out, m.id);
            let expires = m.expires_at.map_or(-1.0, |Millis(at)| at as f64);
            out.extend_from_slice(&expires.to_le_bytes());
            put_rec(out, || records::encode_message(m));
        }
        StorageOp::DeleteMessage { id } => {
            out.push(kind::DELETE_MESSAGE);
            put_f64(out, *id);
        }
        StorageOp::PutDelivery(d) => {
            out.push(kind::PUT_DELIVERY);
            put_str(out, &d.client_id);
            put_f64(out, d.seq);
            put_rec(out, || records::encode_delivery(d));
        }
        StorageOp::DeleteDelivery { client_id, seq } => {
            out.push(kind::DELETE_DELIVERY);
            put_str(out, client_id);
            put_f64(out, *seq);
        }
        StorageOp::PutRetained(m) => {
            out.push(kind::PUT_RETAINED);
            put_str(out, &m.topic);
            put_rec(out, || records::encode_message(m));
        }
        StorageOp::DeleteRetained { topic } => {
            out.push(kind::DELETE_RETAINED);
            put_str(out, topic);
        }
        StorageOp::PutIncomingQos2 {
            client_id,
            packet_id,
        } => {
            out.push(kind::PUT_INCOMING);
            put_str(out, client_id);
            out.extend_from_slice(&packet_id.get().to_le_bytes());
        }
        StorageOp::DeleteIncomingQos2 {
            client_id,
            packet_id,
        } => {
            out.push(kind::DELETE_INCOMING);
            put_str(out, client_id);
            out.extend_from_slice(&packet_id.get().to_le_bytes());
        }
    }
}

/// Reads a buffer front to back; running out of bytes is an error.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CorruptRecord> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| CorruptRecord("truncated".into()))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, CorruptRecord> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, CorruptRecord> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn f64(&mut self) -> Result<f64, CorruptRecord> {
        let b = self.take(8)?;
        Ok(f64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn u64(&mut self) -> Result<u64, CorruptRecord> {
        let v = self.f64()?;
        if v >= 0.0 && v.fract() == 0.0 && v < 9_007_199_254_740_992.0 {
            Ok(v as u64)
        } else {
            Err(CorruptRecord(format!("number {v}")))
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], CorruptRecord> {
        let b = self.take(4)?;
        let n = u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize;
        self.take(n)
    }

    fn str(&mut self) -> Result<Rc<str>, CorruptRecord> {
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(Rc::from)
            .map_err(|_| CorruptRecord("string is not UTF-8".into()))
    }
}

/// The store (table) an operation kind belongs to, for reports.
pub fn store_of(kind: u8) -> &'static str {
    match kind {
        kind::PUT_SESSION | kind::DELETE_SESSION => "sessions",
        kind::PUT_SUBSCRIPTION | kind::DELETE_SUBSCRIPTION => "subscriptions",
        kind::PUT_MESSAGE | kind::DELETE_MESSAGE => "messages",
        kind::PUT_DELIVERY | kind::DELETE_DELIVERY => "deliveries",
        kind::PUT_RETAINED | kind::DELETE_RETAINED => "retained",
        kind::PUT_INCOMING | kind::DELETE_INCOMING => "incoming",
        _ => "unknown",
    }
}

/// One operation read back.
pub enum Read {
    Op(StorageOp),
    /// Its framing was intact but its record did not read: skip it.
    Corrupt(&'static str, CorruptRecord),
}

/// Reads the next operation; `Ok(None)` at the end. An error means the
/// framing itself is broken: nothing after it can be trusted.
fn read_op(c: &mut Cursor) -> Result<Option<Read>, CorruptRecord> {
    if c.at == c.bytes.len() {
        return Ok(None);
    }
    let k = c.u8()?;
    let store = store_of(k);
    // A record that does not decode is skipped, the rest of the buffer kept.
    let record = |r: Result<StorageOp, CorruptRecord>| match r {
        Ok(op) => Read::Op(op),
        Err(e) => Read::Corrupt(store, e),
    };
    let read = match k {
        kind::PUT_SESSION => {
            c.bytes()?;
            record(records::decode_session(c.bytes()?).map(StorageOp::PutSession))
        }
        kind::DELETE_SESSION => Read::Op(StorageOp::DeleteSession {
            client_id: c.str()?,
        }),
        kind::PUT_SUBSCRIPTION => {
            c.bytes()?;
            c.bytes()?;
            record(records::decode_subscription(c.bytes()?).map(StorageOp::PutSubscription))
        }
        kind::DELETE_SUBSCRIPTION => Read::Op(StorageOp::DeleteSubscription {
            client_id: c.str()?,
            filter: c.str()?.to_string(),
        }),
        // A put's keys repeat what its record holds: only the record is
        // read, so a damaged key costs that record alone.
        kind::PUT_MESSAGE => {
            c.f64()?;
            c.f64()?;
            record(records::decode_message(c.bytes()?).map(|m| StorageOp::PutMessage(Rc::new(m))))
        }
        kind::DELETE_MESSAGE => Read::Op(StorageOp::DeleteMessage { id: c.u64()? }),
        kind::PUT_DELIVERY => {
            c.bytes()?;
            c.f64()?;
            record(records::decode_delivery(c.bytes()?).map(StorageOp::PutDelivery))
        }
        kind::DELETE_DELIVERY => Read::Op(StorageOp::DeleteDelivery {
            client_id: c.str()?,
            seq: c.u64()?,
        }),
        kind::PUT_RETAINED => {
            c.bytes()?;
            record(records::decode_message(c.bytes()?).map(|m| StorageOp::PutRetained(Rc::new(m))))
        }
        kind::DELETE_RETAINED => Read::Op(StorageOp::DeleteRetained { topic: c.str()? }),
        kind::PUT_INCOMING | kind::DELETE_INCOMING => {
            // The keys are the whole row: one that does not read is that
            // row's damage alone.
            let client = c.bytes()?;
            let packet_id = c.u16()?;
            let client_id = std::str::from_utf8(client)
                .map(Rc::from)
                .map_err(|_| CorruptRecord("client id is not UTF-8".into()));
            let packet_id =
                PacketId::new(packet_id).ok_or_else(|| CorruptRecord("packet identifier 0".into()));
            match (client_id, packet_id) {
                (Ok(client_id), Ok(packet_id)) if k == kind::PUT_INCOMING => {
                    Read::Op(StorageOp::PutIncomingQos2 {
                        client_id,
                        packet_id,
                    })
                }
                (Ok(client_id), Ok(packet_id)) => Read::Op(StorageOp::DeleteIncomingQos2 {
                    client_id,
                    packet_id,
                }),
                (Err(e), _) | (_, Err(e)) => Read::Corrupt(store, e),
            }
        }
        other => return Err(CorruptRecord(format!("operation kind {other}"))),
    };
    Ok(Some(read))
}

/// Reads a commit written by `encode_batch`: its ticket and operations (the
/// IndexedDB store's log entries are such commits).
pub fn decode_batch(bytes: &[u8]) -> Result<(Ticket, Vec<Read>), CorruptRecord> {
    let mut c = Cursor { bytes, at: 0 };
    let ticket = c.u64()?;
    let mut ops = Vec::new();
    while let Some(op) = read_op(&mut c)? {
        ops.push(op);
    }
    Ok((ticket, ops))
}

/// What a host store read back at start-up: the snapshot to restore, the
/// number of records read, and what was skipped (one line each).
#[derive(Debug, Default)]
pub struct Loaded {
    pub snapshot: Snapshot,
    pub records: usize,
    pub corrupt: Vec<String>,
}

/// Reads what a host store holds (its put operations, no ticket) into a
/// snapshot, through the reference store: applying them there is what
/// restoring means. A record that does not read is skipped and reported;
/// broken framing ends the read there, keeping what came before.
pub fn load(rows: &[u8]) -> Loaded {
    let mut store = MemoryStore::default();
    let mut out = Loaded::default();
    let mut c = Cursor { bytes: rows, at: 0 };
    loop {
        match read_op(&mut c) {
            Ok(None) => break,
            Ok(Some(Read::Op(op))) => {
                out.records += 1;
                store.apply(&op);
            }
            Ok(Some(Read::Corrupt(table, e))) => {
                out.records += 1;
                out.corrupt.push(format!("{table}: {e}"));
            }
            Err(e) => {
                out.corrupt
                    .push(format!("stored data after byte {}: {e}", c.at));
                break;
            }
        }
    }
    out.snapshot = store.snapshot();
    out
}
