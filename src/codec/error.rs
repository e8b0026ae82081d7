//! Why bytes could not be decoded, or a packet could not be encoded. Every
//! decode error maps to exactly one MQTT 5 reason code, which the broker puts in
//! the CONNACK or DISCONNECT it sends before closing the connection.

use super::properties::PropertyId;
use super::reason::ReasonCode;
use super::PacketType;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The packet is larger than the maximum packet size the receiver set;
    /// detected from the fixed header, before anything is allocated.
    PacketTooLarge { size: u64, max: u32 },
    /// A variable byte integer with more than four bytes [MQTT-1.5.5-1].
    MalformedVarint,
    /// Packet type 0 (or 15 before MQTT 5) is reserved.
    ReservedPacketType(u8),
    /// Fixed header flag bits other than those the spec defines [MQTT-2.1.3-1].
    InvalidFixedHeaderFlags { packet: PacketType, flags: u8 },
    /// A field ran past the remaining length.
    Truncated,
    /// Bytes left over after the last field of the packet.
    TrailingBytes,
    /// A string that is not well-formed UTF-8 [MQTT-1.5.4-1].
    InvalidUtf8,
    /// A string containing U+0000 [MQTT-1.5.4-2].
    NullCharacter,
    /// CONNECT protocol name other than "MQTT" (or "MQIsdp" for level 3).
    InvalidProtocolName,
    /// CONNECT protocol level other than 3, 4 or 5.
    UnsupportedProtocolVersion(u8),
    /// CONNECT reserved flag set [MQTT-3.1.2-3].
    ReservedConnectFlag,
    /// Will QoS or Will Retain set without the Will Flag [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15].
    WillFlagsWithoutWill,
    /// Password flag without user name flag in 3.1.1 [MQTT-3.1.2-22].
    PasswordWithoutUsername,
    /// QoS 3 [MQTT-3.3.1-4].
    InvalidQos,
    /// DUP set on a QoS 0 PUBLISH [MQTT-3.3.1-2].
    DupOnQos0,
    /// Packet identifier 0 [MQTT-2.2.1-3].
    ZeroPacketId,
    /// Topic name with `+` or `#` [MQTT-3.3.2-2].
    WildcardInTopicName,
    /// Empty topic name with no topic alias [MQTT-3.3.2-1], [MQTT-4.7.3-1].
    EmptyTopicName,
    /// Topic filter not built by the rules of 4.7.1 / 4.8.2.
    InvalidTopicFilter,
    /// SUBSCRIBE or UNSUBSCRIBE with no topic filter [MQTT-3.8.3-2], [MQTT-3.10.3-2].
    NoTopicFilters,
    /// Subscription options reserved bits set [MQTT-3.8.3-5].
    ReservedSubscriptionBits,
    /// Retain handling 3: "It is a Protocol Error to send a Retain Handling
    /// value of 3" (spec 3.8.3.1).
    InvalidRetainHandling,
    /// Maximum QoS 3 in MQTT 5 subscription options: "It is a Protocol Error if
    /// the Maximum QoS field has the value 3" (spec 3.8.3.1). In 3.1.1 the same
    /// byte is malformed [MQTT-3.8.3-4] and decodes as `InvalidQos`.
    InvalidSubscriptionQos,
    /// No Local on a shared subscription [MQTT-3.8.3-4].
    NoLocalOnSharedSubscription,
    /// A property identifier the spec does not define.
    UnknownProperty(u8),
    /// A property not allowed in this packet (spec 2.2.2.2).
    PropertyNotAllowed {
        property: PropertyId,
        packet: PacketType,
    },
    /// A property that may appear once appeared twice.
    DuplicateProperty(PropertyId),
    /// A property value the spec forbids (e.g. Receive Maximum 0).
    InvalidPropertyValue(PropertyId),
    /// Topic Alias 0 [MQTT-3.3.2-8].
    TopicAliasZero,
    /// A reason code the spec does not allow in this packet.
    InvalidReasonCode { packet: PacketType, code: u8 },
    /// A CONNACK return code above 5 in 3.1.1, or acknowledge flags bits 7-1 set [MQTT-3.2.2-1].
    InvalidConnAck,
}

