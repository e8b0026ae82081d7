// Durable sessions in IndexedDB, end to end: real Chromium, real IndexedDB,
// real MQTT.js. Reloads, worker crashes at several points, relaxed
// durability's bound, what survives and what expires, and storage failures
// (quota, blocked upgrade) that leave the broker serving from memory.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBrowser } from './harness.mjs';

let b;
before(async () => {
  b = await startBrowser();
});
after(async () => {
  await b?.close();
});

let n = 0;
const uniqueName = (prefix) => `${prefix}-${Date.now()}-${n++}`;

async function page(context) {
  const p = await b.newPage(undefined, context);
  await p.waitForFunction(() => window.ready === true);
  return p;
}

/** In-page: a persistent MQTT 5 session (clean start false, expiry 1 h). */
const PERSISTENT = { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } };

describe('reload', () => {
  test('5,000 QoS 1 and 1,000 QoS 2 messages queued for an offline persistent subscriber survive a reload', { timeout: 180_000 }, async () => {
    const ctx = await b.newContext();
    const p = await page(ctx);
    const name = uniqueName('reload');
    const published = await p.evaluate(async ({ name, PERSISTENT }) => {
      const broker = await tabmq.startBroker({ name, mode: 'worker' });
      const sub = await h.connect(broker, { ...PERSISTENT, clientId: 'sub' });
      await sub.subscribeAsync('d/#', { qos: 2 });
      await sub.endAsync();
      const pub = await h.connect(broker, { protocolVersion: 5, clientId: 'pub' });
      const sends = [];
      for (let i = 0; i < 5000; i++) sends.push(pub.publishAsync('d/q1', `${i}`, { qos: 1 }));
      for (let i = 0; i < 1000; i++) sends.push(pub.publishAsync('d/q2', `${i}`, { qos: 2 }));
      await Promise.all(sends);
      const stats = await broker.stats();
      return { acked: sends.length, queued: stats.queuedMessages + stats.inflightMessages, storage: stats.storage };
    }, { name, PERSISTENT });
    assert.equal(published.acked, 6000);
    assert.equal(published.queued, 6000);
    assert.equal(published.storage.enabled, true);
    await p.reload();
    await p.waitForFunction(() => window.ready === true);
    const got = await p.evaluate(async ({ name, PERSISTENT }) => {
      const broker = await tabmq.startBroker({ name, mode: 'worker' });
      const sub = await h.connect(broker, { ...PERSISTENT, clientId: 'sub' });
      const msgs = await h.collect(sub, 6000, 120_000);
      await h.sleep(300);
      const extra = await broker.stats();
      return { sessionPresent: sub.connack.sessionPresent, q1: msgs.filter((m) => m.topic === 'd/q1').map((m) => +m.payload), q2: msgs.filter((m) => m.topic === 'd/q2').map((m) => +m.payload), left: extra.queuedMessages };
    }, { name, PERSISTENT });
    assert.equal(got.sessionPresent, true);
    assert.deepEqual(got.q1, [...Array(5000).keys()], 'QoS 1 in order, all there');
    assert.deepEqual(got.q2, [...Array(1000).keys()], 'QoS 2 in order, no duplicates');
    assert.equal(got.left, 0);
    await ctx.close();
  });

  test('a log compaction (after 1,024 commits) keeps everything: messages queued before and after it survive a reload', { timeout: 120_000 }, async () => {
    const ctx = await b.newContext();
    const p = await page(ctx);
    const name = uniqueName('compaction');
    const before = await p.evaluate(async ({ name, PERSISTENT }) => {
      const broker = await tabmq.startBroker({ name, mode: 'worker' });
      const sub = await h.connect(broker, { ...PERSISTENT, clientId: 'sub' });
      await sub.subscribeAsync('c/#', { qos: 1 });
      await sub.endAsync();
      const pub = await h.connect(broker, { protocolVersion: 5, clientId: 'pub' });
      // One at a time: one commit each.
      for (let i = 0; i < 1300; i++) await pub.publishAsync('c/x', `${i}`, { qos: 1 });
      await pub.publishAsync('c/r', 'kept', { qos: 1, retain: true });
      return (await broker.stats()).storage;
    }, { name, PERSISTENT });
    assert.ok(before.compactions >= 1, `compactions ${before.compactions}`);
    assert.ok(before.logEntries < 1024, `log entries ${before.logEntries}`);
    // 1,301 messages, 1,301 deliveries, the subscriber's session and
    // subscription, the retained message.
    assert.equal(before.records, 1301 * 2 + 3);
    await p.reload();
    await p.waitForFunction(() => window.ready === true);
    const got = await p.evaluate(async ({ name, PERSISTENT }) => {
      const broker = await tabmq.startBroker({ name, mode: 'worker' });
      const sub = await h.connect(broker, { ...PERSISTENT, clientId: 'sub' });
      const msgs = await h.collect(sub, 1301, 60_000);
      return msgs.map((m) => `${m.topic} ${m.payload}`);
    }, { name, PERSISTENT });
    const expected = Array.from({ length: 1300 }, (_, i) => `c/x ${i}`);
    assert.deepEqual(got.filter((m) => m.startsWith('c/x')), expected, 'every message, in order');
    assert.ok(got.includes('c/r kept'));
    await ctx.close();
  });

  test('retained messages, subscriptions with their options and a delayed will survive a reload; an expired session does not', { timeout: 60_000 }, async () => {
    const ctx = await b.newContext();
    const p = await page(ctx);
    const name = uniqueName('state');
    await p.evaluate(async ({ name, PERSISTENT }) => {
      const broker = await tabmq.startBroker({ name, mode: 'worker' });
      const pub = await h.connect(broker, { protocolVersion: 5, clientId: 'pub' });
      await pub.publishAsync('cfg/a', 'A', { qos: 1, retain: true });
      await pub.publishAsync('cfg/b', 'B', { qos: 1, retain: true });
      const keeper = await h.connect(broker, { ...PERSISTENT, clientId: 'keeper' });
      await keeper.subscribeAsync('news/#', { qos: 1, nl: true, rap: true, properties: { subscriptionIdentifier: 42 } });
      await keeper.endAsync();
      const brief = await h.connect(broker, { protocolVersion: 5, clean: false, clientId: 'brief', properties: { sessionExpiryInterval: 1 } });
      await brief.subscribeAsync('news/#', { qos: 1 });
      await brief.endAsync();
      // A will with a delay of 30 s, from a session that outlives it.
      const dev = await h.connect(broker, {
        ...PERSISTENT, clientId: 'dev',
        will: { topic: 'status/dev', payload: 'lost', qos: 1, retain: true, properties: { willDelayInterval: 2 } },
      });
      dev.socket.close();
      await h.sleep(200);
    }, { name, PERSISTENT });
    await p.reload();
    await p.waitForFunction(() => window.ready === true);
    await p.evaluate(() => new Promise((ok) => setTimeout(ok, 1500)));
    const r = await p.evaluate(async ({ name, PERSISTENT }) => {
      const broker = await tabmq.startBroker({ name, mode: 'worker' });
      const fresh = await h.connect(broker, { protocolVersion: 5, clientId: 'fresh' });
      const retained = h.collect(fresh, 2);
      await fresh.subscribeAsync('cfg/#', { qos: 1 });
      const cfg = (await retained).map(h.plain).map((m) => `${m.topic}=${m.payload}`).sort();
      const willWatch = h.collect(fresh, 1, 10_000);
      await fresh.subscribeAsync('status/#', { qos: 1 });
      const will = (await willWatch).map(h.plain)[0];
      const keeper = await h.connect(broker, { ...PERSISTENT, clientId: 'keeper' });
      const toKeeper = h.collect(keeper, 1);
      await fresh.publishAsync('news/x', 'n', { qos: 1, retain: true });
      const k = (await toKeeper).map(h.plain)[0];
      const brief = await h.connect(broker, { protocolVersion: 5, clean: false, clientId: 'brief', properties: { sessionExpiryInterval: 1 } });
      const inspect = await broker.inspect();
      return { cfg, will, k, keeperSubs: inspect.clients.find((c) => c.clientId === 'keeper').subscriptions, briefPresent: brief.connack.sessionPresent };
    }, { name, PERSISTENT });
    assert.deepEqual(r.cfg, ['cfg/a=A', 'cfg/b=B']);
    assert.deepEqual([r.will.topic, r.will.payload], ['status/dev', 'lost'], 'the delayed will fired after the reload');
    assert.equal(r.k.retain, true, 'retain as published kept');
    assert.deepEqual(r.k.properties.subscriptionIdentifier, 42, 'subscription identifier kept');
    assert.deepEqual(r.keeperSubs, [{ filter: 'news/#', qos: 1 }]);
    assert.equal(r.briefPresent, false, 'a session expired while the broker was down is gone');
    await ctx.close();
  });
});

