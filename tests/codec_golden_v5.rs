//! Golden byte vectors for the MQTT 5.0 codec, written by hand from the OASIS
//! MQTT Version 5.0 specification (section numbers below refer to it). Every
//! vector is checked both ways: decoding gives exactly the expected `Packet`
//! and consumes every byte, and encoding the `Packet` gives exactly the bytes.
//! Every strict prefix of every vector must ask for more bytes.
//!
//! Properties are written in the order the encoder emits them (identifier
//! order, then Subscription Identifiers, then User Properties in their own
//! order); `v5_2_2_2_property_order_is_not_significant` checks that any other
//! order decodes to the same packet.

use bytes::Bytes;
use std::num::NonZeroU16;
use tabmq::codec::{
    decode, Auth, ConnAck, Connect, Disconnect, EncodeError, Packet, PacketId, Properties,
    ProtocolVersion, PubResponse, Publish, QoS, ReasonCode, RetainHandling, SubAck, Subscribe,
    Subscription, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};

const V5: ProtocolVersion = ProtocolVersion::V5;

fn pid(n: u16) -> PacketId {
    NonZeroU16::new(n).unwrap()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn up(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
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
    // CONNECT carries its own protocol version.
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
    // A Maximum Packet Size equal to the packet's size admits it (3.1.2.11.4:
    // the size is the total number of bytes in the packet).
    let size = bytes.len() as u32;
    assert!(matches!(decode(bytes, version, size), Ok(Some(_))));
}

/// Decode-only check, for encodings the encoder does not produce.
fn decodes_to(bytes: &[u8], version: ProtocolVersion, expected: &Packet) {
    assert_eq!(
        decode(bytes, version, u32::MAX),
        Ok(Some((expected.clone(), bytes.len()))),
        "{bytes:02x?}"
    );
}

// ---------------------------------------------------------------------------
// 3.1 CONNECT
// ---------------------------------------------------------------------------

/// 3.1.2 variable header as in the spec's non-normative example (3.1.2.12:
/// flags 0xCE, Keep Alive 10, Session Expiry Interval 10), plus a Will Message with every
/// Will Property (3.1.3.2) and User Name and Password (3.1.3.5, 3.1.3.6).
#[test]
fn v5_3_1_connect_with_will_and_will_properties() {
    let bytes = cat(&[
        &[0x10, 93],                           // CONNECT, remaining length 93
        b"\x00\x04MQTT",                       // 3.1.2.1 Protocol Name
        &[0x05],                               // 3.1.2.2 Protocol Version 5
        &[0xCE],       // 3.1.2.3 flags: user name, password, will QoS 1, will, clean start
        &[0x00, 0x0A], // 3.1.2.10 Keep Alive 10
        &[0x05, 0x11, 0x00, 0x00, 0x00, 0x0A], // 3.1.2.11 Session Expiry Interval 10
        b"\x00\x07client1", // 3.1.3.1 Client Identifier
        &[44],         // 3.1.3.2 Will Properties length
        &[0x01, 0x01], // 3.1.3.2.3 Payload Format Indicator 1
        &[0x02, 0x00, 0x00, 0x00, 0x3C], // 3.1.3.2.4 Message Expiry Interval 60
        b"\x03\x00\x0Atext/plain", // 3.1.3.2.5 Content Type
        b"\x08\x00\x04resp", // 3.1.3.2.6 Response Topic
        &[0x09, 0x00, 0x02, 0xAB, 0xCD], // 3.1.3.2.7 Correlation Data
        &[0x18, 0x00, 0x00, 0x00, 0x1E], // 3.1.3.2.2 Will Delay Interval 30
        b"\x26\x00\x01k\x00\x01v", // 3.1.3.2.8 User Property
        b"\x00\x06will/t", // 3.1.3.3 Will Topic
        b"\x00\x03bye", // 3.1.3.4 Will Payload
        b"\x00\x04user", // 3.1.3.5 User Name
        b"\x00\x02pw", // 3.1.3.6 Password
    ]);
    let expected = Packet::Connect(Box::new(Connect {
        protocol: V5,
        bridge: false,
        clean_start: true,
        keep_alive: 10,
        properties: Properties {
            session_expiry_interval: Some(10),
            ..Default::default()
        },
        client_id: s("client1"),
        will: Some(Will {
            topic: s("will/t"),
            payload: Bytes::from_static(b"bye"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Properties {
                payload_format_indicator: Some(1),
                message_expiry_interval: Some(60),
                content_type: Some(s("text/plain")),
                response_topic: Some(s("resp")),
                correlation_data: Some(Bytes::from_static(&[0xAB, 0xCD])),
                will_delay_interval: Some(30),
                user_properties: vec![up("k", "v")],
                ..Default::default()
            },
        }),
        username: Some(s("user")),
        password: Some(Bytes::from_static(b"pw")),
    }));
    golden(&bytes, V5, &expected);
}

/// Every CONNECT property of 3.1.2.11, and a zero-length Client Identifier,
/// which the Server MAY accept [MQTT-3.1.3-6].
#[test]
fn v5_3_1_2_11_connect_properties() {
    let bytes = cat(&[
        &[0x10, 54],
        b"\x00\x04MQTT",
        &[0x05],
        &[0x02],                               // clean start only
        &[0x00, 0x3C],                         // Keep Alive 60
        &[41],                                 // Property Length
        &[0x11, 0x00, 0x00, 0x0E, 0x10],       // Session Expiry Interval 3600
        b"\x15\x00\x05SCRAM",                  // Authentication Method
        &[0x16, 0x00, 0x03, 0x01, 0x02, 0x03], // Authentication Data
        &[0x17, 0x00],                         // Request Problem Information 0
        &[0x19, 0x01],                         // Request Response Information 1
        &[0x21, 0x00, 0x14],                   // Receive Maximum 20
        &[0x22, 0x00, 0x0A],                   // Topic Alias Maximum 10
        &[0x27, 0x00, 0x00, 0x10, 0x00],       // Maximum Packet Size 4096
        b"\x26\x00\x01a\x00\x01b",             // User Property
        b"\x00\x00",                           // empty Client Identifier
    ]);
    let expected = Packet::Connect(Box::new(Connect {
        protocol: V5,
        bridge: false,
        clean_start: true,
        keep_alive: 60,
        properties: Properties {
            session_expiry_interval: Some(3600),
            authentication_method: Some(s("SCRAM")),
            authentication_data: Some(Bytes::from_static(&[1, 2, 3])),
            request_problem_information: Some(false),
            request_response_information: Some(true),
            receive_maximum: Some(20),
            topic_alias_maximum: Some(10),
            maximum_packet_size: Some(4096),
            user_properties: vec![up("a", "b")],
            ..Default::default()
        },
        client_id: s(""),
        will: None,
        username: None,
        password: None,
    }));
    golden(&bytes, V5, &expected);
}

/// "This version of the protocol allows the sending of a Password with no
/// User Name, where MQTT v3.1.1 did not" (3.1.2.9, non-normative comment).
#[test]
fn v5_3_1_2_9_password_without_user_name_is_allowed() {
    let bytes = cat(&[
        &[0x10, 18],
        b"\x00\x04MQTT",
        &[0x05],
        &[0x42],       // password flag and clean start, no user name flag
        &[0x00, 0x00], // Keep Alive 0
        &[0x00],       // no properties
        b"\x00\x01c",  // Client Identifier "c"
        b"\x00\x02pw", // Password
    ]);
    let expected = Packet::Connect(Box::new(Connect {
        protocol: V5,
        bridge: false,
        clean_start: true,
        keep_alive: 0,
        properties: Properties::default(),
        client_id: s("c"),
        will: None,
        username: None,
        password: Some(Bytes::from_static(b"pw")),
    }));
    golden(&bytes, V5, &expected);
}

/// Will QoS 2 with Will Retain, and a Will Property Length of 0 (3.1.3.2.1).
#[test]
fn v5_3_1_2_6_will_qos_2_retained_without_will_properties() {
    let bytes = cat(&[
        &[0x10, 19],
        b"\x00\x04MQTT",
        &[0x05],
        &[0x34],       // will retain, will QoS 2, will flag
        &[0x00, 0x05], // Keep Alive 5
        &[0x00],       // no properties
        b"\x00\x00",   // empty Client Identifier
        &[0x00],       // Will Properties length 0
        b"\x00\x01w",  // Will Topic "w"
        b"\x00\x00",   // empty Will Payload
    ]);
    let expected = Packet::Connect(Box::new(Connect {
        protocol: V5,
        bridge: false,
        clean_start: false,
        keep_alive: 5,
        properties: Properties::default(),
        client_id: s(""),
        will: Some(Will {
            topic: s("w"),
            payload: Bytes::new(),
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: Properties::default(),
        }),
        username: None,
        password: None,
    }));
    golden(&bytes, V5, &expected);
}

// ---------------------------------------------------------------------------
// 3.2 CONNACK
// ---------------------------------------------------------------------------

/// CONNACK with the server properties of 3.2.2.3.
#[test]
fn v5_3_2_2_3_connack_with_server_properties() {
    let bytes = cat(&[
        &[0x20, 57],
        &[0x00], // 3.2.2.1 Connect Acknowledge Flags: no session present
        &[0x00], // 3.2.2.2 Connect Reason Code: Success
        &[54],   // Property Length
        &[0x11, 0x00, 0x00, 0x00, 0x78], // Session Expiry Interval 120
        b"\x12\x00\x05auto1", // Assigned Client Identifier
        &[0x13, 0x00, 0x1E], // Server Keep Alive 30
        b"\x1A\x00\x04resp", // Response Information
        &[0x21, 0x00, 0x64], // Receive Maximum 100
        &[0x22, 0x00, 0x05], // Topic Alias Maximum 5
        &[0x24, 0x01], // Maximum QoS 1
        &[0x25, 0x00], // Retain Available 0
        &[0x27, 0x00, 0x01, 0x00, 0x00], // Maximum Packet Size 65536
        &[0x28, 0x01], // Wildcard Subscription Available 1
        &[0x29, 0x00], // Subscription Identifiers Available 0
        &[0x2A, 0x01], // Shared Subscription Available 1
        b"\x26\x00\x03srv\x00\x02v5", // User Property
    ]);
    let expected = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::Success,
        properties: Properties {
            session_expiry_interval: Some(120),
            assigned_client_identifier: Some(s("auto1")),
            server_keep_alive: Some(30),
            response_information: Some(s("resp")),
            receive_maximum: Some(100),
            topic_alias_maximum: Some(5),
            maximum_qos: Some(1),
            retain_available: Some(false),
            maximum_packet_size: Some(65536),
            wildcard_subscription_available: Some(true),
            subscription_identifier_available: Some(false),
            shared_subscription_available: Some(true),
            user_properties: vec![up("srv", "v5")],
            ..Default::default()
        },
    });
    golden(&bytes, V5, &expected);
}

