//! Group commit between the core and IndexedDB. Batches from
//! `Broker::poll_storage` queue up here; at most one transaction is in
//! flight, and everything queued while it runs goes out together in the
//! next one: a log entry, or every `log::COMPACT_ENTRIES` entries a
//! compaction (see idb.rs). The persister never touches the core: when a transaction
//! commits, it writes the newest ticket the transaction held into
//! `Reports` and calls the host's `notify`, so that the host polls; the
//! broker's owner (`WasmBroker`) then tells the core with
//! `handle_persisted` (releasing acknowledgements held under 'strict') and
//! sends what that releases in the same poll.
//!
//! If IndexedDB fails (quota exceeded, the database closed under us), the
//! failure is reported once as an `error` event and the broker keeps serving
//! from memory: later batches count as persisted at once, without being
//! written.

use super::idb;
use crate::store::log::LogWindow;
use crate::store::{wire, StorageBatch, StorageOp, Ticket};
use indexed_db_futures::database::Database;
use js_sys::{Function, Object, Reflect};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use wasm_bindgen::JsValue;

/// Storage figures for `stats().storage`.
#[derive(Default)]
struct Figures {
    commits: u64,
    ops_written: u64,
    bytes_written: u64,
    last_commit_at: f64,
    last_commit_ms: f64,
    corrupt_skipped: usize,
    compactions: u64,
    /// Durations of the most recent commits (ms), for percentiles.
    recent_ms: VecDeque<f64>,
    /// Operations per commit, most recent first out, same window.
    recent_ops: VecDeque<usize>,
}

/// How many recent commits the percentiles cover.
const RECENT: usize = 1024;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// What the persister reports to the broker's owner, which reads it when
/// the host next polls. Shared between the two; only the owner acts on it.
#[derive(Default)]
pub struct Reports {
    /// The newest ticket whose transaction has finished (0: none since the
    /// last `take_finished`).
    finished: Cell<Ticket>,
    /// `error` events for the broker handle (storage failures, records
    /// skipped at start-up).
    events: RefCell<Vec<JsValue>>,
}

impl Reports {
    /// The newest finished ticket since the last call, if any.
    pub fn take_finished(&self) -> Option<Ticket> {
        Some(self.finished.replace(0)).filter(|&t| t != 0)
    }

    fn finished(&self, ticket: Ticket) {
        self.finished.set(self.finished.get().max(ticket));
    }

    pub fn push_event(&self, event: JsValue) {
        self.events.borrow_mut().push(event);
    }

    /// Every queued event, oldest first.
    pub fn take_events(&self) -> Vec<JsValue> {
        std::mem::take(&mut *self.events.borrow_mut())
    }
}

pub struct Persister {
    db: Database,
    name: String,
    queue: RefCell<Vec<StorageOp>>,
    queued_ticket: Cell<Ticket>,
    /// What the log holds since the last compaction.
    window: RefCell<LogWindow>,
    next_log_key: Cell<u64>,
    busy: Cell<bool>,
    failed: RefCell<Option<String>>,
    figures: RefCell<Figures>,
    schema: (u32, u32),
    /// Commit with IndexedDB's strict durability (for `Durability::Strict`).
    flush: bool,
    reports: Rc<Reports>,
    /// The host's `notify`: called when a transaction finished, so that the
    /// host polls.
    notify: Function,
}

fn set(obj: &Object, key: &str, value: JsValue) {
    // Setting a property on a plain new object cannot fail.
    let _ = Reflect::set(obj, &key.into(), &value);
}

/// An `error` event for the broker handle.
pub fn error_event(code: &str, message: &str) -> JsValue {
    let e = Object::new();
    set(&e, "type", "error".into());
    set(&e, "code", code.into());
    set(&e, "message", message.into());
    e.into()
}

impl Persister {
    pub fn new(
        db: Database,
        name: &str,
        loaded: &mut idb::Loaded,
        schema: (u32, u32),
        flush: bool,
        reports: Rc<Reports>,
        notify: Function,
    ) -> Persister {
        let figures = Figures {
            corrupt_skipped: loaded.corrupt.len(),
            ..Figures::default()
        };
        Persister {
            db,
            name: name.to_owned(),
            queue: RefCell::new(Vec::new()),
            queued_ticket: Cell::new(0),
            window: RefCell::new(std::mem::take(&mut loaded.window)),
            next_log_key: Cell::new(loaded.next_log_key),
            busy: Cell::new(false),
            failed: RefCell::new(None),
            figures: RefCell::new(figures),
            schema,
            flush,
            reports,
            notify,
        }
    }

    pub fn enqueue(&self, batch: StorageBatch) {
        self.queue.borrow_mut().extend(batch.ops);
        self.queued_ticket.set(batch.ticket);
    }

