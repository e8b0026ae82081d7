//! What persistence means, as data. The broker core emits `StorageOp`s in the
//! order their effects happened; a host applies them (in IndexedDB, in one
//! transaction per batch) and reports the batch's ticket persisted. After a
//! restart the host reads everything back into a `Snapshot` and hands it to
//! `Broker::restore`. Nothing here does IO.

use crate::codec::{PacketId, Properties, QoS, SubscriptionOptions};
use crate::time::Millis;
use bytes::Bytes;
use std::rc::Rc;

/// Identifies a batch of storage operations; batches are numbered from 1 up.
pub type Ticket = u64;

/// An application message as the broker keeps it: one copy however many
/// sessions it is queued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Unique for the life of the store (the broker counts up from the
    /// highest id in the snapshot).
    pub id: u64,
    pub topic: Rc<str>,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// The PUBLISH properties, without message expiry, topic alias and
    /// subscription identifiers (those are per delivery).
    pub properties: Properties,
    /// From the Message Expiry Interval at arrival [MQTT-3.3.2-5].
    pub expires_at: Option<Millis>,
}

impl Message {
    pub fn is_expired(&self, now: Millis) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// Where a delivery to a session stands (spec 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for a free packet identifier or for the client to connect.
    Queued,
    /// PUBLISH sent (QoS 1), waiting for PUBACK.
    AwaitingPubAck(PacketId),
    /// PUBLISH sent (QoS 2), waiting for PUBREC.
    AwaitingPubRec(PacketId),
    /// PUBREL sent, waiting for PUBCOMP.
    AwaitingPubComp(PacketId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub client_id: Rc<str>,
    /// Order of deliveries within the session.
    pub seq: u64,
    pub message_id: u64,
    /// The QoS of this delivery: the lower of the message's and the subscription's.
    pub qos: QoS,
    pub retain: bool,
    pub subscription_identifiers: Vec<u32>,
    /// The `$share/group/filter` this delivery was chosen for, so that it can
    /// go to another member if this session ends before it is delivered.
    pub shared_filter: Option<Rc<str>>,
    pub state: DeliveryState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WillRecord {
    /// The will as published, except that its properties keep the Message
    /// Expiry Interval (and `expires_at` is unset): a will's lifetime counts
    /// from its publication (MQTT 5 spec 3.1.3.2.4).
    pub message: Rc<Message>,
    /// Will Delay Interval in seconds (MQTT 5; 0 otherwise).
    pub delay: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub client_id: Rc<str>,
    /// Protocol level of the last connection (3, 4 or 5).
    pub protocol: u8,
    /// Seconds the session outlives its connection; `u32::MAX` never expires.
    pub expiry_interval: u32,
    /// Set while no connection holds the session.
    pub disconnected_at: Option<Millis>,
    /// The will still to be published, if the connection ended without a
    /// normal DISCONNECT and its delay has not yet passed.
    pub pending_will: Option<WillRecord>,
    /// The will of the connection holding the session (`disconnected_at` is
    /// `None`) [MQTT-3.1.2-7]. If the broker stops without that connection
    /// having ended, the connection ended abnormally [MQTT-3.1.2-8]: a
    /// restart treats it as lost at the restart time.
    pub will: Option<WillRecord>,
    /// The username of the connection that last held the session: with
    /// access control, only that user may resume it (see `access/`).
    pub username: Option<Rc<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    pub client_id: Rc<str>,
    pub filter: String,
    pub options: SubscriptionOptions,
    pub identifier: Option<u32>,
}

/// One durable change, in the order the broker made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageOp {
    PutSession(SessionRecord),
    /// Deletes the session and everything keyed by its client id:
    /// subscriptions, deliveries and incoming QoS 2 packet identifiers.
    DeleteSession {
        client_id: Rc<str>,
    },
    PutSubscription(SubscriptionRecord),
    DeleteSubscription {
        client_id: Rc<str>,
        filter: String,
    },
    PutMessage(Rc<Message>),
    DeleteMessage {
        id: u64,
    },
    PutDelivery(DeliveryRecord),
    DeleteDelivery {
        client_id: Rc<str>,
        seq: u64,
    },
    /// Keyed by the message's topic; replaces what was retained there.
    PutRetained(Rc<Message>),
    DeleteRetained {
        topic: Rc<str>,
    },
    /// A QoS 2 PUBLISH received and routed, awaiting PUBREL [MQTT-4.3.3-9].
    PutIncomingQos2 {
        client_id: Rc<str>,
        packet_id: PacketId,
    },
    DeleteIncomingQos2 {
        client_id: Rc<str>,
        packet_id: PacketId,
    },
}

/// Operations to apply together, as one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageBatch {
    pub ticket: Ticket,
    pub ops: Vec<StorageOp>,
}

/// Everything storage holds, handed to `Broker::restore` after a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub sessions: Vec<SessionRecord>,
    pub subscriptions: Vec<SubscriptionRecord>,
    pub messages: Vec<Rc<Message>>,
    pub deliveries: Vec<DeliveryRecord>,
    pub retained: Vec<Rc<Message>>,
    pub incoming_qos2: Vec<(Rc<str>, PacketId)>,
}

pub mod log;
mod memory;
mod pending;
pub mod records;
pub mod wire;
pub use memory::MemoryStore;
pub use pending::PendingOps;
