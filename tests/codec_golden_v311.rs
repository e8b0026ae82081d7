//! Golden byte vectors for MQTT 3.1.1 (and the MQTT 3.1 CONNECT), written by
//! hand from the OASIS MQTT Version 3.1.1 specification; section numbers and
//! [MQTT-x.x.x-y] statements below refer to it unless marked "v5". Each vector
//! is checked both ways, and every strict prefix must ask for more bytes.
//!
//! Also here, as they are common to both versions: the Remaining Length
//! encoding (2.2.3, table 2.4) and the topic functions of section 4.7.

use bytes::Bytes;
use std::num::NonZeroU16;
use tabmq::codec::topic::{
    check_topic_filter, check_topic_name, filter_matches, parse_shared, SharedFilter,
};
use tabmq::codec::{
    decode, ConnAck, Connect, DecodeError, Disconnect, Packet, PacketId, Properties,
    ProtocolVersion, PubResponse, Publish, QoS, ReasonCode, SubAck, Subscribe, Subscription,
    SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};

const V311: ProtocolVersion = ProtocolVersion::V3_1_1;

fn pid(n: u16) -> PacketId {
    NonZeroU16::new(n).unwrap()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn s(v: &str) -> String {
    v.to_owned()
}

/// Checks one golden vector both ways, and that no strict prefix of it is
/// either a packet or an error.
fn golden(bytes: &[u8], version: ProtocolVersion, expected: &Packet) {
    match decode(bytes, version, u32::MAX) {
        Ok(Some((packet, used))) => {
            assert_eq!(&packet, expected, "decoded packet differs");
            assert_eq!(used, bytes.len(), "decode did not consume the whole vector");
        }
        other => panic!("golden vector did not decode: {other:?}\n{bytes:02x?}"),
    }
    let enc_version = match expected {
        Packet::Connect(c) => c.protocol,
        _ => version,
    };
    let encoded = expected.to_bytes(enc_version).expect("encode");
    assert_eq!(
        encoded, bytes,
        "encoding differs\n got: {encoded:02x?}\nwant: {bytes:02x?}"
    );
    assert_eq!(expected.encoded_len(enc_version), Ok(bytes.len()));
    for n in 0..bytes.len() {
        assert_eq!(
            decode(&bytes[..n], version, u32::MAX),
            Ok(None),
            "prefix of {n} bytes did not ask for more"
        );
    }
}

// ---------------------------------------------------------------------------
// 3.1 CONNECT
// ---------------------------------------------------------------------------

/// 3.1.2 variable header with every flag of 3.1.2.3 set
/// but the reserved one, and the payload fields in the order of 3.1.3.
#[test]
fn mqtt_3_1_connect_with_will_user_name_and_password() {
    let bytes = cat(&[
        &[0x10, 28],     // CONNECT, remaining length 28
        b"\x00\x04MQTT", // 3.1.2.1 Protocol Name
        &[0x04],         // 3.1.2.2 Protocol Level 4
        &[0xEE], // 3.1.2.3 user name, password, will retain, will QoS 1, will flag, clean session
        &[0x00, 0x3C], // 3.1.2.10 Keep Alive 60
        b"\x00\x02id", // 3.1.3.1 Client Identifier
        b"\x00\x03w/t", // 3.1.3.2 Will Topic
        b"\x00\x01x", // 3.1.3.3 Will Message
        b"\x00\x01u", // 3.1.3.4 User Name
        b"\x00\x01p", // 3.1.3.5 Password
    ]);
    let expected = Packet::Connect(Box::new(Connect {
        protocol: V311,
        bridge: false,
        clean_start: true,
        keep_alive: 60,
        properties: Properties::default(),
        client_id: s("id"),
        will: Some(Will {
            topic: s("w/t"),
            payload: Bytes::from_static(b"x"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Properties::default(),
        }),
        username: Some(s("u")),
        password: Some(Bytes::from_static(b"p")),
    }));
    golden(&bytes, V311, &expected);
}

/// A zero-byte Client Identifier with Clean Session 1 [MQTT-3.1.3-7], Keep
/// Alive 0 (3.1.2.10: keep alive off).
#[test]
fn mqtt_3_1_3_7_connect_empty_client_identifier() {
    let bytes = cat(&[
        &[0x10, 0x0C],
        b"\x00\x04MQTT",
        &[0x04],
        &[0x02],
        &[0x00, 0x00],
        b"\x00\x00",
    ]);
    let expected = Packet::Connect(Box::new(Connect {
        protocol: V311,
        bridge: false,
        clean_start: true,
        keep_alive: 0,
        properties: Properties::default(),
        client_id: s(""),
        will: None,
        username: None,
        password: None,
    }));
    golden(&bytes, V311, &expected);
}

/// MQTT 3.1: Protocol Name "MQIsdp" with Protocol Level 3.
#[test]
fn mqtt_3_1_connect_mqisdp_level_3() {
    let bytes = cat(&[
        &[0x10, 17],
        b"\x00\x06MQIsdp",
        &[0x03],
        &[0x02],
        &[0x00, 0x0A],
        b"\x00\x03c31",
    ]);
    let expected = Packet::Connect(Box::new(Connect {
        protocol: ProtocolVersion::V3_1,
        bridge: false,
        clean_start: true,
        keep_alive: 10,
        properties: Properties::default(),
        client_id: s("c31"),
        will: None,
        username: None,
        password: None,
    }));
    golden(&bytes, ProtocolVersion::V3_1, &expected);
    // The version of the connection does not matter: CONNECT carries its own.
    assert!(matches!(decode(&bytes, V311, u32::MAX), Ok(Some((p, 19))) if p == expected));
}

// ---------------------------------------------------------------------------
// 3.2 CONNACK
// ---------------------------------------------------------------------------

#[test]
fn mqtt_3_2_2_3_connack_accepted() {
    let expected = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::Success,
        properties: Properties::default(),
    });
    golden(&[0x20, 0x02, 0x00, 0x00], V311, &expected);
}

