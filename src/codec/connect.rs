//! CONNECT (spec 3.1) and CONNACK (spec 3.2).

use super::error::{DecodeError, EncodeError};
use super::properties::{check_bin, check_str, Properties, PropertyScope};
use super::topic::check_topic_name;
use super::wire::{self, field_len, Reader};
use super::{Encode, PacketType, ProtocolVersion, QoS, ReasonCode};
use bytes::Bytes;

const CONNACK_SCOPE: PropertyScope = PropertyScope::Packet(PacketType::ConnAck);
const CONNECT_SCOPE: PropertyScope = PropertyScope::Packet(PacketType::Connect);

/// The will message of a CONNECT (spec 3.1.2.5, 3.1.3.2-4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// Will properties (MQTT 5 only; spec 3.1.3.2).
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol level; MQTT 3.1 uses protocol name "MQIsdp".
    pub protocol: ProtocolVersion,
    /// The protocol level carries the 0x80 bit: the client is a bridge
    /// (Mosquitto's `try_private` convention, not in the spec).
    pub bridge: bool,
    /// Clean Session (3.1.1) or Clean Start (5.0).
    pub clean_start: bool,
    /// Seconds; 0 turns keep alive off (spec 3.1.2.10).
    pub keep_alive: u16,
    pub properties: Properties,
    pub client_id: String,
    pub will: Option<Will>,
    pub username: Option<String>,
    pub password: Option<Bytes>,
}

// Connect flags (spec 3.1.2.3).
const RESERVED: u8 = 0b0000_0001;
const CLEAN_START: u8 = 0b0000_0010;
const WILL_FLAG: u8 = 0b0000_0100;
const WILL_QOS_SHIFT: u8 = 3;
const WILL_RETAIN: u8 = 0b0010_0000;
const PASSWORD: u8 = 0b0100_0000;
const USERNAME: u8 = 0b1000_0000;
/// Set in the protocol level byte by a bridge (Mosquitto's convention).
const BRIDGE_BIT: u8 = 0x80;

fn protocol_name(version: ProtocolVersion) -> &'static str {
    match version {
        ProtocolVersion::V3_1 => "MQIsdp",
        _ => "MQTT",
    }
}

impl Connect {
    pub(crate) fn decode(r: &mut Reader) -> Result<Connect, DecodeError> {
        let name = r.string()?;
        let raw_level = r.u8()?;
        // Mosquitto's bridges set the top bit of the level.
        let bridge = matches!(raw_level, 0x83..=0x85);
        let level = raw_level & !BRIDGE_BIT;
        let protocol = match level {
            3 if bridge || raw_level == 3 => ProtocolVersion::V3_1,
            4 if bridge || raw_level == 4 => ProtocolVersion::V3_1_1,
            5 if bridge || raw_level == 5 => ProtocolVersion::V5,
            _ if name == "MQTT" || name == "MQIsdp" => {
                return Err(DecodeError::UnsupportedProtocolVersion(raw_level))
            }
            _ => return Err(DecodeError::InvalidProtocolName),
        };
        // [MQTT-3.1.2-1]: the protocol name must match the level.
        if name != protocol_name(protocol) {
            return Err(DecodeError::InvalidProtocolName);
        }
        let flags = r.u8()?;
        if flags & RESERVED != 0 {
            return Err(DecodeError::ReservedConnectFlag); // [MQTT-3.1.2-3]
        }
        let will_qos = QoS::from_u8((flags >> WILL_QOS_SHIFT) & 0b11)?; // [MQTT-3.1.2-14]
        let will_retain = flags & WILL_RETAIN != 0;
        let has_will = flags & WILL_FLAG != 0;
        if !has_will && (will_qos != QoS::AtMostOnce || will_retain) {
            // [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]
            return Err(DecodeError::WillFlagsWithoutWill);
        }
        if !protocol.is_v5() && flags & PASSWORD != 0 && flags & USERNAME == 0 {
            return Err(DecodeError::PasswordWithoutUsername); // [MQTT-3.1.2-22]
        }
        let keep_alive = r.u16()?;
        let properties = Properties::decode_for(r, protocol, CONNECT_SCOPE)?;
        let client_id = r.string()?;
        let will = if has_will {
            let properties = Properties::decode_for(r, protocol, PropertyScope::Will)?;
            let topic = r.string()?;
            check_will_topic(&topic)?;
            let payload = r.binary()?;
            Some(Will {
                topic,
                payload,
                qos: will_qos,
                retain: will_retain,
                properties,
            })
        } else {
            None
        };
        let username = if flags & USERNAME != 0 {
            Some(r.string()?)
        } else {
            None
        };
        let password = if flags & PASSWORD != 0 {
            Some(r.binary()?)
        } else {
            None
        };
        Ok(Connect {
            protocol,
            bridge,
            clean_start: flags & CLEAN_START != 0,
            keep_alive,
            properties,
            client_id,
            will,
            username,
            password,
        })
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.clean_start {
            flags |= CLEAN_START;
        }
        if let Some(will) = &self.will {
            flags |= WILL_FLAG | (will.qos as u8) << WILL_QOS_SHIFT;
            if will.retain {
                flags |= WILL_RETAIN;
            }
        }
        if self.username.is_some() {
            flags |= USERNAME;
        }
        if self.password.is_some() {
            flags |= PASSWORD;
        }
        flags
    }
}

