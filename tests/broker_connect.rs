//! CONNECT, sessions, authentication, authorization, keep alive, takeover
//! and connection limits, driven through the deterministic simulator.
//!
//! Every test names the normative statement it checks. Numbers are those of
//! the OASIS standards: "v5" means MQTT 5.0 (2019), "v311" MQTT 3.1.1 (2014);
//! where the two number a rule differently both are given.

mod sim;
use sim::*;

use bytes::Bytes;
use std::cell::RefCell;
use std::rc::Rc;
use tabmq::broker::{AuthDecision, AuthRequest, ClientInfo, Config, Event, Hooks};
use tabmq::codec::{
    Auth, ConnAck, Connect, Disconnect, Packet, Properties, ProtocolVersion, PubResponse,
};

const V31: ProtocolVersion = ProtocolVersion::V3_1;

fn cfg() -> Config {
    Config {
        sys_interval_secs: 0,
        ..Config::default()
    }
}

fn sim() -> Sim {
    Sim::new(cfg())
}

fn connack(p: Option<Packet>) -> ConnAck {
    match p {
        Some(Packet::ConnAck(a)) => a,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

fn v5_connect(id: &str, clean: bool, expiry: Option<u32>) -> Connect {
    let mut c = connect_packet(id, V5, clean);
    c.properties.session_expiry_interval = expiry;
    c
}

fn with_keep_alive(mut c: Connect, secs: u16) -> Connect {
    c.keep_alive = secs;
    c
}

/// A CONNECT written byte by byte: any protocol name and level.
fn raw_connect(name: &str, level: u8, client_id: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(name.len() as u16).to_be_bytes());
    body.extend_from_slice(name.as_bytes());
    body.push(level);
    body.push(0x02); // Clean Start / Clean Session
    body.extend_from_slice(&0u16.to_be_bytes()); // keep alive
    if level == 5 {
        body.push(0); // no properties
    }
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    assert!(body.len() < 128);
    let mut out = vec![0x10, body.len() as u8];
    out.extend_from_slice(&body);
    out
}

/// Opens a connection whose replies are decoded as `version`.
fn open_as(s: &mut Sim, version: ProtocolVersion) -> tabmq::broker::ConnId {
    let c = s.open();
    s.clients.get_mut(&c).unwrap().version = Some(version);
    c
}

fn disconnect_with(reason: ReasonCode, expiry: Option<u32>) -> Packet {
    let mut d = Disconnect::new(reason);
    d.properties.session_expiry_interval = expiry;
    Packet::Disconnect(d)
}

fn auth_packet(reason: ReasonCode, method: &str, data: &[u8]) -> Packet {
    Packet::Auth(Auth {
        reason,
        properties: Properties {
            authentication_method: Some(method.into()),
            authentication_data: Some(Bytes::copy_from_slice(data)),
            ..Properties::default()
        },
    })
}

/// What the host decided, scripted per test; every call is logged.
type AuthFn = Box<dyn FnMut(&AuthRequest) -> AuthDecision>;

#[derive(Default, Clone)]
struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    fn push(&self, s: String) {
        self.0.borrow_mut().push(s);
    }
    fn entries(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

struct TestHooks {
    auth: Option<AuthFn>,
    deny_publish: Vec<&'static str>,
    deny_subscribe: Vec<&'static str>,
    log: Log,
}

impl TestHooks {
    fn auth(f: impl FnMut(&AuthRequest) -> AuthDecision + 'static) -> TestHooks {
        TestHooks {
            auth: Some(Box::new(f)),
            deny_publish: Vec::new(),
            deny_subscribe: Vec::new(),
            log: Log::default(),
        }
    }

    fn acl(deny_publish: Vec<&'static str>, deny_subscribe: Vec<&'static str>) -> TestHooks {
        TestHooks {
            auth: None,
            deny_publish,
            deny_subscribe,
            log: Log::default(),
        }
    }
}

impl Hooks for TestHooks {
    fn authenticate(&mut self, r: &AuthRequest) -> AuthDecision {
        let data = r.data.map(|d| String::from_utf8_lossy(d).into_owned());
        self.log.push(format!(
            "auth id={} user={:?} method={:?} data={:?} reauth={}",
            r.client_id, r.username, r.method, data, r.reauthenticate
        ));
        match &mut self.auth {
            Some(f) => f(r),
            None => match r.method {
                Some(_) => AuthDecision::Reject(ReasonCode::BadAuthenticationMethod),
                None => AuthDecision::Accept,
            },
        }
    }

    fn authorize_publish(&mut self, c: &ClientInfo, topic: &str, _: QoS, _: bool) -> bool {
        self.log.push(format!("pub {} {topic}", c.client_id));
        !self.deny_publish.contains(&topic)
    }

    fn authorize_subscribe(&mut self, c: &ClientInfo, filter: &str, _: QoS) -> bool {
        self.log.push(format!("sub {} {filter}", c.client_id));
        !self.deny_subscribe.contains(&filter)
    }
}

/// Subscribes `id` (a fresh clean connection) to `filter` at QoS 1.
fn subscriber(
    s: &mut Sim,
    id: &str,
    version: ProtocolVersion,
    filter: &str,
) -> tabmq::broker::ConnId {
    let c = s.connect(id, version, true);
    s.subscribe(c, filter, QoS::AtLeastOnce);
    c
}

// ---------------------------------------------------------------------------
// Protocol version negotiation
// ---------------------------------------------------------------------------

/// MQTT 3.1 ("MQIsdp", level 3) is accepted and answered in the 3.x format.
#[test]
fn v31_mqisdp_level_3_accepted() {
    let mut s = sim();
    let (c, ack) = s.connect_with(connect_packet("old-client", V31, true));
    assert_eq!(connack(Some(ack)).reason, ReasonCode::Success);
    assert_eq!(s.clients[&c].raw, [0x20, 0x02, 0x00, 0x00]);
    assert!(!s.is_closed(c));
}

/// v311 [MQTT-3.2.2-1..3]: CONNACK for level 4 is two bytes, return code 0.
#[test]
fn v311_level_4_accepted() {
    let mut s = sim();
    let (c, ack) = s.connect_with(connect_packet("c311", V311, true));
    assert_eq!(connack(Some(ack)).reason, ReasonCode::Success);
    assert_eq!(s.clients[&c].raw, [0x20, 0x02, 0x00, 0x00]);
    assert!(!s.is_closed(c));
}

/// v5 [MQTT-3.1.4-5]: level 5 is accepted with CONNACK 0x00 and properties.
#[test]
fn v5_level_5_accepted() {
    let mut s = sim();
    let (c, ack) = s.connect_with(connect_packet("c5", V5, true));
    let ack = connack(Some(ack));
    assert_eq!(ack.reason, ReasonCode::Success);
    assert!(!ack.session_present);
    assert_eq!(ack.properties.receive_maximum, Some(cfg().receive_maximum));
    assert_eq!(
        ack.properties.maximum_packet_size,
        Some(cfg().max_packet_size)
    );
    assert_eq!(ack.properties.assigned_client_identifier, None);
    assert!(!s.is_closed(c));
}

/// v311 [MQTT-3.1.2-2]: an unsupported level below 5 gets the 3.1.1 return
/// code 0x01 (unacceptable protocol version), then the connection closes.
#[test]
fn v311_unsupported_level_2_gets_return_code_1_and_closes() {
    let mut s = sim();
    let c = open_as(&mut s, V311);
    s.send_raw(c, &raw_connect("MQTT", 2, "x"));
    assert_eq!(s.clients[&c].raw, [0x20, 0x02, 0x00, 0x01]);
    assert!(s.is_closed(c));
}

/// v5 [MQTT-3.1.2-2]: a level above 5 gets a v5 CONNACK 0x84 (Unsupported
/// Protocol Version), then the connection closes.
#[test]
fn v5_unsupported_level_6_gets_connack_0x84_and_closes() {
    let mut s = sim();
    let c = open_as(&mut s, V5);
    s.send_raw(c, &raw_connect("MQTT", 6, "x"));
    assert_eq!(s.clients[&c].raw, [0x20, 0x03, 0x00, 0x84, 0x00]);
    assert!(s.is_closed(c));
}

/// v5 [MQTT-3.1.2-1], v311 [MQTT-3.1.2-1]: a wrong protocol name (or a name
/// that does not go with its level) closes the connection; nothing is
/// accepted.
#[test]
fn wrong_protocol_name_closes() {
    for (name, level) in [("MQTX", 4), ("MQTX", 3), ("mqtt", 5), ("", 4)] {
        let mut s = sim();
        let version = if level == 5 { V5 } else { V311 };
        let c = open_as(&mut s, version);
        s.send_raw(c, &raw_connect(name, level, "x"));
        assert!(s.is_closed(c), "{name} level {level} must close");
        for p in s.recv_all(c) {
            match p {
                Packet::ConnAck(a) => assert!(a.reason.is_error(), "{name}: {a:?}"),
                other => panic!("{name}: unexpected {other:?}"),
            }
        }
        assert_eq!(s.broker.stats(s.now).connections, 0);
    }
}

/// v311 [MQTT-3.1.2-2]: an MQTT protocol name with a level that does not go
/// with it ("MQTT" level 3, "MQIsdp" level 4) is an unsupported level:
/// return code 0x01, then close.
#[test]
fn v311_known_name_with_wrong_level_gets_return_code_1() {
    for (name, level) in [("MQTT", 3), ("MQIsdp", 4)] {
        let mut s = sim();
        let c = open_as(&mut s, V311);
        s.send_raw(c, &raw_connect(name, level, "x"));
        assert_eq!(
            s.clients[&c].raw,
            [0x20, 0x02, 0x00, 0x01],
            "{name} {level}"
        );
        assert!(s.is_closed(c));
    }
}

// ---------------------------------------------------------------------------
// Client identifiers
// ---------------------------------------------------------------------------

/// v5 [MQTT-3.1.3-6], [MQTT-3.1.3-7], [MQTT-3.2.2-16]: an empty client id is
/// given a unique Assigned Client Identifier, returned in CONNACK.
#[test]
fn v5_empty_client_id_gets_assigned_client_identifier() {
    let mut s = sim();
    let (a, ack_a) = s.connect_with(connect_packet("", V5, true));
    let (b, ack_b) = s.connect_with(v5_connect("", false, Some(60)));
    let (ack_a, ack_b) = (connack(Some(ack_a)), connack(Some(ack_b)));
    assert_eq!(ack_a.reason, ReasonCode::Success);
    assert_eq!(ack_b.reason, ReasonCode::Success);
    let id_a = ack_a
        .properties
        .assigned_client_identifier
        .expect("assigned id");
    let id_b = ack_b
        .properties
        .assigned_client_identifier
        .expect("assigned id");
    assert!(!id_a.is_empty());
    assert_ne!(id_a, id_b, "assigned identifiers must be unique");
    let ids: Vec<String> = s.broker.client_ids().map(String::from).collect();
    assert!(ids.contains(&id_a) && ids.contains(&id_b));
    assert!(!s.is_closed(a) && !s.is_closed(b));
}

/// v311 [MQTT-3.1.3-6], [MQTT-3.1.3-7]: an empty client id with Clean
/// Session 1 is accepted (the server assigns one internally).
#[test]
fn v311_empty_client_id_with_clean_session_accepted() {
    let mut s = sim();
    let (c, ack) = s.connect_with(connect_packet("", V311, true));
    assert_eq!(connack(Some(ack)).reason, ReasonCode::Success);
    assert_eq!(s.clients[&c].raw, [0x20, 0x02, 0x00, 0x00]);
    assert_eq!(s.broker.client_ids().count(), 1);
    // The connection works.
    s.send(c, Packet::PingReq);
    assert_eq!(s.recv(c), Some(Packet::PingResp));
}

/// v311 [MQTT-3.1.3-8]: an empty client id with Clean Session 0 is refused
/// with return code 0x02 (identifier rejected) and the connection closed.
#[test]
fn v311_empty_client_id_without_clean_session_refused_0x02() {
    let mut s = sim();
    let (c, _) = s.connect_with(connect_packet("", V311, false));
    assert_eq!(s.clients[&c].raw, [0x20, 0x02, 0x00, 0x02]);
    assert!(s.is_closed(c));
    assert_eq!(s.broker.client_ids().count(), 0);
}

/// MQTT 3.1 (section 3.1, Client Identifier): 1 to 23 characters; a longer
/// one is refused with return code 0x02.
#[test]
fn v31_client_id_over_23_chars_refused() {
    let mut s = sim();
    let ok = "a".repeat(23);
    let (c, ack) = s.connect_with(connect_packet(&ok, V31, true));
    assert_eq!(connack(Some(ack)).reason, ReasonCode::Success);
    assert!(!s.is_closed(c));

    let long = "b".repeat(24);
    let (c, _) = s.connect_with(connect_packet(&long, V31, true));
    assert_eq!(s.clients[&c].raw, [0x20, 0x02, 0x00, 0x02]);
    assert!(s.is_closed(c));

    // 3.1.1 allows longer identifiers (a Server MAY allow more than 23).
    let (c, ack) = s.connect_with(connect_packet(&long, V311, true));
    assert_eq!(connack(Some(ack)).reason, ReasonCode::Success);
    assert!(!s.is_closed(c));
}

// ---------------------------------------------------------------------------
// CONNECT first, CONNECT once
// ---------------------------------------------------------------------------

/// [MQTT-3.1.0-1] (both versions): a first packet other than CONNECT closes
/// the connection without any reply.
#[test]
fn first_packet_not_connect_closes_without_reply() {
    let firsts = [
        Packet::PingReq,
        Packet::Publish(publish("a/b", b"x", QoS::AtMostOnce, false, 0)),
        Packet::Disconnect(Disconnect::new(ReasonCode::Success)),
        auth_packet(ReasonCode::ReAuthenticate, "M", b""),
    ];
    for first in firsts {
        let mut s = sim();
        let c = open_as(&mut s, V5);
        s.send(c, first.clone());
        assert!(s.is_closed(c), "{first:?} first must close");
        assert!(s.clients[&c].raw.is_empty(), "{first:?}: no reply expected");
    }
    // And for a 3.1.1 encoding.
    let mut s = sim();
    let c = open_as(&mut s, V311);
    s.send(c, Packet::PingReq);
    assert!(s.is_closed(c));
    assert!(s.clients[&c].raw.is_empty());
}

/// v5 [MQTT-3.1.0-2]: a second CONNECT is a Protocol Error: DISCONNECT 0x82
/// and close.
#[test]
fn v5_second_connect_gets_disconnect_0x82() {
    let mut s = sim();
    let c = s.connect("twice", V5, true);
    s.send(
        c,
        Packet::Connect(Box::new(connect_packet("twice", V5, true))),
    );
    assert_eq!(
        s.recv_all(c),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::ProtocolError
        ))]
    );
    assert!(s.is_closed(c));
}

