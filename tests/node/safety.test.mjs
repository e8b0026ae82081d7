// The Node host under misbehaving clients: garbage bytes, silence (connect
// timeout), too many connections, and slow consumers (backpressure).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import WebSocket from 'ws';
import mqttPacket from 'mqtt-packet';
import { collect, connect, endAll, packet, rawClient, rawConnect, testBroker, until, urlOf, within } from './helpers.mjs';

describe('garbage and silence', () => {
  test('garbage before CONNECT: the core closes the connection; others are untouched', async () => {
    const broker = await testBroker({ ws: undefined });
    const good = await connect(urlOf(broker, 'tcp'), { protocolVersion: 5 });
    try {
      const bad = await rawClient(broker.ports.tcp);
      // Not an MQTT packet: 'G' (0x47) is no CONNECT, and 'E' frames 69 bytes.
      bad.send(Buffer.from(`GET / HTTP/1.1\r\nHost: example\r\nUser-Agent: ${'x'.repeat(100)}\r\n\r\n`));
      await within(3000, 'the broker to close the garbage connection', bad.closed);
      await good.subscribeAsync('still/here', { qos: 1 });
      const got = collect(good, 1);
      await good.publishAsync('still/here', 'yes', { qos: 1 });
      assert.equal((await got)[0].payload, 'yes');
      assert.equal(broker.stats().connections, 1);
    } finally {
      await endAll(good);
      await broker.close();
    }
  });

  test('a malformed packet after CONNECT: MQTT 5 gets DISCONNECT 0x81, then the close', async () => {
    const broker = await testBroker({ ws: undefined });
    const events = [];
    broker.on('disconnected', (e) => events.push(e));
    try {
      const c = await rawConnect(broker.ports.tcp, 'malformed', 5);
      assert.equal(c.connack.reasonCode, 0);
      // A SUBSCRIBE with reserved flags 0000 instead of 0010 [MQTT-3.8.1-1].
      c.send(Buffer.from([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00]));
      const disconnect = await c.next('disconnect');
      assert.equal(disconnect.reasonCode, 0x81);
      await within(3000, 'the close after DISCONNECT', c.closed);
      await until('the disconnected event', () => events.length === 1);
      assert.equal(events[0].clientId, 'malformed');
      assert.equal(events[0].reasonCode, 0x81);
    } finally {
      await broker.close();
    }
  });

  test('connect timeout (limits.connectTimeout): silent TCP, WebSocket and HTTP connections are closed', async () => {
    const broker = await testBroker({ limits: { connectTimeout: 300 } });
    try {
      const tcp = await rawClient(broker.ports.tcp);
      const ws = new WebSocket(urlOf(broker, 'ws'), ['mqtt']);
      const wsClosed = once(ws, 'close');
      await within(3000, 'the WebSocket to open', once(ws, 'open'));
      // An HTTP connection that never finishes its upgrade request.
      const http = net.connect(broker.ports.ws, '127.0.0.1');
      http.on('error', () => {});
      const httpClosed = once(http, 'close');
      await once(http, 'connect');
      http.write('GET /mqtt HTTP/1.1\r\nHost: x\r\n');
      await within(4000, 'the silent TCP connection to be closed', tcp.closed);
      await within(4000, 'the silent WebSocket to be closed', wsClosed);
      await within(4000, 'the unfinished upgrade request to be closed', httpClosed);
      await until('the broker to count no sockets', () => broker.stats().sockets === 0);
    } finally {
      await broker.close();
    }
  });

  // [MQTT-3.1.2-24] counts Control Packets: trickling a packet that never
  // completes must not hold the connection open.
  test('keep alive counts whole packets: trickling an unfinished one does not keep a connection', async () => {
    const broker = await testBroker({ ws: undefined });
    let timer;
    try {
      const c = await rawConnect(broker.ports.tcp, 'trickle', 5, { keepalive: 1 });
      c.send(Buffer.from([0x30, 0xff, 0xff, 0x01])); // a PUBLISH of ~32 KiB that never comes
      timer = setInterval(() => c.socket.writable && c.send(Buffer.from([0x00])), 200);
      await within(4000, 'the keep-alive timeout (1.5 s) to close the connection', c.closed);
    } finally {
      clearInterval(timer);
      await broker.close();
    }
  });
});

describe('connection limits', () => {
  test('over limits.maxConnections: CONNACK 0x97 (5.0) / return code 3 (3.1.1)', async () => {
    const broker = await testBroker({ limits: { maxConnections: 2 } });
    const ok = [];
    try {
      ok.push(await connect(urlOf(broker, 'tcp'), { protocolVersion: 5 }));
      ok.push(await connect(urlOf(broker, 'ws'), { protocolVersion: 4 }));
      await assert.rejects(connect(urlOf(broker, 'tcp'), { protocolVersion: 5 }), (err) => err.code === 0x97);
      await assert.rejects(connect(urlOf(broker, 'ws'), { protocolVersion: 4 }), (err) => err.code === 3);
      assert.equal(broker.stats().connections, 2);
    } finally {
      await endAll(ok);
      await broker.close();
    }
  });

  test('sockets beyond maxConnections + 64 are refused at accept, so a flood cannot exhaust the process', async () => {
    const broker = await testBroker({ ws: undefined, limits: { maxConnections: 10 } });
    const sockets = [];
    try {
      let refused = 0;
      for (let i = 0; i < 80; i++) {
        const s = net.connect(broker.ports.tcp, '127.0.0.1');
        s.on('error', () => {});
        s.on('close', () => refused++);
        sockets.push(s);
        await once(s, 'connect');
      }
      await until('the 6 sockets over the cap to be closed', () => refused === 6, 5000);
      assert.equal(broker.stats().sockets, 74);
    } finally {
      for (const s of sockets) s.destroy();
      await broker.close();
    }
  });
});

