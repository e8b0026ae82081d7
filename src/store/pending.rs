//! Storage operations not yet written, with those that cancel each other
//! taken out before they reach storage. Two users: the core's pending batch
//! (the operations made since the host last took one, `poll_storage`;
//! group commit makes a batch span many messages, and a QoS 1 message to an
//! online persistent session is often stored, sent, acknowledged and
//! forgotten within one batch), and the IndexedDB store's log since its
//! last compaction (log.rs).
//!
//! Two rules, both about a record the store does not hold yet:
//! - a put superseded by a later put of the same record is dropped (the
//!   later one carries the whole record);
//! - a record put for the first time ("fresh": the store does not hold it:
//!   a new delivery, a message whose first stored delivery this is) and
//!   deleted later leaves nothing: neither the put nor the delete. The
//!   store after both is what it would be with both, since before them it
//!   held no such record.
//!
//! Only deliveries and messages are coalesced: they are what a message
//! costs. The number of operations *made* (`len`) still counts the dropped
//! ones, so every acknowledgement that waited for "what happened so far"
//! waits for this batch's ticket as before; a batch may then be empty.

use super::StorageOp;
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Delivery(Rc<str>, u64),
    Message(u64),
}

#[derive(Debug)]
struct Entry {
    /// Where the record's latest put in the batch is.
    put_at: Option<usize>,
    /// No committed batch holds the record.
    fresh: bool,
}

#[derive(Debug, Default)]
pub struct PendingOps {
    ops: Vec<Option<StorageOp>>,
    index: HashMap<Key, Entry>,
}

impl PendingOps {
    /// Operations made since the last `take`, the dropped ones included.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Adds `op`. `fresh`: it puts a record that no batch holds yet (the
    /// first put of a delivery, or of a message with no stored delivery).
    pub fn push(&mut self, op: StorageOp, fresh: bool) {
        let key = match &op {
            StorageOp::PutDelivery(d) => Key::Delivery(d.client_id.clone(), d.seq),
            StorageOp::PutMessage(m) => Key::Message(m.id),
            StorageOp::DeleteDelivery { client_id, seq } => {
                return self.delete(Key::Delivery(client_id.clone(), *seq), op);
            }
            StorageOp::DeleteMessage { id } => return self.delete(Key::Message(*id), op),
            _ => return self.ops.push(Some(op)),
        };
        let at = self.ops.len();
        match self.index.get_mut(&key) {
            Some(e) => {
                if let Some(i) = e.put_at.replace(at) {
                    self.ops[i] = None;
                }
            }
            None => {
                let entry = Entry {
                    put_at: Some(at),
                    fresh,
                };
                self.index.insert(key, entry);
            }
        }
        self.ops.push(Some(op));
    }

    fn delete(&mut self, key: Key, op: StorageOp) {
        if let Some(e) = self.index.remove(&key) {
            if let Some(i) = e.put_at {
                self.ops[i] = None;
            }
            if e.fresh {
                // Never stored: nothing to delete.
                return self.ops.push(None);
            }
        }
        self.ops.push(Some(op));
    }

    /// Whether every operation made since there were `from` puts message
    /// `id` or a delivery of it: what the message alone stored.
    pub fn only_puts_of(&self, from: usize, id: u64) -> bool {
        self.ops[from..].iter().flatten().all(|op| match op {
            StorageOp::PutMessage(m) => m.id == id,
            StorageOp::PutDelivery(d) => d.message_id == id,
            _ => false,
        })
    }

    /// The batch, without what was dropped; empties the pending batch.
    pub fn take(&mut self) -> Vec<StorageOp> {
        self.index.clear();
        let ops = std::mem::take(&mut self.ops);
        ops.into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(seq: u64, state: u16) -> StorageOp {
        use crate::codec::{PacketId, QoS};
        use crate::store::{DeliveryRecord, DeliveryState};
        StorageOp::PutDelivery(DeliveryRecord {
            client_id: Rc::from("c"),
            seq,
            message_id: 1,
            qos: QoS::AtLeastOnce,
            retain: false,
            subscription_identifiers: Vec::new(),
            shared_filter: None,
            state: PacketId::new(state)
                .map_or(DeliveryState::Queued, DeliveryState::AwaitingPubAck),
        })
    }

    fn delete(seq: u64) -> StorageOp {
        StorageOp::DeleteDelivery {
            client_id: Rc::from("c"),
            seq,
        }
    }

    #[test]
    fn a_record_put_and_deleted_in_one_batch_leaves_nothing_but_still_counts() {
        let mut p = PendingOps::default();
        p.push(delivery(1, 0), true);
        p.push(delivery(1, 7), false);
        p.push(delete(1), false);
        assert_eq!(p.len(), 3, "what was made is still counted");
        assert_eq!(p.take(), Vec::<StorageOp>::new());
        assert!(p.is_empty());
    }

    #[test]
    fn a_stored_record_updated_then_deleted_leaves_the_delete() {
        let mut p = PendingOps::default();
        p.push(delivery(1, 7), false);
        p.push(delete(1), false);
        assert_eq!(p.take(), [delete(1)]);
    }

    #[test]
    fn a_later_put_supersedes_an_earlier_one() {
        let mut p = PendingOps::default();
        p.push(delivery(1, 0), true);
        p.push(delivery(2, 0), true);
        p.push(delivery(1, 7), false);
        assert_eq!(p.take(), [delivery(2, 0), delivery(1, 7)]);
    }

    #[test]
    fn a_delete_of_a_stored_record_then_a_fresh_put_and_its_delete_leaves_the_first_delete() {
        let mut p = PendingOps::default();
        p.push(delete(1), false);
        p.push(delivery(1, 0), true);
        p.push(delete(1), false);
        assert_eq!(p.take(), [delete(1)]);
    }

    #[test]
    fn other_operations_pass_through_in_order() {
        let mut p = PendingOps::default();
        let gone = StorageOp::DeleteSession {
            client_id: Rc::from("c"),
        };
        p.push(delivery(1, 0), true);
        p.push(gone.clone(), false);
        assert_eq!(p.take(), [delivery(1, 0), gone]);
    }
}
