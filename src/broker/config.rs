//! What the host may tune, with defaults a demanding user would expect.

/// How storage relates to acknowledgements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every acknowledgement that tells a client its stored state changed
    /// waits until the host reports the storage batch holding the change
    /// persisted: PUBACK/PUBREC (and the ack of a retained change), SUBACK
    /// and UNSUBACK of a stored session, and a CONNACK that created,
    /// resumed, changed (expiry interval, will) or ended a stored session. So do the
    /// answers that let a client forget state: PUBCOMP, a QoS 2 PUBLISH or
    /// PUBREL to a stored session, a CONNACK with Session Present 0 while
    /// the deletion of the client's stored session is pending (see
    /// `durability.rs`). What follows a held SUBACK or CONNACK on that
    /// connection waits behind it. A crash loses no acknowledged message,
    /// subscription or session setting, and QoS 2 stays exactly once across
    /// it. Clean sessions store nothing and are never held. The one
    /// exception: a CONNACK resuming a session that never expires, without
    /// a will, on the same protocol level, is not held (a crash losing its
    /// record's rewrite restores the same session).
    #[default]
    Strict,
    /// Storage operations are emitted, acknowledgements are not held while
    /// storage keeps up: a crash may lose what was acknowledged since the
    /// last committed batch. Once the pending batch holds
    /// `RELAXED_BACKLOG` operations (the store is behind), PUBACK and
    /// PUBREC wait for it as under `Strict`, so that neither memory nor
    /// what a crash can lose grows without bound. With
    /// QoS 2 it may do more: a persistent subscriber can keep a packet
    /// identifier the restarted broker no longer knows, and drop as a
    /// duplicate a later message given that identifier.
    Relaxed,
    /// No storage operations at all.
    Memory,
}

