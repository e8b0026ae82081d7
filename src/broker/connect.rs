//! CONNECT, authentication (including the MQTT 5 AUTH exchange) and CONNACK.

use super::hooks::{AuthDecision, AuthRequest, ClientInfo};
use super::session::Session;
use super::{bridge, Broker, ConnId, ConnState, Event, SessionKey, Timer};
use crate::codec::{
    Auth, ConnAck, Connect, DecodeError, Disconnect, Packet, PacketType, Properties,
    ProtocolVersion, ReasonCode,
};
use crate::store::{Message, SessionRecord, StorageOp, WillRecord};
use crate::time::Millis;
use std::rc::Rc;

/// MQTT 3.1 allows client identifiers of 1 to 23 characters.
const V3_1_MAX_CLIENT_ID: usize = 23;

impl Broker {
    pub(super) fn handle_connect(&mut self, conn: ConnId, mut connect: Box<Connect>, now: Millis) {
        let version = connect.protocol;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.version = version;
            c.bridge = connect.bridge;
        }
        let internal = conn.is_internal();
        if let Err(reason) = self.check_client_id(&mut connect) {
            return self.refuse(conn, reason, now);
        }
        if connect.client_id.starts_with(bridge::SESSION_PREFIX) != conn.is_bridge_local()
            || connect.client_id.starts_with(super::HOST_PREFIX) != conn.is_host_client()
        {
            // Bridge sessions and host clients' are the broker's own.
            return self.refuse(conn, ReasonCode::ClientIdentifierNotValid, now);
        }
        if !internal {
            // The password file and anonymous clients (see `access/`).
            if let Err(reason) = self.admit(conn, &mut connect) {
                return self.refuse(conn, reason, now);
            }
        }
        let connected = self.connected_clients();
        // A client taking over its own session replaces a connection: the
        // count does not grow, so the limit does not refuse it.
        let takes_over = self
            .by_client_id
            .get(connect.client_id.as_str())
            .is_some_and(|&k| self.session(k).conn.is_some());
        if connected >= self.cfg.max_connections && !takes_over && !internal {
            let reason = match version {
                ProtocolVersion::V5 => ReasonCode::QuotaExceeded,
                _ => ReasonCode::ServerUnavailable,
            };
            return self.refuse(conn, reason, now);
        }
        if connect.will.as_ref().is_some_and(|w| w.retain) && !self.cfg.retain_available {
            // [MQTT-3.2.2-13]: a retained will cannot be honoured.
            return self.refuse(conn, ReasonCode::RetainNotSupported, now);
        }
        let request = AuthRequest {
            conn,
            client_id: &connect.client_id,
            username: connect.username.as_deref(),
            password: connect.password.as_deref(),
            protocol: version,
            method: connect.properties.authentication_method.as_deref(),
            data: connect.properties.authentication_data.as_deref(),
            reauthenticate: false,
        };
        // A bridge's own connection is the broker's, not a client to check.
        let decision = if internal {
            AuthDecision::Accept
        } else {
            self.hooks.authenticate(&request)
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.auth_method = connect.properties.authentication_method.clone();
            c.state = ConnState::Authenticating(connect);
        }
        self.apply_auth_decision(conn, decision, now);
    }

    /// Applies the client identifier rules; an empty one may be assigned.
    fn check_client_id(&mut self, connect: &mut Connect) -> Result<(), ReasonCode> {
        let id_len = connect.client_id.chars().count();
        match connect.protocol {
            ProtocolVersion::V3_1 if id_len == 0 || id_len > V3_1_MAX_CLIENT_ID => {
                return Err(ReasonCode::ClientIdentifierNotValid);
            }
            // [MQTT-3.1.3-8]: an empty id needs Clean Session in 3.1.1.
            ProtocolVersion::V3_1_1 if id_len == 0 && !connect.clean_start => {
                return Err(ReasonCode::ClientIdentifierNotValid);
            }
            _ => {}
        }
        if self.cfg.strict_client_ids
            && !connect.client_id.starts_with(bridge::SESSION_PREFIX)
            && !connect.client_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            // [MQTT-3.1.3-5]: a server MAY refuse other characters (0x85).
            return Err(ReasonCode::ClientIdentifierNotValid);
        }
        if id_len == 0 {
            // [MQTT-3.1.3-6], [MQTT-3.2.2-16]: the server assigns one (and
            // tells an MQTT 5 client in Assigned Client Identifier).
            connect.client_id = self.assign_client_id();
            connect.properties.assigned_client_identifier = Some(connect.client_id.clone());
        }
        Ok(())
    }

    fn assign_client_id(&mut self) -> String {
        loop {
            self.assigned_ids += 1;
            let mut x =
                self.cfg.client_id_seed ^ self.assigned_ids.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            // splitmix64 finaliser: ids look random but follow from the seed.
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^= x >> 31;
            // Letters and digits only, so `strict_client_ids` accepts it back.
            let id = format!("tabmq{x:016x}");
            if !self.by_client_id.contains_key(id.as_str()) {
                return id;
            }
        }
    }

    /// A decision from `Hooks::authenticate` or from the host later.
    pub(super) fn apply_auth_decision(
        &mut self,
        conn: ConnId,
        decision: AuthDecision,
        now: Millis,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let connecting = matches!(c.state, ConnState::Authenticating(_));
        match decision {
            AuthDecision::Pending => {}
            AuthDecision::Accept if connecting => {
                if let Some(reason) = self.will_refusal(conn) {
                    return self.refuse(conn, reason, now);
                }
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                let ConnState::Authenticating(connect) =
                    std::mem::replace(&mut c.state, ConnState::Connected)
                else {
                    unreachable!("checked above");
                };
                self.finish_connect(conn, connect, now);
                self.resume_input(conn, now);
            }
            AuthDecision::Accept => {
                // Re-authentication succeeded: AUTH 0x00 (Success) ends it
                // (spec 4.12.1), with the method from CONNECT [MQTT-4.12.0-5].
                let method = c.auth_method.clone();
                let properties = Properties {
                    authentication_method: method,
                    ..Default::default()
                };
                self.send(
                    conn,
                    Packet::Auth(Auth {
                        reason: ReasonCode::Success,
                        properties,
                    }),
                );
            }
            AuthDecision::Reject(reason) if connecting => self.refuse(conn, reason, now),
            AuthDecision::Reject(reason) => {
                // [MQTT-4.12.1-2]: DISCONNECT with an appropriate reason; one
                // that only CONNACK may carry (0x86) becomes 0x87.
                let reason = if reason.allowed_in(PacketType::Disconnect) {
                    reason
                } else {
                    ReasonCode::NotAuthorized
                };
                self.protocol_violation(conn, reason, "re-authentication refused", now)
            }
            AuthDecision::Continue(data) => {
                let Some(method) = c.auth_method.clone() else {
                    // No method, so no AUTH exchange is possible [MQTT-4.12.0-1].
                    let reason = ReasonCode::BadAuthenticationMethod;
                    return self.apply_auth_decision(conn, AuthDecision::Reject(reason), now);
                };
                let properties = Properties {
                    authentication_method: Some(method),
                    authentication_data: data,
                    ..Default::default()
                };
                let reason = ReasonCode::ContinueAuthentication;
                self.send(conn, Packet::Auth(Auth { reason, properties }));
            }
        }
    }

    /// The host's answer to an `AuthDecision::Pending`.
    pub fn handle_auth_decision(&mut self, conn: ConnId, decision: AuthDecision, now: Millis) {
        if self.conns.get(&conn).is_some_and(|c| c.is_open()) {
            self.apply_auth_decision(conn, decision, now);
        }
    }

    /// AUTH from the client: a step of enhanced authentication while
    /// connecting, or re-authentication (0x19) once connected.
    pub(super) fn handle_auth_step(&mut self, conn: ConnId, auth: Auth, now: Millis) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let connecting = matches!(c.state, ConnState::Authenticating(_));
        let expected = if connecting {
            ReasonCode::ContinueAuthentication
        } else if auth.reason == ReasonCode::ReAuthenticate {
            ReasonCode::ReAuthenticate
        } else {
            ReasonCode::ContinueAuthentication
        };
        // [MQTT-4.12.0-5]: the method must stay the one from CONNECT.
        let method_ok =
            c.auth_method.is_some() && auth.properties.authentication_method == c.auth_method;
        if auth.reason != expected || !method_ok {
            let detail = "AUTH with an unexpected reason or method";
            return self.protocol_violation(conn, ReasonCode::ProtocolError, detail, now);
        }
        let decision = {
            let client_id = match &c.state {
                ConnState::Authenticating(connect) => connect.client_id.clone(),
                _ => c
                    .session
                    .map(|k| self.session(k).client_id.to_string())
                    .unwrap_or_default(),
            };
            let request = AuthRequest {
                conn,
                client_id: &client_id,
                username: c.username.as_deref(),
                password: None,
                protocol: c.version,
                method: c.auth_method.as_deref(),
                data: auth.properties.authentication_data.as_deref(),
                reauthenticate: !connecting,
            };
            self.hooks.authenticate(&request)
        };
        self.apply_auth_decision(conn, decision, now);
    }

    /// Why an authenticated CONNECT is still refused: its will topic is not
    /// one the client may publish to ([MQTT-3.1.4-2]: authorization checks
    /// on the CONNECT; otherwise a will would bypass the publish hook). A
    /// refusal is also an `Event::Denied`.
    fn will_refusal(&mut self, conn: ConnId) -> Option<ReasonCode> {
        let refusal = self.will_check(conn);
        if refusal.is_some() {
            if let Some(ConnState::Authenticating(connect)) =
                self.conns.get(&conn).map(|c| &c.state)
            {
                let (client_id, topic) = match &connect.will {
                    Some(w) => (
                        Rc::from(connect.client_id.as_str()),
                        Rc::from(w.topic.as_str()),
                    ),
                    None => return refusal,
                };
                self.events.push_back(Event::Denied {
                    conn,
                    client_id,
                    action: "will",
                    topic,
                });
            }
        }
        refusal
    }

    /// `will_refusal`'s decision: `$SYS`, the ACL, then the hook.
    fn will_check(&mut self, conn: ConnId) -> Option<ReasonCode> {
        let c = self.conns.get(&conn)?;
        let ConnState::Authenticating(connect) = &c.state else {
            return None;
        };
        let will = connect.will.as_ref()?;
        let info = ClientInfo {
            client_id: &connect.client_id,
            username: connect.username.as_deref(),
            protocol: connect.protocol,
        };
        if will.topic == "$SYS" || will.topic.starts_with("$SYS/") {
            // The broker's own namespace: no client publishes there, by will
            // either (see `refusal` in inbound.rs).
            return Some(ReasonCode::NotAuthorized);
        }
        let acl = self.client_acl(&connect.client_id, connect.username.as_deref());
        let allowed = acl.map_or(true, |acl| acl.allows(&will.topic, super::access::WRITE))
            && self
                .hooks
                .authorize_publish(&info, &will.topic, will.qos, will.retain);
        (!allowed).then_some(ReasonCode::NotAuthorized)
    }

    /// While the host decides on a CONNECT without an Authentication Method
    /// (`AuthDecision::Pending`), the bytes that follow it wait unread: a
    /// client may send packets before CONNACK (v5 and v311 3.1.4), and they
    /// are processed only if the CONNECT is accepted [MQTT-3.1.4-6]. More
    /// than one maximum-size packet waiting closes the connection (v5 3.1.4:
    /// the server can close a connection that sends too much before
    /// authentication is complete). Returns whether input is held.
    pub(super) fn holds_input(&mut self, conn: ConnId, waiting: usize, now: Millis) -> bool {
        let Some(c) = self.conns.get(&conn) else {
            return false;
        };
        if !matches!(c.state, ConnState::Authenticating(_)) || c.auth_method.is_some() {
            return false;
        }
        if waiting > self.cfg.max_packet_size as usize {
            self.drop_connection(conn, Some(ReasonCode::QuotaExceeded), now);
        }
        true
    }

    /// Processes the input held while authentication was pending.
    fn resume_input(&mut self, conn: ConnId, now: Millis) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.rx.is_empty() || !c.is_open() {
            return;
        }
        let buf = std::mem::take(&mut c.rx);
        let used = self.process(conn, &buf, now);
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.is_open() {
                c.rx = buf[used..].to_vec();
            }
        }
    }

    /// CONNACK with an error, then close [MQTT-3.2.2-7] (3.1.1: [MQTT-3.2.2-5]).
    fn refuse(&mut self, conn: ConnId, reason: ReasonCode, now: Millis) {
        let connack = ConnAck {
            session_present: false,
            reason,
            properties: Properties::default(),
        };
        self.send(conn, Packet::ConnAck(connack));
        self.events.push_back(Event::Rejected { conn, reason });
        self.close_quietly(conn, now);
    }

    fn finish_connect(&mut self, conn: ConnId, connect: Box<Connect>, now: Millis) {
        let client_id: Rc<str> = Rc::from(connect.client_id.as_str());
        let mut existing = self.by_client_id.get(&client_id).copied();
        if let Some(old) = existing.and_then(|k| self.session(k).conn) {
            // [MQTT-3.1.4-3]: the existing connection is closed (0x8E in MQTT 5).
            self.take_over(old, now);
            // A session with expiry 0 ends with that connection (v5 3.1.4,
            // non-normative comment): look again.
            existing = self.by_client_id.get(&client_id).copied();
        }
        let username = connect.username.as_deref();
        let resumed = existing.filter(|&k| !connect.clean_start && self.may_resume(k, username));
        if let (Some(key), None) = (existing, resumed) {
            // Clean Start: the old session ends here [MQTT-3.1.2-4].
            self.end_session(key, now);
        }
        let key = match resumed {
            Some(key) => key,
            None => self.new_session(client_id.clone(), connect.protocol),
        };
        let session_present = resumed.is_some(); // [MQTT-3.2.2-2], [MQTT-3.2.2-3]
        let granted_expiry = self.attach_session(key, conn, &connect);
        let server_keep_alive = self.start_keep_alive(conn, &connect, now);
        let mut properties = Properties::default();
        if connect.protocol.is_v5() {
            properties = self.connack_properties(&connect, granted_expiry, server_keep_alive);
        }
        let connack = ConnAck {
            session_present,
            reason: ReasonCode::Success,
            properties,
        };
        let from = self.written(conn);
        self.send(conn, Packet::ConnAck(connack));
        if self.session_change_pending(&client_id) {
            // Strict: a CONNACK acknowledging a stored session this or an
            // earlier CONNECT created, changed or ended waits until storage
            // holds that (see durability.rs).
            self.gate_from(conn, from);
        }
        self.events.push_back(Event::Connected {
            conn,
            client_id,
            protocol: connect.protocol,
            session_present,
        });
        self.resume_delivery(key, now);
    }

    fn new_session(&mut self, client_id: Rc<str>, protocol: ProtocolVersion) -> SessionKey {
        let session = Session::new(client_id.clone(), protocol);
        let key = match self.free_sessions.pop() {
            Some(i) => {
                self.sessions[i as usize] = Some(session);
                SessionKey(i)
            }
            None => {
                self.sessions.push(Some(session));
                SessionKey(self.sessions.len() as u32 - 1)
            }
        };
        self.by_client_id.insert(client_id, key);
        key
    }

    /// Binds the session to the connection and records what CONNECT asked
    /// for. Returns the session expiry interval granted.
    fn attach_session(&mut self, key: SessionKey, conn: ConnId, connect: &Connect) -> u32 {
        let v5 = connect.protocol.is_v5();
        let requested = match (v5, connect.clean_start) {
            (true, _) => connect.properties.session_expiry_interval.unwrap_or(0),
            // 3.1.1: Clean Session 0 keeps the session with no expiry.
            (false, false) => u32::MAX,
            (false, true) => 0,
        };
        // A bridge's queue is the broker's own: the clients' cap is not for it.
        let granted = if conn.is_internal() {
            requested
        } else {
            requested.min(self.cfg.max_session_expiry)
        };
        let will = connect.will.as_ref().map(|w| {
            let mut properties = w.properties.clone();
            let delay = properties.will_delay_interval.take().unwrap_or(0);
            // The Message Expiry Interval stays in the properties: it counts
            // from when the will is published (v5 3.1.3.2.4), which
            // `publish_will` turns into `expires_at`.
            let message = Message {
                id: 0,
                topic: Rc::from(w.topic.as_str()),
                payload: w.payload.clone(),
                qos: w.qos,
                retain: w.retain,
                properties,
                expires_at: None,
            };
            (Rc::new(message), delay)
        });
        let username: Option<Rc<str>> = connect.username.as_deref().map(Rc::from);
        let rate = super::rate::PublishRate::new(
            self.cfg.publish_rate,
            self.cfg.publish_byte_rate,
            self.clock,
        );
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session = Some(key);
            c.username = username.clone();
            c.rate = rate.filter(|_| !conn.is_internal());
            if v5 {
                let p = &connect.properties;
                c.receive_maximum = p.receive_maximum.unwrap_or(u16::MAX);
                c.max_packet_size = p.maximum_packet_size.unwrap_or(c.max_packet_size);
                c.problem_info = p.request_problem_information.unwrap_or(true);
                // Aliases towards the client only if it allows them
                // [MQTT-3.1.2-27], up to its maximum [MQTT-3.1.2-26]; never
                // on a bridge's own connection, whose output is relayed.
                let max =
                    (p.topic_alias_maximum.unwrap_or(0)).min(self.cfg.max_outgoing_topic_aliases);
                c.out_aliases = (max > 0 && !conn.is_internal())
                    .then(|| Box::new(super::alias::OutAliases::new(max)));
            }
        }
        let durable = self.durable();
        let s = self.session_mut(key);
        let before = s.stored.then(|| session_record(s));
        s.conn = Some(conn);
        s.username = username;
        s.protocol = connect.protocol;
        s.expiry_interval = granted;
        s.disconnected_at = None;
        s.will = will;
        // A new connection before the will delay passed: no will [MQTT-3.1.3-9].
        s.pending_will = None;
        let record = s.is_persistent().then(|| session_record(s));
        let was_stored = s.stored;
        s.stored = durable && record.is_some();
        let changed = match (&before, &record) {
            (Some(before), Some(after)) if s.stored => !resumes_unchanged(before, after),
            _ => s.stored,
        };
        let client_id = s.client_id.clone();
        match record {
            Some(r) => self.store(StorageOp::PutSession(r)),
            None if was_stored => self.store(StorageOp::DeleteSession {
                client_id: client_id.clone(),
            }),
            None => {}
        }
        if changed {
            self.note_session_change(&client_id);
        }
        if self.cfg.access.acl.is_some() || self.session(key).acl.is_some() {
            self.refresh_acl(key);
        }
        granted
    }

    /// Arms keep alive at 1.5 times the interval [MQTT-3.1.2-24]. Returns the
    /// Server Keep Alive to announce, if the broker overrides the client's.
    fn start_keep_alive(&mut self, conn: ConnId, connect: &Connect, now: Millis) -> Option<u16> {
        let mut keep_alive = connect.keep_alive;
        let mut server_keep_alive = None;
        if let (Some(max), true) = (self.cfg.max_keep_alive, connect.protocol.is_v5()) {
            if keep_alive == 0 || keep_alive > max {
                keep_alive = max;
                server_keep_alive = Some(max); // [MQTT-3.2.2-21]
            }
        }
        if conn.is_internal() {
            keep_alive = 0; // nothing between the broker and itself to time out
        }
        let ms = u64::from(keep_alive) * 1500;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.keep_alive_ms = ms;
            c.last_rx = now;
        }
        if ms > 0 {
            self.arm(now + ms, Timer::KeepAlive(conn));
        }
        server_keep_alive
    }

    fn connack_properties(
        &self,
        connect: &Connect,
        granted_expiry: u32,
        server_keep_alive: Option<u16>,
    ) -> Properties {
        let requested = connect.properties.session_expiry_interval.unwrap_or(0);
        Properties {
            assigned_client_identifier: connect.properties.assigned_client_identifier.clone(),
            // [MQTT-4.12.0-5]: a successful CONNACK repeats the method;
            // [MQTT-4.12.0-6]: and has none if CONNECT had none.
            authentication_method: connect.properties.authentication_method.clone(),
            server_keep_alive,
            session_expiry_interval: (granted_expiry != requested).then_some(granted_expiry),
            receive_maximum: Some(self.cfg.receive_maximum),
            maximum_packet_size: Some(self.cfg.max_packet_size),
            topic_alias_maximum: Some(self.cfg.topic_alias_maximum),
            retain_available: (!self.cfg.retain_available).then_some(false),
            ..Properties::default()
        }
    }

    /// A packet that could not be decoded. Before CONNECT is understood the
    /// reply depends on how much of it could be read.
    pub(super) fn decode_failed(
        &mut self,
        conn: ConnId,
        bytes: &[u8],
        err: DecodeError,
        now: Millis,
    ) {
        let awaiting = self
            .conns
            .get(&conn)
            .is_some_and(|c| matches!(c.state, ConnState::AwaitingConnect));
        if !awaiting {
            let detail = err.to_string();
            return self.protocol_violation(conn, err.reason_code(), &detail, now);
        }
        let is_connect = bytes.first().is_some_and(|b| b >> 4 == 1);
        let reply_version = match err {
            // [MQTT-3.1.2-2]: CONNACK 0x01 (3.1.1) / 0x84 (5.0), then close.
            DecodeError::UnsupportedProtocolVersion(level) if level > 5 => {
                Some(ProtocolVersion::V5)
            }
            DecodeError::UnsupportedProtocolVersion(_) => Some(ProtocolVersion::V3_1_1),
            // An MQTT protocol name with a level that does not go with it
            // ("MQTT" 3, "MQIsdp" 4): the level is what is unsupported
            // (v311 [MQTT-3.1.2-2]), answered in the format of that level.
            DecodeError::InvalidProtocolName => match connect_header(bytes) {
                Some((b"MQTT" | b"MQIsdp", level)) if level >= 5 => Some(ProtocolVersion::V5),
                Some((b"MQTT" | b"MQIsdp", _)) => Some(ProtocolVersion::V3_1_1),
                // Another name: only a level 5 CONNECT is told 0x84
                // (v5 [MQTT-3.1.2-1] allows it); anything else just closes.
                Some((_, 5)) => Some(ProtocolVersion::V5),
                _ => None,
            },
            _ if is_connect && connect_level(bytes) == Some(5) => Some(ProtocolVersion::V5),
            _ => None,
        };
        match reply_version {
            Some(version) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.version = version;
                }
                self.refuse(conn, err.reason_code(), now);
            }
            None => self.drop_connection(conn, Some(err.reason_code()), now),
        }
    }

    /// Takeover: DISCONNECT 0x8E to the old connection, which then closes
    /// like any abnormal end (its will follows the usual rules).
    fn take_over(&mut self, old: ConnId, now: Millis) {
        let reason = ReasonCode::SessionTakenOver;
        if self.conns.get(&old).is_some_and(|c| c.version.is_v5()) {
            self.send(old, Packet::Disconnect(Disconnect::new(reason)));
        }
        self.connection_lost(old, Some(reason), Some("session taken over".into()), now);
    }
}