/// Session Present 1 with Success and a Property Length of 0 (3.2.2.1.1).
#[test]
fn v5_3_2_2_1_1_connack_session_present() {
    let bytes = [0x20, 0x03, 0x01, 0x00, 0x00];
    let expected = Packet::ConnAck(ConnAck {
        session_present: true,
        reason: ReasonCode::Success,
        properties: Properties::default(),
    });
    golden(&bytes, V5, &expected);
}

/// Reason Code 0x9C (Use another server) with a Server Reference (3.2.2.3.16)
/// and a Reason String (3.2.2.3.9).
#[test]
fn v5_3_2_2_2_connack_use_another_server_with_reference() {
    let bytes = cat(&[
        &[0x20, 24],
        &[0x00],
        &[0x9C],
        &[21],
        b"\x1C\x00\x0Aother:1883", // Server Reference
        b"\x1F\x00\x05moved",      // Reason String
    ]);
    let expected = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::UseAnotherServer,
        properties: Properties {
            server_reference: Some(s("other:1883")),
            reason_string: Some(s("moved")),
            ..Default::default()
        },
    });
    golden(&bytes, V5, &expected);
}

/// Every CONNACK reason code of table 3-1 (3.2.2.2) round-trips.
#[test]
fn v5_3_2_2_2_every_connack_reason_code() {
    let codes = [
        0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95,
        0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
    ];
    for code in codes {
        let bytes = [0x20, 0x03, 0x00, code, 0x00];
        let expected = Packet::ConnAck(ConnAck {
            session_present: false,
            reason: ReasonCode::from_u8(code).unwrap(),
            properties: Properties::default(),
        });
        golden(&bytes, V5, &expected);
    }
}

