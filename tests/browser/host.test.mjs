// The browser host end to end: real Chromium, real MQTT.js 5 (and Paho JS),
// the broker in a SharedWorker, a dedicated Worker, or the page itself.

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

async function page() {
  const p = await b.newPage();
  await p.waitForFunction(() => window.ready === true);
  return p;
}

let nameCounter = 0;
const uniqueName = (prefix) => `${prefix}-${Date.now()}-${nameCounter++}`;

for (const mode of ['shared', 'leader', 'worker', 'inline']) {
  describe(`mode ${mode}`, () => {
    test('QoS 0, 1 and 2 publish and subscribe between MQTT.js 5 clients', async () => {
      const p = await page();
      const got = await p.evaluate(async ({ mode, name }) => {
        const broker = await tabmq.startBroker({ name, mode, durability: 'memory' });
        const sub = await h.connect(broker, { protocolVersion: 5, clientId: 'sub' });
        await sub.subscribeAsync('home/+/temp', { qos: 2 });
        const pub = await h.connect(broker, { protocolVersion: 5, clientId: 'pub' });
        const received = h.collect(sub, 3);
        await pub.publishAsync('home/kitchen/temp', 'q0', { qos: 0 });
        await pub.publishAsync('home/kitchen/temp', 'q1', { qos: 1 });
        await pub.publishAsync('home/kitchen/temp', 'q2', { qos: 2 });
        const msgs = (await received).map(h.plain);
        await sub.endAsync();
        await pub.endAsync();
        await broker.close();
        return msgs;
      }, { mode, name: uniqueName('qos') });
      assert.deepEqual(got.map((m) => [m.topic, m.payload, m.qos]), [
        ['home/kitchen/temp', 'q0', 0],
        ['home/kitchen/temp', 'q1', 1],
        ['home/kitchen/temp', 'q2', 2],
      ]);
      await p.close();
    });

    test('retained messages: set, delivered with RETAIN to a new subscriber, cleared', async () => {
      const p = await page();
      const r = await p.evaluate(async ({ mode, name }) => {
        const broker = await tabmq.startBroker({ name, mode, durability: 'memory' });
        const pub = await h.connect(broker, { protocolVersion: 5 });
        await pub.publishAsync('lights/hall', 'on', { qos: 1, retain: true });
        const late = await h.connect(broker, { protocolVersion: 4 });
        const first = h.collect(late, 1);
        await late.subscribeAsync('lights/#', { qos: 1 });
        const [m] = (await first).map(h.plain);
        await pub.publishAsync('lights/hall', '', { qos: 1, retain: true });
        const later = await h.connect(broker, { protocolVersion: 5 });
        let extra = 0;
        later.on('message', () => extra++);
        await later.subscribeAsync('lights/#', { qos: 1 });
        await h.sleep(200);
        const stats = await broker.stats();
        await broker.close();
        return { m, extra, retained: stats.retained };
      }, { mode, name: uniqueName('retain') });
      assert.deepEqual([r.m.topic, r.m.payload, r.m.retain, r.m.qos], ['lights/hall', 'on', true, 1]);
      assert.equal(r.extra, 0, 'a cleared retained message is not delivered');
      assert.equal(r.retained, 0);
    });

    test('MQTT 5 properties reach the receiver', async () => {
      const p = await page();
      const m = await p.evaluate(async ({ mode, name }) => {
        const broker = await tabmq.startBroker({ name, mode, durability: 'memory' });
        const sub = await h.connect(broker, { protocolVersion: 5 });
        await sub.subscribeAsync('req/#', { qos: 1 });
        const pub = await h.connect(broker, { protocolVersion: 5 });
        const got = h.collect(sub, 1);
        await pub.publishAsync('req/thermostat', '{"set":21}', {
          qos: 1,
          properties: {
            userProperties: { a: '1', b: '2' },
            responseTopic: 'resp/thermostat',
            correlationData: new TextEncoder().encode('corr-7'),
            messageExpiryInterval: 60,
            contentType: 'application/json',
            payloadFormatIndicator: true,
          },
        });
        const [msg] = (await got).map(h.plain);
        await broker.close();
        return msg;
      }, { mode, name: uniqueName('props') });
      assert.deepEqual(m.properties.userProperties, { a: '1', b: '2' });
      assert.equal(m.properties.responseTopic, 'resp/thermostat');
      assert.equal(m.properties.correlationData, 'corr-7');
      assert.equal(m.properties.contentType, 'application/json');
      assert.equal(m.properties.payloadFormatIndicator, true);
      assert.ok(m.properties.messageExpiryInterval > 0 && m.properties.messageExpiryInterval <= 60);
    });

    test('a 3.1.1 client next to a 5.0 client', async () => {
      const p = await page();
      const r = await p.evaluate(async ({ mode, name }) => {
        const broker = await tabmq.startBroker({ name, mode, durability: 'memory' });
        const v3 = await h.connect(broker, { protocolVersion: 4, clientId: 'old' });
        const v5 = await h.connect(broker, { protocolVersion: 5, clientId: 'new' });
        await v3.subscribeAsync('x/#', { qos: 1 });
        await v5.subscribeAsync('y/#', { qos: 1 });
        const at3 = h.collect(v3, 1);
        const at5 = h.collect(v5, 1);
        await v5.publishAsync('x/1', 'from5', { qos: 1, properties: { userProperties: { dropped: 'in 3.1.1' } } });
        await v3.publishAsync('y/1', 'from3', { qos: 1 });
        const r = [(await at3).map(h.plain)[0], (await at5).map(h.plain)[0]];
        await broker.close();
        return r;
      }, { mode, name: uniqueName('mixed') });
      assert.equal(r[0].payload, 'from5');
      assert.equal(r[0].properties, undefined);
      assert.equal(r[1].payload, 'from3');
    });

    test('a client whose socket drops without DISCONNECT has its will sent', async () => {
      const p = await page();
      const will = await p.evaluate(async ({ mode, name }) => {
        const broker = await tabmq.startBroker({ name, mode, durability: 'memory' });
        const watcher = await h.connect(broker, { protocolVersion: 5 });
        await watcher.subscribeAsync('status/#', { qos: 1 });
        const device = await h.connect(broker, {
          protocolVersion: 5,
          clientId: 'lamp',
          will: { topic: 'status/lamp', payload: 'offline', qos: 1, retain: false },
        });
        const got = h.collect(watcher, 1);
        device.socket.close();
        const [m] = (await got).map(h.plain);
        await broker.close();
        return m;
      }, { mode, name: uniqueName('will') });
      assert.deepEqual([will.topic, will.payload], ['status/lamp', 'offline']);
    });

    test('malformed frames close only that connection, with the right reason code', async () => {
      const p = await page();
      const r = await p.evaluate(async ({ mode, name }) => {
        const broker = await tabmq.startBroker({ name, mode, durability: 'memory' });
        const good = await h.connect(broker, { protocolVersion: 5 });
        await good.subscribeAsync('ok/#', { qos: 1 });
        // A raw socket: CONNECT (v5, client id "bad"), then a PUBLISH with QoS 3.
        const sock = broker.createWebsocket(broker.url, ['mqtt']);
        sock.binaryType = 'arraybuffer';
        const frames = [];
        const closed = new Promise((ok) => (sock.onclose = (e) => ok(e.code)));
        sock.onmessage = (e) => frames.push([...new Uint8Array(e.data)]);
        await new Promise((ok) => (sock.onopen = ok));
        sock.send(new Uint8Array([0x10, 16, 0, 4, 77, 81, 84, 84, 5, 2, 0, 60, 0, 0, 3, 98, 97, 100]));
        await h.sleep(50);
        sock.send(new Uint8Array([0x36, 5, 0, 1, 97, 0, 1]));
        const code = await closed;
        const got = h.collect(good, 1);
        const pub = await h.connect(broker, { protocolVersion: 5 });
        await pub.publishAsync('ok/1', 'still here', { qos: 1 });
        const after = (await got).map(h.plain)[0].payload;
        await broker.close();
        return { frames, code, after };
      }, { mode, name: uniqueName('malformed') });
      assert.deepEqual(r.frames[0].slice(0, 4), [0x20, r.frames[0][1], 0, 0], 'CONNACK success first');
      assert.deepEqual(r.frames[1], [0xe0, 1, 0x81], 'DISCONNECT 0x81 malformed packet');
      assert.equal(r.after, 'still here');
    });
  });
}