/// Session Present is bit 0 of the acknowledge flags (3.2.2.2).
#[test]
fn mqtt_3_2_2_2_connack_session_present() {
    let expected = Packet::ConnAck(ConnAck {
        session_present: true,
        reason: ReasonCode::Success,
        properties: Properties::default(),
    });
    golden(&[0x20, 0x02, 0x01, 0x00], V311, &expected);
}

/// The six return codes of table 3.1 (3.2.2.3), as the MQTT 5 reason codes
/// with the same meaning.
#[test]
fn mqtt_3_2_2_3_connack_return_codes() {
    let table = [
        (0x00, ReasonCode::Success),
        (0x01, ReasonCode::UnsupportedProtocolVersion),
        (0x02, ReasonCode::ClientIdentifierNotValid),
        (0x03, ReasonCode::ServerUnavailable),
        (0x04, ReasonCode::BadUserNameOrPassword),
        (0x05, ReasonCode::NotAuthorized),
    ];
    for (code, reason) in table {
        let expected = Packet::ConnAck(ConnAck {
            session_present: false,
            reason,
            properties: Properties::default(),
        });
        golden(&[0x20, 0x02, 0x00, code], V311, &expected);
    }
}

/// MQTT 5 reasons with no 3.1.1 return code are sent as the nearest one.
#[test]
fn mqtt_3_2_2_3_connack_v5_reasons_map_to_return_codes() {
    let table = [
        (ReasonCode::BadAuthenticationMethod, 0x04),
        (ReasonCode::ServerBusy, 0x03),
        (ReasonCode::Banned, 0x05),
    ];
    for (reason, code) in table {
        let connack = Packet::ConnAck(ConnAck {
            session_present: false,
            reason,
            properties: Properties::default(),
        });
        assert_eq!(connack.to_bytes(V311).unwrap(), [0x20, 0x02, 0x00, code]);
    }
}

// ---------------------------------------------------------------------------
// 3.3 PUBLISH
// ---------------------------------------------------------------------------

/// QoS 0: DUP 0 [MQTT-3.3.1-2] and no Packet Identifier (3.3.2.2).
#[test]
fn mqtt_3_3_1_2_publish_qos0() {
    let bytes = cat(&[&[0x30, 0x0A], b"\x00\x03a/b", b"hello"]);
    let expected = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: s("a/b"),
        packet_id: None,
        properties: Properties::default(),
        payload: Bytes::from_static(b"hello"),
    });
    golden(&bytes, V311, &expected);
}