// ---------------------------------------------------------------------------
// 3.3 PUBLISH
// ---------------------------------------------------------------------------

fn publish_with_every_property() -> (Vec<u8>, Packet) {
    let bytes = cat(&[
        &[0x3B, 65],                                 // PUBLISH, DUP 1, QoS 1, RETAIN 1 (3.3.1)
        b"\x00\x03a/b",                              // 3.3.2.1 Topic Name
        &[0x00, 0x0A],                               // 3.3.2.2 Packet Identifier 10
        &[55],                                       // 3.3.2.3.1 Property Length
        &[0x01, 0x01],                               // 3.3.2.3.2 Payload Format Indicator 1
        &[0x02, 0x00, 0x00, 0x0E, 0x10],             // 3.3.2.3.3 Message Expiry Interval 3600
        b"\x03\x00\x04json",                         // 3.3.2.3.9 Content Type
        b"\x08\x00\x05reply",                        // 3.3.2.3.5 Response Topic
        &[0x09, 0x00, 0x03, 0x01, 0x02, 0x03],       // 3.3.2.3.6 Correlation Data
        &[0x23, 0x00, 0x07],                         // 3.3.2.3.4 Topic Alias 7
        &[0x0B, 0x01],                               // 3.3.2.3.8 Subscription Identifier 1
        &[0x0B, 0xAC, 0x02],                         // Subscription Identifier 300 (two-byte VBI)
        &[0x0B, 0xFF, 0xFF, 0xFF, 0x7F],             // Subscription Identifier 268,435,455
        &[0x26, 0x00, 0x01, b'z', 0x00, 0x01, b'1'], // 3.3.2.3.7 User Property z=1
        &[0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'2'], // User Property a=2
        b"hi",                                       // 3.3.3 Payload
    ]);
    let expected = Packet::Publish(Publish {
        dup: true,
        qos: QoS::AtLeastOnce,
        retain: true,
        topic: s("a/b"),
        packet_id: Some(pid(10)),
        properties: Properties {
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(3600),
            content_type: Some(s("json")),
            response_topic: Some(s("reply")),
            correlation_data: Some(Bytes::from_static(&[1, 2, 3])),
            topic_alias: Some(7),
            subscription_identifiers: vec![1, 300, 268_435_455],
            // The order of User Properties is kept [MQTT-3.3.2-18].
            user_properties: vec![up("z", "1"), up("a", "2")],
            ..Default::default()
        },
        payload: Bytes::from_static(b"hi"),
    });
    (bytes, expected)
}

