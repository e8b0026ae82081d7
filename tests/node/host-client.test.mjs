// broker.publish() and broker.subscribe() on the Node handle: the page's or
// program's own code using the broker without an MQTT client, under the
// same ACL and durability as a client.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, connect, endAll, testBroker, urlOf, within } from './helpers.mjs';

const ACL = 'user alice\ntopic readwrite alice/#\ntopic read public/#\n';

describe('broker.publish and broker.subscribe (Node)', () => {
  test('a publish reaches MQTT subscribers at its QoS, retained for later ones', async () => {
    const broker = await testBroker({ ws: undefined });
    const sub = await connect(urlOf(broker, 'tcp'), { protocolVersion: 5 });
    try {
      await sub.subscribeAsync('h/#', { qos: 2 });
      const got = collect(sub, 3);
      assert.deepEqual(await broker.publish('h/0', 'zero'), { reasonCode: 0 });
      assert.deepEqual(await broker.publish('h/1', new Uint8Array([0x6f, 0x6e, 0x65]), { qos: 1 }), { reasonCode: 0 });
      await broker.publish('h/2', 'two', { qos: 2, retain: true, properties: { contentType: 'text/plain', userProperties: { k: 'v' } } });
      const msgs = await got;
      assert.deepEqual(msgs.map((m) => [m.topic, m.payload, m.qos]), [['h/0', 'zero', 0], ['h/1', 'one', 1], ['h/2', 'two', 2]]);
      assert.equal(msgs[2].properties.contentType, 'text/plain');
      assert.deepEqual({ ...msgs[2].properties.userProperties }, { k: 'v' });
      const late = await connect(urlOf(broker, 'tcp'));
      const retained = collect(late, 1);
      await late.subscribeAsync('h/2');
      assert.equal((await retained)[0].retain, true);
      await endAll(late);
    } finally {
      await endAll(sub);
      await broker.close();
    }
  });

  test('a subscription gets MQTT clients\' messages in order, retained first, until unsubscribed', async () => {
    const broker = await testBroker({ ws: undefined });
    const pub = await connect(urlOf(broker, 'tcp'));
    try {
      await pub.publishAsync('s/r', 'kept', { retain: true, qos: 1 });
      const got = [];
      const sub = await broker.subscribe('s/#', (m) => got.push(m), { qos: 1 });
      assert.equal(sub.qos, 1);
      for (let i = 0; i < 10; i++) await pub.publishAsync('s/x', String(i), { qos: 1 });
      await within(3000, '11 messages', (async () => { while (got.length < 11) await new Promise((r) => setTimeout(r, 5)); })());
      assert.equal(got[0].topic, 's/r');
      assert.equal(got[0].retain, true);
      assert.ok(got[0].payload instanceof Uint8Array);
      assert.deepEqual(got.slice(1).map((m) => Buffer.from(m.payload).toString()), [...Array(10).keys()].map(String));
      sub.unsubscribe();
      await pub.publishAsync('s/x', 'after', { qos: 1 });
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(got.length, 11, 'nothing after unsubscribe');
      assert.equal(broker.stats().subscriptions, 0);
      const ids = broker.inspect().clients.map((c) => c.clientId);
      assert.equal(ids.length, 1, 'only the MQTT client is listed');
      assert.ok(!ids[0].startsWith('$host/'));
    } finally {
      await endAll(pub);
      await broker.close();
    }
  });

  test('the ACL of the given user applies; refusals reject with ERR_TABMQ_REJECTED and the reason code', async () => {
    const broker = await testBroker({ ws: undefined, users: [{ username: 'alice', password: 'pw' }], acl: ACL });
    try {
      await assert.rejects(broker.publish('public/x', 'm', { username: 'alice', qos: 1 }), { code: 'ERR_TABMQ_REJECTED', reasonCode: 0x87 });
      await assert.rejects(broker.publish('public/x', 'm', { username: 'alice' }), { code: 'ERR_TABMQ_REJECTED', reasonCode: 0x87 });
      await assert.rejects(broker.subscribe('secret/#', () => {}, { username: 'alice' }), { code: 'ERR_TABMQ_REJECTED', reasonCode: 0x87 });
      await assert.rejects(broker.publish('a/+', 'm'), { code: 'ERR_TABMQ_REJECTED', reasonCode: 0x90 });
      await assert.rejects(broker.publish('a', 'm', { qos: 3 }), { code: 'ERR_TABMQ_OPTION', message: /`qos`/ });
      await assert.rejects(broker.publish('a', 42), { code: 'ERR_TABMQ_OPTION', message: /`payload`/ });
      const got = [];
      await broker.subscribe('#', (m) => got.push(m.topic), { username: 'alice' });
      await broker.publish('alice/ok', 'm', { username: 'alice', qos: 1 });
      await within(2000, 'alice/ok', (async () => { while (!got.length) await new Promise((r) => setTimeout(r, 5)); })());
      assert.deepEqual(got, ['alice/ok']);
    } finally {
      await broker.close();
    }
  });

  test('an access change that removes the user ends its subscription: onEnd hears 0x87', async () => {
    const broker = await testBroker({ ws: undefined, users: [{ username: 'alice', password: 'pw' }, { username: 'bob', password: 'pw' }], acl: ACL });
    try {
      const got = [];
      const ended = new Promise((resolve) => {
        broker.subscribe('alice/#', (m) => got.push(m.topic), { username: 'alice', onEnd: resolve });
      });
      await broker.publish('alice/1', 'm', { username: 'alice', qos: 1 });
      broker.setAccess({ users: [{ username: 'bob', password: 'pw' }] });
      assert.equal(await within(2000, 'onEnd', ended), 0x87);
      assert.deepEqual(got, ['alice/1']);
      assert.equal(broker.stats().subscriptions, 0, 'the subscription is gone from the broker');
    } finally {
      await broker.close();
    }
  });

  test('a QoS 1 publish under strict is answered after its commit and survives a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabmq-host-client-'));
    try {
      const a = await testBroker({ ws: undefined, dataDir: dir });
      const before = a.stats().storage.commits;
      await a.publish('keep/me', 'v', { qos: 1, retain: true });
      assert.ok(a.stats().storage.commits > before, 'answered once a commit has run');
      await a.close();
      const b = await testBroker({ ws: undefined, dataDir: dir });
      const got = [];
      await b.subscribe('keep/#', (m) => got.push(Buffer.from(m.payload).toString()));
      await within(2000, 'the retained message', (async () => { while (!got.length) await new Promise((r) => setTimeout(r, 5)); })());
      assert.deepEqual(got, ['v']);
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('pending answers fail with ERR_TABMQ_CLOSED when the broker closes; calls after close throw', async () => {
    const broker = await testBroker({ ws: undefined });
    await broker.close();
    assert.throws(() => broker.publish('t', 'm'), { code: 'ERR_TABMQ_CLOSED' });
    assert.throws(() => broker.subscribe('t', () => {}), { code: 'ERR_TABMQ_CLOSED' });
  });
});
