//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK (spec 3.8-3.11).

use super::error::{DecodeError, EncodeError};
use super::properties::{check_str, Properties, PropertyScope};
use super::topic::{check_topic_filter, parse_shared};
use super::wire::{self, field_len, Reader};
use super::{read_packet_id, Encode, PacketId, PacketType, ProtocolVersion, QoS, ReasonCode};

/// When retained messages are sent for a new subscription (spec 3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetainHandling {
    /// Send retained messages at the time of the subscribe.
    #[default]
    OnSubscribe = 0,
    /// Send them only if the subscription did not exist already.
    OnNewSubscribe = 1,
    /// Do not send them.
    Never = 2,
}

/// Subscription options byte (spec 3.8.3.1). 3.1.1 has only the QoS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriptionOptions {
    pub qos: QoS,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    pub fn qos(qos: QoS) -> SubscriptionOptions {
        SubscriptionOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::OnSubscribe,
        }
    }

    fn decode(byte: u8, version: ProtocolVersion) -> Result<SubscriptionOptions, DecodeError> {
        let reserved = if version.is_v5() {
            0b1100_0000
        } else {
            0b1111_1100
        };
        if byte & reserved != 0 {
            return Err(DecodeError::ReservedSubscriptionBits); // [MQTT-3.8.3-5]
        }
        let retain_handling = match (byte >> 4) & 0b11 {
            0 => RetainHandling::OnSubscribe,
            1 => RetainHandling::OnNewSubscribe,
            2 => RetainHandling::Never,
            _ => return Err(DecodeError::InvalidRetainHandling),
        };
        let qos = match QoS::from_u8(byte & 0b11) {
            Ok(qos) => qos,
            // Spec 3.8.3.1: a Protocol Error in MQTT 5.
            Err(_) if version.is_v5() => return Err(DecodeError::InvalidSubscriptionQos),
            // 3.1.1: a malformed packet [MQTT-3.8.3-4].
            Err(e) => return Err(e),
        };
        Ok(SubscriptionOptions {
            qos,
            no_local: byte & 0b0100 != 0,
            retain_as_published: byte & 0b1000 != 0,
            retain_handling,
        })
    }

    /// The options byte; 3.1.1 carries only the QoS bits.
    fn encode(&self, version: ProtocolVersion) -> u8 {
        let mut byte = self.qos as u8;
        if version.is_v5() {
            byte |= (self.no_local as u8) << 2
                | (self.retain_as_published as u8) << 3
                | (self.retain_handling as u8) << 4;
        }
        byte
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub filter: String,
    pub options: SubscriptionOptions,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    pub packet_id: PacketId,
    pub properties: Properties,
    pub subscriptions: Vec<Subscription>,
}

const SUBSCRIBE_SCOPE: PropertyScope = PropertyScope::Packet(PacketType::Subscribe);
const SUBACK_SCOPE: PropertyScope = PropertyScope::Packet(PacketType::SubAck);
const UNSUBSCRIBE_SCOPE: PropertyScope = PropertyScope::Packet(PacketType::Unsubscribe);
const UNSUBACK_SCOPE: PropertyScope = PropertyScope::Packet(PacketType::UnsubAck);

fn check_subscription(s: &Subscription, version: ProtocolVersion) -> Result<(), DecodeError> {
    check_topic_filter(&s.filter)?;
    // [MQTT-3.8.3-4]: No Local on a shared subscription is a protocol error.
    if version.is_v5() && s.options.no_local && parse_shared(&s.filter).is_some() {
        return Err(DecodeError::NoLocalOnSharedSubscription);
    }
    Ok(())
}

impl Subscribe {
    pub(crate) fn decode(
        r: &mut Reader,
        version: ProtocolVersion,
    ) -> Result<Subscribe, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = Properties::decode_for(r, version, SUBSCRIBE_SCOPE)?;
        let mut subscriptions = Vec::new();
        while !r.is_empty() {
            let filter = r.string()?;
            let options = SubscriptionOptions::decode(r.u8()?, version)?;
            let s = Subscription { filter, options };
            check_subscription(&s, version)?;
            subscriptions.push(s);
        }
        if subscriptions.is_empty() {
            return Err(DecodeError::NoTopicFilters); // [MQTT-3.8.3-2]
        }
        Ok(Subscribe {
            packet_id,
            properties,
            subscriptions,
        })
    }
}

impl Encode for Subscribe {
    fn validate(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        self.properties.validate_for(version, SUBSCRIBE_SCOPE)?;
        if self.subscriptions.is_empty() {
            return Err(DecodeError::NoTopicFilters.into());
        }
        for s in &self.subscriptions {
            check_str(&s.filter)?;
            check_subscription(s, version)?;
        }
        Ok(())
    }

    fn body_len(&self, version: ProtocolVersion) -> usize {
        let filters: usize = self
            .subscriptions
            .iter()
            .map(|s| field_len(s.filter.as_bytes()) + 1)
            .sum();
        2 + self.properties.len_for(version) + filters
    }

    fn first_byte(&self) -> u8 {
        (PacketType::Subscribe as u8) << 4 | 0b0010 // [MQTT-3.8.1-1]
    }

    fn write_body(&self, version: ProtocolVersion, out: &mut Vec<u8>) {
        wire::put_u16(out, self.packet_id.get());
        self.properties.encode_for(version, out);
        for s in &self.subscriptions {
            wire::put_bytes(out, s.filter.as_bytes());
            out.push(s.options.encode(version));
        }
    }
}

/// SUBACK: one reason code per subscription, in order [MQTT-3.9.3-1]. In
/// 3.1.1 the return codes 0, 1, 2 and 0x80 map onto Granted QoS 0-2 and
/// Unspecified error; other failures are sent as 0x80.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    pub packet_id: PacketId,
    pub properties: Properties,
    pub reasons: Vec<ReasonCode>,
}