/// Every PUBLISH property of 3.3.2.3, two User Properties in a non-sorted
/// order [MQTT-3.3.2-18], and several Subscription Identifiers [MQTT-3.3.4-3].
#[test]
fn v5_3_3_2_3_publish_with_every_property() {
    let (bytes, expected) = publish_with_every_property();
    golden(&bytes, V5, &expected);
}

/// "There is no significance in the order of Properties with different
/// Identifiers" (2.2.2.2): the same PUBLISH with its properties reversed.
#[test]
fn v5_2_2_2_property_order_is_not_significant() {
    let (_, expected) = publish_with_every_property();
    let bytes = cat(&[
        &[0x3B, 65],
        b"\x00\x03a/b",
        &[0x00, 0x0A],
        &[55],
        &[0x26, 0x00, 0x01, b'z', 0x00, 0x01, b'1'],
        &[0x0B, 0x01],
        &[0x23, 0x00, 0x07],
        &[0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'2'],
        &[0x09, 0x00, 0x03, 0x01, 0x02, 0x03],
        &[0x0B, 0xAC, 0x02],
        b"\x08\x00\x05reply",
        b"\x03\x00\x04json",
        &[0x0B, 0xFF, 0xFF, 0xFF, 0x7F],
        &[0x02, 0x00, 0x00, 0x0E, 0x10],
        &[0x01, 0x01],
        b"hi",
    ]);
    decodes_to(&bytes, V5, &expected);
}

/// QoS 0: no Packet Identifier [MQTT-2.2.1-2], Property Length 0.
#[test]
fn v5_3_3_2_2_publish_qos0_has_no_packet_identifier() {
    let bytes = [0x30, 0x05, 0x00, 0x01, b't', 0x00, b'p'];
    let expected = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: s("t"),
        packet_id: None,
        properties: Properties::default(),
        payload: Bytes::from_static(b"p"),
    });
    golden(&bytes, V5, &expected);
}

/// A zero-length Topic Name is allowed with a Topic Alias (3.3.2.3.4), and a
/// zero-length payload is valid (3.3.3).
#[test]
fn v5_3_3_2_3_4_empty_topic_name_with_topic_alias() {
    let bytes = [
        0x34, 0x08, // PUBLISH QoS 2
        0x00, 0x00, // empty Topic Name
        0x00, 0x05, // Packet Identifier 5
        0x03, 0x23, 0x00, 0x01, // Topic Alias 1
    ];
    let expected = Packet::Publish(Publish {
        dup: false,
        qos: QoS::ExactlyOnce,
        retain: false,
        topic: s(""),
        packet_id: Some(pid(5)),
        properties: Properties {
            topic_alias: Some(1),
            ..Default::default()
        },
        payload: Bytes::new(),
    });
    golden(&bytes, V5, &expected);
}

// ---------------------------------------------------------------------------
// 3.4-3.7 PUBACK, PUBREC, PUBREL, PUBCOMP: three forms each
// ---------------------------------------------------------------------------

fn pub_response(n: u16, reason: ReasonCode, properties: Properties) -> PubResponse {
    PubResponse {
        packet_id: pid(n),
        reason,
        properties,
    }
}

