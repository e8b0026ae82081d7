//! The `bridges` option from JS (checked, with the failing field named),
//! and bridges' state back to JS.

use super::errors::option_error;
use super::options::{boolean, check_keys, field, number, path, string, Obj};
use crate::broker::{BridgeConfig, BridgeView, TopicMap};
use crate::codec::{ProtocolVersion, QoS};
use js_sys::{Array, Reflect};
use wasm_bindgen::prelude::*;

/// A required string field (`name`, `url`, `filter`).
fn required(obj: &JsValue, prefix: &str, key: &str) -> Result<String, JsValue> {
    string(obj, prefix, key)?
        .ok_or_else(|| option_error(prefix, &format!("needs `{key}` (a string)")))
}

/// One `out` or `in` entry, option `name` (its keys already checked).
fn topic_map(name: &str, m: &JsValue) -> Result<TopicMap, JsValue> {
    let qos = match number(m, name, "qos", 0, 2)? {
        None | Some(0) => QoS::AtMostOnce,
        Some(1) => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    };
    Ok(TopicMap {
        filter: required(m, name, "filter")?,
        qos,
        local_prefix: string(m, name, "localPrefix")?.unwrap_or_default(),
        remote_prefix: string(m, name, "remotePrefix")?.unwrap_or_default(),
    })
}

/// One bridge object, option `name` (its keys already checked).
fn bridge(name: &str, b: &JsValue) -> Result<BridgeConfig, JsValue> {
    let mut cfg = BridgeConfig::new(&required(b, name, "name")?, &required(b, name, "url")?);
    if let Some(id) = string(b, name, "clientId")? {
        cfg.client_id = id;
    }
    cfg.username = string(b, name, "username")?;
    cfg.password = string(b, name, "password")?.map(|p| p.into_bytes().into());
    cfg.protocol = match number(b, name, "protocolVersion", 4, 5)? {
        Some(4) => ProtocolVersion::V3_1_1,
        _ => ProtocolVersion::V5,
    };
    if let Some(k) = number(b, name, "keepalive", 0, 65_535)? {
        cfg.keep_alive = k as u16;
    }
    if let Some(e) = number(b, name, "sessionExpiry", 0, u64::from(u32::MAX))? {
        cfg.session_expiry = e as u32;
    }
    if let Some(r) = field(b, "reconnect") {
        let day = 86_400_000;
        let at = path(name, "reconnect");
        if let Some(ms) = number(&r, &at, "minDelay", 1, day)? {
            cfg.reconnect_min_ms = ms;
        }
        if let Some(ms) = number(&r, &at, "maxDelay", 1, day)? {
            cfg.reconnect_max_ms = ms;
        }
    }
    if let Some(p) = boolean(b, name, "tryPrivate")? {
        cfg.try_private = p;
    }
    for (dir, into) in [("out", &mut cfg.out), ("in", &mut cfg.inbound)] {
        if let Some(list) = field(b, dir) {
            for (i, m) in Array::from(&list).iter().enumerate() {
                into.push(topic_map(&format!("{name}.{dir}[{i}]"), &m)?);
            }
        }
    }
    cfg.check()
        .map_err(|(field, why)| option_error(&format!("{name}.{field}"), &why))?;
    Ok(cfg)
}

const BRIDGE_KEYS: [&str; 13] = [
    "name",
    "url",
    "clientId",
    "username",
    "password",
    "protocolVersion",
    "keepalive",
    "sessionExpiry",
    "out",
    "in",
    "reconnect",
    "tryPrivate",
    "tls",
];
const TOPIC_KEYS: [&str; 4] = ["filter", "qos", "localPrefix", "remotePrefix"];
const RECONNECT_KEYS: [&str; 2] = ["minDelay", "maxDelay"];

/// Every key is checked, so that a misspelt one (`remotPrefix`) is not
/// ignored in silence.
fn check_bridge_keys(bridge: &JsValue, name: &str) -> Result<(), JsValue> {
    let keys = |v: &JsValue, name: &str, known: &[&str]| {
        check_keys(v, name, known, "a bridge option here")
    };
    keys(bridge, name, &BRIDGE_KEYS)?;
    for dir in ["out", "in"] {
        let list = Reflect::get(bridge, &dir.into())?;
        if Array::is_array(&list) {
            for (i, entry) in Array::from(&list).iter().enumerate() {
                keys(&entry, &format!("{name}.{dir}[{i}]"), &TOPIC_KEYS)?;
            }
        } else if !list.is_undefined() {
            return Err(option_error(
                &format!("{name}.{dir}"),
                "must be an array of { filter, qos, localPrefix, remotePrefix }",
            ));
        }
    }
    let reconnect = Reflect::get(bridge, &"reconnect".into())?;
    if !reconnect.is_undefined() {
        keys(&reconnect, &format!("{name}.reconnect"), &RECONNECT_KEYS)?;
    }
    Ok(())
}

/// Reads `options.bridges`: an array of bridge objects.
pub fn parse(options: &JsValue) -> Result<Vec<BridgeConfig>, JsValue> {
    let value = Reflect::get(options, &"bridges".into())?;
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    if !Array::is_array(&value) {
        return Err(option_error(
            "bridges",
            "must be an array of bridge objects",
        ));
    }
    let mut out: Vec<BridgeConfig> = Vec::new();
    for (i, item) in Array::from(&value).iter().enumerate() {
        let name = format!("bridges[{i}]");
        check_bridge_keys(&item, &name)?;
        let cfg = bridge(&name, &item)?;
        if out.iter().any(|o| o.name == cfg.name) {
            return Err(option_error(
                &format!("{name}.name"),
                &format!("'{}' names another bridge too", cfg.name),
            ));
        }
        out.push(cfg);
    }
    Ok(out)
}

/// A bridge's state for JS: `{ name, url, state, reasonCode, lastError,
/// queued, inflight, messagesOut, messagesIn, bytesOut, bytesIn, attempts }`.
pub fn view(b: &BridgeView) -> JsValue {
    let o = Obj::new();
    o.set("name", b.name.as_str().into())
        .set("url", b.url.as_str().into())
        .set("state", b.state.name().into())
        .set(
            "reasonCode",
            b.reason.map_or(JsValue::UNDEFINED, |r| (r as u8).into()),
        )
        .set(
            "lastError",
            b.last_error
                .as_deref()
                .map_or(JsValue::UNDEFINED, JsValue::from),
        )
        .num("queued", b.queued as u64)
        .num("inflight", b.inflight as u64)
        .num("messagesOut", b.messages_out)
        .num("messagesIn", b.messages_in)
        .num("bytesOut", b.bytes_out)
        .num("bytesIn", b.bytes_in)
        .num("attempts", u64::from(b.attempts));
    o.into()
}
