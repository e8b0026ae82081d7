// The broker survives its own death: the SharedWorker is killed (Chrome
// DevTools Protocol, Target.closeTarget) mid-stream; every page notices
// through the worker's lifeline lock, a new broker restores from IndexedDB,
// MQTT.js clients reconnect by their reconnectPeriod and resume their
// sessions. And a client in a Worker that is terminated gets its will at
// once, not at its keep-alive deadline.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBrowser } from './harness.mjs';
import { collect, connect, endAll, testBroker, urlOf, within } from '../node/helpers.mjs';

let b;
let cdp;
before(async () => {
  b = await startBrowser();
  cdp = await b.browser.newBrowserCDPSession();
});
after(async () => {
  await cdp?.detach().catch(() => {});
  await b?.close();
});

let n = 0;
const uniqueName = (prefix) => `${prefix}-${Date.now()}-${n++}`;

async function page(context) {
  const p = await b.newPage(undefined, context);
  await p.waitForFunction(() => window.ready === true);
  return p;
}

/** Kills the one SharedWorker running tabmq's worker.js, as the OS would:
 *  no event, no unload. Returns the time of the kill (ms since the epoch). */
async function killSharedWorker() {
  const { targetInfos } = await cdp.send('Target.getTargets');
  const workers = targetInfos.filter((t) => t.type === 'shared_worker' && t.url.endsWith('/www/browser/worker.js'));
  assert.equal(workers.length, 1, `one tabmq SharedWorker running (${workers.length})`);
  const at = Date.now();
  await cdp.send('Target.closeTarget', { targetId: workers[0].targetId });
  return at;
}

const PERSISTENT = { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } };

/** In a page: joins broker `name`, connects a persistent MQTT.js client
 *  `me` (reconnecting every 100 ms) subscribed to `other/#`, and records its
 *  connects, its sockets' closes and the handle's 'restarted' events.
 *  Resolves to the handle's mode. */
async function client(p, { name, me, other }) {
  return p.evaluate(async ({ name, me, other, PERSISTENT }) => {
    const broker = await tabmq.startBroker({ name });
    window.restarts = [];
    broker.addEventListener('restarted', (e) => window.restarts.push({ ...e.detail, at: Date.now() }));
    window.closes = [];
    const make = broker.createWebsocket;
    broker.createWebsocket = (...args) => {
      const socket = make(...args);
      socket.addEventListener('close', (e) => window.closes.push({ code: e.code, reason: e.reason, at: Date.now() }));
      return socket;
    };
    const c = await h.connect(broker, { ...PERSISTENT, clientId: me, reconnectPeriod: 100 });
    window.connects = [];
    c.on('connect', (ack) => window.connects.push({ at: Date.now(), sessionPresent: ack.sessionPresent }));
    await c.subscribeAsync(`${other}/#`, { qos: 1 });
    window.client = c;
    window.broker = broker;
    return broker.mode;
  }, { name, me, other, PERSISTENT });
}

/** In a page: publishes `count` QoS 1 messages on `me/x`, paced (`burst`
 *  every `every` ms: about 2 s for 1,000 by 2 every 4 ms) so that a kill lands mid-stream,
 *  recording the acknowledged ones in `window.acked`. Payloads are `i`, or
 *  `me-i` with `tagged`. */
function publish(p, { me, count, burst = 2, every = 4, tagged = false }) {
  return p.evaluate(({ me, count, burst, every, tagged }) => {
    window.acked = [];
    window.pubErrors = [];
    let sent = 0;
    const timer = setInterval(() => {
      for (let k = 0; k < burst && sent < count; k++) {
        const i = tagged ? `${me}-${sent++}` : sent++;
        window.client.publish(`${me}/x`, `${i}`, { qos: 1 }, (err) => {
          if (err) window.pubErrors.push(String(err.message ?? err));
          else window.acked.push(i);
        });
      }
      if (sent >= count) clearInterval(timer);
    }, every);
  }, { me, count, burst, every, tagged });
}