/// v311 [MQTT-3.1.0-2]: a second CONNECT is a protocol violation: the
/// connection is closed (3.1.1 has no DISCONNECT from the server).
#[test]
fn v311_second_connect_closes() {
    let mut s = sim();
    let c = s.connect("twice", V311, true);
    s.send(
        c,
        Packet::Connect(Box::new(connect_packet("twice", V311, true))),
    );
    assert!(s.recv_all(c).is_empty());
    assert!(s.is_closed(c));
}

// ---------------------------------------------------------------------------
// Session present, Clean Session / Clean Start, session expiry
// ---------------------------------------------------------------------------

/// v311 [MQTT-3.1.2-4], [MQTT-3.2.2-2]: Clean Session 0 resumes the stored
/// session (subscriptions and queued QoS 1 messages) with Session Present 1.
#[test]
fn v311_clean_session_0_keeps_session_with_session_present() {
    let mut s = sim();
    let c = s.connect("keep", V311, false);
    s.subscribe(c, "t/#", QoS::AtLeastOnce);
    s.drop_conn(c);
    let p = s.connect("pub", V311, true);
    s.publish(p, "t/1", b"while away", QoS::AtLeastOnce, false, 1);
    let (c, ack) = s.connect_with(connect_packet("keep", V311, false));
    assert!(connack(Some(ack)).session_present);
    assert_eq!(s.clients[&c].raw[..4], [0x20, 0x02, 0x01, 0x00]);
    let got = s.publishes(c);
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].payload[..], b"while away");
}

