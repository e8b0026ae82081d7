//! Access control: Mosquitto password files, anonymous clients, ACL files
//! (write at PUBLISH, read at each delivery, SUBSCRIBE, wills, retained
//! messages), TLS identities, who may resume a session, publish rate limits
//! and strict client identifiers, driven through the simulator.
//!
//! An attacker's view: each test tries to get past one rule and checks both
//! what is refused and that nothing leaks.

mod sim;
use sim::*;

use tabmq::broker::{hash_password, Access, Acl, Config, ConnId, Passwords};
use tabmq::codec::{Connect, Packet, ProtocolVersion, PubResponse, SubscriptionOptions, Will};

/// A line as `mosquitto_passwd -b` 2.0.11 wrote it on this machine for
/// user `alice`, password `sécret:1`.
const MOSQUITTO_LINE: &str = "alice:$7$101$m9KtVovvNsR1ikKa$TKwjh+kZjlO9cyaaq8rKDAxlzM+QQOdrlWBbLhnL8Ryy9B+g4zwVq20cuJsfPoXKumhgfrHmVlbd72+/dT0k2w==";

fn password_file() -> String {
    let bob = hash_password(b"bobpw", b"0123456789ab", 101);
    let mallory = hash_password(b"mpw", b"ba9876543210", 101);
    format!("{MOSQUITTO_LINE}\n# a comment\nbob:{bob}\nmallory:{mallory}\n")
}

const ACL: &str = "\
# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret
topic read shared/#
topic read $SYS/broker/uptime

user bob
topic readwrite bob/#
topic write alice/inbox
topic read shared/#

user mallory
topic readwrite mallory/#

pattern readwrite devices/%c/#
pattern read users/%u/#
";

fn cfg_with(passwords: bool, acl: bool) -> Config {
    Config {
        sys_interval_secs: 0,
        access: Access {
            passwords: passwords.then(|| Passwords::parse(&password_file()).unwrap()),
            allow_anonymous: None,
            acl: acl.then(|| Acl::parse(ACL).unwrap()),
        },
        ..Config::default()
    }
}

fn sim() -> Sim {
    Sim::new(cfg_with(true, true))
}

fn login(id: &str, version: ProtocolVersion, user: Option<&str>, pw: Option<&[u8]>) -> Connect {
    let mut c = connect_packet(id, version, true);
    c.username = user.map(str::to_owned);
    c.password = pw.map(bytes::Bytes::copy_from_slice);
    c
}

