//! PUBLISH (spec 3.3) and its acknowledgements PUBACK, PUBREC, PUBREL and
//! PUBCOMP (spec 3.4-3.7), which share one shape.

use super::control::{tail_len, validate_tail, write_tail};
use super::error::{DecodeError, EncodeError};
use super::properties::{check_str, Properties, PropertyScope};
use super::topic::check_topic_name;
use super::wire::{self, field_len, Reader};
use super::{read_packet_id, Encode, PacketId, PacketType, ProtocolVersion, QoS, ReasonCode};
use bytes::Bytes;

const PUBLISH_SCOPE: PropertyScope = PropertyScope::Packet(PacketType::Publish);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    /// May be empty in MQTT 5 when a topic alias stands for it.
    pub topic: String,
    /// Present exactly when QoS > 0 [MQTT-2.2.1-2].
    pub packet_id: Option<PacketId>,
    pub properties: Properties,
    pub payload: Bytes,
}

const DUP: u8 = 0b1000;
const RETAIN: u8 = 0b0001;

impl Publish {
    pub(crate) fn decode(
        r: &mut Reader,
        flags: u8,
        version: ProtocolVersion,
    ) -> Result<Publish, DecodeError> {
        let qos = QoS::from_u8((flags >> 1) & 0b11)?; // [MQTT-3.3.1-4]
        let dup = flags & DUP != 0;
        if dup && qos == QoS::AtMostOnce {
            return Err(DecodeError::DupOnQos0); // [MQTT-3.3.1-2]
        }
        let topic = r.string()?;
        check_topic_name(&topic)?;
        let packet_id = match qos {
            QoS::AtMostOnce => None,
            _ => Some(read_packet_id(r)?),
        };
        let properties = Properties::decode_for(r, version, PUBLISH_SCOPE)?;
        check_topic_present(&topic, &properties)?;
        let payload = Bytes::copy_from_slice(r.rest());
        Ok(Publish {
            dup,
            qos,
            retain: flags & RETAIN != 0,
            topic,
            packet_id,
            properties,
            payload,
        })
    }

    /// Fixed header flags: DUP, QoS and RETAIN (spec 3.3.1).
    pub fn flags(&self) -> u8 {
        publish_flags(self.dup, self.qos, self.retain)
    }
}

fn publish_flags(dup: bool, qos: QoS, retain: bool) -> u8 {
    let mut flags = (qos as u8) << 1;
    if dup {
        flags |= DUP;
    }
    if retain {
        flags |= RETAIN;
    }
    flags
}

/// An empty topic name is allowed only with a topic alias [MQTT-3.3.2-1],
/// which only MQTT 5 has.
fn check_topic_present(topic: &str, properties: &Properties) -> Result<(), DecodeError> {
    if topic.is_empty() && properties.topic_alias.is_none() {
        return Err(DecodeError::EmptyTopicName);
    }
    Ok(())
}

impl Encode for Publish {
    fn validate(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        if (self.qos == QoS::AtMostOnce) != self.packet_id.is_none() {
            return Err(EncodeError::PacketIdMismatch);
        }
        if self.dup && self.qos == QoS::AtMostOnce {
            return Err(DecodeError::DupOnQos0.into());
        }
        check_str(&self.topic)?;
        check_topic_name(&self.topic)?;
        self.properties.validate_for(version, PUBLISH_SCOPE)?;
        let no_props = Properties::default();
        let props = if version.is_v5() {
            &self.properties
        } else {
            &no_props
        };
        check_topic_present(&self.topic, props)?;
        Ok(())
    }

    fn body_len(&self, version: ProtocolVersion) -> usize {
        let id_len = if self.packet_id.is_some() { 2 } else { 0 };
        field_len(self.topic.as_bytes())
            + id_len
            + self.properties.len_for(version)
            + self.payload.len()
    }

    fn first_byte(&self) -> u8 {
        (PacketType::Publish as u8) << 4 | self.flags()
    }

    fn write_body(&self, version: ProtocolVersion, out: &mut Vec<u8>) {
        wire::put_bytes(out, self.topic.as_bytes());
        if let Some(id) = self.packet_id {
            wire::put_u16(out, id.get());
        }
        self.properties.encode_for(version, out);
        out.extend_from_slice(&self.payload);
    }
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP: a packet identifier and, in MQTT 5, a
/// reason code and properties, both omitted on the wire when they are
/// Success and empty (spec 3.4.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubResponse {
    pub packet_id: PacketId,
    pub reason: ReasonCode,
    pub properties: Properties,
}

