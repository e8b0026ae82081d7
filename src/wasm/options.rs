//! Broker options from JS (camelCase, checked with the option named in the
//! error), and stats back to JS.

use super::errors::{coded_error, option_error};
use crate::broker::{ClientView, Config, Durability, Stats};
use crate::store::Message;
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use wasm_bindgen::JsValue;

/// The options the core understands. The JS side handles `name`, `mode`
/// and the callbacks, and passes the rest here.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    durability: Option<String>,
    /// `$SYS` interval in seconds; 0 turns it off.
    sys_interval: Option<f64>,
    queue_qos0_offline: Option<bool>,
    retain_available: Option<bool>,
    client_id_seed: Option<f64>,
    limits: Option<Limits>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Limits {
    max_connections: Option<f64>,
    max_packet_size: Option<f64>,
    receive_maximum: Option<f64>,
    max_inflight: Option<f64>,
    max_queued_messages: Option<f64>,
    max_queued_bytes: Option<f64>,
    topic_alias_maximum: Option<f64>,
    max_topic_length: Option<f64>,
    max_topic_levels: Option<f64>,
    max_subscriptions_per_client: Option<f64>,
    max_keep_alive: Option<f64>,
    max_session_expiry: Option<f64>,
    /// Milliseconds a new connection has to send CONNECT.
    connect_timeout: Option<f64>,
}

/// Reads an optional integer option within `min..=max`.
fn int(name: &str, value: Option<f64>, min: u64, max: u64) -> Result<Option<u64>, JsValue> {
    let Some(v) = value else {
        return Ok(None);
    };
    if v.fract() != 0.0 || !v.is_finite() || v < min as f64 || v > max as f64 {
        return Err(option_error(
            name,
            &format!("must be a whole number from {min} to {max}, got {v}"),
        ));
    }
    Ok(Some(v as u64))
}

pub fn parse(value: JsValue) -> Result<Config, JsValue> {
    let o: Options = if value.is_undefined() || value.is_null() {
        Options::default()
    } else {
        serde_wasm_bindgen::from_value(value)
            .map_err(|e| coded_error("ERR_TABMQ_OPTION", &format!("tabmq: invalid options: {e}")))?
    };
    let durability = match o.durability.as_deref() {
        None | Some("strict") => Durability::Strict,
        Some("relaxed") => Durability::Relaxed,
        Some("memory") => Durability::Memory,
        Some(other) => {
            return Err(option_error(
                "durability",
                &format!("must be 'strict', 'relaxed' or 'memory', got '{other}'"),
            ))
        }
    };
    let mut cfg = Config {
        durability,
        ..Config::default()
    };
    if let Some(secs) = int("sysInterval", o.sys_interval, 0, 86_400)? {
        cfg.sys_interval_secs = secs as u32;
    }
    cfg.queue_qos0_offline = o.queue_qos0_offline.unwrap_or(cfg.queue_qos0_offline);
    cfg.retain_available = o.retain_available.unwrap_or(cfg.retain_available);
    if let Some(seed) = int("clientIdSeed", o.client_id_seed, 0, (1 << 53) - 1)? {
        cfg.client_id_seed = seed;
    }
    apply_limits(&mut cfg, o.limits.unwrap_or_default())?;
    Ok(cfg)
}

