//! The MQTT wire format for 3.1, 3.1.1 and 5.0 in one codec: pure functions
//! over byte slices. Each packet family has its own file; this one holds the
//! fixed header (spec 2.1), the streaming decoder and the packet enum.

mod connect;
mod control;
pub mod error;
pub mod properties;
mod publish;
pub mod reason;
mod subscribe;
pub mod topic;
pub mod wire;

pub use connect::{ConnAck, Connect, Will};
pub use control::{Auth, Disconnect};
pub use error::{DecodeError, EncodeError};
pub use properties::{Properties, PropertyId, PropertyScope};
pub use publish::{
    encode_routed_publish, routed_publish_len, PubResponse, Publish, PublishHeader, RawPublish,
};
pub use reason::ReasonCode;
pub use subscribe::{
    RetainHandling, SubAck, Subscribe, Subscription, SubscriptionOptions, UnsubAck, Unsubscribe,
};

use std::num::NonZeroU16;
use wire::{Reader, VARINT_MAX};

/// A packet identifier: never zero [MQTT-2.2.1-3].
pub type PacketId = NonZeroU16;

/// The protocol level byte of CONNECT (spec 3.1.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// MQTT 3.1, protocol name "MQIsdp". Encoded and decoded as 3.1.1 apart
    /// from CONNECT.
    V3_1 = 3,
    V3_1_1 = 4,
    V5 = 5,
}

impl ProtocolVersion {
    pub fn is_v5(self) -> bool {
        self == ProtocolVersion::V5
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QoS {
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

impl QoS {
    pub fn from_u8(value: u8) -> Result<QoS, DecodeError> {
        match value {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            2 => Ok(QoS::ExactlyOnce),
            _ => Err(DecodeError::InvalidQos),
        }
    }
}

/// Control packet types (spec 2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
    Auth = 15,
}

impl PacketType {
    fn from_u8(value: u8, version: ProtocolVersion) -> Result<PacketType, DecodeError> {
        use PacketType::*;
        Ok(match value {
            1 => Connect,
            2 => ConnAck,
            3 => Publish,
            4 => PubAck,
            5 => PubRec,
            6 => PubRel,
            7 => PubComp,
            8 => Subscribe,
            9 => SubAck,
            10 => Unsubscribe,
            11 => UnsubAck,
            12 => PingReq,
            13 => PingResp,
            14 => Disconnect,
            // AUTH exists only in MQTT 5; 15 is reserved before it.
            15 if version.is_v5() => Auth,
            other => return Err(DecodeError::ReservedPacketType(other)),
        })
    }

    /// The fixed header flags every packet but PUBLISH must carry [MQTT-2.1.3-1]:
    /// 0b0010 for PUBREL, SUBSCRIBE and UNSUBSCRIBE, 0 otherwise.
    fn required_flags(self) -> u8 {
        match self {
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
            _ => 0,
        }
    }
}

/// One MQTT control packet, in either protocol version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Connect(Box<Connect>),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(PubResponse),
    PubRec(PubResponse),
    PubRel(PubResponse),
    PubComp(PubResponse),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    Disconnect(Disconnect),
    Auth(Auth),
}

/// The fixed header of a packet whose bytes are all in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Packet type (high nibble) and flags (low nibble).
    pub first_byte: u8,
    /// Bytes taken by the fixed header: 2 to 5.
    pub header_len: usize,
    /// Bytes taken by the whole packet.
    pub total_len: usize,
}

/// Finds the packet at the start of `buf`. `Ok(None)` means more bytes are
/// needed. The size is checked against `max_packet_size` from the fixed header
/// alone, so an oversized packet is refused before it is buffered.
pub fn frame(buf: &[u8], max_packet_size: u32) -> Result<Option<Frame>, DecodeError> {
    let Some(&first_byte) = buf.first() else {
        return Ok(None);
    };
    let Some((remaining, varint_len)) = wire::parse_varint(&buf[1..])? else {
        return Ok(None);
    };
    let header_len = 1 + varint_len;
    let total = header_len as u64 + u64::from(remaining);
    if total > u64::from(max_packet_size) {
        return Err(DecodeError::PacketTooLarge {
            size: total,
            max: max_packet_size,
        });
    }
    let total_len = total as usize;
    if buf.len() < total_len {
        return Ok(None);
    }
    Ok(Some(Frame {
        first_byte,
        header_len,
        total_len,
    }))
}

/// Decodes the packet at the start of `buf`: `Ok(None)` when more bytes are
/// needed, otherwise the packet and how many bytes it took. `version` is the
/// connection's protocol version; CONNECT carries its own.
pub fn decode(
    buf: &[u8],
    version: ProtocolVersion,
    max_packet_size: u32,
) -> Result<Option<(Packet, usize)>, DecodeError> {
    let Some(f) = frame(buf, max_packet_size)? else {
        return Ok(None);
    };
    let body = &buf[f.header_len..f.total_len];
    let packet = decode_frame(f.first_byte, body, version)?;
    Ok(Some((packet, f.total_len)))
}