describe('the SharedWorker dies', () => {
  test('killed mid-stream while two tabs exchange 2,000 QoS 1 messages (strict): back within 2 s, every acknowledged message delivered, sessions resumed', { timeout: 90_000 }, async () => {
    const ctx = await b.newContext();
    const name = uniqueName('kill');
    // An idle tab starts the SharedWorker first: the clients' tabs only join it.
    const idle = await page(ctx);
    await idle.evaluate(async (name) => {
      window.broker = await tabmq.startBroker({ name });
      window.restarts = [];
      window.broker.addEventListener('restarted', (e) => window.restarts.push(e.detail));
    }, name);
    const pa = await page(ctx);
    const pb = await page(ctx);
    await client(pa, { name, me: 'a', other: 'b' });
    await client(pb, { name, me: 'b', other: 'a' });
    const COUNT = 1000;
    await Promise.all([publish(pa, { me: 'a', count: COUNT }), publish(pb, { me: 'b', count: COUNT })]);
    await pa.waitForFunction(() => window.acked.length >= 250);
    const killedAt = await killSharedWorker();
    const ackedAtKill = {
      a: await pa.evaluate(() => window.acked.length),
      b: await pb.evaluate(() => window.acked.length),
    };
    assert.ok(ackedAtKill.a < COUNT && ackedAtKill.b < COUNT, `the kill lands mid-stream (${ackedAtKill.a}, ${ackedAtKill.b} acknowledged)`);

    // Both clients reconnect to the new broker and resume their sessions.
    for (const p of [pa, pb]) await p.waitForFunction(() => window.connects.length >= 1, null, { timeout: 10_000 });
    const seen = async (p) => p.evaluate(() => ({ connects: window.connects, closes: window.closes, restarts: window.restarts }));
    const sa = await seen(pa);
    const sb = await seen(pb);
    for (const [who, s] of [['a', sa], ['b', sb]]) {
      assert.equal(s.closes[0]?.code, 1012, `${who}: its socket closed with 1012 (${JSON.stringify(s.closes[0])})`);
      assert.ok(s.closes[0].at - killedAt < 1000, `${who}: the death was noticed within 1 s (${s.closes[0].at - killedAt} ms)`);
      assert.ok(s.connects[0].at - killedAt < 2000, `${who}: served again within 2 s (${s.connects[0].at - killedAt} ms)`);
      assert.equal(s.connects[0].sessionPresent, true, `${who}: the session resumed`);
      assert.equal(s.restarts.length, 1, `${who}: one 'restarted' event`);
      assert.equal(s.restarts[0].cause, 'lock');
      assert.equal(typeof s.restarts[0].duration, 'number');
    }
    await idle.waitForFunction(() => window.restarts.length === 1);

    // Every message is acknowledged in the end, and every acknowledged one
    // (before the kill and after) reaches the other tab.
    for (const p of [pa, pb]) await p.waitForFunction((count) => window.acked.length === count, COUNT, { timeout: 60_000 });
    const expected = [...Array(COUNT).keys()].map(String);
    const received = (p) => p.waitForFunction((expected) => {
      const got = new Set(window.client.inbox.map((m) => m.payload));
      return expected.every((x) => got.has(x)) && window.client.inbox.length;
    }, expected, { timeout: 30_000 }).then((h) => h.jsonValue());
    const gotA = await received(pa);
    const gotB = await received(pb);
    assert.deepEqual(await pa.evaluate(() => window.pubErrors), []);
    assert.deepEqual(await pb.evaluate(() => window.pubErrors), []);
    const times = [sa, sb].map((s) => s.connects[0].at - killedAt);
    console.log(`# SharedWorker killed after ${ackedAtKill.a}+${ackedAtKill.b} acks; noticed after ${sa.closes[0].at - killedAt}/${sb.closes[0].at - killedAt} ms; clients back after ${times.join('/')} ms (restart took ${sa.restarts[0].duration} ms); ${gotA}+${gotB} delivered (duplicates allowed)`);
    await ctx.close();
  });
});

/** Resolves once `p`'s client has received every payload in `expected`. */
function receivedAll(p, expected, timeout = 20_000) {
  return p.waitForFunction((expected) => {
    const got = new Set(window.client.inbox.map((m) => m.payload));
    return expected.every((x) => got.has(x));
  }, expected, { timeout });
}

/** Waits for `p`'s client to be connected again after `at`; returns how
 *  long it took. */
async function backAfter(p, at) {
  const handle = await p.waitForFunction((at) => window.connects.find((c) => c.at >= at && c.sessionPresent), at, { timeout: 10_000 });
  return (await handle.jsonValue()).at - at;
}

