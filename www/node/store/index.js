// DiskStore: the Node host's side of its store. The database lives in a
// worker thread (worker.js, sqlite.js); this class hands it one commit at a
// time (group commit: what the core stores meanwhile waits in the core and
// goes out in the next one), tells the host when a commit is durable, and
// keeps the figures of `stats().storage`.

import { Worker } from 'node:worker_threads';
import { mkdir, stat, access, constants } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { TabmqError } from '../../shared/errors.js';

/** How many recent commits the percentiles cover. */
const RECENT = 1024;

/** Starts the storage worker for `workerData` and waits for its first
 *  message: { worker, first } ('opened' or 'error'). */
async function spawn(workerData) {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData });
  let listeners;
  const first = await new Promise((ok, fail) => {
    const exit = (code) => fail(new Error(`the storage worker exited (${code})`));
    listeners = { message: ok, error: fail, exit };
    for (const [name, fn] of Object.entries(listeners)) worker.once(name, fn);
  }).catch((err) => ({ type: 'error', code: 'ERR_TABMQ_STORAGE', message: `tabmq: the storage worker for ${workerData.dir} failed: ${err.message}` }));
  // Only these: Worker keeps listeners of its own (removeAllListeners
  // would stop its messages from arriving).
  for (const [name, fn] of Object.entries(listeners)) worker.off(name, fn);
  if (first.type !== 'opened') await worker.terminate();
  return { worker, first };
}

function percentile(sorted, p) {
  return sorted.length === 0 ? 0 : sorted[Math.round((sorted.length - 1) * p)];
}

/** The data directory, ready to use: created if missing (its parent must
 *  exist), refused with a message naming the path if it cannot be used. */
async function prepareDirectory(dir) {
  const path = resolve(dir);
  const refuse = (why) => new TabmqError(`tabmq: data directory ${path} ${why}`, 'ERR_TABMQ_STORAGE');
  let info = await stat(path).catch((err) => (err.code === 'ENOENT' ? null : Promise.reject(refuse(`cannot be read (${err.code})`))));
  if (info === null) {
    await mkdir(path).catch((err) => {
      throw refuse(err.code === 'ENOENT' ? `does not exist, nor does its parent ${dirname(path)}` : `cannot be created (${err.code})`);
    });
    info = await stat(path);
  }
  if (!info.isDirectory()) throw refuse('is not a directory');
  await access(path, constants.R_OK | constants.W_OK | constants.X_OK).catch((err) => {
    throw refuse(`is not writable (${err.code})`);
  });
  return path;
}

