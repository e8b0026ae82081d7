//! Property tests for the codec: round trips for every packet in every
//! protocol version, variable byte integers, streaming behaviour (prefixes,
//! trailing bytes), robustness against arbitrary input, and agreement between
//! the encoder's checks and the decoder's.
//!
//! Generators are in `tests/common/strategies.rs`. Case counts keep the whole
//! file well under a minute in a debug build.

mod common;

use common::strategies::{any_packet, packet, ALL_VERSIONS};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;
use tabmq::codec::wire::{self, VARINT_MAX};
use tabmq::codec::{decode, frame, DecodeError, Packet, ProtocolVersion};

/// No maximum packet size.
const NO_LIMIT: u32 = u32::MAX;

/// Maximum packet sizes for the robustness properties: none, the largest the
/// wire can express, and small ones that make the size check fire.
const MAX_SIZES: [u32; 7] = [u32::MAX, 268_435_460, 65_536, 1024, 64, 5, 0];

/// Variable byte integer boundaries: where the encoding grows by a byte.
const VARINT_BOUNDARIES: [u32; 10] = [
    0,
    1,
    127,
    128,
    16_383,
    16_384,
    2_097_151,
    2_097_152,
    VARINT_MAX - 1,
    VARINT_MAX,
];

fn config(cases: u32) -> Config {
    Config {
        cases,
        // Shrunk failures are printed; don't leave regression files in the
        // shared checkout.
        failure_persistence: None,
        ..Config::default()
    }
}

/// The version a packet is actually encoded in: CONNECT carries its own.
fn wire_version(p: &Packet, connection: ProtocolVersion) -> ProtocolVersion {
    match p {
        Packet::Connect(c) => c.protocol,
        _ => connection,
    }
}

fn version() -> impl Strategy<Value = ProtocolVersion> {
    select(ALL_VERSIONS.to_vec())
}

/// Encodes a valid packet and checks the sizes agree: the bytes `encode`
/// appends, the count it returns and `encoded_len`.
fn encode_valid(p: &Packet, v: ProtocolVersion) -> Vec<u8> {
    let bytes = p
        .to_bytes(v)
        .unwrap_or_else(|e| panic!("valid packet refused in {v:?}: {e}\n{p:#?}"));
    assert_eq!(
        p.encoded_len(v),
        Ok(bytes.len()),
        "encoded_len differs from the encoded size"
    );
    // `encode` appends to what the buffer already holds.
    let mut out = vec![0xAA; 3];
    let n = p.encode(v, &mut out).expect("encodes a second time");
    assert_eq!(n, bytes.len());
    assert_eq!(&out[..3], &[0xAA; 3]);
    assert_eq!(&out[3..], &bytes[..]);
    bytes
}

fn check_round_trip(p: &Packet, v: ProtocolVersion) -> Result<(), TestCaseError> {
    let bytes = encode_valid(p, v);
    let decoded = decode(&bytes, v, NO_LIMIT);
    let Ok(Some((q, used))) = decoded else {
        return Err(TestCaseError::fail(format!(
            "decode gave {decoded:?} for {p:?} ({v:?}) = {bytes:02x?}"
        )));
    };
    prop_assert_eq!(used, bytes.len(), "consumed count");
    prop_assert_eq!(&q, p);
    // The frame alone agrees with the decoder.
    let f = frame(&bytes, NO_LIMIT).unwrap().expect("whole frame");
    prop_assert_eq!(f.total_len, bytes.len());
    prop_assert_eq!(f.first_byte, bytes[0]);
    Ok(())
}

