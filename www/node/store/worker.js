// The store's worker thread: owns the SQLite database (sqlite.js), so that
// commits, fsyncs and compaction never run on the event loop that routes
// messages. It answers the main thread's DiskStore (index.js):
//   start          -> { type: 'opened', rows, records, ... } | { type: 'error', code, message }
//   { commit }     -> { type: 'committed', ticket, ops, bytes, size, compactions }
//                     or, if it fails, { type: 'stalled', code, message } once,
//                     then the same commit is retried every second until it
//                     goes through (then 'committed').
//   { count }      -> { type: 'counted', records } (asked for when someone
//                     looks at stats, at most every 2 s)
//   { close }      -> { type: 'closed' }
// Housekeeping (counting, compaction) runs after a commit's reply, never
// between a commit and the acknowledgements it releases.

import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStore } from './sqlite.js';

const RETRY_MS = 1000;
const { dir, durability, schemaVersion, compactEveryMs = 60_000, sizeEveryCommit = false } = workerData;
/** How often the database's size is read for stats when no maxStoreBytes
 *  needs it after every commit (three pragmas: a few % of a small commit). */
const SIZE_EVERY_MS = 1000;

let store;
try {
  store = new SqliteStore(dir, { durability, schemaVersion });
} catch (err) {
  parentPort.postMessage({ type: 'error', code: err.code ?? 'ERR_TABMQ_STORAGE', message: err.message });
}

if (store) {
  let loaded;
  try {
    loaded = store.load();
  } catch (err) {
    store.close();
    store = null;
    parentPort.postMessage({ type: 'error', code: 'ERR_TABMQ_STORAGE', message: `tabmq: cannot read the database in ${dir}: ${err.message}` });
  }
  if (loaded) {
    parentPort.postMessage({
      type: 'opened',
      rows: loaded.rows,
      records: loaded.records,
      path: store.path,
      schemaVersion: store.schemaVersion,
      upgradedFrom: store.upgradedFrom,
      size: store.size(),
    }, [loaded.rows.buffer]);
  }
}

let stalled = false;
let retry = null;
let sizedAt = 0;
let compactedAt = Date.now();
let compactions = 0;

function commit(buf) {
  retry = null;
  let reply;
  try {
    const result = store.commit(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
    reply = { type: 'committed', ...result, compactions };
    const now = Date.now();
    if (sizeEveryCommit || now - sizedAt >= SIZE_EVERY_MS) {
      sizedAt = now;
      reply.size = store.size();
    }
  } catch (err) {
    if (!stalled) {
      stalled = true;
      parentPort.postMessage({ type: 'stalled', code: err.code ?? 'ERR_TABMQ_STORAGE', message: err.message });
    }
    retry = setTimeout(() => commit(buf), RETRY_MS);
    return;
  }
  stalled = false;
  parentPort.postMessage(reply);
  if (Date.now() - compactedAt >= compactEveryMs) compact(Date.now());
}

function compact(now) {
  compactedAt = now;
  try {
    store.compact();
    compactions++;
  } catch {
    // A busy or full disk: the next round tries again.
  }
}

// Idle brokers compact too.
const idle = setInterval(() => {
  if (store && !stalled && Date.now() - compactedAt >= compactEveryMs) compact(Date.now());
}, Math.min(compactEveryMs, 60_000));

parentPort.on('message', (m) => {
  if (m.type === 'commit') commit(m.buf);
  else if (m.type === 'count') {
    try {
      parentPort.postMessage({ type: 'counted', records: store.count() });
    } catch {
      // A failing database: commits report it.
    }
  } else if (m.type === 'close') {
    clearInterval(idle);
    if (retry) clearTimeout(retry);
    try {
      store?.close();
    } finally {
      parentPort.postMessage({ type: 'closed' });
      parentPort.close();
    }
  }
});
