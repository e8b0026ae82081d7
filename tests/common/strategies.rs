//! Proptest strategies for MQTT packets, shared by the codec property tests
//! (`tests/codec_props.rs`), the differential test against mqtt-packet
//! (`tests/codec_differential.rs`) and any other test that wants packets.
//!
//! Two families:
//! - `packet(version)`: arbitrary *valid* packets, the ones a conforming peer
//!   may send in that protocol version. Every field holds a value the spec
//!   allows there: MQTT 5 properties only where table 2-4 (spec 2.2.2.2) lets
//!   them be, reason codes only from the packet's table, topic names without
//!   wildcards, well-formed topic filters (shared ones too), and MQTT 3.x
//!   packets without properties and only the return codes 3.1.1 has. These
//!   round-trip exactly: `decode(encode(p)) == p`.
//! - `any_packet()`: structs that are type-valid but may be
//!   semantically invalid (wildcards or U+0000 in strings, any reason code,
//!   any property in any packet, zero where zero is forbidden). The encoder
//!   must refuse these or produce bytes the decoder accepts.

// Test crates that pull this in through `tests/common/mod.rs` may not use all of it.
#![allow(dead_code)]

use bytes::Bytes;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::{BoxedStrategy, Union};
use std::num::NonZeroU16;
use tabmq::codec::wire::VARINT_MAX;
use tabmq::codec::{
    Auth, ConnAck, Connect, Disconnect, Packet, PacketId, PacketType, Properties, PropertyId,
    PropertyScope, ProtocolVersion, PubResponse, Publish, QoS, ReasonCode, RetainHandling, SubAck,
    Subscribe, Subscription, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};

/// Every protocol version, for properties that hold in all of them.
pub const ALL_VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

// ---------------------------------------------------------------------------
// Primitives

/// A UTF-8 string as MQTT allows it (spec 1.5.4): any Unicode scalar values
/// but U+0000, sometimes empty, often ASCII, sometimes multi-byte only.
pub fn mqtt_string() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        3 => "[a-zA-Z0-9 _./$-]{1,12}",
        3 => "[^\\x00]{1,10}",
        // Two-, three- and four-byte UTF-8 and the edges of each length.
        1 => "[é\u{7ff}\u{800}€\u{fffd}\u{ffff}\u{10000}😀\u{10ffff}a]{1,6}",
    ]
}

/// A string that may break MQTT's rules: wildcards, U+0000, `/`, `$`.
pub fn wild_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => mqtt_string(),
        2 => "[+#/a$\\x00]{0,6}",
        1 => any::<String>(),
    ]
}

pub fn binary() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        1 => Just(Bytes::new()),
        4 => vec(any::<u8>(), 0..48).prop_map(Bytes::from),
    ]
}

pub fn packet_id() -> impl Strategy<Value = PacketId> {
    prop_oneof![
        Just(PacketId::MIN),
        Just(PacketId::MAX),
        (1u16..=u16::MAX).prop_map(|v| NonZeroU16::new(v).expect("non-zero")),
    ]
}

pub fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

pub fn retain_handling() -> impl Strategy<Value = RetainHandling> {
    select(vec![
        RetainHandling::OnSubscribe,
        RetainHandling::OnNewSubscribe,
        RetainHandling::Never,
    ])
}

/// Values at and around the edges of a type, mixed with uniform ones.
fn edgy_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        select(vec![
            0u32,
            1,
            127,
            128,
            65_535,
            65_536,
            u32::MAX - 1,
            u32::MAX
        ]),
        any::<u32>(),
    ]
}

fn edgy_u16() -> impl Strategy<Value = u16> {
    prop_oneof![select(vec![0u16, 1, 255, 256, u16::MAX]), any::<u16>()]
}

// ---------------------------------------------------------------------------
// Topics (spec 4.7, 4.8.2)

/// One level of a topic name or filter: no `/`, no wildcard, no U+0000.
/// May be empty ("a//b" has an empty middle level).
pub fn topic_level() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        4 => "[a-z0-9]{1,5}",
        2 => "[^\\x00+#/]{1,5}",
    ]
}

/// A non-empty topic name: no wildcards [MQTT-3.3.2-2], no U+0000.
pub fn topic_name() -> impl Strategy<Value = String> {
    (any::<bool>(), vec(topic_level(), 1..4)).prop_map(|(dollar, levels)| {
        let mut topic = levels.join("/");
        if dollar {
            topic.insert(0, '$');
        }
        if topic.is_empty() {
            topic.push('t');
        }
        topic
    })
}

