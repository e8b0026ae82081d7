// Bridges from a broker in the browser, end to end: real Chromium (the broker
// in a SharedWorker or a dedicated Worker, its queue in IndexedDB), a real
// WebSocket from the worker to a remote broker (a Node-hosted tabmq, or
// Debian's Mosquitto), and a TCP relay in between to cut the network.
// (context.setOffline() does not reach a SharedWorker's open WebSockets, so
// the relay is what takes the link down.)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBrowser } from './harness.mjs';
import { createBroker } from '../../www/node/index.js';
import { connect, collect, until, endAll, within } from '../node/helpers.mjs';
import { startRelay } from '../node/relay.mjs';
import { startMosquitto, mosquittoBinary } from '../node/mosquitto.mjs';

const RECONNECT = { minDelay: 200, maxDelay: 2000 };

let b;
let remote; // a Node-hosted tabmq, WebSocket only
let remoteWs;
let mosq = null;
const relays = [];
const clients = [];
const contexts = [];
const consoleOther = []; // the pages' and the dedicated workers' warnings and logs
const workerLog = []; // the SharedWorker's console and log entries (through CDP): { level, text }

let cdp;
const workerSessions = new Set();

/** Playwright does not attach to SharedWorkers: a CDP session of the
 *  browser does, to see their console (and Chromium's log entries, such as
 *  a failed WebSocket). Messages logged before the attach are missed.
 *  Caveat: Chromium keeps an inspected SharedWorker alive after its last
 *  page goes, and such a worker never answers the next page (a plain
 *  SharedWorker does the same): detachSharedWorkers() before a reload. */
async function watchSharedWorkers(browser) {
  cdp = await browser.newBrowserCDPSession();
  cdp.on('Target.targetCreated', async ({ targetInfo }) => {
    if (targetInfo.type !== 'shared_worker') return;
    try {
      const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: targetInfo.targetId, flatten: false });
      workerSessions.add(sessionId);
      let id = 1;
      for (const method of ['Runtime.enable', 'Log.enable']) {
        await cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id: id++, method }) });
      }
    } catch {
      // gone already
    }
  });
  cdp.on('Target.receivedMessageFromTarget', ({ message }) => {
    const m = JSON.parse(message);
    if (m.method === 'Runtime.consoleAPICalled') {
      workerLog.push({ level: m.params.type, text: m.params.args.map((a) => a.value ?? a.description).join(' ') });
    } else if (m.method === 'Log.entryAdded') {
      workerLog.push({ level: m.params.entry.level, text: m.params.entry.text });
    } else if (m.method === 'Runtime.exceptionThrown') {
      workerLog.push({ level: 'error', text: `exception: ${m.params.exceptionDetails.exception?.description ?? m.params.exceptionDetails.text}` });
    }
  });
  cdp.on('Target.detachedFromTarget', ({ sessionId }) => workerSessions.delete(sessionId));
  await cdp.send('Target.setDiscoverTargets', { discover: true });
}

/** Lets the SharedWorkers go (see watchSharedWorkers); new ones are watched again. */
async function detachSharedWorkers() {
  for (const sessionId of [...workerSessions]) {
    workerSessions.delete(sessionId);
    await cdp.send('Target.detachFromTarget', { sessionId }).catch(() => {});
  }
}

before(async () => {
  b = await startBrowser();
  await watchSharedWorkers(b.browser);
  remote = await createBroker({ ws: { port: 0 } });
  remoteWs = remote.addresses.find((a) => a.transport === 'ws');
  if (mosquittoBinary()) mosq = await startMosquitto();
});

