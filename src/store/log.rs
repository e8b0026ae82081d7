//! A write-ahead log in front of a record store, for IndexedDB (see
//! src/wasm/idb.rs), where every request costs: a commit writes one log
//! entry (the batch's operations as `wire.rs` bytes, one request) instead
//! of one request per operation, and every so often a compaction applies
//! what the log holds to the record stores, coalesced, and empties the log,
//! in one transaction.
//!
//! `LogWindow` is what the log holds since the last compaction, coalesced
//! as the core's pending batch is (pending.rs): a message stored and
//! acknowledged within the window costs the record stores nothing. Whether
//! a put is fresh (the record stores do not hold its record) is known from
//! the highest message id and the highest delivery sequence number per
//! client ever written to them: ids and sequence numbers only grow, so a
//! record above those was never written. Below them a put is not taken for
//! fresh (its delete is then kept): safe, if not always the least work.
//!
//! At start-up, `replay` rebuilds the state from the record stores and the
//! log, through the reference store, and the window from the log.

use super::{MemoryStore, PendingOps, Snapshot, StorageOp};
use std::collections::HashMap;
use std::rc::Rc;

/// Log entries between compactions, at most.
pub const COMPACT_ENTRIES: usize = 1024;
/// Bytes of log entries between compactions, at most.
pub const COMPACT_BYTES: usize = 8 << 20;

#[derive(Debug, Default)]
pub struct LogWindow {
    ops: PendingOps,
    entries: usize,
    bytes: usize,
    /// The highest message id written to the record stores.
    max_message: u64,
    /// The highest delivery sequence number written to the record stores,
    /// per client.
    max_seq: HashMap<Rc<str>, u64>,
}

impl LogWindow {
    /// A window over an empty log, in front of record stores holding
    /// `tables`.
    pub fn new(tables: &Snapshot) -> LogWindow {
        let mut w = LogWindow::default();
        for m in &tables.messages {
            w.max_message = w.max_message.max(m.id);
        }
        for d in &tables.deliveries {
            w.raise_seq(&d.client_id, d.seq);
        }
        w
    }

    fn raise_seq(&mut self, client_id: &Rc<str>, seq: u64) {
        match self.max_seq.get_mut(client_id) {
            Some(max) => *max = (*max).max(seq),
            None => {
                self.max_seq.insert(client_id.clone(), seq);
            }
        }
    }

    /// Whether the record stores cannot hold what `op` puts.
    fn fresh(&self, op: &StorageOp) -> bool {
        match op {
            StorageOp::PutMessage(m) => m.id > self.max_message,
            StorageOp::PutDelivery(d) => self
                .max_seq
                .get(&d.client_id)
                .map_or(true, |&max| d.seq > max),
            _ => false,
        }
    }

    /// One log entry was written: its operations, and its size in bytes.
    pub fn append(&mut self, ops: Vec<StorageOp>, bytes: usize) {
        for op in ops {
            let fresh = self.fresh(&op);
            self.ops.push(op, fresh);
        }
        self.entries += 1;
        self.bytes += bytes;
    }

    /// Log entries since the last compaction.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Whether the next commit should compact (with its own operations
    /// added to the window first).
    pub fn compaction_due(&self) -> bool {
        self.entries >= COMPACT_ENTRIES || self.bytes >= COMPACT_BYTES
    }

    /// For a compaction: what the record stores need of the window, in
    /// order. The window is empty afterwards, as the log will be.
    pub fn take(&mut self) -> Vec<StorageOp> {
        let ops = self.ops.take();
        for op in &ops {
            match op {
                StorageOp::PutMessage(m) => self.max_message = self.max_message.max(m.id),
                StorageOp::PutDelivery(d) => self.raise_seq(&d.client_id, d.seq),
                _ => {}
            }
        }
        self.entries = 0;
        self.bytes = 0;
        ops
    }
}

/// Start-up: what the record stores hold (`tables`), then each log entry
/// in order (its operations, and its size in bytes), replayed through the
/// reference store. Returns the state to restore, and the window over the
/// log as it stands.
pub fn replay(tables: Snapshot, log: Vec<(Vec<StorageOp>, usize)>) -> (Snapshot, LogWindow) {
    let mut window = LogWindow::new(&tables);
    if log.is_empty() {
        return (tables, window);
    }
    let mut store = MemoryStore::default();
    for op in put_ops(tables) {
        store.apply(&op);
    }
    for (ops, bytes) in log {
        for op in &ops {
            store.apply(op);
        }
        window.append(ops, bytes);
    }
    (store.snapshot(), window)
}

/// The put operations that write `s`.
fn put_ops(s: Snapshot) -> impl Iterator<Item = StorageOp> {
    let sessions = s.sessions.into_iter().map(StorageOp::PutSession);
    let subs = s.subscriptions.into_iter().map(StorageOp::PutSubscription);
    let messages = s.messages.into_iter().map(StorageOp::PutMessage);
    let deliveries = s.deliveries.into_iter().map(StorageOp::PutDelivery);
    let retained = s.retained.into_iter().map(StorageOp::PutRetained);
    let incoming =
        (s.incoming_qos2.into_iter()).map(|(client_id, packet_id)| StorageOp::PutIncomingQos2 {
            client_id,
            packet_id,
        });
    (sessions.chain(subs).chain(messages).chain(deliveries))
        .chain(retained)
        .chain(incoming)
}
