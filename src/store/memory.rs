//! The reference store: applies storage operations to ordered maps and gives
//! back a `Snapshot`. It defines what applying an op means (the IndexedDB
//! store must agree with it) and lets tests restart a broker from what it
//! persisted.

use super::{
    DeliveryRecord, Message, SessionRecord, Snapshot, StorageBatch, StorageOp, SubscriptionRecord,
};
use crate::codec::PacketId;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    sessions: BTreeMap<Rc<str>, SessionRecord>,
    subscriptions: BTreeMap<(Rc<str>, String), SubscriptionRecord>,
    messages: BTreeMap<u64, Rc<Message>>,
    deliveries: BTreeMap<(Rc<str>, u64), DeliveryRecord>,
    retained: BTreeMap<Rc<str>, Rc<Message>>,
    incoming_qos2: BTreeSet<(Rc<str>, PacketId)>,
}

impl MemoryStore {
    pub fn apply_batch(&mut self, batch: &StorageBatch) {
        for op in &batch.ops {
            self.apply(op);
        }
    }

    pub fn apply(&mut self, op: &StorageOp) {
        match op {
            StorageOp::PutSession(s) => {
                self.sessions.insert(s.client_id.clone(), s.clone());
            }
            StorageOp::DeleteSession { client_id } => {
                self.sessions.remove(client_id);
                self.subscriptions.retain(|(c, _), _| c != client_id);
                self.deliveries.retain(|(c, _), _| c != client_id);
                self.incoming_qos2.retain(|(c, _)| c != client_id);
            }
            StorageOp::PutSubscription(s) => {
                let key = (s.client_id.clone(), s.filter.clone());
                self.subscriptions.insert(key, s.clone());
            }
            StorageOp::DeleteSubscription { client_id, filter } => {
                self.subscriptions
                    .remove(&(client_id.clone(), filter.clone()));
            }
            StorageOp::PutMessage(m) => {
                self.messages.insert(m.id, m.clone());
            }
            StorageOp::DeleteMessage { id } => {
                self.messages.remove(id);
            }
            StorageOp::PutDelivery(d) => {
                self.deliveries
                    .insert((d.client_id.clone(), d.seq), d.clone());
            }
            StorageOp::DeleteDelivery { client_id, seq } => {
                self.deliveries.remove(&(client_id.clone(), *seq));
            }
            StorageOp::PutRetained(m) => {
                self.retained.insert(m.topic.clone(), m.clone());
            }
            StorageOp::DeleteRetained { topic } => {
                self.retained.remove(topic);
            }
            StorageOp::PutIncomingQos2 {
                client_id,
                packet_id,
            } => {
                self.incoming_qos2.insert((client_id.clone(), *packet_id));
            }
            StorageOp::DeleteIncomingQos2 {
                client_id,
                packet_id,
            } => {
                self.incoming_qos2.remove(&(client_id.clone(), *packet_id));
            }
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            sessions: self.sessions.values().cloned().collect(),
            subscriptions: self.subscriptions.values().cloned().collect(),
            messages: self.messages.values().cloned().collect(),
            deliveries: self.deliveries.values().cloned().collect(),
            retained: self.retained.values().cloned().collect(),
            incoming_qos2: self.incoming_qos2.iter().cloned().collect(),
        }
    }

    /// Number of records held, for tests that check storage stays bounded.
    pub fn record_count(&self) -> usize {
        self.sessions.len()
            + self.subscriptions.len()
            + self.messages.len()
            + self.deliveries.len()
            + self.retained.len()
            + self.incoming_qos2.len()
    }
}