after(async () => {
  // Each step bounded, and the SharedWorkers let go first: a browser that
  // closes with a debugger attached to a worker was seen not to finish
  // closing (once, in a clean clone), which kept the test process alive.
  const bounded = (what, promise) => within(15_000, what, promise).catch((err) => console.log(`# ${err.message}`));
  await bounded('MQTT.js clients to end', endAll(clients));
  await bounded('SharedWorkers to be let go', detachSharedWorkers());
  await bounded('the CDP session to close', cdp?.detach() ?? Promise.resolve());
  for (const ctx of contexts) await bounded('a browser context to close', ctx.close());
  await bounded('the browser and the static server to close', b?.close() ?? Promise.resolve());
  for (const r of relays) await bounded('a relay to close', r.close());
  await bounded('the Node broker to close', remote?.close() ?? Promise.resolve());
  await bounded('Mosquitto to stop', mosq?.stop().catch(() => mosq.kill()) ?? Promise.resolve());
});

let n = 0;
const uniqueName = (prefix) => `${prefix}-${Date.now()}-${n++}`;

async function relayTo(port) {
  const r = await startRelay(port);
  relays.push(r);
  return r;
}

async function newContext() {
  const ctx = await b.newContext();
  contexts.push(ctx);
  return ctx;
}

async function page(context) {
  const p = await b.newPage(undefined, context ?? (await newContext()));
  p.on('console', (m) => m.type() !== 'error' && consoleOther.push(`${m.type()}: ${m.text()}`));
  p.on('worker', (w) => w.on('console', (m) => {
    if (m.type() === 'error') b.errors.push(`worker console: ${m.text()}`);
    else consoleOther.push(`worker ${m.type()}: ${m.text()}`);
  }));
  await p.waitForFunction(() => window.ready === true);
  return p;
}

/** A Node MQTT.js client that the after() hook ends. */
async function nodeClient(url, opts) {
  const c = await connect(url, opts);
  clients.push(c);
  return c;
}

/** In-page: starts the broker with `options` as window.broker, records its
 *  'bridge' events in window.bridgeEvents and connects window.client. */
async function startInPage(p, options, clientId = 'pub') {
  await p.evaluate(async ({ options, clientId }) => {
    window.bridgeEvents = [];
    window.broker = await tabmq.startBroker(options);
    window.broker.addEventListener('bridge', (e) => window.bridgeEvents.push(e.detail));
    window.client = await h.connect(window.broker, { protocolVersion: 5, clientId });
  }, { options, clientId });
}

/** In-page: polls stats() until `check(bridges[0], arg)` holds (`check` is
 *  sent as source: no closures); returns that bridge's stats and storage. */