/// v311 [MQTT-3.1.2-6], [MQTT-3.2.2-1]: Clean Session 1 discards the stored
/// session and answers Session Present 0.
#[test]
fn v311_clean_session_1_discards_session() {
    let mut s = sim();
    let c = s.connect("fresh", V311, false);
    s.subscribe(c, "t/#", QoS::AtLeastOnce);
    s.drop_conn(c);
    let (c, ack) = s.connect_with(connect_packet("fresh", V311, true));
    assert!(!connack(Some(ack)).session_present);
    let p = s.connect("pub", V311, true);
    s.publish(p, "t/1", b"x", QoS::AtLeastOnce, false, 1);
    assert!(
        s.publishes(c).is_empty(),
        "the old subscription must be gone"
    );
}

/// v311 [MQTT-3.1.2-6]: a Clean Session 1 session lasts as long as its
/// connection; reconnecting with Clean Session 0 finds nothing.
#[test]
fn v311_clean_session_1_session_ends_with_connection() {
    let mut s = sim();
    let c = s.connect("brief", V311, true);
    s.subscribe(c, "t/#", QoS::AtLeastOnce);
    s.send(c, Packet::Disconnect(Disconnect::new(ReasonCode::Success)));
    assert!(s.is_closed(c));
    assert_eq!(s.broker.client_ids().count(), 0);
    let (_, ack) = s.connect_with(connect_packet("brief", V311, false));
    assert!(!connack(Some(ack)).session_present);
}

/// v5 [MQTT-3.1.2-5], [MQTT-3.2.2-3]: Clean Start 0 with a stored session
/// (Session Expiry Interval > 0) resumes it with Session Present 1.
#[test]
fn v5_clean_start_0_resumes_session_with_expiry() {
    let mut s = sim();
    let c = s.connect_with(v5_connect("resume", false, Some(300))).0;
    s.subscribe(c, "t/#", QoS::AtLeastOnce);
    s.send(c, disconnect_with(ReasonCode::Success, None));
    let p = s.connect("pub", V5, true);
    s.publish(p, "t/1", b"queued", QoS::AtLeastOnce, false, 1);
    let (c, ack) = s.connect_with(v5_connect("resume", false, Some(300)));
    let ack = connack(Some(ack));
    assert_eq!(ack.reason, ReasonCode::Success);
    assert!(ack.session_present);
    let got = s.publishes(c);
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].payload[..], b"queued");
}

/// v5 [MQTT-3.1.2-6]: Clean Start 0 and no stored session: a new session,
/// Session Present 0.
#[test]
fn v5_clean_start_0_without_session_creates_one() {
    let mut s = sim();
    let (_, ack) = s.connect_with(v5_connect("nobody", false, Some(300)));
    let ack = connack(Some(ack));
    assert_eq!(ack.reason, ReasonCode::Success);
    assert!(!ack.session_present);
    assert_eq!(s.broker.client_ids().collect::<Vec<_>>(), ["nobody"]);
}

/// v5 [MQTT-3.1.2-4], [MQTT-3.2.2-2]: Clean Start 1 discards the stored
/// session; Session Present 0.
#[test]
fn v5_clean_start_1_discards_existing_session() {
    let mut s = sim();
    let c = s.connect_with(v5_connect("cs", false, Some(300))).0;
    s.subscribe(c, "t/#", QoS::AtLeastOnce);
    s.drop_conn(c);
    let (c, ack) = s.connect_with(v5_connect("cs", true, Some(300)));
    assert!(!connack(Some(ack)).session_present);
    let p = s.connect("pub", V5, true);
    s.publish(p, "t/1", b"x", QoS::AtLeastOnce, false, 1);
    assert!(
        s.publishes(c).is_empty(),
        "the old subscription must be gone"
    );
}

/// v5 3.1.2.11.2: an absent (or 0) Session Expiry Interval ends the session
/// when the connection closes, whatever Clean Start was.
#[test]
fn v5_session_expiry_absent_ends_session_at_close() {
    let mut s = sim();
    let c = s.connect("short", V5, false);
    s.subscribe(c, "t/#", QoS::AtLeastOnce);
    s.drop_conn(c);
    assert_eq!(s.broker.client_ids().count(), 0);
    let (_, ack) = s.connect_with(connect_packet("short", V5, false));
    assert!(!connack(Some(ack)).session_present);
}

/// v5 [MQTT-3.1.2-23], [MQTT-4.1.0-2 region] (spec 4.1): the session is kept
/// until the Session Expiry Interval has passed since the close, and is
/// gone after it.
#[test]
fn v5_session_expires_after_interval_and_is_kept_before() {
    let mut s = sim();
    let c = s.connect_with(v5_connect("exp", false, Some(10))).0;
    s.subscribe(c, "t/#", QoS::AtLeastOnce);
    s.drop_conn(c);
    s.advance(9_999);
    assert_eq!(s.broker.client_ids().collect::<Vec<_>>(), ["exp"]);
    let (c, ack) = s.connect_with(v5_connect("exp", false, Some(10)));
    assert!(
        connack(Some(ack)).session_present,
        "kept before the interval"
    );
    // The clock restarts at this close.
    s.drop_conn(c);
    s.advance(9_000);
    assert_eq!(s.broker.client_ids().count(), 1);
    s.advance(1_000);
    assert_eq!(s.broker.client_ids().count(), 0, "gone after the interval");
    let (_, ack) = s.connect_with(v5_connect("exp", false, Some(10)));
    assert!(!connack(Some(ack)).session_present);
}

/// v5 3.1.2.11.2: 0xFFFFFFFF means the session does not expire.
#[test]
fn v5_session_expiry_max_never_expires() {
    let mut s = sim();
    let c = s
        .connect_with(v5_connect("forever", false, Some(u32::MAX)))
        .0;
    s.drop_conn(c);
    s.advance(400 * 24 * 3600 * 1000);
    let (_, ack) = s.connect_with(v5_connect("forever", false, Some(u32::MAX)));
    assert!(connack(Some(ack)).session_present);
}

/// v5 3.2.2.3.2: a Session Expiry Interval above the server's maximum is
/// lowered, and the value used is returned in CONNACK.
#[test]
fn v5_session_expiry_capped_and_reported_in_connack() {
    let mut s = Sim::new(Config {
        max_session_expiry: 60,
        ..cfg()
    });
    let (c, ack) = s.connect_with(v5_connect("cap", false, Some(3600)));
    assert_eq!(
        connack(Some(ack)).properties.session_expiry_interval,
        Some(60)
    );
    s.drop_conn(c);
    s.advance(60_000);
    assert_eq!(s.broker.client_ids().count(), 0);
    // Within the maximum nothing is said.
    let (_, ack) = s.connect_with(v5_connect("ok", false, Some(30)));
    assert_eq!(connack(Some(ack)).properties.session_expiry_interval, None);
}

/// v5 3.14.2.2.2: the Session Expiry Interval in DISCONNECT replaces the one
/// from CONNECT: set to 0 the session ends at once.
#[test]
fn v5_disconnect_expiry_0_ends_session() {
    let mut s = sim();
    let c = s.connect_with(v5_connect("bye", false, Some(300))).0;
    s.subscribe(c, "t/#", QoS::AtLeastOnce);
    s.send(c, disconnect_with(ReasonCode::Success, Some(0)));
    assert!(s.is_closed(c));
    assert_eq!(s.broker.client_ids().count(), 0);
    let (_, ack) = s.connect_with(v5_connect("bye", false, Some(300)));
    assert!(!connack(Some(ack)).session_present);
}

/// v5 3.14.2.2.2: a longer Session Expiry Interval in DISCONNECT keeps the
/// session for that long.
#[test]
fn v5_disconnect_expiry_extends_session() {
    let mut s = sim();
    let c = s.connect_with(v5_connect("later", false, Some(10))).0;
    s.send(c, disconnect_with(ReasonCode::Success, Some(1000)));
    s.advance(999_000);
    assert_eq!(s.broker.client_ids().count(), 1);
    s.advance(1_000);
    assert_eq!(s.broker.client_ids().count(), 0);
}

/// v5 3.14.2.2.2 (the brief's [MQTT-3.14.2-2]): a non-zero Session Expiry
/// Interval in DISCONNECT after 0 in CONNECT is a Protocol Error: DISCONNECT
/// 0x82, close, and the session is not kept.
#[test]
fn v5_disconnect_setting_expiry_after_zero_is_protocol_error() {
    let mut s = sim();
    let c = s.connect_with(v5_connect("zero", false, None)).0;
    s.send(c, disconnect_with(ReasonCode::Success, Some(600)));
    assert_eq!(
        s.recv_all(c),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::ProtocolError
        ))]
    );
    assert!(s.is_closed(c));
    assert_eq!(s.broker.client_ids().count(), 0);
}

