//! Will messages: when they are published and when not, with their QoS,
//! retain flag, properties and (MQTT 5) delay, driven through the
//! deterministic simulator.
//!
//! Numbers are those of the OASIS standards: "v5" means MQTT 5.0, "v311"
//! MQTT 3.1.1; where the two number a rule differently both are given.

mod sim;
use sim::*;

use bytes::Bytes;
use tabmq::broker::{ClientInfo, Config, ConnId, Hooks};
use tabmq::codec::{Connect, Disconnect, Packet, Properties, ProtocolVersion, Publish, Will};

fn cfg() -> Config {
    Config {
        sys_interval_secs: 0,
        ..Config::default()
    }
}

fn sim() -> Sim {
    Sim::new(cfg())
}

fn will(topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Will {
    Will {
        topic: topic.into(),
        payload: Bytes::copy_from_slice(payload),
        qos,
        retain,
        properties: Properties::default(),
    }
}

/// A CONNECT with a will; MQTT 5 ones get the session expiry given.
fn with_will(id: &str, version: ProtocolVersion, w: Will) -> Connect {
    let mut c = connect_packet(id, version, true);
    c.will = Some(w);
    c
}

fn v5_will_connect(id: &str, w: Will, delay: Option<u32>, expiry: Option<u32>) -> Connect {
    let mut w = w;
    w.properties.will_delay_interval = delay;
    let mut c = with_will(id, V5, w);
    c.properties.session_expiry_interval = expiry;
    c
}

fn accepted(s: &mut Sim, c: Connect) -> ConnId {
    let id = c.client_id.clone();
    match s.connect_with(c) {
        (conn, Packet::ConnAck(a)) if a.reason == ReasonCode::Success => conn,
        (_, other) => panic!("CONNECT of {id} refused: {other:?}"),
    }
}

/// A connected subscriber to `filter` at `qos`.
fn watcher(s: &mut Sim, version: ProtocolVersion, filter: &str, qos: QoS) -> ConnId {
    let id = format!("watcher-{}", s.clients.len());
    let c = s.connect(&id, version, true);
    s.subscribe(c, filter, qos);
    c
}

fn payloads(got: &[Publish]) -> Vec<&[u8]> {
    got.iter().map(|p| &p.payload[..]).collect()
}

fn disconnect(reason: ReasonCode) -> Packet {
    Packet::Disconnect(Disconnect::new(reason))
}

// ---------------------------------------------------------------------------
// When the will is published
// ---------------------------------------------------------------------------

/// v5 [MQTT-3.1.2-8], v311 [MQTT-3.1.2-8]: the network connection is lost
/// without DISCONNECT: the will is published.
#[test]
fn will_published_on_network_drop() {
    for version in [V5, V311] {
        let mut s = sim();
        let w = watcher(&mut s, version, "status/#", QoS::AtLeastOnce);
        let c = accepted(
            &mut s,
            with_will(
                "dev",
                version,
                will("status/dev", b"gone", QoS::AtMostOnce, false),
            ),
        );
        assert!(s.publishes(w).is_empty());
        s.drop_conn(c);
        let got = s.publishes(w);
        assert_eq!(payloads(&got), [b"gone"], "{version:?}");
        assert_eq!(got[0].topic, "status/dev");
    }
}

/// MQTT 3.1 ("MQIsdp") has wills too.
#[test]
fn v31_will_published_on_network_drop() {
    let mut s = sim();
    let w = watcher(&mut s, V311, "status/#", QoS::AtMostOnce);
    let c = accepted(
        &mut s,
        with_will(
            "old",
            ProtocolVersion::V3_1,
            will("status/old", b"bye", QoS::AtMostOnce, false),
        ),
    );
    s.drop_conn(c);
    assert_eq!(payloads(&s.publishes(w)), [b"bye"]);
}

/// v5 [MQTT-3.1.2-22] / v311 [MQTT-3.1.2-24] with 3.1.2.5: the client fails
/// to communicate within 1.5 times the Keep Alive: the will is published.
#[test]
fn will_published_on_keep_alive_timeout() {
    for version in [V5, V311] {
        let mut s = sim();
        let w = watcher(&mut s, version, "status/#", QoS::AtMostOnce);
        let mut c = with_will(
            "sleepy",
            version,
            will("status/sleepy", b"timeout", QoS::AtMostOnce, false),
        );
        c.keep_alive = 2;
        let c = accepted(&mut s, c);
        // The watcher has no keep alive; only "sleepy" times out.
        s.advance(2_999);
        assert!(s.publishes(w).is_empty(), "{version:?}");
        s.advance(1);
        assert!(s.is_closed(c));
        assert_eq!(payloads(&s.publishes(w)), [b"timeout"], "{version:?}");
    }
}

/// v5 3.1.2.5 ("the Server closes the Network Connection without first
/// receiving a DISCONNECT packet with Reason Code 0x00"), v311 3.1.2.5 ("the
/// Server closes the Network Connection because of a protocol error"):
/// malformed input publishes the will.
#[test]
fn will_published_on_protocol_error() {
    for version in [V5, V311] {
        let mut s = sim();
        let w = watcher(&mut s, version, "status/#", QoS::AtMostOnce);
        let c = accepted(
            &mut s,
            with_will(
                "rude",
                version,
                will("status/rude", b"broken", QoS::AtMostOnce, false),
            ),
        );
        // PUBLISH with QoS 3 [MQTT-3.3.1-4].
        s.send_raw(c, &[0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01]);
        assert!(s.is_closed(c));
        assert_eq!(payloads(&s.publishes(w)), [b"broken"], "{version:?}");
    }
}

/// [MQTT-3.1.0-2] with 3.1.2.5: a second CONNECT is a protocol violation;
/// the connection is closed and the will published.
#[test]
fn will_published_on_second_connect() {
    for version in [V5, V311] {
        let mut s = sim();
        let w = watcher(&mut s, version, "status/#", QoS::AtMostOnce);
        let c = accepted(
            &mut s,
            with_will(
                "twice",
                version,
                will("status/twice", b"again", QoS::AtMostOnce, false),
            ),
        );
        s.send(
            c,
            Packet::Connect(Box::new(connect_packet("twice", version, true))),
        );
        assert!(s.is_closed(c));
        assert_eq!(payloads(&s.publishes(w)), [b"again"], "{version:?}");
    }
}

/// v5 [MQTT-3.1.4-3] ("If the existing Client has a Will Message, that Will
/// Message is published"), v311 [MQTT-3.1.4-2]: takeover publishes the will
/// of the connection taken over.
#[test]
fn will_published_on_takeover() {
    for version in [V5, V311] {
        let mut s = sim();
        let w = watcher(&mut s, version, "status/#", QoS::AtMostOnce);
        let old = accepted(
            &mut s,
            with_will(
                "dup",
                version,
                will("status/dup", b"old one", QoS::AtMostOnce, false),
            ),
        );
        let new = s.connect("dup", version, true);
        assert!(s.is_closed(old));
        assert!(!s.is_closed(new));
        assert_eq!(payloads(&s.publishes(w)), [b"old one"], "{version:?}");
        // The new connection has no will: its drop publishes nothing.
        s.drop_conn(new);
        assert!(s.publishes(w).is_empty());
    }
}

/// v5 [MQTT-3.14.4-3], [MQTT-3.1.2-10]; v311 [MQTT-3.14.4-3],
/// [MQTT-3.1.2-10]: after a normal DISCONNECT the will is discarded, and it
/// is not published when the socket then closes.
#[test]
fn will_not_published_after_normal_disconnect() {
    for version in [V5, V311] {
        let mut s = sim();
        let w = watcher(&mut s, version, "status/#", QoS::AtMostOnce);
        let c = accepted(
            &mut s,
            with_will(
                "polite",
                version,
                will("status/polite", b"x", QoS::AtLeastOnce, true),
            ),
        );
        s.send(c, disconnect(ReasonCode::Success));
        assert!(s.is_closed(c));
        s.drop_conn(c);
        s.advance(3_600_000);
        assert!(s.publishes(w).is_empty(), "{version:?}");
        assert_eq!(s.broker.stats(s.now).retained, 0);
    }
}

/// v5 3.14.2.1, [MQTT-3.1.2-8]: DISCONNECT 0x04 (Disconnect with Will
/// Message) publishes the will.
#[test]
fn v5_will_published_for_disconnect_0x04() {
    let mut s = sim();
    let w = watcher(&mut s, V5, "status/#", QoS::AtMostOnce);
    let c = accepted(
        &mut s,
        with_will(
            "leaving",
            V5,
            will("status/leaving", b"asked for", QoS::AtMostOnce, false),
        ),
    );
    s.send(c, disconnect(ReasonCode::DisconnectWithWillMessage));
    assert!(s.is_closed(c));
    assert_eq!(payloads(&s.publishes(w)), [b"asked for"]);
}

/// v5 [MQTT-3.1.2-8], [MQTT-3.14.4-3]: only Reason Code 0x00 discards the
/// will; a DISCONNECT with an error reason (here 0x80) publishes it.
#[test]
fn v5_will_published_for_disconnect_with_error_reason() {
    let mut s = sim();
    let w = watcher(&mut s, V5, "status/#", QoS::AtMostOnce);
    let c = accepted(
        &mut s,
        with_will(
            "failing",
            V5,
            will("status/failing", b"error", QoS::AtMostOnce, false),
        ),
    );
    s.send(c, disconnect(ReasonCode::UnspecifiedError));
    assert!(s.is_closed(c));
    assert_eq!(payloads(&s.publishes(w)), [b"error"]);
}

/// v5 3.14.2.2.2: a DISCONNECT setting a Session Expiry Interval after 0 in
/// CONNECT is not a valid DISCONNECT (Protocol Error), so the will is not
/// discarded but published.
#[test]
fn v5_will_published_when_disconnect_is_a_protocol_error() {
    let mut s = sim();
    let w = watcher(&mut s, V5, "status/#", QoS::AtMostOnce);
    let c = accepted(
        &mut s,
        with_will(
            "bad-bye",
            V5,
            will("status/bad", b"invalid", QoS::AtMostOnce, false),
        ),
    );
    let mut d = Disconnect::new(ReasonCode::Success);
    d.properties.session_expiry_interval = Some(60);
    s.send(c, Packet::Disconnect(d));
    assert!(s.is_closed(c));
    assert_eq!(payloads(&s.publishes(w)), [b"invalid"]);
}

/// [MQTT-3.1.2-10] (both): once published the will is gone; a later close
/// of the same session's next connection (without a will) publishes nothing.
#[test]
fn will_published_only_once() {
    for version in [V5, V311] {
        let mut s = sim();
        let w = watcher(&mut s, version, "status/#", QoS::AtMostOnce);
        let mut first = with_will(
            "once",
            version,
            will("status/once", b"1", QoS::AtMostOnce, false),
        );
        first.clean_start = false;
        first.properties.session_expiry_interval = version.is_v5().then_some(600);
        let c = accepted(&mut s, first);
        s.drop_conn(c);
        assert_eq!(s.publishes(w).len(), 1);
        let mut again = connect_packet("once", version, false);
        again.properties.session_expiry_interval = version.is_v5().then_some(600);
        let c = accepted(&mut s, again);
        s.drop_conn(c);
        s.advance(700_000);
        assert!(s.publishes(w).is_empty(), "{version:?}");
    }
}

/// [MQTT-3.1.2-12] (v5) / [MQTT-3.1.2-12 region] (v311): no Will Flag, no
/// will; and a refused CONNECT never publishes its will.
#[test]
fn no_will_for_refused_connect() {
    let mut s = Sim::new(Config {
        max_connections: 2,
        ..cfg()
    });
    let w = watcher(&mut s, V5, "status/#", QoS::AtMostOnce);
    let _other = s.connect("other", V5, true);
    let (c, ack) = s.connect_with(with_will(
        "late",
        V5,
        will("status/late", b"x", QoS::AtMostOnce, false),
    ));
    assert!(matches!(ack, Packet::ConnAck(a) if a.reason == ReasonCode::QuotaExceeded));
    assert!(s.is_closed(c));
    assert!(s.publishes(w).is_empty());
}

// ---------------------------------------------------------------------------
// QoS, retain and properties of the will
// ---------------------------------------------------------------------------

/// v5 3.1.2.6 / v311 3.1.2.6 with [MQTT-3.8.4-8] (v5) / [MQTT-3.8.4-6]
/// (v311): the will is published at its Will QoS, delivered at the lower of
/// that and the subscription's QoS.
#[test]
fn will_qos_honoured() {
    for version in [V5, V311] {
        let mut s = sim();
        let w2 = watcher(&mut s, version, "status/#", QoS::ExactlyOnce);
        let w1 = watcher(&mut s, version, "status/#", QoS::AtLeastOnce);
        let w0 = watcher(&mut s, version, "status/#", QoS::AtMostOnce);
        let c = accepted(
            &mut s,
            with_will(
                "q",
                version,
                will("status/q", b"qos2", QoS::ExactlyOnce, false),
            ),
        );
        s.drop_conn(c);
        let (g2, g1, g0) = (s.publishes(w2), s.publishes(w1), s.publishes(w0));
        assert_eq!(g2[0].qos, QoS::ExactlyOnce, "{version:?}");
        assert_eq!(g1[0].qos, QoS::AtLeastOnce, "{version:?}");
        assert_eq!(g0[0].qos, QoS::AtMostOnce, "{version:?}");

        let c = accepted(
            &mut s,
            with_will(
                "q1",
                version,
                will("status/q1", b"qos1", QoS::AtLeastOnce, false),
            ),
        );
        s.drop_conn(c);
        assert_eq!(s.publishes(w2)[0].qos, QoS::AtLeastOnce, "{version:?}");
    }
}

/// A QoS 1 will for an offline persistent subscriber is queued like any
/// QoS 1 message and delivered when it returns.
#[test]
fn will_queued_for_offline_persistent_subscriber() {
    for version in [V5, V311] {
        let mut s = sim();
        let mut sub = connect_packet("sub", version, false);
        sub.properties.session_expiry_interval = version.is_v5().then_some(600);
        let c = accepted(&mut s, sub.clone());
        s.subscribe(c, "status/#", QoS::AtLeastOnce);
        s.drop_conn(c);
        let d = accepted(
            &mut s,
            with_will(
                "dev",
                version,
                will("status/dev", b"later", QoS::AtLeastOnce, false),
            ),
        );
        s.drop_conn(d);
        let c = accepted(&mut s, sub);
        let got = s.publishes(c);
        assert_eq!(payloads(&got), [b"later"], "{version:?}");
        assert_eq!(got[0].qos, QoS::AtLeastOnce);
    }
}

/// v5 [MQTT-3.1.2-15] / v311 [MQTT-3.1.2-17]: Will Retain 1 publishes the
/// will as a retained message: later subscribers get it with RETAIN set.
#[test]
fn will_retain_becomes_retained_message() {
    for version in [V5, V311] {
        let mut s = sim();
        let c = accepted(
            &mut s,
            with_will(
                "r",
                version,
                will("status/r", b"offline", QoS::AtLeastOnce, true),
            ),
        );
        s.drop_conn(c);
        assert_eq!(s.broker.stats(s.now).retained, 1);
        let late = s.connect("late", version, true);
        s.subscribe(late, "status/#", QoS::AtLeastOnce);
        let got = s.publishes(late);
        assert_eq!(payloads(&got), [b"offline"], "{version:?}");
        assert!(got[0].retain);
        assert_eq!(got[0].qos, QoS::AtLeastOnce);
    }
}

/// v5 [MQTT-3.1.2-14] / v311 [MQTT-3.1.2-16]: Will Retain 0 publishes a
/// non-retained message and leaves an existing retained message alone.
#[test]
fn will_retain_0_is_not_retained() {
    for version in [V5, V311] {
        let mut s = sim();
        let p = s.connect("p", version, true);
        s.publish(p, "status/n", b"online", QoS::AtMostOnce, true, 0);
        let c = accepted(
            &mut s,
            with_will(
                "n",
                version,
                will("status/n", b"offline", QoS::AtMostOnce, false),
            ),
        );
        s.drop_conn(c);
        let late = s.connect("late", version, true);
        s.subscribe(late, "status/#", QoS::AtLeastOnce);
        assert_eq!(payloads(&s.publishes(late)), [b"online"], "{version:?}");
    }
}

/// v5 [MQTT-3.2.2-13]: a will with Will Retain 1 when retained messages are
/// not available is refused with CONNACK 0x9A.
#[test]
fn v5_retained_will_refused_when_retain_unavailable() {
    let mut s = Sim::new(Config {
        retain_available: false,
        ..cfg()
    });
    let (c, ack) = s.connect_with(with_will(
        "r",
        V5,
        will("status/r", b"x", QoS::AtMostOnce, true),
    ));
    match ack {
        Packet::ConnAck(a) => assert_eq!(a.reason, ReasonCode::RetainNotSupported),
        other => panic!("{other:?}"),
    }
    assert!(s.is_closed(c));
    // A non-retained will is fine.
    let (c, ack) = s.connect_with(with_will(
        "n",
        V5,
        will("status/n", b"x", QoS::AtMostOnce, false),
    ));
    assert!(matches!(ack, Packet::ConnAck(a) if a.reason == ReasonCode::Success));
    assert!(!s.is_closed(c));
}

/// v5 3.1.3.2.3-3.1.3.2.8, [MQTT-3.1.3-10]: the will properties are sent
/// with the will: payload format, content type, response topic,
/// correlation data, user properties in order, message expiry.
#[test]
fn v5_will_properties_carried() {
    let mut s = sim();
    let w = watcher(&mut s, V5, "status/#", QoS::AtLeastOnce);
    let mut wl = will("status/p", b"{\"up\":false}", QoS::AtLeastOnce, false);
    wl.properties = Properties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(120),
        content_type: Some("application/json".into()),
        response_topic: Some("reply/here".into()),
        correlation_data: Some(Bytes::from_static(b"\x00corr\xff")),
        user_properties: vec![
            ("z".into(), "1".into()),
            ("a".into(), "2".into()),
            ("z".into(), "3".into()),
        ],
        ..Properties::default()
    };
    let c = accepted(&mut s, with_will("p", V5, wl));
    s.drop_conn(c);
    let got = s.publishes(w);
    assert_eq!(got.len(), 1);
    let p = &got[0].properties;
    assert_eq!(p.payload_format_indicator, Some(1));
    assert_eq!(p.message_expiry_interval, Some(120));
    assert_eq!(p.content_type.as_deref(), Some("application/json"));
    assert_eq!(p.response_topic.as_deref(), Some("reply/here"));
    assert_eq!(p.correlation_data.as_deref(), Some(&b"\x00corr\xff"[..]));
    let users: Vec<(&str, &str)> = p
        .user_properties
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(users, [("z", "1"), ("a", "2"), ("z", "3")]);
    assert_eq!(
        p.will_delay_interval, None,
        "Will Delay is not a PUBLISH property"
    );
}

