//! The thin wasm-bindgen layer: a `Broker` class for JS, named after the
//! core it wraps. Inputs are `handle*`, outputs `poll*`, one binding per
//! operation of the core (`handle_bytes` is `handleBytes`, `poll_transmit`
//! is `pollTransmit`, ...). Frames cross as bytes: everything one poll
//! sends, packed in one `Uint8Array` (no serde, no allocation per message
//! on the hot path); options and stats are read and built field by field
//! with `Reflect`.
//!
//! In the browser, `WasmBroker` owns the core alone and is its storage host:
//! storage batches never reach JS. `pollTransmit` first applies the tickets
//! the IndexedDB persister reported finished, then hands it the new batches
//! (or, without a store, counts them persisted at once), so that whatever
//! that releases leaves in the same call. The Node host keeps its store
//! itself (`openStored`): it takes each commit as one buffer with
//! `pollStorage` and reports it with `handlePersisted`.

mod access;
mod bridges;
mod errors;
mod hooks;
mod host_client;
pub mod idb;
mod options;
mod persist;

pub use errors::set_error_class;

use crate::broker::{Broker, ConnId, Durability, Event, Transmit};
use crate::time::Millis;
use js_sys::{Array, Function, Object, Reflect, Uint8Array};
use persist::{Persister, Reports};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

fn millis(now: f64) -> Millis {
    Millis(if now.is_finite() && now > 0.0 {
        now as u64
    } else {
        0
    })
}

/// What one poll sends, packed into one buffer (the layout is in
/// `WasmBroker::poll_transmit`'s doc). Both vectors are kept from poll to
/// poll.
#[derive(Default)]
struct PackedTransmits {
    transmits: Vec<Transmit>,
    packed: Vec<u8>,
}

/// A packed buffer above this keeps no capacity after the poll (a burst of
/// large messages should not pin its memory for the broker's life).
const PACKED_KEEP: usize = 1 << 20;

impl PackedTransmits {
    /// `[n][conns][ends][closes][data]`, copied out to JS; `None` when there
    /// is nothing to send.
    fn pack(&mut self) -> Option<Uint8Array> {
        let n = self.transmits.len();
        if n == 0 {
            return None;
        }
        let data: usize = self.transmits.iter().map(|t| t.data.len()).sum();
        let p = &mut self.packed;
        p.clear();
        p.reserve(4 + 9 * n + data);
        p.extend_from_slice(&(n as u32).to_le_bytes());
        for t in &self.transmits {
            p.extend_from_slice(&(t.conn.0 as u32).to_le_bytes());
        }
        let mut end = 0u32;
        for t in &self.transmits {
            end += t.data.len() as u32;
            p.extend_from_slice(&end.to_le_bytes());
        }
        p.extend(self.transmits.iter().map(|t| u8::from(t.close)));
        for t in self.transmits.drain(..) {
            p.extend_from_slice(&t.data);
        }
        let out = Uint8Array::from(&p[..]);
        if p.capacity() > PACKED_KEEP {
            *p = Vec::new();
        }
        Some(out)
    }
}

/// The broker core, for a JS host to drive.
#[wasm_bindgen(js_name = Broker)]
pub struct WasmBroker {
    core: Broker,
    /// The IndexedDB store, unless durability is 'memory' (or storage
    /// could not be opened): then every batch counts as persisted at once.
    persister: Option<Rc<Persister>>,
    /// Finished tickets and storage events from the persister (and events
    /// from start-up), for this owner to apply and hand out.
    reports: Rc<Reports>,
    packed: PackedTransmits,
    /// The host keeps the store (`openStored`): batches wait in the core
    /// until the host takes them with `pollStorage`.
    host_store: bool,
    /// `pollStorage`'s buffer, kept from call to call.
    storage_out: Vec<u8>,
}