// ---------------------------------------------------------------------------
// Takeover
// ---------------------------------------------------------------------------

/// v5 [MQTT-3.1.4-3]: a CONNECT with the client id of a connected client
/// sends DISCONNECT 0x8E (Session taken over) to the existing connection and
/// closes it; the new connection gets the session.
#[test]
fn v5_takeover_disconnects_old_with_0x8e_and_new_gets_session() {
    let mut s = sim();
    let old = s.connect_with(v5_connect("dup", false, Some(300))).0;
    s.subscribe(old, "t/#", QoS::AtLeastOnce);
    let (new, ack) = s.connect_with(v5_connect("dup", false, Some(300)));
    let ack = connack(Some(ack));
    assert_eq!(ack.reason, ReasonCode::Success);
    assert!(ack.session_present);
    assert_eq!(
        s.recv_all(old),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::SessionTakenOver
        ))]
    );
    assert!(s.is_closed(old));
    assert!(!s.is_closed(new));
    let p = s.connect("pub", V5, true);
    s.publish(p, "t/x", b"to new", QoS::AtLeastOnce, false, 1);
    assert_eq!(
        s.publishes(new).len(),
        1,
        "the subscription moved to the new connection"
    );
    assert!(s.events.iter().any(|e| matches!(
        e,
        Event::Disconnected { conn, reason: Some(ReasonCode::SessionTakenOver), .. } if *conn == old
    )));
}

/// v311 [MQTT-3.1.4-2]: the server disconnects the existing client with the
/// same client id (no DISCONNECT packet exists in 3.1.1 for that).
#[test]
fn v311_takeover_closes_old_connection() {
    let mut s = sim();
    let old = s.connect("dup", V311, false);
    s.subscribe(old, "t/#", QoS::AtLeastOnce);
    let (new, ack) = s.connect_with(connect_packet("dup", V311, false));
    assert!(connack(Some(ack)).session_present);
    assert!(s.recv_all(old).is_empty());
    assert!(s.is_closed(old));
    assert!(!s.is_closed(new));
    let p = s.connect("pub", V311, true);
    s.publish(p, "t/x", b"to new", QoS::AtLeastOnce, false, 1);
    assert_eq!(s.publishes(new).len(), 1);
}

/// v5 [MQTT-3.1.4-3] with [MQTT-3.1.2-4]: takeover with Clean Start 1
/// discards the old session.
#[test]
fn v5_takeover_with_clean_start_discards_old_session() {
    let mut s = sim();
    let old = s.connect_with(v5_connect("dup", false, Some(300))).0;
    s.subscribe(old, "t/#", QoS::AtLeastOnce);
    let (new, ack) = s.connect_with(v5_connect("dup", true, Some(300)));
    assert!(!connack(Some(ack)).session_present);
    assert!(s.is_closed(old));
    let p = s.connect("pub", V5, true);
    s.publish(p, "t/x", b"x", QoS::AtLeastOnce, false, 1);
    assert!(s.publishes(new).is_empty());
}

/// v5 [MQTT-3.1.4-3], 3.1.2.11.2: taking over a connection whose session
/// has expiry 0 ends that session (it ends with its connection); a Clean
/// Start 0 CONNECT then gets a new session with Session Present 0.
#[test]
fn v5_takeover_of_expiry_0_session_with_clean_start_0() {
    let mut s = sim();
    let old = s.connect("dup", V5, true);
    s.subscribe(old, "t/#", QoS::AtLeastOnce);
    let (new, ack) = s.connect_with(v5_connect("dup", false, Some(300)));
    let ack = connack(Some(ack));
    assert_eq!(ack.reason, ReasonCode::Success);
    assert!(!ack.session_present);
    assert!(s.is_closed(old));
    assert!(!s.is_closed(new));
    assert_eq!(s.broker.client_ids().collect::<Vec<_>>(), ["dup"]);
    let p = s.connect("pub", V5, true);
    s.publish(p, "t/x", b"x", QoS::AtLeastOnce, false, 1);
    assert!(s.publishes(new).is_empty());
    s.drop_conn(new);
    let (_, ack) = s.connect_with(v5_connect("dup", false, Some(300)));
    assert!(
        connack(Some(ack)).session_present,
        "the new session is stored"
    );
}

/// v311 [MQTT-3.1.4-2], [MQTT-3.1.2-6]: the same for 3.1.1: the old
/// connection had Clean Session 1, the new one Clean Session 0.
#[test]
fn v311_takeover_of_clean_session_with_clean_session_0() {
    let mut s = sim();
    let old = s.connect("dup", V311, true);
    let (new, ack) = s.connect_with(connect_packet("dup", V311, false));
    assert_eq!(s.clients[&new].raw, [0x20, 0x02, 0x00, 0x00]);
    assert_eq!(connack(Some(ack)).reason, ReasonCode::Success);
    assert!(s.is_closed(old));
    s.send(new, Packet::PingReq);
    assert_eq!(s.recv(new), Some(Packet::PingResp));
}

// ---------------------------------------------------------------------------
// Keep alive and connect timeout
// ---------------------------------------------------------------------------

/// v5 [MQTT-3.1.2-22] (v311 [MQTT-3.1.2-24]): nothing received for 1.5 times
/// the Keep Alive closes the connection; v5 says DISCONNECT 0x8D first.
#[test]
fn v5_keep_alive_enforced_at_one_and_a_half_times() {
    let mut s = sim();
    let (c, _) = s.connect_with(with_keep_alive(connect_packet("ka", V5, true), 10));
    s.advance(14_999);
    assert!(!s.is_closed(c));
    s.advance(1);
    assert_eq!(
        s.recv_all(c),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::KeepAliveTimeout
        ))]
    );
    assert!(s.is_closed(c));
}

/// v311 [MQTT-3.1.2-24]: the same in 3.1.1, closed without a packet.
#[test]
fn v311_keep_alive_enforced_at_one_and_a_half_times() {
    let mut s = sim();
    let (c, _) = s.connect_with(with_keep_alive(connect_packet("ka", V311, true), 4));
    s.advance(5_999);
    assert!(!s.is_closed(c));
    s.advance(1);
    assert!(s.recv_all(c).is_empty());
    assert!(s.is_closed(c));
}

/// [MQTT-3.12.4-1], v5 [MQTT-3.1.2-22] / v311 [MQTT-3.1.2-24]: a PINGREQ in
/// time gets a PINGRESP and keeps the connection alive; the 1.5x window
/// counts from the last packet.
#[test]
fn pingreq_in_time_keeps_connection_alive() {
    for version in [V5, V311] {
        let mut s = sim();
        let (c, _) = s.connect_with(with_keep_alive(connect_packet("ping", version, true), 10));
        for _ in 0..5 {
            s.advance(14_000);
            s.send(c, Packet::PingReq);
            assert_eq!(s.recv_all(c), vec![Packet::PingResp], "{version:?}");
        }
        assert!(!s.is_closed(c));
        s.advance(14_999);
        assert!(!s.is_closed(c), "{version:?}");
        s.advance(1);
        assert!(s.is_closed(c), "{version:?}");
    }
}

/// Any packet counts as activity, not only PINGREQ (3.1.2.10: "an MQTT
/// Control Packet").
#[test]
fn any_packet_resets_keep_alive() {
    let mut s = sim();
    let (c, _) = s.connect_with(with_keep_alive(connect_packet("act", V5, true), 10));
    s.advance(14_000);
    s.publish(c, "a/b", b"x", QoS::AtMostOnce, false, 0);
    s.advance(14_000);
    assert!(!s.is_closed(c));
}

/// 3.1.2.10 (both versions): Keep Alive 0 turns the mechanism off.
#[test]
fn keep_alive_zero_means_no_timeout() {
    for version in [V5, V311] {
        let mut s = sim();
        let c = s.connect("idle", version, true);
        s.advance(7 * 24 * 3600 * 1000);
        assert!(!s.is_closed(c), "{version:?}");
        s.send(c, Packet::PingReq);
        assert_eq!(s.recv(c), Some(Packet::PingResp));
    }
}