describe('what comes back with the broker', () => {
  test('$SYS goes on: the new broker publishes its own uptime to the resumed subscription', { timeout: 60_000 }, async () => {
    const ctx = await b.newContext();
    const name = uniqueName('sys');
    const p = await page(ctx);
    await p.evaluate(async ({ name, PERSISTENT }) => {
      window.broker = await tabmq.startBroker({ name, sysInterval: 1 });
      window.client = await h.connect(window.broker, { ...PERSISTENT, clientId: 'sys', reconnectPeriod: 100 });
      await window.client.subscribeAsync('$SYS/broker/uptime', { qos: 0 });
    }, { name, PERSISTENT });
    const uptimes = () => p.evaluate(() => window.client.inbox.map((m) => parseInt(m.payload, 10)));
    await p.waitForFunction(() => window.client.inbox.some((m) => parseInt(m.payload, 10) >= 2), null, { timeout: 10_000 });
    const before = (await uptimes()).length;
    await killSharedWorker();
    // A new broker: its uptime starts again from 0.
    await p.waitForFunction((before) => window.client.inbox.slice(before).some((m) => parseInt(m.payload, 10) < 2), before, { timeout: 10_000 });
    const after = (await uptimes()).slice(before);
    assert.ok(after.some((u) => u < 2), `uptimes after the kill: ${after}`);
    await ctx.close();
  });

  test("the page's own broker.subscribe goes on: made again on the new broker, which delivers to it", { timeout: 60_000 }, async () => {
    const ctx = await b.newContext();
    const name = uniqueName('hostsub');
    const p = await page(ctx);
    await p.evaluate(async (name) => {
      window.broker = await tabmq.startBroker({ name });
      window.got = [];
      window.restarted = new Promise((ok) => window.broker.addEventListener('restarted', ok, { once: true }));
      await window.broker.subscribe('page/#', (m) => window.got.push(new TextDecoder().decode(m.payload)));
      await window.broker.publish('page/x', 'before');
    }, name);
    await p.waitForFunction(() => window.got.includes('before'));
    await killSharedWorker();
    await p.evaluate(() => window.restarted);
    // The resubscription is a request of its own, sent as the broker is back.
    let delivered = false;
    for (const deadline = Date.now() + 10_000; !delivered && Date.now() < deadline;) {
      delivered = await p.evaluate(async () => {
        await window.broker.publish('page/x', 'after');
        await new Promise((ok) => setTimeout(ok, 100));
        return window.got.includes('after');
      });
    }
    assert.ok(delivered, 'a message published after the restart reaches the subscription made before it');
    await ctx.close();
  });

  test('a bridge goes on: after the kill, the new broker bridges to the remote broker again', { timeout: 60_000 }, async () => {
    const remote = await testBroker();
    const sub = await connect(urlOf(remote, 'tcp'), { protocolVersion: 5 });
    try {
      await sub.subscribeAsync('site/up/#', { qos: 1 });
      const ctx = await b.newContext();
      const name = uniqueName('bridge');
      const p = await page(ctx);
      await p.evaluate(async ({ name, PERSISTENT, url }) => {
        window.broker = await tabmq.startBroker({
          name,
          bridges: [{ name: 'cloud', clientId: `tabmq.${name}`, url, reconnect: { minDelay: 100, maxDelay: 500 }, out: [{ filter: 'up/#', qos: 1, remotePrefix: 'site/' }] }],
        });
        window.client = await h.connect(window.broker, { ...PERSISTENT, clientId: 'dev', reconnectPeriod: 100 });
        window.connects = [];
        window.client.on('connect', () => window.connects.push(Date.now()));
      }, { name, PERSISTENT, url: urlOf(remote, 'ws') });
      const first = collect(sub, 1, 10_000, 'the message bridged before the kill');
      await p.evaluate(() => window.client.publishAsync('up/before', 'b', { qos: 1 }));
      assert.equal((await first)[0].topic, 'site/up/before');
      await killSharedWorker();
      await p.waitForFunction(() => window.connects.length > 0, null, { timeout: 10_000 });
      // (A QoS 1 duplicate of the first message may come too.)
      const second = within(10_000, 'the message bridged after the kill', new Promise((ok) => {
        sub.on('message', (topic) => topic === 'site/up/after' && ok());
      }));
      await p.evaluate(() => window.client.publishAsync('up/after', 'a', { qos: 1 }));
      await second;
      await ctx.close();
    } finally {
      await endAll(sub);
      await remote.close();
    }
  });
});