function bridgeUntil(p, what, check, ms = 10_000, arg = null) {
  return p.evaluate(async ({ what, check, ms, arg }) => {
    const test = new Function('s', 'arg', `return (${check})(s, arg)`);
    const end = Date.now() + ms;
    for (;;) {
      const stats = await window.broker.stats();
      const s = stats.bridges[0];
      if (test(s, arg)) return { ...s, storage: stats.storage };
      if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}: ${JSON.stringify(s)}`);
      await h.sleep(25);
    }
  }, { what, check: check.toString(), ms, arg });
}

/** In-page: publishes `count` QoS 1 messages (payload = sequence number) on
 *  `topic` all at once; resolves to how many PUBACKs came, successful ones. */
function publishMany(p, topic, count) {
  return p.evaluate(async ({ topic, count }) => {
    const sends = [];
    for (let i = 0; i < count; i++) sends.push(window.client.publishAsync(topic, `${i}`, { qos: 1 }));
    const done = await Promise.allSettled(sends);
    return done.filter((d) => d.status === 'fulfilled' && (d.value?.reasonCode ?? 0) < 0x80).length;
  }, { topic, count });
}

/** Collects the next `count` messages of a Node client for up to `ms`; on a
 *  timeout resolves with what came instead of throwing (for the report). */
function gather(client, count, ms) {
  const got = [];
  const done = new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('message', on);
      resolve(got);
    }, ms);
    const on = (topic, payload) => {
      got.push(+payload.toString());
      if (got.length >= count) {
        clearTimeout(timer);
        client.off('message', on);
        resolve(got);
      }
    };
    client.on('message', on);
  });
  return Object.assign(done, { got });
}

/** Asserts `got` is 0..count-1: unique, complete and in order. */
function assertAllInOrder(got, count, label) {
  const unique = new Set(got);
  const missing = [];
  for (let i = 0; i < count && missing.length < 10; i++) if (!unique.has(i)) missing.push(i);
  assert.equal(unique.size, count, `${label}: ${unique.size}/${count} unique (${got.length} received); first missing: ${missing}`);
  const outOfOrder = got.findIndex((v, i) => i > 0 && v <= got[i - 1]);
  assert.equal(outOfOrder, -1, `${label}: out of order (or duplicated) at index ${outOfOrder}: ${got.slice(Math.max(0, outOfOrder - 3), outOfOrder + 3)}`);
  assert.deepEqual(got, [...Array(count).keys()], `${label}: exactly once, in order`);
}

describe('bridge to a Node-hosted tabmq over WebSocket', () => {
  test('shared worker broker: both directions through the relay, a connected event and stats', { timeout: 30_000 }, async () => {
    const name = uniqueName('bridge-both');
    const relay = await relayTo(remoteWs.port);
    const clientId = `tabmq.${name}`;
    const sub = await nodeClient(remoteWs.url, { protocolVersion: 5, clientId: `${name}-remote-sub` });
    await sub.subscribeAsync('site/up/#', { qos: 1 });
    const p = await page();
    await startInPage(p, {
      name, mode: 'shared', durability: 'strict',
      bridges: [{
        name: 'cloud', clientId, url: `ws://127.0.0.1:${relay.port}/mqtt`, reconnect: RECONNECT,
        out: [{ filter: 'up/#', qos: 1, remotePrefix: 'site/' }],
        in: [{ filter: 'down/#', qos: 1, localPrefix: 'cloud/' }],
      }],
    });
    const s = await bridgeUntil(p, 'connected', (s) => s.state === 'connected');
    assert.equal(s.state, 'connected');
    assert.equal(s.url, `ws://127.0.0.1:${relay.port}/mqtt`);
    // The remote subscription of the `in` direction is in place.
    await until('the remote subscription', () => remote.inspect().clients.find((c) => c.clientId === clientId)?.subscriptions.length > 0);

    // out: page -> remote
    const up = collect(sub, 1, 5000, 'the bridged message at the remote');
    await p.evaluate(() => window.client.publishAsync('up/t1', 'from the tab', { qos: 1 }));
    const [m] = await up;
    assert.deepEqual([m.topic, m.payload, m.qos], ['site/up/t1', 'from the tab', 1]);

    // in: remote -> page
    await p.evaluate(async () => {
      await window.client.subscribeAsync('cloud/down/#', { qos: 1 });
      window.down = h.collect(window.client, 1, 5000);
    });
    const pub = await nodeClient(remoteWs.url, { protocolVersion: 5 });
    await pub.publishAsync('down/cmd', 'from the cloud', { qos: 1 });
    const down = await p.evaluate(async () => (await window.down).map(h.plain));
    assert.deepEqual([down[0].topic, down[0].payload, down[0].qos], ['cloud/down/cmd', 'from the cloud', 1]);

    const events = await p.evaluate(() => window.bridgeEvents);
    assert.ok(events.some((e) => e.type === 'bridge' && e.name === 'cloud' && e.state === 'connected'), `bridge events: ${JSON.stringify(events)}`);
    const stats = await p.evaluate(async () => (await window.broker.stats()).bridges);
    assert.equal(stats.length, 1);
    assert.equal(stats[0].name, 'cloud');
    assert.equal(stats[0].state, 'connected');
    assert.equal(stats[0].messagesOut, 1);
    assert.equal(stats[0].messagesIn, 1);
    await p.evaluate(() => window.broker.close());
  });
});