impl DecodeError {
    /// The MQTT 5 reason code for a CONNACK or DISCONNECT caused by this error.
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeError::*;
        match self {
            PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            InvalidProtocolName | UnsupportedProtocolVersion(_) => {
                ReasonCode::UnsupportedProtocolVersion
            }
            WildcardInTopicName => ReasonCode::TopicNameInvalid,
            InvalidTopicFilter => ReasonCode::TopicFilterInvalid,
            TopicAliasZero => ReasonCode::TopicAliasInvalid,
            // "It is a Protocol Error if the Topic Name is zero length and
            // there is no Topic Alias" (spec 3.3.2.1).
            EmptyTopicName
            | DuplicateProperty(_)
            | InvalidPropertyValue(_)
            | NoTopicFilters
            | InvalidRetainHandling
            | InvalidSubscriptionQos
            | NoLocalOnSharedSubscription => ReasonCode::ProtocolError,
            MalformedVarint
            | ReservedPacketType(_)
            | InvalidFixedHeaderFlags { .. }
            | Truncated
            | TrailingBytes
            | InvalidUtf8
            | NullCharacter
            | ReservedConnectFlag
            | WillFlagsWithoutWill
            | PasswordWithoutUsername
            | InvalidQos
            | DupOnQos0
            | ZeroPacketId
            | ReservedSubscriptionBits
            | UnknownProperty(_)
            | PropertyNotAllowed { .. }
            | InvalidReasonCode { .. }
            | InvalidConnAck => ReasonCode::MalformedPacket,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeError::*;
        match self {
            PacketTooLarge { size, max } => {
                write!(f, "packet of {size} bytes exceeds the maximum of {max}")
            }
            MalformedVarint => f.write_str("variable byte integer longer than 4 bytes"),
            ReservedPacketType(t) => write!(f, "reserved packet type {t}"),
            InvalidFixedHeaderFlags { packet, flags } => {
                write!(f, "invalid fixed header flags {flags:#06b} for {packet:?}")
            }
            Truncated => f.write_str("a field runs past the remaining length"),
            TrailingBytes => f.write_str("bytes left after the last field"),
            InvalidUtf8 => f.write_str("string is not valid UTF-8"),
            NullCharacter => f.write_str("string contains U+0000"),
            InvalidProtocolName => f.write_str("protocol name is not MQTT"),
            UnsupportedProtocolVersion(v) => write!(f, "unsupported protocol level {v}"),
            ReservedConnectFlag => f.write_str("CONNECT reserved flag is set"),
            WillFlagsWithoutWill => f.write_str("will QoS or retain set without a will"),
            PasswordWithoutUsername => f.write_str("password without user name (3.1.1)"),
            InvalidQos => f.write_str("QoS 3 is not a QoS"),
            DupOnQos0 => f.write_str("DUP set on a QoS 0 PUBLISH"),
            ZeroPacketId => f.write_str("packet identifier 0"),
            WildcardInTopicName => f.write_str("wildcard in topic name"),
            EmptyTopicName => f.write_str("empty topic name without a topic alias"),
            InvalidTopicFilter => f.write_str("invalid topic filter"),
            NoTopicFilters => f.write_str("no topic filter in the packet"),
            ReservedSubscriptionBits => f.write_str("subscription options reserved bits set"),
            InvalidRetainHandling => f.write_str("retain handling 3"),
            InvalidSubscriptionQos => f.write_str("subscription maximum QoS 3"),
            NoLocalOnSharedSubscription => f.write_str("no local on a shared subscription"),
            UnknownProperty(id) => write!(f, "unknown property {id:#04x}"),
            PropertyNotAllowed { property, packet } => {
                write!(f, "property {property:?} is not allowed in {packet:?}")
            }
            DuplicateProperty(p) => write!(f, "property {p:?} appears more than once"),
            InvalidPropertyValue(p) => write!(f, "invalid value for property {p:?}"),
            TopicAliasZero => f.write_str("topic alias 0"),
            InvalidReasonCode { packet, code } => {
                write!(f, "reason code {code:#04x} is not allowed in {packet:?}")
            }
            InvalidConnAck => f.write_str("invalid CONNACK flags or return code"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a packet could not be encoded: the value cannot be represented on the
/// wire, or the result would be rejected by a conforming decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A string or binary field longer than 65,535 bytes.
    FieldTooLong,
    /// Remaining length above 268,435,455, or above the peer's maximum.
    PacketTooLarge { size: usize, max: u32 },
    /// QoS 0 with a packet identifier, or QoS 1/2 without one.
    PacketIdMismatch,
    /// This packet or field does not exist in the protocol version.
    NotInVersion,
    /// A value the decoder would reject (see `DecodeError` for which).
    Invalid(DecodeError),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::FieldTooLong => f.write_str("string or binary field over 65535 bytes"),
            EncodeError::PacketTooLarge { size, max } => {
                write!(f, "packet of {size} bytes exceeds the maximum of {max}")
            }
            EncodeError::PacketIdMismatch => f.write_str("packet identifier does not match QoS"),
            EncodeError::NotInVersion => f.write_str("not representable in this protocol version"),
            EncodeError::Invalid(e) => write!(f, "invalid packet: {e}"),
        }
    }
}

impl std::error::Error for EncodeError {}

impl From<DecodeError> for EncodeError {
    fn from(e: DecodeError) -> Self {
        EncodeError::Invalid(e)
    }
}
