// MQTT.js 5 against createBroker(), over real TCP and real WebSocket:
// QoS 0/1/2, retained messages, wills, MQTT 5 properties, 3.1/3.1.1/5.0 side
// by side, shared subscriptions and session resume.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import mqtt from 'mqtt';
import { collect, connect, endAll, testBroker, urlOf, within } from './helpers.mjs';

let broker;
before(async () => {
  broker = await testBroker();
});
after(async () => {
  await broker?.close();
});

/** Resolves on the broker's next 'disconnected' event for `clientId`. */
function brokerSawDisconnect(clientId) {
  return within(5000, `the broker to see ${clientId} disconnect`, new Promise((resolve) => {
    const on = (e) => {
      if (e.clientId !== clientId) return;
      broker.off('disconnected', on);
      resolve(e);
    };
    broker.on('disconnected', on);
  }));
}

for (const transport of ['tcp', 'ws']) {
  describe(`MQTT.js over ${transport}`, () => {
    const url = () => urlOf(broker, transport);
    const id = (name) => `${transport}-${name}`;
    const topic = (name) => `${transport}/${name}`;

    test('QoS 0, 1 and 2 publish and subscribe', async () => {
      const sub = await connect(url(), { protocolVersion: 5, clientId: id('qos-sub') });
      const pub = await connect(url(), { protocolVersion: 5, clientId: id('qos-pub') });
      try {
        const granted = await sub.subscribeAsync(`${topic('home')}/+/temp`, { qos: 2 });
        assert.equal(granted[0].qos, 2);
        const got = collect(sub, 3);
        await pub.publishAsync(`${topic('home')}/kitchen/temp`, 'q0', { qos: 0 });
        await pub.publishAsync(`${topic('home')}/kitchen/temp`, 'q1', { qos: 1 });
        await pub.publishAsync(`${topic('home')}/kitchen/temp`, 'q2', { qos: 2 });
        assert.deepEqual((await got).map((m) => [m.topic, m.payload, m.qos]), [
          [`${topic('home')}/kitchen/temp`, 'q0', 0],
          [`${topic('home')}/kitchen/temp`, 'q1', 1],
          [`${topic('home')}/kitchen/temp`, 'q2', 2],
        ]);
      } finally {
        await endAll(sub, pub);
      }
    });

    test('a subscription at a lower QoS downgrades delivery', async () => {
      const sub = await connect(url(), { protocolVersion: 4, clientId: id('down-sub') });
      const pub = await connect(url(), { protocolVersion: 5, clientId: id('down-pub') });
      try {
        await sub.subscribeAsync(topic('down'), { qos: 1 });
        const got = collect(sub, 1);
        await pub.publishAsync(topic('down'), 'x', { qos: 2 });
        assert.equal((await got)[0].qos, 1);
      } finally {
        await endAll(sub, pub);
      }
    });

    test('retained messages: set, delivered with RETAIN to a new subscriber, cleared', async () => {
      const pub = await connect(url(), { protocolVersion: 5, clientId: id('ret-pub') });
      const late = await connect(url(), { protocolVersion: 4, clientId: id('ret-late') });
      const later = await connect(url(), { protocolVersion: 5, clientId: id('ret-later') });
      try {
        await pub.publishAsync(topic('lights/hall'), 'on', { qos: 1, retain: true });
        const first = collect(late, 1);
        await late.subscribeAsync(`${topic('lights')}/#`, { qos: 1 });
        const [m] = await first;
        assert.deepEqual([m.topic, m.payload, m.retain, m.qos], [topic('lights/hall'), 'on', true, 1]);
        assert.ok(broker.inspect().retained.some((r) => r.topic === topic('lights/hall')));

        await pub.publishAsync(topic('lights/hall'), '', { qos: 1, retain: true }); // clears it
        assert.ok(!broker.inspect().retained.some((r) => r.topic === topic('lights/hall')));
        // A retained message would come before the SUBACK's effects; a plain
        // publish after SUBACK proves nothing came first.
        const next = collect(later, 1);
        await later.subscribeAsync(`${topic('lights')}/#`, { qos: 1 });
        await pub.publishAsync(topic('lights/porch'), 'marker', { qos: 1 });
        const [n] = await next;
        assert.deepEqual([n.topic, n.payload, n.retain], [topic('lights/porch'), 'marker', false]);
      } finally {
        await endAll(pub, late, later);
      }
    });

    test('a will is published when the connection drops without DISCONNECT, not after DISCONNECT', async () => {
      const watcher = await connect(url(), { protocolVersion: 5, clientId: id('will-watch') });
      try {
        await watcher.subscribeAsync(`${topic('status')}/#`, { qos: 1 });
        const will = { topic: topic('status/dev1'), payload: 'offline', qos: 1, retain: false };
        const polite = await connect(url(), { protocolVersion: 5, clientId: id('will-polite'), will });
        const politeGone = brokerSawDisconnect(id('will-polite'));
        await polite.endAsync();
        await politeGone;
        const rude = await connect(url(), { protocolVersion: 4, clientId: id('will-rude'), will: { ...will, payload: 'rude offline' } });
        const got = collect(watcher, 1);
        rude.stream.destroy(); // no DISCONNECT: the will applies
        const [m] = await got;
        assert.deepEqual([m.topic, m.payload, m.qos], [topic('status/dev1'), 'rude offline', 1],
          'the first message is the dropped client\'s will, not the polite one\'s');
        rude.end(true);
      } finally {
        await endAll(watcher);
      }
    });

    test('MQTT 5 properties reach the receiver', async () => {
      const sub = await connect(url(), { protocolVersion: 5, clientId: id('props-sub') });
      const pub = await connect(url(), { protocolVersion: 5, clientId: id('props-pub') });
      try {
        await sub.subscribeAsync(topic('rpc/req'), { qos: 1 });
        const got = collect(sub, 1);
        await pub.publishAsync(topic('rpc/req'), '{"x":1}', {
          qos: 1,
          properties: {
            userProperties: { trace: 'abc', region: ['eu', 'us'] },
            responseTopic: topic('rpc/resp'),
            correlationData: Buffer.from([1, 2, 3, 255]),
            messageExpiryInterval: 3600,
            contentType: 'application/json',
            payloadFormatIndicator: true,
          },
        });
        const { properties: p } = (await got)[0];
        assert.deepEqual({ ...p.userProperties }, { trace: 'abc', region: ['eu', 'us'] });
        assert.equal(p.responseTopic, topic('rpc/resp'));
        assert.deepEqual([...p.correlationData], [1, 2, 3, 255]);
        assert.equal(p.contentType, 'application/json');
        assert.equal(p.payloadFormatIndicator, true);
        assert.ok(p.messageExpiryInterval > 3590 && p.messageExpiryInterval <= 3600,
          `the forwarded expiry is what is left of 3600 s, got ${p.messageExpiryInterval}`);
      } finally {
        await endAll(sub, pub);
      }
    });

    test('MQTT 3.1, 3.1.1 and 5.0 clients side by side', async () => {
      const v3 = await connect(url(), { protocolVersion: 3, protocolId: 'MQIsdp', clientId: id('v3') });
      const v4 = await connect(url(), { protocolVersion: 4, clientId: id('v4') });
      const v5 = await connect(url(), { protocolVersion: 5, clientId: id('v5') });
      try {
        for (const c of [v3, v4, v5]) await c.subscribeAsync(topic('mix'), { qos: 1 });
        const got = [v3, v4, v5].map((c) => collect(c, 3));
        await v3.publishAsync(topic('mix'), 'from 3.1', { qos: 1 });
        await v4.publishAsync(topic('mix'), 'from 3.1.1', { qos: 1 });
        await v5.publishAsync(topic('mix'), 'from 5.0', { qos: 1, properties: { userProperties: { k: 'v' } } });
        const [m3, m4, m5] = await Promise.all(got);
        for (const ms of [m3, m4, m5]) assert.deepEqual(ms.map((m) => m.payload), ['from 3.1', 'from 3.1.1', 'from 5.0']);
        assert.deepEqual({ ...m5[2].properties.userProperties }, { k: 'v' });
        assert.equal(m4[2].properties, undefined, 'a 3.1.1 client gets no properties');
        const ids = broker.inspect().clients.filter((c) => c.connected).map((c) => [c.clientId, c.protocolVersion]);
        for (const [cid, v] of [[id('v3'), 3], [id('v4'), 4], [id('v5'), 5]]) assert.ok(ids.some(([i, pv]) => i === cid && pv === v));
      } finally {
        await endAll(v3, v4, v5);
      }
    });

    test('shared subscriptions: each message goes to exactly one member of the group', async () => {
      const members = await Promise.all([1, 2, 3].map((i) => connect(url(), { protocolVersion: 5, clientId: id(`share-${i}`) })));
      const plain = await connect(url(), { protocolVersion: 5, clientId: id('share-plain') });
      const pub = await connect(url(), { protocolVersion: 4, clientId: id('share-pub') });
      try {
        for (const m of members) await m.subscribeAsync(`$share/g/${topic('jobs')}/+`, { qos: 1 });
        await plain.subscribeAsync(`${topic('jobs')}/+`, { qos: 1 });
        const N = 30;
        const perMember = members.map(() => []);
        members.forEach((m, i) => m.on('message', (_t, payload) => perMember[i].push(payload.toString())));
        const all = collect(plain, N);
        for (let i = 0; i < N; i++) await pub.publishAsync(`${topic('jobs')}/${i % 2}`, `job ${i}`, { qos: 1 });
        await all; // the plain subscriber got all of them, so every delivery was made
        const sharedTotal = () => perMember.reduce((n, got) => n + got.length, 0);
        await within(5000, 'shared deliveries', (async () => {
          while (sharedTotal() < N) await new Promise((r) => setTimeout(r, 10));
        })());
        const delivered = perMember.flat().sort();
        assert.equal(delivered.length, N, 'no message went to two members');
        assert.equal(new Set(delivered).size, N, 'every message went to a member');
        for (const got of perMember) assert.ok(got.length > 0, `every member got a share: ${perMember.map((g) => g.length)}`);
      } finally {
        await endAll(members, plain, pub);
      }
    });

    for (const protocolVersion of [4, 5]) {
      test(`session resume (${protocolVersion === 5 ? '5.0 clean start false + session expiry' : '3.1.1 clean false'}): the offline queue is delivered on reconnect`, async () => {
        const clientId = id(`resume-v${protocolVersion}`);
        const opts = protocolVersion === 5
          ? { protocolVersion, clientId, clean: false, properties: { sessionExpiryInterval: 300 } }
          : { protocolVersion, clientId, clean: false };
        const first = await connect(url(), opts);
        assert.equal(first.connackPacket?.sessionPresent ?? false, false);
        await first.subscribeAsync(topic(`q${protocolVersion}/#`), { qos: 2 });
        const gone = brokerSawDisconnect(clientId);
        await first.endAsync();
        await gone;
        const pub = await connect(url(), { protocolVersion: 5, clientId: id(`resume-pub-${protocolVersion}`) });
        try {
          await pub.publishAsync(topic(`q${protocolVersion}/a`), 'm1', { qos: 1 });
          await pub.publishAsync(topic(`q${protocolVersion}/b`), 'm2', { qos: 2 });
          await pub.publishAsync(topic(`q${protocolVersion}/c`), 'lost', { qos: 0 }); // QoS 0 is not queued offline
          await pub.publishAsync(topic(`q${protocolVersion}/d`), 'm3', { qos: 1 });
          const held = broker.inspect().clients.find((c) => c.clientId === clientId);
          assert.equal(held.connected, false);
          assert.equal(held.queued, 3);

          // Listen before CONNACK: the queue may arrive right after it.
          const again = mqtt.connect(url(), { ...opts, reconnectPeriod: 0 });
          const wire = [];
          again.on('packetreceive', (p) => p.cmd === 'publish' && wire.push([p.payload.toString(), p.qos]));
          const got = collect(again, 3);
          const [connack] = await within(5000, 'the resumed CONNACK', once(again, 'connect'));
          assert.equal(connack.sessionPresent, true);
          await got; // (MQTT.js hands a QoS 2 message over at PUBREL, so its event order differs)
          assert.deepEqual(wire, [['m1', 1], ['m2', 2], ['m3', 1]], 'the queue arrives in publish order');
          await endAll(again);
        } finally {
          await endAll(pub);
        }
      });
    }
  });
}