/// Decodes one packet's body, given its first byte.
pub fn decode_frame(
    first_byte: u8,
    body: &[u8],
    version: ProtocolVersion,
) -> Result<Packet, DecodeError> {
    let flags = first_byte & 0x0F;
    let kind = PacketType::from_u8(first_byte >> 4, version)?;
    if kind != PacketType::Publish && flags != kind.required_flags() {
        return Err(DecodeError::InvalidFixedHeaderFlags {
            packet: kind,
            flags,
        });
    }
    let mut r = Reader::new(body);
    let packet = match kind {
        PacketType::Connect => Packet::Connect(Box::new(Connect::decode(&mut r)?)),
        PacketType::ConnAck => Packet::ConnAck(ConnAck::decode(&mut r, version)?),
        PacketType::Publish => Packet::Publish(Publish::decode(&mut r, flags, version)?),
        PacketType::PubAck => Packet::PubAck(PubResponse::decode(&mut r, kind, version)?),
        PacketType::PubRec => Packet::PubRec(PubResponse::decode(&mut r, kind, version)?),
        PacketType::PubRel => Packet::PubRel(PubResponse::decode(&mut r, kind, version)?),
        PacketType::PubComp => Packet::PubComp(PubResponse::decode(&mut r, kind, version)?),
        PacketType::Subscribe => Packet::Subscribe(Subscribe::decode(&mut r, version)?),
        PacketType::SubAck => Packet::SubAck(SubAck::decode(&mut r, version)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(Unsubscribe::decode(&mut r, version)?),
        PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::decode(&mut r, version)?),
        PacketType::PingReq => Packet::PingReq,
        PacketType::PingResp => Packet::PingResp,
        PacketType::Disconnect => Packet::Disconnect(Disconnect::decode(&mut r, version)?),
        PacketType::Auth => Packet::Auth(Auth::decode(&mut r)?),
    };
    if !r.is_empty() {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(packet)
}

/// What each packet body provides to the shared encoder.
pub(crate) trait Encode {
    /// Checks that the packet can be encoded in `version` and that a decoder
    /// would accept the result.
    fn validate(&self, version: ProtocolVersion) -> Result<(), EncodeError>;
    /// The remaining length.
    fn body_len(&self, version: ProtocolVersion) -> usize;
    /// Fixed header byte (type and flags).
    fn first_byte(&self) -> u8;
    fn write_body(&self, version: ProtocolVersion, out: &mut Vec<u8>);
}

fn encoded_len_of(body_len: usize) -> Result<usize, EncodeError> {
    if body_len > VARINT_MAX as usize {
        return Err(EncodeError::PacketTooLarge {
            size: body_len,
            max: VARINT_MAX,
        });
    }
    Ok(1 + wire::varint_len(body_len as u32) + body_len)
}

fn encode_body(
    p: &impl Encode,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<usize, EncodeError> {
    p.validate(version)?;
    let body_len = p.body_len(version);
    let total = encoded_len_of(body_len)?;
    out.reserve(total);
    let start = out.len();
    out.push(p.first_byte());
    wire::put_varint(out, body_len as u32);
    p.write_body(version, out);
    debug_assert_eq!(
        out.len() - start,
        total,
        "encoded size differs from computed size"
    );
    Ok(total)
}

impl Packet {
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }

    /// Appends the packet to `out` and returns how many bytes it took. A packet
    /// that cannot be represented in `version`, or that a decoder would refuse,
    /// is an error and nothing is written.
    pub fn encode(
        &self,
        version: ProtocolVersion,
        out: &mut Vec<u8>,
    ) -> Result<usize, EncodeError> {
        match self {
            Packet::Connect(p) => encode_body(p.as_ref(), version, out),
            Packet::ConnAck(p) => encode_body(p, version, out),
            Packet::Publish(p) => encode_body(p, version, out),
            Packet::PubAck(p) => encode_body(&(PacketType::PubAck, p), version, out),
            Packet::PubRec(p) => encode_body(&(PacketType::PubRec, p), version, out),
            Packet::PubRel(p) => encode_body(&(PacketType::PubRel, p), version, out),
            Packet::PubComp(p) => encode_body(&(PacketType::PubComp, p), version, out),
            Packet::Subscribe(p) => encode_body(p, version, out),
            Packet::SubAck(p) => encode_body(p, version, out),
            Packet::Unsubscribe(p) => encode_body(p, version, out),
            Packet::UnsubAck(p) => encode_body(p, version, out),
            Packet::PingReq => encode_body(&control::Ping(PacketType::PingReq), version, out),
            Packet::PingResp => encode_body(&control::Ping(PacketType::PingResp), version, out),
            Packet::Disconnect(p) => encode_body(p, version, out),
            Packet::Auth(p) => encode_body(p, version, out),
        }
    }

    /// The encoded size, as `encode` would write it.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        fn len(p: &impl Encode, v: ProtocolVersion) -> Result<usize, EncodeError> {
            encoded_len_of(p.body_len(v))
        }
        match self {
            Packet::Connect(p) => len(p.as_ref(), version),
            Packet::ConnAck(p) => len(p, version),
            Packet::Publish(p) => len(p, version),
            Packet::PubAck(p) => len(&(PacketType::PubAck, p), version),
            Packet::PubRec(p) => len(&(PacketType::PubRec, p), version),
            Packet::PubRel(p) => len(&(PacketType::PubRel, p), version),
            Packet::PubComp(p) => len(&(PacketType::PubComp, p), version),
            Packet::Subscribe(p) => len(p, version),
            Packet::SubAck(p) => len(p, version),
            Packet::Unsubscribe(p) => len(p, version),
            Packet::UnsubAck(p) => len(p, version),
            Packet::PingReq | Packet::PingResp => Ok(2),
            Packet::Disconnect(p) => len(p, version),
            Packet::Auth(p) => len(p, version),
        }
    }

    /// Encodes into a new buffer.
    pub fn to_bytes(&self, version: ProtocolVersion) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(version, &mut out)?;
        Ok(out)
    }
}

/// Reads a packet identifier, refusing 0 [MQTT-2.2.1-3].
pub(crate) fn read_packet_id(r: &mut Reader) -> Result<PacketId, DecodeError> {
    PacketId::new(r.u16()?).ok_or(DecodeError::ZeroPacketId)
}