describe('crash', () => {
  /** Publishes QoS 1 at full speed and terminates the broker's worker after
   *  `killAfter` PUBACKs; returns the acknowledged payloads and what the
   *  persistent subscriber receives from the restarted broker. */
  async function crashRun(durability, killAfter, mode = 'worker') {
    const ctx = await b.newContext();
    const p = await page(ctx);
    const name = uniqueName(`crash-${durability}-${killAfter}`);
    const r = await p.evaluate(async ({ name, durability, killAfter, PERSISTENT, mode }) => {
      const broker = await tabmq.startBroker({ name, mode, durability });
      const sub = await h.connect(broker, { ...PERSISTENT, clientId: 'sub' });
      await sub.subscribeAsync('c/#', { qos: 1 });
      await sub.endAsync();
      const pub = await h.connect(broker, { protocolVersion: 5, clientId: 'pub' });
      // Full speed with 50 in flight, so the kill lands mid-stream: the
      // broker has taken in only what was acknowledged plus the window.
      const acked = [];
      let sent = 0;
      await new Promise((done) => {
        const next = () => {
          const i = sent++;
          pub.publish('c/x', `${i}`, { qos: 1 }, (err) => {
            if (err || acked.length >= killAfter) return;
            acked.push(i);
            if (acked.length === killAfter) {
              broker.terminate();
              done();
            } else next();
          });
        };
        for (let k = 0; k < 50; k++) next();
      });
      const ackedAtKill = acked.slice();
      pub.end(true);
      const again = await tabmq.startBroker({ name, mode, durability });
      const sub2 = await h.connect(again, { ...PERSISTENT, clientId: 'sub' });
      let last = -1;
      while (sub2.inbox.length !== last) {
        last = sub2.inbox.length;
        await h.sleep(700);
      }
      const got = sub2.inbox.map((m) => +m.payload);
      await again.close();
      return { acked: ackedAtKill, got };
    }, { name, durability, killAfter, PERSISTENT, mode });
    await ctx.close();
    return r;
  }

  for (const killAfter of [1, 200, 1500]) {
    test(`strict: every PUBACKed message survives a worker crash after ${killAfter} acks`, { timeout: 90_000 }, async () => {
      const { acked, got } = await crashRun('strict', killAfter);
      const received = new Set(got);
      const lost = acked.filter((i) => !received.has(i));
      assert.deepEqual(lost, [], `acknowledged but lost: ${lost.slice(0, 10)}`);
      assert.ok(got.every((v, i) => i === 0 || v > got[i - 1] || received.size !== got.length), 'in order');
      console.log(`# strict kill after ${killAfter}: ${acked.length} acked, ${got.length} delivered after restart`);
    });
  }

  test('strict: a subscription survives a worker crash right after its SUBACK, and a message published while its client is offline is queued and delivered [MQTT-3.8.4-1]', { timeout: 60_000 }, async () => {
    const ctx = await b.newContext();
    const p = await page(ctx);
    const name = uniqueName('crash-suback');
    const r = await p.evaluate(async ({ name, PERSISTENT }) => {
      const broker = await tabmq.startBroker({ name, mode: 'worker', durability: 'strict' });
      // Keep IndexedDB busy: 3,000 messages queued for an offline session,
      // so the subscription's batch is behind them.
      const other = await h.connect(broker, { ...PERSISTENT, clientId: 'other' });
      await other.subscribeAsync('bulk/#', { qos: 1 });
      await other.endAsync();
      const bulk = await h.connect(broker, { protocolVersion: 5, clientId: 'bulk' });
      for (let i = 0; i < 3000; i++) bulk.publish('bulk/x', `${i}`, { qos: 1 });
      const sub = await h.connect(broker, { ...PERSISTENT, clientId: 'sub' });
      await sub.subscribeAsync('alerts/#', { qos: 1 });
      broker.terminate();
      bulk.end(true);
      sub.end(true);
      const again = await tabmq.startBroker({ name, mode: 'worker', durability: 'strict' });
      const pub = await h.connect(again, { protocolVersion: 5, clientId: 'pub' });
      await pub.publishAsync('alerts/fire', 'now', { qos: 1 });
      const sub2 = await h.connect(again, { ...PERSISTENT, clientId: 'sub' });
      const got = (await h.collect(sub2, 1, 10_000)).map(h.plain).map((m) => `${m.topic}=${m.payload}`);
      await again.close();
      return { present: sub2.connack.sessionPresent, got };
    }, { name, PERSISTENT });
    assert.equal(r.present, true, 'the session survived');
    assert.deepEqual(r.got, ['alerts/fire=now'], 'the subscription survived: the message was queued');
    await ctx.close();
  });

  test('relaxed: what a crash loses is at most a tail of the acknowledged messages, never a hole', { timeout: 90_000 }, async () => {
    const { acked, got } = await crashRun('relaxed', 1500);
    // Relaxed acknowledges before the batch commits, so the messages acked
    // after the last committed transaction may be lost: a suffix of the
    // acknowledged sequence. Everything before the first loss is delivered.
    const received = new Set(got);
    const firstLost = acked.findIndex((i) => !received.has(i));
    const lost = firstLost === -1 ? [] : acked.slice(firstLost);
    assert.ok(lost.every((i) => !received.has(i)), 'losses form one tail, with no holes before it');
    console.log(`# relaxed kill after 1500: ${acked.length} acked, ${got.length} delivered, ${lost.length} lost (the uncommitted tail)`);
  });

  test('shared mode: the tab that owns the SharedWorker closes mid-stream; a new tab restarts the broker from IndexedDB', { timeout: 90_000 }, async () => {
    const ctx = await b.newContext();
    const p = await page(ctx);
    const name = uniqueName('crash-shared');
    await p.evaluate(async ({ name, PERSISTENT }) => {
      const broker = await tabmq.startBroker({ name });
      const sub = await h.connect(broker, { ...PERSISTENT, clientId: 'sub' });
      await sub.subscribeAsync('c/#', { qos: 1 });
      await sub.endAsync();
      window.acked = [];
      const pub = await h.connect(broker, { protocolVersion: 5, clientId: 'pub' });
      // 50 in flight, without end: the tab closes mid-stream.
      let sent = 0;
      const next = () => {
        const i = sent++;
        pub.publish('c/x', `${i}`, { qos: 1 }, (err) => {
          if (!err) window.acked.push(i);
          next();
        });
      };
      for (let k = 0; k < 50; k++) next();
      await new Promise((ok) => { const t = setInterval(() => window.acked.length >= 300 && (clearInterval(t), ok()), 5); });
    }, { name, PERSISTENT });
    // Whatever is acknowledged up to the moment the tab goes counts.
    const acked = await p.evaluate(() => window.acked.slice());
    await p.close({ runBeforeUnload: false });
    // Let the SharedWorker die with its last page.
    await new Promise((ok) => setTimeout(ok, 500));
    const q = await page(ctx);
    const got = await q.evaluate(async ({ name, PERSISTENT }) => {
      const broker = await tabmq.startBroker({ name });
      const sub = await h.connect(broker, { ...PERSISTENT, clientId: 'sub' });
      let last = -1;
      while (sub.inbox.length !== last) {
        last = sub.inbox.length;
        await h.sleep(700);
      }
      return sub.inbox.map((m) => +m.payload);
    }, { name, PERSISTENT });
    const received = new Set(got);
    assert.deepEqual(acked.filter((i) => !received.has(i)), []);
    console.log(`# shared tab close: ${acked.length} acked before the close, ${got.length} delivered after restart`);
    await ctx.close();
  });
});