impl SubAck {
    pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<SubAck, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = Properties::decode_for(r, version, SUBACK_SCOPE)?;
        let mut reasons = Vec::with_capacity(r.remaining());
        while !r.is_empty() {
            let code = r.u8()?;
            let reason = if version.is_v5() {
                ReasonCode::from_u8(code).filter(|rc| rc.allowed_in(PacketType::SubAck))
            } else {
                ReasonCode::from_v3_suback(code)
            };
            let packet = PacketType::SubAck;
            reasons.push(reason.ok_or(DecodeError::InvalidReasonCode { packet, code })?);
        }
        Ok(SubAck {
            packet_id,
            properties,
            reasons,
        })
    }
}

impl Encode for SubAck {
    fn validate(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        self.properties.validate_for(version, SUBACK_SCOPE)?;
        if version.is_v5() {
            if let Some(bad) = self
                .reasons
                .iter()
                .find(|rc| !rc.allowed_in(PacketType::SubAck))
            {
                let code = *bad as u8;
                return Err(DecodeError::InvalidReasonCode {
                    packet: PacketType::SubAck,
                    code,
                }
                .into());
            }
        }
        Ok(())
    }

    fn body_len(&self, version: ProtocolVersion) -> usize {
        2 + self.properties.len_for(version) + self.reasons.len()
    }

    fn first_byte(&self) -> u8 {
        (PacketType::SubAck as u8) << 4
    }

    fn write_body(&self, version: ProtocolVersion, out: &mut Vec<u8>) {
        wire::put_u16(out, self.packet_id.get());
        self.properties.encode_for(version, out);
        for rc in &self.reasons {
            out.push(if version.is_v5() {
                *rc as u8
            } else {
                rc.to_v3_suback()
            });
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub packet_id: PacketId,
    pub properties: Properties,
    pub filters: Vec<String>,
}

impl Unsubscribe {
    pub(crate) fn decode(
        r: &mut Reader,
        version: ProtocolVersion,
    ) -> Result<Unsubscribe, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = Properties::decode_for(r, version, UNSUBSCRIBE_SCOPE)?;
        let mut filters = Vec::new();
        while !r.is_empty() {
            let filter = r.string()?;
            check_topic_filter(&filter)?;
            filters.push(filter);
        }
        if filters.is_empty() {
            return Err(DecodeError::NoTopicFilters); // [MQTT-3.10.3-2]
        }
        Ok(Unsubscribe {
            packet_id,
            properties,
            filters,
        })
    }
}

impl Encode for Unsubscribe {
    fn validate(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        self.properties.validate_for(version, UNSUBSCRIBE_SCOPE)?;
        if self.filters.is_empty() {
            return Err(DecodeError::NoTopicFilters.into());
        }
        for f in &self.filters {
            check_str(f)?;
            check_topic_filter(f)?;
        }
        Ok(())
    }

    fn body_len(&self, version: ProtocolVersion) -> usize {
        let filters: usize = self.filters.iter().map(|f| field_len(f.as_bytes())).sum();
        2 + self.properties.len_for(version) + filters
    }

    fn first_byte(&self) -> u8 {
        (PacketType::Unsubscribe as u8) << 4 | 0b0010 // [MQTT-3.10.1-1]
    }

    fn write_body(&self, version: ProtocolVersion, out: &mut Vec<u8>) {
        wire::put_u16(out, self.packet_id.get());
        self.properties.encode_for(version, out);
        for f in &self.filters {
            wire::put_bytes(out, f.as_bytes());
        }
    }
}

/// UNSUBACK. 3.1.1 has no reason codes: it decodes with none and encodes
/// without them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    pub packet_id: PacketId,
    pub properties: Properties,
    pub reasons: Vec<ReasonCode>,
}

impl UnsubAck {
    pub(crate) fn decode(
        r: &mut Reader,
        version: ProtocolVersion,
    ) -> Result<UnsubAck, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = Properties::decode_for(r, version, UNSUBACK_SCOPE)?;
        let mut reasons = Vec::new();
        if version.is_v5() {
            while !r.is_empty() {
                let code = r.u8()?;
                let packet = PacketType::UnsubAck;
                let reason = ReasonCode::from_u8(code).filter(|rc| rc.allowed_in(packet));
                reasons.push(reason.ok_or(DecodeError::InvalidReasonCode { packet, code })?);
            }
        }
        Ok(UnsubAck {
            packet_id,
            properties,
            reasons,
        })
    }
}

impl Encode for UnsubAck {
    fn validate(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        self.properties.validate_for(version, UNSUBACK_SCOPE)?;
        if version.is_v5() {
            if let Some(bad) = self
                .reasons
                .iter()
                .find(|rc| !rc.allowed_in(PacketType::UnsubAck))
            {
                let code = *bad as u8;
                return Err(DecodeError::InvalidReasonCode {
                    packet: PacketType::UnsubAck,
                    code,
                }
                .into());
            }
        }
        Ok(())
    }

    fn body_len(&self, version: ProtocolVersion) -> usize {
        let reasons = if version.is_v5() {
            self.reasons.len()
        } else {
            0
        };
        2 + self.properties.len_for(version) + reasons
    }

    fn first_byte(&self) -> u8 {
        (PacketType::UnsubAck as u8) << 4
    }

    fn write_body(&self, version: ProtocolVersion, out: &mut Vec<u8>) {
        wire::put_u16(out, self.packet_id.get());
        self.properties.encode_for(version, out);
        if version.is_v5() {
            out.extend(self.reasons.iter().map(|rc| *rc as u8));
        }
    }
}