/// A topic filter without the shared-subscription prefix: `+` as whole levels
/// anywhere, `#` only as the whole last level (spec 4.7.1).
pub fn plain_topic_filter() -> impl Strategy<Value = String> {
    let level = prop_oneof![3 => topic_level(), 1 => Just("+".to_owned())];
    (vec(level, 0..4), any::<bool>())
        .prop_map(|(mut levels, multi)| {
            if multi || levels.is_empty() {
                levels.push("#".to_owned());
            }
            let filter = levels.join("/");
            if filter.is_empty() {
                "+".to_owned()
            } else {
                filter
            }
        })
        // A random level that happens to spell "$share" would make this a
        // shared filter, with rules of its own.
        .prop_filter("not a shared filter", |f| !f.starts_with("$share/"))
}

/// `$share/{ShareName}/{filter}`: a share name of one or more characters
/// without `/`, `+` or `#` [MQTT-4.8.2-1], [MQTT-4.8.2-2].
pub fn shared_topic_filter() -> impl Strategy<Value = String> {
    ("[a-z0-9]{1,4}|[^\\x00+#/]{1,4}", plain_topic_filter())
        .prop_map(|(group, filter)| format!("$share/{group}/{filter}"))
}

pub fn topic_filter() -> impl Strategy<Value = String> {
    prop_oneof![4 => plain_topic_filter(), 1 => shared_topic_filter()]
}

// ---------------------------------------------------------------------------
// Properties (spec 2.2.2)

/// User properties: sometimes names from a small set, so that names repeat
/// and include ones a JavaScript object would reorder ("1", "10").
pub fn user_properties(valid: bool) -> BoxedStrategy<Vec<(String, String)>> {
    let common = select(vec!["a", "b", "1", "10", "", "ü"]).prop_map(str::to_owned);
    let name = prop_oneof![2 => mqtt_string(), 1 => common];
    // Empty values often: a repeated name whose first value is "" is a case
    // of its own for mqtt-packet (see tests/codec_differential.rs).
    let value = prop_oneof![1 => Just(String::new()), 3 => mqtt_string()];
    if valid {
        prop_oneof![
            2 => Just(Vec::new()),
            3 => vec((name, value), 1..5),
        ]
        .boxed()
    } else {
        vec((wild_string(), wild_string()), 0..4).boxed()
    }
}

/// Strategies for one property value: valid ones, or any the type can hold.
fn pick<T: std::fmt::Debug + Clone + 'static>(
    valid: bool,
    ok: impl Strategy<Value = T> + 'static,
    any: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    const PRESENT: f64 = 0.3;
    if valid {
        option::weighted(PRESENT, ok).boxed()
    } else {
        option::weighted(PRESENT, any).boxed()
    }
}

/// Properties with every field possibly set. With `valid`, each value is one
/// the spec allows for that property (e.g. Receive Maximum > 0, Response
/// Topic without wildcards); without, any value of the field's type.
/// Restrict to one packet with `restrict_properties`.
pub fn all_properties(valid: bool) -> BoxedStrategy<Properties> {
    let s = || pick(valid, mqtt_string(), wild_string());
    let b = || pick(valid, binary(), binary());
    let flag = || pick(valid, any::<bool>(), any::<bool>());
    let sub_ids = if valid {
        vec(
            prop_oneof![select(vec![1, 127, 128, VARINT_MAX]), 1..=VARINT_MAX],
            0..3,
        )
        .boxed()
    } else {
        vec(edgy_u32(), 0..3).boxed()
    };
    let a = (
        pick(valid, 0u8..=1, any::<u8>()),   // payload format indicator
        pick(valid, edgy_u32(), edgy_u32()), // message expiry interval
        s(),                                 // content type
        pick(valid, topic_name(), wild_string()), // response topic
        b(),                                 // correlation data
        sub_ids,
        pick(valid, edgy_u32(), edgy_u32()), // session expiry interval
        s(),                                 // assigned client identifier
        pick(valid, edgy_u16(), edgy_u16()), // server keep alive
        s(),                                 // authentication method
        b(),                                 // authentication data
        flag(),                              // request problem information
    );
    let b2 = (
        pick(valid, edgy_u32(), edgy_u32()),      // will delay interval
        flag(),                                   // request response information
        s(),                                      // response information
        s(),                                      // server reference
        s(),                                      // reason string
        pick(valid, 1u16..=u16::MAX, edgy_u16()), // receive maximum
        pick(valid, edgy_u16(), edgy_u16()),      // topic alias maximum
        pick(valid, 1u16..=u16::MAX, edgy_u16()), // topic alias
        pick(valid, 0u8..=1, any::<u8>()),        // maximum qos
        flag(),                                   // retain available
        user_properties(valid),
        pick(valid, 1u32..=u32::MAX, edgy_u32()), // maximum packet size
    );
    let c = (flag(), flag(), flag());
    (a, b2, c)
        .prop_map(|(a, b, c)| Properties {
            payload_format_indicator: a.0,
            message_expiry_interval: a.1,
            content_type: a.2,
            response_topic: a.3,
            correlation_data: a.4,
            subscription_identifiers: a.5,
            session_expiry_interval: a.6,
            assigned_client_identifier: a.7,
            server_keep_alive: a.8,
            authentication_method: a.9,
            authentication_data: a.10,
            request_problem_information: a.11,
            will_delay_interval: b.0,
            request_response_information: b.1,
            response_information: b.2,
            server_reference: b.3,
            reason_string: b.4,
            receive_maximum: b.5,
            topic_alias_maximum: b.6,
            topic_alias: b.7,
            maximum_qos: b.8,
            retain_available: b.9,
            user_properties: b.10,
            maximum_packet_size: b.11,
            wildcard_subscription_available: c.0,
            subscription_identifier_available: c.1,
            shared_subscription_available: c.2,
        })
        .boxed()
}

