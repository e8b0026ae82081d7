//! One connection's way out: the bytes queued for it, and what of them must
//! wait for storage first (why, see `durability.rs`).
//!
//! Two things wait for a storage ticket:
//! - held acknowledgements: each waits for the batch that records what it
//!   confirms; they leave in the order their PUBLISHes came [MQTT-4.6.0-2],
//!   so one that needs no batch still waits behind a held one. They are not
//!   yet part of the output: other packets may go before them, and they join
//!   the output, behind what is there, when released;
//! - gates: the output from an offset on waits for a ticket. Everything
//!   written after a gate waits with it, released acknowledgements included,
//!   so nothing overtakes what a gate holds back.
//!
//! The Broker keeps the set of connections whose outbox waits (`waiting`) and
//! calls `release` for each of them when a batch is persisted; it keeps the
//! queue of connections ready to transmit, which `mark_ready` joins once.

use super::ConnId;
use crate::store::Ticket;
use std::collections::VecDeque;

/// What is sent to one connection, and what of it waits for storage.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// Encoded packets for the connection, in order, not yet transmitted.
    tx: Vec<u8>,
    /// `tx` from this offset on waits for this ticket. Offsets and tickets
    /// increase.
    gates: VecDeque<(usize, Ticket)>,
    /// The held acknowledgements, encoded back to back, oldest first.
    held: Vec<u8>,
    /// One entry per held acknowledgement, in the order of `held`.
    held_acks: VecDeque<HeldAck>,
    /// How many held acknowledgements end an inbound exchange: the Receive
    /// Maximum check is O(1) per PUBLISH.
    held_ending: usize,
    /// In the Broker's ready queue.
    ready: bool,
    /// The connection closes once its output is out and no gate holds
    /// anything back.
    closing: bool,
}

#[derive(Debug)]
struct HeldAck {
    ticket: Ticket,
    /// Its length in `held`.
    len: usize,
    /// It ends an inbound QoS 1/2 exchange (PUBACK, PUBCOMP, a refusing
    /// PUBREC), which the Receive Maximum counts.
    ending: bool,
    /// The message it confirms, if that message's only stored state is its
    /// deliveries to stored sessions: once they have all been acknowledged,
    /// it waits for no ticket (`settle`, see `durability.rs`).
    message: Option<u64>,
}

impl Outbox {
    /// Puts the connection in the ready queue, if it is not there yet:
    /// `poll_transmit` will take what may leave.
    #[inline]
    pub fn mark_ready(&mut self, conn: ConnId, ready: &mut VecDeque<ConnId>) {
        if !self.ready {
            self.ready = true;
            ready.push_back(conn);
        }
    }

    /// Appends a packet to the output: `encode` writes it and says whether
    /// it wrote anything; if it did, the connection is marked ready. Returns
    /// what `encode` returned.
    #[inline]
    pub fn write(
        &mut self,
        conn: ConnId,
        ready: &mut VecDeque<ConnId>,
        encode: impl FnOnce(&mut Vec<u8>) -> bool,
    ) -> bool {
        let wrote = encode(&mut self.tx);
        if wrote {
            self.mark_ready(conn, ready);
        }
        wrote
    }

    /// How many bytes of output are pending: the offset the next write
    /// starts at, for `gate`.
    pub fn written(&self) -> usize {
        self.tx.len()
    }

    /// Output from offset `from` on (see `written`), and everything written
    /// after it, waits until `ticket` is persisted. A gate with this ticket
    /// or a later one already holds all that back (tickets only grow).
    pub fn gate(&mut self, from: usize, ticket: Ticket) {
        if !matches!(self.gates.back(), Some(&(_, last)) if last >= ticket) {
            self.gates.push_back((from.min(self.tx.len()), ticket));
        }
    }

