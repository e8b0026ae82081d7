//! Broker options from JS (camelCase, checked with the option named in the
//! error), and stats back to JS.

use super::errors::option_error;
use crate::broker::{self, BridgeView, ClientView, Config, Durability, Stats, LIMITS};
use crate::store::Message;
use js_sys::{Array, Object, Reflect, Uint8Array};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// The options the core understands. The JS side handles `name`, `mode`
/// and the callbacks, and passes the rest here. Read field by field with
/// `Reflect` (no serde: its glue per type was a large part of the module).
const OPTION_KEYS: [&str; 12] = [
    "durability",
    "sysInterval",
    "queueQos0Offline",
    "retainAvailable",
    "clientIdSeed",
    "limits",
    "bridges",
    "strictClientIds",
    "passwordFile",
    "users",
    "acl",
    "allowAnonymous",
];

/// `prefix.key`, or `key` alone at the top level: the option an error names.
pub(super) fn path(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Every own key of `v` is one of `known`; `v` must be an object (not an
/// array). `name` is the option `v` is (`""` for the options themselves),
/// `what` how an unknown key is described.
pub(super) fn check_keys(
    v: &JsValue,
    name: &str,
    known: &[&str],
    what: &str,
) -> Result<(), JsValue> {
    if !v.is_object() || Array::is_array(v) {
        return Err(option_error(
            if name.is_empty() { "options" } else { name },
            "must be an object",
        ));
    }
    for key in Object::keys(v.unchecked_ref::<Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !known.contains(&key.as_str()) {
            return Err(option_error(
                &path(name, &key),
                &format!("is not {what} (known: {})", known.join(", ")),
            ));
        }
    }
    Ok(())
}

/// `obj[key]`, or `None` when it is undefined or null (absent, as serde
/// read an `Option` field).
pub(super) fn field(obj: &JsValue, key: &str) -> Option<JsValue> {
    let v = super::hooks::get(obj, key);
    (!v.is_undefined() && !v.is_null()).then_some(v)
}

/// An optional string field of `obj` (option `prefix.key`).
pub(super) fn string(obj: &JsValue, prefix: &str, key: &str) -> Result<Option<String>, JsValue> {
    let Some(v) = field(obj, key) else {
        return Ok(None);
    };
    match v.as_string() {
        Some(s) => Ok(Some(s)),
        None => Err(option_error(
            &path(prefix, key),
            &format!("must be a string, got {}", describe(&v)),
        )),
    }
}

/// An optional boolean field of `obj` (option `prefix.key`).
pub(super) fn boolean(obj: &JsValue, prefix: &str, key: &str) -> Result<Option<bool>, JsValue> {
    let Some(v) = field(obj, key) else {
        return Ok(None);
    };
    match v.as_bool() {
        Some(b) => Ok(Some(b)),
        None => Err(option_error(
            &path(prefix, key),
            &format!("must be a boolean, got {}", describe(&v)),
        )),
    }
}

/// An optional whole-number field of `obj` within `min..=max` (option
/// `prefix.key`).
pub(super) fn number(
    obj: &JsValue,
    prefix: &str,
    key: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, JsValue> {
    let Some(v) = field(obj, key) else {
        return Ok(None);
    };
    int(&path(prefix, key), &v, min, max).map(Some)
}

/// A whole number within `min..=max`, for option `name`.
fn int(name: &str, v: &JsValue, min: u64, max: u64) -> Result<u64, JsValue> {
    match v.as_f64() {
        Some(n) if n.fract() == 0.0 && n >= min as f64 && n <= max as f64 => Ok(n as u64),
        _ => Err(option_error(
            name,
            &format!(
                "must be a whole number from {min} to {max}, got {}",
                describe(v)
            ),
        )),
    }
}

pub fn parse(value: JsValue) -> Result<Config, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(Config::default());
    }
    check_keys(&value, "", &OPTION_KEYS, "a tabmq option")?;
    let durability = match field(&value, "durability") {
        None => Durability::Strict,
        Some(d) => match d.as_string().as_deref() {
            Some("strict") => Durability::Strict,
            Some("relaxed") => Durability::Relaxed,
            Some("memory") => Durability::Memory,
            _ => {
                return Err(option_error(
                    "durability",
                    &format!(
                        "must be 'strict', 'relaxed' or 'memory', got {}",
                        describe(&d)
                    ),
                ))
            }
        },
    };
    let mut cfg = Config {
        durability,
        ..Config::default()
    };
    if let Some(secs) = number(&value, "", "sysInterval", 0, 86_400)? {
        cfg.sys_interval_secs = secs as u32;
    }
    if let Some(b) = boolean(&value, "", "queueQos0Offline")? {
        cfg.queue_qos0_offline = b;
    }
    if let Some(b) = boolean(&value, "", "retainAvailable")? {
        cfg.retain_available = b;
    }
    if let Some(seed) = number(&value, "", "clientIdSeed", 0, (1 << 53) - 1)? {
        cfg.client_id_seed = seed;
    }
    if let Some(limits) = field(&value, "limits") {
        apply_limits(&mut cfg, &limits)?;
    }
    if field(&value, "bridges").is_some() {
        cfg.bridges = super::bridges::parse(&value)?;
    }
    cfg.strict_client_ids = boolean(&value, "", "strictClientIds")?.unwrap_or(false);
    let access = ["passwordFile", "users", "acl", "allowAnonymous"];
    if access.iter().any(|k| field(&value, k).is_some()) {
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
        if value.as_f64().is_none() {
            return Err(option_error(
                &name,
                &format!("must be a number, got {}", describe(&value)),
            ));
        }
        (limit.set)(cfg, int(&name, &value, limit.min, limit.max)?);
    }
    Ok(())
}

/// A short description of a JS value for an error message: a string in
/// quotes, a number, `null`, `an array`, or its `typeof`.
pub(super) fn describe(v: &JsValue) -> String {
    if let Some(s) = v.as_string() {
        return format!("{s:?}");
    }
    if let Some(n) = v.as_f64() {
        return format!("{n}");
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

/// A plain object, filled field by field (setting a property on a plain
/// new object cannot fail).
pub(super) struct Obj(pub Object);

impl Obj {
    pub fn new() -> Obj {
        Obj(Object::new())
    }

    pub fn set(&self, key: &str, value: JsValue) -> &Obj {
        let _ = Reflect::set(&self.0, &key.into(), &value);
        self
    }

    /// A count, as a JS number.
    pub fn num(&self, key: &str, value: u64) -> &Obj {
        self.set(key, (value as f64).into())
    }
}

impl From<Obj> for JsValue {
    fn from(o: Obj) -> JsValue {
        o.0.into()
    }
}

fn bridges_to_js(bridges: &[BridgeView]) -> JsValue {
    bridges
        .iter()
        .map(super::bridges::view)
        .collect::<Array>()
        .into()
}

/** `[qos0, qos1, qos2]` as a JS array of numbers. */
fn by_qos(counts: &[u64; 3]) -> JsValue {
    counts
        .iter()
        .map(|&n| JsValue::from_f64(n as f64))
        .collect::<Array>()
        .into()
}

pub fn stats_to_js(s: &Stats) -> Result<JsValue, JsValue> {
    let o = Obj::new();
    o.num("connections", s.connections as u64)
        .num("sessions", s.sessions as u64)
        .num("subscriptions", s.subscriptions as u64)
        .num("retained", s.retained as u64)
        .num("messagesReceived", s.messages_received)
        .num("messagesSent", s.messages_sent)
        .set("messagesReceivedByQos", by_qos(&s.messages_received_by_qos))
        .set("messagesSentByQos", by_qos(&s.messages_sent_by_qos))
        .num("messagesDropped", s.messages_dropped)
        .num("bytesReceived", s.bytes_received)
        .num("bytesSent", s.bytes_sent)
        .num("queuedMessages", s.queued_messages as u64)
        .num("inflightMessages", s.inflight_messages as u64)
        .num("storageOps", s.storage_ops)
        .num("acksReleasedEarly", s.acks_released_early)
        .num("pendingAcks", s.pending_acks as u64)
        .num("uptimeSecs", s.uptime_secs)
        .set("bridges", bridges_to_js(&s.bridges));
    Ok(o.into())
}

fn client_to_js(c: &ClientView) -> JsValue {
    let subscriptions: Array = c
        .subscriptions
        .iter()
        .map(|(filter, qos)| {
            let s = Obj::new();
            s.set("filter", filter.into()).set("qos", (*qos).into());
            JsValue::from(s)
        })
        .collect();
    let o = Obj::new();
    o.set("clientId", (&*c.client_id).into())
        .set("connected", c.connected.into())
        .set("protocolVersion", (c.protocol as u8).into())
        .num("sessionExpiry", u64::from(c.session_expiry))
        .set("subscriptions", subscriptions.into())
        .num("inflight", c.inflight as u64)
        .num("queued", c.queued as u64);
    o.into()
}

fn retained_to_js(m: &Message) -> JsValue {
    let o = Obj::new();
    o.set("topic", (&*m.topic).into())
        // Payload bytes as a Uint8Array (a copy) rather than an array of numbers.
        .set("payload", Uint8Array::from(&m.payload[..]).into())
        .set("qos", (m.qos as u8).into());
    o.into()
}

pub fn inspect_to_js(
    bridges: &[BridgeView],
    clients: &[ClientView],
    retained: &[Rc<Message>],
) -> Result<JsValue, JsValue> {
    let o = Obj::new();
    o.set("bridges", bridges_to_js(bridges))
        .set(
            "clients",
            clients.iter().map(client_to_js).collect::<Array>().into(),
        )
        .set(
            "retained",
            retained
                .iter()
                .map(|m| retained_to_js(m))
                .collect::<Array>()
                .into(),
        );
    Ok(o.into())
}
