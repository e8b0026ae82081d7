//! MQTT 5 properties (spec 2.2.2): one typed struct for every packet, the table
//! of which packet may carry which property, and the duplicate rules.

use super::error::{DecodeError, EncodeError};
use super::wire::{self, Reader, VARINT_MAX};
use super::PacketType;
use bytes::Bytes;

macro_rules! property_ids {
    ($($name:ident = $value:literal),* $(,)?) => {
        /// Property identifiers (spec 2.2.2.2, table 2-4).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum PropertyId { $($name = $value),* }

        impl PropertyId {
            pub fn from_u32(value: u32) -> Option<PropertyId> {
                match value {
                    $($value => Some(PropertyId::$name),)*
                    _ => None,
                }
            }
        }
    };
}

property_ids! {
    PayloadFormatIndicator = 0x01,
    MessageExpiryInterval = 0x02,
    ContentType = 0x03,
    ResponseTopic = 0x08,
    CorrelationData = 0x09,
    SubscriptionIdentifier = 0x0B,
    SessionExpiryInterval = 0x11,
    AssignedClientIdentifier = 0x12,
    ServerKeepAlive = 0x13,
    AuthenticationMethod = 0x15,
    AuthenticationData = 0x16,
    RequestProblemInformation = 0x17,
    WillDelayInterval = 0x18,
    RequestResponseInformation = 0x19,
    ResponseInformation = 0x1A,
    ServerReference = 0x1C,
    ReasonString = 0x1F,
    ReceiveMaximum = 0x21,
    TopicAliasMaximum = 0x22,
    TopicAlias = 0x23,
    MaximumQos = 0x24,
    RetainAvailable = 0x25,
    UserProperty = 0x26,
    MaximumPacketSize = 0x27,
    WildcardSubscriptionAvailable = 0x28,
    SubscriptionIdentifierAvailable = 0x29,
    SharedSubscriptionAvailable = 0x2A,
}

/// Where a property list sits: in a packet, or in the will of a CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyScope {
    Packet(PacketType),
    Will,
}

impl PropertyScope {
    fn bit(self) -> u32 {
        match self {
            // Packet type 0 is reserved, so bit 0 is free for the will.
            PropertyScope::Will => 1,
            PropertyScope::Packet(p) => 1 << (p as u32),
        }
    }

    fn packet_type(self) -> PacketType {
        match self {
            PropertyScope::Will => PacketType::Connect,
            PropertyScope::Packet(p) => p,
        }
    }
}

const fn scopes(types: &[u8]) -> u32 {
    let mut mask = 0;
    let mut i = 0;
    while i < types.len() {
        mask |= 1 << types[i];
        i += 1;
    }
    mask
}

// Packet type numbers (spec 2.1.2), with 0 standing for the will properties.
const WILL: u8 = 0;
const CONNECT: u8 = 1;
const CONNACK: u8 = 2;
const PUBLISH: u8 = 3;
const PUBACK: u8 = 4;
const PUBREC: u8 = 5;
const PUBREL: u8 = 6;
const PUBCOMP: u8 = 7;
const SUBSCRIBE: u8 = 8;
const SUBACK: u8 = 9;
const UNSUBSCRIBE: u8 = 10;
const UNSUBACK: u8 = 11;
const DISCONNECT: u8 = 14;
const AUTH: u8 = 15;