    /// An acknowledgement of an inbound PUBLISH or PUBREL. It waits for
    /// `ticket` if one is given, and behind the acknowledgements already
    /// held in any case; otherwise it is written at once. `encode` writes it
    /// and says whether it wrote anything; `ending` is whether it ends an
    /// inbound exchange (PUBACK, PUBCOMP, a refusing PUBREC). Returns whether
    /// it was held (the outbox then waits for storage).
    pub fn ack(
        &mut self,
        conn: ConnId,
        ready: &mut VecDeque<ConnId>,
        ticket: Option<Ticket>,
        ending: bool,
        encode: impl FnOnce(&mut Vec<u8>) -> bool,
    ) -> bool {
        // Behind a held one, an acknowledgement that needs no batch waits
        // for order alone: ticket 0, always persisted.
        let behind = self.held_acks.back().map(|_| 0);
        let Some(ticket) = ticket.or(behind) else {
            self.write(conn, ready, encode);
            return false;
        };
        let start = self.held.len();
        if !encode(&mut self.held) {
            self.held.truncate(start);
            return false;
        }
        let len = self.held.len() - start;
        self.held_acks.push_back(HeldAck {
            ticket,
            len,
            ending,
            message: None,
        });
        self.held_ending += usize::from(ending);
        true
    }

    /// The acknowledgement held last confirms message `id`, which storage
    /// needs no more once its deliveries to stored sessions are all
    /// acknowledged (`settle`).
    pub fn hold_for_message(&mut self, id: u64) {
        if let Some(h) = self.held_acks.back_mut() {
            h.message = Some(id);
        }
    }

    /// Message `id` needs storage no more: the acknowledgement confirming
    /// it waits for no ticket, only behind those held before it. Returns
    /// whether it was held here.
    pub fn settle(&mut self, id: u64) -> bool {
        let held = self.held_acks.iter_mut().find(|h| h.message == Some(id));
        held.map(|h| h.ticket = 0).is_some()
    }

    /// How many acknowledgements are held.
    pub fn held_acks(&self) -> usize {
        self.held_acks.len()
    }

    /// How many held acknowledgements end an inbound exchange.
    pub fn held_ending(&self) -> usize {
        self.held_ending
    }

    /// Whether anything waits for storage: a held acknowledgement or a gate.
    pub fn waits(&self) -> bool {
        !self.held_acks.is_empty() || !self.gates.is_empty()
    }

    /// Storage batches up to `persisted` are durable: the acknowledgements
    /// waiting for them join the output, in order and behind what is there,
    /// and the gates waiting for them open. Marks the connection ready if
    /// anything was released. Returns whether anything still waits.
    pub fn release(
        &mut self,
        persisted: Ticket,
        conn: ConnId,
        ready: &mut VecDeque<ConnId>,
    ) -> bool {
        let mut released = 0;
        let mut acks = 0;
        while let Some(h) = self.held_acks.front().filter(|h| h.ticket <= persisted) {
            released += h.len;
            self.held_ending -= usize::from(h.ending);
            self.held_acks.pop_front();
            acks += 1;
        }
        if acks > 0 {
            self.tx.extend_from_slice(&self.held[..released]);
            self.held.drain(..released);
        }
        let gates = self.gates.len();
        self.open_gates(persisted);
        if acks > 0 || self.gates.len() != gates {
            self.mark_ready(conn, ready);
        }
        self.waits()
    }

    /// The connection is closing: what is held goes no more (nothing may
    /// follow the packet that ends the connection), and the connection
    /// closes once its output is out and no gate holds any back. Marks it
    /// ready, so that the close itself is transmitted.
    pub fn close(&mut self, conn: ConnId, ready: &mut VecDeque<ConnId>) {
        self.closing = true;
        self.held.clear();
        self.held_acks.clear();
        self.held_ending = 0;
        self.mark_ready(conn, ready);
    }

    /// For `poll_transmit`, which took the connection off the ready queue:
    /// the output that may leave now (all of it, unless a gate holds part
    /// back) and whether the connection closes after it.
    pub fn take(&mut self, persisted: Ticket) -> (Vec<u8>, bool) {
        self.ready = false;
        self.open_gates(persisted);
        let close = self.closing && self.gates.is_empty();
        let data = match self.gates.front() {
            None => std::mem::take(&mut self.tx),
            Some(&(at, _)) => {
                let rest = self.tx.split_off(at);
                for gate in self.gates.iter_mut() {
                    gate.0 -= at;
                }
                std::mem::replace(&mut self.tx, rest)
            }
        };
        (data, close)
    }