/// QoS 1 with a Packet Identifier (3.3.2.2), as in the spec's non-normative
/// example of 3.3.2.3: Topic Name "a/b", Packet Identifier 10.
#[test]
fn mqtt_3_3_2_2_publish_qos1_packet_identifier() {
    let bytes = cat(&[&[0x32, 0x09], b"\x00\x03a/b", &[0x00, 0x0A], b"xy"]);
    let expected = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: s("a/b"),
        packet_id: Some(pid(10)),
        properties: Properties::default(),
        payload: Bytes::from_static(b"xy"),
    });
    golden(&bytes, V311, &expected);
}

/// QoS 2 with DUP and RETAIN (3.3.1.1-3.3.1.3) and a zero-length payload
/// (3.3.3: "a zero length payload is valid").
#[test]
fn mqtt_3_3_1_publish_qos2_dup_retain_empty_payload() {
    let bytes = [0x3D, 0x05, 0x00, 0x01, b't', 0x12, 0x34];
    let expected = Packet::Publish(Publish {
        dup: true,
        qos: QoS::ExactlyOnce,
        retain: true,
        topic: s("t"),
        packet_id: Some(pid(0x1234)),
        properties: Properties::default(),
        payload: Bytes::new(),
    });
    golden(&bytes, V311, &expected);
}

/// [MQTT-1.5.3-3]: a BOM (0xEF 0xBB 0xBF) is U+FEFF and is not stripped.
#[test]
fn mqtt_1_5_3_3_bom_is_not_stripped() {
    let bytes = cat(&[&[0x30, 0x07], &[0x00, 0x05, 0xEF, 0xBB, 0xBF, b'a', b'b']]);
    let expected = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: s("\u{FEFF}ab"),
        packet_id: None,
        properties: Properties::default(),
        payload: Bytes::new(),
    });
    golden(&bytes, V311, &expected);
}

// ---------------------------------------------------------------------------
// 3.4-3.7 PUBACK, PUBREC, PUBREL, PUBCOMP
// ---------------------------------------------------------------------------

#[test]
fn mqtt_3_4_puback() {
    let expected = Packet::PubAck(PubResponse::new(pid(10)));
    golden(&[0x40, 0x02, 0x00, 0x0A], V311, &expected);
}

#[test]
fn mqtt_3_5_pubrec() {
    let expected = Packet::PubRec(PubResponse::new(pid(0x1234)));
    golden(&[0x50, 0x02, 0x12, 0x34], V311, &expected);
}

/// "Bits 3,2,1 and 0 of the fixed header in the PUBREL Control Packet are
/// reserved and MUST be set to 0,0,1 and 0 respectively" [MQTT-3.6.1-1].
#[test]
fn mqtt_3_6_1_1_pubrel_flags_0010() {
    let expected = Packet::PubRel(PubResponse::new(pid(0x1234)));
    golden(&[0x62, 0x02, 0x12, 0x34], V311, &expected);
}

#[test]
fn mqtt_3_7_pubcomp() {
    let expected = Packet::PubComp(PubResponse::new(pid(0xFFFF)));
    golden(&[0x70, 0x02, 0xFF, 0xFF], V311, &expected);
}

/// 3.1.1 acknowledgements have no reason code: an MQTT 5 reason or property
/// is left off the wire.
#[test]
fn mqtt_3_4_2_puback_has_only_a_packet_identifier() {
    let mut ack = PubResponse::with_reason(pid(1), ReasonCode::NotAuthorized);
    ack.properties.reason_string = Some(s("no"));
    assert_eq!(
        Packet::PubAck(ack).to_bytes(V311).unwrap(),
        [0x40, 0x02, 0x00, 0x01]
    );
}

// ---------------------------------------------------------------------------
// 3.8-3.11 SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK
// ---------------------------------------------------------------------------

/// The non-normative example of 3.8.3: "a/b" at QoS 1 and "c/d" at QoS 2;
/// flags 0b0010 [MQTT-3.8.1-1].
#[test]
fn mqtt_3_8_3_subscribe_payload_example() {
    let bytes = cat(&[
        &[0x82, 0x0E],
        &[0x00, 0x0A],
        b"\x00\x03a/b",
        &[0x01],
        b"\x00\x03c/d",
        &[0x02],
    ]);
    let expected = Packet::Subscribe(Subscribe {
        packet_id: pid(10),
        properties: Properties::default(),
        subscriptions: vec![
            Subscription {
                filter: s("a/b"),
                options: SubscriptionOptions::qos(QoS::AtLeastOnce),
            },
            Subscription {
                filter: s("c/d"),
                options: SubscriptionOptions::qos(QoS::ExactlyOnce),
            },
        ],
    });
    golden(&bytes, V311, &expected);
}