impl PropertyId {
    /// Which packets may carry this property (spec 2.2.2.2, table 2-4).
    fn allowed_scopes(self) -> u32 {
        use PropertyId::*;
        match self {
            PayloadFormatIndicator
            | MessageExpiryInterval
            | ContentType
            | ResponseTopic
            | CorrelationData => scopes(&[PUBLISH, WILL]),
            SubscriptionIdentifier => scopes(&[PUBLISH, SUBSCRIBE]),
            SessionExpiryInterval => scopes(&[CONNECT, CONNACK, DISCONNECT]),
            AssignedClientIdentifier
            | ServerKeepAlive
            | ResponseInformation
            | MaximumQos
            | RetainAvailable
            | WildcardSubscriptionAvailable
            | SubscriptionIdentifierAvailable
            | SharedSubscriptionAvailable => scopes(&[CONNACK]),
            AuthenticationMethod | AuthenticationData => scopes(&[CONNECT, CONNACK, AUTH]),
            RequestProblemInformation | RequestResponseInformation => scopes(&[CONNECT]),
            WillDelayInterval => scopes(&[WILL]),
            ServerReference => scopes(&[CONNACK, DISCONNECT]),
            ReasonString => scopes(&[
                CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH,
            ]),
            ReceiveMaximum | TopicAliasMaximum | MaximumPacketSize => scopes(&[CONNECT, CONNACK]),
            TopicAlias => scopes(&[PUBLISH]),
            UserProperty => scopes(&[
                WILL,
                CONNECT,
                CONNACK,
                PUBLISH,
                PUBACK,
                PUBREC,
                PUBREL,
                PUBCOMP,
                SUBSCRIBE,
                SUBACK,
                UNSUBSCRIBE,
                UNSUBACK,
                DISCONNECT,
                AUTH,
            ]),
        }
    }

    pub fn allowed_in(self, scope: PropertyScope) -> bool {
        self.allowed_scopes() & scope.bit() != 0
    }
}

/// Every MQTT 5 property a packet can carry. Which are allowed depends on the
/// packet (`PropertyId::allowed_in`); the decoder enforces it, and so does the
/// encoder, so a struct holding a property its packet may not carry is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// 0: unspecified bytes, 1: UTF-8 (spec 3.3.2.3.2).
    pub payload_format_indicator: Option<u8>,
    pub message_expiry_interval: Option<u32>,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Bytes>,
    /// One in SUBSCRIBE; one per matching subscription in PUBLISH to a client.
    pub subscription_identifiers: Vec<u32>,
    pub session_expiry_interval: Option<u32>,
    pub assigned_client_identifier: Option<String>,
    pub server_keep_alive: Option<u16>,
    pub authentication_method: Option<String>,
    pub authentication_data: Option<Bytes>,
    pub request_problem_information: Option<bool>,
    pub will_delay_interval: Option<u32>,
    pub request_response_information: Option<bool>,
    pub response_information: Option<String>,
    pub server_reference: Option<String>,
    pub reason_string: Option<String>,
    pub receive_maximum: Option<u16>,
    pub topic_alias_maximum: Option<u16>,
    pub topic_alias: Option<u16>,
    pub maximum_qos: Option<u8>,
    pub retain_available: Option<bool>,
    /// Name/value pairs, in the order they were sent [MQTT-3.3.2-18].
    pub user_properties: Vec<(String, String)>,
    pub maximum_packet_size: Option<u32>,
    pub wildcard_subscription_available: Option<bool>,
    pub subscription_identifier_available: Option<bool>,
    pub shared_subscription_available: Option<bool>,
}

fn set_once<T>(slot: &mut Option<T>, value: T, id: PropertyId) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::DuplicateProperty(id));
    }
    *slot = Some(value);
    Ok(())
}

fn read_flag(r: &mut Reader, id: PropertyId) -> Result<bool, DecodeError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        // "It is a Protocol Error to include a value other than 0 or 1".
        _ => Err(DecodeError::InvalidPropertyValue(id)),
    }
}

fn nonzero_u16(r: &mut Reader, id: PropertyId) -> Result<u16, DecodeError> {
    match r.u16()? {
        0 => Err(DecodeError::InvalidPropertyValue(id)),
        v => Ok(v),
    }
}

impl Properties {
    pub fn is_empty(&self) -> bool {
        *self == Properties::default()
    }

    /// Reads a property length and the properties it covers.
    pub fn decode(r: &mut Reader, scope: PropertyScope) -> Result<Properties, DecodeError> {
        let len = r.varint()? as usize;
        let mut inner = Reader::new(r.take(len)?);
        let mut p = Properties::default();
        while !inner.is_empty() {
            let raw = inner.varint()?;
            let id = PropertyId::from_u32(raw).ok_or(DecodeError::UnknownProperty(raw as u8))?;
            if !id.allowed_in(scope) {
                let packet = scope.packet_type();
                return Err(DecodeError::PropertyNotAllowed {
                    property: id,
                    packet,
                });
            }
            p.decode_one(&mut inner, id, scope)?;
        }
        Ok(p)
    }