/// Keeps only the properties `scope` allows (`PropertyId::allowed_in`), and
/// at most one Subscription Identifier in SUBSCRIBE (spec 3.8.2.1.2).
pub fn restrict_properties(mut p: Properties, scope: PropertyScope) -> Properties {
    for &id in PropertyId::ALL {
        if !id.allowed_in(scope) {
            p.clear(id);
        }
    }
    if scope == PropertyScope::Packet(PacketType::Subscribe) {
        p.subscription_identifiers.truncate(1);
    }
    p
}

/// Valid properties for `scope` in `version`: none before MQTT 5; in MQTT 5
/// sometimes none, otherwise a random selection of the allowed ones.
pub fn properties(version: ProtocolVersion, scope: PropertyScope) -> BoxedStrategy<Properties> {
    if !version.is_v5() {
        return Just(Properties::default()).boxed();
    }
    prop_oneof![
        1 => Just(Properties::default()),
        3 => all_properties(true).prop_map(move |p| restrict_properties(p, scope)),
    ]
    .boxed()
}

fn packet_properties(version: ProtocolVersion, kind: PacketType) -> BoxedStrategy<Properties> {
    properties(version, PropertyScope::Packet(kind))
}

// ---------------------------------------------------------------------------
// Reason codes (spec 2.4)

/// Reason codes MQTT 5 allows in `kind` (`ReasonCode::allowed_in`).
pub fn reason_in(kind: PacketType) -> impl Strategy<Value = ReasonCode> {
    let allowed: Vec<ReasonCode> = ReasonCode::ALL
        .iter()
        .copied()
        .filter(|rc| rc.allowed_in(kind))
        .collect();
    select(allowed)
}

pub fn any_reason() -> impl Strategy<Value = ReasonCode> {
    select(ReasonCode::ALL.to_vec())
}

/// A reason code valid for `kind` in `version`: in 3.x, where these packets
/// carry no reason, always Success.
fn reason_for(version: ProtocolVersion, kind: PacketType) -> BoxedStrategy<ReasonCode> {
    if version.is_v5() {
        reason_in(kind).boxed()
    } else {
        Just(ReasonCode::Success).boxed()
    }
}

// ---------------------------------------------------------------------------
// Valid packets

pub fn will(protocol: ProtocolVersion) -> impl Strategy<Value = Will> {
    (
        topic_name(),
        binary(),
        qos(),
        any::<bool>(),
        properties(protocol, PropertyScope::Will),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        })
}

/// A CONNECT of protocol level `protocol`.
pub fn connect(protocol: ProtocolVersion) -> impl Strategy<Value = Connect> {
    (
        any::<bool>(),
        edgy_u16(),
        packet_properties(protocol, PacketType::Connect),
        mqtt_string(),
        option::of(will(protocol)),
        option::of(mqtt_string()),
        option::of(binary()),
    )
        .prop_map(
            move |(clean_start, keep_alive, properties, client_id, will, username, password)| {
                // 3.x: no password without a user name [MQTT-3.1.2-22].
                let password = if protocol.is_v5() || username.is_some() {
                    password
                } else {
                    None
                };
                Connect {
                    protocol,
                    bridge: false,
                    clean_start,
                    keep_alive,
                    properties,
                    client_id,
                    will,
                    username,
                    password,
                }
            },
        )
}