/// v311: a will published to a 3.1.1 subscriber from a 5.0 client carries no
/// properties (3.1.1 has none) and still arrives.
#[test]
fn v5_will_with_properties_reaches_v311_subscriber() {
    let mut s = sim();
    let w = watcher(&mut s, V311, "status/#", QoS::AtLeastOnce);
    let mut wl = will("status/x", b"gone", QoS::AtLeastOnce, false);
    wl.properties.content_type = Some("text/plain".into());
    wl.properties.user_properties = vec![("k".into(), "v".into())];
    let c = accepted(&mut s, with_will("x", V5, wl));
    s.drop_conn(c);
    assert_eq!(payloads(&s.publishes(w)), [b"gone"]);
}

/// v5 3.1.3.2.4: the will's Message Expiry Interval is its lifetime from
/// when the server publishes it, not from CONNECT.
#[test]
fn v5_will_message_expiry_counts_from_publication() {
    let mut s = sim();
    let w = watcher(&mut s, V5, "status/#", QoS::AtLeastOnce);
    let mut wl = will("status/e", b"late news", QoS::AtLeastOnce, true);
    wl.properties.message_expiry_interval = Some(60);
    let c = accepted(&mut s, with_will("e", V5, wl));
    s.advance(3_600_000); // connected for an hour, far longer than 60 s
    s.drop_conn(c);
    let got = s.publishes(w);
    assert_eq!(payloads(&got), [b"late news"]);
    assert_eq!(got[0].properties.message_expiry_interval, Some(60));
    // [MQTT-3.3.2-6]: a retained copy carries what remains, then expires.
    s.advance(20_000);
    let late = s.connect("late", V5, true);
    s.subscribe(late, "status/#", QoS::AtLeastOnce);
    let got = s.publishes(late);
    assert_eq!(got[0].properties.message_expiry_interval, Some(40));
    s.advance(40_000);
    let later = s.connect("later", V5, true);
    s.subscribe(later, "status/#", QoS::AtLeastOnce);
    assert!(s.publishes(later).is_empty(), "expired");
}