/// The non-normative example of 3.9.3: return codes 0x00, 0x01, 0x02 and
/// 0x80 (failure) [MQTT-3.9.3-2].
#[test]
fn mqtt_3_9_3_suback_return_codes() {
    let bytes = [0x90, 0x06, 0x00, 0x0A, 0x00, 0x01, 0x02, 0x80];
    let expected = Packet::SubAck(SubAck {
        packet_id: pid(10),
        properties: Properties::default(),
        reasons: vec![
            ReasonCode::GRANTED_QOS_0,
            ReasonCode::GrantedQos1,
            ReasonCode::GrantedQos2,
            ReasonCode::UnspecifiedError,
        ],
    });
    golden(&bytes, V311, &expected);
}

/// Every MQTT 5 failure reason is sent as 0x80 in 3.1.1.
#[test]
fn mqtt_3_9_3_suback_failures_are_0x80() {
    let suback = Packet::SubAck(SubAck {
        packet_id: pid(1),
        properties: Properties::default(),
        reasons: vec![
            ReasonCode::NotAuthorized,
            ReasonCode::SharedSubscriptionsNotSupported,
        ],
    });
    assert_eq!(
        suback.to_bytes(V311).unwrap(),
        [0x90, 0x04, 0x00, 0x01, 0x80, 0x80]
    );
}

/// The non-normative example of 3.10.3: "a/b" and "c/d"; flags 0b0010
/// [MQTT-3.10.1-1].
#[test]
fn mqtt_3_10_3_unsubscribe_payload_example() {
    let bytes = cat(&[&[0xA2, 0x0C], &[0x00, 0x0B], b"\x00\x03a/b", b"\x00\x03c/d"]);
    let expected = Packet::Unsubscribe(Unsubscribe {
        packet_id: pid(11),
        properties: Properties::default(),
        filters: vec![s("a/b"), s("c/d")],
    });
    golden(&bytes, V311, &expected);
}

/// UNSUBACK has a Remaining Length of 2 and no payload (3.11.1, 3.11.3).
#[test]
fn mqtt_3_11_unsuback() {
    let expected = Packet::UnsubAck(UnsubAck {
        packet_id: pid(11),
        properties: Properties::default(),
        reasons: vec![],
    });
    golden(&[0xB0, 0x02, 0x00, 0x0B], V311, &expected);
}

// ---------------------------------------------------------------------------
// 3.12-3.14 PINGREQ, PINGRESP, DISCONNECT
// ---------------------------------------------------------------------------

#[test]
fn mqtt_3_12_pingreq() {
    golden(&[0xC0, 0x00], V311, &Packet::PingReq);
}

#[test]
fn mqtt_3_13_pingresp() {
    golden(&[0xD0, 0x00], V311, &Packet::PingResp);
}

#[test]
fn mqtt_3_14_disconnect() {
    let expected = Packet::Disconnect(Disconnect::new(ReasonCode::NORMAL_DISCONNECTION));
    golden(&[0xE0, 0x00], V311, &expected);
    // A 3.1.1 DISCONNECT has no variable header: an MQTT 5 reason is dropped.
    let v5_only = Packet::Disconnect(Disconnect::new(ReasonCode::ServerShuttingDown));
    assert_eq!(v5_only.to_bytes(V311).unwrap(), [0xE0, 0x00]);
}

/// MQTT 3.1 connections use the 3.1.1 layout for every other packet.
#[test]
fn mqtt_3_1_other_packets_as_in_3_1_1() {
    let v31 = ProtocolVersion::V3_1;
    golden(
        &[0x62, 0x02, 0x00, 0x07],
        v31,
        &Packet::PubRel(PubResponse::new(pid(7))),
    );
    golden(
        &[0xE0, 0x00],
        v31,
        &Packet::Disconnect(Disconnect::new(ReasonCode::Success)),
    );
}

