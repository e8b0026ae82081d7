//! The host's own publishes and subscriptions (`broker/host_client.rs`):
//! `handleHostPublish`, `handleHostSubscribe`, `handleHostUnsubscribe`,
//! `checkCredentials`, and their answers as events.

use super::errors::option_error;
use super::options::Obj;
use super::{millis, WasmBroker};
use crate::broker::{HostPublish, HostSubscribe, HostWebhook};
use crate::codec::{Properties, Publish, QoS, ReasonCode};
use bytes::Bytes;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(js_class = Broker)]
impl WasmBroker {
    /// Publishes `payload` to `topic` for the host, as `username` (which
    /// the host authenticated, or undefined). `properties`: `{
    /// contentType, responseTopic, correlationData, messageExpiryInterval,
    /// payloadFormatIndicator, userProperties: { name: value | [values] } }`.
    /// Answered by a `published` event with `id` and `reasonCode`.
    #[wasm_bindgen(js_name = handleHostPublish)]
    #[allow(clippy::too_many_arguments)]
    pub fn handle_host_publish(
        &mut self,
        id: f64,
        topic: String,
        payload: &[u8],
        qos: u8,
        retain: bool,
        properties: JsValue,
        username: Option<String>,
        now: f64,
    ) -> Result<(), JsValue> {
        let p = HostPublish {
            topic,
            payload: Bytes::copy_from_slice(payload),
            qos: qos_of(qos)?,
            retain,
            properties: properties_from_js(&properties)?,
            username,
        };
        self.core.handle_host_publish(id as u64, p, millis(now));
        Ok(())
    }

    /// Subscribes for the host to `filter` at `qos`, read as `username`:
    /// a `subscribed` event with `id` and `reasonCode`, then `message`
    /// events with that `id`.
    #[wasm_bindgen(js_name = handleHostSubscribe)]
    pub fn handle_host_subscribe(
        &mut self,
        id: f64,
        filter: String,
        qos: u8,
        username: Option<String>,
        now: f64,
    ) -> Result<(), JsValue> {
        let qos = qos_of(qos)?;
        let s = HostSubscribe {
            filter,
            qos,
            username,
        };
        self.core.handle_host_subscribe(id as u64, s, millis(now));
        Ok(())
    }

    /// Subscribes webhook `name` to `filter` at `qos` as the host's
    /// subscription `id`: its persistent session `$host/webhook/<name>`,
    /// with `window` deliveries in flight at once. Answered by a
    /// `subscribed` event; each `message` event carries a `packetId` that
    /// `handleHostAck` acknowledges once the endpoint has taken it.
    #[wasm_bindgen(js_name = handleHostWebhook)]
    pub fn handle_host_webhook(
        &mut self,
        id: f64,
        name: String,
        filter: String,
        qos: u8,
        window: u16,
        now: f64,
    ) -> Result<(), JsValue> {
        let w = HostWebhook {
            name,
            filter,
            qos: qos_of(qos)?,
            window,
        };
        self.core.handle_host_webhook(id as u64, w, millis(now));
        Ok(())
    }

    /// Ends the sessions of webhooks not in `keep` (names): removed or
    /// renamed ones stop queuing and are forgotten by storage.
    #[wasm_bindgen(js_name = handleHostForgetWebhooks)]
    pub fn handle_host_forget_webhooks(&mut self, keep: Vec<String>, now: f64) {
        self.core.handle_host_forget_webhooks(&keep, millis(now));
    }

    /// The host has forwarded delivery `packetId` of webhook subscription
    /// `id`: the broker may let it go.
    #[wasm_bindgen(js_name = handleHostAck)]
    pub fn handle_host_ack(&mut self, id: f64, packet_id: u16, now: f64) {
        self.core.handle_host_ack(id as u64, packet_id, millis(now));
    }

    /// Ends the host's subscription `id`.
    #[wasm_bindgen(js_name = handleHostUnsubscribe)]
    pub fn handle_host_unsubscribe(&mut self, id: f64, now: f64) {
        self.core.handle_host_unsubscribe(id as u64, millis(now));
    }

    /// Whether `username`/`password` would be admitted at CONNECT.
    #[wasm_bindgen(js_name = checkCredentials)]
    pub fn check_credentials(&self, username: Option<String>, password: Option<Vec<u8>>) -> bool {
        self.core
            .check_credentials(username.as_deref(), password.as_deref())
    }
}

fn qos_of(qos: u8) -> Result<QoS, JsValue> {
    QoS::from_u8(qos).map_err(|_| option_error("qos", "must be 0, 1 or 2"))
}