    /// Starts a transaction for what is queued, unless one is in flight.
    /// After a storage failure nothing is written: returns the ticket of
    /// what was queued, for the caller to count as persisted at once.
    #[must_use]
    pub fn kick(self: &Rc<Self>) -> Option<Ticket> {
        if self.busy.get() || self.queued_ticket.get() == 0 {
            return None;
        }
        let ticket = self.queued_ticket.replace(0);
        let ops = std::mem::take(&mut *self.queue.borrow_mut());
        if ops.is_empty() || self.failed.borrow().is_some() {
            // Everything queued cancelled out (see src/store/pending.rs),
            // or serving from memory since a failure: nothing to write, and
            // no transaction is in flight, so it counts as persisted now.
            return Some(ticket);
        }
        // A log entry, unless this commit compacts: then the window, this
        // batch included, goes to the record stores and the log empties.
        let mut entry = Vec::new();
        wire::encode_batch(ticket, &ops, &mut entry);
        let op_count = ops.len();
        let compaction = {
            let mut w = self.window.borrow_mut();
            w.append(ops, entry.len());
            w.compaction_due().then(|| w.take())
        };
        let key = self.next_log_key.get();
        if compaction.is_none() {
            self.next_log_key.set(key + 1);
        }
        self.busy.set(true);
        let me = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let started = js_sys::Date::now();
            let result = match &compaction {
                Some(table_ops) => idb::compact(&me.db, table_ops, me.flush).await,
                None => idb::append(&me.db, key, &entry, me.flush)
                    .await
                    .map(|()| entry.len()),
            };
            if result.is_ok() && compaction.is_some() {
                me.figures.borrow_mut().compactions += 1;
            }
            me.finish(result, op_count, started);
            me.reports.finished(ticket);
            me.busy.set(false);
            // The host polls: the owner applies the ticket, held
            // acknowledgements leave, and whatever was queued meanwhile
            // goes out in the next transaction.
            let _ = me.notify.call0(&JsValue::NULL);
        });
        None
    }

    fn finish(&self, result: Result<usize, JsValue>, ops: usize, started: f64) {
        let now = js_sys::Date::now();
        match result {
            Ok(bytes) => {
                let mut f = self.figures.borrow_mut();
                f.commits += 1;
                f.ops_written += ops as u64;
                f.bytes_written += bytes as u64;
                f.last_commit_at = now;
                f.last_commit_ms = now - started;
                if f.recent_ms.len() == RECENT {
                    f.recent_ms.pop_front();
                    f.recent_ops.pop_front();
                }
                f.recent_ms.push_back(now - started);
                f.recent_ops.push_back(ops);
            }
            Err(e) => {
                let why = e.as_string().unwrap_or_else(|| format!("{e:?}"));
                let message = format!(
                    "tabmq: IndexedDB storage of broker '{}' failed ({why}); the broker keeps serving from memory, \
                     and its database is cleared so that a later start does not restore outdated state: \
                     what the broker holds now is not kept across a reload",
                    self.name
                );
                self.reports
                    .push_event(error_event("ERR_TABMQ_STORAGE", &message));
                *self.failed.borrow_mut() = Some(why);
                // Best effort: deletes need next to no quota.
                let db = self.db.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = idb::clear(&db).await;
                });
            }
        }
    }

    /// `stats().storage`: what the store holds and how commits go.
    /// `records`: how many records the store holds once what is pending is
    /// written (the core counts them).
    pub fn figures(self: &Rc<Self>, records: usize) -> JsValue {
        let f = self.figures.borrow();
        let o = Object::new();
        set(&o, "enabled", (self.failed.borrow().is_none()).into());
        set(&o, "database", idb::db_name(&self.name).into());
        set(&o, "schemaVersion", self.schema.0.into());
        set(&o, "upgradedFrom", self.schema.1.into());
        set(&o, "records", (records as f64).into());
        set(&o, "bytesWritten", (f.bytes_written as f64).into());
        set(&o, "pendingOps", (self.queue.borrow().len() as f64).into());
        set(&o, "commitInFlight", self.busy.get().into());
        set(&o, "commits", (f.commits as f64).into());
        set(&o, "opsWritten", (f.ops_written as f64).into());
        set(&o, "lastCommitAt", f.last_commit_at.into());
        set(&o, "lastCommitMs", f.last_commit_ms.into());
        set(&o, "corruptSkipped", (f.corrupt_skipped as f64).into());
        set(&o, "compactions", (f.compactions as f64).into());
        let log_entries = self.window.borrow().entries();
        set(&o, "logEntries", (log_entries as f64).into());
        let mut sorted: Vec<f64> = f.recent_ms.iter().copied().collect();
        crate::broker::sort::sort_by(&mut sorted, f64::total_cmp);
        set(&o, "commitMsP50", percentile(&sorted, 0.5).into());
        set(&o, "commitMsP99", percentile(&sorted, 0.99).into());
        let ops: usize = f.recent_ops.iter().sum();
        let per_commit = if f.recent_ops.is_empty() {
            0.0
        } else {
            ops as f64 / f.recent_ops.len() as f64
        };
        set(&o, "opsPerCommit", per_commit.into());
        if let Some(e) = &*self.failed.borrow() {
            set(&o, "error", e.as_str().into());
        }
        o.into()
    }

    pub fn close(&self) {
        self.db.clone().close();
    }
}