// ---------------------------------------------------------------------------
// 2.2.3 Remaining Length (table 2.4) / v5 1.5.5 Variable Byte Integer
// ---------------------------------------------------------------------------

/// Each row boundary of table 2.4 with the encoding the spec gives for it; the
/// encoder uses the fewest bytes [MQTT-1.5.5-1 (v5)].
#[test]
fn mqtt_2_2_3_remaining_length_table() {
    let rows: [(usize, &[u8]); 8] = [
        (0, &[0x00]),
        (127, &[0x7F]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xFF, 0x7F]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xFF, 0xFF, 0x7F]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
        (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
    ];
    for (remaining, header) in rows {
        let mut buf = vec![0xB0];
        buf.extend_from_slice(header);
        // The fixed header alone is enough to know the size (and to ask for
        // the rest), whatever the remaining length.
        if remaining > 0 {
            assert_eq!(decode(&buf, V311, u32::MAX), Ok(None), "{remaining}");
        }
        let size = (1 + header.len() + remaining) as u32;
        assert_eq!(
            decode(&buf, V311, size - 1),
            Err(DecodeError::PacketTooLarge {
                size: u64::from(size),
                max: size - 1
            })
        );
    }
    // Encoding: a QoS 0 PUBLISH with topic "t" (3 bytes) and a payload that
    // makes the remaining length land on each boundary that fits in memory.
    for (remaining, header) in &rows[1..7] {
        let publish = Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: s("t"),
            packet_id: None,
            properties: Properties::default(),
            payload: Bytes::from(vec![b'x'; remaining - 3]),
        });
        let bytes = publish.to_bytes(V311).unwrap();
        assert_eq!(&bytes[1..1 + header.len()], *header, "{remaining}");
        assert_eq!(bytes.len(), 1 + header.len() + remaining);
        assert_eq!(
            decode(&bytes, V311, u32::MAX),
            Ok(Some((publish, bytes.len())))
        );
    }
}

// ---------------------------------------------------------------------------
// 4.7 Topic Names and Topic Filters
// ---------------------------------------------------------------------------

/// 4.7.1.2: "sport/tennis/player1/#" matches the parent level and anything
/// below it; "sport/#" also matches "sport".
#[test]
fn mqtt_4_7_1_2_multi_level_wildcard() {
    let f = "sport/tennis/player1/#";
    assert!(filter_matches(f, "sport/tennis/player1"));
    assert!(filter_matches(f, "sport/tennis/player1/ranking"));
    assert!(filter_matches(f, "sport/tennis/player1/score/wimbledon"));
    assert!(!filter_matches(f, "sport/tennis/player2"));
    assert!(filter_matches("sport/#", "sport"));
    assert!(filter_matches("sport/#", "sport/"));
    assert!(!filter_matches("sport/#", "sports"));
    assert!(filter_matches("#", "sport/tennis"));
    assert!(filter_matches("#", "/"));
}

/// 4.7.1.3: "+" matches exactly one level.
#[test]
fn mqtt_4_7_1_3_single_level_wildcard() {
    let f = "sport/tennis/+";
    assert!(filter_matches(f, "sport/tennis/player1"));
    assert!(filter_matches(f, "sport/tennis/player2"));
    assert!(!filter_matches(f, "sport/tennis/player1/ranking"));
    assert!(!filter_matches("sport/+", "sport"));
    assert!(filter_matches("sport/+", "sport/"));
    assert!(filter_matches("+/+", "/finance"));
    assert!(filter_matches("/+", "/finance"));
    assert!(!filter_matches("+", "/finance"));
    assert!(filter_matches("+", "finance"));
    assert!(filter_matches("+/tennis/#", "sport/tennis/player1/ranking"));
}

