//! Session state (spec 4.1): what outlives a connection.

use super::ConnId;
use crate::codec::{PacketId, ProtocolVersion, QoS, SubscriptionOptions};
use crate::store::{DeliveryRecord, DeliveryState, Message};
use crate::time::Millis;
use rustc_hash::FxHashSet;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// A message on its way to one session.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub seq: u64,
    pub msg: Rc<Message>,
    pub qos: QoS,
    pub retain: bool,
    pub sub_ids: Vec<u32>,
    pub shared: Option<Rc<str>>,
    pub state: DeliveryState,
    /// Storage holds this delivery (and a reference to its message).
    pub stored: bool,
}

impl Outgoing {
    pub fn packet_id(&self) -> Option<PacketId> {
        match self.state {
            DeliveryState::Queued => None,
            DeliveryState::AwaitingPubAck(id)
            | DeliveryState::AwaitingPubRec(id)
            | DeliveryState::AwaitingPubComp(id) => Some(id),
        }
    }

    pub fn record(&self, client_id: &Rc<str>) -> DeliveryRecord {
        DeliveryRecord {
            client_id: client_id.clone(),
            seq: self.seq,
            message_id: self.msg.id,
            qos: self.qos,
            retain: self.retain,
            subscription_identifiers: self.sub_ids.clone(),
            shared_filter: self.shared.clone(),
            state: self.state,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionState {
    pub options: SubscriptionOptions,
    pub identifier: Option<u32>,
}

#[derive(Debug)]
pub struct Session {
    pub client_id: Rc<str>,
    pub conn: Option<ConnId>,
    pub protocol: ProtocolVersion,
    /// Seconds; `u32::MAX` never expires.
    pub expiry_interval: u32,
    pub disconnected_at: Option<Millis>,
    pub subscriptions: HashMap<String, SubscriptionState>,
    /// Sent and unacknowledged, in the order they were sent.
    pub inflight: VecDeque<Outgoing>,
    /// How many of `inflight`, from the front, have been sent on the current
    /// connection. After a reconnect the rest wait for the client's Receive
    /// Maximum to allow them [MQTT-3.3.4-9].
    pub resent: usize,
    /// Waiting for a free slot in the in-flight window.
    pub queue: VecDeque<Outgoing>,
    pub queued_bytes: usize,
    next_packet_id: u16,
    /// How many identifiers from `next_packet_id` on are known to be free:
    /// `allocate_packet_id` scans `inflight` once per run, not per message
    /// (a window of a thousand in flight made the scan the hot path's
    /// largest cost). Identifiers enter `inflight` only from this allocator,
    /// or by `restore_inflight`, which ends the run.
    free_ids: u16,
    pub next_seq: u64,
    /// QoS 2 PUBLISHes received and routed, awaiting PUBREL [MQTT-4.3.3-9].
    pub incoming_qos2: FxHashSet<PacketId>,
    /// The will of the current connection, with its delay in seconds.
    pub will: Option<(Rc<Message>, u32)>,
    /// A will waiting for its delay to pass, and when it is due.
    pub pending_will: Option<(Rc<Message>, u32, Millis)>,
    /// Whether storage holds this session (it did at some point have a
    /// non-zero expiry under a durable setting).
    pub stored: bool,
    /// The username of the connection holding (or that last held) it.
    pub username: Option<Rc<str>>,
    /// Its client's ACL rules, while an ACL is in force (see `access/`).
    pub acl: Option<Rc<crate::broker::ClientAcl>>,
}

impl Session {
    pub fn new(client_id: Rc<str>, protocol: ProtocolVersion) -> Session {
        Session {
            client_id,
            conn: None,
            protocol,
            expiry_interval: 0,
            disconnected_at: None,
            subscriptions: HashMap::new(),
            inflight: VecDeque::new(),
            resent: 0,
            queue: VecDeque::new(),
            queued_bytes: 0,
            next_packet_id: 1,
            free_ids: 0,
            next_seq: 0,
            incoming_qos2: FxHashSet::default(),
            will: None,
            pending_will: None,
            stored: false,
            username: None,
            acl: None,
        }
    }

    /// A packet identifier no in-flight message uses [MQTT-2.2.1-4],
    /// [MQTT-4.3.2-1], [MQTT-4.3.3-1]. An identifier is in use until the
    /// acknowledgement that ends its exchange (PUBACK, PUBCOMP, or a PUBREC
    /// with an error; spec 2.2.1). `None` if all are taken (the window is
    /// always far smaller).
    ///
    /// Identifiers go up one by one (1 after 65535). One scan of `inflight`
    /// finds the distance from the next identifier to the nearest one in
    /// use; every identifier before it is free until the numbers wrap round
    /// to it, so the next scan comes that many allocations later.
    pub fn allocate_packet_id(&mut self) -> Option<PacketId> {
        if self.free_ids == 0 {
            let next = self.next_packet_id;
            // Identifiers 1..=65535 in allocation order from `next`.
            let distance = |id: u16| (u32::from(id) + 65_535 - u32::from(next)) % 65_535;
            let nearest = self
                .inflight
                .iter()
                .filter_map(|o| o.packet_id())
                .map(|id| distance(id.get()))
                .min()
                .unwrap_or(65_535);
            if nearest == 0 {
                // `next` itself is in use: skip past the used run.
                return self.skip_used_ids();
            }
            self.free_ids = u16::try_from(nearest).unwrap_or(u16::MAX);
        }
        self.free_ids -= 1;
        let id = PacketId::new(self.next_packet_id);
        self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
        id
    }

    /// The slow path: the next identifier is in use (an old message still
    /// in flight after the numbers wrapped, or a restored one).
    fn skip_used_ids(&mut self) -> Option<PacketId> {
        for _ in 0..u16::MAX {
            let candidate = PacketId::new(self.next_packet_id)?;
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            if !self
                .inflight
                .iter()
                .any(|o| o.packet_id() == Some(candidate))
            {
                return Some(candidate);
            }
        }
        None
    }

    /// A restored in-flight delivery: its identifier was not allocated
    /// here, so the known-free run ends.
    pub fn restore_inflight(&mut self, out: Outgoing) {
        self.free_ids = 0;
        self.inflight.push_back(out);
    }

    pub fn take_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub fn inflight_position(&self, id: PacketId) -> Option<usize> {
        self.inflight.iter().position(|o| o.packet_id() == Some(id))
    }

    pub fn is_persistent(&self) -> bool {
        self.expiry_interval > 0
    }

    /// When a disconnected session ends: its Session Expiry Interval after
    /// the disconnection (spec 3.1.2.11.2, [MQTT-3.1.2-23]). `None` while
    /// connected, and for 0xFFFFFFFF, which never expires.
    pub fn expires_at(&self) -> Option<Millis> {
        let at = self.disconnected_at?;
        if self.expiry_interval == u32::MAX {
            return None;
        }
        Some(at + u64::from(self.expiry_interval) * 1000)
    }

    /// Removes the in-flight delivery at `pos`, keeping `resent` in step.
    pub fn remove_inflight(&mut self, pos: usize) -> Option<Outgoing> {
        if pos < self.resent {
            self.resent -= 1;
        }
        self.inflight.remove(pos)
    }

    pub fn push_queue(&mut self, out: Outgoing) {
        self.queued_bytes += out.msg.payload.len();
        self.queue.push_back(out);
    }

    pub fn pop_queue(&mut self) -> Option<Outgoing> {
        let out = self.queue.pop_front()?;
        self.queued_bytes -= out.msg.payload.len();
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Properties;

    fn outgoing(id: PacketId) -> Outgoing {
        let msg = Message {
            id: 0,
            topic: "t".into(),
            payload: Default::default(),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Properties::default(),
            expires_at: None,
        };
        Outgoing {
            seq: 0,
            msg: Rc::new(msg),
            qos: QoS::AtLeastOnce,
            retain: false,
            sub_ids: Vec::new(),
            shared: None,
            state: DeliveryState::AwaitingPubAck(id),
            stored: false,
        }
    }

    /// The first identifier from `next` (1 after 65535) no in-flight
    /// message uses: what the allocator must return.
    fn naive(next: u16, s: &Session) -> u16 {
        let mut id = next;
        while s
            .inflight
            .iter()
            .any(|o| o.packet_id().unwrap().get() == id)
        {
            id = id.checked_add(1).unwrap_or(1);
        }
        id
    }

    #[test]
    fn packet_ids_are_never_in_use_through_wraps_and_out_of_order_acks_mqtt_2_2_1_4() {
        let mut s = Session::new("c".into(), ProtocolVersion::V5);
        // Restored deliveries with identifiers the allocator did not give.
        for id in [1u16, 2, 5, 40_000, 65_535] {
            s.restore_inflight(outgoing(PacketId::new(id).unwrap()));
        }
        let mut expected_next = 1u16;
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        // Never acknowledged: every wrap must step over these.
        let stuck = |id: u16| id % 9_973 == 0 || id == 5;
        let mut live = 0;
        for _ in 0..140_000 {
            let id = s.allocate_packet_id().unwrap().get();
            assert_eq!(id, naive(expected_next, &s));
            expected_next = id.checked_add(1).unwrap_or(1);
            s.inflight.push_back(outgoing(PacketId::new(id).unwrap()));
            live += usize::from(!stuck(id));
            // A window of up to 500 acknowledged mostly in order, now and
            // then out of order.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let acked = |o: &Outgoing| !stuck(o.packet_id().unwrap().get());
            while live > 500 {
                let skip = if rng % 50 == 0 { 3 } else { 0 };
                let pos = (s.inflight.iter().enumerate())
                    .filter(|(_, o)| acked(o))
                    .nth(skip)
                    .map(|(p, _)| p)
                    .unwrap();
                s.remove_inflight(pos);
                live -= 1;
            }
        }
    }
}