/// v5 [MQTT-3.2.2-21], [MQTT-3.1.2-21]: with a server maximum, a longer (or
/// zero) Keep Alive is replaced by Server Keep Alive in CONNACK, and that
/// value is the one enforced.
#[test]
fn v5_server_keep_alive_overrides_client_value() {
    let config = Config {
        max_keep_alive: Some(30),
        ..cfg()
    };
    let mut s = Sim::new(config.clone());
    let (c, ack) = s.connect_with(with_keep_alive(connect_packet("long", V5, true), 600));
    assert_eq!(connack(Some(ack)).properties.server_keep_alive, Some(30));
    s.advance(44_999);
    assert!(!s.is_closed(c));
    s.advance(1);
    assert!(s.is_closed(c));

    let mut s = Sim::new(config.clone());
    let (c, ack) = s.connect_with(connect_packet("zero", V5, true));
    assert_eq!(connack(Some(ack)).properties.server_keep_alive, Some(30));
    s.advance(45_000);
    assert!(s.is_closed(c));

    // Within the maximum the client's value stands and nothing is said
    // [MQTT-3.2.2-22].
    let mut s = Sim::new(config);
    let (c, ack) = s.connect_with(with_keep_alive(connect_packet("short", V5, true), 20));
    assert_eq!(connack(Some(ack)).properties.server_keep_alive, None);
    s.advance(29_999);
    assert!(!s.is_closed(c));
    s.advance(1);
    assert!(s.is_closed(c));
}

/// v5 3.1.4 (step 1): a connection that sends no CONNECT within the connect
/// timeout is closed, without a reply.
#[test]
fn connect_timeout_closes_silent_connection() {
    let mut s = Sim::new(Config {
        connect_timeout_ms: 5_000,
        ..cfg()
    });
    let silent = s.open();
    let partial = s.open();
    s.send_raw(partial, &[0x10]); // the start of a CONNECT, never finished
    let fine = s.connect("fine", V5, true);
    s.advance(4_999);
    assert!(!s.is_closed(silent) && !s.is_closed(partial));
    s.advance(1);
    assert!(s.is_closed(silent) && s.is_closed(partial));
    assert!(s.clients[&silent].raw.is_empty());
    assert!(s.clients[&partial].raw.is_empty());
    assert!(!s.is_closed(fine), "a connected client is not affected");
}

// ---------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------

fn password_hooks() -> TestHooks {
    TestHooks::auth(|r| match (r.username, r.password) {
        (Some("alice"), Some(b"secret")) => AuthDecision::Accept,
        (Some("mallory"), _) => AuthDecision::Reject(ReasonCode::NotAuthorized),
        _ => AuthDecision::Reject(ReasonCode::BadUserNameOrPassword),
    })
}

fn with_credentials(mut c: Connect, user: &str, password: &[u8]) -> Connect {
    c.username = Some(user.into());
    c.password = Some(Bytes::copy_from_slice(password));
    c
}

/// v5 [MQTT-3.1.4-2], 3.2.2.2: a hook accepts by user name and password;
/// wrong credentials get 0x86, a forbidden user 0x87, then close.
#[test]
fn v5_authentication_by_username_and_password() {
    let mut s = Sim::with_hooks(cfg(), Box::new(password_hooks()));
    let ok = with_credentials(connect_packet("a", V5, true), "alice", b"secret");
    let (c, ack) = s.connect_with(ok);
    assert_eq!(connack(Some(ack)).reason, ReasonCode::Success);
    assert!(!s.is_closed(c));

    let bad = with_credentials(connect_packet("b", V5, true), "alice", b"wrong");
    let (c, ack) = s.connect_with(bad);
    assert_eq!(connack(Some(ack)).reason, ReasonCode::BadUserNameOrPassword);
    assert!(s.is_closed(c));

    let denied = with_credentials(connect_packet("m", V5, true), "mallory", b"x");
    let (c, ack) = s.connect_with(denied);
    assert_eq!(connack(Some(ack)).reason, ReasonCode::NotAuthorized);
    assert!(s.is_closed(c));
    assert_eq!(s.broker.client_ids().collect::<Vec<_>>(), ["a"]);
}

/// v311 3.2.2.3: the same refusals as return codes 4 (bad user name or
/// password) and 5 (not authorized).
#[test]
fn v311_authentication_return_codes_4_and_5() {
    let mut s = Sim::with_hooks(cfg(), Box::new(password_hooks()));
    let ok = with_credentials(connect_packet("a", V311, true), "alice", b"secret");
    let (c, _) = s.connect_with(ok);
    assert_eq!(s.clients[&c].raw, [0x20, 0x02, 0x00, 0x00]);

    let bad = with_credentials(connect_packet("b", V311, true), "alice", b"wrong");
    let (c, _) = s.connect_with(bad);
    assert_eq!(s.clients[&c].raw, [0x20, 0x02, 0x00, 0x04]);
    assert!(s.is_closed(c));

    let denied = with_credentials(connect_packet("m", V311, true), "mallory", b"x");
    let (c, _) = s.connect_with(denied);
    assert_eq!(s.clients[&c].raw, [0x20, 0x02, 0x00, 0x05]);
    assert!(s.is_closed(c));
}

/// `AuthDecision::Pending`: nothing is sent until the host decides with
/// `Broker::handle_auth_decision`. Packets the client sent right after
/// CONNECT (allowed by v5 3.1.4 and v311 3.1.4) are processed after the
/// CONNACK, in order.
#[test]
fn pending_authentication_then_accept_processes_pipelined_packets() {
    for version in [V5, V311] {
        let mut s = Sim::with_hooks(cfg(), Box::new(TestHooks::auth(|_| AuthDecision::Pending)));
        let c = open_as(&mut s, version);
        let mut bytes = Packet::Connect(Box::new(connect_packet("later", version, true)))
            .to_bytes(version)
            .unwrap();
        let sub = tabmq::codec::Subscribe {
            packet_id: pid(9),
            properties: Properties::default(),
            subscriptions: vec![tabmq::codec::Subscription {
                filter: "t/#".into(),
                options: tabmq::codec::SubscriptionOptions::qos(QoS::AtLeastOnce),
            }],
        };
        bytes.extend(Packet::Subscribe(sub).to_bytes(version).unwrap());
        bytes.extend(Packet::PingReq.to_bytes(version).unwrap());
        s.send_raw(c, &bytes);
        assert!(
            s.clients[&c].raw.is_empty(),
            "{version:?}: nothing before the decision"
        );
        assert!(!s.is_closed(c), "{version:?}");

        s.broker
            .handle_auth_decision(c, AuthDecision::Accept, s.now);
        s.drive();
        let got = s.recv_all(c);
        assert_eq!(got.len(), 3, "{version:?}: {got:?}");
        assert!(matches!(&got[0], Packet::ConnAck(a) if a.reason == ReasonCode::Success));
        assert!(matches!(&got[1], Packet::SubAck(a) if a.packet_id == pid(9)));
        assert_eq!(got[2], Packet::PingResp);
        assert!(!s.is_closed(c));
    }
}

/// v5 [MQTT-3.1.4-6]: if the CONNECT is refused, nothing sent after it is
/// processed (here a PUBLISH that must not reach the subscriber).
#[test]
fn pending_authentication_then_reject_ignores_pipelined_packets() {
    for version in [V5, V311] {
        let mut s = Sim::with_hooks(
            cfg(),
            Box::new(TestHooks::auth(|r| {
                if r.client_id == "suspect" {
                    AuthDecision::Pending
                } else {
                    AuthDecision::Accept
                }
            })),
        );
        let sub = subscriber(&mut s, "watcher", V5, "t/#");
        let c = open_as(&mut s, version);
        let mut bytes = Packet::Connect(Box::new(connect_packet("suspect", version, true)))
            .to_bytes(version)
            .unwrap();
        bytes.extend(
            Packet::Publish(publish("t/x", b"sneaky", QoS::AtMostOnce, false, 0))
                .to_bytes(version)
                .unwrap(),
        );
        s.send_raw(c, &bytes);
        s.broker
            .handle_auth_decision(c, AuthDecision::Reject(ReasonCode::NotAuthorized), s.now);
        s.drive();
        let ack = connack(s.recv(c));
        assert_eq!(ack.reason, ReasonCode::NotAuthorized, "{version:?}");
        assert!(s.is_closed(c));
        assert!(
            s.publishes(sub).is_empty(),
            "{version:?}: the PUBLISH leaked"
        );
    }
}