describe('shared mode across tabs', () => {
  test('two tabs of one origin share one broker', async () => {
    const ctx = await b.newContext();
    const a = await b.newPage(undefined, ctx);
    const c = await b.newPage(undefined, ctx);
    await a.waitForFunction(() => window.ready === true);
    await c.waitForFunction(() => window.ready === true);
    const name = uniqueName('tabs');
    await a.evaluate(async (name) => {
      window.broker = await tabmq.startBroker({ name, durability: 'memory' });
      window.sub = await h.connect(window.broker, { protocolVersion: 5, clientId: 'tab-a' });
      await window.sub.subscribeAsync('tabs/#', { qos: 1 });
      window.got = h.collect(window.sub, 1);
    }, name);
    await c.evaluate(async (name) => {
      const broker = await tabmq.startBroker({ name, durability: 'memory' });
      const pub = await h.connect(broker, { protocolVersion: 5, clientId: 'tab-b' });
      await pub.publishAsync('tabs/b', 'hello from B', { qos: 1 });
    }, name);
    const got = await a.evaluate(async () => (await window.got).map(h.plain)[0]);
    assert.equal(got.payload, 'hello from B');
    await ctx.close();
  });

  test('closing a tab sends the wills of its clients', async () => {
    const ctx = await b.newContext();
    const a = await b.newPage(undefined, ctx);
    const c = await b.newPage(undefined, ctx);
    await a.waitForFunction(() => window.ready === true);
    await c.waitForFunction(() => window.ready === true);
    const name = uniqueName('tabclose');
    await a.evaluate(async (name) => {
      window.broker = await tabmq.startBroker({ name, durability: 'memory' });
      window.watch = await h.connect(window.broker, { protocolVersion: 5 });
      await window.watch.subscribeAsync('status/#', { qos: 1 });
      window.got = h.collect(window.watch, 1, 20_000);
    }, name);
    await c.evaluate(async (name) => {
      const broker = await tabmq.startBroker({ name, durability: 'memory' });
      await h.connect(broker, { protocolVersion: 4, clientId: 'door', will: { topic: 'status/door', payload: 'gone', qos: 1 } });
    }, name);
    await c.close();
    const got = await a.evaluate(async () => (await window.got).map(h.plain)[0]);
    assert.deepEqual([got.topic, got.payload], ['status/door', 'gone']);
    await ctx.close();
  });
});

