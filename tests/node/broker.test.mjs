// createBroker(): options and their errors, listeners (port 0, several at
// once, a port in use), the WebSocket endpoint's rules, auth callbacks,
// events, stats/inspect, and close().

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { TabmqError } from '../../www/node/index.js';
import { collect, connect, createBroker, endAll, packet, rawConnect, testBroker, urlOf, within } from './helpers.mjs';

describe('options', () => {
  const bad = [
    [{}, 'tcp'],
    [{ tcp: 0, durability: 'strict' }, 'durability', /needs `dataDir`/],
    [{ tcp: 0, durability: 'relaxed' }, 'durability', /needs `dataDir`/],
    [{ tcp: 0, durability: 'disk' }, 'durability', /'strict', 'relaxed' or 'memory'/],
    [{ tcp: 0, dataDir: '/tmp/x', durability: 'memory' }, 'durability', /keeps nothing on disk/],
    [{ tcp: 0, dataDir: 42 }, 'dataDir', /path of a directory/],
    [{ tcp: 0, maxStoreBytes: 1000 }, 'maxStoreBytes', /needs `dataDir`/],
    [{ tcp: 0, dataDir: '/tmp/x', maxStoreBytes: -1 }, 'maxStoreBytes', /whole number/],
    [{ tcp: { port: 70000 } }, 'tcp.port', /0 to 65535/],
    [{ tcp: [0, { port: -1 }] }, 'tcp[1].port'],
    [{ tcp: '1883' }, 'tcp'],
    [{ tcp: { port: 0, bogus: 1 } }, 'tcp.bogus'],
    [{ ws: { port: 0, path: 'mqtt' } }, 'ws.path'],
    [{ ws: { port: 0, host: '' } }, 'ws.host'],
    [{ tcp: 0, limits: { maxConections: 5 } }, 'limits.maxConections', /maxConnections/],
    [{ tcp: 0, limits: { maxConnections: '5' } }, 'limits.maxConnections'],
    [{ tcp: 0, limits: { maxConnections: 0 } }, 'limits.maxConnections', /from 1/], // checked by the core
    [{ tcp: 0, limits: { connectTimeout: 5 } }, 'limits.connectTimeout'], // checked by the core
    [{ tcp: 0, limits: [] }, 'limits'],
    [{ tcp: 0, sysInterval: -1 }, 'sysInterval'],
    [{ tcp: 0, sysInterval: '10' }, 'sysInterval'],
    [{ tcp: 0, retainAvailable: 'yes' }, 'retainAvailable'],
    [{ tcp: 0, mode: 'inline' }, 'mode', /browser option/],
    [{ tcp: 0, hooks: './hooks.js' }, 'hooks', /functions/],
    [{ tcp: 0, authenticate: 'x' }, 'authenticate'],
    [{ tcp: 0, maxWriteBuffer: 10 }, 'maxWriteBuffer'],
    [{ tcp: 0, bogus: true }, 'bogus'],
    [null, 'options'],
  ];
  for (const [options, name, why] of bad) {
    test(`${JSON.stringify(options)} is refused, naming \`${name}\``, async () => {
      await assert.rejects(createBroker(options), (err) => {
        assert.ok(err instanceof Error);
        assert.ok(err instanceof TabmqError, `a TabmqError, not ${err?.constructor?.name}`);
        assert.equal(err.name, 'TabmqError');
        assert.equal(err.code, 'ERR_TABMQ_OPTION');
        assert.ok(err.message.includes(`\`${name}\``), err.message);
        if (why) assert.match(err.message, why);
        return true;
      });
    });
  }

  test('an option the core refuses is a TabmqError, as the host\'s own checks are', async () => {
    for (const limits of [{ maxConnections: 0 }, { maxConections: 5 }]) {
      await assert.rejects(createBroker({ tcp: 0, limits }), (err) => {
        assert.ok(err instanceof TabmqError, `${err.name}: ${err.message}`);
        assert.equal(err.name, 'TabmqError');
        assert.equal(err.code, 'ERR_TABMQ_OPTION');
        return true;
      });
    }
  });
});