/// Under `Durability::Relaxed`, the pending storage operations past which
/// acknowledgements of stored messages wait for storage (a few thousand
/// messages: tens of milliseconds of a store's work).
pub const RELAXED_BACKLOG: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub durability: Durability,
    /// Connections served at once; more get CONNACK 0x97 (quota exceeded)
    /// in MQTT 5, return code 3 (server unavailable) in 3.1.1.
    pub max_connections: usize,
    /// Largest packet accepted, fixed header included; larger ones close the
    /// connection with 0x95. Advertised in CONNACK (MQTT 5).
    pub max_packet_size: u32,
    /// QoS 1/2 PUBLISHes a client may have unacknowledged towards the broker
    /// (MQTT 5 Receive Maximum); exceeding it is 0x93. The default is the
    /// largest value: MQTT.js does not limit itself to the Receive Maximum a
    /// server announces, and under strict durability acknowledgements wait
    /// for IndexedDB, so a burst of a few thousand publishes must fit.
    pub receive_maximum: u16,
    /// QoS 1/2 messages in flight towards one client; the client's own
    /// Receive Maximum lowers it further. 1,024 (Mosquitto has 20, EMQX 32):
    /// a subscriber that many publishers feed acknowledges one message per
    /// packet, and with 64 the round trip bound fan-in at QoS 1 through
    /// MQTT.js to 0.6× of what 1,024 delivers (docs/performance.md).
    pub max_inflight: u16,
    /// Messages waiting per session (beyond the in-flight window). When full,
    /// new messages for that session are dropped and counted: the oldest are
    /// kept, as they are the ones the client is owed first.
    pub max_queued_messages: usize,
    /// Payload bytes waiting per session; same policy as the message limit.
    pub max_queued_bytes: usize,
    /// Queue QoS 0 messages for persistent sessions while offline.
    pub queue_qos0_offline: bool,
    /// Topic aliases a client may set (MQTT 5 Topic Alias Maximum).
    pub topic_alias_maximum: u16,
    /// Most topic aliases the broker sets towards one MQTT 5 client that
    /// allows them (its own Topic Alias Maximum caps it further); 0 turns
    /// outgoing aliases off. See `alias.rs`.
    pub max_outgoing_topic_aliases: u16,
    /// Longest topic name or filter, in bytes.
    pub max_topic_length: usize,
    /// Most levels (`/`-separated parts) in a topic name or filter.
    pub max_topic_levels: usize,
    /// Subscriptions one session may hold; more get SUBACK 0x97.
    pub max_subscriptions_per_client: usize,
    /// If set, the longest keep alive a client may use; a longer (or zero)
    /// one is replaced by this and sent as Server Keep Alive (MQTT 5).
    pub max_keep_alive: Option<u16>,
    /// Longest session expiry interval granted, in seconds.
    pub max_session_expiry: u32,
    /// A connection that has not sent CONNECT by then is closed.
    pub connect_timeout_ms: u64,
    /// `$SYS/broker/...` refresh interval in seconds; 0 turns `$SYS` off.
    pub sys_interval_secs: u32,
    pub retain_available: bool,
    /// Seed for the client identifiers the broker assigns and the jitter of
    /// bridge reconnects (the core has no randomness of its own).
    pub client_id_seed: u64,
    /// Remote brokers to bridge to (see `bridge/`).
    pub bridges: Vec<super::BridgeConfig>,
    /// Passwords, anonymous clients and the ACL (see `access/`).
    pub access: super::Access,
    /// Refuse client identifiers with characters outside `0-9a-zA-Z` (0x85),
    /// as [MQTT-3.1.3-5] lets a server do. Off: any UTF-8 id is accepted.
    pub strict_client_ids: bool,
    /// If set, the PUBLISH packets one connection may send per second (a
    /// token bucket holding one second's worth); beyond it an MQTT 5 client
    /// gets DISCONNECT 0x96 and a 3.1.1 client is closed.
    pub publish_rate: Option<u32>,
    /// If set, the PUBLISH bytes (topic and payload) one connection may send
    /// per second, with the same policy.
    pub publish_byte_rate: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            durability: Durability::Strict,
            max_connections: 10_000,
            max_packet_size: 1024 * 1024,
            receive_maximum: u16::MAX,
            max_inflight: 1024,
            max_queued_messages: 10_000,
            max_queued_bytes: 64 * 1024 * 1024,
            queue_qos0_offline: false,
            topic_alias_maximum: 64,
            max_outgoing_topic_aliases: 64,
            max_topic_length: 65_535,
            max_topic_levels: 128,
            max_subscriptions_per_client: 10_000,
            max_keep_alive: None,
            max_session_expiry: u32::MAX,
            connect_timeout_ms: 10_000,
            sys_interval_secs: 10,
            retain_available: true,
            client_id_seed: 0,
            bridges: Vec::new(),
            access: super::Access::default(),
            strict_client_ids: false,
            publish_rate: None,
            publish_byte_rate: None,
        }
    }
}

/// One entry of `limits`: its option name, the range it accepts, and the
/// `Config` field it sets. The hosts read this table (through the wasm
/// bindings) for option checking, their own uses of a limit and the CLI;
/// nothing else lists the limits.
pub struct Limit {
    /// The key in `limits` (camelCase, as JS spells it).
    pub name: &'static str,
    /// What it limits, with its unit, for help texts (`tabmq --help`).
    pub doc: &'static str,
    pub min: u64,
    pub max: u64,
    /// The value in effect (`None`: no limit).
    pub get: fn(&Config) -> Option<u64>,
    /// Sets the value; the caller has checked it is within `min..=max`.
    pub set: fn(&mut Config, u64),
}

const U16: u64 = u16::MAX as u64;
const U32: u64 = u32::MAX as u64;
/// The largest packet MQTT can frame: 1 + 4 header bytes + 268,435,455.
const MAX_PACKET: u64 = 268_435_460;
/// The largest integer a JS number holds exactly.
const JS_SAFE: u64 = (1 << 53) - 1;