describe('storage failures', () => {
  test('a quota error is an error event; the broker keeps serving from memory', { timeout: 30_000 }, async () => {
    const p = await page();
    const r = await p.evaluate(async (name) => {
      const broker = await tabmq.startBroker({ name, mode: 'inline', sysInterval: 0 });
      const errors = [];
      broker.addEventListener('error', (e) => errors.push({ code: e.code, message: e.message }));
      const realPut = IDBObjectStore.prototype.put;
      IDBObjectStore.prototype.put = function () {
        throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      };
      try {
        const c = await h.connect(broker, { protocolVersion: 5, clean: false, clientId: 'q', properties: { sessionExpiryInterval: 60 } });
        await c.subscribeAsync('q/#', { qos: 1 });
        const got = h.collect(c, 1);
        await c.publishAsync('q/1', 'still served', { qos: 1, retain: true });
        const msg = (await got).map(h.plain)[0].payload;
        // After the failure, acknowledgements keep flowing at once (nothing
        // else wakes the host here: no $SYS timer).
        await c.publishAsync('q/2', 'and again', { qos: 1 });
        await h.sleep(100);
        const stats = await broker.stats();
        return { errors, msg, storage: stats.storage };
      } finally {
        IDBObjectStore.prototype.put = realPut;
      }
    }, uniqueName('quota'));
    assert.equal(r.msg, 'still served');
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0].code, 'ERR_TABMQ_STORAGE');
    assert.match(r.errors[0].message, /QuotaExceededError|quota/i);
    assert.match(r.errors[0].message, /serving from memory/);
    assert.equal(r.storage.enabled, false);
  });

  test('after a storage failure the database is cleared: a later start does not restore outdated state', { timeout: 30_000 }, async () => {
    const p = await page();
    const r = await p.evaluate(async (name) => {
      let broker = await tabmq.startBroker({ name, mode: 'inline', sysInterval: 0 });
      const c = await h.connect(broker, { protocolVersion: 5 });
      await c.publishAsync('cfg/r', 'old value', { qos: 1, retain: true }); // committed
      const realPut = IDBObjectStore.prototype.put;
      IDBObjectStore.prototype.put = function () {
        throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      };
      try {
        await c.publishAsync('cfg/other', 'x', { qos: 1, retain: true }); // this commit fails
      } finally {
        IDBObjectStore.prototype.put = realPut;
      }
      await c.publishAsync('cfg/r', '', { qos: 1, retain: true }); // cleared in memory only
      await h.sleep(200);
      await broker.close();
      broker = await tabmq.startBroker({ name, mode: 'inline', sysInterval: 0 });
      const fresh = await h.connect(broker, { protocolVersion: 5 });
      await fresh.subscribeAsync('cfg/#', { qos: 1 });
      await h.sleep(300);
      const got = fresh.inbox.map((m) => `${m.topic}=${m.payload}`);
      await broker.close();
      return got;
    }, uniqueName('stale'));
    assert.deepEqual(r, [], 'the outdated retained value is not restored');
  });

  test('one broker per database: a second broker on the same name serves from memory and says why', { timeout: 30_000 }, async () => {
    const ctx = await b.newContext();
    const a = await page(ctx);
    const c = await page(ctx);
    const name = uniqueName('twice');
    await a.evaluate(async (name) => { window.broker = await tabmq.startBroker({ name, mode: 'worker' }); }, name);
    const r = await c.evaluate(async (name) => {
      const broker = await tabmq.startBroker({ name, mode: 'worker' });
      const errors = [];
      broker.addEventListener('error', (e) => errors.push({ code: e.code, message: e.message }));
      const cl = await h.connect(broker, { protocolVersion: 5 });
      await cl.subscribeAsync('x/#', { qos: 1 });
      const got = h.collect(cl, 1);
      await cl.publishAsync('x/1', 'served', { qos: 1 });
      return { errors, msg: (await got).map(h.plain)[0].payload, storage: (await broker.stats()).storage };
    }, name);
    assert.equal(r.msg, 'served');
    assert.deepEqual(r.errors.map((e) => e.code), ['ERR_TABMQ_STORAGE_LOCKED']);
    assert.equal(r.storage, undefined);
    await ctx.close();
  });

  test('a blocked upgrade (an old version held open elsewhere) is an error event; the broker serves from memory', { timeout: 30_000 }, async () => {
    const p = await page();
    const r = await p.evaluate(async (name) => {
      // Another "tab" holds version 1 of the database open and ignores versionchange.
      await new Promise((ok, fail) => {
        const req = indexedDB.open(`tabmq:${name}`, 1);
        req.onsuccess = () => { window.heldOpen = req.result; ok(); };
        req.onerror = () => fail(req.error);
      });
      const broker = await tabmq.startBroker({ name, mode: 'inline' });
      const errors = [];
      broker.addEventListener('error', (e) => errors.push({ code: e.code, message: e.message }));
      const c = await h.connect(broker, { protocolVersion: 5 });
      await c.subscribeAsync('b/#', { qos: 1 });
      const got = h.collect(c, 1);
      await c.publishAsync('b/1', 'served', { qos: 1 });
      const msg = (await got).map(h.plain)[0].payload;
      window.heldOpen.close();
      return { errors, msg };
    }, uniqueName('blocked'));
    assert.equal(r.msg, 'served');
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0].code, 'ERR_TABMQ_STORAGE_BLOCKED');
    assert.match(r.errors[0].message, /older version/);
  });

  test('a database that cannot open is an error event; the broker serves from memory', { timeout: 30_000 }, async () => {
    const p = await page();
    const r = await p.evaluate(async (name) => {
      const realOpen = IDBFactory.prototype.open;
      IDBFactory.prototype.open = function () {
        throw new DOMException('IndexedDB is disabled here.', 'SecurityError');
      };
      try {
        const broker = await tabmq.startBroker({ name, mode: 'inline' });
        const errors = [];
        broker.addEventListener('error', (e) => errors.push({ code: e.code, message: e.message }));
        const c = await h.connect(broker, { protocolVersion: 5 });
        await c.subscribeAsync('o/#', { qos: 1 });
        const got = h.collect(c, 1);
        await c.publishAsync('o/1', 'served', { qos: 1 });
        const msg = (await got).map(h.plain)[0].payload;
        return { errors, msg, storage: (await broker.stats()).storage };
      } finally {
        IDBFactory.prototype.open = realOpen;
      }
    }, uniqueName('noopen'));
    assert.equal(r.msg, 'served');
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0].code, 'ERR_TABMQ_STORAGE');
    assert.match(r.errors[0].message, /cannot open IndexedDB/);
    assert.match(r.errors[0].message, /serving from memory/);
    assert.equal(r.storage, undefined, 'no store attached');
  });

  test('stats() reports storage figures', async () => {
    const p = await page();
    const s = await p.evaluate(async (name) => {
      const broker = await tabmq.startBroker({ name, mode: 'worker' });
      const c = await h.connect(broker, { protocolVersion: 5 });
      for (let i = 0; i < 20; i++) await c.publishAsync(`r/${i}`, 'x', { qos: 1, retain: true });
      await h.sleep(2100);
      await broker.stats(); // the record count refreshes when stats are read
      await h.sleep(300);
      return (await broker.stats()).storage;
    }, uniqueName('figures'));
    assert.equal(s.enabled, true);
    assert.equal(s.schemaVersion, 3);
    assert.equal(s.records, 20, 'the retained messages');
    assert.ok(s.logEntries >= 1, 'commits append to the log');
    assert.equal(s.compactions, 0);
    assert.ok(s.commits >= 1 && s.lastCommitAt > 0 && s.bytesWritten > 0);
    assert.equal(s.pendingOps, 0);
    assert.ok(s.bytesEstimated > 0);
  });
});

test('no unexpected errors in the browser console', () => {
  assert.deepEqual(b.errors, []);
});