/// "The Reason Code and Property Length can be omitted if the Reason Code is
/// 0x00 (Success) and there are no Properties. In this case the PUBACK has a
/// Remaining Length of 2" (3.4.2.1).
#[test]
fn v5_3_4_2_1_puback_reason_and_properties_omitted() {
    let expected = Packet::PubAck(PubResponse::new(pid(1)));
    golden(&[0x40, 0x02, 0x00, 0x01], V5, &expected);
}

/// "If the Remaining Length is less than 4 there is no Property Length"
/// (3.4.2.2.1): reason 0x10 (No matching subscribers) alone.
#[test]
fn v5_3_4_2_2_1_puback_reason_without_properties() {
    let expected = Packet::PubAck(PubResponse::with_reason(
        pid(1),
        ReasonCode::NoMatchingSubscribers,
    ));
    golden(&[0x40, 0x03, 0x00, 0x01, 0x10], V5, &expected);
}

/// PUBACK with reason 0x87 (Not authorized) and a Reason String (3.4.2.2.2).
#[test]
fn v5_3_4_2_2_2_puback_with_reason_string() {
    let bytes = cat(&[
        &[0x40, 0x0D],
        &[0x00, 0x01],
        &[0x87],
        &[0x09],
        b"\x1F\x00\x06denied",
    ]);
    let expected = Packet::PubAck(pub_response(
        1,
        ReasonCode::NotAuthorized,
        Properties {
            reason_string: Some(s("denied")),
            ..Default::default()
        },
    ));
    golden(&bytes, V5, &expected);
}

/// The explicit forms of Success (a Reason Code of 0, and a Property Length of
/// 0) decode to the same packet as the short form (3.4.2.1, 3.4.2.2.1).
#[test]
fn v5_3_4_2_1_explicit_success_decodes_like_short_form() {
    let expected = Packet::PubAck(PubResponse::new(pid(1)));
    decodes_to(&[0x40, 0x03, 0x00, 0x01, 0x00], V5, &expected);
    decodes_to(&[0x40, 0x04, 0x00, 0x01, 0x00, 0x00], V5, &expected);
}

#[test]
fn v5_3_5_2_1_pubrec_reason_and_properties_omitted() {
    let expected = Packet::PubRec(PubResponse::new(pid(2)));
    golden(&[0x50, 0x02, 0x00, 0x02], V5, &expected);
}

/// PUBREC reason 0x91 (Packet Identifier in use), table 3-5.
#[test]
fn v5_3_5_2_1_pubrec_reason_without_properties() {
    let expected = Packet::PubRec(PubResponse::with_reason(
        pid(2),
        ReasonCode::PacketIdentifierInUse,
    ));
    golden(&[0x50, 0x03, 0x00, 0x02, 0x91], V5, &expected);
}

/// PUBREC reason 0x97 (Quota exceeded) with a Reason String and a User
/// Property (3.5.2.2).
#[test]
fn v5_3_5_2_2_pubrec_with_reason_string_and_user_property() {
    let bytes = cat(&[
        &[0x50, 0x13],
        &[0x00, 0x02],
        &[0x97],
        &[0x0F],
        b"\x1F\x00\x05quota",
        b"\x26\x00\x01k\x00\x01v",
    ]);
    let expected = Packet::PubRec(pub_response(
        2,
        ReasonCode::QuotaExceeded,
        Properties {
            reason_string: Some(s("quota")),
            user_properties: vec![up("k", "v")],
            ..Default::default()
        },
    ));
    golden(&bytes, V5, &expected);
}

/// PUBREL fixed header flags are 0b0010 [MQTT-3.6.1-1].
#[test]
fn v5_3_6_2_1_pubrel_reason_and_properties_omitted() {
    let expected = Packet::PubRel(PubResponse::new(pid(3)));
    golden(&[0x62, 0x02, 0x00, 0x03], V5, &expected);
}

/// PUBREL reason 0x92 (Packet Identifier not found), table 3-6.
#[test]
fn v5_3_6_2_1_pubrel_reason_without_properties() {
    let expected = Packet::PubRel(PubResponse::with_reason(
        pid(3),
        ReasonCode::PacketIdentifierNotFound,
    ));
    golden(&[0x62, 0x03, 0x00, 0x03, 0x92], V5, &expected);
}

#[test]
fn v5_3_6_2_2_pubrel_with_reason_string() {
    let bytes = cat(&[
        &[0x62, 0x11],
        &[0x00, 0x03],
        &[0x92],
        &[0x0D],
        b"\x1F\x00\x0Aunknown id",
    ]);
    let expected = Packet::PubRel(pub_response(
        3,
        ReasonCode::PacketIdentifierNotFound,
        Properties {
            reason_string: Some(s("unknown id")),
            ..Default::default()
        },
    ));
    golden(&bytes, V5, &expected);
}