// ---------------------------------------------------------------------------
// Will Delay Interval (MQTT 5)
// ---------------------------------------------------------------------------

/// v5 3.1.3.2.2, [MQTT-3.1.2-8]: with a Will Delay Interval the will is
/// published when the delay has passed after the close.
#[test]
fn v5_will_delay_publishes_after_the_delay() {
    let mut s = sim();
    let w = watcher(&mut s, V5, "status/#", QoS::AtMostOnce);
    let c = accepted(
        &mut s,
        v5_will_connect(
            "d",
            will("status/d", b"delayed", QoS::AtMostOnce, false),
            Some(30),
            Some(300),
        ),
    );
    s.drop_conn(c);
    s.advance(29_999);
    assert!(s.publishes(w).is_empty());
    s.advance(1);
    assert_eq!(payloads(&s.publishes(w)), [b"delayed"]);
    // The session itself lives on until its own expiry.
    assert!(s.broker.client_ids().any(|id| id == "d"));
}

/// v5 [MQTT-3.1.3-9]: a new connection to the session before the delay has
/// passed means the will is not sent at all.
#[test]
fn v5_will_delay_not_published_if_client_reconnects() {
    let mut s = sim();
    let w = watcher(&mut s, V5, "status/#", QoS::AtMostOnce);
    let c = accepted(
        &mut s,
        v5_will_connect(
            "d",
            will("status/d", b"delayed", QoS::AtMostOnce, false),
            Some(30),
            Some(300),
        ),
    );
    s.drop_conn(c);
    s.advance(20_000);
    let mut back = connect_packet("d", V5, false);
    back.properties.session_expiry_interval = Some(300);
    let (c, ack) = s.connect_with(back);
    assert!(matches!(ack, Packet::ConnAck(a) if a.session_present));
    s.advance(600_000);
    assert!(s.publishes(w).is_empty());
    assert!(!s.is_closed(c));
}

