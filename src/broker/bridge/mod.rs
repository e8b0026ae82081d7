//! Bridges: the broker as a client of a remote broker.
//!
//! A bridge is a session plus a client. Its out-direction queue is an
//! ordinary persistent session of this broker (client id `$bridge/<name>`),
//! subscribed to the bridge's `out` filters with No Local and Retain As
//! Published, so it is stored, restored and limited like any other session.
//! That session is attached to an internal connection (`local`) whose
//! output the bridge reads instead of a socket. The other side is a
//! connection to the remote broker (`link`) that the host dials when the
//! core asks (`poll_dial`), in the same handle_*/poll_* grammar.
//!
//! The bridge keeps almost no state of its own: it mirrors each exchange
//! between the two sides with the same packet identifiers. A PUBLISH the
//! broker sends the bridge's session leaves for the remote with the same
//! identifier, and its PUBACK/PUBREC/PUBCOMP come back to the broker when the
//! remote sends them, so a message leaves the session only once the remote
//! has it. In the other direction, a remote PUBLISH enters the broker as if
//! the session's client had published it, and the broker's acknowledgement
//! (held for storage under strict durability) is what the remote receives.
//! The local side is connected only while the remote one is: while the
//! remote is away, messages queue in the session, and on return the broker
//! resends in-flight ones with DUP and the queue in order.

mod local;
mod remote;

use crate::codec::topic::{check_topic_filter, filter_matches};
use crate::codec::{ProtocolVersion, QoS, ReasonCode};
use crate::time::Millis;
use bytes::Bytes;

use super::ConnId;

/// Client ids of bridge sessions start with this; clients may not use it.
pub const SESSION_PREFIX: &str = "$bridge/";

/// Connection ids the core names itself (the host's count up from 1):
/// dialed links from `DIAL_BASE`, bridges' internal connections from
/// `LOCAL_BASE`. Both fit the host's 32-bit connection ids.
pub(super) const DIAL_BASE: u64 = 0xF000_0000;
pub(super) const LOCAL_BASE: u64 = 0xFFFF_0000;

/// Most messages in flight from a bridge's session to its remote (less if
/// the remote's Receive Maximum says so).
pub(super) const WINDOW: u16 = 1024;

/// One `out` or `in` entry: which topics cross, at which QoS, and how their
/// names change on the way (Mosquitto's `topic` line): a local topic is
/// `local_prefix + t` where the remote one is `remote_prefix + t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMap {
    pub filter: String,
    pub qos: QoS,
    pub local_prefix: String,
    pub remote_prefix: String,
}

impl TopicMap {
    pub fn local_filter(&self) -> String {
        format!("{}{}", self.local_prefix, self.filter)
    }

    pub fn remote_filter(&self) -> String {
        format!("{}{}", self.remote_prefix, self.filter)
    }

    /// The local name of a remote topic this entry carries.
    fn to_local(&self, topic: &str) -> Option<String> {
        let rest = topic.strip_prefix(self.remote_prefix.as_str())?;
        filter_matches(&self.filter, rest).then(|| format!("{}{rest}", self.local_prefix))
    }
}

/// One bridge, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Names the bridge in stats, events, `$SYS` and its session id.
    pub name: String,
    /// Where the host dials; the core only hands it back.
    pub url: String,
    /// The client id at the remote (stable, so the remote keeps its session).
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<Bytes>,
    /// 5 or 3.1.1.
    pub protocol: ProtocolVersion,
    /// Seconds; PINGREQ this often, the link is dead after twice as long.
    pub keep_alive: u16,
    /// Seconds the remote keeps the bridge's session (MQTT 5).
    pub session_expiry: u32,
    pub out: Vec<TopicMap>,
    pub inbound: Vec<TopicMap>,
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    /// 3.1.1: announce a bridge with protocol level 0x84 (Mosquitto's
    /// `try_private`), so the remote does not echo our messages back.
    pub try_private: bool,
}

impl BridgeConfig {
    /// A bridge with the defaults: MQTT 5, keep alive 60 s, remote session
    /// kept a day, reconnect between 1 s and 60 s.
    pub fn new(name: &str, url: &str) -> BridgeConfig {
        BridgeConfig {
            name: name.into(),
            url: url.into(),
            client_id: format!("tabmq.{name}"),
            username: None,
            password: None,
            protocol: ProtocolVersion::V5,
            keep_alive: 60,
            session_expiry: 86_400,
            out: Vec::new(),
            inbound: Vec::new(),
            reconnect_min_ms: 1_000,
            reconnect_max_ms: 60_000,
            try_private: true,
        }
    }

    pub fn session_id(&self) -> String {
        format!("{SESSION_PREFIX}{}", self.name)
    }