/// A pending decision for a connection that went away is ignored.
#[test]
fn pending_authentication_decision_after_close_is_ignored() {
    let mut s = Sim::with_hooks(cfg(), Box::new(TestHooks::auth(|_| AuthDecision::Pending)));
    let c = open_as(&mut s, V5);
    s.send(
        c,
        Packet::Connect(Box::new(connect_packet("gone", V5, true))),
    );
    s.drop_conn(c);
    s.broker
        .handle_auth_decision(c, AuthDecision::Accept, s.now);
    s.drive();
    assert!(s.clients[&c].raw.is_empty());
    assert_eq!(s.broker.client_ids().count(), 0);
    assert_eq!(s.broker.stats(s.now).connections, 0);
}

fn enhanced_hooks() -> TestHooks {
    // A two-step challenge: "hello" → challenge "c1", "answer" → accept.
    TestHooks::auth(|r| match (r.method, r.data) {
        (Some("TEST"), Some(b"hello")) => AuthDecision::Continue(Some(Bytes::from_static(b"c1"))),
        (Some("TEST"), Some(b"answer")) => AuthDecision::Accept,
        (Some("TEST"), Some(b"again")) if r.reauthenticate => {
            AuthDecision::Continue(Some(Bytes::from_static(b"c2")))
        }
        (Some("TEST"), _) => AuthDecision::Reject(ReasonCode::NotAuthorized),
        (Some(_), _) => AuthDecision::Reject(ReasonCode::BadAuthenticationMethod),
        (None, _) => AuthDecision::Accept,
    })
}

fn enhanced_connect(id: &str, method: &str, data: &[u8]) -> Connect {
    let mut c = connect_packet(id, V5, true);
    c.properties.authentication_method = Some(method.into());
    c.properties.authentication_data = Some(Bytes::copy_from_slice(data));
    c
}

/// v5 [MQTT-4.12.0-2], [MQTT-4.12.0-3], [MQTT-4.12.0-5]: CONNECT with an
/// Authentication Method, AUTH 0x18 from the server, AUTH 0x18 from the
/// client, then CONNACK 0x00 carrying the same Authentication Method.
#[test]
fn v5_enhanced_authentication_exchange_succeeds() {
    let mut s = Sim::with_hooks(cfg(), Box::new(enhanced_hooks()));
    let (c, first) = s.connect_with(enhanced_connect("e", "TEST", b"hello"));
    assert_eq!(
        first,
        auth_packet(ReasonCode::ContinueAuthentication, "TEST", b"c1")
    );
    s.send(
        c,
        auth_packet(ReasonCode::ContinueAuthentication, "TEST", b"answer"),
    );
    let ack = connack(s.recv(c));
    assert_eq!(ack.reason, ReasonCode::Success);
    assert_eq!(
        ack.properties.authentication_method.as_deref(),
        Some("TEST")
    );
    assert!(!s.is_closed(c));
    s.send(c, Packet::PingReq);
    assert_eq!(s.recv(c), Some(Packet::PingResp));
}

/// v5 [MQTT-4.12.0-6]: without an Authentication Method in CONNECT, the
/// CONNACK carries none.
#[test]
fn v5_no_authentication_method_in_connack_without_one_in_connect() {
    let mut s = Sim::with_hooks(cfg(), Box::new(enhanced_hooks()));
    let (_, ack) = s.connect_with(connect_packet("plain", V5, true));
    let ack = connack(Some(ack));
    assert_eq!(ack.reason, ReasonCode::Success);
    assert_eq!(ack.properties.authentication_method, None);
}

/// v5 [MQTT-4.12.0-5]: an AUTH with a different Authentication Method is a
/// Protocol Error; before CONNACK it is answered with CONNACK 0x82
/// ([MQTT-3.14.0-1]: no DISCONNECT before CONNACK) and the connection closes.
#[test]
fn v5_enhanced_authentication_wrong_method_is_protocol_error() {
    let mut s = Sim::with_hooks(cfg(), Box::new(enhanced_hooks()));
    let (c, _) = s.connect_with(enhanced_connect("e", "TEST", b"hello"));
    s.send(
        c,
        auth_packet(ReasonCode::ContinueAuthentication, "OTHER", b"answer"),
    );
    let ack = connack(s.recv(c));
    assert_eq!(ack.reason, ReasonCode::ProtocolError);
    assert!(s.is_closed(c));
    assert_eq!(s.broker.client_ids().count(), 0);
}

/// v5 [MQTT-4.12.0-3]: the client's AUTH during the exchange must be 0x18.
#[test]
fn v5_enhanced_authentication_wrong_reason_is_protocol_error() {
    let mut s = Sim::with_hooks(cfg(), Box::new(enhanced_hooks()));
    let (c, _) = s.connect_with(enhanced_connect("e", "TEST", b"hello"));
    s.send(
        c,
        auth_packet(ReasonCode::ReAuthenticate, "TEST", b"answer"),
    );
    assert_eq!(connack(s.recv(c)).reason, ReasonCode::ProtocolError);
    assert!(s.is_closed(c));
}

/// v5 [MQTT-3.1.2-30]: with an Authentication Method the client sends only
/// AUTH or DISCONNECT until CONNACK; anything else is a Protocol Error.
#[test]
fn v5_enhanced_authentication_other_packet_before_connack_is_protocol_error() {
    let mut s = Sim::with_hooks(cfg(), Box::new(enhanced_hooks()));
    let (c, _) = s.connect_with(enhanced_connect("e", "TEST", b"hello"));
    s.send(c, Packet::PingReq);
    assert_eq!(connack(s.recv(c)).reason, ReasonCode::ProtocolError);
    assert!(s.is_closed(c));
}

/// v5 [MQTT-4.12.0-4]: the server may refuse at any step (here the answer is
/// wrong: CONNACK 0x87).
#[test]
fn v5_enhanced_authentication_rejected_mid_exchange() {
    let mut s = Sim::with_hooks(cfg(), Box::new(enhanced_hooks()));
    let (c, _) = s.connect_with(enhanced_connect("e", "TEST", b"hello"));
    s.send(
        c,
        auth_packet(ReasonCode::ContinueAuthentication, "TEST", b"wrong"),
    );
    assert_eq!(connack(s.recv(c)).reason, ReasonCode::NotAuthorized);
    assert!(s.is_closed(c));
}

/// v5 [MQTT-4.12.0-1]: a method the server does not support: CONNACK 0x8C
/// (from the default hooks, which implement no method) and close.
#[test]
fn v5_enhanced_authentication_without_hook_gets_0x8c() {
    let mut s = sim();
    let (c, ack) = s.connect_with(enhanced_connect("e", "SCRAM-SHA-1", b"client-first"));
    assert_eq!(
        connack(Some(ack)).reason,
        ReasonCode::BadAuthenticationMethod
    );
    assert!(s.is_closed(c));
    // And from a hook that knows other methods.
    let mut s = Sim::with_hooks(cfg(), Box::new(enhanced_hooks()));
    let (c, ack) = s.connect_with(enhanced_connect("e", "KERBEROS", b"x"));
    assert_eq!(
        connack(Some(ack)).reason,
        ReasonCode::BadAuthenticationMethod
    );
    assert!(s.is_closed(c));
}

/// v5 [MQTT-4.12.1-1]: after CONNACK the client re-authenticates with AUTH
/// 0x19; the exchange continues with 0x18 and ends with AUTH 0x00, the
/// connection staying up.
#[test]
fn v5_reauthentication_with_auth_0x19() {
    let hooks = enhanced_hooks();
    let log = hooks.log.clone();
    let mut s = Sim::with_hooks(cfg(), Box::new(hooks));
    let (c, _) = s.connect_with(enhanced_connect("e", "TEST", b"hello"));
    s.send(
        c,
        auth_packet(ReasonCode::ContinueAuthentication, "TEST", b"answer"),
    );
    assert_eq!(connack(s.recv(c)).reason, ReasonCode::Success);

    s.send(c, auth_packet(ReasonCode::ReAuthenticate, "TEST", b"again"));
    assert_eq!(
        s.recv(c),
        Some(auth_packet(
            ReasonCode::ContinueAuthentication,
            "TEST",
            b"c2"
        ))
    );
    s.send(
        c,
        auth_packet(ReasonCode::ContinueAuthentication, "TEST", b"answer"),
    );
    match s.recv(c) {
        Some(Packet::Auth(a)) => {
            assert_eq!(a.reason, ReasonCode::Success);
            assert_eq!(a.properties.authentication_method.as_deref(), Some("TEST"));
        }
        other => panic!("expected AUTH 0x00, got {other:?}"),
    }
    assert!(!s.is_closed(c));
    let entries = log.entries();
    assert!(entries
        .iter()
        .any(|e| e.contains("data=Some(\"again\") reauth=true")));
}

