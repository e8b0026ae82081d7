//! Packets that carry at most a reason code and properties: PINGREQ and
//! PINGRESP (spec 3.12-3.13), DISCONNECT (spec 3.14) and AUTH (spec 3.15).

use super::error::{DecodeError, EncodeError};
use super::properties::{Properties, PropertyScope};
use super::wire::Reader;
use super::{Encode, PacketType, ProtocolVersion, ReasonCode};

/// PINGREQ or PINGRESP: a fixed header and nothing else.
pub(crate) struct Ping(pub PacketType);

impl Encode for Ping {
    fn validate(&self, _: ProtocolVersion) -> Result<(), EncodeError> {
        Ok(())
    }
    fn body_len(&self, _: ProtocolVersion) -> usize {
        0
    }
    fn first_byte(&self) -> u8 {
        (self.0 as u8) << 4
    }
    fn write_body(&self, _: ProtocolVersion, _: &mut Vec<u8>) {}
}

/// A reason code and properties, either of which may be left off the wire
/// when they are Success and empty (spec 3.14.2.1, 3.15.2.1).
fn decode_tail(r: &mut Reader, kind: PacketType) -> Result<(ReasonCode, Properties), DecodeError> {
    if r.is_empty() {
        return Ok((ReasonCode::Success, Properties::default()));
    }
    let code = r.u8()?;
    let reason = ReasonCode::from_u8(code)
        .filter(|rc| rc.allowed_in(kind))
        .ok_or(DecodeError::InvalidReasonCode { packet: kind, code })?;
    let properties = if r.is_empty() {
        Properties::default()
    } else {
        Properties::decode(r, PropertyScope::Packet(kind))?
    };
    Ok((reason, properties))
}

pub(crate) fn tail_len(reason: ReasonCode, properties: &Properties) -> usize {
    if !properties.is_empty() {
        1 + properties.encoded_len()
    } else if reason != ReasonCode::Success {
        1
    } else {
        0
    }
}

pub(crate) fn write_tail(reason: ReasonCode, properties: &Properties, out: &mut Vec<u8>) {
    match tail_len(reason, properties) {
        0 => {}
        1 => out.push(reason as u8),
        _ => {
            out.push(reason as u8);
            properties.encode(out);
        }
    }
}

pub(crate) fn validate_tail(
    kind: PacketType,
    reason: ReasonCode,
    properties: &Properties,
) -> Result<(), EncodeError> {
    if !reason.allowed_in(kind) {
        let code = reason as u8;
        return Err(DecodeError::InvalidReasonCode { packet: kind, code }.into());
    }
    properties.validate(PropertyScope::Packet(kind))
}

/// DISCONNECT. In 3.1.1 it has no body, so it decodes as a normal
/// disconnection and encodes without reason or properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    pub reason: ReasonCode,
    pub properties: Properties,
}

impl Disconnect {
    pub fn new(reason: ReasonCode) -> Disconnect {
        Disconnect {
            reason,
            properties: Properties::default(),
        }
    }

    pub(crate) fn decode(
        r: &mut Reader,
        version: ProtocolVersion,
    ) -> Result<Disconnect, DecodeError> {
        if !version.is_v5() {
            return Ok(Disconnect::new(ReasonCode::NORMAL_DISCONNECTION));
        }
        let (reason, properties) = decode_tail(r, PacketType::Disconnect)?;
        Ok(Disconnect { reason, properties })
    }
}

impl Encode for Disconnect {
    fn validate(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        if version.is_v5() {
            validate_tail(PacketType::Disconnect, self.reason, &self.properties)?;
        }
        Ok(())
    }

    fn body_len(&self, version: ProtocolVersion) -> usize {
        if version.is_v5() {
            tail_len(self.reason, &self.properties)
        } else {
            0
        }
    }

    fn first_byte(&self) -> u8 {
        (PacketType::Disconnect as u8) << 4
    }

    fn write_body(&self, version: ProtocolVersion, out: &mut Vec<u8>) {
        if version.is_v5() {
            write_tail(self.reason, &self.properties, out);
        }
    }
}

/// AUTH: MQTT 5 only (spec 3.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub reason: ReasonCode,
    pub properties: Properties,
}

impl Auth {
    pub(crate) fn decode(r: &mut Reader) -> Result<Auth, DecodeError> {
        let (reason, properties) = decode_tail(r, PacketType::Auth)?;
        Ok(Auth { reason, properties })
    }
}

impl Encode for Auth {
    fn validate(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        if !version.is_v5() {
            return Err(EncodeError::NotInVersion);
        }
        validate_tail(PacketType::Auth, self.reason, &self.properties)
    }

    fn body_len(&self, _: ProtocolVersion) -> usize {
        tail_len(self.reason, &self.properties)
    }

    fn first_byte(&self) -> u8 {
        (PacketType::Auth as u8) << 4
    }

    fn write_body(&self, _: ProtocolVersion, out: &mut Vec<u8>) {
        write_tail(self.reason, &self.properties, out);
    }
}