fn reason_of(ack: Packet) -> ReasonCode {
    match ack {
        Packet::ConnAck(a) => a.reason,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

fn connect_as(s: &mut Sim, id: &str, user: &str, pw: &[u8]) -> ConnId {
    let (conn, ack) = s.connect_with(login(id, V5, Some(user), Some(pw)));
    assert_eq!(reason_of(ack), ReasonCode::Success, "{user} connects");
    conn
}

fn alice(s: &mut Sim, id: &str) -> ConnId {
    connect_as(s, id, "alice", "sécret:1".as_bytes())
}

fn bob(s: &mut Sim, id: &str) -> ConnId {
    connect_as(s, id, "bob", b"bobpw")
}

/// The reason codes of the PUBACKs a client got, as "ok" or the refusal
/// (0x10 No Matching Subscribers is a success).
fn puback_reasons(s: &mut Sim, conn: ConnId) -> Vec<Option<ReasonCode>> {
    s.recv_all(conn)
        .into_iter()
        .filter_map(|p| match p {
            Packet::PubAck(a) => Some((a.reason as u8 >= 0x80).then_some(a.reason)),
            _ => None,
        })
        .collect()
}

fn topics(s: &mut Sim, conn: ConnId) -> Vec<String> {
    s.publishes(conn).into_iter().map(|p| p.topic).collect()
}

// ---- authentication ----

#[test]
fn a_mosquitto_passwd_line_accepts_its_password_and_nothing_else() {
    let mut s = sim();
    alice(&mut s, "a1");
    type Attempt<'a> = (&'a str, Option<&'a str>, Option<&'a [u8]>);
    let wrong: [Attempt; 6] = [
        ("wrong password", Some("alice"), Some(b"secret:1")),
        ("empty password", Some("alice"), Some(b"")),
        ("no password", Some("alice"), None),
        ("unknown user", Some("eve"), Some(b"x")),
        (
            "username with the colon",
            Some("alice:"),
            Some("sécret:1".as_bytes()),
        ),
        (
            "another user's password",
            Some("bob"),
            Some("sécret:1".as_bytes()),
        ),
    ];
    for (what, user, pw) in wrong {
        let (conn, ack) = s.connect_with(login("x", V5, user, pw));
        assert_eq!(reason_of(ack), ReasonCode::BadUserNameOrPassword, "{what}");
        assert!(s.recv_all(conn).is_empty(), "{what}: closed after CONNACK");
    }
}

#[test]
fn v311_wrong_password_is_return_code_4_and_anonymous_is_5() {
    let mut s = sim();
    let (_, ack) = s.connect_with(login("x", V311, Some("bob"), Some(b"nope")));
    assert_eq!(reason_of(ack), ReasonCode::BadUserNameOrPassword);
    let (_, ack) = s.connect_with(login("y", V311, None, None));
    assert_eq!(reason_of(ack), ReasonCode::NotAuthorized);
}

#[test]
fn anonymous_clients_are_refused_once_passwords_are_given_unless_allowed() {
    let mut s = sim();
    let (_, ack) = s.connect_with(login("anon", V5, None, None));
    assert_eq!(reason_of(ack), ReasonCode::NotAuthorized);

    let mut cfg = cfg_with(true, true);
    cfg.access.allow_anonymous = Some(true);
    let mut s = Sim::new(cfg);
    let (_, ack) = s.connect_with(login("anon", V5, None, None));
    assert_eq!(reason_of(ack), ReasonCode::Success);

    // No passwords: anonymous clients are welcome unless refused outright.
    let mut s = Sim::new(cfg_with(false, false));
    let (_, ack) = s.connect_with(login("anon", V5, None, None));
    assert_eq!(reason_of(ack), ReasonCode::Success);
    let mut cfg = cfg_with(false, false);
    cfg.access.allow_anonymous = Some(false);
    let mut s = Sim::new(cfg);
    let (_, ack) = s.connect_with(login("anon", V5, None, None));
    assert_eq!(reason_of(ack), ReasonCode::NotAuthorized);
}

#[test]
fn a_tls_identity_is_the_username_and_needs_no_password() {
    let mut s = sim();
    let conn = s.open();
    s.broker.handle_identity(conn, "bob");
    s.clients.get_mut(&conn).unwrap().version = Some(V5);
    // The CONNECT claims to be alice: the certificate says bob.
    let connect = login("c1", V5, Some("alice"), None);
    s.send(conn, Packet::Connect(Box::new(connect)));
    assert_eq!(reason_of(s.recv(conn).unwrap()), ReasonCode::Success);
    s.publish(conn, "bob/x", b"1", QoS::AtLeastOnce, false, 1);
    s.publish(conn, "alice/x", b"1", QoS::AtLeastOnce, false, 2);
    assert_eq!(
        puback_reasons(&mut s, conn),
        [None, Some(ReasonCode::NotAuthorized)]
    );
}

// ---- authorization: publish ----

#[test]
fn publishing_to_a_forbidden_topic_is_0x87_in_v5_and_routes_nothing() {
    let mut s = sim();
    let watcher = alice(&mut s, "watcher");
    s.subscribe(watcher, "alice/#", QoS::AtLeastOnce);
    let b = bob(&mut s, "b1");
    s.publish(b, "alice/private", b"x", QoS::AtLeastOnce, false, 1);
    s.publish(b, "alice/other", b"x", QoS::ExactlyOnce, false, 2);
    s.publish(b, "alice/qos0", b"x", QoS::AtMostOnce, false, 0);
    let replies = s.recv_all(b);
    assert!(matches!(
        &replies[0],
        Packet::PubAck(PubResponse {
            reason: ReasonCode::NotAuthorized,
            ..
        })
    ));
    assert!(matches!(
        &replies[1],
        Packet::PubRec(PubResponse {
            reason: ReasonCode::NotAuthorized,
            ..
        })
    ));
    assert_eq!(replies.len(), 2, "QoS 0 is dropped silently");
    assert!(!s.is_closed(b));
    // bob may write alice/inbox only.
    s.publish(b, "alice/inbox", b"hi", QoS::AtLeastOnce, false, 3);
    assert_eq!(topics(&mut s, watcher), ["alice/inbox"]);
}

#[test]
fn v311_forbidden_publish_is_acknowledged_and_dropped_mqtt_3_3_5_2() {
    let mut s = sim();
    let watcher = alice(&mut s, "watcher");
    s.subscribe(watcher, "alice/#", QoS::AtLeastOnce);
    let (b, _) = s.connect_with(login("b1", V311, Some("bob"), Some(b"bobpw")));
    s.publish(b, "alice/private", b"x", QoS::AtLeastOnce, false, 1);
    assert!(matches!(s.recv(b), Some(Packet::PubAck(a)) if a.reason == ReasonCode::Success));
    assert!(topics(&mut s, watcher).is_empty());
    assert!(!s.is_closed(b));
}

#[test]
fn nobody_publishes_to_sys() {
    let mut s = Sim::new(Config {
        access: Access {
            acl: Some(Acl::parse("topic readwrite $SYS/#\ntopic readwrite #").unwrap()),
            ..Access::default()
        },
        ..cfg_with(false, false)
    });
    let (c, _) = s.connect_with(login("c", V5, None, None));
    s.publish(c, "$SYS/broker/uptime", b"0", QoS::AtLeastOnce, false, 1);
    assert!(matches!(s.recv(c), Some(Packet::PubAck(a)) if a.reason == ReasonCode::NotAuthorized));
}

// ---- authorization: read ----

#[test]
fn a_wide_subscription_receives_only_readable_topics() {
    let mut s = sim();
    let a = alice(&mut s, "a1");
    for f in ["#", "+/#", "alice/#", "$share/g/#"] {
        assert_eq!(
            s.subscribe_with(a, f, SubscriptionOptions::qos(QoS::AtMostOnce), None),
            [ReasonCode::Success],
            "{f}"
        );
    }
    let b = bob(&mut s, "b1");
    s.publish(b, "bob/news", b"x", QoS::AtMostOnce, false, 0);
    s.publish(b, "alice/inbox", b"x", QoS::AtMostOnce, false, 0);
    let m = connect_as(&mut s, "m1", "mallory", b"mpw");
    s.publish(m, "mallory/x", b"x", QoS::AtMostOnce, false, 0);
    let got = topics(&mut s, a);
    assert!(got.iter().all(|t| t == "alice/inbox"), "{got:?}");
    assert_eq!(
        got.len(),
        2,
        "once for the plain filters, once for the share: {got:?}"
    );
}

#[test]
fn a_denied_topic_inside_a_granted_filter_is_never_delivered() {
    let mut s = sim();
    let a = alice(&mut s, "a1");
    s.subscribe(a, "alice/#", QoS::AtLeastOnce);
    let other = alice(&mut s, "a2");
    s.publish(other, "alice/secret", b"x", QoS::AtLeastOnce, false, 1);
    s.publish(other, "alice/open", b"x", QoS::AtLeastOnce, false, 2);
    assert_eq!(topics(&mut s, a), ["alice/open"]);
}

#[test]
fn a_filter_that_can_read_nothing_is_refused_0x87_v5_0x80_v311() {
    let mut s = sim();
    let a = alice(&mut s, "a1");
    let q = SubscriptionOptions::qos(QoS::AtLeastOnce);
    for f in [
        "bob/#",
        "alice/secret",
        "$SYS/broker/load",
        "$share/g/bob/#",
        "mallory/+",
    ] {
        assert_eq!(
            s.subscribe_with(a, f, q, None),
            [ReasonCode::NotAuthorized],
            "{f}"
        );
    }
    let (b, _) = s.connect_with(login("b3", V311, Some("bob"), Some(b"bobpw")));
    let reasons = s.subscribe_many(b, &[("alice/#", q), ("bob/#", q)], None);
    assert_eq!(
        reasons,
        [ReasonCode::UnspecifiedError, ReasonCode::GrantedQos1]
    );
}

#[test]
fn sys_needs_a_dollar_rule_of_its_own() {
    let mut s = Sim::new(Config {
        sys_interval_secs: 1,
        ..cfg_with(true, true)
    });
    let a = alice(&mut s, "a1");
    let q = SubscriptionOptions::qos(QoS::AtMostOnce);
    assert_eq!(
        s.subscribe_with(a, "$SYS/#", q, None),
        [ReasonCode::Success]
    );
    let b = bob(&mut s, "b1");
    assert_eq!(
        s.subscribe_with(b, "$SYS/#", q, None),
        [ReasonCode::NotAuthorized]
    );
    assert_eq!(s.subscribe_with(b, "#", q, None), [ReasonCode::Success]);
    s.advance(2_000);
    let got = topics(&mut s, a);
    assert_eq!(
        got.iter().filter(|t| *t == "$SYS/broker/uptime").count(),
        got.len()
    );
    assert!(!got.is_empty());
    assert!(topics(&mut s, b).is_empty(), "# never reaches $SYS");
}

#[test]
fn retained_messages_go_only_to_subscribers_who_may_read_them() {
    let mut s = sim();
    let a = alice(&mut s, "a1");
    let mut retained = publish("alice/state", b"on", QoS::AtLeastOnce, true, 3);
    s.send_publish(a, retained.clone());
    retained.topic = "alice/secret".into();
    retained.packet_id = Some(pid(4));
    s.send_publish(a, retained);
    s.recv_all(a);
    let b = bob(&mut s, "b1");
    assert_eq!(
        s.subscribe_with(b, "#", SubscriptionOptions::qos(QoS::AtLeastOnce), None),
        [ReasonCode::GrantedQos1]
    );
    assert!(topics(&mut s, b).is_empty(), "bob reads none of alice's");
    let a2 = alice(&mut s, "a2");
    s.subscribe(a2, "alice/#", QoS::AtLeastOnce);
    assert_eq!(
        topics(&mut s, a2),
        ["alice/state"],
        "alice/secret is denied even to alice"
    );
}

#[test]
fn a_will_to_a_forbidden_topic_is_refused_at_connect_0x87() {
    let mut s = sim();
    let mut c = login("b1", V5, Some("bob"), Some(b"bobpw"));
    c.will = Some(Will {
        topic: "alice/alarm".into(),
        payload: bytes::Bytes::from_static(b"x"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Default::default(),
    });
    let (_, ack) = s.connect_with(c.clone());
    assert_eq!(reason_of(ack), ReasonCode::NotAuthorized);
    c.will.as_mut().unwrap().topic = "alice/inbox".into();
    let (_, ack) = s.connect_with(c);
    assert_eq!(reason_of(ack), ReasonCode::Success);
}

// ---- patterns and client ids ----

#[test]
fn patterns_give_each_client_its_own_topics() {
    let mut s = sim();
    let d1 = bob(&mut s, "dev1");
    let d2 = bob(&mut s, "dev2");
    s.subscribe(d2, "devices/#", QoS::AtMostOnce);
    s.publish(d1, "devices/dev1/temp", b"20", QoS::AtLeastOnce, false, 1);
    s.publish(d1, "devices/dev2/cmd", b"off", QoS::AtLeastOnce, false, 2);
    assert_eq!(
        puback_reasons(&mut s, d1),
        [None, Some(ReasonCode::NotAuthorized)]
    );
    assert!(
        topics(&mut s, d2).is_empty(),
        "dev2 may read only devices/dev2/#"
    );
}

#[test]
fn a_client_id_with_wildcards_or_slashes_cannot_widen_a_pattern() {
    let mut s = sim();
    for id in ["+", "#", "dev1/x"] {
        let m = connect_as(&mut s, id, "mallory", b"mpw");
        let q = SubscriptionOptions::qos(QoS::AtMostOnce);
        assert_eq!(
            s.subscribe_with(m, "devices/#", q, None),
            [ReasonCode::NotAuthorized],
            "{id}"
        );
        s.publish(m, "devices/dev1/x/cmd", b"x", QoS::AtLeastOnce, false, 1);
        assert!(
            matches!(s.recv(m), Some(Packet::PubAck(a)) if a.reason == ReasonCode::NotAuthorized),
            "{id}"
        );
    }
}

#[test]
fn another_user_taking_a_client_id_gets_a_new_session_not_the_victims() {
    let mut s = sim();
    // alice's persistent session, with a subscription and a queued message.
    let mut c = login("phone", V5, Some("alice"), Some("sécret:1".as_bytes()));
    c.clean_start = false;
    c.properties.session_expiry_interval = Some(3600);
    let (a, _) = s.connect_with(c);
    s.subscribe(a, "users/alice/#", QoS::AtLeastOnce);
    s.drop_conn(a);
    let b = bob(&mut s, "b1");
    s.publish(
        b,
        "users/alice/mail",
        b"private",
        QoS::AtLeastOnce,
        false,
        1,
    );
    // mallory connects with alice's client id, asking to resume.
    let mut m = login("phone", V5, Some("mallory"), Some(b"mpw"));
    m.clean_start = false;
    m.properties.session_expiry_interval = Some(3600);
    let (mc, ack) = s.connect_with(m);
    match ack {
        Packet::ConnAck(a) => {
            assert_eq!(a.reason, ReasonCode::Success);
            assert!(!a.session_present, "not alice's session");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        topics(&mut s, mc).is_empty(),
        "alice's queued message stays hers"
    );
    s.publish(b, "users/alice/mail", b"more", QoS::AtLeastOnce, false, 2);
    assert!(
        topics(&mut s, mc).is_empty(),
        "no subscription carried over"
    );
    // The same user resumes as usual.
    s.drop_conn(mc);
    let mut again = login("phone", V5, Some("mallory"), Some(b"mpw"));
    again.clean_start = false;
    again.properties.session_expiry_interval = Some(3600);
    let (_, ack) = s.connect_with(again);
    assert!(matches!(ack, Packet::ConnAck(a) if a.session_present));
}

#[test]
fn the_owner_of_a_stored_session_survives_a_restart() {
    let mut s = sim();
    let mut c = login("phone", V5, Some("alice"), Some("sécret:1".as_bytes()));
    c.clean_start = false;
    c.properties.session_expiry_interval = Some(3600);
    let (a, _) = s.connect_with(c.clone());
    s.subscribe(a, "#", QoS::AtLeastOnce);
    s.drop_conn(a);
    s.crash_and_restart();
    let b = bob(&mut s, "b1");
    s.publish(b, "bob/x", b"not for alice", QoS::AtLeastOnce, false, 1);
    s.publish(b, "alice/inbox", b"for alice", QoS::AtLeastOnce, false, 2);
    let mut m = login("phone", V5, Some("mallory"), Some(b"mpw"));
    m.clean_start = false;
    m.properties.session_expiry_interval = Some(3600);
    let (mc, ack) = s.connect_with(m);
    assert!(matches!(ack, Packet::ConnAck(a) if !a.session_present));
    assert!(topics(&mut s, mc).is_empty());
    s.drop_conn(mc);
    // mallory's takeover ended alice's session: alice starts afresh too.
    let (a, ack) = s.connect_with(c);
    assert!(matches!(ack, Packet::ConnAck(a) if !a.session_present));
    assert!(topics(&mut s, a).is_empty());
}

#[test]
fn a_restored_session_keeps_its_read_rules() {
    let mut s = sim();
    let mut c = login("phone", V5, Some("alice"), Some("sécret:1".as_bytes()));
    c.clean_start = false;
    c.properties.session_expiry_interval = Some(3600);
    let (a, _) = s.connect_with(c.clone());
    s.subscribe(a, "#", QoS::AtLeastOnce);
    s.drop_conn(a);
    s.crash_and_restart();
    let b = bob(&mut s, "b1");
    s.publish(b, "bob/x", b"not for alice", QoS::AtLeastOnce, false, 1);
    s.publish(b, "alice/inbox", b"for alice", QoS::AtLeastOnce, false, 2);
    let (a, ack) = s.connect_with(c);
    assert!(matches!(ack, Packet::ConnAck(a) if a.session_present));
    assert_eq!(topics(&mut s, a), ["alice/inbox"]);
}

#[test]
fn re_authentication_cannot_change_the_user() {
    // Without an authentication method there is no AUTH exchange: an AUTH
    // packet is a protocol error, and the connection keeps its user.
    let mut s = sim();
    let b = bob(&mut s, "b1");
    let mut auth = tabmq::codec::Auth {
        reason: ReasonCode::ReAuthenticate,
        properties: Default::default(),
    };
    auth.properties.authentication_method = Some("PLAIN".into());
    auth.properties.authentication_data =
        Some(bytes::Bytes::from_static(b"\0alice\0s\xc3\xa9cret:1"));
    s.send(b, Packet::Auth(auth));
    assert_eq!(s.disconnect_reason(b), Some(ReasonCode::ProtocolError));
    assert!(s.is_closed(b));
}

#[test]
fn shared_groups_skip_members_that_may_not_read() {
    let mut s = sim();
    let a = alice(&mut s, "a1");
    let b = bob(&mut s, "b1");
    let q = SubscriptionOptions::qos(QoS::AtMostOnce);
    assert_eq!(
        s.subscribe_with(a, "$share/g/shared/#", q, None),
        [ReasonCode::Success]
    );
    assert_eq!(
        s.subscribe_with(b, "$share/g/+/#", q, None),
        [ReasonCode::Success]
    );
    let other = bob(&mut s, "b2");
    for i in 0..6u16 {
        s.publish(other, "bob/x", b"x", QoS::AtLeastOnce, false, i + 1);
    }
    assert!(topics(&mut s, a).is_empty(), "alice may not read bob/x");
    assert_eq!(
        topics(&mut s, b).len(),
        6,
        "every bob/x goes to the member who may read it"
    );
}

// ---- changing the rules ----

#[test]
fn new_rules_apply_to_existing_sessions_at_once() {
    let mut s = sim();
    let a = alice(&mut s, "a1");
    s.subscribe(a, "#", QoS::AtMostOnce);
    let b = bob(&mut s, "b1");
    s.publish(b, "bob/x", b"1", QoS::AtMostOnce, false, 0);
    assert!(topics(&mut s, a).is_empty());
    let mut access = s.broker.config().access.clone();
    access.acl =
        Some(Acl::parse("user alice\ntopic read #\nuser bob\ntopic readwrite bob/#").unwrap());
    s.broker.set_access(access.clone(), s.now);
    s.drive();
    s.publish(b, "bob/x", b"2", QoS::AtMostOnce, false, 0);
    assert_eq!(topics(&mut s, a), ["bob/x"]);
    access.acl = Some(Acl::parse("user bob\ntopic readwrite bob/#").unwrap());
    s.broker.set_access(access, s.now);
    s.drive();
    s.publish(b, "bob/x", b"3", QoS::AtMostOnce, false, 0);
    assert!(topics(&mut s, a).is_empty());
}

// ---- limits ----

#[test]
fn publishing_past_the_rate_limit_is_disconnect_0x96_and_others_go_on() {
    let mut s = Sim::new(Config {
        publish_rate: Some(5),
        ..cfg_with(false, false)
    });
    let fast = s.connect("fast", V5, true);
    let calm = s.connect("calm", V5, true);
    let old = s.connect("old", V311, true);
    for _ in 0..5 {
        s.publish(fast, "t", b"x", QoS::AtMostOnce, false, 0);
        s.publish(old, "t", b"x", QoS::AtMostOnce, false, 0);
    }
    assert!(!s.is_closed(fast));
    s.publish(fast, "t", b"x", QoS::AtMostOnce, false, 0);
    assert_eq!(
        s.disconnect_reason(fast),
        Some(ReasonCode::MessageRateTooHigh)
    );
    s.publish(old, "t", b"x", QoS::AtMostOnce, false, 0);
    assert!(
        s.recv_all(old).is_empty(),
        "3.1.1 has no DISCONNECT to send"
    );
    assert!(s.is_closed(old));
    // calm, on its own bucket, publishes its five and more after a second.
    for _ in 0..5 {
        s.publish(calm, "t", b"x", QoS::AtLeastOnce, false, 1);
    }
    s.advance(1_000);
    s.publish(calm, "t", b"x", QoS::AtLeastOnce, false, 2);
    let acks = s
        .recv_all(calm)
        .into_iter()
        .filter(|p| matches!(p, Packet::PubAck(_)))
        .count();
    assert_eq!(acks, 6);
}

#[test]
fn byte_rate_counts_topic_and_payload() {
    let mut s = Sim::new(Config {
        publish_byte_rate: Some(1000),
        ..cfg_with(false, false)
    });
    let c = s.connect("c", V5, true);
    s.publish(c, "t", &[0; 600], QoS::AtMostOnce, false, 0);
    s.publish(c, "t", &[0; 600], QoS::AtMostOnce, false, 0);
    assert_eq!(s.disconnect_reason(c), Some(ReasonCode::MessageRateTooHigh));
}

#[test]
fn strict_client_ids_refuse_anything_but_letters_and_digits_0x85() {
    let mut s = Sim::new(Config {
        strict_client_ids: true,
        ..cfg_with(false, false)
    });
    for bad in ["a-b", "dev/1", "é", "a b"] {
        let (_, ack) = s.connect_with(connect_packet(bad, V5, true));
        assert_eq!(
            reason_of(ack),
            ReasonCode::ClientIdentifierNotValid,
            "{bad:?}"
        );
    }
    let (_, ack) = s.connect_with(connect_packet("Dev42", V5, true));
    assert_eq!(reason_of(ack), ReasonCode::Success);
    let (_, ack) = s.connect_with(connect_packet("", V5, true));
    assert_eq!(
        reason_of(ack),
        ReasonCode::Success,
        "an assigned id is the broker's"
    );
}

#[test]
fn rules_do_not_touch_a_broker_without_access_settings() {
    let mut s = Sim::new(cfg_with(false, false));
    let a = s.connect("a", V5, true);
    s.subscribe(a, "#", QoS::AtMostOnce);
    let b = s.connect("b", V5, true);
    s.publish(b, "any/topic", b"x", QoS::AtMostOnce, false, 0);
    assert_eq!(topics(&mut s, a), ["any/topic"]);
}

#[test]
fn a_will_to_sys_is_refused_even_where_the_acl_allows_it() {
    let mut s = Sim::new(Config {
        access: Access {
            acl: Some(Acl::parse("topic readwrite $SYS/#\ntopic readwrite #").unwrap()),
            ..Access::default()
        },
        ..cfg_with(false, false)
    });
    let mut c = login("c", V5, None, None);
    c.will = Some(Will {
        topic: "$SYS/broker/version".into(),
        payload: bytes::Bytes::from_static(b"forged"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: Default::default(),
    });
    let (_, ack) = s.connect_with(c.clone());
    assert_eq!(reason_of(ack), ReasonCode::NotAuthorized);
    // Without any access settings too.
    let mut s = Sim::new(cfg_with(false, false));
    let (_, ack) = s.connect_with(c);
    assert_eq!(reason_of(ack), ReasonCode::NotAuthorized);
}

#[test]
fn a_user_removed_from_the_passwords_is_disconnected_0x87_others_stay() {
    let mut s = sim();
    let a = alice(&mut s, "a1");
    let b = bob(&mut s, "b1");
    let (old, _) = s.connect_with(login("old", V311, Some("bob"), Some(b"bobpw")));
    let mut access = s.broker.config().access.clone();
    access.passwords = Some(Passwords::parse(MOSQUITTO_LINE).unwrap());
    s.broker.set_access(access, s.now);
    s.drive();
    assert_eq!(s.disconnect_reason(b), Some(ReasonCode::NotAuthorized));
    assert!(s.is_closed(b) && s.is_closed(old));
    assert!(!s.is_closed(a));
    s.publish(a, "alice/x", b"1", QoS::AtLeastOnce, false, 1);
    assert!(matches!(s.recv(a), Some(Packet::PubAck(_))));
}

#[test]
fn each_refusal_is_a_denied_event_naming_the_client_action_and_topic() {
    use tabmq::broker::Event;
    let mut s = sim();
    let b = bob(&mut s, "b1");
    s.take_events();
    s.publish(b, "alice/private", b"x", QoS::AtLeastOnce, false, 1);
    s.recv_all(b);
    s.subscribe_with(
        b,
        "alice/#",
        SubscriptionOptions::qos(QoS::AtMostOnce),
        None,
    );
    let mut c = login("b2", V5, Some("bob"), Some(b"bobpw"));
    c.will = Some(Will {
        topic: "alice/alarm".into(),
        payload: bytes::Bytes::from_static(b"x"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Default::default(),
    });
    s.connect_with(c);
    let denied: Vec<(String, &str, String)> = s
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Denied {
                client_id,
                action,
                topic,
                ..
            } => Some((client_id.to_string(), action, topic.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(
        denied,
        [
            ("b1".into(), "publish", "alice/private".into()),
            ("b1".into(), "subscribe", "alice/#".into()),
            ("b2".into(), "will", "alice/alarm".into()),
        ]
    );
}