#[test]
fn v5_3_7_2_1_pubcomp_reason_and_properties_omitted() {
    let expected = Packet::PubComp(PubResponse::new(pid(4)));
    golden(&[0x70, 0x02, 0x00, 0x04], V5, &expected);
}

#[test]
fn v5_3_7_2_1_pubcomp_reason_without_properties() {
    let expected = Packet::PubComp(PubResponse::with_reason(
        pid(4),
        ReasonCode::PacketIdentifierNotFound,
    ));
    golden(&[0x70, 0x03, 0x00, 0x04, 0x92], V5, &expected);
}

/// Success with properties: the Reason Code byte cannot be left out, since
/// the Property Length follows it (3.7.2.1, 3.7.2.2).
#[test]
fn v5_3_7_2_2_pubcomp_success_with_reason_string() {
    let bytes = cat(&[
        &[0x70, 0x12],
        &[0x00, 0x04],
        &[0x00],
        &[0x0E],
        b"\x1F\x00\x04done",
        b"\x26\x00\x01a\x00\x01b",
    ]);
    let expected = Packet::PubComp(pub_response(
        4,
        ReasonCode::Success,
        Properties {
            reason_string: Some(s("done")),
            user_properties: vec![up("a", "b")],
            ..Default::default()
        },
    ));
    golden(&bytes, V5, &expected);
}

// ---------------------------------------------------------------------------
// 3.8-3.11 SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK
// ---------------------------------------------------------------------------

/// SUBSCRIBE with a Subscription Identifier (3.8.2.1.2) and every
/// Subscription Option of 3.8.3.1, including a shared subscription.
#[test]
fn v5_3_8_3_1_subscribe_with_subscription_options() {
    let bytes = cat(&[
        &[0x82, 30],         // SUBSCRIBE, flags 0b0010 [MQTT-3.8.1-1]
        &[0x00, 0x0B],       // Packet Identifier 11
        &[0x02, 0x0B, 0x05], // Subscription Identifier 5
        b"\x00\x03a/+",
        &[0x2D], // retain handling 2, retain as published, no local, QoS 1
        b"\x00\x0C$share/g/x/#",
        &[0x12], // retain handling 1, QoS 2
        b"\x00\x01#",
        &[0x00], // QoS 0, every option off
    ]);
    let expected = Packet::Subscribe(Subscribe {
        packet_id: pid(11),
        properties: Properties {
            subscription_identifiers: vec![5],
            ..Default::default()
        },
        subscriptions: vec![
            Subscription {
                filter: s("a/+"),
                options: SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::Never,
                },
            },
            Subscription {
                filter: s("$share/g/x/#"),
                options: SubscriptionOptions {
                    qos: QoS::ExactlyOnce,
                    no_local: false,
                    retain_as_published: false,
                    retain_handling: RetainHandling::OnNewSubscribe,
                },
            },
            Subscription {
                filter: s("#"),
                options: SubscriptionOptions::qos(QoS::AtMostOnce),
            },
        ],
    });
    golden(&bytes, V5, &expected);
}

/// SUBACK: one Reason Code per Topic Filter, in order [MQTT-3.9.3-1], and a
/// Reason String (3.9.2.1.2).
#[test]
fn v5_3_9_3_suback_with_reason_string() {
    let bytes = cat(&[
        &[0x90, 0x0C],
        &[0x00, 0x0B],
        &[0x05],
        b"\x1F\x00\x02ok",
        &[0x01, 0x02, 0x00, 0x8F],
    ]);
    let expected = Packet::SubAck(SubAck {
        packet_id: pid(11),
        properties: Properties {
            reason_string: Some(s("ok")),
            ..Default::default()
        },
        reasons: vec![
            ReasonCode::GrantedQos1,
            ReasonCode::GrantedQos2,
            ReasonCode::GRANTED_QOS_0,
            ReasonCode::TopicFilterInvalid,
        ],
    });
    golden(&bytes, V5, &expected);
}

/// Every SUBACK Reason Code of table 3-8 (3.9.3).
#[test]
fn v5_3_9_3_every_suback_reason_code() {
    let codes = [
        0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
    ];
    let bytes = cat(&[&[0x90, 15, 0x00, 0x01, 0x00], &codes]);
    let expected = Packet::SubAck(SubAck {
        packet_id: pid(1),
        properties: Properties::default(),
        reasons: codes
            .iter()
            .map(|&c| ReasonCode::from_u8(c).unwrap())
            .collect(),
    });
    golden(&bytes, V5, &expected);
}