/// A row of `LIMITS` for a plain numeric field.
macro_rules! limit {
    ($name:literal, $doc:literal, $field:ident as $ty:ty, $min:expr, $max:expr) => {
        Limit {
            name: $name,
            doc: $doc,
            min: $min,
            max: $max,
            get: |c| Some(c.$field as u64),
            set: |c, v| c.$field = v as $ty,
        }
    };
}

/// Every key of `limits`, in the order the README lists them.
pub const LIMITS: &[Limit] = &[
    limit!(
        "maxConnections",
        "MQTT connections served at once",
        max_connections as usize,
        1,
        U32
    ),
    limit!(
        "maxPacketSize",
        "largest packet accepted, in bytes",
        max_packet_size as u32,
        64,
        MAX_PACKET
    ),
    limit!(
        "receiveMaximum",
        "unacknowledged QoS 1/2 PUBLISHes a client may send",
        receive_maximum as u16,
        1,
        U16
    ),
    limit!(
        "maxInflight",
        "QoS 1/2 messages in flight to one client",
        max_inflight as u16,
        1,
        U16
    ),
    limit!(
        "maxQueuedMessages",
        "messages waiting per session",
        max_queued_messages as usize,
        0,
        U32
    ),
    limit!(
        "maxQueuedBytes",
        "payload bytes waiting per session",
        max_queued_bytes as usize,
        0,
        JS_SAFE
    ),
    limit!(
        "topicAliasMaximum",
        "topic aliases a client may set",
        topic_alias_maximum as u16,
        0,
        U16
    ),
    limit!(
        "maxOutgoingTopicAliases",
        "topic aliases the broker sets towards one client (0: none)",
        max_outgoing_topic_aliases as u16,
        0,
        U16
    ),
    limit!(
        "maxTopicLength",
        "longest topic or filter, in bytes",
        max_topic_length as usize,
        1,
        U16
    ),
    limit!(
        "maxTopicLevels",
        "most levels in a topic or filter",
        max_topic_levels as usize,
        1,
        U16
    ),
    limit!(
        "maxSubscriptionsPerClient",
        "subscriptions one session may hold",
        max_subscriptions_per_client as usize,
        1,
        U32
    ),
    Limit {
        name: "maxKeepAlive",
        doc: "longest keep alive a client may use, in seconds",
        min: 1,
        max: U16,
        get: |c| c.max_keep_alive.map(u64::from),
        set: |c, v| c.max_keep_alive = Some(v as u16),
    },
    limit!(
        "maxSessionExpiry",
        "longest session expiry granted, in seconds",
        max_session_expiry as u32,
        0,
        U32
    ),
    limit!(
        "connectTimeout",
        "ms a connection has to send CONNECT",
        connect_timeout_ms as u64,
        100,
        3_600_000
    ),
    Limit {
        name: "publishRate",
        doc: "PUBLISH packets per second from one connection",
        min: 1,
        max: U32,
        get: |c| c.publish_rate.map(u64::from),
        set: |c, v| c.publish_rate = Some(v as u32),
    },
    Limit {
        name: "publishByteRate",
        doc: "PUBLISH bytes (topic and payload) per second from one connection",
        min: 1,
        max: JS_SAFE,
        get: |c| c.publish_byte_rate,
        set: |c, v| c.publish_byte_rate = Some(v),
    },
];

/// The limit named `name` in `limits`.
pub fn limit(name: &str) -> Option<&'static Limit> {
    LIMITS.iter().find(|l| l.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_round_trips_through_its_field() {
        for l in LIMITS {
            for v in [l.min, l.max] {
                let mut c = Config::default();
                (l.set)(&mut c, v);
                assert_eq!((l.get)(&c), Some(v), "{}", l.name);
            }
        }
    }

    #[test]
    fn defaults_are_within_range() {
        let c = Config::default();
        for l in LIMITS {
            if let Some(v) = (l.get)(&c) {
                assert!((l.min..=l.max).contains(&v), "{} default {v}", l.name);
            }
        }
    }
}