/// The protocol level of a CONNECT whose header is readable, for choosing
/// the CONNACK format when the rest of it is malformed.
fn connect_level(bytes: &[u8]) -> Option<u8> {
    connect_header(bytes).map(|(_, level)| level)
}

/// The protocol name and level of a CONNECT whose header is readable.
fn connect_header(bytes: &[u8]) -> Option<(&[u8], u8)> {
    if bytes.first()? >> 4 != 1 {
        return None;
    }
    let (_, varint_len) = crate::codec::wire::parse_varint(bytes.get(1..)?).ok()??;
    let start = 1 + varint_len;
    let name_len = u16::from_be_bytes([*bytes.get(start)?, *bytes.get(start + 1)?]) as usize;
    let name = bytes.get(start + 2..start + 2 + name_len)?;
    Some((name, *bytes.get(start + 2 + name_len)?))
}

/// Whether a CONNECT resuming a stored session (record `before`) leaves
/// nothing its CONNACK confirms at the mercy of a crash, so that the CONNACK
/// need not wait for the rewritten record (`after`) to be persisted. Only
/// for a session that never expires, with no will before or after, on the
/// same protocol level: losing the rewrite then restores the same session
/// the rewrite would (disconnected, no will; `disconnected_at` counts for
/// nothing without an expiry). With an expiry, a lost rewrite would restore
/// the previous `disconnected_at` and end the session early; with a will, a
/// pending one would fire or a new one be missing.
fn resumes_unchanged(before: &SessionRecord, after: &SessionRecord) -> bool {
    let quiet = |r: &SessionRecord| {
        r.expiry_interval == u32::MAX && r.will.is_none() && r.pending_will.is_none()
    };
    quiet(before)
        && quiet(after)
        && before.protocol == after.protocol
        && before.username == after.username
}

pub(super) fn session_record(s: &Session) -> SessionRecord {
    SessionRecord {
        client_id: s.client_id.clone(),
        protocol: s.protocol as u8,
        expiry_interval: s.expiry_interval,
        disconnected_at: s.disconnected_at,
        pending_will: s
            .pending_will
            .as_ref()
            .map(|(message, delay, _)| WillRecord {
                message: message.clone(),
                delay: *delay,
            }),
        will: s.will.as_ref().map(|(message, delay)| WillRecord {
            message: message.clone(),
            delay: *delay,
        }),
        username: s.username.clone(),
    }
}