/// v5 3.1.3.2.2: the will is published when the session ends, if that comes
/// before the delay.
#[test]
fn v5_will_published_at_session_end_before_delay() {
    let mut s = sim();
    let w = watcher(&mut s, V5, "status/#", QoS::AtMostOnce);
    let c = accepted(
        &mut s,
        v5_will_connect(
            "d",
            will("status/d", b"session over", QoS::AtMostOnce, false),
            Some(3600),
            Some(10),
        ),
    );
    s.drop_conn(c);
    s.advance(9_999);
    assert!(s.publishes(w).is_empty());
    s.advance(1);
    assert_eq!(payloads(&s.publishes(w)), [b"session over"]);
    assert_eq!(s.broker.client_ids().filter(|id| *id == "d").count(), 0);
}

/// v5 3.1.3.2.2 with 3.1.2.11.2: with Session Expiry 0 the session ends at
/// the close, so a delayed will is published at once.
#[test]
fn v5_will_delay_with_session_expiry_0_publishes_at_once() {
    let mut s = sim();
    let w = watcher(&mut s, V5, "status/#", QoS::AtMostOnce);
    let c = accepted(
        &mut s,
        v5_will_connect(
            "d",
            will("status/d", b"now", QoS::AtMostOnce, false),
            Some(60),
            None,
        ),
    );
    s.drop_conn(c);
    assert_eq!(payloads(&s.publishes(w)), [b"now"]);
}