    fn decode_one(
        &mut self,
        r: &mut Reader,
        id: PropertyId,
        scope: PropertyScope,
    ) -> Result<(), DecodeError> {
        use PropertyId::*;
        match id {
            PayloadFormatIndicator => {
                let v = r.u8()?;
                if v > 1 {
                    return Err(DecodeError::InvalidPropertyValue(id));
                }
                set_once(&mut self.payload_format_indicator, v, id)
            }
            MessageExpiryInterval => set_once(&mut self.message_expiry_interval, r.u32()?, id),
            ContentType => set_once(&mut self.content_type, r.string()?, id),
            ResponseTopic => {
                let topic = r.string()?;
                // The Response Topic is a Topic Name: no wildcards [MQTT-3.3.2-14].
                super::topic::check_topic_name(&topic)?;
                set_once(&mut self.response_topic, topic, id)
            }
            CorrelationData => set_once(&mut self.correlation_data, r.binary()?, id),
            SubscriptionIdentifier => {
                let v = r.varint()?;
                // "It is a Protocol Error if the Subscription Identifier has a value of 0."
                if v == 0 {
                    return Err(DecodeError::InvalidPropertyValue(id));
                }
                // Repeats only in PUBLISH (one per matching subscription).
                let single = scope == PropertyScope::Packet(PacketType::Subscribe);
                if single && !self.subscription_identifiers.is_empty() {
                    return Err(DecodeError::DuplicateProperty(id));
                }
                self.subscription_identifiers.push(v);
                Ok(())
            }
            SessionExpiryInterval => set_once(&mut self.session_expiry_interval, r.u32()?, id),
            AssignedClientIdentifier => {
                set_once(&mut self.assigned_client_identifier, r.string()?, id)
            }
            ServerKeepAlive => set_once(&mut self.server_keep_alive, r.u16()?, id),
            AuthenticationMethod => set_once(&mut self.authentication_method, r.string()?, id),
            AuthenticationData => set_once(&mut self.authentication_data, r.binary()?, id),
            RequestProblemInformation => {
                let v = read_flag(r, id)?;
                set_once(&mut self.request_problem_information, v, id)
            }
            WillDelayInterval => set_once(&mut self.will_delay_interval, r.u32()?, id),
            RequestResponseInformation => {
                let v = read_flag(r, id)?;
                set_once(&mut self.request_response_information, v, id)
            }
            ResponseInformation => set_once(&mut self.response_information, r.string()?, id),
            ServerReference => set_once(&mut self.server_reference, r.string()?, id),
            ReasonString => set_once(&mut self.reason_string, r.string()?, id),
            ReceiveMaximum => {
                let v = nonzero_u16(r, id)?;
                set_once(&mut self.receive_maximum, v, id)
            }
            TopicAliasMaximum => set_once(&mut self.topic_alias_maximum, r.u16()?, id),
            TopicAlias => {
                let v = r.u16()?;
                if v == 0 {
                    return Err(DecodeError::TopicAliasZero);
                }
                set_once(&mut self.topic_alias, v, id)
            }
            MaximumQos => {
                let v = r.u8()?;
                if v > 1 {
                    return Err(DecodeError::InvalidPropertyValue(id));
                }
                set_once(&mut self.maximum_qos, v, id)
            }
            RetainAvailable => {
                let v = read_flag(r, id)?;
                set_once(&mut self.retain_available, v, id)
            }
            UserProperty => {
                let name = r.string()?;
                let value = r.string()?;
                self.user_properties.push((name, value));
                Ok(())
            }
            MaximumPacketSize => {
                let v = r.u32()?;
                if v == 0 {
                    return Err(DecodeError::InvalidPropertyValue(id));
                }
                set_once(&mut self.maximum_packet_size, v, id)
            }
            WildcardSubscriptionAvailable => {
                let v = read_flag(r, id)?;
                set_once(&mut self.wildcard_subscription_available, v, id)
            }
            SubscriptionIdentifierAvailable => {
                let v = read_flag(r, id)?;
                set_once(&mut self.subscription_identifier_available, v, id)
            }
            SharedSubscriptionAvailable => {
                let v = read_flag(r, id)?;
                set_once(&mut self.shared_subscription_available, v, id)
            }
        }
    }

