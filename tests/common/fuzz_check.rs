//! The decoder property shared by the cargo-fuzz target
//! (`fuzz/fuzz_targets/decode.rs`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`), so both run exactly the same code.
//!
//! Input layout: the first byte picks the connection's protocol version
//! (bits 0-1) and the maximum packet size (bits 2-4); the rest is a byte
//! stream decoded packet by packet, as a connection would see it.
//!
//! For any input the decoder must not panic, every error must map to an
//! MQTT 5 error reason code, and every packet it accepts must re-encode to
//! `encoded_len` bytes that decode back to an equal packet.

// Test crates that pull this in through `tests/common/mod.rs` may not call it.
#![allow(dead_code)]

use tabmq::codec::{decode, Packet, ProtocolVersion};

/// Maximum packet sizes the selector byte chooses from: no limit, the largest
/// packet the wire allows, and smaller limits that make `PacketTooLarge` and
/// the size checks reachable for short inputs.
const MAX_PACKET_SIZES: [u32; 8] = [u32::MAX, 268_435_460, 65_536, 1024, 256, 64, 16, 2];

/// The connection version and maximum packet size a selector byte stands for.
pub fn params(selector: u8) -> (ProtocolVersion, u32) {
    let version = match selector & 0b11 {
        0 => ProtocolVersion::V3_1,
        1 => ProtocolVersion::V3_1_1,
        _ => ProtocolVersion::V5,
    };
    let max = MAX_PACKET_SIZES[usize::from((selector >> 2) & 0b111)];
    (version, max)
}

/// Decodes `data[1..]` as a stream and checks every packet and error in it.
pub fn check(data: &[u8]) {
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let (version, max) = params(sel);
    loop {
        match decode(rest, version, max) {
            Ok(None) => break,
            Ok(Some((packet, used))) => {
                assert!(
                    (2..=rest.len()).contains(&used),
                    "decode consumed {used} of {} bytes",
                    rest.len()
                );
                // Streaming: one byte short of a whole packet is "need more",
                // never an error and never a different packet.
                assert_eq!(
                    decode(&rest[..used - 1], version, max),
                    Ok(None),
                    "a truncated packet did not ask for more bytes"
                );
                check_roundtrip(&packet, version, max);
                rest = &rest[used..];
            }
            Err(e) => {
                let code = e.reason_code();
                assert!(
                    code.is_error(),
                    "{e:?} maps to {code:?}, which is not an error reason code"
                );
                let _ = e.to_string();
                break;
            }
        }
    }
}

/// Re-encodes a decoded packet and decodes it again.
fn check_roundtrip(packet: &Packet, version: ProtocolVersion, max: u32) {
    // CONNECT carries its own protocol version; every other packet is encoded
    // in the connection's.
    let enc_version = match packet {
        Packet::Connect(c) => c.protocol,
        _ => version,
    };
    let bytes = packet
        .to_bytes(enc_version)
        .unwrap_or_else(|e| panic!("decoded packet does not re-encode: {e}\n{packet:#?}"));
    let len = packet
        .encoded_len(enc_version)
        .unwrap_or_else(|e| panic!("encoded_len failed after encode succeeded: {e}"));
    assert_eq!(
        bytes.len(),
        len,
        "encoded_len differs from the encoded size\n{packet:#?}"
    );
    // The canonical encoding is never longer than what was accepted, so the
    // same size limit applies.
    let (again, used) = match decode(&bytes, version, max) {
        Ok(Some(decoded)) => decoded,
        other => panic!("re-encoded packet does not decode: {other:?}\n{packet:#?}\n{bytes:02x?}"),
    };
    assert_eq!(
        used,
        bytes.len(),
        "re-decode did not consume the whole packet"
    );
    assert_eq!(&again, packet, "re-encoded packet decodes differently");
    // The encoding is canonical: encoding the copy gives the same bytes.
    assert_eq!(
        again.to_bytes(enc_version).ok(),
        Some(bytes),
        "encoding is not deterministic"
    );
}
