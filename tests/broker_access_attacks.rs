//! Access control under attack, beyond `tests/broker_access.rs`: rule
//! changes while messages are queued, wills published after their rules
//! changed, reloads that remove a user or change a password, `$SYS` wills,
//! strict client ids with bridges and assigned ids, rate buckets near their
//! limits, patterns inside a level, and a randomised check that the
//! SUBSCRIBE-time answers agree with the per-message check. Found by an
//! independent review (the `fN_` prefixes are its finding numbers).

mod sim;
use sim::*;

use tabmq::broker::{
    hash_password, Access, Acl, BridgeConfig, Config, ConnId, Passwords, TopicMap,
};
use tabmq::codec::{Connect, Packet, Will};

fn passwords(users: &[(&str, &[u8])]) -> Passwords {
    let text: String = users
        .iter()
        .map(|(u, p)| format!("{u}:{}\n", hash_password(p, b"0123456789ab", 2)))
        .collect();
    Passwords::parse(&text).unwrap()
}

fn cfg(acl: &str, users: &[(&str, &[u8])], allow_anonymous: Option<bool>) -> Config {
    Config {
        sys_interval_secs: 0,
        access: Access {
            passwords: (!users.is_empty()).then(|| passwords(users)),
            allow_anonymous,
            acl: (!acl.is_empty()).then(|| Acl::parse(acl).unwrap()),
        },
        ..Config::default()
    }
}

fn login(id: &str, user: Option<&str>, pw: Option<&[u8]>) -> Connect {
    let mut c = connect_packet(id, V5, true);
    c.username = user.map(str::to_owned);
    c.password = pw.map(bytes::Bytes::copy_from_slice);
    c
}

fn persistent(mut c: Connect) -> Connect {
    c.clean_start = false;
    c.properties.session_expiry_interval = Some(3600);
    c
}

fn accepted(s: &mut Sim, c: Connect) -> ConnId {
    match s.connect_with(c) {
        (conn, Packet::ConnAck(a)) if a.reason == ReasonCode::Success => conn,
        (_, other) => panic!("refused: {other:?}"),
    }
}

/// `Broker::set_access` (e9b45de added `now`).
fn reload(s: &mut Sim, access: Access) {
    let now = s.now;
    s.broker.set_access(access, now);
    s.drive();
}

fn topics(s: &mut Sim, conn: ConnId) -> Vec<String> {
    s.publishes(conn).into_iter().map(|p| p.topic).collect()
}

fn will(topic: &str, retain: bool) -> Option<Will> {
    Some(Will {
        topic: topic.into(),
        payload: bytes::Bytes::from_static(b"forged"),
        qos: QoS::AtLeastOnce,
        retain,
        properties: Default::default(),
    })
}

// ---- F1: a will bypasses "clients never publish to $SYS" ----

/// `inbound.rs` refuses every client PUBLISH to `$SYS` whatever the ACL
/// says (the `nobody_publishes_to_sys` test); `will_refusal` in
/// `connect.rs` checks only the ACL and the hook, so the same client gets
/// the same message out as its will. Mosquitto's `acl__check_dollar`
/// refuses $SYS writes for wills too. (Failed at 509c75d; fixed by e9b45de,
/// committed during the review.)
#[test]
fn f1_a_will_to_sys_is_refused_like_a_publish_with_an_acl() {
    let mut s = Sim::new(cfg(
        "topic readwrite $SYS/#\ntopic readwrite #\n",
        &[],
        None,
    ));
    let mut c = login("w", None, None);
    c.will = will("$SYS/broker/uptime", true);
    let (_, ack) = s.connect_with(c);
    match ack {
        Packet::ConnAck(a) => assert_eq!(a.reason, ReasonCode::NotAuthorized),
        other => panic!("{other:?}"),
    }
}

#[test]
fn f1_a_will_to_sys_is_never_published_without_an_acl() {
    let mut s = Sim::new(cfg("", &[], None));
    let watcher = s.connect("watcher", V5, true);
    s.subscribe(watcher, "$SYS/broker/#", QoS::AtLeastOnce);
    s.recv_all(watcher);
    let mut c = login("w", None, None);
    c.will = will("$SYS/broker/uptime", true);
    let (attacker, _) = s.connect_with(c);
    s.drop_conn(attacker); // abnormal end: the will goes out
    assert!(
        topics(&mut s, watcher).is_empty(),
        "a client's will forged $SYS/broker/uptime"
    );
}

// ---- F2: messages queued before a rule change are delivered unchecked ----

