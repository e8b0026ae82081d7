//! What the broker tells the host for observability.

use super::ConnId;
use crate::codec::{ProtocolVersion, Publish, ReasonCode};
use std::rc::Rc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Connected {
        conn: ConnId,
        client_id: Rc<str>,
        protocol: ProtocolVersion,
        session_present: bool,
    },
    /// A CONNECT was refused; the connection closes.
    Rejected { conn: ConnId, reason: ReasonCode },
    /// A connection ended. `reason` is the MQTT 5 reason the broker closed it
    /// with, or `None` for a normal DISCONNECT or a host-side close.
    Disconnected {
        conn: ConnId,
        client_id: Option<Rc<str>>,
        reason: Option<ReasonCode>,
        detail: Option<String>,
    },
    /// A bridge changed state (see `bridge/`).
    Bridge {
        name: Rc<str>,
        state: super::BridgeState,
        /// Why the remote refused or closed, if it said.
        reason: Option<ReasonCode>,
        error: Option<String>,
    },
    /// A client was refused something as not authorized (0x87): by the ACL
    /// or the host's hooks, or `$SYS`. `action` is `publish`, `subscribe`
    /// or `will`; `topic` the topic or filter.
    Denied {
        conn: ConnId,
        client_id: Rc<str>,
        action: &'static str,
        topic: Rc<str>,
    },
    /// A message was not delivered to a session.
    Dropped {
        client_id: Rc<str>,
        topic: Rc<str>,
        why: DropReason,
    },
    /// The answer to the host's `handle_host_publish(id, ..)`: `Success` (or
    /// 0x10 no matching subscribers) once the broker has the message (under
    /// strict at QoS 1/2: stored), or why it was refused.
    Published { id: u64, reason: ReasonCode },
    /// The answer to the host's `handle_host_subscribe(id, ..)`: the granted QoS,
    /// or why it was refused.
    Subscribed { id: u64, reason: ReasonCode },
    /// A message for the host's subscription `id`.
    Message { id: u64, publish: Box<Publish> },
    /// The broker ended the host's subscription `id` (an access change).
    Unsubscribed { id: u64, reason: ReasonCode },
}

impl Event {
    /// The connection the event is about, if it is about one.
    pub fn conn(&self) -> Option<ConnId> {
        match self {
            Event::Connected { conn, .. }
            | Event::Rejected { conn, .. }
            | Event::Disconnected { conn, .. }
            | Event::Denied { conn, .. } => Some(*conn),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    QueueFull,
    /// Larger than the client's Maximum Packet Size [MQTT-3.1.2-25].
    TooLarge,
    Expired,
    /// Queued before the ACL stopped the session reading its topic.
    NotAuthorized,
}

/// Counters, as `$SYS` publishes them and `Broker::stats` returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub connections: usize,
    pub sessions: usize,
    pub subscriptions: usize,
    pub retained: usize,
    pub messages_received: u64,
    pub messages_sent: u64,
    /// The same two, by QoS (index 0, 1, 2).
    pub messages_received_by_qos: [u64; 3],
    pub messages_sent_by_qos: [u64; 3],
    pub messages_dropped: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub queued_messages: usize,
    pub inflight_messages: usize,
    pub storage_ops: u64,
    /// Strict: acknowledgements of QoS 1 messages that left before their
    /// storage batch was persisted, every stored delivery of the message
    /// having been acknowledged first (see `durability.rs`).
    pub acks_released_early: u64,
    /// Durable settings: how many records storage holds once the pending
    /// operations are written.
    pub stored_records: usize,
    pub pending_acks: usize,
    pub uptime_secs: u64,
    pub bridges: Vec<super::BridgeView>,
}

/// One session as an inspector shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    pub client_id: Rc<str>,
    pub connected: bool,
    pub protocol: ProtocolVersion,
    /// Seconds the session outlives its connection; `u32::MAX` never expires.
    pub session_expiry: u32,
    /// Topic filter and granted QoS of each subscription, sorted by filter.
    pub subscriptions: Vec<(String, u8)>,
    pub inflight: usize,
    pub queued: usize,
}