    /// Calls `f` with each present property id and its encoded size (without
    /// the identifier byte). One walk serves validation, sizing and writing.
    fn for_each(&self, mut f: impl FnMut(PropertyId, usize)) {
        use PropertyId::*;
        let s = |v: &Option<String>| v.as_ref().map(|s| wire::field_len(s.as_bytes()));
        let b = |v: &Option<Bytes>| v.as_ref().map(|b| wire::field_len(b));
        let fixed = |present: bool, n: usize| present.then_some(n);
        let entries = [
            (
                PayloadFormatIndicator,
                fixed(self.payload_format_indicator.is_some(), 1),
            ),
            (
                MessageExpiryInterval,
                fixed(self.message_expiry_interval.is_some(), 4),
            ),
            (ContentType, s(&self.content_type)),
            (ResponseTopic, s(&self.response_topic)),
            (CorrelationData, b(&self.correlation_data)),
            (
                SessionExpiryInterval,
                fixed(self.session_expiry_interval.is_some(), 4),
            ),
            (
                AssignedClientIdentifier,
                s(&self.assigned_client_identifier),
            ),
            (ServerKeepAlive, fixed(self.server_keep_alive.is_some(), 2)),
            (AuthenticationMethod, s(&self.authentication_method)),
            (AuthenticationData, b(&self.authentication_data)),
            (
                RequestProblemInformation,
                fixed(self.request_problem_information.is_some(), 1),
            ),
            (
                WillDelayInterval,
                fixed(self.will_delay_interval.is_some(), 4),
            ),
            (
                RequestResponseInformation,
                fixed(self.request_response_information.is_some(), 1),
            ),
            (ResponseInformation, s(&self.response_information)),
            (ServerReference, s(&self.server_reference)),
            (ReasonString, s(&self.reason_string)),
            (ReceiveMaximum, fixed(self.receive_maximum.is_some(), 2)),
            (
                TopicAliasMaximum,
                fixed(self.topic_alias_maximum.is_some(), 2),
            ),
            (TopicAlias, fixed(self.topic_alias.is_some(), 2)),
            (MaximumQos, fixed(self.maximum_qos.is_some(), 1)),
            (RetainAvailable, fixed(self.retain_available.is_some(), 1)),
            (
                MaximumPacketSize,
                fixed(self.maximum_packet_size.is_some(), 4),
            ),
            (
                WildcardSubscriptionAvailable,
                fixed(self.wildcard_subscription_available.is_some(), 1),
            ),
            (
                SubscriptionIdentifierAvailable,
                fixed(self.subscription_identifier_available.is_some(), 1),
            ),
            (
                SharedSubscriptionAvailable,
                fixed(self.shared_subscription_available.is_some(), 1),
            ),
        ];
        for (id, size) in entries {
            if let Some(size) = size {
                f(id, size);
            }
        }
        for &id in &self.subscription_identifiers {
            f(SubscriptionIdentifier, wire::varint_len(id));
        }
        for (k, v) in &self.user_properties {
            f(
                UserProperty,
                wire::field_len(k.as_bytes()) + wire::field_len(v.as_bytes()),
            );
        }
    }

    /// Checks that a decoder would accept these properties in `scope`.
    pub fn validate(&self, scope: PropertyScope) -> Result<(), EncodeError> {
        let mut err = None;
        self.for_each(|id, _| {
            if err.is_none() && !id.allowed_in(scope) {
                let packet = scope.packet_type();
                err = Some(DecodeError::PropertyNotAllowed {
                    property: id,
                    packet,
                });
            }
        });
        if let Some(e) = err {
            return Err(e.into());
        }
        self.validate_values(scope)
    }

