//! Packets from a connected client: PUBLISH and the QoS 2 handshake on the
//! receiving side, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT, AUTH.

use super::session::SubscriptionState;
use super::topic_tree::SubEntry;
use super::{Broker, ConnId, Durability, Event};
use crate::codec::topic::{filter_matches, parse_shared};
use crate::codec::{
    Disconnect, Packet, PubResponse, Publish, QoS, ReasonCode, RetainHandling, SubAck, Subscribe,
    UnsubAck, Unsubscribe,
};
use crate::store::{Message, StorageOp};
use crate::time::Millis;
use std::rc::Rc;

impl Broker {
    pub(super) fn handle_connected(&mut self, conn: ConnId, packet: Packet, now: Millis) {
        match packet {
            Packet::Publish(p) => self.handle_publish(conn, p, now),
            Packet::PubAck(r) => self.handle_puback(conn, r.packet_id, now),
            Packet::PubRec(r) => self.handle_pubrec(conn, r, now),
            Packet::PubRel(r) => self.handle_pubrel(conn, r),
            Packet::PubComp(r) => self.handle_pubcomp(conn, r.packet_id, now),
            Packet::Subscribe(s) => self.handle_subscribe(conn, s, now),
            Packet::Unsubscribe(u) => self.handle_unsubscribe(conn, u, now),
            Packet::PingReq => self.send(conn, Packet::PingResp), // [MQTT-3.12.4-1]
            Packet::Disconnect(d) => self.handle_disconnect(conn, d, now),
            Packet::Auth(a) => self.handle_auth_step(conn, a, now),
            // [MQTT-3.1.0-2]: a second CONNECT is a protocol violation.
            Packet::Connect(_) => {
                self.protocol_violation(conn, ReasonCode::ProtocolError, "second CONNECT", now)
            }
            other => {
                let detail = format!("{:?} is not sent by clients", other.packet_type());
                self.protocol_violation(conn, ReasonCode::ProtocolError, &detail, now)
            }
        }
    }

