// The Node host's SQLite store against the reference store's semantics
// (src/store/memory.rs: put replaces, delete removes, deleting a session
// removes everything keyed by its client id), over random workloads in the
// core's wire format (src/store/wire.rs). The Rust side is checked by
// tests/store_wire.rs (loading what a store holds restores MemoryStore's
// snapshot); this file checks that what the SQLite store holds is what
// MemoryStore would hold: directly, through the worker thread with group
// commit, across a reopen, and across a worker killed mid-commit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../www/node/store/sqlite.js';
import { DiskStore } from '../../www/node/store/index.js';
import { KIND, readCommit } from '../../www/node/store/wire.js';
import { Worker } from 'node:worker_threads';
import { until } from './helpers.mjs';

/** A small seeded PRNG (mulberry32): failures replay from the seed. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CLIENTS = ['a', 'b', 'c/é', ''];
const FILTERS = ['x/#', '$share/g/y', 'z'];
const TOPICS = ['t/1', 't/2', 'cfg'];

/** One random operation: [kind, a, b, record]. Keys collide on purpose. */
function randomOp(r) {
  const pick = (list) => list[Math.floor(r() * list.length)];
  const n = (max) => 1 + Math.floor(r() * max);
  const rec = () => Buffer.from(Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 256)));
  const kind = n(12);
  switch (kind) {
    case KIND.PUT_SESSION: return [kind, pick(CLIENTS), undefined, rec()];
    case KIND.DELETE_SESSION: return [kind, pick(CLIENTS)];
    case KIND.PUT_SUBSCRIPTION: return [kind, pick(CLIENTS), pick(FILTERS), rec()];
    case KIND.DELETE_SUBSCRIPTION: return [kind, pick(CLIENTS), pick(FILTERS)];
    case KIND.PUT_MESSAGE: return [kind, n(20), r() < 0.5 ? null : 1_800_000_000_000 + n(1000), rec()];
    case KIND.DELETE_MESSAGE: return [kind, n(20)];
    case KIND.PUT_DELIVERY: return [kind, pick(CLIENTS), n(10), rec()];
    case KIND.DELETE_DELIVERY: return [kind, pick(CLIENTS), n(10)];
    case KIND.PUT_RETAINED: return [kind, pick(TOPICS), undefined, rec()];
    case KIND.DELETE_RETAINED: return [kind, pick(TOPICS)];
    default: return [kind, pick(CLIENTS), n(65_535)]; // incoming QoS 2 ids
  }
}

/** Operations as one commit buffer (src/store/wire.rs's layout). */
function encodeCommit(ticket, ops) {
  const parts = [];
  const f64 = (v) => { const b = Buffer.alloc(8); b.writeDoubleLE(v); parts.push(b); };
  const bytes = (b) => { const l = Buffer.alloc(4); l.writeUInt32LE(b.length); parts.push(l, b); };
  const str = (s) => bytes(Buffer.from(s));
  f64(ticket);
  for (const [kind, a, b, record] of ops) {
    parts.push(Buffer.from([kind]));
    switch (kind) {
      case KIND.PUT_SESSION: case KIND.PUT_RETAINED: str(a); bytes(record); break;
      case KIND.DELETE_SESSION: case KIND.DELETE_RETAINED: str(a); break;
      case KIND.PUT_SUBSCRIPTION: str(a); str(b); bytes(record); break;
      case KIND.DELETE_SUBSCRIPTION: str(a); str(b); break;
      case KIND.PUT_MESSAGE: f64(a); f64(b ?? -1); bytes(record); break;
      case KIND.DELETE_MESSAGE: f64(a); break;
      case KIND.PUT_DELIVERY: str(a); f64(b); bytes(record); break;
      case KIND.DELETE_DELIVERY: str(a); f64(b); break;
      default: { str(a); const p = Buffer.alloc(2); p.writeUInt16LE(b); parts.push(p); }
    }
  }
  const out = Buffer.concat(parts);
  // Its own ArrayBuffer, as pollStorage's buffers have (DiskStore transfers it).
  return new Uint8Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.length));
}

/** The reference: MemoryStore's maps, keyed as it keys them. */
class Reference {
  tables = { sessions: new Map(), subscriptions: new Map(), messages: new Map(), deliveries: new Map(), retained: new Map(), incoming: new Map() };

