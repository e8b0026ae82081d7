// Topic aliases the broker sets towards MQTT 5 clients that allow them
// (spec 3.3.2.3.4), end to end: MQTT.js resolves them (and errors out on an
// alias it did not allow or does not know), a raw client sees the wire form,
// a reconnect starts without aliases, 3.1.1 never gets one.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { collect, connect, endAll, rawConnect, packet, testBroker, urlOf, within } from './helpers.mjs';

let broker;
before(async () => {
  broker = await testBroker();
});
after(async () => {
  await broker?.close();
});

const port = () => broker.addresses.find((l) => l.transport === 'tcp').port;

/** Waits for `n` PUBLISH packets on a raw client. */
async function publishes(raw, n) {
  const got = [];
  for (let i = 0; i < n; i++) got.push(await raw.next('publish'));
  return got;
}

for (const transport of ['tcp', 'ws']) {
  describe(`MQTT.js over ${transport}`, () => {
    test('a v5 client with topicAliasMaximum gets every message under its own topic, most by alias', async () => {
      const url = urlOf(broker, transport);
      const sub = await connect(url, {
        protocolVersion: 5,
        clientId: `${transport}-alias-sub`,
        properties: { topicAliasMaximum: 10 },
      });
      const pub = await connect(url, { protocolVersion: 5, clientId: `${transport}-alias-pub` });
      let errors = 0;
      sub.on('error', () => errors++);
      try {
        await sub.subscribeAsync(`${transport}/alias/#`, { qos: 2 });
        const topics = [];
        for (let i = 0; i < 60; i++) topics.push(`${transport}/alias/${i % 15}`);
        const got = collect(sub, topics.length, 10000);
        for (const [i, t] of topics.entries()) {
          await pub.publishAsync(t, `m${i}`, { qos: i % 3 });
        }
        const messages = await got;
        assert.equal(errors, 0);
        // Per-topic order is what MQTT promises across QoS levels.
        for (let k = 0; k < 15; k++) {
          const mine = messages.filter((m) => m.topic === `${transport}/alias/${k}`);
          assert.deepEqual(mine.map((m) => m.payload), topics.flatMap((t, i) => (t === `${transport}/alias/${k}` ? [`m${i}`] : [])));
        }
        const aliased = messages.filter((m) => m.properties?.topicAlias !== undefined);
        // Fifteen topics in turn over ten aliases: most go with one (the
        // first of each topic carries it with the name, later ones alone).
        assert.ok(aliased.length >= messages.length / 2, `${aliased.length} of ${messages.length} with an alias`);
        assert.ok(aliased.every((m) => m.properties.topicAlias >= 1 && m.properties.topicAlias <= 10));
      } finally {
        await endAll(sub, pub);
      }
    });
  });
}

describe('on the wire', () => {
  test('first the topic and its alias, then an empty topic and the alias alone', async () => {
    const sub = await rawConnect(port(), 'raw-alias-sub', 5, { properties: { topicAliasMaximum: 2 } });
    const pub = await rawConnect(port(), 'raw-alias-pub', 5);
    try {
      sub.send(packet({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'wire/#', qos: 0 }] }, 5));
      await sub.next('suback');
      for (const t of ['wire/a', 'wire/a', 'wire/b', 'wire/a']) {
        pub.send(packet({ cmd: 'publish', topic: t, payload: 'x', qos: 0 }, 5));
      }
      const got = await publishes(sub, 4);
      assert.deepEqual(got.map((p) => [p.topic, p.properties?.topicAlias]), [
        ['wire/a', 1],
        ['', 1],
        ['wire/b', 2],
        ['', 1],
      ]);
    } finally {
      sub.destroy();
      pub.destroy();
    }
  });

  test('a reconnect starts without aliases: the resend carries the topic', async () => {
    const props = { topicAliasMaximum: 4, sessionExpiryInterval: 600 };
    let sub = await rawConnect(port(), 'raw-alias-resume', 5, { clean: false, properties: props });
    const pub = await rawConnect(port(), 'raw-alias-pub2', 5);
    try {
      sub.send(packet({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'resume/#', qos: 1 }] }, 5));
      await sub.next('suback');
      pub.send(packet({ cmd: 'publish', topic: 'resume/t', payload: '1', qos: 1, messageId: 1 }, 5));
      pub.send(packet({ cmd: 'publish', topic: 'resume/t', payload: '2', qos: 1, messageId: 2 }, 5));
      const first = await publishes(sub, 2);
      assert.deepEqual(first.map((p) => [p.topic, p.properties?.topicAlias]), [['resume/t', 1], ['', 1]]);
      // Not acknowledged; the connection drops.
      sub.destroy();
      await within(3000, 'the socket to close', sub.closed);
      sub = await rawConnect(port(), 'raw-alias-resume', 5, { clean: false, properties: props });
      const again = await publishes(sub, 2);
      assert.ok(again.every((p) => p.dup));
      assert.deepEqual(again.map((p) => [p.topic, p.properties?.topicAlias, p.payload.toString()]), [
        ['resume/t', 1, '1'],
        ['', 1, '2'],
      ]);
      for (const p of again) sub.send(packet({ cmd: 'puback', messageId: p.messageId }, 5));
    } finally {
      sub.destroy();
      pub.destroy();
    }
  });

  test('a 3.1.1 client and a v5 client that did not allow aliases get the topic every time', async () => {
    const v4 = await rawConnect(port(), 'raw-alias-v4', 4);
    const v5 = await rawConnect(port(), 'raw-alias-v5', 5);
    const pub = await rawConnect(port(), 'raw-alias-pub3', 5);
    try {
      for (const [c, v] of [[v4, 4], [v5, 5]]) {
        c.send(packet({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'plain/#', qos: 0 }] }, v));
        await c.next('suback');
      }
      for (let i = 0; i < 3; i++) pub.send(packet({ cmd: 'publish', topic: 'plain/t', payload: 'x', qos: 0 }, 5));
      for (const c of [v4, v5]) {
        const got = await publishes(c, 3);
        assert.deepEqual(got.map((p) => [p.topic, p.properties?.topicAlias]), Array(3).fill(['plain/t', undefined]));
      }
    } finally {
      for (const c of [v4, v5, pub]) c.destroy();
    }
  });
});