impl PubResponse {
    pub fn new(packet_id: PacketId) -> PubResponse {
        PubResponse {
            packet_id,
            reason: ReasonCode::Success,
            properties: Properties::default(),
        }
    }

    pub fn with_reason(packet_id: PacketId, reason: ReasonCode) -> PubResponse {
        PubResponse {
            packet_id,
            reason,
            properties: Properties::default(),
        }
    }

    pub(crate) fn decode(
        r: &mut Reader,
        kind: PacketType,
        version: ProtocolVersion,
    ) -> Result<PubResponse, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let mut out = PubResponse::new(packet_id);
        if !version.is_v5() || r.is_empty() {
            return Ok(out);
        }
        let code = r.u8()?;
        out.reason = ReasonCode::from_u8(code)
            .filter(|rc| rc.allowed_in(kind))
            .ok_or(DecodeError::InvalidReasonCode { packet: kind, code })?;
        if !r.is_empty() {
            out.properties = Properties::decode(r, PropertyScope::Packet(kind))?;
        }
        Ok(out)
    }
}

impl Encode for (PacketType, &PubResponse) {
    fn validate(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        let (kind, p) = *self;
        if version.is_v5() {
            validate_tail(kind, p.reason, &p.properties)?;
        }
        Ok(())
    }

    fn body_len(&self, version: ProtocolVersion) -> usize {
        if version.is_v5() {
            2 + tail_len(self.1.reason, &self.1.properties)
        } else {
            2
        }
    }

    fn first_byte(&self) -> u8 {
        (self.0 as u8) << 4 | self.0.required_flags()
    }

    fn write_body(&self, version: ProtocolVersion, out: &mut Vec<u8>) {
        let p = self.1;
        wire::put_u16(out, p.packet_id.get());
        if !version.is_v5() {
            return;
        }
        write_tail(p.reason, &p.properties, out);
    }
}

/// The per-receiver parts of a routed PUBLISH: everything in the fixed header
/// and packet identifier, plus the properties that differ per subscription.
#[derive(Debug, Clone, Copy)]
pub struct PublishHeader<'a> {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    pub packet_id: Option<PacketId>,
    /// Remaining lifetime in seconds [MQTT-3.3.2-6].
    pub message_expiry_interval: Option<u32>,
    /// One per matching subscription that has an identifier [MQTT-3.3.4-3].
    pub subscription_identifiers: &'a [u32],
    /// The Topic Alias the sender chose for this receiver (spec 3.3.2.3.4);
    /// with it the topic name may be empty.
    pub topic_alias: Option<u16>,
}

impl PublishHeader<'_> {
    fn extras_len(&self) -> usize {
        let expiry = if self.message_expiry_interval.is_some() {
            5
        } else {
            0
        };
        let ids: usize = self
            .subscription_identifiers
            .iter()
            .map(|&id| 1 + wire::varint_len(id))
            .sum();
        let alias = if self.topic_alias.is_some() { 3 } else { 0 };
        expiry + ids + alias
    }

    fn first_byte(&self) -> u8 {
        (PacketType::Publish as u8) << 4 | publish_flags(self.dup, self.qos, self.retain)
    }
}

/// Size of a routed PUBLISH as `encode_routed_publish` writes it.
pub fn routed_publish_len(
    version: ProtocolVersion,
    header: &PublishHeader,
    topic: &str,
    properties: &Properties,
    payload: &[u8],
) -> usize {
    let body = routed_body_len(version, header, topic, properties, payload);
    1 + wire::varint_len(body as u32) + body
}

fn routed_body_len(
    version: ProtocolVersion,
    header: &PublishHeader,
    topic: &str,
    properties: &Properties,
    payload: &[u8],
) -> usize {
    let id_len = if header.packet_id.is_some() { 2 } else { 0 };
    let props = if version.is_v5() {
        let body = properties.body_len() + header.extras_len();
        wire::varint_len(body as u32) + body
    } else {
        0
    };
    field_len(topic.as_bytes()) + id_len + props + payload.len()
}