pub fn connack(version: ProtocolVersion) -> impl Strategy<Value = ConnAck> {
    let reason = if version.is_v5() {
        reason_in(PacketType::ConnAck).boxed()
    } else {
        (0u8..=5)
            .prop_map(|c| ReasonCode::from_v3_connack(c).expect("3.1.1 return code"))
            .boxed()
    };
    (
        any::<bool>(),
        reason,
        packet_properties(version, PacketType::ConnAck),
    )
        .prop_map(|(session_present, reason, properties)| ConnAck {
            // Session Present only with success [MQTT-3.2.2-4], [MQTT-3.2.2-6].
            session_present: session_present && reason == ReasonCode::Success,
            reason,
            properties,
        })
}

pub fn publish(version: ProtocolVersion) -> impl Strategy<Value = Publish> {
    let topic = if version.is_v5() {
        prop_oneof![4 => topic_name(), 1 => Just(String::new())].boxed()
    } else {
        topic_name().boxed()
    };
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic,
        packet_id(),
        packet_properties(version, PacketType::Publish),
        binary(),
    )
        .prop_map(|(qos, dup, retain, topic, id, mut properties, payload)| {
            // An empty topic name needs a topic alias [MQTT-3.3.2-1].
            if topic.is_empty() && properties.topic_alias.is_none() {
                properties.topic_alias = Some(1);
            }
            let at_most_once = qos == QoS::AtMostOnce;
            Publish {
                dup: dup && !at_most_once, // [MQTT-3.3.1-2]
                qos,
                retain,
                topic,
                packet_id: (!at_most_once).then_some(id), // [MQTT-2.2.1-2]
                properties,
                payload,
            }
        })
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP body.
pub fn pub_response(
    version: ProtocolVersion,
    kind: PacketType,
) -> impl Strategy<Value = PubResponse> {
    (
        packet_id(),
        reason_for(version, kind),
        packet_properties(version, kind),
    )
        .prop_map(|(packet_id, reason, properties)| PubResponse {
            packet_id,
            reason,
            properties,
        })
}

pub fn subscription(version: ProtocolVersion) -> impl Strategy<Value = Subscription> {
    (
        topic_filter(),
        qos(),
        any::<bool>(),
        any::<bool>(),
        retain_handling(),
    )
        .prop_map(move |(filter, qos, no_local, rap, rh)| {
            let options = if version.is_v5() {
                SubscriptionOptions {
                    qos,
                    // No Local on a shared subscription is a protocol error [MQTT-3.8.3-4].
                    no_local: no_local && !filter.starts_with("$share/"),
                    retain_as_published: rap,
                    retain_handling: rh,
                }
            } else {
                SubscriptionOptions::qos(qos)
            };
            Subscription { filter, options }
        })
}

pub fn subscribe(version: ProtocolVersion) -> impl Strategy<Value = Subscribe> {
    (
        packet_id(),
        packet_properties(version, PacketType::Subscribe),
        vec(subscription(version), 1..5), // [MQTT-3.8.3-2]
    )
        .prop_map(|(packet_id, properties, subscriptions)| Subscribe {
            packet_id,
            properties,
            subscriptions,
        })
}

/// SUBACK with one or more reasons: a SUBSCRIBE has at least one filter
/// [MQTT-3.8.3-2] and the SUBACK one reason per filter [MQTT-3.8.4-6].
pub fn suback(version: ProtocolVersion) -> impl Strategy<Value = SubAck> {
    let reason = if version.is_v5() {
        reason_in(PacketType::SubAck).boxed()
    } else {
        select(vec![0u8, 1, 2, 0x80])
            .prop_map(|c| ReasonCode::from_v3_suback(c).expect("3.1.1 return code"))
            .boxed()
    };
    (
        packet_id(),
        packet_properties(version, PacketType::SubAck),
        vec(reason, 1..5),
    )
        .prop_map(|(packet_id, properties, reasons)| SubAck {
            packet_id,
            properties,
            reasons,
        })
}

pub fn unsubscribe(version: ProtocolVersion) -> impl Strategy<Value = Unsubscribe> {
    (
        packet_id(),
        packet_properties(version, PacketType::Unsubscribe),
        vec(topic_filter(), 1..5), // [MQTT-3.10.3-2]
    )
        .prop_map(|(packet_id, properties, filters)| Unsubscribe {
            packet_id,
            properties,
            filters,
        })
}