/// v5 [MQTT-4.12.1-2]: a failed re-authentication ends with DISCONNECT
/// (with a reason valid in DISCONNECT) and close.
#[test]
fn v5_reauthentication_failure_disconnects() {
    let mut s = Sim::with_hooks(cfg(), Box::new(enhanced_hooks()));
    let (c, _) = s.connect_with(enhanced_connect("e", "TEST", b"hello"));
    s.send(
        c,
        auth_packet(ReasonCode::ContinueAuthentication, "TEST", b"answer"),
    );
    assert_eq!(connack(s.recv(c)).reason, ReasonCode::Success);
    s.send(c, auth_packet(ReasonCode::ReAuthenticate, "TEST", b"bogus"));
    assert_eq!(
        s.recv_all(c),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::NotAuthorized
        ))]
    );
    assert!(s.is_closed(c));
}

/// v5 [MQTT-4.12.1-2]: a refusal whose reason is not a DISCONNECT reason
/// (0x86 exists only in CONNACK) is sent as 0x87 Not authorized.
#[test]
fn v5_reauthentication_refused_with_connack_only_reason_maps_to_0x87() {
    let mut s = Sim::with_hooks(
        cfg(),
        Box::new(TestHooks::auth(|r| {
            if r.reauthenticate {
                AuthDecision::Reject(ReasonCode::BadUserNameOrPassword)
            } else {
                AuthDecision::Accept
            }
        })),
    );
    let (c, ack) = s.connect_with(enhanced_connect("e", "TEST", b"x"));
    assert_eq!(connack(Some(ack)).reason, ReasonCode::Success);
    s.send(c, auth_packet(ReasonCode::ReAuthenticate, "TEST", b"y"));
    assert_eq!(
        s.recv_all(c),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::NotAuthorized
        ))]
    );
    assert!(s.is_closed(c));
}

/// v5 [MQTT-4.12.0-7], [MQTT-4.12.1-1]: AUTH from a client that connected
/// without an Authentication Method is a Protocol Error (DISCONNECT 0x82).
#[test]
fn v5_auth_without_authentication_method_is_protocol_error() {
    let mut s = Sim::with_hooks(cfg(), Box::new(enhanced_hooks()));
    let c = s.connect("plain", V5, true);
    s.send(c, auth_packet(ReasonCode::ReAuthenticate, "TEST", b"again"));
    assert_eq!(
        s.recv_all(c),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::ProtocolError
        ))]
    );
    assert!(s.is_closed(c));
}

// ---------------------------------------------------------------------------
// Authorization
// ---------------------------------------------------------------------------

fn acl_sim() -> Sim {
    Sim::with_hooks(
        cfg(),
        Box::new(TestHooks::acl(vec!["secret/topic"], vec!["secret/#"])),
    )
}

/// v5 3.4.2.1: a QoS 1 PUBLISH that is not authorized gets PUBACK 0x87 and
/// is not delivered; QoS 2 gets PUBREC 0x87; QoS 0 is dropped silently.
#[test]
fn v5_publish_not_authorized_gets_0x87_and_is_dropped() {
    let mut s = acl_sim();
    let sub = subscriber(&mut s, "watcher", V5, "#");
    let p = s.connect("pub", V5, true);
    s.publish(p, "secret/topic", b"x", QoS::AtLeastOnce, false, 3);
    match s.recv(p) {
        Some(Packet::PubAck(r)) => {
            assert_eq!((r.packet_id, r.reason), (pid(3), ReasonCode::NotAuthorized))
        }
        other => panic!("expected PUBACK, got {other:?}"),
    }
    s.publish(p, "secret/topic", b"x", QoS::ExactlyOnce, false, 4);
    match s.recv(p) {
        Some(Packet::PubRec(r)) => {
            assert_eq!((r.packet_id, r.reason), (pid(4), ReasonCode::NotAuthorized))
        }
        other => panic!("expected PUBREC, got {other:?}"),
    }
    s.publish(p, "secret/topic", b"x", QoS::AtMostOnce, false, 0);
    assert!(s.recv_all(p).is_empty());
    assert!(!s.is_closed(p));
    assert!(s.publishes(sub).is_empty());
    // An allowed topic still works.
    s.publish(p, "public", b"ok", QoS::AtLeastOnce, false, 5);
    assert_eq!(s.recv(p), Some(Packet::PubAck(PubResponse::new(pid(5)))));
    assert_eq!(s.publishes(sub).len(), 1);
}

/// v311 [MQTT-3.3.5-2]: a PUBLISH that is not authorized is acknowledged as
/// usual (3.1.1 cannot say no) and dropped; the connection stays.
#[test]
fn v311_publish_not_authorized_acknowledged_and_dropped() {
    let mut s = acl_sim();
    let sub = subscriber(&mut s, "watcher", V311, "#");
    let p = s.connect("pub", V311, true);
    s.publish(p, "secret/topic", b"x", QoS::AtLeastOnce, false, 3);
    assert_eq!(s.recv(p), Some(Packet::PubAck(PubResponse::new(pid(3)))));
    s.publish(p, "secret/topic", b"x", QoS::ExactlyOnce, false, 4);
    assert_eq!(s.recv(p), Some(Packet::PubRec(PubResponse::new(pid(4)))));
    s.send(p, Packet::PubRel(PubResponse::new(pid(4))));
    assert_eq!(s.recv(p), Some(Packet::PubComp(PubResponse::new(pid(4)))));
    s.publish(p, "secret/topic", b"x", QoS::AtMostOnce, false, 0);
    assert!(!s.is_closed(p));
    assert!(s.publishes(sub).is_empty());
}

/// v5 3.9.3: a subscription that is not authorized gets 0x87 in SUBACK;
/// the others in the same SUBSCRIBE are granted [MQTT-3.8.4-5].
#[test]
fn v5_subscribe_not_authorized_gets_0x87() {
    let mut s = acl_sim();
    let c = s.connect("s", V5, true);
    let reasons = s.subscribe_with(
        c,
        "secret/#",
        tabmq::codec::SubscriptionOptions::qos(QoS::AtLeastOnce),
        None,
    );
    assert_eq!(reasons, vec![ReasonCode::NotAuthorized]);
    let reasons = s.subscribe_with(
        c,
        "public/#",
        tabmq::codec::SubscriptionOptions::qos(QoS::AtLeastOnce),
        None,
    );
    assert_eq!(reasons, vec![ReasonCode::GrantedQos1]);
    let p = s.connect("pub", V5, true);
    s.publish(p, "secret/x", b"x", QoS::AtMostOnce, false, 0);
    assert!(s.publishes(c).is_empty());
}

/// v311 [MQTT-3.9.3-2 region] (3.9.3): a refused subscription is return code
/// 0x80 (Failure) in SUBACK.
#[test]
fn v311_subscribe_not_authorized_gets_0x80() {
    let mut s = acl_sim();
    let c = s.connect("s", V311, true);
    let sub = tabmq::codec::Subscribe {
        packet_id: pid(2),
        properties: Properties::default(),
        subscriptions: vec![
            tabmq::codec::Subscription {
                filter: "secret/#".into(),
                options: tabmq::codec::SubscriptionOptions::qos(QoS::AtLeastOnce),
            },
            tabmq::codec::Subscription {
                filter: "public/#".into(),
                options: tabmq::codec::SubscriptionOptions::qos(QoS::AtLeastOnce),
            },
        ],
    };
    s.send(c, Packet::Subscribe(sub));
    // SUBACK, packet id 2, return codes 0x80 and 0x01.
    assert_eq!(s.clients[&c].raw[4..], [0x90, 0x04, 0x00, 0x02, 0x80, 0x01]);
}

// ---------------------------------------------------------------------------
// Connection limit
// ---------------------------------------------------------------------------