/// UNSUBSCRIBE with a User Property (3.10.2.1.2); flags 0b0010 [MQTT-3.10.1-1].
#[test]
fn v5_3_10_unsubscribe_with_user_property() {
    let bytes = cat(&[
        &[0xA2, 27],
        &[0x00, 0x0C],
        &[0x07],
        b"\x26\x00\x01k\x00\x01v",
        b"\x00\x03a/+",
        b"\x00\x0A$share/g/b",
    ]);
    let expected = Packet::Unsubscribe(Unsubscribe {
        packet_id: pid(12),
        properties: Properties {
            user_properties: vec![up("k", "v")],
            ..Default::default()
        },
        filters: vec![s("a/+"), s("$share/g/b")],
    });
    golden(&bytes, V5, &expected);
}

/// UNSUBACK Reason Codes 0x00 and 0x11 (No subscription existed), table 3-9.
#[test]
fn v5_3_11_3_unsuback_reason_codes() {
    let bytes = [0xB0, 0x05, 0x00, 0x0C, 0x00, 0x00, 0x11];
    let expected = Packet::UnsubAck(UnsubAck {
        packet_id: pid(12),
        properties: Properties::default(),
        reasons: vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
    });
    golden(&bytes, V5, &expected);
}

#[test]
fn v5_3_11_2_1_unsuback_with_reason_string() {
    let bytes = cat(&[
        &[0xB0, 0x0B],
        &[0x00, 0x0D],
        &[0x06],
        b"\x1F\x00\x03bad",
        &[0x8F, 0x87],
    ]);
    let expected = Packet::UnsubAck(UnsubAck {
        packet_id: pid(13),
        properties: Properties {
            reason_string: Some(s("bad")),
            ..Default::default()
        },
        reasons: vec![ReasonCode::TopicFilterInvalid, ReasonCode::NotAuthorized],
    });
    golden(&bytes, V5, &expected);
}

// ---------------------------------------------------------------------------
// 3.12-3.15 PINGREQ, PINGRESP, DISCONNECT, AUTH
// ---------------------------------------------------------------------------

#[test]
fn v5_3_12_pingreq() {
    golden(&[0xC0, 0x00], V5, &Packet::PingReq);
}

#[test]
fn v5_3_13_pingresp() {
    golden(&[0xD0, 0x00], V5, &Packet::PingResp);
}

/// "If the Remaining Length is less than 1 the value of 0x00 (Normal
/// disconnection) is used" (3.14.2.1).
#[test]
fn v5_3_14_2_1_disconnect_zero_length_is_normal_disconnection() {
    let expected = Packet::Disconnect(Disconnect::new(ReasonCode::NORMAL_DISCONNECTION));
    golden(&[0xE0, 0x00], V5, &expected);
}

/// Reason 0x8E (Session taken over) with no Property Length (3.14.2.2.1).
#[test]
fn v5_3_14_2_1_disconnect_reason_only() {
    let expected = Packet::Disconnect(Disconnect::new(ReasonCode::SessionTakenOver));
    golden(&[0xE0, 0x01, 0x8E], V5, &expected);
}

/// Reason 0x04 (Disconnect with Will Message) and a Session Expiry Interval
/// (3.14.2.2.2).
#[test]
fn v5_3_14_2_2_2_disconnect_with_session_expiry() {
    let bytes = [
        0xE0, 0x07, // DISCONNECT, remaining length 7
        0x04, // Disconnect with Will Message
        0x05, // Property Length
        0x11, 0x00, 0x00, 0x00, 0x3C, // Session Expiry Interval 60
    ];
    let expected = Packet::Disconnect(Disconnect {
        reason: ReasonCode::DisconnectWithWillMessage,
        properties: Properties {
            session_expiry_interval: Some(60),
            ..Default::default()
        },
    });
    golden(&bytes, V5, &expected);
}

/// Reason 0x9D (Server moved) with a Server Reference (3.14.2.2.5) and a
/// Reason String (3.14.2.2.3).
#[test]
fn v5_3_14_2_2_5_disconnect_server_moved() {
    let bytes = cat(&[
        &[0xE0, 0x0E],
        &[0x9D],
        &[0x0C],
        b"\x1C\x00\x04b:88",
        b"\x1F\x00\x02mv",
    ]);
    let expected = Packet::Disconnect(Disconnect {
        reason: ReasonCode::ServerMoved,
        properties: Properties {
            server_reference: Some(s("b:88")),
            reason_string: Some(s("mv")),
            ..Default::default()
        },
    });
    golden(&bytes, V5, &expected);
}