/** A raw subscriber that can stop reading, and acknowledges QoS 1 only while reading. */
async function slowSubscriber(port, filter, qos, extra = {}) {
  const c = await rawConnect(port, `slow-${qos}`, 4, extra);
  c.send(packet({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] }));
  await c.next('suback');
  c.received = [];
  c.socket.removeAllListeners('data');
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (p) => {
    if (p.cmd !== 'publish') return;
    c.received.push(p.payload.length);
    if (p.qos === 1) c.send(packet({ cmd: 'puback', messageId: p.messageId }));
  });
  c.socket.on('data', (d) => parser.parse(d));
  return c;
}

/** A raw MQTT 3.1.1 client over WebSocket, subscribed to `filter` at QoS 0. */
async function wsSubscriber(url, filter, extra = {}) {
  const ws = new WebSocket(url, ['mqtt']);
  ws.on('error', () => {});
  await within(3000, 'the WebSocket to open', once(ws, 'open'));
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const seen = [];
  parser.on('packet', (p) => seen.push(p.cmd));
  ws.on('message', (d) => parser.parse(d));
  ws.send(packet({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'slow-ws', clean: true, keepalive: 0, ...extra }));
  await until('CONNACK over WebSocket', () => seen.includes('connack'));
  ws.send(packet({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 0 }] }));
  await until('SUBACK over WebSocket', () => seen.includes('suback'));
  return ws;
}

describe('backpressure', () => {
  test('a slow QoS 1 consumer: reading it pauses, the core holds the rest in its queue, all arrive once it reads', async () => {
    // A window of 64 (the default is 1,024): 200 messages of 200 KiB pass it.
    const broker = await testBroker({ ws: undefined, limits: { maxInflight: 64 } });
    const pub = await connect(urlOf(broker, 'tcp'), { protocolVersion: 5 });
    try {
      const slow = await slowSubscriber(broker.ports.tcp, 'bulk/#', 1);
      slow.socket.pause(); // stops reading: nothing is acknowledged either
      const N = 200;
      const payload = Buffer.alloc(200 * 1024, 7);
      for (let i = 0; i < N; i++) await pub.publishAsync(`bulk/${i}`, payload, { qos: 1 });
      const stats = await until('the slow socket to be paused', () => {
        const s = broker.stats();
        return s.pausedSockets === 1 && s;
      });
      assert.equal(stats.inflightMessages, 64, 'only the in-flight window went out');
      assert.equal(stats.queuedMessages, N - 64);
      assert.ok(stats.bufferedBytes <= 64 * payload.length, `host buffer bounded by the window: ${stats.bufferedBytes}`);
      slow.socket.resume();
      await until(`all ${N} messages at the slow consumer`, () => slow.received.length === N, 15_000);
      const after = await until('the queue to drain', () => {
        const s = broker.stats();
        return s.queuedMessages === 0 && s.inflightMessages === 0 && s;
      });
      assert.equal(after.pausedSockets, 0);
      assert.equal(after.messagesDropped, 0);
      slow.destroy();
    } finally {
      await endAll(pub);
      await broker.close();
    }
  });

  for (const transport of ['tcp', 'ws']) {
    test(`a QoS 0 consumer over ${transport} that stops reading is closed past maxWriteBuffer; its will fires; others are served`, async () => {
      const broker = await testBroker({ maxWriteBuffer: 1024 * 1024 });
      const slowEvents = [];
      broker.on('slowConsumer', (e) => slowEvents.push(e));
      const pub = await connect(urlOf(broker, 'tcp'), { protocolVersion: 5 });
      const watcher = await connect(urlOf(broker, 'tcp'), { protocolVersion: 5 });
      try {
        await watcher.subscribeAsync('wills/#', { qos: 1 });
        const will = { topic: 'wills/slow', payload: Buffer.from('gone'), qos: 1, retain: false };
        let stopReading;
        if (transport === 'tcp') {
          const slow = await slowSubscriber(broker.ports.tcp, 'flood/#', 0, { will });
          stopReading = () => slow.socket.pause();
        } else {
          const ws = await wsSubscriber(urlOf(broker, 'ws'), 'flood/#', { will });
          stopReading = () => ws.pause();
        }
        stopReading();
        const willArrives = collect(watcher, 1, 20_000, 'the slow consumer\'s will');
        const payload = Buffer.alloc(100 * 1024, 1);
        // Bounded: far more than kernel buffers plus maxWriteBuffer can hold.
        for (let i = 0; i < 400 && slowEvents.length === 0; i++) await pub.publishAsync(`flood/${i}`, payload, { qos: 0 });
        await until('the slowConsumer event', () => slowEvents.length === 1, 10_000);
        assert.equal(slowEvents[0].transport, transport);
        assert.ok(slowEvents[0].bufferedBytes > 1024 * 1024);
        const [m] = await willArrives;
        assert.equal(m.payload, 'gone');
        // (The client, not reading, cannot see the close; the broker counts it.)
        const s = await until('the slow connection to be closed', () => broker.stats().sockets === 2 && broker.stats());
        assert.equal(s.bufferedBytes, 0);
        assert.equal(s.connections, 2);
        await pub.subscribeAsync('after', { qos: 1 });
        const got = collect(pub, 1);
        await watcher.publishAsync('after', 'served', { qos: 1 });
        assert.equal((await got)[0].payload, 'served');
      } finally {
        await endAll(pub, watcher);
        await broker.close();
      }
    });
  }
});