    fn validate_values(&self, scope: PropertyScope) -> Result<(), EncodeError> {
        use PropertyId::*;
        let bad = |id| Err(EncodeError::Invalid(DecodeError::InvalidPropertyValue(id)));
        if self.payload_format_indicator.is_some_and(|v| v > 1) {
            return bad(PayloadFormatIndicator);
        }
        if self.maximum_qos.is_some_and(|v| v > 1) {
            return bad(MaximumQos);
        }
        if self.receive_maximum == Some(0) {
            return bad(ReceiveMaximum);
        }
        if self.maximum_packet_size == Some(0) {
            return bad(MaximumPacketSize);
        }
        if self.topic_alias == Some(0) {
            return Err(DecodeError::TopicAliasZero.into());
        }
        let ids = &self.subscription_identifiers;
        if ids.iter().any(|&v| v == 0 || v > VARINT_MAX) {
            return bad(SubscriptionIdentifier);
        }
        if scope == PropertyScope::Packet(PacketType::Subscribe) && ids.len() > 1 {
            return Err(DecodeError::DuplicateProperty(SubscriptionIdentifier).into());
        }
        if let Some(topic) = &self.response_topic {
            super::topic::check_topic_name(topic)?;
        }
        for s in self.strings() {
            check_str(s)?;
        }
        for b in [&self.correlation_data, &self.authentication_data]
            .into_iter()
            .flatten()
        {
            check_bin(b)?;
        }
        Ok(())
    }

    fn strings(&self) -> impl Iterator<Item = &str> {
        let singles = [
            &self.content_type,
            &self.response_topic,
            &self.assigned_client_identifier,
            &self.authentication_method,
            &self.response_information,
            &self.server_reference,
            &self.reason_string,
        ];
        let pairs = self
            .user_properties
            .iter()
            .flat_map(|(k, v)| [k.as_str(), v.as_str()]);
        singles
            .into_iter()
            .flatten()
            .map(String::as_str)
            .chain(pairs)
    }

    /// Size of the property list, without its length prefix.
    pub fn body_len(&self) -> usize {
        let mut total = 0;
        self.for_each(|_, size| total += 1 + size);
        total
    }

    /// Size of the property list with its length prefix.
    pub fn encoded_len(&self) -> usize {
        let body = self.body_len();
        wire::varint_len(body as u32) + body
    }

    /// Writes the length prefix and the properties.
    pub fn encode(&self, out: &mut Vec<u8>) {
        wire::put_varint(out, self.body_len() as u32);
        self.encode_body(out);
    }