    fn open_gates(&mut self, persisted: Ticket) {
        while self.gates.front().is_some_and(|&(_, t)| t <= persisted) {
            self.gates.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: ConnId = ConnId(7);

    /// One outbox and the ready queue, drained as `poll_transmit` does.
    #[derive(Default)]
    struct Host {
        o: Outbox,
        ready: VecDeque<ConnId>,
    }

    /// An encoder writing `bytes`.
    fn put(bytes: &[u8]) -> impl FnOnce(&mut Vec<u8>) -> bool + '_ {
        move |out| {
            out.extend_from_slice(bytes);
            true
        }
    }

    impl Host {
        fn write(&mut self, bytes: &[u8]) {
            assert!(self.o.write(C, &mut self.ready, put(bytes)));
        }

        /// Returns whether it was held.
        fn ack(&mut self, ticket: Option<Ticket>, ending: bool, bytes: &[u8]) -> bool {
            self.o.ack(C, &mut self.ready, ticket, ending, put(bytes))
        }

        /// Returns whether anything still waits.
        fn release(&mut self, persisted: Ticket) -> bool {
            self.o.release(persisted, C, &mut self.ready)
        }

        fn close(&mut self) {
            self.o.close(C, &mut self.ready);
        }

        /// What `poll_transmit` returns: nothing unless the connection is
        /// ready and has something to say.
        fn poll(&mut self, persisted: Ticket) -> Option<(Vec<u8>, bool)> {
            let conn = self.ready.pop_front()?;
            assert_eq!(conn, C);
            assert!(self.ready.is_empty(), "in the ready queue once");
            let (data, close) = self.o.take(persisted);
            (close || !data.is_empty()).then_some((data, close))
        }

        fn held(&self) -> (usize, usize) {
            (self.o.held_acks(), self.o.held_ending())
        }
    }

    fn out(bytes: &[u8]) -> Option<(Vec<u8>, bool)> {
        Some((bytes.to_vec(), false))
    }

    #[test]
    fn writes_mark_ready_once_until_taken() {
        let mut h = Host::default();
        h.write(b"ab");
        h.write(b"cd");
        assert_eq!(h.o.written(), 4);
        assert_eq!(h.poll(0), out(b"abcd"));
        assert_eq!(h.o.written(), 0);
        assert_eq!(h.poll(0), None);
        h.write(b"e");
        assert_eq!(h.poll(0), out(b"e"));
    }

    #[test]
    fn nothing_written_is_not_ready() {
        let mut h = Host::default();
        assert!(!h.o.write(C, &mut h.ready, |_| false));
        assert!(h.ready.is_empty());
    }

    #[test]
    fn acks_go_at_once_unless_one_is_held() {
        let mut h = Host::default();
        assert!(!h.ack(None, true, b"A"));
        assert!(h.ack(Some(3), true, b"B"));
        // Needs no batch, but its PUBLISH came after B's [MQTT-4.6.0-2].
        assert!(h.ack(None, false, b"C"));
        h.write(b"x");
        assert_eq!(h.held(), (2, 1));
        assert!(h.o.waits());
        // Other packets do not wait behind held acknowledgements.
        assert_eq!(h.poll(0), out(b"Ax"));
        assert!(h.release(2), "ticket 3 is not persisted yet");
        assert_eq!(h.poll(2), None);
        assert!(!h.release(3));
        assert_eq!(h.held(), (0, 0));
        assert_eq!(h.poll(3), out(b"BC"));
        // Nothing held: straight out again.
        assert!(!h.ack(None, true, b"D"));
        assert_eq!(h.poll(3), out(b"D"));
    }

    #[test]
    fn acks_are_released_by_ticket_in_order() {
        let mut h = Host::default();
        assert!(h.ack(Some(1), true, b"a1"));
        assert!(h.ack(Some(2), false, b"b2"));
        assert!(h.ack(Some(4), true, b"c4"));
        assert_eq!(h.held(), (3, 2));
        assert!(h.release(2));
        assert_eq!(h.held(), (1, 1));
        h.write(b"x");
        assert_eq!(h.poll(2), out(b"a1b2x"));
        // A later ticket releases everything up to it.
        assert!(!h.release(9));
        assert_eq!(h.poll(9), out(b"c4"));
    }

    #[test]
    fn an_ack_encoding_nothing_is_not_held() {
        let mut h = Host::default();
        assert!(!h.o.ack(C, &mut h.ready, Some(1), true, |_| false));
        assert!(!h.o.waits());
        assert_eq!(h.held(), (0, 0));
        assert!(h.ready.is_empty());
    }

    #[test]
    fn a_gate_holds_back_what_follows_it() {
        let mut h = Host::default();
        h.write(b"ab");
        let from = h.o.written();
        h.write(b"QOS2");
        h.o.gate(from, 5);
        h.write(b"cd");
        assert!(h.o.waits());
        assert_eq!(h.poll(4), out(b"ab"));
        assert!(h.release(4));
        assert_eq!(h.poll(4), None);
        assert!(!h.release(5));
        assert_eq!(h.poll(5), out(b"QOS2cd"));
    }

    #[test]
    fn gates_open_in_turn_and_a_later_ticket_covers_an_earlier_one() {
        let mut h = Host::default();
        h.write(b"a");
        h.o.gate(1, 2);
        h.write(b"b");
        h.o.gate(2, 2); // already held back by the gate for 2
        h.o.gate(2, 4);
        h.write(b"c");
        assert_eq!(h.poll(0), out(b"a"));
        h.write(b"d");
        // Offsets follow what was taken.
        assert!(h.release(3));
        assert_eq!(h.poll(3), out(b"b"));
        assert!(!h.release(4));
        assert_eq!(h.poll(4), out(b"cd"));
    }

    #[test]
    fn a_gate_from_past_the_output_starts_at_its_end() {
        let mut h = Host::default();
        h.write(b"ab");
        h.o.gate(10, 1);
        h.write(b"c");
        assert_eq!(h.poll(0), out(b"ab"));
        assert!(!h.release(1));
        assert_eq!(h.poll(1), out(b"c"));
    }

    #[test]
    fn released_acks_do_not_overtake_gated_bytes() {
        let mut h = Host::default();
        assert!(h.ack(Some(1), true, b"ACK"));
        h.write(b"a");
        h.o.gate(1, 2);
        h.write(b"PUBREL");
        // Batch 1 is reported first: the acknowledgement joins the output
        // behind the gated PUBREL.
        assert!(h.release(1));
        assert_eq!(h.poll(1), out(b"a"));
        assert!(!h.release(2));
        assert_eq!(h.poll(2), out(b"PUBRELACK"));
    }

    #[test]
    fn closes_after_the_flush_once_no_gate_holds_back() {
        let mut h = Host::default();
        h.write(b"a");
        h.o.gate(1, 3);
        h.write(b"DISCONNECT");
        assert_eq!(h.poll(2), out(b"a"));
        h.close();
        // Ready, though nothing may leave: the gate holds the rest back.
        assert_eq!(h.poll(2), None);
        assert!(!h.release(3));
        assert_eq!(h.poll(3), Some((b"DISCONNECT".to_vec(), true)));
    }

    #[test]
    fn close_with_nothing_pending_is_transmitted() {
        let mut h = Host::default();
        h.close();
        assert_eq!(h.poll(0), Some((Vec::new(), true)));
    }

    #[test]
    fn close_drops_held_acks() {
        let mut h = Host::default();
        assert!(h.ack(Some(1), true, b"ACK"));
        h.write(b"DISCONNECT");
        h.close();
        assert!(!h.o.waits());
        assert_eq!(h.held(), (0, 0));
        assert_eq!(h.poll(0), Some((b"DISCONNECT".to_vec(), true)));
        assert!(!h.release(1));
        assert_eq!(h.poll(1), None);
    }

    #[test]
    fn receive_maximum_counts_the_held_acks_that_end_an_exchange() {
        let mut h = Host::default();
        for (ticket, ending) in [(1, true), (1, false), (2, true), (3, true)] {
            assert!(h.ack(Some(ticket), ending, b"x"));
        }
        assert!(h.ack(None, true, b"y"), "behind the others");
        assert_eq!(h.held(), (5, 4));
        h.release(1);
        assert_eq!(h.held(), (3, 3));
        h.release(2);
        assert_eq!(h.held(), (2, 2));
        h.release(3);
        assert_eq!(h.held(), (0, 0));
        assert_eq!(h.poll(3), out(b"xxxxy"));
    }
}