describe('page API', () => {
  test('bad options reject with an Error that names the option', async () => {
    const p = await page();
    const errs = await p.evaluate(async () => {
      const bad = [
        { mode: 'tab' },
        { durability: 'forever' },
        { name: '' },
        { colour: 'red' },
        { mode: 'shared', authorize: () => true },
        { mode: 'inline', limits: { maxPacketSize: 0 } },
        { mode: 'worker', limits: { maxInflight: 1.5 } },
        { mode: 'inline', limits: { maxThings: 3 } },
        { mode: 'shared', name: 'bad-limits', limits: { maxThings: 3 } },
        { mode: 'worker', limits: { maxInflight: '5' } },
        { mode: 'inline', limits: [] },
        { mode: 'shared', name: 'bad-durability', durability: 'disk' },
      ];
      const out = [];
      for (const options of bad) {
        try {
          await tabmq.startBroker(options);
          out.push('no error');
        } catch (e) {
          out.push({ isError: e instanceof Error, isTabmqError: e instanceof tabmq.TabmqError, name: e.name, code: e.code, message: e.message });
        }
      }
      // A refused start holds nothing: the same name starts with good
      // options, its database neither locked nor blocked.
      const good = await tabmq.startBroker({ mode: 'shared', name: 'bad-limits' });
      const errors = [];
      good.addEventListener('error', (e) => errors.push(e.code));
      await new Promise((ok) => setTimeout(ok, 100));
      out.push({ restarted: (await good.stats()).storage?.enabled === true, errors });
      await good.close();
      return out;
    });
    assert.deepEqual(errs.pop(), { restarted: true, errors: [] }, 'a broker name refused for bad options starts afterwards with IndexedDB');
    const names = ['mode', 'durability', 'name', 'colour', 'authorize', 'limits.maxPacketSize', 'limits.maxInflight', 'maxThings',
      'limits.maxThings', 'limits.maxInflight', 'limits', 'durability'];
    errs.forEach((e, i) => {
      assert.equal(e.isError, true, `option ${names[i]} rejects with an Error`);
      assert.equal(e.isTabmqError, true, `option ${names[i]} rejects with a TabmqError (${e.name}: ${e.message})`);
      assert.equal(e.code, 'ERR_TABMQ_OPTION');
      assert.match(e.message, new RegExp(names[i].replace('.', '\\.')), e.message);
    });
  });

  test('an option the core refuses is a TabmqError in every mode', async () => {
    const p = await page();
    const errs = await p.evaluate(async () => {
      const out = [];
      for (const mode of ['inline', 'worker']) {
        try {
          await tabmq.startBroker({ mode, durability: 'memory', limits: { maxPacketSize: 0 } });
          out.push('no error');
        } catch (e) {
          out.push({ mode, isTabmqError: e instanceof tabmq.TabmqError, name: e.name, code: e.code });
        }
      }
      return out;
    });
    for (const e of errs) {
      assert.equal(e.isTabmqError, true, `mode ${e.mode}: ${e.name}`);
      assert.equal(e.name, 'TabmqError');
      assert.equal(e.code, 'ERR_TABMQ_OPTION');
    }
  });

  test('Paho JS connects through installWebSocket() and talks to MQTT.js', async () => {
    const p = await page();
    await p.addScriptTag({ url: '/node_modules/paho-mqtt/paho-mqtt.js' });
    const r = await p.evaluate(async (name) => {
      const broker = await tabmq.startBroker({ name, mode: 'inline', durability: 'memory' });
      const uninstall = broker.installWebSocket();
      const viaMqttJs = await h.connect(broker, { protocolVersion: 4 });
      await viaMqttJs.subscribeAsync('paho/out', { qos: 1 });
      const fromPaho = h.collect(viaMqttJs, 1);
      const paho = new Paho.Client(broker.url.replace('ws://tabmq.invalid/', 'ws://tabmq.invalid:80/'), 'paho-1');
      const toPaho = new Promise((ok) => (paho.onMessageArrived = (m) => ok(m.payloadString)));
      await new Promise((ok, fail) => paho.connect({ onSuccess: ok, onFailure: (e) => fail(new Error(e.errorMessage)), mqttVersion: 4 }));
      await new Promise((ok, fail) => paho.subscribe('paho/in', { qos: 1, onSuccess: ok, onFailure: fail }));
      paho.send('paho/out', 'hello from paho', 1, false);
      await viaMqttJs.publishAsync('paho/in', 'hello paho', { qos: 1 });
      const r = { fromPaho: (await fromPaho).map(h.plain)[0].payload, toPaho: await toPaho, realWs: WebSocket !== undefined };
      paho.disconnect();
      uninstall();
      // Other URLs still reach the real WebSocket.
      r.restored = new WebSocket('ws://127.0.0.1:9/') instanceof WebSocket;
      await broker.close();
      return r;
    }, uniqueName('paho'));
    assert.equal(r.fromPaho, 'hello from paho');
    assert.equal(r.toPaho, 'hello paho');
  });

  test("without SharedWorker, mode 'shared' becomes 'leader': handles of one name share one broker, and nothing is said", async () => {
    const p = await page();
    const warnings = [];
    p.on('console', (m) => m.type() === 'warning' && warnings.push(m.text()));
    const r = await p.evaluate(async (name) => {
      const real = window.SharedWorker;
      window.SharedWorker = undefined;
      try {
        const a = await tabmq.startBroker({ name, durability: 'memory' });
        const a2 = await tabmq.startBroker({ name, durability: 'memory' });
        const c = await h.connect(a, { protocolVersion: 5 });
        await c.subscribeAsync('f/#', { qos: 1 });
        const got = h.collect(c, 1);
        const pub = await h.connect(a2, { protocolVersion: 5 });
        await pub.publishAsync('f/1', 'one broker', { qos: 1 });
        const msg = (await got).map(h.plain)[0].payload;
        const modes = [a.mode, a2.mode];
        const connections = (await a2.stats()).connections;
        await a2.close();
        await a.close();
        return { modes, msg, connections };
      } finally {
        window.SharedWorker = real;
      }
    }, uniqueName('fallback'));
    assert.deepEqual(r.modes, ['leader', 'leader']);
    assert.equal(r.msg, 'one broker');
    assert.equal(r.connections, 2);
    assert.deepEqual(warnings, []);
  });

  test("binaryType 'blob' delivers Blob frames; send accepts ArrayBuffer, typed arrays and Blob", async () => {
    const p = await page();
    const r = await p.evaluate(async (name) => {
      const broker = await tabmq.startBroker({ name, mode: 'inline', durability: 'memory' });
      const sock = broker.createWebsocket(broker.url, ['mqtt']);
      const frames = [];
      sock.addEventListener('message', (e) => frames.push(e.data));
      await new Promise((ok) => sock.addEventListener('open', ok));
      const states = [sock.readyState, sock.protocol, sock.binaryType, sock.bufferedAmount];
      // CONNECT (v5, client id "b") sent as a Blob, then PINGREQ as a DataView.
      sock.send(new Blob([new Uint8Array([0x10, 14, 0, 4, 77, 81, 84, 84, 5, 2, 0, 60, 0, 0, 1, 98])]));
      await h.sleep(50);
      sock.send(new DataView(new Uint8Array([0xc0, 0]).buffer));
      await h.sleep(50);
      const kinds = frames.map((f) => f.constructor.name);
      const bytes = await Promise.all(frames.map(async (f) => [...new Uint8Array(await f.arrayBuffer())]));
      const closed = new Promise((ok) => (sock.onclose = (e) => ok([e.code, e.wasClean])));
      sock.close(1000);
      const closeInfo = await closed;
      await broker.close();
      return { states, kinds, bytes, closeInfo, after: sock.readyState };
    }, uniqueName('blob'));
    assert.deepEqual(r.states, [1, 'mqtt', 'blob', 0]);
    assert.deepEqual(r.kinds, ['Blob', 'Blob']);
    assert.equal(r.bytes[0][0], 0x20, 'CONNACK');
    assert.deepEqual(r.bytes[1], [0xd0, 0], 'PINGRESP');
    assert.deepEqual(r.closeInfo, [1000, true]);
    assert.equal(r.after, 3);
  });

  test('an onmessage handler that throws is reported and delivery goes on, as with a WebSocket', async () => {
    const p = await page();
    const r = await p.evaluate(async (name) => {
      const broker = await tabmq.startBroker({ name, mode: 'inline', durability: 'memory' });
      const sock = broker.createWebsocket(broker.url, ['mqtt']);
      sock.binaryType = 'arraybuffer';
      const seen = [];
      const reported = [];
      window.addEventListener('error', (e) => { reported.push(e.message); e.preventDefault(); });
      sock.onmessage = (e) => {
        seen.push(new Uint8Array(e.data)[0]);
        if (seen.length === 2) throw new Error('handler bug');
      };
      await new Promise((ok) => (sock.onopen = ok));
      sock.send(new Uint8Array([0x10, 14, 0, 4, 77, 81, 84, 84, 5, 2, 0, 60, 0, 0, 1, 116]));
      await h.sleep(50);
      sock.send(new Uint8Array([0xc0, 0, 0xc0, 0, 0xc0, 0]));
      await h.sleep(100);
      await broker.close();
      return { seen, reported };
    }, uniqueName('throws'));
    assert.deepEqual(r.seen.slice(0, 4), [0x20, 0xd0, 0xd0, 0xd0], 'CONNACK and three PINGRESPs, though the handler threw on the first');
    assert.ok(r.reported.some((m) => m.includes('handler bug')));
  });

  test('stats() counts connections, subscriptions, retained and traffic', async () => {
    const p = await page();
    const s = await p.evaluate(async (name) => {
      const broker = await tabmq.startBroker({ name, mode: 'worker', durability: 'memory', sysInterval: 0 });
      const c = await h.connect(broker, { protocolVersion: 5 });
      await c.subscribeAsync(['a/#', 'b/#'], { qos: 1 });
      await c.publishAsync('a/1', 'x', { qos: 1, retain: true });
      await h.sleep(50);
      const s = await broker.stats();
      await broker.close();
      return s;
    }, uniqueName('stats'));
    assert.equal(s.connections, 1);
    assert.equal(s.subscriptions, 2);
    assert.equal(s.retained, 1);
    assert.equal(s.messagesReceived, 1);
    assert.ok(s.bytesReceived > 0 && s.bytesSent > 0);
  });
});

test('no errors in the browser console', () => {
  const unexpected = b.errors.filter((e) => !e.includes('ws://127.0.0.1:9') && !e.includes('handler bug'));
  assert.deepEqual(unexpected, []);
});