    /// Writes the properties without their length prefix.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        use PropertyId::*;
        let byte = |out: &mut Vec<u8>, id: PropertyId, v: u8| out.extend_from_slice(&[id as u8, v]);
        let short = |out: &mut Vec<u8>, id: PropertyId, v: u16| {
            out.push(id as u8);
            wire::put_u16(out, v);
        };
        let long = |out: &mut Vec<u8>, id: PropertyId, v: u32| {
            out.push(id as u8);
            wire::put_u32(out, v);
        };
        let field = |out: &mut Vec<u8>, id: PropertyId, v: &[u8]| {
            out.push(id as u8);
            wire::put_bytes(out, v);
        };
        if let Some(v) = self.payload_format_indicator {
            byte(out, PayloadFormatIndicator, v);
        }
        if let Some(v) = self.message_expiry_interval {
            long(out, MessageExpiryInterval, v);
        }
        if let Some(v) = &self.content_type {
            field(out, ContentType, v.as_bytes());
        }
        if let Some(v) = &self.response_topic {
            field(out, ResponseTopic, v.as_bytes());
        }
        if let Some(v) = &self.correlation_data {
            field(out, CorrelationData, v);
        }
        if let Some(v) = self.session_expiry_interval {
            long(out, SessionExpiryInterval, v);
        }
        if let Some(v) = &self.assigned_client_identifier {
            field(out, AssignedClientIdentifier, v.as_bytes());
        }
        if let Some(v) = self.server_keep_alive {
            short(out, ServerKeepAlive, v);
        }
        if let Some(v) = &self.authentication_method {
            field(out, AuthenticationMethod, v.as_bytes());
        }
        if let Some(v) = &self.authentication_data {
            field(out, AuthenticationData, v);
        }
        if let Some(v) = self.request_problem_information {
            byte(out, RequestProblemInformation, v as u8);
        }
        if let Some(v) = self.will_delay_interval {
            long(out, WillDelayInterval, v);
        }
        if let Some(v) = self.request_response_information {
            byte(out, RequestResponseInformation, v as u8);
        }
        if let Some(v) = &self.response_information {
            field(out, ResponseInformation, v.as_bytes());
        }
        if let Some(v) = &self.server_reference {
            field(out, ServerReference, v.as_bytes());
        }
        if let Some(v) = &self.reason_string {
            field(out, ReasonString, v.as_bytes());
        }
        if let Some(v) = self.receive_maximum {
            short(out, ReceiveMaximum, v);
        }
        if let Some(v) = self.topic_alias_maximum {
            short(out, TopicAliasMaximum, v);
        }
        if let Some(v) = self.topic_alias {
            short(out, TopicAlias, v);
        }
        if let Some(v) = self.maximum_qos {
            byte(out, MaximumQos, v);
        }
        if let Some(v) = self.retain_available {
            byte(out, RetainAvailable, v as u8);
        }
        if let Some(v) = self.maximum_packet_size {
            long(out, MaximumPacketSize, v);
        }
        if let Some(v) = self.wildcard_subscription_available {
            byte(out, WildcardSubscriptionAvailable, v as u8);
        }
        if let Some(v) = self.subscription_identifier_available {
            byte(out, SubscriptionIdentifierAvailable, v as u8);
        }
        if let Some(v) = self.shared_subscription_available {
            byte(out, SharedSubscriptionAvailable, v as u8);
        }
        for &id in &self.subscription_identifiers {
            out.push(SubscriptionIdentifier as u8);
            wire::put_varint(out, id);
        }
        for (k, v) in &self.user_properties {
            out.push(UserProperty as u8);
            wire::put_bytes(out, k.as_bytes());
            wire::put_bytes(out, v.as_bytes());
        }
    }
}

/// The same operations for a packet of a given protocol version: properties
/// exist only in MQTT 5, so older versions read none and encoding for them
/// drops whatever properties the struct holds.
impl Properties {
    pub(crate) fn decode_for(
        r: &mut Reader,
        version: super::ProtocolVersion,
        scope: PropertyScope,
    ) -> Result<Properties, DecodeError> {
        if version.is_v5() {
            Properties::decode(r, scope)
        } else {
            Ok(Properties::default())
        }
    }

    pub(crate) fn len_for(&self, version: super::ProtocolVersion) -> usize {
        if version.is_v5() {
            self.encoded_len()
        } else {
            0
        }
    }

    pub(crate) fn encode_for(&self, version: super::ProtocolVersion, out: &mut Vec<u8>) {
        if version.is_v5() {
            self.encode(out);
        }
    }

    pub(crate) fn validate_for(
        &self,
        version: super::ProtocolVersion,
        scope: PropertyScope,
    ) -> Result<(), EncodeError> {
        if version.is_v5() {
            self.validate(scope)
        } else {
            Ok(())
        }
    }
}

/// A string field the decoder will accept: at most 65,535 bytes, no U+0000.
pub fn check_str(s: &str) -> Result<(), EncodeError> {
    if s.len() > u16::MAX as usize {
        return Err(EncodeError::FieldTooLong);
    }
    if s.as_bytes().contains(&0) {
        return Err(DecodeError::NullCharacter.into());
    }
    Ok(())
}

/// A binary field the wire can hold: at most 65,535 bytes.
pub fn check_bin(b: &[u8]) -> Result<(), EncodeError> {
    if b.len() > u16::MAX as usize {
        return Err(EncodeError::FieldTooLong);
    }
    Ok(())
}
