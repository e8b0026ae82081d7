//! Strict durability on the way out: what a client is told must not run
//! ahead of what storage holds.
//!
//! Acknowledgements of inbound messages wait for their batch (`ack` with
//! `hold`). The outbound QoS 2 exchange with a stored session needs the same
//! care, because the client keeps state from it: a client that received
//! PUBLISH with packet identifier X holds X until PUBREL [MQTT-4.3.3-9 on its
//! side], and forgets it on PUBREL. If a crash lost the broker's record of X
//! after the client saw that PUBLISH, the restarted broker would later give X
//! to another message, which the client would take for a duplicate and drop
//! after acknowledging it. If a crash lost the broker's record of PUBREC
//! after the client saw PUBREL, the broker would resend the PUBLISH and the
//! client would deliver it twice. So, under `Durability::Strict`, the bytes
//! of a QoS 2 PUBLISH or PUBREL to a stored session, and everything written
//! to that connection after them, are gated until the batch recording the
//! new delivery state is persisted.
//!
//! The same goes for a CONNACK with Session Present 0 while the deletion of
//! the client's stored session (by this Clean Start, an earlier one, expiry
//! or a DISCONNECT) is not yet persisted: the client then drops its own
//! session state for good, so the deletion must be durable first, or a crash
//! would bring back the old session with the QoS 2 state the client forgot
//! (resending messages it already delivered, or taking its next message
//! with a reused packet id for a duplicate).

use super::{Broker, Conn, ConnId, Durability, SessionKey};
use crate::codec::QoS;
use crate::store::{StorageOp, Ticket};
use std::rc::Rc;

impl Broker {
    /// The newest storage batch holding what happened so far, if it is not
    /// persisted yet (Strict only): pending ops are the next batch.
    pub(super) fn unpersisted_ticket(&self) -> Option<Ticket> {
        if self.cfg.durability != Durability::Strict {
            return None;
        }
        let newest = self.next_ticket - u64::from(self.ops.is_empty());
        (newest > self.persisted).then_some(newest)
    }

    /// Bytes written to the connection from now on wait until everything
    /// that happened so far is persisted, if this is a QoS 2 exchange with a
    /// session storage holds.
    pub(super) fn gate_qos2(&mut self, conn: ConnId, key: SessionKey, qos: QoS) {
        let from = self.conns.get(&conn).map_or(0, |c| c.tx.len());
        self.gate_qos2_from(conn, key, qos, from);
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
        // Tickets only grow, so a gate with this ticket or a later one
        // already holds back everything after it.
        if !matches!(c.gates.back(), Some(&(_, last)) if last >= ticket) {
            c.gates.push_back((from.min(c.tx.len()), ticket));
            self.gated.insert(conn);
        }
    }

    /// Called for every op stored: remembers session deletions until they
    /// are persisted (Strict only).
    pub(super) fn note_deletion(&mut self, op: &StorageOp) {
        if let (StorageOp::DeleteSession { client_id }, Durability::Strict) =
            (op, self.cfg.durability)
        {
            self.deleting.insert(client_id.clone(), self.next_ticket);
        }
    }

    /// Whether the deletion of this client's stored session is not yet
    /// persisted.
    pub(super) fn deletion_pending(&self, client_id: &Rc<str>) -> bool {
        self.deleting
            .get(client_id)
            .is_some_and(|&t| t > self.persisted)
    }

    /// After `handle_persisted`: connections whose gated output may go.
    pub(super) fn release_gates(&mut self) {
        let persisted = self.persisted;
        self.deleting.retain(|_, t| *t > persisted);
        let gated: Vec<ConnId> = self.gated.iter().copied().collect();
        for conn in gated {
            let Some(c) = self.conns.get_mut(&conn) else {
                self.gated.remove(&conn);
                continue;
            };
            let before = c.gates.len();
            while c.gates.front().is_some_and(|&(_, t)| t <= persisted) {
                c.gates.pop_front();
            }
            if c.gates.is_empty() {
                self.gated.remove(&conn);
            }
            if c.gates.len() != before && !c.ready {
                c.ready = true;
                self.ready.push_back(conn);
            }
        }
    }
}

/// Takes the connection's output that may leave now (all of it, unless a
/// gate holds part back) and whether the connection may close after it.
pub(super) fn take_releasable(c: &mut Conn, persisted: Ticket) -> (Vec<u8>, bool) {
    while c.gates.front().is_some_and(|&(_, t)| t <= persisted) {
        c.gates.pop_front();
    }
    let close = !c.is_open() && c.gates.is_empty();
    let data = match c.gates.front() {
        None => std::mem::take(&mut c.tx),
        Some(&(at, _)) => {
            let rest = c.tx.split_off(at);
            for gate in c.gates.iter_mut() {
                gate.0 -= at;
            }
            std::mem::replace(&mut c.tx, rest)
        }
    };
    (data, close)
}