/// Decoding any input must not panic. Whatever it accepts must be a frame of
/// the input, and must re-encode to bytes that decode to the same packet.
fn check_decode_is_total(bytes: &[u8], v: ProtocolVersion, max: u32) -> Result<(), TestCaseError> {
    match decode(bytes, v, max) {
        Ok(None) | Err(_) => {}
        Ok(Some((p, used))) => {
            prop_assert!(used >= 2 && used <= bytes.len());
            prop_assert!(used as u64 <= u64::from(max));
            let wv = wire_version(&p, v);
            let again = p.to_bytes(wv).map_err(|e| {
                TestCaseError::fail(format!("decoded {p:?} does not re-encode: {e}"))
            })?;
            prop_assert_eq!(p.encoded_len(wv), Ok(again.len()));
            let back = decode(&again, v, NO_LIMIT).map_err(|e| {
                TestCaseError::fail(format!("re-encoded {p:?} = {again:02x?} is refused: {e}"))
            })?;
            prop_assert_eq!(back, Some((p, again.len())));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Round trips

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn round_trip_v3_1_1(p in packet(ProtocolVersion::V3_1_1)) {
        check_round_trip(&p, ProtocolVersion::V3_1_1)?;
    }

    #[test]
    fn round_trip_v5(p in packet(ProtocolVersion::V5)) {
        check_round_trip(&p, ProtocolVersion::V5)?;
    }

    /// MQTT 3.1 differs from 3.1.1 only in CONNECT (protocol name "MQIsdp",
    /// level 3); the rest of its packets are 3.1.1's.
    #[test]
    fn round_trip_v3_1(p in packet(ProtocolVersion::V3_1)) {
        check_round_trip(&p, ProtocolVersion::V3_1)?;
    }
}

// ---------------------------------------------------------------------------
// Variable byte integers (spec 1.5.5)

fn check_varint(value: u32, junk: &[u8]) -> Result<(), TestCaseError> {
    let mut buf = Vec::new();
    wire::put_varint(&mut buf, value);
    let len = buf.len();
    prop_assert_eq!(len, wire::varint_len(value));
    prop_assert!((1..=4).contains(&len));
    // Minimal encoding: only the last byte lacks the continuation bit, and a
    // multi-byte encoding has no trailing zero group.
    prop_assert!(buf[..len - 1].iter().all(|b| b & 0x80 != 0));
    prop_assert_eq!(buf[len - 1] & 0x80, 0);
    prop_assert!(len == 1 || buf[len - 1] != 0);
    prop_assert_eq!(wire::parse_varint(&buf), Ok(Some((value, len))));
    for cut in 0..len {
        prop_assert_eq!(wire::parse_varint(&buf[..cut]), Ok(None));
    }
    buf.extend_from_slice(junk);
    prop_assert_eq!(wire::parse_varint(&buf), Ok(Some((value, len))));
    Ok(())
}

#[test]
fn varint_boundaries() {
    let expected_len = [1, 1, 1, 2, 2, 3, 3, 4, 4, 4];
    for (&value, &len) in VARINT_BOUNDARIES.iter().zip(&expected_len) {
        assert_eq!(wire::varint_len(value), len, "varint_len({value})");
        check_varint(value, &[0xFF, 0x00]).unwrap();
    }
    let mut buf = Vec::new();
    wire::put_varint(&mut buf, VARINT_MAX);
    assert_eq!(buf, [0xFF, 0xFF, 0xFF, 0x7F]);
    // A fifth byte is malformed [MQTT-1.5.5-1], even when it would end the number.
    assert_eq!(
        wire::parse_varint(&[0xFF, 0xFF, 0xFF, 0xFF, 0x7F]),
        Err(DecodeError::MalformedVarint)
    );
    assert_eq!(
        wire::parse_varint(&[0x80, 0x80, 0x80, 0x80]),
        Err(DecodeError::MalformedVarint)
    );
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn varint_round_trip(
        value in prop_oneof![select(VARINT_BOUNDARIES.to_vec()), 0..=VARINT_MAX],
        junk in vec(any::<u8>(), 0..4),
    ) {
        check_varint(value, &junk)?;
    }

    /// Any 1-4 byte varint, minimal or not, parses to a value the encoder
    /// writes back minimally.
    #[test]
    fn varint_parse_any(bytes in vec(any::<u8>(), 0..6)) {
        match wire::parse_varint(&bytes) {
            Ok(None) => prop_assert!(bytes.len() < 4 && bytes.iter().all(|b| b & 0x80 != 0)),
            Ok(Some((value, used))) => {
                prop_assert!(value <= VARINT_MAX);
                prop_assert!((1..=4).contains(&used));
                prop_assert!(wire::varint_len(value) <= used);
            }
            Err(e) => {
                prop_assert_eq!(e, DecodeError::MalformedVarint);
                prop_assert!(bytes[..4].iter().all(|b| b & 0x80 != 0));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Streaming: one packet at a time, never past its end, nothing until complete

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn decoder_stops_at_the_end_of_the_packet(
        vp in version().prop_flat_map(|v| (Just(v), packet(v))),
        junk in vec(any::<u8>(), 1..64),
    ) {
        let (v, p) = vp;
        let bytes = encode_valid(&p, v);
        let mut stream = bytes.clone();
        stream.extend_from_slice(&junk);
        let (q, used) = decode(&stream, v, NO_LIMIT).unwrap().expect("a whole packet");
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(q, p);
    }

    #[test]
    fn prefixes_need_more_bytes(p in version().prop_flat_map(|v| (Just(v), packet(v)))) {
        let (v, p) = p;
        let bytes = encode_valid(&p, v);
        for cut in 0..bytes.len() {
            let got = decode(&bytes[..cut], v, NO_LIMIT);
            prop_assert_eq!(got, Ok(None), "prefix of {} bytes of {:02x?}", cut, bytes);
            // The same with a limit exactly the packet's size.
            let exact = u32::try_from(bytes.len()).unwrap();
            prop_assert_eq!(decode(&bytes[..cut], v, exact), Ok(None));
        }
    }

    /// A limit below the packet's size refuses it from the fixed header
    /// alone, before the body has arrived.
    #[test]
    fn oversized_packets_are_refused_early(p in version().prop_flat_map(|v| (Just(v), packet(v)))) {
        let (v, p) = p;
        let bytes = encode_valid(&p, v);
        let limit = u32::try_from(bytes.len() - 1).unwrap();
        let header_len = 1 + bytes[1..].iter().take_while(|b| *b & 0x80 != 0).count() + 1;
        let got = decode(&bytes[..header_len], v, limit);
        let too_large = matches!(got, Err(DecodeError::PacketTooLarge { .. }));
        prop_assert!(too_large, "{:?}", got);
    }
}

// ---------------------------------------------------------------------------
// Robustness: arbitrary bytes

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn decoder_never_panics(
        v in version(),
        max in select(MAX_SIZES.to_vec()),
        bytes in vec(any::<u8>(), 0..96),
    ) {
        check_decode_is_total(&bytes, v, max)?;
    }

    /// Arbitrary bodies behind a well-formed fixed header of every type and
    /// flags combination, so the decoding gets past the header.
    #[test]
    fn decoder_never_panics_on_framed_junk(
        v in version(),
        first in any::<u8>(),
        body in vec(any::<u8>(), 0..80),
    ) {
        let mut bytes = vec![first];
        wire::put_varint(&mut bytes, body.len() as u32);
        bytes.extend_from_slice(&body);
        check_decode_is_total(&bytes, v, NO_LIMIT)?;
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// Valid packets with a few bytes changed: deep into every decoder path.
    #[test]
    fn decoder_never_panics_on_mutated_packets(
        vp in version().prop_flat_map(|v| (Just(v), packet(v))),
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
        max in select(MAX_SIZES.to_vec()),
    ) {
        let (v, p) = vp;
        let mut bytes = encode_valid(&p, v);
        for (at, byte, how) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match how {
                0 => bytes[i] = byte,
                1 => {
                    bytes.remove(i);
                }
                _ => bytes.insert(i, byte),
            }
        }
        for other in ALL_VERSIONS {
            check_decode_is_total(&bytes, other, max)?;
        }
    }
}

// ---------------------------------------------------------------------------
// The encoder never produces a packet the decoder rejects

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn encoder_output_is_always_decodable(v in version(), p in any_packet()) {
        let mut out = vec![0x55];
        match p.encode(v, &mut out) {
            Err(_) => prop_assert_eq!(out, vec![0x55], "a refused packet wrote bytes"),
            Ok(n) => {
                let bytes = &out[1..];
                prop_assert_eq!(n, bytes.len());
                prop_assert_eq!(p.encoded_len(v), Ok(n));
                let decoded = decode(bytes, v, NO_LIMIT);
                let Ok(Some((q, used))) = decoded else {
                    return Err(TestCaseError::fail(format!(
                        "encoder produced {bytes:02x?} for {p:?} in {v:?}; decoder: {decoded:?}"
                    )));
                };
                prop_assert_eq!(used, n);
                // MQTT 5 carries every field of the structs, so nothing is
                // lost; 3.x drops properties and maps reasons to return codes.
                if wire_version(&p, v).is_v5() {
                    prop_assert_eq!(q, p);
                }
            }
        }
    }
}

/// Fields over 65,535 bytes cannot be encoded, and nothing is written.
#[test]
fn overlong_fields_are_refused() {
    use tabmq::codec::{EncodeError, Publish, QoS};
    let long = "a".repeat(usize::from(u16::MAX) + 1);
    let publish = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: long.clone(),
        packet_id: None,
        properties: Default::default(),
        payload: Default::default(),
    });
    for v in ALL_VERSIONS {
        let mut out = Vec::new();
        assert_eq!(publish.encode(v, &mut out), Err(EncodeError::FieldTooLong));
        assert!(out.is_empty());
    }
    let mut props = tabmq::codec::Properties::default();
    props.user_properties.push(("k".into(), long));
    let disconnect = Packet::Disconnect(tabmq::codec::Disconnect {
        reason: tabmq::codec::ReasonCode::Success,
        properties: props,
    });
    assert_eq!(
        disconnect.to_bytes(ProtocolVersion::V5),
        Err(EncodeError::FieldTooLong)
    );
}