describe('listeners', () => {
  test('port 0 picks free ports; several TCP and WebSocket listeners serve one broker', async () => {
    const broker = await createBroker({
      tcp: [0, { port: 0, host: '127.0.0.1' }],
      ws: [{ port: 0 }, { port: 0, path: '/' }],
      sysInterval: 0,
    });
    const clients = [];
    try {
      const ls = broker.addresses;
      assert.deepEqual(ls.map((l) => l.transport), ['tcp', 'tcp', 'ws', 'ws']);
      assert.equal(new Set(ls.map((l) => l.port)).size, 4);
      for (const l of ls) assert.ok(l.port > 0);
      assert.deepEqual(broker.ports, { tcp: ls[0].port, ws: ls[2].port });
      assert.equal(typeof broker.listeners, 'function', 'EventEmitter#listeners is left alone');
      assert.equal(ls[2].url, `ws://127.0.0.1:${ls[2].port}/mqtt`);
      assert.equal(ls[3].url, `ws://127.0.0.1:${ls[3].port}/`);
      for (const l of ls) clients.push(await connect(l.url, { protocolVersion: 5 }));
      await clients[0].subscribeAsync('multi', { qos: 1 });
      const got = collect(clients[0], 3);
      for (const c of clients.slice(1)) await c.publishAsync('multi', `via ${c.options.protocol}:${c.options.port}`, { qos: 1 });
      assert.equal((await got).length, 3);
      assert.equal(broker.stats().connections, 4);
      assert.equal(broker.stats().sockets, 4);
    } finally {
      await endAll(clients);
      await broker.close();
    }
  });

  test('a port in use: EADDRINUSE naming the address, and nothing is left listening', async () => {
    const busy = net.createServer();
    busy.listen(0, '127.0.0.1');
    await once(busy, 'listening');
    const busyPort = busy.address().port;
    // A port that is free now, for the listener opened before the failure.
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const freePort = probe.address().port;
    await new Promise((r) => probe.close(r));
    try {
      await assert.rejects(createBroker({ tcp: freePort, ws: busyPort }), (err) => {
        assert.ok(err instanceof TabmqError);
        assert.equal(err.code, 'EADDRINUSE');
        assert.match(err.message, new RegExp(`WebSocket on 127\\.0\\.0\\.1:${busyPort}: address already in use`));
        return true;
      });
      const again = net.createServer().listen(freePort, '127.0.0.1');
      await within(2000, 'the first listener\'s port to be free again', once(again, 'listening'));
      await new Promise((r) => again.close(r));
    } finally {
      busy.close();
    }
  });
});

describe('WebSocket endpoint', () => {
  const open = (url, protocols) => new Promise((resolve) => {
    const ws = new WebSocket(url, protocols);
    ws.on('open', () => resolve({ ws, protocol: ws.protocol }));
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
    ws.on('error', (err) => resolve({ error: err.message }));
  });

  test('accepts the mqtt and mqttv3.1 subprotocols only, at its path only', async () => {
    const broker = await testBroker({ tcp: undefined });
    try {
      const url = urlOf(broker, 'ws');
      const a = await open(url, ['mqtt']);
      assert.equal(a.protocol, 'mqtt');
      a.ws.close();
      const b = await open(url, ['foo', 'mqttv3.1']);
      assert.equal(b.protocol, 'mqttv3.1');
      b.ws.close();
      assert.equal((await open(url, ['foo'])).status, 400);
      assert.equal((await open(url)).status, 400, 'no subprotocol at all');
      assert.equal((await open(url.replace('/mqtt', '/other'), ['mqtt'])).status, 404);
      const res = await new Promise((resolve) => http.get(url.replace('ws:', 'http:'), resolve));
      assert.equal(res.statusCode, 426);
      res.resume();
    } finally {
      await broker.close();
    }
  });

  test('MQTT 3.1 (subprotocol mqttv3.1) over WebSocket', async () => {
    const broker = await testBroker({ tcp: undefined });
    try {
      const c = await connect(urlOf(broker, 'ws'), { protocolVersion: 3, protocolId: 'MQIsdp' });
      await c.subscribeAsync('v31', { qos: 1 });
      const got = collect(c, 1);
      await c.publishAsync('v31', 'ok', { qos: 1 });
      assert.equal((await got)[0].payload, 'ok');
      await endAll(c);
    } finally {
      await broker.close();
    }
  });

  test('a text frame closes the connection [MQTT-6.0.0-1]', async () => {
    const broker = await testBroker({ tcp: undefined });
    try {
      const { ws } = await open(urlOf(broker, 'ws'), ['mqtt']);
      const closed = once(ws, 'close');
      ws.send('not binary');
      const [code] = await within(3000, 'the broker to close the WebSocket', closed);
      assert.equal(code, 1003);
    } finally {
      await broker.close();
    }
  });
});

