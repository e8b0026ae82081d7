//! Strict durability on the way out: what a client is told must not run
//! ahead of what storage holds.
//!
//! Under `Durability::Strict`, output that tells a client about state the
//! broker keeps waits until the storage batch recording that state is
//! persisted (`handle_persisted`), because the client acts on it at once and
//! for good:
//!
//! - Acknowledgements of inbound messages. A PUBACK or PUBREC tells the
//!   client the broker has the message, and the client stops resending it:
//!   if a crash lost the batch recording the message (the retained copy, the
//!   deliveries to stored sessions, the QoS 2 identifier), the message would
//!   be lost for good. A PUBCOMP frees the packet identifier for reuse by the
//!   client: if a crash lost the deletion of the identifier's record, the
//!   restarted broker would take the next message with that identifier for
//!   a duplicate and drop it (see `handle_pubrel`). So these wait for the
//!   batch (`ack` with `hold`). Acknowledgements leave in the order their
//!   PUBLISHes came [MQTT-4.6.0-2], so one behind a held one waits too.
//!
//!   The exception, where nothing needs the disk any more: a PUBACK of a
//!   QoS 1 message whose only stored records are the message and its
//!   deliveries to stored sessions (not retained, nothing else in the
//!   batch made by it) leaves as soon as every one of those deliveries has
//!   been acknowledged by its subscriber (PUBACK received), whether or not
//!   a batch holding them was persisted (`hold_for_deliveries`, `settle`).
//!   A crash then loses at most records of a message every recipient owed
//!   it already has (a batch written later may bring back the message and
//!   its deliveries: they are sent again, a duplicate QoS 1 allows). It
//!   still leaves in order, behind the acknowledgements held before it.
//!   Only a subscriber's PUBACK settles a delivery: a delivery that ends
//!   otherwise (its session ends, it expires, a shared subscription hands
//!   it to another member) leaves the acknowledgement waiting for its
//!   batch. With the pending batch's coalescing (store/pending.rs), a message
//!   delivered and acknowledged before its batch was taken costs no write
//!   at all, and a batch left empty counts as persisted without a commit
//!   when no earlier one is outstanding (`poll_storage`).
//!
//! - The outbound QoS 2 exchange with a stored session, because the client
//!   keeps state from it: a client that received PUBLISH with packet
//!   identifier X holds X until PUBREL, answering a resent X with PUBREC and
//!   not delivering it again [MQTT-4.3.3-10], and takes X for a new message
//!   once it has sent PUBCOMP [MQTT-4.3.3-12]. If a crash lost the broker's
//!   record of X after the client saw that PUBLISH, the restarted broker
//!   would later give X to another message, which the client would take for
//!   a duplicate and drop after acknowledging it. If a crash lost the
//!   broker's record of PUBREC after the client saw PUBREL, the broker would
//!   resend the PUBLISH and the client would deliver it twice. So the bytes
//!   of a QoS 2 PUBLISH or PUBREL to a stored session, and everything written
//!   to that connection after them, are gated until the batch recording the
//!   new delivery state is persisted (`gate_qos2`).
//!
//! - A CONNACK with Session Present 0 while the deletion of the client's
//!   stored session (by this Clean Start, an earlier one, expiry or a
//!   DISCONNECT) is not yet persisted: the client then drops its own session
//!   state for good, so the deletion must be durable first, or a crash would
//!   bring back the old session with the QoS 2 state the client forgot
//!   (resending messages it already delivered, or taking its next message
//!   with a reused packet id for a duplicate). The CONNACK and what follows
//!   it are gated (`gate_from`) while `session_change_pending`.
//!
//! - Acknowledgements of session state: a SUBACK or UNSUBACK of a stored
//!   session tells the client its subscriptions changed, and a CONNACK
//!   whose CONNECT created, resumed, changed (expiry interval, will) or
//!   ended a stored session tells it which session it has: the client
//!   relies on that state (it does not subscribe again, it expects its
//!   messages queued while offline). If a crash lost the batch, the
//!   restarted broker would hold another session than the one acknowledged.
//!   So the acknowledgement and everything written to that connection after
//!   it (the retained messages sent for a new subscription first of all)
//!   are gated until the batch is persisted (`gate_stored_changes`, and
//!   `session_change_pending` in connect.rs). A gate, not a held ack: held
//!   acks are overtaken by other output, and a retained message must not
//!   overtake its SUBACK. Clean sessions store nothing and are never held;
//!   nor is the CONNACK resuming a session that never expires and has no
//!   will (`resumes_unchanged` in connect.rs says why).
//!
//! Each connection's `Outbox` (outbox.rs) keeps both kinds of wait with its
//! output: held acknowledgements apart from it until released, gates as
//! offsets into it. `Broker.waiting` lists the connections whose outbox
//! waits, and `handle_persisted` releases what the persisted batches cover
//! (`release_persisted`). Under `Relaxed` and `Memory`, nothing waits.

