//! The `bridges` option from JS (checked, with the failing field named),
//! and bridges' state back to JS.

use super::errors::option_error;
use super::options::int;
use crate::broker::{BridgeConfig, BridgeView, TopicMap};
use crate::codec::{ProtocolVersion, QoS};
use js_sys::{Array, Reflect};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsBridge {
    name: String,
    url: String,
    client_id: Option<String>,
    username: Option<String>,
    password: Option<String>,
    protocol_version: Option<f64>,
    keepalive: Option<f64>,
    session_expiry: Option<f64>,
    out: Option<Vec<JsTopicMap>>,
    #[serde(rename = "in")]
    inbound: Option<Vec<JsTopicMap>>,
    reconnect: Option<JsReconnect>,
    try_private: Option<bool>,
    /// The Node host's, for its TLS socket; the core does not read it.
    #[allow(dead_code)]
    tls: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsTopicMap {
    filter: String,
    qos: Option<f64>,
    local_prefix: Option<String>,
    remote_prefix: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsReconnect {
    min_delay: Option<f64>,
    max_delay: Option<f64>,
}

fn topic_map(name: &str, m: JsTopicMap) -> Result<TopicMap, JsValue> {
    let qos = match int(&format!("{name}.qos"), m.qos, 0, 2)? {
        None | Some(0) => QoS::AtMostOnce,
        Some(1) => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    };
    Ok(TopicMap {
        filter: m.filter,
        qos,
        local_prefix: m.local_prefix.unwrap_or_default(),
        remote_prefix: m.remote_prefix.unwrap_or_default(),
    })
}

fn bridge(name: &str, b: JsBridge) -> Result<BridgeConfig, JsValue> {
    let mut cfg = BridgeConfig::new(&b.name, &b.url);
    if let Some(id) = b.client_id {
        cfg.client_id = id;
    }
    cfg.username = b.username;
    cfg.password = b.password.map(|p| p.into_bytes().into());
    cfg.protocol = match int(&format!("{name}.protocolVersion"), b.protocol_version, 4, 5)? {
        Some(4) => ProtocolVersion::V3_1_1,
        _ => ProtocolVersion::V5,
    };
    if let Some(k) = int(&format!("{name}.keepalive"), b.keepalive, 0, 65_535)? {
        cfg.keep_alive = k as u16;
    }
    if let Some(e) = int(
        &format!("{name}.sessionExpiry"),
        b.session_expiry,
        0,
        u64::from(u32::MAX),
    )? {
        cfg.session_expiry = e as u32;
    }
    if let Some(r) = b.reconnect {
        let day = 86_400_000;
        if let Some(ms) = int(&format!("{name}.reconnect.minDelay"), r.min_delay, 1, day)? {
            cfg.reconnect_min_ms = ms;
        }
        if let Some(ms) = int(&format!("{name}.reconnect.maxDelay"), r.max_delay, 1, day)? {
            cfg.reconnect_max_ms = ms;
        }
    }
    if let Some(p) = b.try_private {
        cfg.try_private = p;
    }
    for (i, m) in b.out.unwrap_or_default().into_iter().enumerate() {
        cfg.out.push(topic_map(&format!("{name}.out[{i}]"), m)?);
    }
    for (i, m) in b.inbound.unwrap_or_default().into_iter().enumerate() {
        cfg.inbound.push(topic_map(&format!("{name}.in[{i}]"), m)?);
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

/// serde-wasm-bindgen reads only the fields it knows, so a misspelt one
/// (`remotPrefix`) would be ignored in silence: every key is checked here.
fn check_keys(bridge: &JsValue, name: &str) -> Result<(), JsValue> {
    fn keys(v: &JsValue, name: &str, known: &[&str]) -> Result<(), JsValue> {
        if !v.is_object() || Array::is_array(v) {
            return Err(option_error(name, "must be an object"));
        }
        for key in js_sys::Object::keys(v.unchecked_ref::<js_sys::Object>()).iter() {
            let key = key.as_string().unwrap_or_default();
            if !known.contains(&key.as_str()) {
                return Err(option_error(
                    &format!("{name}.{key}"),
                    &format!("is not a bridge option here (known: {})", known.join(", ")),
                ));
            }
        }
        Ok(())
    }
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
        check_keys(&item, &name)?;
        let b: JsBridge = serde_wasm_bindgen::from_value(item)
            .map_err(|e| option_error(&name, &format!("is not a valid bridge: {e}")))?;
        let cfg = bridge(&name, b)?;
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsBridgeView<'a> {
    name: &'a str,
    url: &'a str,
    state: &'static str,
    reason_code: Option<u8>,
    last_error: Option<&'a str>,
    queued: usize,
    inflight: usize,
    messages_out: f64,
    messages_in: f64,
    bytes_out: f64,
    bytes_in: f64,
    attempts: u32,
}

pub fn view(b: &BridgeView) -> JsBridgeView<'_> {
    JsBridgeView {
        name: &b.name,
        url: &b.url,
        state: b.state.name(),
        reason_code: b.reason.map(|r| r as u8),
        last_error: b.last_error.as_deref(),
        queued: b.queued,
        inflight: b.inflight,
        messages_out: b.messages_out as f64,
        messages_in: b.messages_in as f64,
        bytes_out: b.bytes_out as f64,
        bytes_in: b.bytes_in as f64,
        attempts: b.attempts,
    }
}