fn get(o: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(o, &key.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// The publish properties a host may set, from a plain object.
fn properties_from_js(o: &JsValue) -> Result<Properties, JsValue> {
    let mut p = Properties::default();
    if o.is_undefined() || o.is_null() {
        return Ok(p);
    }
    let text = |key: &str| -> Result<Option<String>, JsValue> {
        match get(o, key) {
            None => Ok(None),
            Some(v) => v
                .as_string()
                .map(Some)
                .ok_or_else(|| option_error(&format!("properties.{key}"), "must be a string")),
        }
    };
    let number = |key: &str, max: f64| -> Result<Option<f64>, JsValue> {
        match get(o, key) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) if n >= 0.0 && n <= max && n.fract() == 0.0 => Ok(Some(n)),
                _ => Err(option_error(
                    &format!("properties.{key}"),
                    &format!("must be an integer from 0 to {max}"),
                )),
            },
        }
    };
    p.content_type = text("contentType")?;
    p.response_topic = text("responseTopic")?;
    p.message_expiry_interval = number("messageExpiryInterval", u32::MAX as f64)?.map(|n| n as u32);
    p.payload_format_indicator = number("payloadFormatIndicator", 1.0)?.map(|n| n as u8);
    if let Some(v) = get(o, "correlationData") {
        let bytes = match v.as_string() {
            Some(s) => s.into_bytes(),
            None if v.is_instance_of::<Uint8Array>() => Uint8Array::new(&v).to_vec(),
            None => {
                let why = "must be a string or a Uint8Array";
                return Err(option_error("properties.correlationData", why));
            }
        };
        p.correlation_data = Some(Bytes::from(bytes));
    }
    if let Some(v) = get(o, "userProperties") {
        let Some(obj) = v.dyn_ref::<Object>() else {
            return Err(option_error(
                "properties.userProperties",
                "must be an object",
            ));
        };
        for entry in Object::entries(obj).iter() {
            let pair = Array::from(&entry);
            let name = pair.get(0).as_string().unwrap_or_default();
            let value = pair.get(1);
            let values: Vec<JsValue> = match Array::is_array(&value) {
                true => Array::from(&value).iter().collect(),
                false => vec![value],
            };
            for v in values {
                let Some(v) = v.as_string() else {
                    let key = format!("properties.userProperties.{name}");
                    return Err(option_error(&key, "must be a string or strings"));
                };
                p.user_properties.push((name.clone(), v));
            }
        }
    }
    Ok(p)
}

/// A PUBLISH's properties as the host sees them (only those set).
fn properties_to_js(p: &Properties) -> JsValue {
    let o = Obj::new();
    if let Some(v) = &p.content_type {
        o.set("contentType", v.as_str().into());
    }
    if let Some(v) = &p.response_topic {
        o.set("responseTopic", v.as_str().into());
    }
    if let Some(v) = &p.correlation_data {
        o.set("correlationData", Uint8Array::from(&v[..]).into());
    }
    if let Some(v) = p.message_expiry_interval {
        o.num("messageExpiryInterval", v.into());
    }
    if let Some(v) = p.payload_format_indicator {
        o.num("payloadFormatIndicator", v.into());
    }
    if !p.user_properties.is_empty() {
        let user = Obj::new();
        for (k, v) in &p.user_properties {
            let prev = Reflect::get(&user.0, &k.as_str().into()).unwrap_or(JsValue::UNDEFINED);
            let value: JsValue = match prev.as_string() {
                Some(first) => Array::of2(&first.into(), &v.as_str().into()).into(),
                None if Array::is_array(&prev) => {
                    let a = Array::from(&prev);
                    a.push(&v.as_str().into());
                    a.into()
                }
                None => v.as_str().into(),
            };
            user.set(k, value);
        }
        o.set("userProperties", user.into());
    }
    o.into()
}

/// The answer to a host publish or subscription.
pub(super) fn answer_to_js(kind: &str, id: u64, reason: ReasonCode) -> JsValue {
    let o = Obj::new();
    o.set("type", kind.into())
        .num("id", id)
        .num("reasonCode", reason as u64);
    o.into()
}

/// A message for a host subscription.
pub(super) fn message_to_js(id: u64, p: &Publish) -> JsValue {
    let o = Obj::new();
    o.set("type", "message".into())
        .num("id", id)
        .set("topic", p.topic.as_str().into())
        .set("payload", Uint8Array::from(&p.payload[..]).into())
        .num("qos", p.qos as u64)
        .set("retain", p.retain.into())
        .set("dup", p.dup.into())
        .set("properties", properties_to_js(&p.properties));
    if let Some(pid) = p.packet_id {
        o.num("packetId", pid.get().into());
    }
    o.into()
}

#[wasm_bindgen(js_class = Broker)]
impl WasmBroker {
    /// Disconnects client `clientId` (DISCONNECT 0x98 for MQTT 5); false
    /// if no client of that id is connected.
    #[wasm_bindgen(js_name = handleDisconnectClient)]
    pub fn handle_disconnect_client(&mut self, client_id: &str, now: f64) -> bool {
        self.core.handle_disconnect_client(client_id, millis(now))
    }
}