describe('without Web Locks in the page: the heartbeat', () => {
  test('the SharedWorker killed: the page notices by missed heartbeats and its client is back within 2 s', { timeout: 60_000 }, async () => {
    const ctx = await b.newContext();
    await ctx.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined });
    });
    const name = uniqueName('heartbeat');
    const idle = await page(ctx);
    await idle.evaluate(async (name) => { window.broker = await tabmq.startBroker({ name }); }, name);
    const p = await page(ctx);
    await client(p, { name, me: 'a', other: 'a' });
    const killedAt = await killSharedWorker();
    const back = await backAfter(p, killedAt);
    const restarts = await p.evaluate(() => window.restarts.map((r) => r.cause));
    assert.deepEqual(restarts, ['heartbeat']);
    const noticed = (await p.evaluate(() => window.closes[0].at)) - killedAt;
    assert.ok(noticed < 1000, `noticed within 1 s (${noticed} ms; pings every 150 ms, 4 missed)`);
    assert.ok(back < 2000, `served again within 2 s (${back} ms)`);
    const got = await p.evaluate(async () => {
      const next = h.collect(window.client, 1);
      await window.client.publishAsync('a/x', 'after', { qos: 1 });
      return (await next)[0].payload;
    });
    assert.equal(got, 'after');
    console.log(`# heartbeat: noticed ${noticed} ms, client back ${back} ms after the kill`);
    // Mode 'leader' cannot elect without Web Locks: it says so.
    const refused = await p.evaluate((name) => tabmq.startBroker({ name, mode: 'leader' }).then(() => null, (e) => ({ name: e.name, code: e.code, message: e.message })), `${name}-leader`);
    assert.equal(refused?.code, 'ERR_TABMQ_PLATFORM');
    assert.equal(refused.name, 'TabmqError');
    assert.match(refused.message, /mode 'leader'.*needs Web Locks/);
    await ctx.close();
  });
});

describe('without SharedWorker: a leader tab runs the broker', () => {
  test('a follower whose leader tab goes before its broker is ready elects the next leader instead of waiting forever', { timeout: 60_000 }, async () => {
    const ctx = await b.newContext();
    const name = uniqueName('stuck');
    const first = await page(ctx);
    // The first tab leads with a worker that never says 'ready'.
    await first.evaluate((name) => {
      window.pending = tabmq.startBroker({ name, mode: 'leader', workerUrl: '/tests/browser/pages/stuck-worker.js' });
    }, name);
    await first.waitForFunction(async (name) => {
      const { held } = await navigator.locks.query();
      return held.some((l) => l.name === `tabmq:leader:${name}`);
    }, name);
    const second = await page(ctx);
    await second.evaluate((name) => {
      window.started = tabmq.startBroker({ name, mode: 'leader' }).then((broker) => (window.broker = broker));
    }, name);
    // Welcomed by the first tab, it waits for a 'ready' that never comes.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await second.evaluate(() => window.broker === undefined), true);
    const closedAt = Date.now();
    await first.close();
    await second.evaluate(() => window.started);
    const took = Date.now() - closedAt;
    assert.ok(took < 2000, `served within 2 s of the leader tab's close (${took} ms)`);
    const client = await second.evaluate(async () => {
      const c = await h.connect(window.broker, { clientId: 'after-stuck' });
      const got = new Promise((ok) => c.once('message', (_t, p) => ok(new TextDecoder().decode(p))));
      await c.subscribeAsync('s/t');
      await c.publishAsync('s/t', 'served');
      return got;
    });
    assert.equal(client, 'served');
    await ctx.close();
  });

  test('three tabs share one broker; the leader tab is closed, then the next leader crashes: served again within 2 s each time, nothing acknowledged lost', { timeout: 90_000 }, async () => {
    const ctx = await b.newContext();
    await ctx.addInitScript(() => {
      delete window.SharedWorker;
    });
    const name = uniqueName('leader');
    const tabs = [];
    for (const me of ['t1', 't2', 't3']) {
      const p = await page(ctx);
      assert.equal(await client(p, { name, me, other: 't' }), 'leader');
      tabs.push(p);
    }
    const [p1, p2, p3] = tabs;
    // One broker: a message from one tab reaches the others.
    await p2.evaluate(() => window.client.publishAsync('t/hello', 'from t2', { qos: 1 }));
    for (const p of [p1, p3]) await receivedAll(p, ['from t2']);
    const stats = await p3.evaluate(() => window.broker.stats());
    assert.equal(stats.connections, 3, 'the three tabs\' clients are on one broker');

    // Every tab publishes, paced (100/s); the leader tab (the first: it was granted
    // the leader lock first) closes mid-stream.
    for (const [i, p] of tabs.entries()) await publish(p, { me: `t/${i + 1}`, count: 600, burst: 1, every: 10, tagged: true });
    await p1.waitForFunction(() => window.acked.length >= 100);
    const ackedBy1 = await p1.evaluate(() => window.acked.slice());
    const closedAt = Date.now();
    await p1.close({ runBeforeUnload: false });
    const first = [await backAfter(p2, closedAt), await backAfter(p3, closedAt)];
    const detail = async (p, at) => p.evaluate((at) => ({ noticed: window.closes.find((c) => c.at >= at)?.at - at, restarted: window.restarts.at(-1)?.duration }), at);
    console.log('# first failover, seen from the second and third tabs:', JSON.stringify([await detail(p2, closedAt), await detail(p3, closedAt)]));
    for (const ms of first) assert.ok(ms < 2000, `served again within 2 s of the leader's close (${first} ms)`);

    // A fourth tab joins the new leader (the second tab).
    const p4 = await page(ctx);
    assert.equal(await client(p4, { name, me: 't4', other: 't' }), 'leader');
    await p3.waitForFunction(() => window.acked.length >= 300);
    const ackedBy2 = await p2.evaluate(() => window.acked.slice());
    const crashedAt = Date.now();
    const session = await ctx.newCDPSession(p2);
    session.send('Page.crash').catch(() => {}); // answers never: the renderer is gone
    const second = [await backAfter(p3, crashedAt), await backAfter(p4, crashedAt)];
    for (const ms of second) assert.ok(ms < 2000, `served again within 2 s of the leader's crash (${second} ms)`);

    // Everything acknowledged, by the tabs that went too, reaches the tab
    // that saw it all.
    await p3.waitForFunction(() => window.acked.length === 600, null, { timeout: 30_000 });
    const ackedBy3 = await p3.evaluate(() => window.acked.slice());
    await receivedAll(p3, [...ackedBy1, ...ackedBy2, ...ackedBy3]);
    const restarts = await p3.evaluate(() => window.restarts.map((r) => r.cause));
    assert.deepEqual(restarts, ['lock', 'lock']);
    assert.deepEqual(await p3.evaluate(() => window.pubErrors), []);
    console.log(`# leader closed: back after ${first.join('/')} ms; leader crashed: back after ${second.join('/')} ms; ${ackedBy1.length}+${ackedBy2.length}+${ackedBy3.length} acknowledged, all delivered`);
    await ctx.close();
  });
});