describe('callbacks and events', () => {
  test('authenticate (sync and async) and authorize are called with plain functions', async () => {
    const seen = [];
    const broker = await testBroker({
      authenticate: (req) => {
        seen.push([req.clientId, req.username, req.protocolVersion]);
        if (req.username === 'slow') return new Promise((r) => setTimeout(() => r(true), 20));
        return req.username === 'alice' && Buffer.from(req.password ?? []).toString() === 'secret';
      },
      authorize: (req) => !req.topic.startsWith('private/'),
    });
    const events = [];
    broker.on('event', (e) => events.push(e));
    let alice;
    let slow;
    try {
      const url = urlOf(broker, 'tcp');
      await assert.rejects(connect(url, { protocolVersion: 5, clientId: 'mallory', username: 'alice', password: 'guess' }),
        (err) => err.code === 0x86);
      await assert.rejects(connect(url, { protocolVersion: 4, clientId: 'mallory4', username: 'bob', password: 'x' }),
        (err) => err.code === 4 || err.code === 5);
      alice = await connect(url, { protocolVersion: 5, clientId: 'alice', username: 'alice', password: 'secret' });
      slow = await connect(url, { protocolVersion: 5, clientId: 'slowpoke', username: 'slow' });
      await assert.rejects(alice.subscribeAsync('private/x', { qos: 1 }), /Not authorized/); // SUBACK 0x87
      const [ok] = await alice.subscribeAsync('public/x', { qos: 1 });
      assert.equal(ok.qos, 1);
      await assert.rejects(alice.publishAsync('private/y', 'no', { qos: 1 }), /Not authorized/); // PUBACK 0x87
      assert.deepEqual(seen.map((s) => s[0]), ['mallory', 'mallory4', 'alice', 'slowpoke']);
      const rejected = events.filter((e) => e.type === 'rejected');
      assert.deepEqual(rejected.map((e) => e.reasonCode), [0x86, 0x86]);
      const connected = events.find((e) => e.type === 'connected' && e.clientId === 'alice');
      assert.equal(connected.transport, 'tcp');
      assert.equal(connected.remoteAddress, '127.0.0.1');
      assert.equal(connected.listener, url);
      assert.equal(connected.protocolVersion, 5);
    } finally {
      await endAll(alice, slow);
      await broker.close();
    }
  });

  test('stats() and inspect() describe the broker', async () => {
    const broker = await testBroker();
    const c = await connect(urlOf(broker, 'ws'), { protocolVersion: 5, clientId: 'inspected' });
    try {
      const d = await connect(urlOf(broker, 'tcp'), { protocolVersion: 4, clientId: 'second' });
      await c.subscribeAsync('a/+', { qos: 2 });
      await c.publishAsync('a/b', 'kept', { qos: 1, retain: true });
      const stats = broker.stats();
      assert.equal(stats.connections, 2);
      assert.equal(stats.sockets, 2);
      assert.equal(stats.retained, 1);
      assert.equal(stats.pausedSockets, 0);
      const view = broker.inspect();
      const me = view.clients.find((x) => x.clientId === 'inspected');
      assert.deepEqual(me.subscriptions, [{ filter: 'a/+', qos: 2 }]);
      assert.equal(Buffer.from(view.retained[0].payload).toString(), 'kept');
      await endAll(d);
    } finally {
      await endAll(c);
      await broker.close();
    }
  });
});

describe('close()', () => {
  test('MQTT 5 clients get DISCONNECT 0x8B, 3.1.1 clients are closed, listeners stop, all within bounds', async () => {
    const broker = await testBroker();
    const v5 = await connect(urlOf(broker, 'tcp'), { protocolVersion: 5 });
    const v5ws = await connect(urlOf(broker, 'ws'), { protocolVersion: 5 });
    const v4 = await connect(urlOf(broker, 'tcp'), { protocolVersion: 4 });
    // A client that never closes its side: close() must not wait for it forever.
    const stubborn = await rawConnect(broker.ports.tcp, 'stubborn', 4);
    stubborn.socket.allowHalfOpen = true; // it does not answer the broker's FIN
    const stubbornEnded = once(stubborn.socket, 'end');
    const reasons = [v5, v5ws].map((c) => new Promise((resolve) => c.once('disconnect', (p) => resolve(p.reasonCode))));
    const v4closed = once(v4, 'close');
    const { tcp, ws } = broker.ports;
    const started = Date.now();
    await within(6000, 'broker.close()', broker.close());
    const took = Date.now() - started;
    assert.deepEqual(await within(2000, 'the DISCONNECTs', Promise.all(reasons)), [0x8b, 0x8b]);
    await within(2000, 'the 3.1.1 client to see the close', v4closed);
    await within(2000, 'the raw client to see the broker\'s FIN', stubbornEnded);
    stubborn.destroy();
    assert.ok(took < 5000, `close() took ${took} ms`);
    for (const port of [tcp, ws]) {
      const s = net.connect(port, '127.0.0.1');
      const [err] = await within(2000, 'a refused connection', once(s, 'error'));
      assert.equal(err.code, 'ECONNREFUSED');
    }
    assert.throws(() => broker.stats(), { code: 'ERR_TABMQ_CLOSED' });
    await broker.close(); // again: a no-op
    await endAll(v5, v5ws, v4);
  });

  test('a CONNECT with a bad packet after close() is not served (bytes after close are ignored)', async () => {
    const broker = await testBroker({ ws: undefined });
    const c = await rawConnect(broker.ports.tcp, 'late', 5);
    await broker.close();
    c.send(packet({ cmd: 'pingreq' }, 5));
    await within(3000, 'the connection to be closed', c.closed);
  });
});

describe('package', () => {
  test("'tabmq/node' resolves to the Node host, and npm pack ships it with the CLI", async () => {
    const viaExports = await import('tabmq/node');
    assert.equal(viaExports.createBroker, createBroker);
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }));
    const files = packed.files.map((f) => f.path);
    for (const f of ['bin/tabmq.js', 'www/node/index.js', 'www/node/index.d.ts', 'www/node/options.js', 'www/node/transport.js',
      'www/node/browser-stub.js', 'www/shared/host.js', 'www/shared/errors.js', 'www/pkg/tabmq_bg.wasm']) {
      assert.ok(files.includes(f), `${f} is in the package`);
    }
    const bin = packed.files.find((f) => f.path === 'bin/tabmq.js');
    assert.ok(bin.mode & 0o111, 'bin/tabmq.js is executable');
  });
});
