//! The thin wasm-bindgen layer: a `Broker` class for JS. Frames cross as
//! `Uint8Array`s, drained in one call per turn of the host loop (no serde
//! on the hot path); options and stats cross through serde-wasm-bindgen.

mod errors;
mod hooks;
mod options;

use crate::broker::{Broker, ConnId, Event};
use crate::time::Millis;
use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;

fn millis(now: f64) -> Millis {
    Millis(if now.is_finite() && now > 0.0 {
        now as u64
    } else {
        0
    })
}

/// The broker core, for a JS host to drive.
#[wasm_bindgen(js_name = Broker)]
pub struct WasmBroker {
    inner: Broker,
    /// No storage is attached: every batch counts as persisted at once.
    ephemeral: bool,
}

#[wasm_bindgen(js_class = Broker)]
impl WasmBroker {
    /// `options`: see `options.rs`; `hooks`: `{ authenticate?, authorize? }`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue, hooks: JsValue) -> Result<WasmBroker, JsValue> {
        let cfg = options::parse(options)?;
        let hooks = hooks::JsHooks::from_js(&hooks)?;
        Ok(WasmBroker {
            inner: Broker::new(cfg, Box::new(hooks)),
            ephemeral: true,
        })
    }

    pub fn open(&mut self, conn: u32, now: f64) {
        self.inner.handle_open(ConnId(conn.into()), millis(now));
    }

    pub fn bytes(&mut self, conn: u32, data: &[u8], now: f64) {
        self.inner
            .handle_bytes(ConnId(conn.into()), data, millis(now));
    }

    pub fn closed(&mut self, conn: u32, now: f64) {
        self.inner.handle_closed(ConnId(conn.into()), millis(now));
    }

    /// Closes every connection (DISCONNECT 0x8B to MQTT 5 clients).
    pub fn shutdown(&mut self, now: f64) {
        self.inner.handle_shutdown(millis(now));
    }

    pub fn timeout(&mut self, now: f64) {
        self.inner.handle_timeout(millis(now));
    }

    /// The host's answer to an authenticate hook that returned a Promise.
    #[wasm_bindgen(js_name = authDecision)]
    pub fn auth_decision(&mut self, conn: u32, decision: JsValue, now: f64) -> Result<(), JsValue> {
        let decision = hooks::decision_from_js(&decision)?;
        self.inner
            .handle_auth_decision(ConnId(conn.into()), decision, millis(now));
        Ok(())
    }

    /// Everything to send, as a flat array: `[conn, bytes, close, conn, ...]`.
    pub fn drain(&mut self) -> Array {
        let out = Array::new();
        while let Some(t) = self.inner.poll_transmit() {
            out.push(&JsValue::from(t.conn.0 as u32));
            out.push(&Uint8Array::from(&t.data[..]).into());
            out.push(&JsValue::from(t.close));
        }
        if self.ephemeral {
            while let Some(batch) = self.inner.poll_storage() {
                self.inner.handle_persisted(batch.ticket);
            }
        }
        out
    }

    /// When to call `timeout` next (ms since the epoch), or undefined.
    #[wasm_bindgen(js_name = nextTimeout)]
    pub fn next_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(|m| m.0 as f64)
    }

    /// Connects, disconnects, rejections and drops since the last call.
    pub fn events(&mut self) -> Result<Array, JsValue> {
        let out = Array::new();
        while let Some(e) = self.inner.poll_event() {
            out.push(&event_to_js(&e)?);
        }
        Ok(out)
    }

    /// Sessions and retained messages, for an inspector (cold path):
    /// `{ clients: [{ clientId, connected, protocolVersion, sessionExpiry,
    /// subscriptions: [{ filter, qos }], inflight, queued }], retained:
    /// [{ topic, payload: Uint8Array, qos }] }` (at most `retained_limit`).
    pub fn inspect(&self, retained_limit: u32) -> Result<JsValue, JsValue> {
        options::inspect_to_js(
            &self.inner.clients(),
            &self.inner.retained_messages(retained_limit as usize),
        )
    }

    pub fn stats(&self, now: f64) -> Result<JsValue, JsValue> {
        options::stats_to_js(&self.inner.stats(millis(now)))
    }
}

fn event_to_js(e: &Event) -> Result<JsValue, JsValue> {
    let obj = js_sys::Object::new();
    let set = |k: &str, v: JsValue| js_sys::Reflect::set(&obj, &k.into(), &v).map(|_| ());
    match e {
        Event::Connected {
            conn,
            client_id,
            protocol,
            session_present,
        } => {
            set("type", "connected".into())?;
            set("conn", (conn.0 as u32).into())?;
            set("clientId", (&**client_id).into())?;
            set("protocolVersion", (*protocol as u8).into())?;
            set("sessionPresent", (*session_present).into())?;
        }
        Event::Rejected { conn, reason } => {
            set("type", "rejected".into())?;
            set("conn", (conn.0 as u32).into())?;
            set("reasonCode", (*reason as u8).into())?;
        }
        Event::Disconnected {
            conn,
            client_id,
            reason,
            detail,
        } => {
            set("type", "disconnected".into())?;
            set("conn", (conn.0 as u32).into())?;
            set(
                "clientId",
                client_id
                    .as_deref()
                    .map_or(JsValue::UNDEFINED, JsValue::from),
            )?;
            set(
                "reasonCode",
                reason.map_or(JsValue::UNDEFINED, |r| (r as u8).into()),
            )?;
            set(
                "detail",
                detail.as_deref().map_or(JsValue::UNDEFINED, JsValue::from),
            )?;
        }
        Event::Dropped {
            client_id,
            topic,
            why,
        } => {
            set("type", "dropped".into())?;
            set("clientId", (&**client_id).into())?;
            set("topic", (&**topic).into())?;
            set("why", format!("{why:?}").into())?;
        }
    }
    Ok(obj.into())
}

/// Checks broker options without starting a broker: throws the same coded
/// `Error` the constructor would.
#[wasm_bindgen(js_name = validateOptions)]
pub fn validate_options(options: JsValue) -> Result<(), JsValue> {
    options::parse(options).map(|_| ())
}
