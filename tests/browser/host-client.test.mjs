// broker.publish() and broker.subscribe() on the page's handle: the page's
// own code using the broker without an MQTT client, in a SharedWorker and
// inline, next to real MQTT.js clients, under the ACL.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBrowser } from './harness.mjs';

let b;
before(async () => {
  b = await startBrowser();
});
after(async () => {
  await b?.close();
});

let counter = 0;
const uniqueName = (prefix) => `${prefix}-${Date.now()}-${counter++}`;

for (const mode of ['shared', 'inline']) {
  test(`mode ${mode}: the page publishes to MQTT.js and subscribes to it, under the ACL`, async () => {
    const p = await b.newPage();
    await p.waitForFunction(() => window.ready === true);
    const r = await p.evaluate(async ({ mode, name }) => {
      const broker = await tabmq.startBroker({
        name, mode, durability: 'strict', sysInterval: 0,
        users: [{ username: 'alice', password: 'pw' }, { username: 'dash', password: 'pw' }],
        acl: 'user alice\ntopic readwrite #\nuser dash\ntopic readwrite dash/#\n',
      });
      const client = await h.connect(broker, { protocolVersion: 5, username: 'alice', password: 'pw' });
      await client.subscribeAsync('page/#', { qos: 1 });
      const toClient = h.collect(client, 2);
      const answers = [];
      answers.push(await broker.publish('page/a', 'text', { username: 'alice' }));
      answers.push(await broker.publish('page/b', new Uint8Array([1, 2, 3]), { qos: 1, retain: true, username: 'alice' }));
      const fromPage = (await toClient).map(h.plain);
      const got = [];
      const sub = await broker.subscribe('dev/#', (m) => got.push([m.topic, new TextDecoder().decode(m.payload), m.qos]), { qos: 1, username: 'alice' });
      for (let i = 0; i < 5; i++) await client.publishAsync('dev/x', String(i), { qos: 1 });
      const deadline = Date.now() + 5000;
      while (got.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      sub.unsubscribe();
      const refused = await broker.publish('page/a', 'x', { qos: 1, username: 'dash' }).then(() => 'accepted', (err) => [err.name, err.code, err.reasonCode]);
      const refusedSub = await broker.subscribe('page/#', () => {}, { username: 'dash' }).then(() => 'accepted', (err) => [err.code, err.reasonCode]);
      await client.endAsync();
      await broker.close();
      return { answers, fromPage, got, sub: sub.qos, refused, refusedSub };
    }, { mode, name: uniqueName('host-client') });
    assert.deepEqual(r.answers.map((a) => a.reasonCode), [0, 0]);
    assert.deepEqual(r.fromPage.map((m) => [m.topic, m.qos]), [['page/a', 0], ['page/b', 1]]);
    assert.equal(r.fromPage[0].payload, 'text');
    assert.equal(r.sub, 1);
    assert.deepEqual(r.got, [0, 1, 2, 3, 4].map((i) => ['dev/x', String(i), 1]), 'in order');
    assert.deepEqual(r.refused, ['TabmqError', 'ERR_TABMQ_REJECTED', 0x87]);
    assert.deepEqual(r.refusedSub, ['ERR_TABMQ_REJECTED', 0x87]);
    await p.close();
  });
}

test('no errors in the browser console', () => {
  assert.deepEqual(b.errors, []);
});