/// v5 3.2.2.2: over the connection limit, CONNACK 0x97 (Quota exceeded) and
/// close; a slot freed is usable again.
#[test]
fn v5_max_connections_gets_connack_0x97() {
    let mut s = Sim::new(Config {
        max_connections: 2,
        ..cfg()
    });
    let a = s.connect("a", V5, true);
    let _b = s.connect("b", V5, true);
    let (c, ack) = s.connect_with(connect_packet("c", V5, true));
    assert_eq!(connack(Some(ack)).reason, ReasonCode::QuotaExceeded);
    assert!(s.is_closed(c));
    s.drop_conn(a);
    let (c, ack) = s.connect_with(connect_packet("c", V5, true));
    assert_eq!(connack(Some(ack)).reason, ReasonCode::Success);
    assert!(!s.is_closed(c));
}

/// v311 3.2.2.3: over the connection limit, return code 0x03 (Server
/// unavailable) and close.
#[test]
fn v311_max_connections_gets_return_code_3() {
    let mut s = Sim::new(Config {
        max_connections: 1,
        ..cfg()
    });
    s.connect("a", V311, true);
    let (c, _) = s.connect_with(connect_packet("b", V311, true));
    assert_eq!(s.clients[&c].raw, [0x20, 0x02, 0x00, 0x03]);
    assert!(s.is_closed(c));
}

/// At the limit, a client reconnecting with its own client id takes over
/// its session (the count does not grow) instead of being refused.
#[test]
fn max_connections_allows_takeover_at_the_limit() {
    let mut s = Sim::new(Config {
        max_connections: 1,
        ..cfg()
    });
    let old = s.connect("same", V5, true);
    let (new, ack) = s.connect_with(connect_packet("same", V5, true));
    assert_eq!(connack(Some(ack)).reason, ReasonCode::Success);
    assert!(s.is_closed(old));
    assert!(!s.is_closed(new));
    assert_eq!(s.broker.stats(s.now).connections, 1);
}

// ---------------------------------------------------------------------------
// A protocol violation affects one connection only
// ---------------------------------------------------------------------------

/// v5 [MQTT-4.13.1-1], 4.13: malformed bytes from one client get DISCONNECT
/// 0x81 and close that connection; the others keep working.
#[test]
fn v5_malformed_packet_closes_only_that_connection() {
    let mut s = sim();
    let sub = subscriber(&mut s, "sub", V5, "t/#");
    let bad = s.connect("bad", V5, true);
    let p = s.connect("pub", V5, true);
    // PUBLISH QoS 3 is malformed [MQTT-3.3.1-4].
    s.send_raw(bad, &[0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01]);
    assert_eq!(
        s.recv_all(bad),
        vec![Packet::Disconnect(Disconnect::new(
            ReasonCode::MalformedPacket
        ))]
    );
    assert!(s.is_closed(bad));
    s.publish(p, "t/1", b"still here", QoS::AtLeastOnce, false, 1);
    assert_eq!(s.recv(p), Some(Packet::PubAck(PubResponse::new(pid(1)))));
    assert_eq!(s.publishes(sub).len(), 1);
    assert!(!s.is_closed(sub) && !s.is_closed(p));
    assert_eq!(s.broker.stats(s.now).connections, 2);
}

/// v311 [MQTT-4.8.0-1] (3.1.1 4.8): a protocol violation closes the
/// connection (no packet in 3.1.1); other clients are unaffected.
#[test]
fn v311_malformed_packet_closes_only_that_connection() {
    let mut s = sim();
    let sub = subscriber(&mut s, "sub", V311, "t/#");
    let bad = s.connect("bad", V311, true);
    let p = s.connect("pub", V311, true);
    // SUBSCRIBE with reserved header flags 0b0000 instead of 0b0010
    // [MQTT-3.8.1-1].
    s.send_raw(bad, &[0x80, 0x06, 0x00, 0x01, 0x00, 0x01, b't', 0x00]);
    assert!(s.recv_all(bad).is_empty());
    assert!(s.is_closed(bad));
    s.publish(p, "t/1", b"still here", QoS::AtLeastOnce, false, 1);
    assert_eq!(s.recv(p), Some(Packet::PubAck(PubResponse::new(pid(1)))));
    assert_eq!(s.publishes(sub).len(), 1);
}

/// v5 4.13: a malformed CONNECT (reserved flag set, [MQTT-3.1.2-3]) gets
/// CONNACK 0x81 and close.
#[test]
fn v5_malformed_connect_gets_connack_0x81() {
    let mut s = sim();
    let c = open_as(&mut s, V5);
    let mut bytes = raw_connect("MQTT", 5, "x");
    bytes[9] |= 0x01; // the connect flags byte
    s.send_raw(c, &bytes);
    assert_eq!(s.clients[&c].raw, [0x20, 0x03, 0x00, 0x81, 0x00]);
    assert!(s.is_closed(c));
}

/// v5 3.1.4 (non-normative: "The Server can ... close the Network Connection
/// if the Client sends too much data before authentication is complete"):
/// more than one maximum-size packet waiting behind a pending CONNECT
/// closes the connection.
#[test]
fn pending_authentication_with_too_much_waiting_input_closes() {
    let mut s = Sim::with_hooks(
        Config {
            max_packet_size: 256,
            ..cfg()
        },
        Box::new(TestHooks::auth(|_| AuthDecision::Pending)),
    );
    let c = open_as(&mut s, V5);
    s.send(
        c,
        Packet::Connect(Box::new(connect_packet("chatty", V5, true))),
    );
    for _ in 0..10 {
        s.send(c, Packet::PingReq);
    }
    assert!(!s.is_closed(c), "a little input may wait");
    for _ in 0..200 {
        s.send(c, Packet::PingReq);
    }
    assert!(s.is_closed(c));
    assert!(s.clients[&c].raw.is_empty());
}

/// v5 3.1.4 (step 1: "within a reasonable amount of time"): a CONNECT whose
/// authentication never completes is closed at the connect timeout.
#[test]
fn connect_timeout_applies_while_authentication_is_pending() {
    let mut s = Sim::with_hooks(
        Config {
            connect_timeout_ms: 5_000,
            ..cfg()
        },
        Box::new(TestHooks::auth(|_| AuthDecision::Pending)),
    );
    let c = open_as(&mut s, V5);
    s.send(
        c,
        Packet::Connect(Box::new(connect_packet("slow", V5, true))),
    );
    s.advance(4_999);
    assert!(!s.is_closed(c));
    s.advance(1);
    assert!(s.is_closed(c));
    s.broker
        .handle_auth_decision(c, AuthDecision::Accept, s.now);
    s.drive();
    assert!(s.clients[&c].raw.is_empty(), "no CONNACK after the timeout");
    assert_eq!(s.broker.client_ids().count(), 0);
}

/// [MQTT-3.1.2-24]: keep alive counts control packets; the bytes of an
/// unfinished packet trickled in do not keep the connection alive.
#[test]
fn mqtt_3_1_2_24_trickled_bytes_of_an_unfinished_packet_do_not_reset_keep_alive() {
    let mut s = Sim::new(tabmq::broker::Config {
        sys_interval_secs: 0,
        ..Default::default()
    });
    let mut c = connect_packet("slow", V5, true);
    c.keep_alive = 1;
    let (conn, _) = s.connect_with(c);
    // The start of a PUBLISH announcing far more bytes than will ever come.
    s.send_raw(conn, &[0x30, 0xff, 0xff, 0x01]);
    for _ in 0..10 {
        s.advance(200);
        s.send_raw(conn, b"x");
    }
    assert!(
        s.is_closed(conn),
        "closed at 1.5 x keep alive although bytes kept coming"
    );
}

/// [MQTT-3.1.0-1]: a first byte that is not CONNECT closes the connection at
/// once, without waiting for the length it announces.
#[test]
fn mqtt_3_1_0_1_a_first_packet_that_is_not_connect_is_refused_on_its_first_byte() {
    let mut s = Sim::new(tabmq::broker::Config {
        sys_interval_secs: 0,
        ..Default::default()
    });
    let conn = s.open();
    s.send_raw(conn, b"GET / HTTP/1.1\r\n");
    assert!(s.is_closed(conn));
    assert!(
        s.recv(conn).is_none(),
        "no reply: there is no protocol to answer in"
    );
}