/// v5 3.1.2.5 (non-normative): Will Delay longer than Session Expiry and
/// DISCONNECT 0x04 notify that the session expired.
#[test]
fn v5_disconnect_0x04_with_delay_notifies_session_expiry() {
    let mut s = sim();
    let w = watcher(&mut s, V5, "status/#", QoS::AtMostOnce);
    let c = accepted(
        &mut s,
        v5_will_connect(
            "d",
            will("status/d", b"expired", QoS::AtMostOnce, false),
            Some(u32::MAX),
            Some(5),
        ),
    );
    s.send(c, disconnect(ReasonCode::DisconnectWithWillMessage));
    s.advance(4_999);
    assert!(s.publishes(w).is_empty());
    s.advance(1);
    assert_eq!(payloads(&s.publishes(w)), [b"expired"]);
}

/// v5 3.1.4 (takeover, non-normative comment): a takeover with Clean Start 0
/// and a Will Delay > 0 does not publish the will (the session continues).
#[test]
fn v5_takeover_with_will_delay_and_clean_start_0_keeps_will_unpublished() {
    let mut s = sim();
    let w = watcher(&mut s, V5, "status/#", QoS::AtMostOnce);
    let old = accepted(
        &mut s,
        v5_will_connect(
            "d",
            will("status/d", b"no", QoS::AtMostOnce, false),
            Some(30),
            Some(300),
        ),
    );
    let mut again = connect_packet("d", V5, false);
    again.properties.session_expiry_interval = Some(300);
    let new = accepted(&mut s, again);
    assert!(s.is_closed(old));
    s.advance(600_000);
    assert!(s.publishes(w).is_empty());
    assert!(!s.is_closed(new));
}

