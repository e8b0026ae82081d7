//! MQTT 5 properties (spec 2.2.2). One table lists all 27, as the spec's table
//! 2-4 does (`properties!` below); the `Properties` struct, decoding, sizing,
//! encoding and the checks of which packet may carry which property, and of
//! which values are valid, all come from it.

use super::error::{DecodeError, EncodeError};
use super::wire::{self, Reader, VARINT_MAX};
use super::PacketType;
use bytes::Bytes;

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

/// Expands the property table (below) into `PropertyId`, the `Properties`
/// struct and the code that decodes, sizes, encodes and validates it. A row:
///
/// ```text
/// Id   Name       Type      [packets that may carry it]
///      field:     Option<T> or Vec<T>   ((once in [packets]))?  (if check)?;
/// ```
///
/// `Type` is one of the data types below (spec 1.5), read and written as a
/// `T`. An `Option` property may appear once; a `Vec` one may repeat (its
/// values kept in wire order), except in the packets `once in` names.
/// `check` refuses values the spec forbids beyond what the type allows: the
/// decoder applies it to each value it reads, `Properties::validate` to each
/// value held.
///
/// Encoding writes the `Option` properties in identifier order, then the `Vec`
/// ones (Subscription Identifiers, then User Properties). `validate` first
/// checks that the packet may carry every property present, then each
/// property's values, in that same order, and reports the first problem.
macro_rules! properties {
    ($(
        $(#[$doc:meta])*
        $id:literal $name:ident $ty:ident [$($scope:ident),+ $(,)?]
        $field:ident: $slot:ident<$value:ty> $((once in [$($once:ident),+]))? $(if $check:ident)?;
    )*) => {
        /// Property identifiers (spec 2.2.2.2, table 2-4).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum PropertyId { $($name = $id),* }

        impl PropertyId {
            /// Every property, in identifier order.
            pub const ALL: &'static [PropertyId] = &[$(PropertyId::$name),*];

            pub fn from_u32(value: u32) -> Option<PropertyId> {
                match value {
                    $($id => Some(PropertyId::$name),)*
                    _ => None,
                }
            }

            /// Which packets may carry this property (spec 2.2.2.2, table 2-4).
            fn allowed_scopes(self) -> u32 {
                match self { $(PropertyId::$name => scopes(&[$($scope),+]),)* }
            }

            /// Where a property that may repeat may still appear only once.
            fn once_scopes(self) -> u32 {
                match self { $(PropertyId::$name => scopes(&[$($($once),+)?]),)* }
            }
        }

        /// Every MQTT 5 property a packet can carry. Which are allowed depends on the
        /// packet (`PropertyId::allowed_in`); the decoder enforces it, and so does the
        /// encoder, so a struct holding a property its packet may not carry is refused.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct Properties {
            $($(#[$doc])* pub $field: $slot<$value>,)*
        }

        impl Properties {
            pub fn is_empty(&self) -> bool {
                $(self.$field.values().is_empty())&&*
            }

            /// Removes every value of property `id`.
            pub fn clear(&mut self, id: PropertyId) {
                match id {
                    $(PropertyId::$name => self.$field = Default::default(),)*
                }
            }

            /// Reads one property's value, after its identifier.
            fn decode_one(
                &mut self,
                r: &mut Reader,
                id: PropertyId,
                scope: PropertyScope,
            ) -> Result<(), DecodeError> {
                match id {
                    $(PropertyId::$name => {
                        let value = <$ty as Wire>::read(r, PropertyId::$name)?;
                        $($check(&value, PropertyId::$name)?;)?
                        self.$field.store(value, PropertyId::$name, scope)
                    })*
                }
            }

            /// Size of the property list, without its length prefix.
            pub fn body_len(&self) -> usize {
                let mut len = 0;
                $(len += body_len::<$ty>(self.$field.values());)*
                len
            }

            /// Writes the properties without their length prefix.
            pub fn encode_body(&self, out: &mut Vec<u8>) {
                $(if !self.$field.repeats() {
                    put::<$ty>(PropertyId::$name, self.$field.values(), out);
                })*
                $(if self.$field.repeats() {
                    put::<$ty>(PropertyId::$name, self.$field.values(), out);
                })*
            }

            /// Checks that a decoder would accept these properties in `scope`.
            pub fn validate(&self, scope: PropertyScope) -> Result<(), EncodeError> {
                $(if !self.$field.repeats() {
                    check_allowed(PropertyId::$name, self.$field.values(), scope)?;
                })*
                $(if self.$field.repeats() {
                    check_allowed(PropertyId::$name, self.$field.values(), scope)?;
                })*
                $(if !self.$field.repeats() {
                    let id = PropertyId::$name;
                    check_values::<$ty, _>(id, self.$field.values(), scope, check_fn!($($check)?))?;
                })*
                $(if self.$field.repeats() {
                    let id = PropertyId::$name;
                    check_values::<$ty, _>(id, self.$field.values(), scope, check_fn!($($check)?))?;
                })*
                Ok(())
            }
        }
    };
}

/// A row's value check as a closure; none if the row has none.
macro_rules! check_fn {
    () => {
        |_, _| Ok(())
    };
    ($check:ident) => {
        |v, id| $check(v, id)
    };
}

properties! {
//  Id   Name                               Type            Packet / Will Properties (WILL)
//       Field                              Held as         Valid values
    /// 0: unspecified bytes, 1: UTF-8 (spec 3.3.2.3.2).
    0x01 PayloadFormatIndicator             Byte            [PUBLISH, WILL]
         payload_format_indicator:          Option<u8>      if zero_or_one;
    0x02 MessageExpiryInterval              FourByteInt     [PUBLISH, WILL]
         message_expiry_interval:           Option<u32>;
    0x03 ContentType                        Utf8String      [PUBLISH, WILL]
         content_type:                      Option<String>;
    0x08 ResponseTopic                      Utf8String      [PUBLISH, WILL]
         response_topic:                    Option<String>  if topic_name;
    0x09 CorrelationData                    BinaryData      [PUBLISH, WILL]
         correlation_data:                  Option<Bytes>;
    /// One in SUBSCRIBE (spec 3.8.2.1.2); in a PUBLISH to a client, one per
    /// matching subscription that has one [MQTT-3.3.4-3].
    0x0B SubscriptionIdentifier             VarByteInt      [PUBLISH, SUBSCRIBE]
         subscription_identifiers:          Vec<u32>        (once in [SUBSCRIBE]) if nonzero;
    0x11 SessionExpiryInterval              FourByteInt     [CONNECT, CONNACK, DISCONNECT]
         session_expiry_interval:           Option<u32>;
    0x12 AssignedClientIdentifier           Utf8String      [CONNACK]
         assigned_client_identifier:        Option<String>;
    0x13 ServerKeepAlive                    TwoByteInt      [CONNACK]
         server_keep_alive:                 Option<u16>;
    0x15 AuthenticationMethod               Utf8String      [CONNECT, CONNACK, AUTH]
         authentication_method:             Option<String>;
    0x16 AuthenticationData                 BinaryData      [CONNECT, CONNACK, AUTH]
         authentication_data:               Option<Bytes>;
    0x17 RequestProblemInformation          Flag            [CONNECT]
         request_problem_information:       Option<bool>;
    0x18 WillDelayInterval                  FourByteInt     [WILL]
         will_delay_interval:               Option<u32>;
    0x19 RequestResponseInformation         Flag            [CONNECT]
         request_response_information:      Option<bool>;
    0x1A ResponseInformation                Utf8String      [CONNACK]
         response_information:              Option<String>;
    0x1C ServerReference                    Utf8String      [CONNACK, DISCONNECT]
         server_reference:                  Option<String>;
    0x1F ReasonString                       Utf8String      [CONNACK, PUBACK, PUBREC, PUBREL,
                                                             PUBCOMP, SUBACK, UNSUBACK,
                                                             DISCONNECT, AUTH]
         reason_string:                     Option<String>;
    0x21 ReceiveMaximum                     TwoByteInt      [CONNECT, CONNACK]
         receive_maximum:                   Option<u16>     if nonzero;
    0x22 TopicAliasMaximum                  TwoByteInt      [CONNECT, CONNACK]
         topic_alias_maximum:               Option<u16>;
    0x23 TopicAlias                         TwoByteInt      [PUBLISH]
         topic_alias:                       Option<u16>     if nonzero_alias;
    0x24 MaximumQos                         Byte            [CONNACK]
         maximum_qos:                       Option<u8>      if zero_or_one;
    0x25 RetainAvailable                    Flag            [CONNACK]
         retain_available:                  Option<bool>;
    /// Name/value pairs, in the order they were sent [MQTT-3.3.2-18].
    0x26 UserProperty                       Utf8StringPair  [CONNECT, CONNACK, PUBLISH, WILL,
                                                             PUBACK, PUBREC, PUBREL, PUBCOMP,
                                                             SUBSCRIBE, SUBACK, UNSUBSCRIBE,
                                                             UNSUBACK, DISCONNECT, AUTH]
         user_properties:                   Vec<(String, String)>;
    0x27 MaximumPacketSize                  FourByteInt     [CONNECT, CONNACK]
         maximum_packet_size:               Option<u32>     if nonzero;
    0x28 WildcardSubscriptionAvailable      Flag            [CONNACK]
         wildcard_subscription_available:   Option<bool>;
    0x29 SubscriptionIdentifierAvailable    Flag            [CONNACK]
         subscription_identifier_available: Option<bool>;
    0x2A SharedSubscriptionAvailable        Flag            [CONNACK]
         shared_subscription_available:     Option<bool>;
}

impl PropertyId {
    pub fn allowed_in(self, scope: PropertyScope) -> bool {
        self.allowed_scopes() & scope.bit() != 0
    }

    fn once_in(self, scope: PropertyScope) -> bool {
        self.once_scopes() & scope.bit() != 0
    }
}

// ---------------------------------------------------------------------------
// Values the spec forbids beyond what the type allows ("It is a Protocol Error
// to include ..."). Each gets the value and its property.

/// Payload Format Indicator (spec 3.3.2.3.2) and Maximum QoS (spec 3.2.2.3.4).
fn zero_or_one(v: &u8, id: PropertyId) -> Result<(), DecodeError> {
    if *v > 1 {
        return Err(DecodeError::InvalidPropertyValue(id));
    }
    Ok(())
}

/// Subscription Identifier (spec 3.3.2.3.8, 3.8.2.1.2), Receive Maximum (spec
/// 3.1.2.11.3, 3.2.2.3.3) and Maximum Packet Size (spec 3.1.2.11.4, 3.2.2.3.6).
fn nonzero<T: Copy + Into<u32>>(v: &T, id: PropertyId) -> Result<(), DecodeError> {
    if (*v).into() == 0 {
        return Err(DecodeError::InvalidPropertyValue(id));
    }
    Ok(())
}

/// "A Topic Alias of 0 is not permitted" [MQTT-3.3.2-8].
fn nonzero_alias(v: &u16, _: PropertyId) -> Result<(), DecodeError> {
    if *v == 0 {
        return Err(DecodeError::TopicAliasZero);
    }
    Ok(())
}

/// The Response Topic is a Topic Name: no wildcards [MQTT-3.3.2-14].
fn topic_name(v: &str, _: PropertyId) -> Result<(), DecodeError> {
    super::topic::check_topic_name(v)
}

// ---------------------------------------------------------------------------
// Data types (spec 1.5), the table's "Type" column.

/// How a property's value is read and written.
trait Wire {
    type Value;
    fn read(r: &mut Reader, id: PropertyId) -> Result<Self::Value, DecodeError>;
    /// Encoded size.
    fn len(v: &Self::Value) -> usize;
    fn put(v: &Self::Value, out: &mut Vec<u8>);
    /// Refuses a value the type cannot carry.
    fn fits(_: &Self::Value, _: PropertyId) -> Result<(), EncodeError> {
        Ok(())
    }
}

struct Byte;
/// A Byte that must be 0 or 1.
struct Flag;
struct TwoByteInt;
struct FourByteInt;
struct VarByteInt;
struct Utf8String;
struct BinaryData;
struct Utf8StringPair;

impl Wire for Byte {
    type Value = u8;
    fn read(r: &mut Reader, _: PropertyId) -> Result<u8, DecodeError> {
        r.u8()
    }
    fn len(_: &u8) -> usize {
        1
    }
    fn put(v: &u8, out: &mut Vec<u8>) {
        out.push(*v);
    }
}

impl Wire for Flag {
    type Value = bool;
    fn read(r: &mut Reader, id: PropertyId) -> Result<bool, DecodeError> {
        match r.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            // "It is a Protocol Error to include a value other than 0 or 1".
            _ => Err(DecodeError::InvalidPropertyValue(id)),
        }
    }
    fn len(_: &bool) -> usize {
        1
    }
    fn put(v: &bool, out: &mut Vec<u8>) {
        out.push(u8::from(*v));
    }
}

impl Wire for TwoByteInt {
    type Value = u16;
    fn read(r: &mut Reader, _: PropertyId) -> Result<u16, DecodeError> {
        r.u16()
    }
    fn len(_: &u16) -> usize {
        2
    }
    fn put(v: &u16, out: &mut Vec<u8>) {
        wire::put_u16(out, *v);
    }
}

impl Wire for FourByteInt {
    type Value = u32;
    fn read(r: &mut Reader, _: PropertyId) -> Result<u32, DecodeError> {
        r.u32()
    }
    fn len(_: &u32) -> usize {
        4
    }
    fn put(v: &u32, out: &mut Vec<u8>) {
        wire::put_u32(out, *v);
    }
}

impl Wire for VarByteInt {
    type Value = u32;
    fn read(r: &mut Reader, _: PropertyId) -> Result<u32, DecodeError> {
        r.varint()
    }
    fn len(v: &u32) -> usize {
        wire::varint_len(*v)
    }
    fn put(v: &u32, out: &mut Vec<u8>) {
        wire::put_varint(out, *v);
    }
    fn fits(v: &u32, id: PropertyId) -> Result<(), EncodeError> {
        if *v > VARINT_MAX {
            return Err(DecodeError::InvalidPropertyValue(id).into());
        }
        Ok(())
    }
}

impl Wire for Utf8String {
    type Value = String;
    fn read(r: &mut Reader, _: PropertyId) -> Result<String, DecodeError> {
        r.string()
    }
    fn len(v: &String) -> usize {
        wire::field_len(v.as_bytes())
    }
    fn put(v: &String, out: &mut Vec<u8>) {
        wire::put_bytes(out, v.as_bytes());
    }
    fn fits(v: &String, _: PropertyId) -> Result<(), EncodeError> {
        check_str(v)
    }
}

impl Wire for BinaryData {
    type Value = Bytes;
    fn read(r: &mut Reader, _: PropertyId) -> Result<Bytes, DecodeError> {
        r.binary()
    }
    fn len(v: &Bytes) -> usize {
        wire::field_len(v)
    }
    fn put(v: &Bytes, out: &mut Vec<u8>) {
        wire::put_bytes(out, v);
    }
    fn fits(v: &Bytes, _: PropertyId) -> Result<(), EncodeError> {
        check_bin(v)
    }
}

impl Wire for Utf8StringPair {
    type Value = (String, String);
    fn read(r: &mut Reader, _: PropertyId) -> Result<(String, String), DecodeError> {
        let name = r.string()?;
        let value = r.string()?;
        Ok((name, value))
    }
    fn len((name, value): &(String, String)) -> usize {
        wire::field_len(name.as_bytes()) + wire::field_len(value.as_bytes())
    }
    fn put((name, value): &(String, String), out: &mut Vec<u8>) {
        wire::put_bytes(out, name.as_bytes());
        wire::put_bytes(out, value.as_bytes());
    }
    fn fits((name, value): &(String, String), _: PropertyId) -> Result<(), EncodeError> {
        check_str(name)?;
        check_str(value)
    }
}

// ---------------------------------------------------------------------------
// The table's "Held as" column.

/// How a field of `Properties` holds its property: `Option` for one that may
/// appear once, `Vec` for one that may repeat.
trait Slot {
    type Value;
    fn values(&self) -> &[Self::Value];
    /// Encoded after the properties that may not repeat.
    fn repeats(&self) -> bool;
    /// Stores a decoded value.
    fn store(
        &mut self,
        v: Self::Value,
        id: PropertyId,
        scope: PropertyScope,
    ) -> Result<(), DecodeError>;
}

impl<T> Slot for Option<T> {
    type Value = T;
    fn values(&self) -> &[T] {
        self.as_slice()
    }
    fn repeats(&self) -> bool {
        false
    }
    fn store(&mut self, v: T, id: PropertyId, _: PropertyScope) -> Result<(), DecodeError> {
        if self.is_some() {
            return Err(DecodeError::DuplicateProperty(id));
        }
        *self = Some(v);
        Ok(())
    }
}

impl<T> Slot for Vec<T> {
    type Value = T;
    fn values(&self) -> &[T] {
        self
    }
    fn repeats(&self) -> bool {
        true
    }
    fn store(&mut self, v: T, id: PropertyId, scope: PropertyScope) -> Result<(), DecodeError> {
        if !self.is_empty() && id.once_in(scope) {
            return Err(DecodeError::DuplicateProperty(id));
        }
        self.push(v);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// One property's part of sizing, encoding and validation.

#[inline(always)]
fn body_len<W: Wire>(values: &[W::Value]) -> usize {
    // Every identifier is below 0x80: one byte.
    values.iter().map(|v| 1 + W::len(v)).sum()
}

#[inline(always)]
fn put<W: Wire>(id: PropertyId, values: &[W::Value], out: &mut Vec<u8>) {
    for v in values {
        out.push(id as u8);
        W::put(v, out);
    }
}

#[inline(always)]
fn check_allowed<T>(id: PropertyId, values: &[T], scope: PropertyScope) -> Result<(), EncodeError> {
    if !values.is_empty() && !id.allowed_in(scope) {
        let packet = scope.packet_type();
        return Err(DecodeError::PropertyNotAllowed {
            property: id,
            packet,
        }
        .into());
    }
    Ok(())
}

#[inline(always)]
fn check_values<W, C>(
    id: PropertyId,
    values: &[W::Value],
    scope: PropertyScope,
    check: C,
) -> Result<(), EncodeError>
where
    W: Wire,
    C: Fn(&W::Value, PropertyId) -> Result<(), DecodeError>,
{
    for v in values {
        check(v, id)?;
        W::fits(v, id)?;
    }
    if values.len() > 1 && id.once_in(scope) {
        return Err(DecodeError::DuplicateProperty(id).into());
    }
    Ok(())
}

impl Properties {
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