/**
 * The headline flow: the remote's persistent subscriber waits; the network
 * goes; the tab publishes `count` QoS 1 messages (all acknowledged, queued
 * for the bridge in IndexedDB); the tab reloads while still offline and
 * starts the same broker; the network comes back: every message arrives at
 * the remote subscriber, once, in order.
 */
async function offlineReloadFlow({ remoteUrl, subUrl, mode, count, label, secondTab = false }) {
  const t0 = Date.now();
  const name = uniqueName(`offline-${label}-${mode}`);
  const topic = `out/${name}/seq`;
  const relay = await relayTo(new URL(remoteUrl).port);
  const sub = await nodeClient(subUrl, { protocolVersion: 5, clientId: `${name}-sub`, clean: false, properties: { sessionExpiryInterval: 3600 } });
  await sub.subscribeAsync(`out/${name}/#`, { qos: 1 });
  const arrived = gather(sub, count, 60_000);

  const options = {
    name, mode, durability: 'strict',
    bridges: [{
      name: 'up', clientId: `tabmq.${name}`, url: `ws://127.0.0.1:${relay.port}/mqtt`, reconnect: RECONNECT,
      out: [{ filter: 'out/#', qos: 1 }],
    }],
  };
  const ctx = await newContext();
  const p = await page(ctx);
  await startInPage(p, options);
  await bridgeUntil(p, 'connected', (s) => s.state === 'connected');
  // Another tab of the origin on the same broker keeps the SharedWorker up
  // through the reload.
  const other = secondTab ? await page(ctx) : null;
  if (other) await startInPage(other, options, 'other');

  relay.cut();
  const down = await bridgeUntil(p, 'the link to go down', (s) => s.state !== 'connected');
  const acked = await publishMany(p, topic, count);
  assert.equal(acked, count, 'every publish is acknowledged while offline');
  const before = await bridgeUntil(p, `${count} queued for the bridge`, (s, count) => s.queued + s.inflight >= count, 10_000, count);
  const beforeStats = await p.evaluate(async () => (await window.broker.stats()).bridges[0]);
  assert.equal(beforeStats.queued + beforeStats.inflight, count, `queued+inflight before the reload: ${JSON.stringify(beforeStats)}`);
  assert.equal(before.storage?.enabled, true, 'the queue is stored in IndexedDB');
  const opsBefore = before.storage.opsWritten;
  const uptimeBefore = (await p.evaluate(async () => (await window.broker.stats()).uptimeSecs));
  assert.equal(await relay.connections(), 0);
  const tPublished = Date.now();

  await detachSharedWorkers();
  await p.reload();
  await p.waitForFunction(() => window.ready === true);
  await startInPage(p, options, 'pub2');
  const afterStats = await p.evaluate(async () => await window.broker.stats());
  // A broker restored from IndexedDB counts its writes from 0 again.
  const restarted = afterStats.storage?.opsWritten < opsBefore;
  const restored = afterStats.bridges[0];
  assert.equal(afterStats.storage?.enabled, true, 'storage enabled after the reload');
  assert.equal(restored.queued + restored.inflight, count, `queued+inflight after the reload (broker ${restarted ? 'restarted' : 'survived'}): ${JSON.stringify(restored)}`);
  assert.notEqual(restored.state, 'connected', 'still offline');
  const tReloaded = Date.now();

  assert.equal(arrived.got.length, 0, 'nothing reached the remote while the link was cut');
  relay.restore();
  const got = await arrived;
  const tDrained = Date.now();
  const final = await bridgeUntil(p, 'the queue to drain', (s) => s.state === 'connected' && s.queued === 0 && s.inflight === 0, 10_000).catch((e) => ({ error: e.message }));
  console.log(`# ${label} ${mode}${secondTab ? ' (second tab)' : ''}: ${count} msgs; link down state '${down.state}'; broker after reload: ${restarted ? 'restarted (restored from IndexedDB)' : 'survived (same worker)'} `
    + `[opsWritten ${opsBefore} -> ${afterStats.storage?.opsWritten}, uptime ${uptimeBefore}s -> ${afterStats.uptimeSecs}s]; `
    + `publish ${tPublished - t0} ms, reload ${tReloaded - tPublished} ms, drain ${tDrained - tReloaded} ms; received ${got.length}`);
  assertAllInOrder(got, count, `${label} ${mode}`);
  assert.equal(final.error, undefined, final.error);
  await p.evaluate(() => window.broker.close());
  if (other) await other.close();
  return { restarted };
}