    fn handle_publish(&mut self, conn: ConnId, mut p: Publish, now: Millis) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(key) = c.session else {
            return;
        };
        let version = c.version;
        if let Some(alias) = p.properties.topic_alias.take() {
            if alias > self.cfg.topic_alias_maximum {
                // [MQTT-3.3.2-9]: above the maximum the broker announced.
                let reason = ReasonCode::TopicAliasInvalid;
                return self.protocol_violation(conn, reason, "topic alias above maximum", now);
            }
            if p.topic.is_empty() {
                match c.aliases.get(&alias) {
                    Some(topic) => p.topic = topic.to_string(),
                    None => {
                        let detail = "topic alias with no topic set";
                        return self.protocol_violation(
                            conn,
                            ReasonCode::ProtocolError,
                            detail,
                            now,
                        );
                    }
                }
            } else {
                c.aliases.insert(alias, Rc::from(p.topic.as_str())); // [MQTT-3.3.2-12]
            }
        }
        if !p.properties.subscription_identifiers.is_empty() {
            // [MQTT-3.3.4-6]: a client does not send subscription identifiers.
            let detail = "subscription identifier in PUBLISH from a client";
            return self.protocol_violation(conn, ReasonCode::ProtocolError, detail, now);
        }
        if p.retain && !self.cfg.retain_available {
            // [MQTT-3.2.2-14]
            let reason = ReasonCode::RetainNotSupported;
            return self.protocol_violation(conn, reason, "retain is not available", now);
        }
        if let (QoS::ExactlyOnce, Some(id)) = (p.qos, p.packet_id) {
            if self.session(key).incoming_qos2.contains(&id) {
                // A resent QoS 2 PUBLISH: acknowledge again, do not route
                // again [MQTT-4.3.3-10]. Not a new PUBLISH, so it does not
                // count against Receive Maximum either. Strict: not before
                // the state it confirms is persisted (it may still be pending).
                let hold = self.unpersisted_ticket().is_some();
                self.ack(conn, Packet::PubRec(PubResponse::new(id)), hold);
                return;
            }
        }
        let size = (p.topic.len() + p.payload.len()) as u64;
        let limited = self.cfg.publish_rate.is_some() || self.cfg.publish_byte_rate.is_some();
        let over_rate = limited
            && self
                .conns
                .get_mut(&conn)
                .and_then(|c| c.rate.as_mut())
                .is_some_and(|r| !r.admit(size, now));
        if over_rate {
            // Over `publishRate`/`publishByteRate`: DISCONNECT 0x96 (a
            // 3.1.1 client is closed).
            let reason = ReasonCode::MessageRateTooHigh;
            return self.protocol_violation(conn, reason, "publish rate limit exceeded", now);
        }
        if p.qos != QoS::AtMostOnce
            && version.is_v5()
            && self.unacknowledged_inbound(conn) >= usize::from(self.cfg.receive_maximum)
        {
            // The client sent more than the Receive Maximum the broker gave
            // it [MQTT-3.3.4-7]: DISCONNECT 0x93 (spec 3.2.2.3.3, 4.9).
            let reason = ReasonCode::ReceiveMaximumExceeded;
            return self.protocol_violation(conn, reason, "receive maximum exceeded", now);
        }
        if let Some(reason) = self.refusal(conn, &p) {
            if reason == ReasonCode::NotAuthorized {
                self.denied(key, conn, "publish", &p.topic);
            }
            return self.refuse_publish(conn, p, reason, now);
        }
        self.accept_publish(conn, key, p, now);
    }

    /// Tells the host that the client of session `key` was refused
    /// `action` on `topic` (see `Event::Denied`).
    pub(super) fn denied(
        &mut self,
        key: super::SessionKey,
        conn: ConnId,
        action: &'static str,
        topic: &str,
    ) {
        let client_id = self.session(key).client_id.clone();
        let topic = Rc::from(topic);
        self.events.push_back(Event::Denied {
            conn,
            client_id,
            action,
            topic,
        });
    }

    /// QoS 1 and QoS 2 PUBLISHes from this client the broker has not yet
    /// answered with PUBACK or PUBCOMP (or a refusing PUBREC): what the
    /// client counts against the broker's Receive Maximum (spec 4.9). These
    /// are the unreleased QoS 2 identifiers, plus the held acknowledgements
    /// that end an exchange: PUBACKs, PUBCOMPs, and PUBRECs for identifiers
    /// not among the unreleased ones (refusals). A held PUBREC for an
    /// unreleased identifier is the same PUBLISH, counted once.
    fn unacknowledged_inbound(&self, conn: ConnId) -> usize {
        let Some(c) = self.conns.get(&conn) else {
            return 0;
        };
        c.outbox.held_ending() + c.qos2_here.len()
    }

    /// Why a well-formed PUBLISH is not accepted, if it is not.
    pub(super) fn refusal(&mut self, conn: ConnId, p: &Publish) -> Option<ReasonCode> {
        if p.topic.len() > self.cfg.max_topic_length
            || p.topic.split('/').count() > self.cfg.max_topic_levels
        {
            return Some(ReasonCode::TopicNameInvalid);
        }
        // `$SYS` is the broker's own namespace (spec 4.7.2): a client may not
        // publish there, or it could overwrite the broker's retained values.
        if p.topic == "$SYS" || p.topic.starts_with("$SYS/") {
            return Some(ReasonCode::NotAuthorized);
        }
        // Spec 3.3.2.3.2: a receiver may check a payload said to be UTF-8
        // and refuse it with 0x99.
        if p.properties.payload_format_indicator == Some(1)
            && std::str::from_utf8(&p.payload).is_err()
        {
            return Some(ReasonCode::PayloadFormatInvalid);
        }
        if p.qos != QoS::AtMostOnce && self.bridge_queue_full(&p.topic, p.payload.len(), conn) {
            return Some(ReasonCode::QuotaExceeded);
        }
        if conn.is_bridge_local() {
            // A bridge: the broker's own connection. Never refused for a
            // full store: a refusal would reach the remote, which drops the
            // message (3.1.1 reads it as success); its acknowledgement waits
            // for storage instead, and the remote keeps it until then.
            return None;
        }
        if !self.may_write(conn, &p.topic) {
            return Some(ReasonCode::NotAuthorized);
        }
        let (client_id, username, protocol) = self.client_info(conn)?;
        let info = super::ClientInfo {
            client_id: &client_id,
            username: username.as_deref(),
            protocol,
        };
        if !self
            .hooks
            .authorize_publish(&info, &p.topic, p.qos, p.retain)
        {
            return Some(ReasonCode::NotAuthorized);
        }
        // Storage is over its size limit or failing: a message that would
        // be stored is refused now, rather than acknowledged and not kept.
        if p.qos != QoS::AtMostOnce
            && self.storage_full
            && self.would_store(&p.topic, p.retain, p.payload.is_empty())
        {
            return Some(ReasonCode::QuotaExceeded);
        }
        None
    }

    /// A refused PUBLISH: a negative acknowledgement in MQTT 5 where the QoS
    /// has one; 3.1.1 cannot say no, so the message is acknowledged and
    /// dropped when not authorized [MQTT-3.3.5-2], and the connection closed
    /// otherwise.
    fn refuse_publish(&mut self, conn: ConnId, p: Publish, reason: ReasonCode, now: Millis) {
        let v5 = self.conns.get(&conn).is_some_and(|c| c.version.is_v5());
        match (p.qos, p.packet_id) {
            (QoS::AtMostOnce, _) | (_, None) => {
                // A bridge's QoS 0 message that does not fit here is
                // dropped; the link to its remote is not at fault.
                if reason != ReasonCode::NotAuthorized && !conn.is_internal() {
                    self.protocol_violation(conn, reason, "PUBLISH refused", now);
                }
            }
            (qos, Some(id)) if v5 || reason == ReasonCode::NotAuthorized => {
                let mut rsp = PubResponse::with_reason(id, reason);
                // Problem information; left out where the client asked for
                // none [MQTT-3.1.2-29].
                rsp.properties.reason_string = Some(refusal_text(reason).to_owned());
                let packet = if qos == QoS::AtLeastOnce {
                    Packet::PubAck(rsp)
                } else {
                    Packet::PubRec(rsp)
                };
                self.ack(conn, packet, false);
            }
            _ => self.protocol_violation(conn, reason, "PUBLISH refused", now),
        }
    }

    fn accept_publish(&mut self, conn: ConnId, key: super::SessionKey, p: Publish, now: Millis) {
        self.counters.messages_received[p.qos as usize] += 1;
        let ops_before = self.ops.len();
        let mut properties = p.properties;
        let expiry = properties.message_expiry_interval.take();
        let msg = Rc::new(Message {
            id: self.take_message_id(),
            topic: Rc::from(p.topic),
            payload: p.payload,
            qos: p.qos,
            retain: p.retain,
            properties,
            expires_at: expiry.map(|secs| now + u64::from(secs) * 1000),
        });
        if msg.retain {
            self.set_retained(&msg); // [MQTT-3.3.1-5]
        }
        let delivered = self.route(&msg, Some(key), now);
        let Some(id) = p.packet_id else {
            return;
        };
        let v5 = self.conns.get(&conn).is_some_and(|c| c.version.is_v5());
        let reason = if delivered || !v5 {
            ReasonCode::Success
        } else {
            ReasonCode::NoMatchingSubscribers
        };
        if p.qos == QoS::ExactlyOnce {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.qos2_here.insert(id);
            }
            let s = self.session_mut(key);
            s.incoming_qos2.insert(id);
            if s.stored {
                let client_id = s.client_id.clone();
                self.store(StorageOp::PutIncomingQos2 {
                    client_id,
                    packet_id: id,
                });
            }
        }
        let rsp = PubResponse::with_reason(id, reason);
        let packet = if p.qos == QoS::AtLeastOnce {
            Packet::PubAck(rsp)
        } else {
            Packet::PubRec(rsp)
        };
        let stored = self.ops.len() > ops_before;
        let hold = stored
            && match self.cfg.durability {
                Durability::Strict => true,
                Durability::Relaxed => self.ops.len() >= super::RELAXED_BACKLOG,
                Durability::Memory => false,
            };
        let held = self.ack(conn, packet, hold);
        let only_deliveries =
            p.qos == QoS::AtLeastOnce && !msg.retain && self.ops.only_puts_of(ops_before, msg.id);
        if hold && held && self.cfg.durability == Durability::Strict && only_deliveries {
            self.hold_for_deliveries(conn, msg.id);
        }
    }

    pub(super) fn take_message_id(&mut self) -> u64 {
        let id = self.next_message_id;
        self.next_message_id += 1;
        id
    }

    /// PUBREL: the QoS 2 message may be forgotten; PUBCOMP [MQTT-4.3.3-11].
    fn handle_pubrel(&mut self, conn: ConnId, r: PubResponse) {
        let Some(key) = self.conns.get(&conn).and_then(|c| c.session) else {
            return;
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.qos2_here.remove(&r.packet_id);
        }
        let s = self.session_mut(key);
        let known = s.incoming_qos2.remove(&r.packet_id);
        let client_id = s.client_id.clone();
        // Strict: PUBCOMP frees the identifier for reuse by the client, so it
        // waits until the deletion is persisted; otherwise a crash would
        // bring the identifier back and swallow the next message using it.
        // An unknown identifier may be one whose deletion is still pending
        // (a PUBREL resent after a reconnect): that PUBCOMP waits too.
        let stored = s.stored;
        if known && stored {
            self.store(StorageOp::DeleteIncomingQos2 {
                client_id,
                packet_id: r.packet_id,
            });
        }
        let hold = stored && self.unpersisted_ticket().is_some();
        let reason = if known {
            ReasonCode::Success
        } else {
            ReasonCode::PacketIdentifierNotFound
        };
        self.ack(
            conn,
            Packet::PubComp(PubResponse::with_reason(r.packet_id, reason)),
            hold,
        );
    }

    fn handle_subscribe(&mut self, conn: ConnId, mut sub: Subscribe, now: Millis) {
        let Some((client_id, username, protocol)) = self.client_info(conn) else {
            return;
        };
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let Some(key) = c.session else {
            return;
        };
        if c.bridge {
            // A bridge (level 0x80 | version, Mosquitto's convention) gets
            // No Local and Retain As Published on every subscription, so
            // what it publishes does not go back to it: 3.1.1 has no
            // subscription options to ask for that.
            for s in &mut sub.subscriptions {
                s.options.no_local = true;
                s.options.retain_as_published = true;
            }
        }
        let identifier = sub.properties.subscription_identifiers.first().copied();
        let ops_before = self.ops.len();
        let mut reasons = Vec::with_capacity(sub.subscriptions.len());
        let mut retained_for = Vec::new();
        for s in &sub.subscriptions {
            let info = super::ClientInfo {
                client_id: &client_id,
                username: username.as_deref(),
                protocol,
            };
            let session = self.session(key);
            let is_new = !session.subscriptions.contains_key(&s.filter);
            let reason = if !self.filter_within_limits(&s.filter) {
                ReasonCode::TopicFilterInvalid
            } else if is_new && session.subscriptions.len() >= self.cfg.max_subscriptions_per_client
            {
                ReasonCode::QuotaExceeded
            } else if !conn.is_bridge_local()
                && !super::host_client::is_broker_session(&client_id)
                && (!self.may_subscribe(key, &s.filter)
                    || !self
                        .hooks
                        .authorize_subscribe(&info, &s.filter, s.options.qos))
            {
                self.denied(key, conn, "subscribe", &s.filter);
                ReasonCode::NotAuthorized
            } else {
                self.add_subscription(key, &s.filter, s.options, identifier);
                let wanted = match s.options.retain_handling {
                    RetainHandling::OnSubscribe => true,
                    RetainHandling::OnNewSubscribe => is_new, // [MQTT-3.3.1-10]
                    RetainHandling::Never => false,
                };
                // Retained messages are not sent for a shared subscription (spec 4.8.2).
                if wanted && parse_shared(&s.filter).is_none() {
                    retained_for.push(s.clone());
                }
                match s.options.qos {
                    QoS::AtMostOnce => ReasonCode::GRANTED_QOS_0,
                    QoS::AtLeastOnce => ReasonCode::GrantedQos1,
                    QoS::ExactlyOnce => ReasonCode::GrantedQos2,
                }
            };
            reasons.push(reason);
        }
        // [MQTT-3.8.4-1]: SUBACK with one reason per filter, in order.
        let suback = SubAck {
            packet_id: sub.packet_id,
            properties: Default::default(),
            reasons,
        };
        let from = self.written(conn);
        self.send(conn, Packet::SubAck(suback));
        // Strict: the SUBACK, and the retained messages behind it, wait
        // until the stored subscriptions are persisted (see durability.rs).
        self.gate_stored_changes(conn, from, ops_before);
        for s in retained_for {
            self.send_retained(key, &s.filter, s.options.qos, identifier, now);
        }
    }

    /// The topic limits apply to what is matched against topic names: for
    /// `$share/group/filter`, the filter after the share name.
    fn filter_within_limits(&self, filter: &str) -> bool {
        let matched = match parse_shared(filter) {
            Some(Ok(shared)) => shared.filter,
            _ => filter,
        };
        matched.len() <= self.cfg.max_topic_length
            && matched.split('/').count() <= self.cfg.max_topic_levels
    }

    fn add_subscription(
        &mut self,
        key: super::SessionKey,
        filter: &str,
        options: crate::codec::SubscriptionOptions,
        identifier: Option<u32>,
    ) {
        let check_read = self.needs_read_check(key, filter);
        self.tree.insert(
            filter,
            SubEntry {
                session: key,
                options,
                identifier,
                check_read,
            },
        );
        let s = self.session_mut(key);
        s.subscriptions.insert(
            filter.to_owned(),
            SubscriptionState {
                options,
                identifier,
            },
        );
        if s.stored {
            let record = crate::store::SubscriptionRecord {
                client_id: s.client_id.clone(),
                filter: filter.to_owned(),
                options,
                identifier,
            };
            self.store(StorageOp::PutSubscription(record));
        }
    }

    /// Delivers the retained messages matching a new subscription, with the
    /// RETAIN flag set [MQTT-3.3.1-8].
    fn send_retained(
        &mut self,
        key: super::SessionKey,
        filter: &str,
        qos: QoS,
        id: Option<u32>,
        now: Millis,
    ) {
        // A retained message goes only to a subscriber who may read it.
        let check_read = self.needs_read_check(key, filter);
        let mut matching: Vec<Rc<Message>> = self
            .retained
            .values()
            .filter(|m| filter_matches(filter, &m.topic) && !m.is_expired(now))
            .filter(|m| !check_read || self.may_read(key, &m.topic))
            .cloned()
            .collect();
        super::sort::sort_by_key(&mut matching, |m| m.id);
        for msg in matching {
            let qos = qos.min(msg.qos);
            let sub_ids = id.into_iter().collect();
            self.deliver(key, msg, qos, true, sub_ids, None, now);
        }
    }

    fn handle_unsubscribe(&mut self, conn: ConnId, u: Unsubscribe, now: Millis) {
        let Some(key) = self.conns.get(&conn).and_then(|c| c.session) else {
            return;
        };
        let ops_before = self.ops.len();
        let mut reasons = Vec::with_capacity(u.filters.len());
        for filter in &u.filters {
            let s = self.session_mut(key);
            let existed = s.subscriptions.remove(filter).is_some();
            if existed {
                if s.stored {
                    let client_id = s.client_id.clone();
                    self.store(StorageOp::DeleteSubscription {
                        client_id,
                        filter: filter.clone(),
                    });
                }
                self.tree.remove(filter, key);
                if parse_shared(filter).is_some() {
                    self.hand_back_shared(key, filter, now);
                }
            }
            reasons.push(if existed {
                ReasonCode::Success
            } else {
                ReasonCode::NoSubscriptionExisted
            });
        }
        let unsuback = UnsubAck {
            packet_id: u.packet_id,
            properties: Default::default(),
            reasons,
        };
        let from = self.written(conn);
        // [MQTT-3.10.4-4]. Strict: the UNSUBACK waits until the deletions
        // are persisted.
        self.send(conn, Packet::UnsubAck(unsuback));
        self.gate_stored_changes(conn, from, ops_before);
    }

    fn handle_disconnect(&mut self, conn: ConnId, d: Disconnect, now: Millis) {
        let Some(key) = self.conns.get(&conn).and_then(|c| c.session) else {
            return;
        };
        if let Some(expiry) = d.properties.session_expiry_interval {
            if self.session(key).expiry_interval == 0 && expiry != 0 {
                // [MQTT-3.14.2-2]
                let detail = "session expiry set at DISCONNECT after 0 at CONNECT";
                return self.protocol_violation(conn, ReasonCode::ProtocolError, detail, now);
            }
            self.session_mut(key).expiry_interval = expiry.min(self.cfg.max_session_expiry);
        }
        // Only reason 0x00 discards the will [MQTT-3.14.4-3], [MQTT-3.1.2-8]:
        // 0x04 asks for it and error reasons are no normal disconnection.
        // A 3.1.1 DISCONNECT (always 0x00) always discards it.
        let with_will = d.reason != ReasonCode::NORMAL_DISCONNECTION;
        self.end_connection(conn, with_will, None, None, now);
    }
}

/// The Reason String sent with a refused PUBLISH.
fn refusal_text(reason: ReasonCode) -> &'static str {
    match reason {
        ReasonCode::NotAuthorized => "not authorized to publish to this topic",
        ReasonCode::TopicNameInvalid => "topic name exceeds the broker's length or level limit",
        ReasonCode::PayloadFormatInvalid => "payload is marked UTF-8 but is not valid UTF-8",
        _ => "PUBLISH refused",
    }
}