/// [MQTT-4.7.2-1]: a filter starting with a wildcard does not match a topic
/// starting with "$"; one starting with "$SYS/" does.
#[test]
fn mqtt_4_7_2_1_dollar_topics_not_matched_by_leading_wildcard() {
    assert!(!filter_matches("#", "$SYS/x"));
    assert!(!filter_matches("+/x", "$SYS/x"));
    assert!(!filter_matches("+/monitor/Clients", "$SYS/monitor/Clients"));
    assert!(filter_matches("$SYS/#", "$SYS/x"));
    assert!(filter_matches("$SYS/#", "$SYS"));
    assert!(filter_matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
    // Only the first character counts: "$" later in a topic is ordinary.
    assert!(filter_matches("#", "a/$SYS"));
    assert!(filter_matches("+/$x", "a/$x"));
}

/// 4.7.3: matching is case sensitive, exact per level, and "/" separates
/// levels that may be empty.
#[test]
fn mqtt_4_7_3_topic_semantics() {
    assert!(!filter_matches("ACCOUNTS", "Accounts"));
    assert!(filter_matches("Accounts payable", "Accounts payable"));
    assert!(!filter_matches("/finance", "finance"));
    assert!(filter_matches("/finance", "/finance"));
    assert!(!filter_matches("a/b", "a/b/"));
    assert!(!filter_matches("a/b/", "a/b"));
    assert!(filter_matches("a//b", "a//b"));
    assert!(filter_matches("a/+/b", "a//b"));
}

/// Valid filters (4.7.1): wildcards as whole levels, "#" last.
#[test]
fn mqtt_4_7_1_valid_topic_filters() {
    for f in [
        "#",
        "+",
        "+/+",
        "/+",
        "sport/#",
        "sport/tennis/+",
        "sport/+/player1",
        "+/tennis/#",
        "/",
        "a//b",
        "$SYS/#",
        "$share/group/a/+",
        "$share/g/#",
    ] {
        assert_eq!(check_topic_filter(f), Ok(()), "{f}");
    }
}

/// [MQTT-4.7.1-2] "#" must be the last character and a whole level;
/// [MQTT-4.7.1-3] "+" must occupy a whole level; [MQTT-4.7.3-1] at least one
/// character; [MQTT-4.8.2-1]/[MQTT-4.8.2-2] (v5) shared subscription syntax.
#[test]
fn mqtt_4_7_1_invalid_topic_filters() {
    for f in [
        "",
        "a/#/b",
        "sport/tennis#",
        "#/",
        "##",
        "a+",
        "sport+",
        "+a/b",
        "a/+b",
        "$share/g",
        "$share//x",
        "$share/g/",
        "$share/",
        "$share/g+/x",
        "$share/g#/x",
        "$share/g/a/#/b",
    ] {
        assert_eq!(
            check_topic_filter(f),
            Err(DecodeError::InvalidTopicFilter),
            "{f:?}"
        );
    }
}

/// [MQTT-4.7.1-1]: wildcards are not allowed in Topic Names.
#[test]
fn mqtt_4_7_1_1_topic_name_has_no_wildcards() {
    assert_eq!(check_topic_name("a/b"), Ok(()));
    assert_eq!(check_topic_name("$SYS/x"), Ok(()));
    for t in ["a/+", "#", "a/#", "a+b", "+"] {
        assert_eq!(
            check_topic_name(t),
            Err(DecodeError::WildcardInTopicName),
            "{t}"
        );
    }
}

/// v5 4.8.2: "$share/{ShareName}/{filter}".
#[test]
fn v5_4_8_2_parse_shared() {
    assert_eq!(
        parse_shared("$share/consumer1/sport/tennis/+"),
        Some(Ok(SharedFilter {
            group: "consumer1",
            filter: "sport/tennis/+"
        }))
    );
    assert_eq!(
        parse_shared("$share/g/#"),
        Some(Ok(SharedFilter {
            group: "g",
            filter: "#"
        }))
    );
    // The filter after the share name may itself start with "/".
    assert_eq!(
        parse_shared("$share/g//a"),
        Some(Ok(SharedFilter {
            group: "g",
            filter: "/a"
        }))
    );
    // Not shared subscriptions.
    assert_eq!(parse_shared("sport/tennis"), None);
    assert_eq!(parse_shared("$SYS/#"), None);
    assert_eq!(parse_shared("$shared/g/a"), None);
    assert_eq!(parse_shared("$SHARE/g/a"), None);
    // Invalid ones.
    for f in [
        "$share/g",
        "$share//x",
        "$share/g/",
        "$share/+/x",
        "$share/g/a#",
    ] {
        assert_eq!(
            parse_shared(f),
            Some(Err(DecodeError::InvalidTopicFilter)),
            "{f}"
        );
    }
}