describe('offline, reload, back online', () => {
  const modes = [];
  test('to Mosquitto (shared worker): 1,000 QoS 1 messages published offline survive a reload and arrive once, in order', { timeout: 90_000 }, async (t) => {
    if (!mosq) return t.skip('mosquitto is not installed');
    const r = await offlineReloadFlow({ remoteUrl: mosq.wsUrl, subUrl: mosq.tcpUrl, mode: 'shared', count: 1000, label: 'mosquitto' });
    modes.push(r);
  });

  test('to Mosquitto (dedicated worker: the reload restarts the broker from IndexedDB)', { timeout: 90_000 }, async (t) => {
    if (!mosq) return t.skip('mosquitto is not installed');
    const r = await offlineReloadFlow({ remoteUrl: mosq.wsUrl, subUrl: mosq.tcpUrl, mode: 'worker', count: 1000, label: 'mosquitto' });
    assert.equal(r.restarted, true, 'a dedicated worker dies with the page: the queue came from IndexedDB');
  });

  test('to a Node-hosted tabmq (shared worker): 200 QoS 1 messages', { timeout: 60_000 }, async () => {
    await offlineReloadFlow({ remoteUrl: remoteWs.url, subUrl: remoteWs.url, mode: 'shared', count: 200, label: 'tabmq' });
  });

  test('to a Node-hosted tabmq (dedicated worker): 200 QoS 1 messages', { timeout: 60_000 }, async () => {
    const r = await offlineReloadFlow({ remoteUrl: remoteWs.url, subUrl: remoteWs.url, mode: 'worker', count: 200, label: 'tabmq' });
    assert.equal(r.restarted, true);
  });

  test('to a Node-hosted tabmq (shared worker kept up by a second tab through the reload): 200 QoS 1 messages', { timeout: 60_000 }, async () => {
    const r = await offlineReloadFlow({ remoteUrl: remoteWs.url, subUrl: remoteWs.url, mode: 'shared', count: 200, label: 'tabmq', secondTab: true });
    assert.equal(r.restarted, false, 'the reloaded tab joined the running broker');
  });
});

