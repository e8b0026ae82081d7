//! Broker options from JS (camelCase, checked with the option named in the
//! error), and stats back to JS.

use super::errors::{coded_error, option_error};
use crate::broker::{self, BridgeView, ClientView, Config, Durability, Stats, LIMITS};
use crate::store::Message;
use js_sys::{Array, Object, Reflect};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

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
    /// Read from the object itself, against `LIMITS` (see `apply_limits`).
    limits: Option<IgnoredAny>,
    /// Read from the object itself (see `bridges.rs`).
    bridges: Option<IgnoredAny>,
    strict_client_ids: Option<bool>,
    /// Read from the object itself (see `access.rs`).
    password_file: Option<IgnoredAny>,
    users: Option<IgnoredAny>,
    acl: Option<IgnoredAny>,
    allow_anonymous: Option<IgnoredAny>,
}

/// Reads an optional integer option within `min..=max`.
pub(super) fn int(
    name: &str,
    value: Option<f64>,
    min: u64,
    max: u64,
) -> Result<Option<u64>, JsValue> {
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
        serde_wasm_bindgen::from_value(value.clone())
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
    if o.limits.is_some() {
        apply_limits(&mut cfg, &Reflect::get(&value, &"limits".into())?)?;
    }
    if o.bridges.is_some() {
        cfg.bridges = super::bridges::parse(&value)?;
    }
    cfg.strict_client_ids = o.strict_client_ids.unwrap_or(false);
    let access = [&o.password_file, &o.users, &o.acl, &o.allow_anonymous];
    if access.iter().any(|v| v.is_some()) {
        cfg.access = super::access::parse(&value, &cfg.access)?;
    }
    Ok(cfg)
}

/// Applies `limits`, an object whose keys are names from `LIMITS`.
fn apply_limits(cfg: &mut Config, limits: &JsValue) -> Result<(), JsValue> {
    if !limits.is_object() || Array::is_array(limits) {
        return Err(option_error("limits", "must be an object"));
    }
    for entry in Object::entries(limits.unchecked_ref()).iter() {
        let entry: Array = entry.unchecked_into();
        let key = entry.get(0).as_string().unwrap_or_default();
        let value = entry.get(1);
        let name = format!("limits.{key}");
        let Some(limit) = broker::limit(&key) else {
            let known: Vec<&str> = LIMITS.iter().map(|l| l.name).collect();
            return Err(option_error(
                &name,
                &format!("is not a tabmq limit (known: {})", known.join(", ")),
            ));
        };
        if value.is_undefined() {
            continue;
        }
        let Some(v) = value.as_f64() else {
            return Err(option_error(
                &name,
                &format!("must be a number, got {}", describe(&value)),
            ));
        };
        if let Some(v) = int(&name, Some(v), limit.min, limit.max)? {
            (limit.set)(cfg, v);
        }
    }
    Ok(())
}

/// A short description of a JS value for an error message.
fn describe(v: &JsValue) -> String {
    if let Some(s) = v.as_string() {
        return format!("{s:?}");
    }
    if v.is_null() {
        return "null".into();
    }
    if Array::is_array(v) {
        return "an array".into();
    }
    v.js_typeof().as_string().unwrap_or_default()
}

/// The limits table for the hosts: `[{ name, doc, min, max, value }]`, where
/// `value` is what `options` sets (or the default; undefined for no limit).
/// Throws the same coded error as the constructor for bad options.
#[wasm_bindgen(js_name = resolveLimits)]
pub fn resolve_limits(options: JsValue) -> Result<JsValue, JsValue> {
    let cfg = parse(options)?;
    let out = Array::new();
    for l in LIMITS {
        let o = Object::new();
        Reflect::set(&o, &"name".into(), &l.name.into())?;
        Reflect::set(&o, &"doc".into(), &l.doc.into())?;
        Reflect::set(&o, &"min".into(), &(l.min as f64).into())?;
        Reflect::set(&o, &"max".into(), &(l.max as f64).into())?;
        let value = (l.get)(&cfg).map_or(JsValue::UNDEFINED, |v| (v as f64).into());
        Reflect::set(&o, &"value".into(), &value)?;
        out.push(&o);
    }
    Ok(out.into())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsStats<'a> {
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
    acks_released_early: f64,
    pending_acks: usize,
    uptime_secs: f64,
    bridges: Vec<super::bridges::JsBridgeView<'a>>,
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
        acks_released_early: s.acks_released_early as f64,
        pending_acks: s.pending_acks,
        uptime_secs: s.uptime_secs as f64,
        bridges: s.bridges.iter().map(super::bridges::view).collect(),
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
    bridges: Vec<super::bridges::JsBridgeView<'a>>,
    clients: Vec<JsClient<'a>>,
    retained: Vec<JsRetained<'a>>,
}

pub fn inspect_to_js(
    bridges: &[BridgeView],
    clients: &[ClientView],
    retained: &[Rc<Message>],
) -> Result<JsValue, JsValue> {
    let js = JsInspect {
        bridges: bridges.iter().map(super::bridges::view).collect(),
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