/// Writes a PUBLISH for one receiver of a routed message without building a
/// `Publish`: the broker's hot path. The message's own parts (topic,
/// properties, payload) were validated when it was decoded; `properties` must
/// not hold message expiry, subscription identifiers or a topic alias, which
/// come from `header` instead. `topic` is empty when `header.topic_alias`
/// stands for it [MQTT-3.3.2-1]; a topic alias and properties at all are
/// MQTT 5 only.
pub fn encode_routed_publish(
    out: &mut Vec<u8>,
    version: ProtocolVersion,
    header: &PublishHeader,
    topic: &str,
    properties: &Properties,
    payload: &[u8],
) {
    debug_assert!(properties.message_expiry_interval.is_none());
    debug_assert!(properties.subscription_identifiers.is_empty());
    debug_assert!(properties.topic_alias.is_none());
    debug_assert!(!topic.is_empty() || (version.is_v5() && header.topic_alias.is_some()));
    debug_assert!(header.topic_alias != Some(0)); // [MQTT-3.3.2-8]
    let body_len = routed_body_len(version, header, topic, properties, payload);
    let total = 1 + wire::varint_len(body_len as u32) + body_len;
    out.reserve(total);
    let start = out.len();
    out.push(header.first_byte());
    wire::put_varint(out, body_len as u32);
    wire::put_bytes(out, topic.as_bytes());
    if let Some(id) = header.packet_id {
        wire::put_u16(out, id.get());
    }
    if version.is_v5() {
        wire::put_varint(out, (properties.body_len() + header.extras_len()) as u32);
        properties.encode_body(out);
        if let Some(expiry) = header.message_expiry_interval {
            out.push(super::PropertyId::MessageExpiryInterval as u8);
            wire::put_u32(out, expiry);
        }
        for &id in header.subscription_identifiers {
            out.push(super::PropertyId::SubscriptionIdentifier as u8);
            wire::put_varint(out, id);
        }
        if let Some(alias) = header.topic_alias {
            out.push(super::PropertyId::TopicAlias as u8);
            wire::put_u16(out, alias);
        }
    }
    out.extend_from_slice(payload);
    debug_assert_eq!(out.len() - start, total);
}

/// A PUBLISH read in place from its bytes, for relaying it without
/// building a `Publish` (a bridge's hot path): the properties stay one
/// encoded block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPublish<'a> {
    /// Packet type, DUP, QoS and RETAIN (spec 3.3.1).
    pub first_byte: u8,
    pub topic: &'a str,
    pub packet_id: Option<PacketId>,
    /// MQTT 5: the property block, its length included; empty for 3.1.1.
    pub properties: &'a [u8],
    pub payload: &'a [u8],
}

impl<'a> RawPublish<'a> {
    /// Reads the body of a PUBLISH whose first byte is `first_byte`. Only
    /// the framing is checked (the bytes come from the broker's own
    /// encoder), not each property.
    pub fn parse(
        first_byte: u8,
        body: &'a [u8],
        version: ProtocolVersion,
    ) -> Result<RawPublish<'a>, DecodeError> {
        let mut r = Reader::new(body);
        let len = usize::from(r.u16()?);
        let topic = std::str::from_utf8(r.take(len)?).map_err(|_| DecodeError::InvalidUtf8)?;
        let qos = QoS::from_u8((first_byte >> 1) & 0b11)?;
        let packet_id = match qos {
            QoS::AtMostOnce => None,
            _ => Some(read_packet_id(&mut r)?),
        };
        let rest = r.rest();
        let props_len = if version.is_v5() {
            let (len, used) = wire::parse_varint(rest)?.ok_or(DecodeError::Truncated)?;
            used + len as usize
        } else {
            0
        };
        if props_len > rest.len() {
            return Err(DecodeError::Truncated);
        }
        let (properties, payload) = rest.split_at(props_len);
        Ok(RawPublish {
            first_byte,
            topic,
            packet_id,
            properties,
            payload,
        })
    }

    /// Writes it for a receiver speaking `version`, under the topic made
    /// of `prefix` and then `rest`, with RETAIN cleared unless `retain`.
    /// Properties are copied for MQTT 5 (an empty block if there were
    /// none) and left out for 3.1.1. Returns the bytes written.
    pub fn encode(
        &self,
        out: &mut Vec<u8>,
        version: ProtocolVersion,
        prefix: &str,
        rest: &str,
        retain: bool,
    ) -> usize {
        let props: &[u8] = match (version.is_v5(), self.properties.is_empty()) {
            (false, _) => &[],
            (true, true) => &[0],
            (true, false) => self.properties,
        };
        let id_len = if self.packet_id.is_some() { 2 } else { 0 };
        let topic_len = prefix.len() + rest.len();
        let body = 2 + topic_len + id_len + props.len() + self.payload.len();
        let total = 1 + wire::varint_len(body as u32) + body;
        out.reserve(total);
        out.push(if retain {
            self.first_byte
        } else {
            self.first_byte & !RETAIN
        });
        wire::put_varint(out, body as u32);
        wire::put_u16(out, topic_len as u16);
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(rest.as_bytes());
        if let Some(id) = self.packet_id {
            wire::put_u16(out, id.get());
        }
        out.extend_from_slice(props);
        out.extend_from_slice(self.payload);
        total
    }
}