    /// Checks the bridge; an error names the field (relative to the
    /// bridge: `url`, `out[1].filter`, ...) and says what is wrong.
    pub fn check(&self) -> Result<(), (String, String)> {
        let bad = |field: &str, why: &str| Err((field.to_owned(), why.to_owned()));
        if self.name.is_empty() || self.name.contains(['/', '+', '#']) {
            return bad("name", "must be a non-empty name without '/', '+' or '#'");
        }
        check_url(&self.url).map_err(|why| ("url".to_owned(), why))?;
        if self.client_id.is_empty() || self.client_id.len() > 65_535 {
            return bad("clientId", "must be a non-empty string");
        }
        if self.reconnect_min_ms == 0 || self.reconnect_min_ms > self.reconnect_max_ms {
            return bad("reconnect", "needs 0 < minDelay <= maxDelay (milliseconds)");
        }
        if self.out.is_empty() && self.inbound.is_empty() {
            return bad("out", "a bridge needs at least one 'out' or 'in' entry");
        }
        for (dir, maps) in [("out", &self.out), ("in", &self.inbound)] {
            for (i, m) in maps.iter().enumerate() {
                let at = |f: &str| format!("{dir}[{i}].{f}");
                if check_topic_filter(&m.filter).is_err() || m.filter.starts_with("$share/") {
                    return Err((
                        at("filter"),
                        format!("{:?} is not a topic filter", m.filter),
                    ));
                }
                for (f, prefix) in [
                    ("localPrefix", &m.local_prefix),
                    ("remotePrefix", &m.remote_prefix),
                ] {
                    if prefix.contains(['+', '#']) {
                        return Err((at(f), "may not contain '+' or '#'".into()));
                    }
                }
            }
        }
        Ok(())
    }

    /// Where a message the session received goes: its `out` entry, the
    /// remote prefix and the rest of the topic after the local prefix
    /// (the remote topic is `prefix + rest`; nothing is allocated). With
    /// one entry the session's one subscription already matched the filter.
    pub(super) fn out_route<'t>(&self, local: &'t str) -> Option<(&TopicMap, &str, &'t str)> {
        let carries = |m: &TopicMap| {
            let rest = local.strip_prefix(m.local_prefix.as_str())?;
            let matched = self.out.len() == 1 || filter_matches(&m.filter, rest);
            matched.then_some(rest)
        };
        (self.out.iter()).find_map(|m| Some((m, m.remote_prefix.as_str(), carries(m)?)))
    }

    /// The local topic for a message the remote sent.
    pub(super) fn in_topic(&self, remote: &str) -> Option<String> {
        self.inbound.iter().find_map(|m| m.to_local(remote))
    }

    /// Whether a local topic crosses this bridge outwards.
    pub fn carries_out(&self, local: &str) -> bool {
        (self.out.iter()).any(|m| {
            (local.strip_prefix(m.local_prefix.as_str()))
                .is_some_and(|rest| filter_matches(&m.filter, rest))
        })
    }
}

/// `scheme://host...` with a scheme a host can dial.
fn check_url(url: &str) -> Result<(), String> {
    const SCHEMES: [&str; 7] = ["mqtt", "mqtts", "tcp", "ssl", "tls", "ws", "wss"];
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "{url:?} is not a URL (mqtt://host:port, ws://host:port/path, ...)"
        ));
    };
    if !SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "scheme '{scheme}' is not one of {}",
            SCHEMES.join(", ")
        ));
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

/// Where a bridge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeState {
    /// The host is dialing, or CONNECT is sent and CONNACK (then the
    /// SUBACK of the `in` subscriptions) awaited.
    Connecting,
    Connected,
    /// The link is down; the next attempt is at `retry_at`.
    Backoff,
    /// The remote refused CONNECT (the reason is kept); retrying later.
    Refused,
    /// Taken down by the host (`handle_bridge_pause`) until resumed.
    Paused,
    /// The broker shut down.
    Stopped,
}

impl BridgeState {
    pub fn name(self) -> &'static str {
        match self {
            BridgeState::Connecting => "connecting",
            BridgeState::Connected => "connected",
            BridgeState::Backoff => "backoff",
            BridgeState::Refused => "refused",
            BridgeState::Paused => "paused",
            BridgeState::Stopped => "stopped",
        }
    }
}

/// A request to the host: open a connection to `url` and report it with
/// `handle_open(conn)` (or `handle_closed(conn)` if it fails).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    pub conn: ConnId,
    pub bridge: String,
    pub url: String,
}

