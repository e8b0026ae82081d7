//! Malformed and invalid input: one test per `DecodeError` variant, each
//! asserting the exact error and the MQTT 5 reason code the broker sends for
//! it (`DecodeError::reason_code`). Byte vectors are written by hand from the
//! MQTT 3.1.1 and 5.0 specifications; the only computed byte is the one-byte
//! Remaining Length of `packet()`, so that each case changes one field only.
//!
//! Reason codes: 0x81 Malformed Packet, 0x82 Protocol Error, 0x84 Unsupported
//! Protocol Version, 0x8F Topic Filter invalid, 0x90 Topic Name invalid,
//! 0x94 Topic Alias invalid, 0x95 Packet too large.

use std::num::NonZeroU16;
use tabmq::codec::{
    decode, DecodeError, Disconnect, EncodeError, Packet, PacketType, Properties, PropertyId,
    ProtocolVersion, Publish, QoS, ReasonCode,
};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
const V31: ProtocolVersion = ProtocolVersion::V3_1;

const MALFORMED: u8 = 0x81;
const PROTOCOL_ERROR: u8 = 0x82;
const UNSUPPORTED_PROTOCOL_VERSION: u8 = 0x84;
const TOPIC_FILTER_INVALID: u8 = 0x8F;
const TOPIC_NAME_INVALID: u8 = 0x90;
const TOPIC_ALIAS_INVALID: u8 = 0x94;
const PACKET_TOO_LARGE: u8 = 0x95;

/// A packet with a one-byte Remaining Length covering `body`.
fn packet(first: u8, body: &[&[u8]]) -> Vec<u8> {
    let body = body.concat();
    assert!(
        body.len() < 128,
        "test packet too long for a one-byte length"
    );
    let mut out = vec![first, body.len() as u8];
    out.extend_from_slice(&body);
    out
}

/// An MQTT 5 CONNECT: "MQTT", level 5, `flags`, Keep Alive 0, then
/// `props_and_payload` (property length, properties, payload).
fn connect5(flags: u8, props_and_payload: &[&[u8]]) -> Vec<u8> {
    let mut body: Vec<&[u8]> = vec![b"\x00\x04MQTT", &[0x05], std::slice::from_ref(&flags)];
    body.push(&[0x00, 0x00]);
    body.extend_from_slice(props_and_payload);
    packet(0x10, &body)
}

/// A 3.1.1 CONNECT: "MQTT", level 4, `flags`, Keep Alive 0, then `payload`.
fn connect4(flags: u8, payload: &[&[u8]]) -> Vec<u8> {
    let mut body: Vec<&[u8]> = vec![b"\x00\x04MQTT", &[0x04], std::slice::from_ref(&flags)];
    body.push(&[0x00, 0x00]);
    body.extend_from_slice(payload);
    packet(0x10, &body)
}

/// Asserts the error and its reason code, and that every strict prefix of the
/// packet still asks for more bytes: an error comes only with the whole packet.
fn fails(bytes: &[u8], version: ProtocolVersion, expected: DecodeError, reason: u8) {
    let err = match decode(bytes, version, u32::MAX) {
        Err(e) => e,
        Ok(other) => panic!("expected {expected:?}, got {other:?}\n{bytes:02x?}"),
    };
    assert_eq!(err, expected, "{bytes:02x?}");
    assert_eq!(
        err.reason_code() as u8,
        reason,
        "reason code of {err:?} is {:?}",
        err.reason_code()
    );
    assert!(err.reason_code().is_error());
    assert!(!err.to_string().is_empty());
    for n in 0..bytes.len() {
        assert_eq!(
            decode(&bytes[..n], version, u32::MAX),
            Ok(None),
            "prefix of {n} bytes of {bytes:02x?}"
        );
    }
}

/// Errors found in the fixed header: no prefix check.
fn fails_in_header(
    bytes: &[u8],
    version: ProtocolVersion,
    max: u32,
    expected: DecodeError,
    reason: u8,
) {
    let err = decode(bytes, version, max).expect_err("should fail");
    assert_eq!(err, expected, "{bytes:02x?}");
    assert_eq!(err.reason_code() as u8, reason);
}

fn not_allowed(property: PropertyId, packet: PacketType) -> DecodeError {
    DecodeError::PropertyNotAllowed { property, packet }
}

fn bad_reason(packet: PacketType, code: u8) -> DecodeError {
    DecodeError::InvalidReasonCode { packet, code }
}

// ---------------------------------------------------------------------------
// Fixed header (2.1, 2.2.3)
// ---------------------------------------------------------------------------

/// v5 3.1.2.11.4 / 3.2.2.3.6: a packet larger than the Maximum Packet Size is
/// refused from its fixed header alone, before the body arrives.
#[test]
fn v5_3_1_2_11_4_packet_too_large_from_fixed_header() {
    // Remaining Length 268,435,455 (four bytes): only the header is here.
    fails_in_header(
        &[0x30, 0xFF, 0xFF, 0xFF, 0x7F],
        V5,
        1024,
        DecodeError::PacketTooLarge {
            size: 268_435_455 + 5,
            max: 1024,
        },
        PACKET_TOO_LARGE,
    );
    // Two-byte header: 2 + 127 = 129 bytes.
    fails_in_header(
        &[0x30, 0x7F],
        V311,
        100,
        DecodeError::PacketTooLarge {
            size: 129,
            max: 100,
        },
        PACKET_TOO_LARGE,
    );
    // Three-byte header: 3 + 128 = 131 bytes.
    fails_in_header(
        &[0x32, 0x80, 0x01],
        V5,
        130,
        DecodeError::PacketTooLarge {
            size: 131,
            max: 130,
        },
        PACKET_TOO_LARGE,
    );
    // The size is checked before the packet type.
    fails_in_header(
        &[0x00, 0x7F],
        V5,
        10,
        DecodeError::PacketTooLarge { size: 129, max: 10 },
        PACKET_TOO_LARGE,
    );
    // The limit is the whole packet: a 2-byte PINGREQ fits in 2, not in 1.
    assert_eq!(decode(&[0xC0, 0x00], V5, 2), Ok(Some((Packet::PingReq, 2))));
    fails_in_header(
        &[0xC0, 0x00],
        V5,
        1,
        DecodeError::PacketTooLarge { size: 2, max: 1 },
        PACKET_TOO_LARGE,
    );
    // An incomplete Remaining Length is still "need more".
    assert_eq!(decode(&[0x30, 0xFF, 0xFF], V5, 10), Ok(None));
}