describe('control and options', () => {
  test('pauseBridge / resumeBridge from the page; an unknown name rejects with ERR_TABMQ_NO_BRIDGE', { timeout: 30_000 }, async () => {
    const name = uniqueName('bridge-pause');
    const sub = await nodeClient(remoteWs.url, { protocolVersion: 5, clientId: `${name}-sub` });
    await sub.subscribeAsync(`p/${name}/#`, { qos: 1 });
    const p = await page();
    await startInPage(p, {
      name, mode: 'shared', durability: 'strict',
      bridges: [{ name: 'cloud', clientId: `tabmq.${name}`, url: remoteWs.url, reconnect: RECONNECT, out: [{ filter: 'p/#', qos: 1 }] }],
    });
    await bridgeUntil(p, 'connected', (s) => s.state === 'connected');
    await p.evaluate(() => window.broker.pauseBridge('cloud'));
    const paused = await bridgeUntil(p, 'paused', (s) => s.state === 'paused', 5000);
    assert.equal(paused.state, 'paused');
    const acked = await publishMany(p, `p/${name}/x`, 50);
    assert.equal(acked, 50);
    const queued = await bridgeUntil(p, '50 queued', (s) => s.queued + s.inflight >= 50, 5000);
    assert.equal(queued.queued, 50, `queued while paused: ${JSON.stringify(queued)}`);
    assert.equal(queued.inflight, 0);
    const arrived = gather(sub, 50, 10_000);
    await p.evaluate(() => window.broker.resumeBridge('cloud'));
    assertAllInOrder(await arrived, 50, 'after resume');
    const events = await p.evaluate(() => window.bridgeEvents.map((e) => e.state));
    assert.ok(events.includes('paused'), `bridge events: ${events}`);
    assert.equal(events.at(-1), 'connected', `bridge events: ${events}`);
    const err = await p.evaluate(() => window.broker.pauseBridge('nope').then(() => null, (e) => ({ name: e.name, code: e.code, message: e.message })));
    assert.ok(err, 'pauseBridge(\'nope\') rejects');
    assert.equal(err.code, 'ERR_TABMQ_NO_BRIDGE');
    assert.match(err.message, /nope/);
    const err2 = await p.evaluate(() => window.broker.resumeBridge('nope').then(() => null, (e) => e.code));
    assert.equal(err2, 'ERR_TABMQ_NO_BRIDGE');
    await p.evaluate(() => window.broker.close());
  });

  test('a bad bridge option rejects startBroker with ERR_TABMQ_OPTION naming it', { timeout: 30_000 }, async () => {
    const p = await page();
    const r = await p.evaluate(async (name) => {
      const attempt = (options) => tabmq.startBroker({ name, mode: 'worker', ...options }).then(
        async (broker) => { await broker.close(); return null; },
        (e) => ({ name: e.name, code: e.code, message: e.message }),
      );
      return {
        mqttUrl: await attempt({ bridges: [{ name: 'x', url: 'mqtt://x', out: [{ filter: 'a/#' }] }] }),
        badFilter: await attempt({ bridges: [{ name: 'x', url: 'ws://127.0.0.1:9/mqtt', out: [{ filter: 'a/#/b' }] }] }),
        badName: await attempt({ bridges: [{ name: 'a/b', url: 'ws://127.0.0.1:9/mqtt', out: [{ filter: 'a/#' }] }] }),
      };
    }, uniqueName('bridge-bad'));
    assert.ok(r.mqttUrl, 'mqtt:// in a browser rejects');
    assert.equal(r.mqttUrl.code, 'ERR_TABMQ_OPTION');
    assert.match(r.mqttUrl.message, /`bridges\[0\]\.url`/);
    assert.ok(r.badFilter, 'a bad filter rejects');
    assert.equal(r.badFilter.code, 'ERR_TABMQ_OPTION');
    assert.match(r.badFilter.message, /`bridges\[0\]\.out\[0\]\.filter`/);
    assert.ok(r.badName, 'a bad bridge name rejects');
    assert.equal(r.badName.code, 'ERR_TABMQ_OPTION');
    assert.match(r.badName.message, /`bridges\[0\]\.name`/);
  });
});

test('no unexpected errors in the browser console (pages, workers, the SharedWorker)', () => {
  // A worker's failed WebSocket (the relay is cut) is logged by Chromium.
  const expected = (e) => /WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/mqtt' failed/.test(e);
  const all = [...b.errors, ...workerLog.filter((l) => l.level === 'error').map((l) => `shared worker: ${l.text}`)];
  const unexpected = all.filter((e) => !expected(e));
  const other = [...consoleOther, ...workerLog.filter((l) => l.level !== 'error').map((l) => `shared worker ${l.level}: ${l.text}`)];
  console.log(`# browser console: ${all.length - unexpected.length} failed-WebSocket errors (expected while cut), ${other.length} other messages`);
  const kinds = new Map();
  for (const e of all.filter(expected)) {
    const k = e.replace(/127\.0\.0\.1:\d+/, '127.0.0.1:PORT');
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  for (const [k, count] of kinds) console.log(`#   ${count} x ${k.slice(0, 200)}`);
  for (const line of new Set(other)) console.log(`#   ${line.slice(0, 200)}`);
  assert.deepEqual(unexpected, []);
});