/// Read access is "checked for each delivered message", but only in
/// `route`: a message queued for an offline session (or waiting behind a
/// full window) while the rules allowed it is sent on resume after the
/// rules took the topic away. Mosquitto runs `connection_check_acl` over
/// every queued and in-flight message on reconnect.
#[test]
fn f2_messages_queued_before_a_rule_change_are_checked_again() {
    let acl = "user alice\ntopic readwrite alice/#\nuser bob\ntopic write alice/#\n";
    let users: &[(&str, &[u8])] = &[("alice", b"a"), ("bob", b"b")];
    let mut s = Sim::new(cfg(acl, users, None));
    let phone = persistent(login("phone", Some("alice"), Some(b"a")));
    let a = accepted(&mut s, phone.clone());
    s.subscribe(a, "alice/#", QoS::AtLeastOnce);
    s.drop_conn(a);
    let b = accepted(&mut s, login("b", Some("bob"), Some(b"b")));
    s.publish(b, "alice/payroll", b"secret", QoS::AtLeastOnce, false, 1);
    // The administrator takes alice/payroll away from alice (SIGHUP).
    let mut access = s.broker.config().access.clone();
    access.acl = Some(Acl::parse(&format!("{acl}user alice\ntopic deny alice/payroll\n")).unwrap());
    reload(&mut s, access);
    let a = accepted(&mut s, phone);
    assert_eq!(
        topics(&mut s, a),
        Vec::<String>::new(),
        "alice got a message she may no longer read"
    );
}

// ---- F3: a reload does not cut off revoked users ----

/// At 509c75d `set_access` kept every connection (the first and last
/// test here failed there; e9b45de fixes them). Mosquitto's
/// `mosquitto_security_apply_default` (run on SIGHUP) disconnects
/// anonymous clients once `allow_anonymous` is false and users whose
/// credentials no longer check, so deleting a user from the password file
/// and reloading takes effect at once there, not here.
#[test]
fn f3_a_user_removed_from_the_password_file_is_disconnected_on_reload() {
    let users: &[(&str, &[u8])] = &[("alice", b"a"), ("eve", b"e")];
    let mut s = Sim::new(cfg("", users, None));
    let eve = accepted(&mut s, login("e", Some("eve"), Some(b"e")));
    let mut access = s.broker.config().access.clone();
    access.passwords = Some(passwords(&[("alice", b"a")]));
    reload(&mut s, access);
    s.drive();
    assert!(s.is_closed(eve), "eve's credentials were revoked");
}

/// Mosquitto keeps the CONNECT's password and checks it again on reload,
/// so changing a leaked password cuts off whoever logged in with it.
/// (e9b45de's `still_admits` checks only that the user still exists.)
#[test]
fn f3_a_user_whose_password_changed_is_disconnected_on_reload() {
    let mut s = Sim::new(cfg("", &[("eve", b"leaked")], None));
    let eve = accepted(&mut s, login("e", Some("eve"), Some(b"leaked")));
    let mut access = s.broker.config().access.clone();
    access.passwords = Some(passwords(&[("eve", b"rotated")]));
    reload(&mut s, access);
    assert!(s.is_closed(eve), "eve's password was changed");
}

#[test]
fn f3_anonymous_clients_are_disconnected_when_anonymous_access_is_turned_off() {
    let mut s = Sim::new(cfg("", &[], None));
    let anon = s.connect("anon", V5, true);
    let mut access = s.broker.config().access.clone();
    access.allow_anonymous = Some(false);
    reload(&mut s, access);
    s.drive();
    assert!(s.is_closed(anon), "anonymous access was turned off");
}

// ---- F4: a will is checked at CONNECT only ----

/// Mosquitto's `context__send_will` checks the will topic's write access
/// again when it sends it; tabmq checks it at CONNECT only, so a client
/// whose write access was taken away still publishes there by dropping.
#[test]
fn f4_a_will_is_checked_again_when_it_is_published() {
    let acl = "user alice\ntopic read #\nuser bob\ntopic readwrite bob/#\n";
    let users: &[(&str, &[u8])] = &[("alice", b"a"), ("bob", b"b")];
    let mut s = Sim::new(cfg(acl, users, None));
    let a = accepted(&mut s, login("a", Some("alice"), Some(b"a")));
    s.subscribe(a, "bob/#", QoS::AtLeastOnce);
    let mut c = login("b", Some("bob"), Some(b"b"));
    c.will = will("bob/status", false);
    let b = accepted(&mut s, c);
    let mut access = s.broker.config().access.clone();
    access.acl =
        Some(Acl::parse("user alice\ntopic read #\nuser bob\ntopic read bob/#\n").unwrap());
    reload(&mut s, access);
    s.drop_conn(b);
    assert!(
        topics(&mut s, a).is_empty(),
        "bob no longer may write bob/status"
    );
}

// ---- F5: strictClientIds refuses the broker's own bridge sessions ----

/// `check_client_id` runs for internal connections too, and a bridge's
/// local session id is `$bridge/<name>`: with `strict_client_ids` every
/// bridge is refused locally ("the broker refused the bridge's session").
#[test]
fn f5_strict_client_ids_do_not_refuse_bridge_sessions() {
    let mut bridge = BridgeConfig::new("cloud", "mqtt://b.example:1883");
    bridge.out.push(TopicMap {
        filter: "dev/#".into(),
        qos: QoS::AtLeastOnce,
        local_prefix: String::new(),
        remote_prefix: "site1/".into(),
    });
    let mut s = Sim::new(Config {
        bridges: vec![bridge],
        strict_client_ids: true,
        ..cfg("", &[], None)
    });
    s.advance(100);
    let view = &s.broker.stats(s.now).bridges[0];
    assert_eq!(view.last_error, None, "{view:?}");
    let c = s.connect("dev1", V5, true);
    s.publish(c, "dev/x", b"1", QoS::AtLeastOnce, false, 1);
    assert_eq!(
        s.broker.stats(s.now).bridges[0].queued,
        1,
        "kept for the remote"
    );
}