/// UNSUBACK: in MQTT 5 one or more reasons (one per filter, spec 3.11.3);
/// in 3.1.1 none, since it has no payload.
pub fn unsuback(version: ProtocolVersion) -> impl Strategy<Value = UnsubAck> {
    let reasons = if version.is_v5() {
        vec(reason_in(PacketType::UnsubAck), 1..5).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (
        packet_id(),
        packet_properties(version, PacketType::UnsubAck),
        reasons,
    )
        .prop_map(|(packet_id, properties, reasons)| UnsubAck {
            packet_id,
            properties,
            reasons,
        })
}

pub fn disconnect(version: ProtocolVersion) -> impl Strategy<Value = Disconnect> {
    (
        reason_for(version, PacketType::Disconnect),
        packet_properties(version, PacketType::Disconnect),
    )
        .prop_map(|(reason, properties)| Disconnect { reason, properties })
}

/// AUTH (MQTT 5 only).
pub fn auth() -> impl Strategy<Value = Auth> {
    (
        reason_in(PacketType::Auth),
        packet_properties(ProtocolVersion::V5, PacketType::Auth),
    )
        .prop_map(|(reason, properties)| Auth { reason, properties })
}

/// Any valid packet of `version`, every type equally likely. CONNECT carries
/// `version` as its protocol level; AUTH appears only in MQTT 5.
pub fn packet(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let v = version;
    let mut arms: Vec<BoxedStrategy<Packet>> = vec![
        connect(v)
            .prop_map(|c| Packet::Connect(Box::new(c)))
            .boxed(),
        connack(v).prop_map(Packet::ConnAck).boxed(),
        publish(v).prop_map(Packet::Publish).boxed(),
        pub_response(v, PacketType::PubAck)
            .prop_map(Packet::PubAck)
            .boxed(),
        pub_response(v, PacketType::PubRec)
            .prop_map(Packet::PubRec)
            .boxed(),
        pub_response(v, PacketType::PubRel)
            .prop_map(Packet::PubRel)
            .boxed(),
        pub_response(v, PacketType::PubComp)
            .prop_map(Packet::PubComp)
            .boxed(),
        subscribe(v).prop_map(Packet::Subscribe).boxed(),
        suback(v).prop_map(Packet::SubAck).boxed(),
        unsubscribe(v).prop_map(Packet::Unsubscribe).boxed(),
        unsuback(v).prop_map(Packet::UnsubAck).boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect(v).prop_map(Packet::Disconnect).boxed(),
    ];
    if v.is_v5() {
        arms.push(auth().prop_map(Packet::Auth).boxed());
    }
    Union::new(arms).boxed()
}

// ---------------------------------------------------------------------------
// Type-valid, possibly semantically invalid packets

/// Properties for a packet that may break the rules: none, the ones `scope`
/// allows with valid or invalid values, or any properties at all (most of
/// which `scope` does not allow).
pub fn any_properties(scope: PropertyScope) -> BoxedStrategy<Properties> {
    prop_oneof![
        1 => Just(Properties::default()),
        2 => all_properties(true).prop_map(move |p| restrict_properties(p, scope)),
        2 => all_properties(false).prop_map(move |p| restrict_properties(p, scope)),
        1 => all_properties(false),
    ]
    .boxed()
}

fn any_packet_properties(kind: PacketType) -> BoxedStrategy<Properties> {
    any_properties(PropertyScope::Packet(kind))
}

/// Any reason code, half of the time one that `kind` allows.
fn loose_reason(kind: PacketType) -> BoxedStrategy<ReasonCode> {
    prop_oneof![reason_in(kind), any_reason()].boxed()
}

fn any_topic_filter() -> impl Strategy<Value = String> {
    prop_oneof![2 => topic_filter(), 1 => wild_string()]
}

fn any_options() -> impl Strategy<Value = SubscriptionOptions> {
    (qos(), any::<bool>(), any::<bool>(), retain_handling()).prop_map(
        |(qos, no_local, retain_as_published, retain_handling)| SubscriptionOptions {
            qos,
            no_local,
            retain_as_published,
            retain_handling,
        },
    )
}

fn any_will() -> impl Strategy<Value = Will> {
    (
        prop_oneof![topic_name(), wild_string()],
        binary(),
        qos(),
        any::<bool>(),
        any_properties(PropertyScope::Will),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        })
}