/// Every DISCONNECT Reason Code of table 3-10 round-trips [MQTT-3.14.2-1].
#[test]
fn v5_3_14_2_1_every_disconnect_reason_code() {
    let codes = [
        0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
        0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
    ];
    for code in codes {
        let reason = ReasonCode::from_u8(code).unwrap();
        let expected = Packet::Disconnect(Disconnect::new(reason));
        if code == 0 {
            golden(&[0xE0, 0x00], V5, &expected);
        } else {
            golden(&[0xE0, 0x01, code], V5, &expected);
        }
    }
}

/// "The Reason Code and Property Length can be omitted if the Reason Code is
/// 0x00 (Success) and there are no Properties. In this case the AUTH has a
/// Remaining Length of 0" (3.15.2.1).
#[test]
fn v5_3_15_2_1_auth_zero_length_is_success() {
    let expected = Packet::Auth(Auth {
        reason: ReasonCode::Success,
        properties: Properties::default(),
    });
    golden(&[0xF0, 0x00], V5, &expected);
}

/// AUTH 0x18 (Continue authentication) with Authentication Method
/// (3.15.2.2.2) and Authentication Data (3.15.2.2.3).
#[test]
fn v5_3_15_2_2_auth_continue_with_method_and_data() {
    let bytes = cat(&[
        &[0xF0, 0x17],
        &[0x18],
        &[0x15],
        b"\x15\x00\x0BSCRAM-SHA-1",
        &[0x16, 0x00, 0x04, 0xDE, 0xAD, 0xBE, 0xEF],
    ]);
    let expected = Packet::Auth(Auth {
        reason: ReasonCode::ContinueAuthentication,
        properties: Properties {
            authentication_method: Some(s("SCRAM-SHA-1")),
            authentication_data: Some(Bytes::from_static(&[0xDE, 0xAD, 0xBE, 0xEF])),
            ..Default::default()
        },
    });
    golden(&bytes, V5, &expected);
}

/// AUTH 0x19 (Re-authenticate) with a Reason String (3.15.2.2.4).
#[test]
fn v5_3_15_2_1_auth_reauthenticate() {
    let bytes = cat(&[
        &[0xF0, 0x0F],
        &[0x19],
        &[0x0D],
        b"\x15\x00\x05SCRAM",
        b"\x1F\x00\x02re",
    ]);
    let expected = Packet::Auth(Auth {
        reason: ReasonCode::ReAuthenticate,
        properties: Properties {
            authentication_method: Some(s("SCRAM")),
            reason_string: Some(s("re")),
            ..Default::default()
        },
    });
    golden(&bytes, V5, &expected);
}

/// AUTH does not exist before MQTT 5 (2.1.2: packet type 15 is reserved).
#[test]
fn v5_3_15_auth_cannot_be_encoded_in_3_1_1() {
    let auth = Packet::Auth(Auth {
        reason: ReasonCode::Success,
        properties: Properties::default(),
    });
    assert_eq!(
        auth.to_bytes(ProtocolVersion::V3_1_1),
        Err(EncodeError::NotInVersion)
    );
}

// ---------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------

/// Two packets back to back in one buffer decode one after the other.
#[test]
fn v5_streaming_two_packets_in_one_buffer() {
    let (publish, expected) = publish_with_every_property();
    let mut buf = publish.clone();
    buf.extend_from_slice(&[0xE0, 0x01, 0x8E]); // DISCONNECT, Session taken over
    let (first, used) = decode(&buf, V5, u32::MAX).unwrap().unwrap();
    assert_eq!(first, expected);
    assert_eq!(used, publish.len());
    let rest = &buf[used..];
    let (second, used2) = decode(rest, V5, u32::MAX).unwrap().unwrap();
    assert_eq!(
        second,
        Packet::Disconnect(Disconnect::new(ReasonCode::SessionTakenOver))
    );
    assert_eq!(used2, 3);
    assert_eq!(decode(&rest[used2..], V5, u32::MAX), Ok(None));
}

/// Bytes arriving one at a time: nothing until the last byte of each packet.
#[test]
fn v5_streaming_byte_by_byte() {
    let (publish, expected) = publish_with_every_property();
    let stream = cat(&[&publish, &[0xC0, 0x00], &[0x40, 0x02, 0x00, 0x0A]]);
    let mut buf = Vec::new();
    let mut got = Vec::new();
    for &b in &stream {
        buf.push(b);
        while let Some((packet, used)) = decode(&buf, V5, u32::MAX).unwrap() {
            got.push(packet);
            buf.drain(..used);
        }
    }
    assert!(buf.is_empty());
    assert_eq!(
        got,
        vec![
            expected,
            Packet::PingReq,
            Packet::PubAck(PubResponse::new(pid(10)))
        ]
    );
}
