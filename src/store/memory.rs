//! The reference store: applies storage operations to ordered maps and gives
//! back a `Snapshot`. It defines what applying an op means (the IndexedDB
//! store must agree with it) and lets tests restart a broker from what it
//! persisted.

use super::{
    DeliveryRecord, Message, SessionRecord, Snapshot, StorageBatch, StorageOp, SubscriptionRecord,
};
use crate::codec::PacketId;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Where a record lives: its table, then its key within the table. One
/// ordered map holds every table (one `BTreeMap` instantiation in the
/// module rather than six): a table's records sort together, by their key,
/// as in a map of their own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Session(Rc<str>),
    Subscription(Rc<str>, String),
    Message(u64),
    Delivery(Rc<str>, u64),
    Retained(Rc<str>),
    IncomingQos2(Rc<str>, PacketId),
}

#[derive(Debug, Clone)]
enum Record {
    Session(SessionRecord),
    Subscription(SubscriptionRecord),
    Message(Rc<Message>),
    Delivery(DeliveryRecord),
    Retained(Rc<Message>),
    IncomingQos2(Rc<str>, PacketId),
}

#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    records: BTreeMap<Key, Record>,
}

impl MemoryStore {
    pub fn apply_batch(&mut self, batch: &StorageBatch) {
        for op in &batch.ops {
            self.apply(op);
        }
    }

    pub fn apply(&mut self, op: &StorageOp) {
        let (key, record) = match op {
            StorageOp::PutSession(s) => (
                Key::Session(s.client_id.clone()),
                Record::Session(s.clone()),
            ),
            StorageOp::DeleteSession { client_id } => {
                self.records.remove(&Key::Session(client_id.clone()));
                self.records.retain(|k, _| match k {
                    Key::Subscription(c, _) | Key::Delivery(c, _) | Key::IncomingQos2(c, _) => {
                        c != client_id
                    }
                    _ => true,
                });
                return;
            }
            StorageOp::PutSubscription(s) => (
                Key::Subscription(s.client_id.clone(), s.filter.clone()),
                Record::Subscription(s.clone()),
            ),
            StorageOp::DeleteSubscription { client_id, filter } => {
                self.records
                    .remove(&Key::Subscription(client_id.clone(), filter.clone()));
                return;
            }
            StorageOp::PutMessage(m) => (Key::Message(m.id), Record::Message(m.clone())),
            StorageOp::DeleteMessage { id } => {
                self.records.remove(&Key::Message(*id));
                return;
            }
            StorageOp::PutDelivery(d) => (
                Key::Delivery(d.client_id.clone(), d.seq),
                Record::Delivery(d.clone()),
            ),
            StorageOp::DeleteDelivery { client_id, seq } => {
                self.records.remove(&Key::Delivery(client_id.clone(), *seq));
                return;
            }
            StorageOp::PutRetained(m) => {
                (Key::Retained(m.topic.clone()), Record::Retained(m.clone()))
            }
            StorageOp::DeleteRetained { topic } => {
                self.records.remove(&Key::Retained(topic.clone()));
                return;
            }
            StorageOp::PutIncomingQos2 {
                client_id,
                packet_id,
            } => (
                Key::IncomingQos2(client_id.clone(), *packet_id),
                Record::IncomingQos2(client_id.clone(), *packet_id),
            ),
            StorageOp::DeleteIncomingQos2 {
                client_id,
                packet_id,
            } => {
                self.records
                    .remove(&Key::IncomingQos2(client_id.clone(), *packet_id));
                return;
            }
        };
        self.records.insert(key, record);
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut out = Snapshot::default();
        for record in self.records.values() {
            match record {
                Record::Session(s) => out.sessions.push(s.clone()),
                Record::Subscription(s) => out.subscriptions.push(s.clone()),
                Record::Message(m) => out.messages.push(m.clone()),
                Record::Delivery(d) => out.deliveries.push(d.clone()),
                Record::Retained(m) => out.retained.push(m.clone()),
                Record::IncomingQos2(c, p) => out.incoming_qos2.push((c.clone(), *p)),
            }
        }
        out
    }

    /// Number of records held, for tests that check storage stays bounded.
    pub fn record_count(&self) -> usize {
        self.records.len()
    }
}