/// The will topic is a topic name: non-empty and without wildcards.
fn check_will_topic(topic: &str) -> Result<(), DecodeError> {
    if topic.is_empty() {
        return Err(DecodeError::EmptyTopicName);
    }
    check_topic_name(topic)
}

impl Encode for Connect {
    fn validate(&self, _: ProtocolVersion) -> Result<(), EncodeError> {
        let v = self.protocol;
        self.properties.validate_for(v, CONNECT_SCOPE)?;
        check_str(&self.client_id)?;
        if let Some(will) = &self.will {
            will.properties.validate_for(v, PropertyScope::Will)?;
            check_str(&will.topic)?;
            check_will_topic(&will.topic)?;
            check_bin(&will.payload)?;
        }
        if let Some(u) = &self.username {
            check_str(u)?;
        }
        if let Some(p) = &self.password {
            check_bin(p)?;
            if !v.is_v5() && self.username.is_none() {
                return Err(DecodeError::PasswordWithoutUsername.into());
            }
        }
        Ok(())
    }

    fn body_len(&self, _: ProtocolVersion) -> usize {
        let v = self.protocol;
        let mut len = field_len(protocol_name(v).as_bytes()) + 1 + 1 + 2;
        len += self.properties.len_for(v);
        len += field_len(self.client_id.as_bytes());
        if let Some(will) = &self.will {
            len += will.properties.len_for(v);
            len += field_len(will.topic.as_bytes()) + field_len(&will.payload);
        }
        len += self
            .username
            .as_ref()
            .map_or(0, |u| field_len(u.as_bytes()));
        len += self.password.as_ref().map_or(0, |p| field_len(p));
        len
    }

    fn first_byte(&self) -> u8 {
        (PacketType::Connect as u8) << 4
    }

    fn write_body(&self, _: ProtocolVersion, out: &mut Vec<u8>) {
        let v = self.protocol;
        wire::put_bytes(out, protocol_name(v).as_bytes());
        out.push(v as u8 | if self.bridge { BRIDGE_BIT } else { 0 });
        out.push(self.flags());
        wire::put_u16(out, self.keep_alive);
        self.properties.encode_for(v, out);
        wire::put_bytes(out, self.client_id.as_bytes());
        if let Some(will) = &self.will {
            will.properties.encode_for(v, out);
            wire::put_bytes(out, will.topic.as_bytes());
            wire::put_bytes(out, &will.payload);
        }
        if let Some(u) = &self.username {
            wire::put_bytes(out, u.as_bytes());
        }
        if let Some(p) = &self.password {
            wire::put_bytes(out, p);
        }
    }
}

/// CONNACK. In 3.1.1 the reason is one of the six return codes, mapped onto
/// the MQTT 5 reason codes with the same meaning (`ReasonCode::from_v3_connack`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    pub reason: ReasonCode,
    pub properties: Properties,
}

impl ConnAck {
    pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<ConnAck, DecodeError> {
        let flags = r.u8()?;
        if flags & !1 != 0 {
            return Err(DecodeError::InvalidConnAck); // [MQTT-3.2.2-1]
        }
        let code = r.u8()?;
        let reason = if version.is_v5() {
            ReasonCode::from_u8(code)
                .filter(|rc| rc.allowed_in(PacketType::ConnAck))
                .ok_or(DecodeError::InvalidReasonCode {
                    packet: PacketType::ConnAck,
                    code,
                })?
        } else {
            ReasonCode::from_v3_connack(code).ok_or(DecodeError::InvalidConnAck)?
        };
        let session_present = flags & 1 != 0;
        if session_present && reason.is_error() {
            return Err(DecodeError::InvalidConnAck); // [MQTT-3.2.2-6]
        }
        let properties = Properties::decode_for(r, version, CONNACK_SCOPE)?;
        Ok(ConnAck {
            session_present,
            reason,
            properties,
        })
    }

    fn wire_code(&self, version: ProtocolVersion) -> u8 {
        if version.is_v5() {
            self.reason as u8
        } else {
            self.reason.to_v3_connack()
        }
    }
}

impl Encode for ConnAck {
    fn validate(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        self.properties.validate_for(version, CONNACK_SCOPE)?;
        if version.is_v5() && !self.reason.allowed_in(PacketType::ConnAck) {
            let code = self.reason as u8;
            let packet = PacketType::ConnAck;
            return Err(DecodeError::InvalidReasonCode { packet, code }.into());
        }
        if self.session_present && self.wire_code(version) != 0 {
            return Err(DecodeError::InvalidConnAck.into());
        }
        Ok(())
    }

    fn body_len(&self, version: ProtocolVersion) -> usize {
        2 + self.properties.len_for(version)
    }

    fn first_byte(&self) -> u8 {
        (PacketType::ConnAck as u8) << 4
    }

    fn write_body(&self, version: ProtocolVersion, out: &mut Vec<u8>) {
        out.push(self.session_present as u8);
        out.push(self.wire_code(version));
        self.properties.encode_for(version, out);
    }
}