describe('prompt wills', () => {
  /** In a page: a broker, a watcher of `status/#`, and a device client in a
   *  Worker over a port from openPort(). */
  const setup = async ({ name, mode }) => {
    const broker = await tabmq.startBroker({ name, mode, durability: 'memory' });
    const watcher = await h.connect(broker, { protocolVersion: 5, clientId: 'watcher' });
    await watcher.subscribeAsync('status/#', { qos: 1 });
    window.wills = [];
    watcher.on('message', (topic, payload) => window.wills.push({ topic, payload: String(payload), at: Date.now() }));
    const worker = new Worker('/tests/browser/pages/device-worker.js', { type: 'module' });
    const port = await broker.openPort();
    await new Promise((ok) => {
      worker.onmessage = (e) => e.data.t === 'connected' && ok();
      worker.postMessage({ t: 'start', id: 'dev1', port }, [port]);
    });
    window.worker = worker;
    window.watcher = watcher;
  };

  for (const mode of ['shared', 'worker']) {
    test(`${mode}: a device Worker terminated: its will arrives within 1 s (its keep alive is 60 s)`, { timeout: 30_000 }, async () => {
      const p = await page();
      await p.evaluate(setup, { name: uniqueName('will'), mode });
      const ms = await p.evaluate(async () => {
        const at = Date.now();
        window.worker.terminate();
        await h.collect(window.watcher, 1, 5000);
        return window.wills[0].at - at;
      });
      assert.ok(ms < 1000, `the will came ${ms} ms after the Worker was terminated`);
      console.log(`# ${mode}: will ${ms} ms after the device Worker was terminated`);
      await p.close();
    });
  }

  test('a device that disconnects cleanly and then goes gets no will', { timeout: 30_000 }, async () => {
    const p = await page();
    await p.evaluate(setup, { name: uniqueName('nowill'), mode: 'shared' });
    const wills = await p.evaluate(async () => {
      await new Promise((ok) => {
        window.worker.onmessage = (e) => e.data.t === 'ended' && ok();
        window.worker.postMessage({ t: 'end' });
      });
      window.worker.terminate();
      // The connection's lock comes free now; a marker published after the
      // lock's linger (1 s) arrives after any will would have.
      await h.sleep(1200);
      await window.watcher.publishAsync('status/marker', 'm', { qos: 1 });
      await h.collect(window.watcher, 1);
      return window.wills.map((w) => w.topic);
    });
    assert.deepEqual(wills, ['status/marker']);
    await p.close();
  });
});

test('no errors in the browser console', () => {
  assert.deepEqual(b.errors, []);
});