/// v5 3.1.4 (takeover, non-normative comment): a takeover with Clean Start 1
/// ends the old session, so its will is published at once even with a delay.
#[test]
fn v5_takeover_with_clean_start_1_publishes_delayed_will() {
    let mut s = sim();
    let w = watcher(&mut s, V5, "status/#", QoS::AtMostOnce);
    let old = accepted(
        &mut s,
        v5_will_connect(
            "d",
            will("status/d", b"ended", QoS::AtMostOnce, false),
            Some(30),
            Some(300),
        ),
    );
    let new = s.connect("d", V5, true);
    assert!(s.is_closed(old));
    assert_eq!(payloads(&s.publishes(w)), [b"ended"]);
    s.advance(60_000);
    assert!(s.publishes(w).is_empty(), "published once");
    assert!(!s.is_closed(new));
}

/// v5 [MQTT-3.1.3-9]: the delay applies to each connection's own will: a
/// reconnect with a new will and a later drop waits for the new delay.
#[test]
fn v5_will_delay_uses_the_latest_connection_will() {
    let mut s = sim();
    let w = watcher(&mut s, V5, "status/#", QoS::AtMostOnce);
    let c = accepted(
        &mut s,
        v5_will_connect(
            "d",
            will("status/d", b"first", QoS::AtMostOnce, false),
            Some(30),
            Some(300),
        ),
    );
    s.drop_conn(c);
    s.advance(10_000);
    let mut second = v5_will_connect(
        "d",
        will("status/d", b"second", QoS::AtMostOnce, false),
        Some(5),
        Some(300),
    );
    second.clean_start = false;
    let c = accepted(&mut s, second);
    s.drop_conn(c);
    s.advance(4_999);
    assert!(s.publishes(w).is_empty());
    s.advance(1);
    assert_eq!(payloads(&s.publishes(w)), [b"second"]);
    s.advance(60_000);
    assert!(s.publishes(w).is_empty());
}