#[wasm_bindgen(js_class = Broker)]
impl WasmBroker {
    /// A broker without storage. `options`: see `options.rs`; `hooks`:
    /// `{ authenticate?, authorize? }`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue, hooks: JsValue) -> Result<WasmBroker, JsValue> {
        let cfg = options::parse(options)?;
        let hooks = hooks::JsHooks::from_js(&hooks)?;
        Ok(WasmBroker::with_core(
            Broker::new(cfg, Box::new(hooks)),
            None,
            Rc::default(),
        ))
    }

    /// A broker restored from its IndexedDB database `tabmq:<name>` (created
    /// or upgraded as needed). `notify` is called when a commit finished:
    /// the host should call `pollTransmit` (its `poll()`), which applies it.
    /// `on_blocked` is called if an older version of the database is held
    /// open elsewhere. Rejects with an Error whose code is
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
            return Ok(WasmBroker::with_core(
                Broker::new(cfg, Box::new(hooks)),
                None,
                Rc::default(),
            ));
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
        let mut loaded = idb::load(&db).await.map_err(storage_error)?;
        let reports: Rc<Reports> = Rc::default();
        for c in &loaded.corrupt {
            let message = format!("tabmq: skipped a stored record of broker '{name}': {c}");
            reports.push_event(persist::error_event("ERR_TABMQ_CORRUPT_RECORD", &message));
        }
        let persister = Persister::new(
            db,
            &name,
            &mut loaded,
            (idb::SCHEMA_VERSION, old),
            durability == Durability::Strict,
            reports.clone(),
            notify,
        );
        let core = Broker::restore(
            cfg,
            Box::new(hooks),
            loaded.snapshot,
            millis(js_sys::Date::now()),
        );
        Ok(WasmBroker::with_core(
            core,
            Some(Rc::new(persister)),
            reports,
        ))
    }

    /// A broker whose store the host keeps (the Node host's SQLite
    /// database): restored from `rows`, what the store holds as put
    /// operations (the layout is in `store/wire.rs`). Records that do not
    /// read are skipped, each reported by an `error` event with code
    /// ERR_TABMQ_CORRUPT_RECORD. The host then takes each commit with
    /// `pollStorage` and reports it with `handlePersisted`.
    #[wasm_bindgen(js_name = openStored)]
    pub fn open_stored(
        options: JsValue,
        hooks: JsValue,
        rows: &[u8],
        now: f64,
    ) -> Result<WasmBroker, JsValue> {
        let cfg = options::parse(options)?;
        let hooks = hooks::JsHooks::from_js(&hooks)?;
        let loaded = crate::store::wire::load(rows);
        let reports: Rc<Reports> = Rc::default();
        for c in &loaded.corrupt {
            let message = format!("tabmq: skipped a stored record: {c}");
            reports.push_event(persist::error_event("ERR_TABMQ_CORRUPT_RECORD", &message));
        }
        let core = Broker::restore(cfg, Box::new(hooks), loaded.snapshot, millis(now));
        let mut broker = WasmBroker::with_core(core, None, reports);
        broker.host_store = true;
        Ok(broker)
    }

    /// The next commit for a host-kept store (`openStored`): every storage
    /// batch since the last call as one buffer (its ticket, then the
    /// operations; `store/wire.rs`), or undefined when there is none. The
    /// host calls it when its previous commit has finished, so that what
    /// accumulates meanwhile goes out together (group commit), and reports
    /// the commit with `handlePersisted(ticket)`.
    #[wasm_bindgen(js_name = pollStorage)]
    pub fn poll_storage(&mut self) -> Option<Uint8Array> {
        if !self.host_store {
            return None;
        }
        let out = &mut self.storage_out;
        out.clear();
        let mut ticket = 0;
        while let Some(batch) = self.core.poll_storage() {
            if ticket == 0 {
                out.extend_from_slice(&[0; 8]);
            }
            ticket = batch.ticket;
            for op in &batch.ops {
                crate::store::wire::encode_op(op, out);
            }
        }
        if ticket == 0 {
            return None;
        }
        out[..8].copy_from_slice(&(ticket as f64).to_le_bytes());
        let buffer = Uint8Array::from(&out[..]);
        if out.capacity() > PACKED_KEEP {
            *out = Vec::new();
        }
        Some(buffer)
    }

    /// Storage batches up to and including `ticket` are durable (a host-kept
    /// store's commit finished): what waited for them is released at the
    /// next `pollTransmit`.
    #[wasm_bindgen(js_name = handlePersisted)]
    pub fn handle_persisted(&mut self, ticket: f64) {
        if ticket.is_finite() && ticket > 0.0 {
            self.core.handle_persisted(ticket as u64);
        }
    }

    /// The host's store is full (past maxStoreBytes, or failing to commit)
    /// or recovers: while full, QoS 1/2 PUBLISHes that would be stored are
    /// refused with 0x97.
    #[wasm_bindgen(js_name = handleStorageFull)]
    pub fn handle_storage_full(&mut self, full: bool) {
        self.core.handle_storage_full(full);
    }

    /// The transport authenticated the peer of `conn` as `identity` (a TLS
    /// client certificate's CN): it is the client's username, and no
    /// password is needed. Call right after `handleOpen`.
    #[wasm_bindgen(js_name = handleIdentity)]
    pub fn handle_identity(&mut self, conn: u32, identity: &str) {
        self.core.handle_identity(ConnId(conn.into()), identity);
    }

    /// Replaces the access settings given in `options` (`passwordFile`,
    /// `users`, `acl`, `allowAnonymous`; see `access.rs`), for every
    /// session at once (clients whose user is gone are disconnected with
    /// 0x87). Throws ERR_TABMQ_OPTION, naming the option and the line, for
    /// a file that does not read; nothing changes then.
    #[wasm_bindgen(js_name = setAccess)]
    pub fn set_access(&mut self, options: JsValue, now: f64) -> Result<(), JsValue> {
        let access = access::parse(&options, &self.core.config().access)?;
        self.core.set_access(access, millis(now));
        Ok(())
    }

    /// A new connection `conn` (the host's id for it).
    #[wasm_bindgen(js_name = handleOpen)]
    pub fn handle_open(&mut self, conn: u32, now: f64) {
        self.core.handle_open(ConnId(conn.into()), millis(now));
    }

    /// Bytes from the client of `conn`, as they came (any split).
    #[wasm_bindgen(js_name = handleBytes)]
    pub fn handle_bytes(&mut self, conn: u32, data: &[u8], now: f64) {
        self.core
            .handle_bytes(ConnId(conn.into()), data, millis(now));
    }

    /// The network side of `conn` ended.
    #[wasm_bindgen(js_name = handleClosed)]
    pub fn handle_closed(&mut self, conn: u32, now: f64) {
        self.core.handle_closed(ConnId(conn.into()), millis(now));
    }

    /// The deadline `pollTimeout` gave has passed.
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now: f64) {
        self.core.handle_timeout(millis(now));
    }

    /// The network is back (the browser's `online` event): bridges waiting
    /// to reconnect try at once.
    #[wasm_bindgen(js_name = handleOnline)]
    pub fn handle_online(&mut self, now: f64) {
        self.core.handle_online(millis(now));
    }

    /// Takes bridge `name`'s link down (`paused` true) or brings it back;
    /// false if there is no such bridge.
    #[wasm_bindgen(js_name = handleBridgePause)]
    pub fn handle_bridge_pause(&mut self, name: &str, paused: bool, now: f64) -> bool {
        self.core.handle_bridge_pause(name, paused, millis(now))
    }

    /// The next connection a bridge needs, or undefined: `{ conn, bridge,
    /// url }`. The host opens it and reports it as any connection:
    /// `handleOpen(conn)` once open (or `handleClosed(conn)` if it failed),
    /// then `handleBytes`/`handleClosed`; its bytes come from `pollTransmit`.
    #[wasm_bindgen(js_name = pollDial)]
    pub fn poll_dial(&mut self) -> Option<Object> {
        let d = self.core.poll_dial()?;
        let obj = Object::new();
        let _ = Reflect::set(&obj, &"conn".into(), &(d.conn.0 as u32).into());
        let _ = Reflect::set(&obj, &"bridge".into(), &d.bridge.into());
        let _ = Reflect::set(&obj, &"url".into(), &d.url.into());
        Some(obj)
    }

    /// Closes every connection (DISCONNECT 0x8B to MQTT 5 clients).
    #[wasm_bindgen(js_name = handleShutdown)]
    pub fn handle_shutdown(&mut self, now: f64) {
        self.core.handle_shutdown(millis(now));
    }

    /// The host's answer to an authenticate hook that returned a Promise.
    #[wasm_bindgen(js_name = handleAuthDecision)]
    pub fn handle_auth_decision(
        &mut self,
        conn: u32,
        decision: JsValue,
        now: f64,
    ) -> Result<(), JsValue> {
        let decision = hooks::decision_from_js(&decision)?;
        self.core
            .handle_auth_decision(ConnId(conn.into()), decision, millis(now));
        Ok(())
    }

    /// Everything to send now, in one crossing: one `Uint8Array`, or
    /// `undefined` when there is nothing. For `n` connections it holds, in
    /// order (u32s little-endian, as in wasm memory; the array starts its
    /// own buffer, so they are 4-byte aligned):
    ///
    /// | bytes          | what                                            |
    /// |----------------|-------------------------------------------------|
    /// | 4              | `n`                                             |
    /// | 4 × n          | `conns`: u32 connection ids                     |
    /// | 4 × n          | `ends`: u32 end of each one's bytes in `data`   |
    /// | n              | `closes`: 1 if the connection is closed after   |
    /// | rest           | `data`: every connection's bytes, back to back  |
    ///
    /// Connection `conns[i]` gets `data[ends[i - 1] .. ends[i]]` (from 0 for
    /// `i = 0`; possibly empty), then is closed if `closes[i]`. The host
    /// reads it with `readTransmits()` (`www/shared/host.js`) as `{ conns:
    /// Uint32Array, ends: Uint32Array, closes: Uint8Array, data: Uint8Array }`
    /// views. One buffer, not an object of four typed arrays: building
    /// that object in Rust takes a dozen wasm-to-JS calls per poll, and
    /// measured slower (the packed buffer: 1.08-1.31x the messages per
    /// second through the host, docs/performance.md).
    /// The buffer is a fresh copy each call, so views of it may be kept;
    /// they share it, so a host that transfers a connection's bytes must
    /// copy them first.
    ///
    /// Storage goes first: tickets the store reported finished are applied,
    /// and new batches are handed to the store (with no store, or after a
    /// storage failure, they count as persisted at once), so whatever that
    /// releases leaves in this same call.
    #[wasm_bindgen(js_name = pollTransmit)]
    pub fn poll_transmit(&mut self) -> Option<Uint8Array> {
        self.host_storage();
        while let Some(t) = self.core.poll_transmit() {
            self.packed.transmits.push(t);
        }
        self.packed.pack()
    }

    /// When to call `handleTimeout` next (ms since the epoch), or undefined.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.core.poll_timeout().map(|m| m.0 as f64)
    }

    /// Every event since the last call, in one Array (oldest first), or
    /// `undefined` when there is none: connects, disconnects, rejections,
    /// drops, and `error` events (storage trouble; `code` and `message`).
    #[wasm_bindgen(js_name = pollEvents)]
    pub fn poll_events(&mut self) -> Option<Array> {
        let mut out: Option<Array> = None;
        let mut push = |e: &JsValue| out.get_or_insert_with(Array::new).push(e);
        for e in self.reports.take_events() {
            push(&e);
        }
        while let Some(e) = self.core.poll_event() {
            push(&event_to_js(&e));
        }
        out
    }

    /// Sessions and retained messages, for an inspector (cold path):
    /// `{ clients: [{ clientId, connected, protocolVersion, sessionExpiry,
    /// subscriptions: [{ filter, qos }], inflight, queued }], retained:
    /// [{ topic, payload: Uint8Array, qos }] }` (at most `retained_limit`).
    pub fn inspect(&self, retained_limit: u32) -> Result<JsValue, JsValue> {
        options::inspect_to_js(
            &self.core.stats(Millis(0)).bridges,
            &self.core.clients(),
            &self.core.retained_messages(retained_limit as usize),
        )
    }

    /// Counters, plus `storage` figures when IndexedDB is attached.
    pub fn stats(&self, now: f64) -> Result<JsValue, JsValue> {
        let core = self.core.stats(millis(now));
        let stats = options::stats_to_js(&core)?;
        if let Some(p) = &self.persister {
            Reflect::set(&stats, &"storage".into(), &p.figures(core.stored_records))?;
        }
        Ok(stats)
    }

    /// Closes the database connection (after `handleShutdown` and a last
    /// poll).
    #[wasm_bindgen(js_name = closeStorage)]
    pub fn close_storage(&mut self) {
        if let Some(p) = self.persister.take() {
            p.close();
        }
    }
}