  apply([kind, a, b, record]) {
    const t = this.tables;
    const key = (...k) => JSON.stringify(k);
    const hex = (r) => Buffer.from(r).toString('hex');
    switch (kind) {
      case KIND.PUT_SESSION: t.sessions.set(key(a), hex(record)); break;
      case KIND.DELETE_SESSION:
        t.sessions.delete(key(a));
        for (const name of ['subscriptions', 'deliveries', 'incoming']) {
          for (const k of [...t[name].keys()]) if (JSON.parse(k)[0] === a) t[name].delete(k);
        }
        break;
      case KIND.PUT_SUBSCRIPTION: t.subscriptions.set(key(a, b), hex(record)); break;
      case KIND.DELETE_SUBSCRIPTION: t.subscriptions.delete(key(a, b)); break;
      case KIND.PUT_MESSAGE: t.messages.set(key(a), `${b}:${hex(record)}`); break;
      case KIND.DELETE_MESSAGE: t.messages.delete(key(a)); break;
      case KIND.PUT_DELIVERY: t.deliveries.set(key(a, b), hex(record)); break;
      case KIND.DELETE_DELIVERY: t.deliveries.delete(key(a, b)); break;
      case KIND.PUT_RETAINED: t.retained.set(key(a), hex(record)); break;
      case KIND.DELETE_RETAINED: t.retained.delete(key(a)); break;
      case KIND.PUT_INCOMING: t.incoming.set(key(a, b), ''); break;
      case KIND.DELETE_INCOMING: t.incoming.delete(key(a, b)); break;
      default: throw new Error(`kind ${kind}`);
    }
  }

  /** Everything held, sorted, comparable with `held()`. */
  snapshot() {
    return Object.entries(this.tables).flatMap(([name, m]) => [...m].map(([k, v]) => `${name} ${k} ${v}`)).sort();
  }

  clone() {
    const c = new Reference();
    for (const [name, m] of Object.entries(this.tables)) c.tables[name] = new Map(m);
    return c;
  }
}

/** What a store's load() returned (put operations), in Reference's form. */
function held(rows) {
  const ref = new Reference();
  // The rows are a commit's operations without its ticket.
  const buf = Buffer.concat([Buffer.alloc(8), Buffer.from(rows.buffer, rows.byteOffset, rows.length)]);
  readCommit(buf, (kind, a, b, record) => ref.apply([kind, a, b, record ?? Buffer.alloc(0)]));
  return ref.snapshot();
}

function workload(seed, commits, perCommit) {
  const r = rng(seed);
  return Array.from({ length: commits }, () => Array.from({ length: Math.floor(r() * perCommit) }, () => randomOp(r)));
}

const dirs = [];
function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'tabmq-conformance-'));
  dirs.push(dir);
  return dir;
}
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('the SQLite store holds what the reference store holds, after every commit of random workloads', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const dir = tempDir();
    const store = new SqliteStore(dir, { durability: 'relaxed' });
    const ref = new Reference();
    let ticket = 0;
    for (const ops of workload(seed, 12, 30)) {
      const result = store.commit(Buffer.from(encodeCommit(++ticket, ops)));
      assert.equal(result.ticket, ticket);
      assert.equal(result.ops, ops.length);
      for (const op of ops) ref.apply(op);
      const { rows, records } = store.load();
      assert.deepEqual(held(rows), ref.snapshot(), `seed ${seed}, ticket ${ticket}`);
      assert.equal(records, ref.snapshot().length);
      assert.equal(store.count(), records);
    }
    store.close();
    // And again from disk.
    const reopened = new SqliteStore(dir);
    assert.deepEqual(held(reopened.load().rows), ref.snapshot(), `seed ${seed} after reopening`);
    reopened.close();
  }
});

test('a commit that fails part way leaves nothing of itself behind', () => {
  const dir = tempDir();
  const store = new SqliteStore(dir);
  const ref = new Reference();
  const ops = workload(99, 1, 30)[0];
  store.commit(Buffer.from(encodeCommit(1, ops)));
  for (const op of ops) ref.apply(op);
  // A well-formed put, then a truncated operation: the transaction rolls back.
  const good = encodeCommit(2, [[KIND.PUT_RETAINED, 'new/topic', undefined, Buffer.from('x')]]);
  const broken = Buffer.concat([Buffer.from(good), Buffer.from([KIND.PUT_SESSION, 9, 0])]);
  assert.throws(() => store.commit(broken), /truncated/);
  assert.deepEqual(held(store.load().rows), ref.snapshot());
  store.close();
});