export class DiskStore {
  #worker;
  #opts;
  #workerData;
  #busy = false;
  /** The commit in flight, kept until it is durable: a worker that dies
   *  takes its (transferred) copy along, and a new one is sent this. */
  #inflight = null;
  #countAskedAt = 0;
  #sentAt = 0;
  #stalled = null;
  /** Over maxStoreBytes. */
  #over = false;
  /** What the core was last told: stalled or over. */
  #full = false;
  #closed = null;
  #host = { persisted() {}, full() {}, event() {} };
  #fig = {
    records: 0, commits: 0, opsWritten: 0, bytesWritten: 0, lastCommitAt: 0, lastCommitMs: 0,
    size: { live: 0, file: 0, free: 0 }, compactions: 0,
  };
  #recentMs = [];
  #recentOps = [];
  /** Called with each commit's duration in ms (the metrics' histogram). */
  onCommit = null;
  /** What the database held at start-up (put operations, src/store/wire.rs). */
  rows;
  /** Records the core could not read at start-up (skipped, reported). */
  corruptSkipped = 0;
  info;

  /**
   * Opens the store in `dir` in a worker thread and reads it back.
   * `durability`: 'strict' | 'relaxed'; `maxStoreBytes`: past it, the
   * store counts as full (0: no limit). Rejects with a TabmqError:
   * ERR_TABMQ_STORAGE_LOCKED (another process has the directory) or
   * ERR_TABMQ_STORAGE (the directory or database cannot be used).
   */
  static async open({ dir, durability, maxStoreBytes = 0, schemaVersion, compactEveryMs }) {
    const path = await prepareDirectory(dir);
    const workerData = { dir: path, durability, schemaVersion, compactEveryMs, sizeEveryCommit: maxStoreBytes > 0 };
    const { worker, first } = await spawn(workerData);
    if (first.type !== 'opened') {
      throw new TabmqError(first.message, first.code === 'ERR_TABMQ_STORAGE_LOCKED' ? first.code : 'ERR_TABMQ_STORAGE');
    }
    return new DiskStore(worker, first, { dir: path, durability, maxStoreBytes }, workerData);
  }

  constructor(worker, opened, opts, workerData) {
    this.#opts = opts;
    this.#workerData = workerData;
    this.rows = opened.rows;
    this.#fig.records = opened.records;
    this.#fig.size = opened.size;
    this.info = { path: opened.path, schemaVersion: opened.schemaVersion, upgradedFrom: opened.upgradedFrom };
    this.#adopt(worker);
  }

  #adopt(worker) {
    this.#worker = worker;
    worker.on('message', (m) => this.#onMessage(m));
    worker.on('error', (err) => this.#lost(worker, `the storage worker crashed: ${err.message}`));
    worker.on('exit', () => this.#lost(worker, 'the storage worker exited'));
  }

  /** The worker died (a native crash, out of memory): stalled until a new
   *  one has the database, then the commit in flight is sent again (its
   *  ops are idempotent puts and deletes, and nothing after it was sent). */
  #lost(worker, why) {
    if (this.#closed || worker !== this.#worker) return;
    this.#worker = null;
    this.#stall({ code: 'ERR_TABMQ_STORAGE', message: why });
    const retry = async () => {
      if (this.#closed) return;
      const { worker: next, first } = await spawn(this.#workerData);
      if (first.type !== 'opened' || this.#closed) {
        if (first.type === 'opened') await next.terminate();
        setTimeout(retry, 1000);
        return;
      }
      this.#adopt(next);
      if (this.#inflight) this.#send(this.#inflight);
    };
    setTimeout(retry, 1000);
  }

  /** Where to report: `persisted(ticket)`, `full(bool)` (stored QoS 1/2
   *  publishes are to be refused, or no longer), `event(e)`. */
  attach(host) {
    this.#host = host;
    // Full from the start (a database already past maxStoreBytes).
    this.#updateFull();
  }

  /** A commit is in flight (or stalled): the next waits in the core. */
  get busy() {
    return this.#busy;
  }

  /** Sends one commit (pollStorage's buffer, handed over). */
  commit(buf) {
    if (this.#closed) return;
    this.#busy = true;
    this.#inflight = buf;
    this.#sentAt = performance.now();
    if (this.#worker) this.#send(buf);
  }

  /** A copy goes to the worker (transferred), the original stays until
   *  the commit is durable. */
  #send(buf) {
    const copy = buf.slice();
    this.#worker.postMessage({ type: 'commit', buf: copy }, [copy.buffer]);
  }

  #onMessage(m) {
    if (m.type === 'committed') {
      const f = this.#fig;
      const ms = performance.now() - this.#sentAt;
      f.commits++;
      f.opsWritten += m.ops;
      f.bytesWritten += m.bytes;
      f.lastCommitAt = Date.now();
      f.lastCommitMs = ms;
      this.onCommit?.(ms);
      if (m.size) f.size = m.size;
      f.compactions = m.compactions;
      if (this.#recentMs.length === RECENT) {
        this.#recentMs.shift();
        this.#recentOps.shift();
      }
      this.#recentMs.push(ms);
      this.#recentOps.push(m.ops);
      this.#busy = false;
      this.#inflight = null;
      if (this.#stalled) {
        this.#stalled = null;
        this.#host.event({ type: 'storage', state: 'recovered', path: this.info.path });
      }
      this.#updateFull();
      this.#host.persisted(m.ticket);
    } else if (m.type === 'counted') {
      this.#fig.records = m.records;
    } else if (m.type === 'stalled') {
      this.#stall(m);
    } else if (m.type === 'closed') {
      this.#closed?.done();
    }
  }

  #stall({ code, message }) {
    if (this.#stalled) return;
    this.#stalled = { code, message, since: Date.now() };
    const full = code === 'SQLITE_FULL' ? ' (the disk is full)' : '';
    this.#host.event({
      type: 'error',
      code: 'ERR_TABMQ_STORAGE',
      message: `tabmq: writing the database ${this.info.path} failed${full}: ${message}. `
        + 'The broker keeps serving from memory: acknowledgements that wait for this commit are withheld, '
        + 'and QoS 1/2 messages that would be stored are refused (0x97) until a retry succeeds',
    });
    this.#host.event({ type: 'storage', state: 'stalled', path: this.info.path, error: message });
    this.#updateFull();
  }

  #updateFull() {
    const max = this.#opts.maxStoreBytes;
    // Full past the limit; not full again until 5% below it, so that a
    // store at the limit does not flip with every commit.
    const live = this.#fig.size.live;
    const over = max > 0 && (this.#over ? live > max * 0.95 : live > max);
    if (over !== this.#over) {
      this.#over = over;
      this.#host.event({ type: 'storage', state: over ? 'full' : 'ok', path: this.info.path, bytes: this.#fig.size.live });
    }
    const full = over || this.#stalled !== null;
    if (full === this.#full) return;
    this.#full = full;
    this.#host.full(full);
  }

  /** `stats().storage`. The record count is refreshed in the background
   *  when it is older than 2 s, so it may lag one call behind. */
  figures() {
    const f = this.#fig;
    const now = Date.now();
    if (this.#worker && !this.#closed && now - this.#countAskedAt >= 2000) {
      this.#countAskedAt = now;
      this.#worker.postMessage({ type: 'count' });
    }
    const sorted = [...this.#recentMs].sort((a, b) => a - b);
    const ops = this.#recentOps.reduce((n, x) => n + x, 0);
    const out = {
      enabled: true,
      path: this.info.path,
      durability: this.#opts.durability,
      schemaVersion: this.info.schemaVersion,
      upgradedFrom: this.info.upgradedFrom,
      records: f.records,
      bytes: f.size.live,
      fileBytes: f.size.file,
      maxStoreBytes: this.#opts.maxStoreBytes,
      full: this.#full,
      bytesWritten: f.bytesWritten,
      commitInFlight: this.#busy,
      commits: f.commits,
      opsWritten: f.opsWritten,
      lastCommitAt: f.lastCommitAt,
      lastCommitMs: f.lastCommitMs,
      commitMsP50: percentile(sorted, 0.5),
      commitMsP99: percentile(sorted, 0.99),
      opsPerCommit: this.#recentOps.length === 0 ? 0 : ops / this.#recentOps.length,
      compactions: f.compactions,
      corruptSkipped: this.corruptSkipped,
    };
    if (this.#stalled) out.error = this.#stalled.message;
    return out;
  }

  /** Closes the database (after the host's last commit) and the worker. */
  async close() {
    if (this.#closed) return this.#closed.promise;
    let done;
    const promise = new Promise((ok) => (done = ok));
    if (this.#stalled) {
      this.#host.event({
        type: 'error',
        code: 'ERR_TABMQ_STORAGE',
        message: `tabmq: closing while writing ${this.info.path} fails (${this.#stalled.message}): `
          + 'what the broker changed since its last commit is not on disk (under strict, the acknowledgements that waited for it were never sent)',
      });
    }
    this.#closed = { promise, done };
    if (!this.#worker) return undefined;
    this.#worker.postMessage({ type: 'close' });
    const timeout = setTimeout(done, 5000);
    await promise;
    clearTimeout(timeout);
    await this.#worker.terminate();
    return undefined;
  }

  /** Stops at once, as a crash would (nothing more is written). */
  abandon() {
    this.#closed ??= { promise: Promise.resolve(), done() {} };
    void this.#worker?.terminate();
  }
}
