//! The thin wasm-bindgen layer: a `Broker` class for JS. Frames cross as
//! `Uint8Array`s, drained in one call per turn of the host loop (no serde
//! on the hot path); options and stats cross through serde-wasm-bindgen.

mod errors;
mod hooks;
pub mod idb;
mod options;
mod persist;

use crate::broker::{Broker, ConnId, Durability, Event};
use crate::time::Millis;
use js_sys::{Array, Function, Reflect, Uint8Array};
use persist::{Persister, Sinks};
use std::cell::RefCell;
use std::rc::Rc;
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
    core: Rc<RefCell<Broker>>,
    /// The IndexedDB store, unless durability is 'memory' (or storage
    /// could not be opened): then every batch counts as persisted at once.
    persister: Option<Rc<Persister>>,
    sinks: Option<Sinks>,
    /// Events from outside the core (storage errors and warnings).
    extra_events: Rc<RefCell<Vec<JsValue>>>,
}

#[wasm_bindgen(js_class = Broker)]
impl WasmBroker {
    /// A broker without storage. `options`: see `options.rs`; `hooks`:
    /// `{ authenticate?, authorize? }`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue, hooks: JsValue) -> Result<WasmBroker, JsValue> {
        let cfg = options::parse(options)?;
        let hooks = hooks::JsHooks::from_js(&hooks)?;
        Ok(WasmBroker {
            core: Rc::new(RefCell::new(Broker::new(cfg, Box::new(hooks)))),
            persister: None,
            sinks: None,
            extra_events: Rc::default(),
        })
    }

    /// A broker restored from its IndexedDB database `tabmq:<name>` (created
    /// or upgraded as needed). `notify` is called when a commit completed
    /// (the host should pump); `on_blocked` if an older version of the
    /// database is held open elsewhere. Rejects with an Error whose code is
    /// ERR_TABMQ_STORAGE if the database cannot be opened or read.
    #[wasm_bindgen(js_name = openDurable)]
    pub async fn open_durable(
        name: String,
        options: JsValue,
        hooks: JsValue,
        notify: Function,
        on_blocked: Function,
    ) -> Result<WasmBroker, JsValue> {
        let cfg = options::parse(options)?;
        let hooks = hooks::JsHooks::from_js(&hooks)?;
        let durability = cfg.durability;
        if cfg.durability == Durability::Memory {
            return Ok(WasmBroker {
                core: Rc::new(RefCell::new(Broker::new(cfg, Box::new(hooks)))),
                persister: None,
                sinks: None,
                extra_events: Rc::default(),
            });
        }
        let storage_error = |e: JsValue| {
            let why = e.as_string().unwrap_or_else(|| format!("{e:?}"));
            errors::coded_error(
                "ERR_TABMQ_STORAGE",
                &format!("tabmq: cannot open IndexedDB for broker '{name}': {why}"),
            )
        };
        let blocked = move || {
            let _ = on_blocked.call0(&JsValue::NULL);
        };
        let (db, old) = idb::open(&name, idb::SCHEMA_VERSION, blocked)
            .await
            .map_err(storage_error)?;
        let loaded = idb::load(&db).await.map_err(storage_error)?;
        let extra_events: Rc<RefCell<Vec<JsValue>>> = Rc::default();
        for c in &loaded.corrupt {
            let message = format!("tabmq: skipped a stored record of broker '{name}': {c}");
            extra_events
                .borrow_mut()
                .push(persist::error_event("ERR_TABMQ_CORRUPT_RECORD", &message));
        }
        let core = Broker::restore(
            cfg,
            Box::new(hooks),
            loaded.snapshot,
            millis(js_sys::Date::now()),
        );
        let persister = Persister::new(
            db,
            &name,
            loaded.records,
            loaded.corrupt.len(),
            (idb::SCHEMA_VERSION, old),
            durability == Durability::Strict,
        );
        let core = Rc::new(RefCell::new(core));
        let sinks = Sinks {
            core: core.clone(),
            events: extra_events.clone(),
            notify,
        };
        Ok(WasmBroker {
            core,
            persister: Some(Rc::new(persister)),
            sinks: Some(sinks),
            extra_events,
        })
    }

    pub fn open(&mut self, conn: u32, now: f64) {
        self.core
            .borrow_mut()
            .handle_open(ConnId(conn.into()), millis(now));
    }

    pub fn bytes(&mut self, conn: u32, data: &[u8], now: f64) {
        self.core
            .borrow_mut()
            .handle_bytes(ConnId(conn.into()), data, millis(now));
    }

    pub fn closed(&mut self, conn: u32, now: f64) {
        self.core
            .borrow_mut()
            .handle_closed(ConnId(conn.into()), millis(now));
    }

    /// Closes every connection (DISCONNECT 0x8B to MQTT 5 clients).
    pub fn shutdown(&mut self, now: f64) {
        self.core.borrow_mut().handle_shutdown(millis(now));
    }

    pub fn timeout(&mut self, now: f64) {
        self.core.borrow_mut().handle_timeout(millis(now));
    }

    /// The host's answer to an authenticate hook that returned a Promise.
    #[wasm_bindgen(js_name = authDecision)]
    pub fn auth_decision(&mut self, conn: u32, decision: JsValue, now: f64) -> Result<(), JsValue> {
        let decision = hooks::decision_from_js(&decision)?;
        self.core
            .borrow_mut()
            .handle_auth_decision(ConnId(conn.into()), decision, millis(now));
        Ok(())
    }

    /// Everything to send, as a flat array: `[conn, bytes, close, conn, ...]`.
    /// Storage goes first: new batches are handed to the store (and, with
    /// no store or after a storage failure, count as persisted at once), so
    /// whatever that releases leaves in this same call.
    pub fn drain(&mut self) -> Array {
        {
            let mut core = self.core.borrow_mut();
            match (&self.persister, &self.sinks) {
                (Some(p), Some(sinks)) => {
                    while let Some(batch) = core.poll_storage() {
                        p.enqueue(batch);
                    }
                    drop(core);
                    p.kick(sinks);
                }
                _ => {
                    while let Some(batch) = core.poll_storage() {
                        core.handle_persisted(batch.ticket);
                    }
                }
            }
        }
        let out = Array::new();
        let mut core = self.core.borrow_mut();
        while let Some(t) = core.poll_transmit() {
            out.push(&JsValue::from(t.conn.0 as u32));
            out.push(&Uint8Array::from(&t.data[..]).into());
            out.push(&JsValue::from(t.close));
        }
        out
    }

    /// When to call `timeout` next (ms since the epoch), or undefined.
    #[wasm_bindgen(js_name = nextTimeout)]
    pub fn next_timeout(&self) -> Option<f64> {
        self.core.borrow().poll_timeout().map(|m| m.0 as f64)
    }

    /// Connects, disconnects, rejections, drops and storage errors since the
    /// last call.
    pub fn events(&mut self) -> Result<Array, JsValue> {
        let out = Array::new();
        for e in self.extra_events.borrow_mut().drain(..) {
            out.push(&e);
        }
        let mut core = self.core.borrow_mut();
        while let Some(e) = core.poll_event() {
            out.push(&event_to_js(&e)?);
        }
        Ok(out)
    }

    /// Sessions and retained messages, for an inspector (cold path):
    /// `{ clients: [{ clientId, connected, protocolVersion, sessionExpiry,
    /// subscriptions: [{ filter, qos }], inflight, queued }], retained:
    /// [{ topic, payload: Uint8Array, qos }] }` (at most `retained_limit`).
    pub fn inspect(&self, retained_limit: u32) -> Result<JsValue, JsValue> {
        let core = self.core.borrow();
        options::inspect_to_js(
            &core.clients(),
            &core.retained_messages(retained_limit as usize),
        )
    }

    /// Counters, plus `storage` figures when IndexedDB is attached.
    pub fn stats(&self, now: f64) -> Result<JsValue, JsValue> {
        let stats = options::stats_to_js(&self.core.borrow().stats(millis(now)))?;
        if let Some(p) = &self.persister {
            Reflect::set(&stats, &"storage".into(), &p.figures())?;
        }
        Ok(stats)
    }

    /// Closes the database connection (after `shutdown` and a last drain).
    #[wasm_bindgen(js_name = closeStorage)]
    pub fn close_storage(&mut self) {
        if let Some(p) = self.persister.take() {
            p.close();
        }
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