/// One bridge as stats and an inspector show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeView {
    pub name: String,
    pub url: String,
    pub state: BridgeState,
    /// Why the remote refused or closed, if it said.
    pub reason: Option<ReasonCode>,
    pub last_error: Option<String>,
    /// Messages waiting in the bridge's session, and in flight to the remote.
    pub queued: usize,
    pub inflight: usize,
    pub messages_out: u64,
    pub messages_in: u64,
    pub bytes_out: u64,
    pub bytes_in: u64,
    /// Connection attempts since the last success.
    pub attempts: u32,
}

/// What the local side is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LocalMode {
    /// Not connected.
    Down,
    /// Connected only to create the session and its subscriptions (the
    /// remote is away): disconnects after the SUBACK.
    Setup,
    /// Connected while the remote is: messages flow.
    Live,
}

/// A bridge's run-time state (owned by the broker, one per configured bridge).
#[derive(Debug)]
pub(super) struct Bridge {
    pub cfg: BridgeConfig,
    /// `$bridge/<name>`, the client id of its session (made once: it is
    /// looked up for every QoS 1/2 message while the queue is full).
    pub session_id: std::rc::Rc<str>,
    pub state: BridgeState,
    /// The remote connection being dialed or open.
    pub link: Option<ConnId>,
    /// The internal connection of the bridge's session.
    pub local: ConnId,
    local_mode: LocalMode,
    /// Bytes the broker sent the local connection, not yet a whole packet.
    local_rx: Vec<u8>,
    /// The remote accepted CONNECT on the current link (the state becomes
    /// `Connected` once the `in` subscriptions are acknowledged too).
    pub session_up: bool,
    /// The bridge's session was created afresh (not restored): the remote
    /// may hold QoS 2 identifiers of an earlier life that the new session
    /// would reuse, so the next link starts the remote session clean.
    pub fresh_session: bool,
    /// When the link's CONNACK deadline or next keep alive check is due
    /// (an earlier `BridgeTick` of the same link is stale).
    pub next_tick: Millis,
    /// What the remote said in CONNACK.
    remote_session_present: bool,
    remote_receive_maximum: u16,
    remote_max_packet_size: u32,
    remote_maximum_qos: QoS,
    remote_retain: bool,
    /// 3.1.1 with the bridge bit; cleared when the remote refuses it.
    private: bool,
    /// Incoming QoS 2 identifiers released locally because the remote
    /// forgot them: their PUBCOMPs are not the remote's business.
    quiet_pubcomps: Vec<crate::codec::PacketId>,
    /// QoS 2 messages sent as QoS 1 (the remote's Maximum QoS): the
    /// remote's PUBACK is the broker's PUBREC.
    downgraded: Vec<crate::codec::PacketId>,
    /// QoS 2 exchanges the bridge completes itself (the remote took the
    /// message at a lower QoS): the broker's PUBREL is answered here.
    local_completes: Vec<crate::codec::PacketId>,
    pub attempts: u32,
    pub retry_at: Millis,
    pub last_rx: Millis,
    pub reason: Option<ReasonCode>,
    pub last_error: Option<String>,
    pub messages_out: u64,
    pub messages_in: u64,
    pub bytes_out: u64,
    pub bytes_in: u64,
    rng: u64,
}

impl Bridge {
    pub fn new(cfg: BridgeConfig, index: usize, seed: u64) -> Bridge {
        let private = cfg.try_private && !cfg.protocol.is_v5();
        Bridge {
            session_id: cfg.session_id().into(),
            cfg,
            state: BridgeState::Connecting,
            link: None,
            local: ConnId(LOCAL_BASE + index as u64),
            local_mode: LocalMode::Down,
            local_rx: Vec::new(),
            session_up: false,
            fresh_session: false,
            next_tick: Millis(0),
            remote_session_present: false,
            remote_receive_maximum: u16::MAX,
            remote_max_packet_size: u32::MAX,
            remote_maximum_qos: QoS::ExactlyOnce,
            remote_retain: true,
            private,
            quiet_pubcomps: Vec::new(),
            downgraded: Vec::new(),
            local_completes: Vec::new(),
            attempts: 0,
            retry_at: Millis(0),
            last_rx: Millis(0),
            reason: None,
            last_error: None,
            messages_out: 0,
            messages_in: 0,
            bytes_out: 0,
            bytes_in: 0,
            rng: seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    /// The wait before the next attempt: exponential from the minimum to
    /// the maximum, with jitter (a random point in its upper half), so many
    /// brokers that lost one remote do not all return at once.
    fn backoff_delay(&mut self) -> u64 {
        let (min, max) = (self.cfg.reconnect_min_ms, self.cfg.reconnect_max_ms);
        let exp = min.saturating_mul(1u64 << self.attempts.min(30)).min(max);
        // xorshift64: deterministic from the host's seed.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        exp / 2 + self.rng % (exp / 2 + 1)
    }
}