fn any_connect() -> impl Strategy<Value = Connect> {
    (
        select(ALL_VERSIONS.to_vec()),
        any::<bool>(),
        any::<u16>(),
        any_packet_properties(PacketType::Connect),
        wild_string(),
        option::of(any_will()),
        option::of(wild_string()),
        option::of(binary()),
    )
        .prop_map(
            |(
                protocol,
                clean_start,
                keep_alive,
                properties,
                client_id,
                will,
                username,
                password,
            )| {
                Connect {
                    protocol,
                    bridge: false,
                    clean_start,
                    keep_alive,
                    properties,
                    client_id,
                    will,
                    username,
                    password,
                }
            },
        )
}

fn any_pub_response(kind: PacketType) -> impl Strategy<Value = PubResponse> {
    (packet_id(), loose_reason(kind), any_packet_properties(kind)).prop_map(
        |(packet_id, reason, properties)| PubResponse {
            packet_id,
            reason,
            properties,
        },
    )
}

/// Any packet the types can express, whatever the spec says of it, in any
/// protocol version: CONNECT picks its own protocol level, and AUTH is
/// included although it exists only in MQTT 5.
pub fn any_packet() -> BoxedStrategy<Packet> {
    let props = any_packet_properties;
    let arms: Vec<BoxedStrategy<Packet>> = vec![
        any_connect()
            .prop_map(|c| Packet::Connect(Box::new(c)))
            .boxed(),
        (
            any::<bool>(),
            loose_reason(PacketType::ConnAck),
            props(PacketType::ConnAck),
        )
            .prop_map(|(session_present, reason, properties)| {
                Packet::ConnAck(ConnAck {
                    session_present,
                    reason,
                    properties,
                })
            })
            .boxed(),
        (
            qos(),
            any::<bool>(),
            any::<bool>(),
            prop_oneof![topic_name(), wild_string()],
            option::of(packet_id()),
            props(PacketType::Publish),
            binary(),
        )
            .prop_map(
                |(qos, dup, retain, topic, packet_id, properties, payload)| {
                    Packet::Publish(Publish {
                        dup,
                        qos,
                        retain,
                        topic,
                        packet_id,
                        properties,
                        payload,
                    })
                },
            )
            .boxed(),
        any_pub_response(PacketType::PubAck)
            .prop_map(Packet::PubAck)
            .boxed(),
        any_pub_response(PacketType::PubRec)
            .prop_map(Packet::PubRec)
            .boxed(),
        any_pub_response(PacketType::PubRel)
            .prop_map(Packet::PubRel)
            .boxed(),
        any_pub_response(PacketType::PubComp)
            .prop_map(Packet::PubComp)
            .boxed(),
        (
            packet_id(),
            props(PacketType::Subscribe),
            vec((any_topic_filter(), any_options()), 0..4),
        )
            .prop_map(|(packet_id, properties, subs)| {
                let subscriptions = subs
                    .into_iter()
                    .map(|(filter, options)| Subscription { filter, options })
                    .collect();
                Packet::Subscribe(Subscribe {
                    packet_id,
                    properties,
                    subscriptions,
                })
            })
            .boxed(),
        (
            packet_id(),
            props(PacketType::SubAck),
            vec(loose_reason(PacketType::SubAck), 0..4),
        )
            .prop_map(|(packet_id, properties, reasons)| {
                Packet::SubAck(SubAck {
                    packet_id,
                    properties,
                    reasons,
                })
            })
            .boxed(),
        (
            packet_id(),
            props(PacketType::Unsubscribe),
            vec(any_topic_filter(), 0..4),
        )
            .prop_map(|(packet_id, properties, filters)| {
                Packet::Unsubscribe(Unsubscribe {
                    packet_id,
                    properties,
                    filters,
                })
            })
            .boxed(),
        (
            packet_id(),
            props(PacketType::UnsubAck),
            vec(loose_reason(PacketType::UnsubAck), 0..4),
        )
            .prop_map(|(packet_id, properties, reasons)| {
                Packet::UnsubAck(UnsubAck {
                    packet_id,
                    properties,
                    reasons,
                })
            })
            .boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        (
            loose_reason(PacketType::Disconnect),
            props(PacketType::Disconnect),
        )
            .prop_map(|(reason, properties)| Packet::Disconnect(Disconnect { reason, properties }))
            .boxed(),
        (loose_reason(PacketType::Auth), props(PacketType::Auth))
            .prop_map(|(reason, properties)| Packet::Auth(Auth { reason, properties }))
            .boxed(),
    ];
    Union::new(arms).boxed()
}