fn apply_limits(cfg: &mut Config, l: Limits) -> Result<(), JsValue> {
    const U16: u64 = u16::MAX as u64;
    const U32: u64 = u32::MAX as u64;
    // The largest packet MQTT can frame: 1 + 4 header bytes + 268,435,455.
    const MAX_PACKET: u64 = 268_435_460;
    if let Some(v) = int("limits.maxConnections", l.max_connections, 1, U32)? {
        cfg.max_connections = v as usize;
    }
    if let Some(v) = int("limits.maxPacketSize", l.max_packet_size, 64, MAX_PACKET)? {
        cfg.max_packet_size = v as u32;
    }
    if let Some(v) = int("limits.receiveMaximum", l.receive_maximum, 1, U16)? {
        cfg.receive_maximum = v as u16;
    }
    if let Some(v) = int("limits.maxInflight", l.max_inflight, 1, U16)? {
        cfg.max_inflight = v as u16;
    }
    if let Some(v) = int("limits.maxQueuedMessages", l.max_queued_messages, 0, U32)? {
        cfg.max_queued_messages = v as usize;
    }
    if let Some(v) = int(
        "limits.maxQueuedBytes",
        l.max_queued_bytes,
        0,
        (1 << 53) - 1,
    )? {
        cfg.max_queued_bytes = v as usize;
    }
    if let Some(v) = int("limits.topicAliasMaximum", l.topic_alias_maximum, 0, U16)? {
        cfg.topic_alias_maximum = v as u16;
    }
    if let Some(v) = int("limits.maxTopicLength", l.max_topic_length, 1, U16)? {
        cfg.max_topic_length = v as usize;
    }
    if let Some(v) = int("limits.maxTopicLevels", l.max_topic_levels, 1, U16)? {
        cfg.max_topic_levels = v as usize;
    }
    if let Some(v) = int(
        "limits.maxSubscriptionsPerClient",
        l.max_subscriptions_per_client,
        1,
        U32,
    )? {
        cfg.max_subscriptions_per_client = v as usize;
    }
    if let Some(v) = int("limits.maxKeepAlive", l.max_keep_alive, 1, U16)? {
        cfg.max_keep_alive = Some(v as u16);
    }
    if let Some(v) = int("limits.maxSessionExpiry", l.max_session_expiry, 0, U32)? {
        cfg.max_session_expiry = v as u32;
    }
    if let Some(v) = int("limits.connectTimeout", l.connect_timeout, 100, 3_600_000)? {
        cfg.connect_timeout_ms = v;
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsStats {
    connections: usize,
    sessions: usize,
    subscriptions: usize,
    retained: usize,
    messages_received: f64,
    messages_sent: f64,
    messages_dropped: f64,
    bytes_received: f64,
    bytes_sent: f64,
    queued_messages: usize,
    inflight_messages: usize,
    storage_ops: f64,
    pending_acks: usize,
    uptime_secs: f64,
}

pub fn stats_to_js(s: &Stats) -> Result<JsValue, JsValue> {
    let js = JsStats {
        connections: s.connections,
        sessions: s.sessions,
        subscriptions: s.subscriptions,
        retained: s.retained,
        messages_received: s.messages_received as f64,
        messages_sent: s.messages_sent as f64,
        messages_dropped: s.messages_dropped as f64,
        bytes_received: s.bytes_received as f64,
        bytes_sent: s.bytes_sent as f64,
        queued_messages: s.queued_messages,
        inflight_messages: s.inflight_messages,
        storage_ops: s.storage_ops as f64,
        pending_acks: s.pending_acks,
        uptime_secs: s.uptime_secs as f64,
    };
    serde_wasm_bindgen::to_value(&js).map_err(|e| coded_error("ERR_TABMQ_INTERNAL", &e.to_string()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsClient<'a> {
    client_id: &'a str,
    connected: bool,
    protocol_version: u8,
    session_expiry: f64,
    subscriptions: Vec<JsSubscription<'a>>,
    inflight: usize,
    queued: usize,
}

#[derive(Serialize)]
struct JsSubscription<'a> {
    filter: &'a str,
    qos: u8,
}

#[derive(Serialize)]
struct JsRetained<'a> {
    topic: &'a str,
    #[serde(with = "serde_bytes_as_uint8array")]
    payload: &'a [u8],
    qos: u8,
}

/// Payload bytes as a Uint8Array rather than an array of numbers.
mod serde_bytes_as_uint8array {
    pub fn serialize<S: serde::Serializer>(bytes: &&[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }
}

#[derive(Serialize)]
struct JsInspect<'a> {
    clients: Vec<JsClient<'a>>,
    retained: Vec<JsRetained<'a>>,
}

pub fn inspect_to_js(clients: &[ClientView], retained: &[Rc<Message>]) -> Result<JsValue, JsValue> {
    let js = JsInspect {
        clients: clients
            .iter()
            .map(|c| JsClient {
                client_id: &c.client_id,
                connected: c.connected,
                protocol_version: c.protocol as u8,
                session_expiry: f64::from(c.session_expiry),
                subscriptions: c
                    .subscriptions
                    .iter()
                    .map(|(f, q)| JsSubscription { filter: f, qos: *q })
                    .collect(),
                inflight: c.inflight,
                queued: c.queued,
            })
            .collect(),
        retained: retained
            .iter()
            .map(|m| JsRetained {
                topic: &m.topic,
                payload: &m.payload,
                qos: m.qos as u8,
            })
            .collect(),
    };
    serde_wasm_bindgen::to_value(&js).map_err(|e| coded_error("ERR_TABMQ_INTERNAL", &e.to_string()))
}