impl WasmBroker {
    fn with_core(core: Broker, persister: Option<Rc<Persister>>, reports: Rc<Reports>) -> Self {
        WasmBroker {
            core,
            persister,
            reports,
            packed: PackedTransmits::default(),
            host_store: false,
            storage_out: Vec::new(),
        }
    }

    /// The storage host's turn: finished tickets in, new batches out.
    fn host_storage(&mut self) {
        let core = &mut self.core;
        if let Some(ticket) = self.reports.take_finished() {
            core.handle_persisted(ticket);
        }
        if self.host_store {
            return; // the host takes batches with pollStorage
        }
        match &self.persister {
            Some(p) => {
                while let Some(batch) = core.poll_storage() {
                    p.enqueue(batch);
                }
                if let Some(ticket) = p.kick() {
                    // Nothing to write (an empty batch, or the store has
                    // failed and the broker serves from memory).
                    core.handle_persisted(ticket);
                }
            }
            None => {
                while let Some(batch) = core.poll_storage() {
                    core.handle_persisted(batch.ticket);
                }
            }
        }
    }
}

fn event_to_js(e: &Event) -> JsValue {
    let obj = Object::new();
    // Setting a property on a plain new object cannot fail.
    let set = |k: &str, v: JsValue| {
        let _ = Reflect::set(&obj, &k.into(), &v);
    };
    match e {
        Event::Connected {
            conn,
            client_id,
            protocol,
            session_present,
        } => {
            set("type", "connected".into());
            set("conn", (conn.0 as u32).into());
            set("clientId", (&**client_id).into());
            set("protocolVersion", (*protocol as u8).into());
            set("sessionPresent", (*session_present).into());
        }
        Event::Rejected { conn, reason } => {
            set("type", "rejected".into());
            set("conn", (conn.0 as u32).into());
            set("reasonCode", (*reason as u8).into());
        }
        Event::Disconnected {
            conn,
            client_id,
            reason,
            detail,
        } => {
            set("type", "disconnected".into());
            set("conn", (conn.0 as u32).into());
            set(
                "clientId",
                client_id
                    .as_deref()
                    .map_or(JsValue::UNDEFINED, JsValue::from),
            );
            set(
                "reasonCode",
                reason.map_or(JsValue::UNDEFINED, |r| (r as u8).into()),
            );
            set(
                "detail",
                detail.as_deref().map_or(JsValue::UNDEFINED, JsValue::from),
            );
        }
        Event::Bridge {
            name,
            state,
            reason,
            error,
        } => {
            set("type", "bridge".into());
            set("name", (&**name).into());
            set("state", state.name().into());
            set(
                "reasonCode",
                reason.map_or(JsValue::UNDEFINED, |r| (r as u8).into()),
            );
            set(
                "error",
                error.as_deref().map_or(JsValue::UNDEFINED, JsValue::from),
            );
        }
        Event::Denied {
            conn,
            client_id,
            action,
            topic,
        } => {
            set("type", "denied".into());
            set("conn", (conn.0 as u32).into());
            set("clientId", (&**client_id).into());
            set("action", (*action).into());
            set("topic", (&**topic).into());
        }
        Event::Dropped {
            client_id,
            topic,
            why,
        } => {
            set("type", "dropped".into());
            set("clientId", (&**client_id).into());
            set("topic", (&**topic).into());
            set("why", format!("{why:?}").into());
        }
        Event::Published { id, reason } => {
            return host_client::answer_to_js("published", *id, *reason)
        }
        Event::Subscribed { id, reason } => {
            return host_client::answer_to_js("subscribed", *id, *reason)
        }
        Event::Unsubscribed { id, reason } => {
            return host_client::answer_to_js("unsubscribed", *id, *reason)
        }
        Event::Message { id, publish } => return host_client::message_to_js(*id, publish),
    }
    obj.into()
}

/// Checks broker options without starting a broker: throws the same coded
/// `Error` the constructor would.
#[wasm_bindgen(js_name = validateOptions)]
pub fn validate_options(options: JsValue) -> Result<(), JsValue> {
    options::parse(options).map(|_| ())
}