/// "The maximum number of bytes in the Variable Byte Integer field is four"
/// (v5 1.5.5; 3.1.1 2.2.3).
#[test]
fn mqtt_1_5_5_variable_byte_integer_of_five_bytes() {
    let header = [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
    fails_in_header(
        &header,
        V311,
        u32::MAX,
        DecodeError::MalformedVarint,
        MALFORMED,
    );
    // Known as soon as the fourth length byte has its continuation bit set.
    fails_in_header(
        &header[..5],
        V5,
        u32::MAX,
        DecodeError::MalformedVarint,
        MALFORMED,
    );
    assert_eq!(decode(&header[..4], V5, u32::MAX), Ok(None));
    // Inside a packet: a five-byte Property Length ...
    let props = packet(0x30, &[b"\x00\x01t", &[0xFF, 0xFF, 0xFF, 0xFF, 0x01]]);
    fails(&props, V5, DecodeError::MalformedVarint, MALFORMED);
    // ... and a five-byte Subscription Identifier.
    let sub_id = packet(
        0x30,
        &[b"\x00\x01t", &[0x06, 0x0B, 0x80, 0x80, 0x80, 0x80, 0x01]],
    );
    fails(&sub_id, V5, DecodeError::MalformedVarint, MALFORMED);
}

/// 2.1.2: packet type 0 is reserved ("Forbidden"); 15 is reserved in 3.1.1
/// and is AUTH only in MQTT 5.
#[test]
fn mqtt_2_1_2_reserved_packet_types() {
    for version in [V5, V311, V31] {
        fails(
            &[0x00, 0x00],
            version,
            DecodeError::ReservedPacketType(0),
            MALFORMED,
        );
    }
    fails(
        &[0xF0, 0x00],
        V311,
        DecodeError::ReservedPacketType(15),
        MALFORMED,
    );
    fails(
        &[0xF0, 0x00],
        V31,
        DecodeError::ReservedPacketType(15),
        MALFORMED,
    );
}

/// [MQTT-2.1.3-1]: reserved flag bits must have the listed value (0b0010 for
/// PUBREL, SUBSCRIBE and UNSUBSCRIBE, 0 for the rest); otherwise the packet is
/// malformed [MQTT-2.2.2-2 (3.1.1)].
#[test]
fn mqtt_2_1_3_1_reserved_fixed_header_flags() {
    let cases: [(Vec<u8>, PacketType, u8); 14] = [
        (vec![0x41, 0x02, 0x00, 0x01], PacketType::PubAck, 0x1),
        (
            packet(0x80, &[&[0x00, 0x01], b"\x00\x01a", &[0x00]]),
            PacketType::Subscribe,
            0x0,
        ),
        (
            packet(0xA0, &[&[0x00, 0x01], b"\x00\x01a"]),
            PacketType::Unsubscribe,
            0x0,
        ),
        (vec![0x60, 0x02, 0x00, 0x01], PacketType::PubRel, 0x0),
        (vec![0x63, 0x02, 0x00, 0x01], PacketType::PubRel, 0x3),
        (
            connect4(0x02, &[b"\x00\x00"])
                .iter()
                .enumerate()
                .map(|(i, &b)| if i == 0 { 0x18 } else { b })
                .collect(),
            PacketType::Connect,
            0x8,
        ),
        (vec![0x22, 0x02, 0x00, 0x00], PacketType::ConnAck, 0x2),
        (vec![0x52, 0x02, 0x00, 0x01], PacketType::PubRec, 0x2),
        (vec![0x72, 0x02, 0x00, 0x01], PacketType::PubComp, 0x2),
        (vec![0x92, 0x03, 0x00, 0x01, 0x00], PacketType::SubAck, 0x2),
        (vec![0xB1, 0x02, 0x00, 0x01], PacketType::UnsubAck, 0x1),
        (vec![0xC1, 0x00], PacketType::PingReq, 0x1),
        (vec![0xD8, 0x00], PacketType::PingResp, 0x8),
        (vec![0xE2, 0x00], PacketType::Disconnect, 0x2),
    ];
    for (bytes, packet, flags) in cases {
        let err = DecodeError::InvalidFixedHeaderFlags { packet, flags };
        fails(&bytes, V311, err.clone(), MALFORMED);
        fails(&bytes, V5, err, MALFORMED);
    }
    // v5 3.15.1: AUTH flags are 0.
    fails(
        &[0xF1, 0x00],
        V5,
        DecodeError::InvalidFixedHeaderFlags {
            packet: PacketType::Auth,
            flags: 0x1,
        },
        MALFORMED,
    );
}

// ---------------------------------------------------------------------------
// Lengths: fields past the Remaining Length, bytes after the last field
// ---------------------------------------------------------------------------

/// A field running past the Remaining Length, including a missing Packet
/// Identifier (2.2.1 (3.1.1 2.3.1): present in PUBLISH with QoS > 0,
/// PUBACK ... UNSUBACK).
#[test]
fn mqtt_2_2_3_remaining_length_shorter_than_fields() {
    let cases: [(&[u8], ProtocolVersion); 12] = [
        // PUBACK with one byte of Packet Identifier.
        (&[0x40, 0x01, 0x00], V311),
        // PUBACK with no Packet Identifier at all.
        (&[0x40, 0x00], V5),
        // PUBLISH QoS 1 without its Packet Identifier.
        (&[0x32, 0x03, 0x00, 0x01, b't'], V311),
        // A Topic Name whose length runs past the packet.
        (&[0x30, 0x03, 0x00, 0x05, b'a'], V311),
        // SUBSCRIBE without its Packet Identifier.
        (&[0x82, 0x00], V311),
        // SUBSCRIBE with a filter but no Subscription Options byte.
        (&[0x82, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'], V311),
        // CONNACK with only the flags byte.
        (&[0x20, 0x01, 0x00], V311),
        // v5 PUBACK whose Property Length runs past the packet.
        (&[0x40, 0x04, 0x00, 0x01, 0x00, 0x05], V5),
        // v5 PUBLISH with no Property Length.
        (&[0x30, 0x03, 0x00, 0x01, b't'], V5),
        // v5 property value cut short: Topic Alias with one byte.
        (&[0x30, 0x06, 0x00, 0x01, b't', 0x02, 0x23, 0x00], V5),
        // Property Length ending inside a Variable Byte Integer.
        (&[0x30, 0x05, 0x00, 0x01, b't', 0x01, 0x0B], V5),
        // UNSUBSCRIBE without its Packet Identifier.
        (&[0xA2, 0x01, 0x00], V5),
    ];
    for (bytes, version) in cases {
        fails(bytes, version, DecodeError::Truncated, MALFORMED);
    }
    // CONNECT whose flags announce fields that are not there: the will
    // (v5 [MQTT-3.1.2-9]) and the user name (v5 [MQTT-3.1.2-17]).
    fails(
        &connect4(0x06, &[b"\x00\x01c"]),
        V311,
        DecodeError::Truncated,
        MALFORMED,
    );
    fails(
        &connect5(0x82, &[&[0x00], b"\x00\x01c"]),
        V5,
        DecodeError::Truncated,
        MALFORMED,
    );
}

/// Bytes left after the last field of a packet whose size its fields fix.
#[test]
fn mqtt_2_2_3_trailing_bytes() {
    let cases: [(&[u8], ProtocolVersion); 9] = [
        // 3.12 / 3.13: PINGREQ and PINGRESP have no variable header or payload.
        (&[0xC0, 0x01, 0x00], V311),
        (&[0xD0, 0x01, 0x00], V5),
        // 3.1.1 PUBACK, UNSUBACK and CONNACK have a Remaining Length of 2.
        (&[0x40, 0x03, 0x00, 0x01, 0x00], V311),
        (&[0xB0, 0x03, 0x00, 0x01, 0x00], V311),
        (&[0x20, 0x03, 0x00, 0x00, 0x00], V311),
        // 3.1.1 DISCONNECT has a Remaining Length of 0 (3.14.1).
        (&[0xE0, 0x01, 0x00], V311),
        // v5 PUBACK: a byte after the properties.
        (&[0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00], V5),
        // v5 DISCONNECT: a byte after the properties.
        (&[0xE0, 0x03, 0x00, 0x00, 0x00], V5),
        // v5 CONNACK: a byte after the properties.
        (&[0x20, 0x04, 0x00, 0x00, 0x00, 0x00], V5),
    ];
    for (bytes, version) in cases {
        fails(bytes, version, DecodeError::TrailingBytes, MALFORMED);
    }
    // CONNECT: a byte after the last field the flags announce.
    fails(
        &connect4(0x02, &[b"\x00\x01c", &[0x00]]),
        V311,
        DecodeError::TrailingBytes,
        MALFORMED,
    );
}

// ---------------------------------------------------------------------------
// UTF-8 strings (1.5.3 in 3.1.1, 1.5.4 in v5)
// ---------------------------------------------------------------------------

/// [MQTT-1.5.3-1] / v5 [MQTT-1.5.4-1]: ill-formed UTF-8, including surrogate
/// code points and overlong encodings, is malformed.
#[test]
fn mqtt_1_5_3_1_invalid_utf8() {
    let bad: [&[u8]; 5] = [
        &[0xC3, 0x28],       // invalid continuation byte
        &[0xED, 0xA0, 0x80], // U+D800, a surrogate
        &[0xC0, 0x80],       // overlong U+0000
        &[0xFF],             // never valid in UTF-8
        &[0xE2, 0x82],       // cut short
    ];
    for raw in bad {
        let topic = [&[0x00, raw.len() as u8][..], raw].concat();
        fails(
            &packet(0x30, &[&topic]),
            V311,
            DecodeError::InvalidUtf8,
            MALFORMED,
        );
    }
    // In the Client Identifier.
    fails(
        &connect4(0x02, &[&[0x00, 0x02, 0xC3, 0x28]]),
        V311,
        DecodeError::InvalidUtf8,
        MALFORMED,
    );
    // In a v5 User Property value.
    fails(
        &packet(
            0x30,
            &[
                b"\x00\x01t",
                &[0x07, 0x26, 0x00, 0x01, b'k', 0x00, 0x01, 0xFF],
            ],
        ),
        V5,
        DecodeError::InvalidUtf8,
        MALFORMED,
    );
}

/// [MQTT-1.5.3-2] / v5 [MQTT-1.5.4-2]: a string must not include U+0000.
#[test]
fn mqtt_1_5_3_2_null_character() {
    fails(
        &packet(0x30, &[&[0x00, 0x03, b'a', 0x00, b'b']]),
        V311,
        DecodeError::NullCharacter,
        MALFORMED,
    );
    fails(
        &connect5(0x02, &[&[0x00], &[0x00, 0x01, 0x00]]),
        V5,
        DecodeError::NullCharacter,
        MALFORMED,
    );
    fails(
        &packet(
            0x30,
            &[
                b"\x00\x01t",
                &[0x07, 0x26, 0x00, 0x01, b'k', 0x00, 0x01, 0x00],
            ],
        ),
        V5,
        DecodeError::NullCharacter,
        MALFORMED,
    );
}

// ---------------------------------------------------------------------------
// 3.1 CONNECT
// ---------------------------------------------------------------------------

/// [MQTT-3.1.2-1]: the Protocol Name must be "MQTT" ("MQIsdp" for MQTT 3.1,
/// level 3); v5: the Server MAY answer 0x84 (Unsupported Protocol Version).
#[test]
fn mqtt_3_1_2_1_wrong_protocol_name() {
    let cases: [(&[u8], u8); 5] = [
        (b"\x00\x04MQTX", 4),
        (b"\x00\x04mqtt", 4),
        (b"\x00\x06MQIsdp", 4), // the 3.1 name with the 3.1.1 level
        (b"\x00\x04MQTT", 3),   // the 3.1.1 name with the 3.1 level
        (b"\x00\x04MQTX", 9),   // an unknown name wins over an unknown level
    ];
    for (name, level) in cases {
        let bytes = packet(0x10, &[name, &[level, 0x02, 0x00, 0x00], b"\x00\x00"]);
        fails(
            &bytes,
            V311,
            DecodeError::InvalidProtocolName,
            UNSUPPORTED_PROTOCOL_VERSION,
        );
    }
}

/// [MQTT-3.1.2-2]: an unsupported Protocol Level gets CONNACK 0x01 (3.1.1) or
/// 0x84 (v5).
#[test]
fn mqtt_3_1_2_2_unsupported_protocol_level() {
    for level in [6, 2, 0, 0xFF] {
        let bytes = packet(
            0x10,
            &[b"\x00\x04MQTT", &[level, 0x02, 0x00, 0x00], b"\x00\x00"],
        );
        fails(
            &bytes,
            V5,
            DecodeError::UnsupportedProtocolVersion(level),
            UNSUPPORTED_PROTOCOL_VERSION,
        );
    }
    assert_eq!(ReasonCode::UnsupportedProtocolVersion.to_v3_connack(), 0x01);
}

/// [MQTT-3.1.2-3]: the reserved flag (bit 0) must be 0; v5: "If the reserved
/// flag is not 0 it is a Malformed Packet".
#[test]
fn mqtt_3_1_2_3_reserved_connect_flag() {
    fails(
        &connect4(0x03, &[b"\x00\x01c"]),
        V311,
        DecodeError::ReservedConnectFlag,
        MALFORMED,
    );
    fails(
        &connect5(0x01, &[&[0x00], b"\x00\x01c"]),
        V5,
        DecodeError::ReservedConnectFlag,
        MALFORMED,
    );
}

/// Will QoS and Will Retain must be 0 when the Will Flag is 0
/// ([MQTT-3.1.2-13], [MQTT-3.1.2-15] in 3.1.1; [MQTT-3.1.2-11],
/// [MQTT-3.1.2-13] in v5).
#[test]
fn mqtt_3_1_2_13_will_qos_and_retain_without_will_flag() {
    for flags in [0x0A, 0x12, 0x22, 0x2A] {
        fails(
            &connect4(flags, &[b"\x00\x01c"]),
            V311,
            DecodeError::WillFlagsWithoutWill,
            MALFORMED,
        );
        fails(
            &connect5(flags, &[&[0x00], b"\x00\x01c"]),
            V5,
            DecodeError::WillFlagsWithoutWill,
            MALFORMED,
        );
    }
}

/// [MQTT-3.1.2-22] (3.1.1): "If the User Name Flag is set to 0, the Password
/// Flag MUST be set to 0". MQTT 5 allows it: see
/// `v5_3_1_2_9_password_without_user_name_is_allowed` in codec_golden_v5.rs.
#[test]
fn mqtt_3_1_2_22_password_without_user_name() {
    let v311 = connect4(0x42, &[b"\x00\x01c", b"\x00\x02pw"]);
    fails(&v311, V311, DecodeError::PasswordWithoutUsername, MALFORMED);
    let v31 = packet(
        0x10,
        &[
            b"\x00\x06MQIsdp",
            &[0x03, 0x42, 0x00, 0x00],
            b"\x00\x01c",
            b"\x00\x02pw",
        ],
    );
    fails(&v31, V31, DecodeError::PasswordWithoutUsername, MALFORMED);
    let v5 = connect5(0x42, &[&[0x00], b"\x00\x01c", b"\x00\x02pw"]);
    assert!(
        matches!(decode(&v5, V5, u32::MAX), Ok(Some((Packet::Connect(c), _))) if c.username.is_none())
    );
}

// ---------------------------------------------------------------------------
// QoS
// ---------------------------------------------------------------------------

/// QoS 3 is malformed in PUBLISH [MQTT-3.3.1-4] and in the Will QoS (v5
/// [MQTT-3.1.2-12]: "A value of 3 (0x03) is a Malformed Packet"; 3.1.1
/// [MQTT-3.1.2-14]), and in 3.1.1 subscription options [MQTT-3.8.3-4].
#[test]
fn mqtt_3_3_1_4_qos_3() {
    let publish = packet(0x36, &[b"\x00\x01t", &[0x00, 0x01]]);
    fails(&publish, V311, DecodeError::InvalidQos, MALFORMED);
    let publish5 = packet(0x36, &[b"\x00\x01t", &[0x00, 0x01], &[0x00]]);
    fails(&publish5, V5, DecodeError::InvalidQos, MALFORMED);
    // Will flag with Will QoS 3.
    let will = [
        &[0x00][..],
        b"\x00\x01c",
        &[0x00],
        b"\x00\x01w",
        b"\x00\x00",
    ];
    fails(
        &connect5(0x1E, &will),
        V5,
        DecodeError::InvalidQos,
        MALFORMED,
    );
    fails(
        &connect4(0x1E, &[b"\x00\x01c", b"\x00\x01w", b"\x00\x00"]),
        V311,
        DecodeError::InvalidQos,
        MALFORMED,
    );
    // 3.1.1 SUBSCRIBE with Requested QoS 3.
    let subscribe = packet(0x82, &[&[0x00, 0x01], b"\x00\x01a", &[0x03]]);
    fails(&subscribe, V311, DecodeError::InvalidQos, MALFORMED);
}

/// v5 3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the
/// value 3."
#[test]
fn v5_3_8_3_1_subscription_maximum_qos_3() {
    let subscribe = packet(0x82, &[&[0x00, 0x01], &[0x00], b"\x00\x01a", &[0x03]]);
    fails(
        &subscribe,
        V5,
        DecodeError::InvalidSubscriptionQos,
        PROTOCOL_ERROR,
    );
}

/// [MQTT-3.3.1-2]: "The DUP flag MUST be set to 0 for all QoS 0 messages".
#[test]
fn mqtt_3_3_1_2_dup_must_be_0_for_qos0() {
    fails(
        &packet(0x38, &[b"\x00\x01t", b"x"]),
        V311,
        DecodeError::DupOnQos0,
        MALFORMED,
    );
    fails(
        &packet(0x39, &[b"\x00\x01t", &[0x00]]),
        V5,
        DecodeError::DupOnQos0,
        MALFORMED,
    );
}

/// [MQTT-2.2.1-3] (3.1.1 [MQTT-2.3.1-1]): Packet Identifiers are non-zero.
#[test]
fn mqtt_2_2_1_3_zero_packet_identifier() {
    let cases: [(Vec<u8>, ProtocolVersion); 10] = [
        (packet(0x32, &[b"\x00\x01t", &[0x00, 0x00]]), V311),
        (packet(0x34, &[b"\x00\x01t", &[0x00, 0x00], &[0x00]]), V5),
        (vec![0x40, 0x02, 0x00, 0x00], V311),
        (vec![0x50, 0x02, 0x00, 0x00], V5),
        (vec![0x62, 0x02, 0x00, 0x00], V311),
        (vec![0x70, 0x02, 0x00, 0x00], V5),
        (packet(0x82, &[&[0x00, 0x00], b"\x00\x01a", &[0x00]]), V311),
        (vec![0x90, 0x03, 0x00, 0x00, 0x00], V311),
        (packet(0xA2, &[&[0x00, 0x00], &[0x00], b"\x00\x01a"]), V5),
        (vec![0xB0, 0x02, 0x00, 0x00], V311),
    ];
    for (bytes, version) in cases {
        fails(&bytes, version, DecodeError::ZeroPacketId, MALFORMED);
    }
}

// ---------------------------------------------------------------------------
// Topic names and filters
// ---------------------------------------------------------------------------

/// [MQTT-3.3.2-2]: "The Topic Name in the PUBLISH Packet MUST NOT contain
/// wildcard characters"; the same for the Will Topic and (v5 [MQTT-3.3.2-14])
/// the Response Topic.
#[test]
fn mqtt_3_3_2_2_wildcard_in_topic_name() {
    for topic in [
        &b"\x00\x03a/+"[..],
        b"\x00\x01#",
        b"\x00\x03a/#",
        b"\x00\x02a+",
    ] {
        fails(
            &packet(0x30, &[topic]),
            V311,
            DecodeError::WildcardInTopicName,
            TOPIC_NAME_INVALID,
        );
    }
    let will = [
        &[0x00][..],
        b"\x00\x01c",
        &[0x00],
        b"\x00\x03w/#",
        b"\x00\x00",
    ];
    fails(
        &connect5(0x06, &will),
        V5,
        DecodeError::WildcardInTopicName,
        TOPIC_NAME_INVALID,
    );
    let response_topic = packet(0x30, &[b"\x00\x01t", &[0x06], b"\x08\x00\x03r/+"]);
    fails(
        &response_topic,
        V5,
        DecodeError::WildcardInTopicName,
        TOPIC_NAME_INVALID,
    );
}

/// [MQTT-4.7.3-1]: Topic Names are at least one character long; v5 3.3.2.1:
/// "It is a Protocol Error if the Topic Name is zero length and there is no
/// Topic Alias."
#[test]
fn mqtt_4_7_3_1_empty_topic_name_without_alias() {
    fails(
        &[0x30, 0x02, 0x00, 0x00],
        V311,
        DecodeError::EmptyTopicName,
        PROTOCOL_ERROR,
    );
    fails(
        &[0x30, 0x03, 0x00, 0x00, 0x00],
        V5,
        DecodeError::EmptyTopicName,
        PROTOCOL_ERROR,
    );
    // Other properties do not stand in for a Topic Alias.
    fails(
        &[0x30, 0x05, 0x00, 0x00, 0x02, 0x01, 0x01],
        V5,
        DecodeError::EmptyTopicName,
        PROTOCOL_ERROR,
    );
    // An empty Will Topic.
    let will = [&[0x00][..], b"\x00\x01c", &[0x00], b"\x00\x00", b"\x00\x00"];
    fails(
        &connect5(0x06, &will),
        V5,
        DecodeError::EmptyTopicName,
        PROTOCOL_ERROR,
    );
}

/// [MQTT-4.7.1-2], [MQTT-4.7.1-3], [MQTT-4.7.3-1]; v5 [MQTT-4.8.2-1],
/// [MQTT-4.8.2-2]: SUBSCRIBE and UNSUBSCRIBE with invalid Topic Filters.
#[test]
fn mqtt_4_7_1_bad_topic_filters_in_subscribe_and_unsubscribe() {
    let filters: [&[u8]; 6] = [
        b"\x00\x05a/#/b",
        b"\x00\x02a+",
        b"\x00\x08$share/g",
        b"\x00\x09$share//x",
        b"\x00\x09$share/g/",
        b"\x00\x00",
    ];
    for f in filters {
        fails(
            &packet(0x82, &[&[0x00, 0x01], &[0x00], f, &[0x01]]),
            V5,
            DecodeError::InvalidTopicFilter,
            TOPIC_FILTER_INVALID,
        );
        fails(
            &packet(0xA2, &[&[0x00, 0x01], &[0x00], f]),
            V5,
            DecodeError::InvalidTopicFilter,
            TOPIC_FILTER_INVALID,
        );
        fails(
            &packet(0x82, &[&[0x00, 0x01], f, &[0x01]]),
            V311,
            DecodeError::InvalidTopicFilter,
            TOPIC_FILTER_INVALID,
        );
    }
    // The bad filter is found after good ones.
    fails(
        &packet(
            0x82,
            &[&[0x00, 0x01], b"\x00\x01a", &[0x00], b"\x00\x02#a", &[0x00]],
        ),
        V311,
        DecodeError::InvalidTopicFilter,
        TOPIC_FILTER_INVALID,
    );
}

/// [MQTT-3.8.3-3] (3.1.1) / v5 [MQTT-3.8.3-2]: at least one Topic Filter; v5:
/// "A SUBSCRIBE packet with no Payload is a Protocol Error". The same for
/// UNSUBSCRIBE ([MQTT-3.10.3-2]).
#[test]
fn mqtt_3_8_3_3_subscribe_with_no_topic_filters() {
    fails(
        &[0x82, 0x02, 0x00, 0x01],
        V311,
        DecodeError::NoTopicFilters,
        PROTOCOL_ERROR,
    );
    fails(
        &[0x82, 0x03, 0x00, 0x01, 0x00],
        V5,
        DecodeError::NoTopicFilters,
        PROTOCOL_ERROR,
    );
    fails(
        &[0xA2, 0x02, 0x00, 0x01],
        V311,
        DecodeError::NoTopicFilters,
        PROTOCOL_ERROR,
    );
    fails(
        &[0xA2, 0x03, 0x00, 0x01, 0x00],
        V5,
        DecodeError::NoTopicFilters,
        PROTOCOL_ERROR,
    );
}

// ---------------------------------------------------------------------------
// Subscription options (v5 3.8.3.1; 3.1.1 3.8.3)
// ---------------------------------------------------------------------------

/// v5 [MQTT-3.8.3-5]: bits 6 and 7 are reserved, "The Server MUST treat a
/// SUBSCRIBE packet as malformed if any of Reserved bits in the Payload are
/// non-zero"; in 3.1.1 bits 2-7 are reserved [MQTT-3.8.3-4].
#[test]
fn v5_3_8_3_5_reserved_subscription_option_bits() {
    for options in [0x40, 0x80, 0xC1] {
        fails(
            &packet(0x82, &[&[0x00, 0x01], &[0x00], b"\x00\x01a", &[options]]),
            V5,
            DecodeError::ReservedSubscriptionBits,
            MALFORMED,
        );
    }
    // No Local, Retain As Published and Retain Handling do not exist in 3.1.1.
    for options in [0x04, 0x08, 0x10, 0x21] {
        fails(
            &packet(0x82, &[&[0x00, 0x01], b"\x00\x01a", &[options]]),
            V311,
            DecodeError::ReservedSubscriptionBits,
            MALFORMED,
        );
    }
}

/// v5 3.8.3.1: "It is a Protocol Error to send a Retain Handling value of 3."
#[test]
fn v5_3_8_3_1_retain_handling_3() {
    fails(
        &packet(0x82, &[&[0x00, 0x01], &[0x00], b"\x00\x01a", &[0x30]]),
        V5,
        DecodeError::InvalidRetainHandling,
        PROTOCOL_ERROR,
    );
}

/// v5 [MQTT-3.8.3-4]: "It is a Protocol Error to set the No Local bit to 1 on
/// a Shared Subscription".
#[test]
fn v5_3_8_3_4_no_local_on_shared_subscription() {
    fails(
        &packet(
            0x82,
            &[&[0x00, 0x01], &[0x00], b"\x00\x0A$share/g/t", &[0x04]],
        ),
        V5,
        DecodeError::NoLocalOnSharedSubscription,
        PROTOCOL_ERROR,
    );
}

// ---------------------------------------------------------------------------
// Properties (v5 2.2.2)
// ---------------------------------------------------------------------------

/// v5 2.2.2.2: "A Control Packet which contains an Identifier which is not
/// valid for its packet type ... is a Malformed Packet": identifiers the
/// spec does not define at all.
#[test]
fn v5_2_2_2_unknown_property_identifier() {
    for id in [0x00, 0x04, 0x0A, 0x2B, 0x7F] {
        fails(
            &packet(0x30, &[b"\x00\x01t", &[0x02, id, 0x00]]),
            V5,
            DecodeError::UnknownProperty(id),
            MALFORMED,
        );
    }
}

/// v5 2.2.2.2 (table 2-4): a property not valid for its packet type is a
/// Malformed Packet.
#[test]
fn v5_2_2_2_property_not_allowed_in_packet() {
    // Topic Alias in CONNECT.
    fails(
        &connect5(0x02, &[&[0x03, 0x23, 0x00, 0x01], b"\x00\x01c"]),
        V5,
        not_allowed(PropertyId::TopicAlias, PacketType::Connect),
        MALFORMED,
    );
    // Will Delay Interval in the CONNECT properties instead of the will's.
    fails(
        &connect5(0x02, &[&[0x05, 0x18, 0x00, 0x00, 0x00, 0x01], b"\x00\x01c"]),
        V5,
        not_allowed(PropertyId::WillDelayInterval, PacketType::Connect),
        MALFORMED,
    );
    // Session Expiry Interval in the Will Properties.
    let will = [
        &[0x00][..],
        b"\x00\x01c",
        &[0x05, 0x11, 0x00, 0x00, 0x00, 0x01],
        b"\x00\x01w",
        b"\x00\x00",
    ];
    fails(
        &connect5(0x06, &will),
        V5,
        not_allowed(PropertyId::SessionExpiryInterval, PacketType::Connect),
        MALFORMED,
    );
    // Session Expiry Interval in PUBLISH.
    fails(
        &packet(0x30, &[b"\x00\x01t", &[0x05, 0x11, 0x00, 0x00, 0x00, 0x01]]),
        V5,
        not_allowed(PropertyId::SessionExpiryInterval, PacketType::Publish),
        MALFORMED,
    );
    // Reason String in PUBLISH.
    fails(
        &packet(0x30, &[b"\x00\x01t", &[0x04, 0x1F, 0x00, 0x01, b'r']]),
        V5,
        not_allowed(PropertyId::ReasonString, PacketType::Publish),
        MALFORMED,
    );
    // Subscription Identifier in UNSUBSCRIBE.
    fails(
        &packet(0xA2, &[&[0x00, 0x01], &[0x02, 0x0B, 0x01], b"\x00\x01a"]),
        V5,
        not_allowed(PropertyId::SubscriptionIdentifier, PacketType::Unsubscribe),
        MALFORMED,
    );
    // Maximum QoS (CONNACK only) in CONNECT.
    fails(
        &connect5(0x02, &[&[0x02, 0x24, 0x01], b"\x00\x01c"]),
        V5,
        not_allowed(PropertyId::MaximumQos, PacketType::Connect),
        MALFORMED,
    );
    // Authentication Method in DISCONNECT.
    fails(
        &[0xE0, 0x06, 0x00, 0x04, 0x15, 0x00, 0x01, b'm'],
        V5,
        not_allowed(PropertyId::AuthenticationMethod, PacketType::Disconnect),
        MALFORMED,
    );
    // Topic Alias in PUBACK.
    fails(
        &[0x40, 0x07, 0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01],
        V5,
        not_allowed(PropertyId::TopicAlias, PacketType::PubAck),
        MALFORMED,
    );
}

/// "It is a Protocol Error to include the <property> more than once" (v5
/// 3.1.2.11, 3.3.2.3, 3.8.2.1.2, ...): every property but User Property, and
/// Subscription Identifier in PUBLISH.
#[test]
fn v5_3_1_2_11_duplicated_single_use_properties() {
    fails(
        &connect5(
            0x02,
            &[&[0x0A, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2], b"\x00\x01c"],
        ),
        V5,
        DecodeError::DuplicateProperty(PropertyId::SessionExpiryInterval),
        PROTOCOL_ERROR,
    );
    fails(
        &connect5(0x02, &[&[0x06, 0x21, 0, 1, 0x21, 0, 1], b"\x00\x01c"]),
        V5,
        DecodeError::DuplicateProperty(PropertyId::ReceiveMaximum),
        PROTOCOL_ERROR,
    );
    fails(
        &packet(0x30, &[b"\x00\x01t", &[0x06, 0x23, 0, 1, 0x23, 0, 2]]),
        V5,
        DecodeError::DuplicateProperty(PropertyId::TopicAlias),
        PROTOCOL_ERROR,
    );
    fails(
        &packet(
            0x30,
            &[b"\x00\x01t", &[0x08, 0x03, 0, 1, b'a', 0x03, 0, 1, b'b']],
        ),
        V5,
        DecodeError::DuplicateProperty(PropertyId::ContentType),
        PROTOCOL_ERROR,
    );
    // v5 3.8.2.1.2: "It is a Protocol Error to include the Subscription
    // Identifier more than once" in SUBSCRIBE.
    fails(
        &packet(
            0x82,
            &[
                &[0x00, 0x01],
                &[0x04, 0x0B, 0x01, 0x0B, 0x02],
                b"\x00\x01a",
                &[0x00],
            ],
        ),
        V5,
        DecodeError::DuplicateProperty(PropertyId::SubscriptionIdentifier),
        PROTOCOL_ERROR,
    );
    fails(
        &[
            0x40, 0x0C, 0x00, 0x01, 0x80, 0x08, 0x1F, 0x00, 0x01, b'a', 0x1F, 0x00, 0x01, b'b',
        ],
        V5,
        DecodeError::DuplicateProperty(PropertyId::ReasonString),
        PROTOCOL_ERROR,
    );
}

/// Property values the spec makes a Protocol Error.
#[test]
fn v5_3_1_2_11_3_invalid_property_values() {
    let bad = |id| DecodeError::InvalidPropertyValue(id);
    // 3.1.2.11.3: "It is a Protocol Error to include the Receive Maximum
    // value more than once or for it to have the value 0."
    fails(
        &connect5(0x02, &[&[0x03, 0x21, 0x00, 0x00], b"\x00\x01c"]),
        V5,
        bad(PropertyId::ReceiveMaximum),
        PROTOCOL_ERROR,
    );
    // 3.1.2.11.4: Maximum Packet Size 0.
    fails(
        &connect5(0x02, &[&[0x05, 0x27, 0, 0, 0, 0], b"\x00\x01c"]),
        V5,
        bad(PropertyId::MaximumPacketSize),
        PROTOCOL_ERROR,
    );
    // 3.1.2.11.6 / 3.1.2.11.7: values other than 0 and 1.
    fails(
        &connect5(0x02, &[&[0x02, 0x17, 0x02], b"\x00\x01c"]),
        V5,
        bad(PropertyId::RequestProblemInformation),
        PROTOCOL_ERROR,
    );
    fails(
        &connect5(0x02, &[&[0x02, 0x19, 0x02], b"\x00\x01c"]),
        V5,
        bad(PropertyId::RequestResponseInformation),
        PROTOCOL_ERROR,
    );
    // 3.8.2.1.2 / 3.3.2.3.8: "It is a Protocol Error if the Subscription
    // Identifier has a value of 0."
    fails(
        &packet(
            0x82,
            &[&[0x00, 0x01], &[0x02, 0x0B, 0x00], b"\x00\x01a", &[0x00]],
        ),
        V5,
        bad(PropertyId::SubscriptionIdentifier),
        PROTOCOL_ERROR,
    );
    fails(
        &packet(0x30, &[b"\x00\x01t", &[0x02, 0x0B, 0x00]]),
        V5,
        bad(PropertyId::SubscriptionIdentifier),
        PROTOCOL_ERROR,
    );
    // 3.2.2.3.4 / 3.2.2.3.5: Maximum QoS and Retain Available are 0 or 1.
    fails(
        &[0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02],
        V5,
        bad(PropertyId::MaximumQos),
        PROTOCOL_ERROR,
    );
    fails(
        &[0x20, 0x05, 0x00, 0x00, 0x02, 0x25, 0x02],
        V5,
        bad(PropertyId::RetainAvailable),
        PROTOCOL_ERROR,
    );
    // 3.3.2.3.2: Payload Format Indicator is 0 or 1.
    fails(
        &packet(0x30, &[b"\x00\x01t", &[0x02, 0x01, 0x02]]),
        V5,
        bad(PropertyId::PayloadFormatIndicator),
        PROTOCOL_ERROR,
    );
}

/// v5 [MQTT-3.3.2-8]: "A sender MUST NOT send a PUBLISH packet containing a
/// Topic Alias which has the value 0"; the receiver uses 0x94 (Topic Alias
/// invalid), 3.3.2.3.4.
#[test]
fn v5_3_3_2_8_topic_alias_zero() {
    fails(
        &packet(0x30, &[b"\x00\x01t", &[0x03, 0x23, 0x00, 0x00]]),
        V5,
        DecodeError::TopicAliasZero,
        TOPIC_ALIAS_INVALID,
    );
    fails(
        &packet(0x30, &[b"\x00\x00", &[0x03, 0x23, 0x00, 0x00]]),
        V5,
        DecodeError::TopicAliasZero,
        TOPIC_ALIAS_INVALID,
    );
}

// ---------------------------------------------------------------------------
// Reason codes (v5 2.4) and CONNACK
// ---------------------------------------------------------------------------

/// Each packet accepts only the Reason Codes its table lists (v5 2.4 table
/// 2-6, 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1
/// [MQTT-3.14.2-1], 3.15.2.1), and 3.1.1 SUBACK only 0x00-0x02 and 0x80
/// [MQTT-3.9.3-2].
#[test]
fn v5_2_4_reason_code_not_valid_for_packet() {
    let cases: [(Vec<u8>, ProtocolVersion, PacketType, u8); 15] = [
        (
            vec![0x40, 0x03, 0x00, 0x01, 0x11],
            V5,
            PacketType::PubAck,
            0x11,
        ),
        (
            vec![0x40, 0x03, 0x00, 0x01, 0x03],
            V5,
            PacketType::PubAck,
            0x03,
        ),
        (
            vec![0x50, 0x03, 0x00, 0x01, 0x92],
            V5,
            PacketType::PubRec,
            0x92,
        ),
        (
            vec![0x62, 0x03, 0x00, 0x01, 0x10],
            V5,
            PacketType::PubRel,
            0x10,
        ),
        (
            vec![0x70, 0x03, 0x00, 0x01, 0x80],
            V5,
            PacketType::PubComp,
            0x80,
        ),
        // 0x8B (Server shutting down) is for DISCONNECT only.
        (
            vec![0x20, 0x03, 0x00, 0x8B, 0x00],
            V5,
            PacketType::ConnAck,
            0x8B,
        ),
        (
            vec![0x20, 0x03, 0x00, 0x01, 0x00],
            V5,
            PacketType::ConnAck,
            0x01,
        ),
        (
            vec![0x90, 0x04, 0x00, 0x01, 0x00, 0x11],
            V5,
            PacketType::SubAck,
            0x11,
        ),
        (
            vec![0x90, 0x03, 0x00, 0x01, 0x03],
            V311,
            PacketType::SubAck,
            0x03,
        ),
        (
            vec![0x90, 0x03, 0x00, 0x01, 0x87],
            V311,
            PacketType::SubAck,
            0x87,
        ),
        (
            vec![0xB0, 0x04, 0x00, 0x01, 0x00, 0x01],
            V5,
            PacketType::UnsubAck,
            0x01,
        ),
        (vec![0xE0, 0x01, 0x01], V5, PacketType::Disconnect, 0x01),
        // 0x84 (Unsupported Protocol Version) is a CONNACK-only code.
        (vec![0xE0, 0x01, 0x84], V5, PacketType::Disconnect, 0x84),
        (vec![0xE0, 0x01, 0x88], V5, PacketType::Disconnect, 0x88),
        (vec![0xF0, 0x01, 0x80], V5, PacketType::Auth, 0x80),
    ];
    for (bytes, version, packet, code) in cases {
        fails(&bytes, version, bad_reason(packet, code), MALFORMED);
    }
}

/// CONNACK: 3.1.1 return codes 6-255 are reserved (table 3.1); acknowledge
/// flags bits 7-1 are reserved [MQTT-3.2.2-1]; Session Present must be 0 with
/// a non-zero return code ([MQTT-3.2.2-4]; v5 [MQTT-3.2.2-6]).
#[test]
fn mqtt_3_2_2_invalid_connack() {
    let cases: [(&[u8], ProtocolVersion); 5] = [
        (&[0x20, 0x02, 0x00, 0x06], V311),
        (&[0x20, 0x02, 0x02, 0x00], V311),
        (&[0x20, 0x03, 0x80, 0x00, 0x00], V5),
        (&[0x20, 0x02, 0x01, 0x05], V311),
        (&[0x20, 0x03, 0x01, 0x80, 0x00], V5),
    ];
    for (bytes, version) in cases {
        fails(bytes, version, DecodeError::InvalidConnAck, MALFORMED);
    }
}

// ---------------------------------------------------------------------------
// The encoder refuses what the decoder refuses
// ---------------------------------------------------------------------------

#[test]
fn encoder_refuses_invalid_packets() {
    let publish = |topic: &str, qos, packet_id| {
        Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic: topic.to_owned(),
            packet_id,
            properties: Properties::default(),
            payload: Default::default(),
        })
    };
    assert_eq!(
        publish("a/+", QoS::AtMostOnce, None).to_bytes(V5),
        Err(EncodeError::Invalid(DecodeError::WildcardInTopicName))
    );
    assert_eq!(
        publish("", QoS::AtMostOnce, None).to_bytes(V311),
        Err(EncodeError::Invalid(DecodeError::EmptyTopicName))
    );
    assert_eq!(
        publish("t", QoS::AtLeastOnce, None).to_bytes(V311),
        Err(EncodeError::PacketIdMismatch)
    );
    assert_eq!(
        publish("t", QoS::AtMostOnce, NonZeroU16::new(1)).to_bytes(V311),
        Err(EncodeError::PacketIdMismatch)
    );
    assert_eq!(
        Packet::Disconnect(Disconnect::new(ReasonCode::UnsupportedProtocolVersion)).to_bytes(V5),
        Err(EncodeError::Invalid(bad_reason(
            PacketType::Disconnect,
            0x84
        )))
    );
}

/// Every `DecodeError` variant has a test above; this match stops compiling
/// when a variant is added, as a reminder to test it.
#[allow(dead_code)]
fn test_for(e: &DecodeError) -> &'static str {
    use DecodeError::*;
    match e {
        PacketTooLarge { .. } => "v5_3_1_2_11_4_packet_too_large_from_fixed_header",
        MalformedVarint => "mqtt_1_5_5_variable_byte_integer_of_five_bytes",
        ReservedPacketType(_) => "mqtt_2_1_2_reserved_packet_types",
        InvalidFixedHeaderFlags { .. } => "mqtt_2_1_3_1_reserved_fixed_header_flags",
        Truncated => "mqtt_2_2_3_remaining_length_shorter_than_fields",
        TrailingBytes => "mqtt_2_2_3_trailing_bytes",
        InvalidUtf8 => "mqtt_1_5_3_1_invalid_utf8",
        NullCharacter => "mqtt_1_5_3_2_null_character",
        InvalidProtocolName => "mqtt_3_1_2_1_wrong_protocol_name",
        UnsupportedProtocolVersion(_) => "mqtt_3_1_2_2_unsupported_protocol_level",
        ReservedConnectFlag => "mqtt_3_1_2_3_reserved_connect_flag",
        WillFlagsWithoutWill => "mqtt_3_1_2_13_will_qos_and_retain_without_will_flag",
        PasswordWithoutUsername => "mqtt_3_1_2_22_password_without_user_name",
        InvalidQos => "mqtt_3_3_1_4_qos_3",
        DupOnQos0 => "mqtt_3_3_1_2_dup_must_be_0_for_qos0",
        ZeroPacketId => "mqtt_2_2_1_3_zero_packet_identifier",
        WildcardInTopicName => "mqtt_3_3_2_2_wildcard_in_topic_name",
        EmptyTopicName => "mqtt_4_7_3_1_empty_topic_name_without_alias",
        InvalidTopicFilter => "mqtt_4_7_1_bad_topic_filters_in_subscribe_and_unsubscribe",
        NoTopicFilters => "mqtt_3_8_3_3_subscribe_with_no_topic_filters",
        ReservedSubscriptionBits => "v5_3_8_3_5_reserved_subscription_option_bits",
        InvalidRetainHandling => "v5_3_8_3_1_retain_handling_3",
        InvalidSubscriptionQos => "v5_3_8_3_1_subscription_maximum_qos_3",
        NoLocalOnSharedSubscription => "v5_3_8_3_4_no_local_on_shared_subscription",
        UnknownProperty(_) => "v5_2_2_2_unknown_property_identifier",
        PropertyNotAllowed { .. } => "v5_2_2_2_property_not_allowed_in_packet",
        DuplicateProperty(_) => "v5_3_1_2_11_duplicated_single_use_properties",
        InvalidPropertyValue(_) => "v5_3_1_2_11_3_invalid_property_values",
        TopicAliasZero => "v5_3_3_2_8_topic_alias_zero",
        InvalidReasonCode { .. } => "v5_2_4_reason_code_not_valid_for_packet",
        InvalidConnAck => "mqtt_3_2_2_invalid_connack",
    }
}