// ---- F6: the byte-rate bucket overflows ----

/// `Bucket::refill` does `milli_tokens + rate.saturating_mul(ms)`: with a
/// `publishByteRate` the limits table allows (up to 2^53 - 1), a pause of a
/// few seconds saturates the product and the addition overflows (a panic
/// in debug builds, a wrap in release).
#[test]
fn f6_a_large_byte_rate_does_not_overflow_after_a_pause() {
    let mut s = Sim::new(Config {
        publish_byte_rate: Some((1 << 53) - 1),
        ..cfg("", &[], None)
    });
    let c = s.connect("c", V5, true);
    s.publish(c, "t", b"x", QoS::AtMostOnce, false, 0);
    s.advance(5_000);
    s.publish(c, "t", b"x", QoS::AtMostOnce, false, 0);
    assert!(!s.is_closed(c));
}

// ---- F7 (Mosquitto compatibility): %c/%u inside a level ----

/// Mosquitto 2.x substitutes `%c`/`%u` only when it is the whole level
/// ("The substitution pattern must be the only text for that level of
/// hierarchy"); `acl.rs` `substitute` replaces it anywhere, so an ACL file
/// carried over from Mosquitto grants more here.
#[test]
fn f7_a_pattern_inside_a_level_is_not_substituted() {
    let acl = Acl::parse("pattern readwrite dev/%c-cmd/#\n").unwrap();
    let c = acl.resolve("lamp", None);
    assert!(
        !c.allows("dev/lamp-cmd/on", 2 /* WRITE, not exported */),
        "Mosquitto would not grant this"
    );
}

// ---- soundness of the per-subscription shortcut (passes) ----

/// `reads_all` lets deliveries skip the read check; `may_subscribe`
/// refuses filters. Brute force over a small universe: `reads_all(f)`
/// must imply every topic `f` matches is readable, and a topic readable
/// through `f` must make `may_subscribe(f)` true.
#[test]
fn reads_all_and_may_subscribe_agree_with_allows() {
    use tabmq::codec::topic::filter_matches;
    let levels = ["a", "b", "$S"];
    let mut topics: Vec<String> = Vec::new();
    for x in levels {
        topics.push(x.into());
        for y in ["a", "b", ""] {
            topics.push(format!("{x}/{y}"));
            for z in ["a", "b"] {
                topics.push(format!("{x}/{y}/{z}"));
            }
        }
    }
    let mut filters: Vec<String> = vec!["#".into(), "+".into()];
    for x in ["a", "$S", "+"] {
        filters.push(x.into());
        for y in ["a", "+", "#", ""] {
            filters.push(format!("{x}/{y}"));
            if y != "#" {
                for z in ["a", "+", "#"] {
                    filters.push(format!("{x}/{y}/{z}"));
                }
            }
        }
    }
    // Pseudo-random rule sets, deterministic.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for _ in 0..3_000 {
        let mut text = String::new();
        for _ in 0..(1 + next(4)) {
            let access = ["read", "write", "readwrite", "deny"][next(4)];
            text.push_str(&format!(
                "topic {access} {}\n",
                filters[next(filters.len())]
            ));
        }
        let c = Acl::parse(&text).unwrap().resolve("c", None);
        for f in &filters {
            let matching: Vec<&String> = topics.iter().filter(|t| filter_matches(f, t)).collect();
            let readable = matching.iter().any(|t| c.allows(t, 1));
            if c.reads_all(f) {
                for t in &matching {
                    assert!(c.allows(t, 1), "reads_all({f}) but {t} unreadable:\n{text}");
                }
            }
            if readable {
                assert!(
                    c.may_subscribe(f),
                    "{f} reads something but is refused:\n{text}"
                );
            }
        }
    }
}

// ---- F9: strictClientIds refuses the ids the broker assigns ----

/// An id the broker assigned (letters and digits only) is accepted back by
/// `strict_client_ids` when the client resumes the session it was given
/// (MQTT 5, empty id, Clean Start 0).
#[test]
fn f9_an_assigned_client_id_can_resume_under_strict_client_ids() {
    let mut s = Sim::new(Config {
        strict_client_ids: true,
        ..cfg("", &[], None)
    });
    let first = persistent(connect_packet("", V5, false));
    let assigned = match s.connect_with(first) {
        (conn, Packet::ConnAck(a)) => {
            s.drop_conn(conn);
            a.properties.assigned_client_identifier.expect("assigned")
        }
        (_, other) => panic!("{other:?}"),
    };
    let again = persistent(connect_packet(&assigned, V5, false));
    match s.connect_with(again) {
        (_, Packet::ConnAck(a)) => {
            assert_eq!(a.reason, ReasonCode::Success, "{assigned} refused");
            assert!(a.session_present);
        }
        (_, other) => panic!("{other:?}"),
    }
}