use super::{Broker, ClientLimits, ConnId, Durability, SessionKey};
use crate::codec::{Packet, QoS};
use crate::store::Ticket;
use std::rc::Rc;

impl Broker {
    /// The newest storage batch holding what happened so far: the pending
    /// ops are the next batch; without any, the last one given out.
    fn newest_ticket(&self) -> Ticket {
        self.next_ticket - u64::from(self.ops.is_empty())
    }

    /// The newest storage batch holding what happened so far, if it is not
    /// persisted yet (Strict only).
    pub(super) fn unpersisted_ticket(&self) -> Option<Ticket> {
        if self.cfg.durability != Durability::Strict {
            return None;
        }
        let newest = self.newest_ticket();
        (newest > self.persisted).then_some(newest)
    }

    /// Sends an acknowledgement of an inbound PUBLISH or PUBREL, or, with
    /// `hold`, holds it until everything that happened so far is persisted.
    /// One behind a held acknowledgement is held too [MQTT-4.6.0-2].
    /// Returns whether it was held.
    pub(super) fn ack(&mut self, conn: ConnId, packet: Packet, hold: bool) -> bool {
        let ticket = hold.then(|| self.newest_ticket());
        // Whether this acknowledgement ends an exchange (for the Receive
        // Maximum count): a PUBREC does only when it refuses the message.
        let ending = match &packet {
            Packet::PubAck(_) | Packet::PubComp(_) => true,
            Packet::PubRec(r) => r.reason.is_error(),
            _ => false,
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        let limits = ClientLimits::of(c);
        let encode = |out: &mut Vec<u8>| limits.encode(packet, out);
        let held = c.outbox.ack(conn, &mut self.ready, ticket, ending, encode);
        if held {
            self.waiting.insert(conn);
        }
        held
    }

    /// Strict: the acknowledgement just held on `conn` confirms message
    /// `id`, and all the message stored is itself and its deliveries to
    /// stored sessions. It may leave before its batch is persisted once
    /// every one of those deliveries is acknowledged (`settle`).
    pub(super) fn hold_for_deliveries(&mut self, conn: ConnId, id: u64) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.outbox.hold_for_message(id);
            self.settling.insert(id, conn);
        }
    }

    /// The last stored delivery of message `id` is acknowledged: nothing
    /// of the message needs storage any more, so the publisher's
    /// acknowledgement waits for no batch, only behind the ones held
    /// before it on its connection [MQTT-4.6.0-2].
    pub(super) fn settle(&mut self, publisher: ConnId, id: u64) {
        let persisted = self.persisted;
        let Some(c) = self.conns.get_mut(&publisher) else {
            return;
        };
        if !c.outbox.settle(id) {
            return;
        }
        self.counters.acks_released_early += 1;
        if !c.outbox.release(persisted, publisher, &mut self.ready) {
            self.waiting.remove(&publisher);
        }
    }

    /// Bytes written to the connection from now on wait until everything
    /// that happened so far is persisted, if this is a QoS 2 exchange with a
    /// session storage holds.
    pub(super) fn gate_qos2(&mut self, conn: ConnId, key: SessionKey, qos: QoS) {
        let from = self.written(conn);
        self.gate_qos2_from(conn, key, qos, from);
    }

    /// How many bytes of output are pending for the connection: the offset
    /// the next write starts at, for `gate_from`.
    pub(super) fn written(&self, conn: ConnId) -> usize {
        self.conns.get(&conn).map_or(0, |c| c.outbox.written())
    }

    /// Output written to the connection from offset `from` on (a SUBACK or
    /// an UNSUBACK, and what follows it) waits until persisted, if storage
    /// ops were emitted since there were `ops_before` pending: the
    /// acknowledgement tells the client its stored state changed. For a
    /// stored session it waits for whatever is pending even if this request
    /// changed nothing: an earlier request may have made the change, and
    /// its acknowledgement never left (its connection ended first), so this
    /// one is the first to confirm it (found by the model test: a second
    /// UNSUBSCRIBE answered at once while the first's deletion was not yet
    /// stored).
    pub(super) fn gate_stored_changes(&mut self, conn: ConnId, from: usize, ops_before: usize) {
        let stored = (self.conns.get(&conn))
            .and_then(|c| c.session)
            .is_some_and(|k| self.session(k).stored);
        if self.ops.len() > ops_before || stored {
            self.gate_from(conn, from);
        }
    }

    /// As `gate_qos2`, for bytes written from offset `from` of the
    /// connection's pending output.
    pub(super) fn gate_qos2_from(&mut self, conn: ConnId, key: SessionKey, qos: QoS, from: usize) {
        if qos == QoS::ExactlyOnce && self.session(key).stored {
            self.gate_from(conn, from);
        }
    }

    /// Under Strict durability, bytes written to the connection from offset
    /// `from` of its pending output on wait until everything that happened
    /// so far is persisted.
    pub(super) fn gate_from(&mut self, conn: ConnId, from: usize) {
        let Some(ticket) = self.unpersisted_ticket() else {
            return;
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.outbox.gate(from, ticket);
        self.waiting.insert(conn);
    }

    /// Under Strict durability, this client's stored session was created,
    /// changed or deleted in the pending batch: remembered, by client id,
    /// with that batch, until it is persisted. A client id, not a
    /// connection: the client may connect again, on any connection, before
    /// it is. Tickets only grow, so the newest change's batch covers the
    /// earlier ones.
    pub(super) fn note_session_change(&mut self, client_id: &Rc<str>) {
        if self.cfg.durability == Durability::Strict && !self.ops.is_empty() {
            self.session_changes
                .insert(client_id.clone(), self.next_ticket);
        }
    }

    /// Whether a CONNACK for this client would acknowledge stored session
    /// state that is not yet persisted: a creation, change or deletion of
    /// its stored session.
    pub(super) fn session_change_pending(&self, client_id: &Rc<str>) -> bool {
        self.session_changes
            .get(client_id)
            .is_some_and(|&t| t > self.persisted)
    }

    /// After `handle_persisted`: each waiting outbox releases what the
    /// persisted batches cover, and persisted deletions and session changes
    /// are forgotten.
    pub(super) fn release_persisted(&mut self) {
        let persisted = self.persisted;
        self.session_changes.retain(|_, t| *t > persisted);
        let (conns, ready) = (&mut self.conns, &mut self.ready);
        self.waiting.retain(|&conn| {
            conns
                .get_mut(&conn)
                .is_some_and(|c| c.outbox.release(persisted, conn, ready))
        });
    }

    /// Whether a QoS 1/2 message on `topic` would be written to storage:
    /// its retained copy (a non-empty retained message), or a delivery to a
    /// stored session whose subscription asked for QoS 1 or 2. Only asked
    /// while storage is full (`handle_storage_full`), off the usual path.
    pub(super) fn would_store(&mut self, topic: &str, retain: bool, empty: bool) -> bool {
        if !self.durable() {
            return false;
        }
        if retain && !empty {
            return true;
        }
        let mut hits = Vec::new();
        let sessions = &self.sessions;
        let stored = |e: &super::topic_tree::SubEntry| {
            e.options.qos != QoS::AtMostOnce
                && sessions[e.session.0 as usize]
                    .as_ref()
                    .is_some_and(|s| s.stored)
        };
        let mut shared_stored = false;
        // Shared groups: any member counts (none is chosen, so the groups'
        // round-robin positions do not move).
        let mut look = |members: &[super::topic_tree::SubEntry], _start: usize| {
            shared_stored |= members.iter().any(stored);
            None
        };
        self.tree.matches(topic, &mut hits, &mut look);
        shared_stored || hits.iter().any(|h| stored(&h.entry))
    }
}