// ---------------------------------------------------------------------------
// Authorization of the will
// ---------------------------------------------------------------------------

struct DenyTopic(&'static str);

impl Hooks for DenyTopic {
    fn authorize_publish(&mut self, _: &ClientInfo, topic: &str, _: QoS, _: bool) -> bool {
        topic != self.0
    }
}

/// [MQTT-3.1.4-2] (both): authorization checks apply to the CONNECT: a will
/// on a topic the client may not publish to is refused (v5 CONNACK 0x87,
/// v311 return code 5), so a will cannot bypass the publish hook.
#[test]
fn will_on_unauthorized_topic_refused() {
    for version in [V5, V311] {
        let mut s = Sim::with_hooks(cfg(), Box::new(DenyTopic("admin/alarm")));
        let w = watcher(&mut s, version, "#", QoS::AtMostOnce);
        let (c, _) = s.connect_with(with_will(
            "x",
            version,
            will("admin/alarm", b"fake", QoS::AtMostOnce, false),
        ));
        assert!(s.is_closed(c));
        let raw = &s.clients[&c].raw;
        if version.is_v5() {
            assert_eq!(raw[..4], [0x20, 0x03, 0x00, 0x87]);
        } else {
            assert_eq!(raw[..], [0x20, 0x02, 0x00, 0x05]);
        }
        assert!(s.publishes(w).is_empty(), "{version:?}");
        // An allowed will topic is accepted.
        let c = accepted(
            &mut s,
            with_will(
                "y",
                version,
                will("status/y", b"ok", QoS::AtMostOnce, false),
            ),
        );
        s.drop_conn(c);
        assert_eq!(payloads(&s.publishes(w)), [b"ok"]);
    }
}

/// v5 3.1.2.5 ("In the case of a Server shutdown or failure, the Server MAY
/// defer publication of Will Messages until a subsequent restart"): a will
/// waiting for its delay survives a broker restart and is published when
/// the delay has passed.
#[test]
fn v5_delayed_will_survives_restart() {
    let mut s = sim();
    let mut sub = connect_packet("sub", V5, false);
    sub.properties.session_expiry_interval = Some(3600);
    let w = accepted(&mut s, sub.clone());
    s.subscribe(w, "status/#", QoS::AtLeastOnce);
    let c = accepted(
        &mut s,
        v5_will_connect(
            "d",
            will("status/d", b"after restart", QoS::AtLeastOnce, false),
            Some(30),
            Some(300),
        ),
    );
    s.drop_conn(c);
    s.advance(10_000);
    s.crash_and_restart();
    s.advance(20_000);
    let w = accepted(&mut s, sub);
    assert_eq!(payloads(&s.publishes(w)), [b"after restart"]);
}
