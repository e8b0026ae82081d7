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
        let mut flags = (self.qos as u8) << 1;
        if self.dup {
            flags |= DUP;
        }
        if self.retain {
            flags |= RETAIN;
        }
        flags
    }
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