test('through the worker thread, with group commit, every persisted ticket is on disk in order', async () => {
  const dir = tempDir();
  const store = await DiskStore.open({ dir, durability: 'strict' });
  assert.equal(store.rows.length, 0, 'a new store holds nothing');
  const persisted = [];
  store.attach({ persisted: (t) => persisted.push(t), full() {}, event() {} });
  const ref = new Reference();
  let ticket = 0;
  for (const ops of workload(7, 50, 40)) {
    await until('the previous commit', () => !store.busy);
    store.commit(encodeCommit(++ticket, ops));
    for (const op of ops) ref.apply(op);
  }
  await until('the last commit', () => persisted.at(-1) === ticket);
  assert.deepEqual(persisted, Array.from({ length: ticket }, (_, i) => i + 1));
  const figures = store.figures();
  assert.equal(figures.commits, ticket);
  assert.ok(figures.commitMsP99 >= figures.commitMsP50);
  await store.close();
  const again = await DiskStore.open({ dir, durability: 'strict' });
  assert.deepEqual(held(again.rows), ref.snapshot());
  await again.close();
});

test('a worker killed during commits leaves exactly the state after some ticket at or past the last one reported', async () => {
  for (let seed = 1; seed <= 6; seed++) {
    const dir = tempDir();
    const store = await DiskStore.open({ dir, durability: 'strict' });
    const states = [new Reference()]; // states[t]: after ticket t
    let reported = 0;
    store.attach({ persisted: (t) => (reported = t), full() {}, event() {} });
    const r = rng(seed * 31);
    const stopAfter = 5 + Math.floor(r() * 30);
    let ticket = 0;
    for (const ops of workload(seed, stopAfter, 60)) {
      await until('the previous commit', () => !store.busy);
      store.commit(encodeCommit(++ticket, ops));
      const next = states.at(-1).clone();
      for (const op of ops) next.apply(op);
      states.push(next);
    }
    // Killed while the last commit may still be running.
    store.abandon();
    const lastReported = reported;
    const again = await DiskStore.open({ dir, durability: 'strict' });
    const found = held(again.rows);
    const same = (s) => JSON.stringify(s.snapshot()) === JSON.stringify(found);
    const match = states.findLastIndex(same);
    assert.ok(states.some((s, t) => t >= lastReported && same(s)), `seed ${seed}: the state after ticket ${match}, but ${lastReported} was reported persisted`);
    await again.close();
  }
});

test('a storage worker that dies is replaced, and the commit it held is written', async () => {
  const dir = tempDir();
  // Catch the store's worker as it is sent its first commit.
  const workers = [];
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function patched(...args) {
    if (!workers.includes(this)) workers.push(this);
    return post.apply(this, args);
  };
  try {
    const store = await DiskStore.open({ dir, durability: 'strict' });
    const persisted = [];
    const events = [];
    store.attach({ persisted: (t) => persisted.push(t), full() {}, event: (e) => events.push(e) });
    const ref = new Reference();
    const [first, second] = workload(5, 2, 40);
    store.commit(encodeCommit(1, first));
    for (const op of first) ref.apply(op);
    await until('the first commit', () => persisted.includes(1));
    await workers[0].terminate();
    await until('the loss to be reported', () => events.some((e) => e.type === 'storage' && e.state === 'stalled'));
    store.commit(encodeCommit(2, second));
    for (const op of second) ref.apply(op);
    await until('the commit, through a new worker', () => persisted.includes(2), 10_000);
    assert.ok(events.some((e) => e.type === 'storage' && e.state === 'recovered'));
    assert.equal(workers.length, 2, 'a second worker');
    await store.close();
    const again = await DiskStore.open({ dir, durability: 'strict' });
    assert.deepEqual(held(again.rows), ref.snapshot());
    await again.close();
  } finally {
    Worker.prototype.postMessage = post;
  }
});
