// Webhooks (createBroker({ webhooks })): messages matching a filter go to an
// HTTP endpoint as JSON, in order, acknowledged to the core only after a
// 2xx answer, so that while the endpoint fails they queue in the webhook's
// session (kept across a restart under strict durability), and routing to
// everyone else goes on. The endpoint is a real local HTTP server.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { collect, connect, endAll, testBroker, until, urlOf } from './helpers.mjs';
import { runCli, startCli } from './cli-helpers.mjs';

/** An HTTP endpoint that answers `status` to the first `failures`
 *  requests, then 200; `accepted` holds the bodies it answered 200 to. */
async function receiver({ failures = 0, status = 500 } = {}) {
  const r = { accepted: [], requests: 0, failures, status };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      r.requests++;
      r.last = { method: req.method, headers: req.headers };
      if (r.failures > 0) {
        r.failures--;
        res.writeHead(r.status).end('not now');
        return;
      }
      r.accepted.push(JSON.parse(body));
      res.writeHead(200).end();
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  r.url = `http://127.0.0.1:${server.address().port}/hook`;
  r.close = () => new Promise((ok) => server.close(ok));
  return r;
}

const payloads = (bodies) => bodies.flat().map((m) => m.payload);

describe('webhooks (Node)', () => {
  test('a failing endpoint gets every message once it accepts, once each, in order; routing goes on meanwhile', async () => {
    const hook = await receiver({ failures: 3 });
    const events = [];
    const broker = await testBroker({
      ws: undefined,
      webhooks: [{ url: hook.url, filter: 'sensors/#', headers: { authorization: 'Bearer t0k3n' } }],
    });
    broker.on('webhook', (e) => events.push(e));
    const sub = await connect(urlOf(broker, 'tcp'));
    const pub = await connect(urlOf(broker, 'tcp'), { protocolVersion: 5 });
    try {
      await sub.subscribeAsync('sensors/#', { qos: 1 });
      const routed = collect(sub, 5, 2000);
      for (let i = 0; i < 4; i++) await pub.publishAsync(`sensors/${i}`, `m${i}`, { qos: 1 });
      await pub.publishAsync('sensors/bin', Buffer.from([0xff, 0x00, 0xfe]), { qos: 1, properties: { userProperties: { k: 'v' }, contentType: 'application/octet-stream' } });
      await pub.publishAsync('other/x', 'not for the hook', { qos: 1 });
      // The subscriber has everything while the endpoint still fails.
      assert.equal((await routed).length, 5);
      assert.ok(hook.accepted.length === 0, 'the endpoint has not accepted yet');
      await until('5 messages accepted', () => hook.accepted.length >= 5, 15_000);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(payloads(hook.accepted), ['m0', 'm1', 'm2', 'm3', '/wD+']);
      const [first] = hook.accepted;
      assert.equal(first.topic, 'sensors/0');
      assert.equal(first.payloadEncoding, 'utf8');
      assert.equal(first.qos, 1);
      assert.equal(first.retain, false);
      assert.equal(typeof first.timestamp, 'number');
      const bin = hook.accepted[4];
      assert.equal(bin.payloadEncoding, 'base64');
      assert.deepEqual(bin.properties.userProperties, { k: 'v' });
      assert.equal(bin.properties.contentType, 'application/octet-stream');
      assert.equal(hook.requests, 3 + 5);
      assert.equal(hook.last.method, 'POST');
      assert.equal(hook.last.headers.authorization, 'Bearer t0k3n');
      assert.equal(hook.last.headers['content-type'], 'application/json');
      const [s] = broker.stats().webhooks;
      assert.equal(s.sent, 5);
      assert.equal(s.failed, 3);
      assert.equal(s.queued, 0);
      assert.match(s.lastError, /answered 500/);
      assert.ok(events.some((e) => e.state === 'failing' && e.status === 500 && e.name === '0'));
      assert.equal(events.at(-1).state, 'ok');
    } finally {
      await endAll(sub, pub);
      await broker.close();
      await hook.close();
    }
  });

  test('batches: arrays of at most batch.max messages, in order', async () => {
    const hook = await receiver({ failures: 1, status: 503 });
    const broker = await testBroker({ ws: undefined, webhooks: [{ name: 'b', url: hook.url, filter: 'b/+', method: 'PUT', batch: { max: 3, ms: 50 } }] });
    const pub = await connect(urlOf(broker, 'tcp'));
    try {
      for (let i = 0; i < 8; i++) await pub.publishAsync(`b/${i}`, `n${i}`, { qos: 1 });
      await until('8 messages accepted', () => payloads(hook.accepted).length >= 8, 10_000);
      assert.ok(hook.accepted.every((b) => Array.isArray(b) && b.length >= 1 && b.length <= 3), JSON.stringify(hook.accepted.map((b) => b.length)));
      assert.deepEqual(payloads(hook.accepted), ['n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7']);
      assert.equal(hook.last.method, 'PUT');
      assert.match(broker.stats().webhooks[0].lastError, /answered 503/);
    } finally {
      await endAll(pub);
      await broker.close();
      await hook.close();
    }
  });

  test('a restart while the endpoint fails keeps the queue (strict, dataDir)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabmq-webhook-'));
    const hook = await receiver({ failures: Infinity });
    const webhooks = [{ name: 'store', url: hook.url, filter: 'q/#' }];
    try {
      const a = await testBroker({ ws: undefined, dataDir: dir, durability: 'strict', webhooks });
      const pub = await connect(urlOf(a, 'tcp'));
      for (let i = 0; i < 4; i++) await pub.publishAsync(`q/${i}`, `k${i}`, { qos: 1 });
      await until('a failed attempt', () => a.stats().webhooks[0].failed >= 1);
      await endAll(pub);
      await a.close();
      assert.equal(hook.accepted.length, 0);
      hook.failures = 0;
      const b = await testBroker({ ws: undefined, dataDir: dir, durability: 'strict', webhooks });
      try {
        await until('4 messages accepted after the restart', () => hook.accepted.length >= 4, 10_000);
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(payloads(hook.accepted), ['k0', 'k1', 'k2', 'k3']);
        assert.equal(b.stats().webhooks[0].sent, 4);
      } finally {
        await b.close();
      }
      // Acknowledged: a third start sends nothing again.
      const c = await testBroker({ ws: undefined, dataDir: dir, durability: 'strict', webhooks });
      await new Promise((r) => setTimeout(r, 300));
      await c.close();
      assert.deepEqual(payloads(hook.accepted), ['k0', 'k1', 'k2', 'k3']);
    } finally {
      await hook.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a webhook removed from the options: its session and queue are forgotten at the next start (strict, dataDir)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabmq-webhook-'));
    const hook = await receiver({ failures: Infinity });
    try {
      const a = await testBroker({ ws: undefined, dataDir: dir, durability: 'strict', webhooks: [{ name: 'old', url: hook.url, filter: 'q/#' }] });
      const pub = await connect(urlOf(a, 'tcp'));
      for (let i = 0; i < 4; i++) await pub.publishAsync(`q/${i}`, `k${i}`, { qos: 1 });
      await until('a failed attempt', () => a.stats().webhooks[0].failed >= 1);
      await endAll(pub);
      await a.close();
      const b = await testBroker({ ws: undefined, dataDir: dir, durability: 'strict' });
      try {
        assert.equal(b.stats().queuedMessages + b.stats().inflightMessages, 0, 'nothing kept for a webhook that is gone');
        assert.equal(b.stats().sessions, 0);
      } finally {
        await b.close();
      }
      // Configured again, it starts empty: nothing of before is posted.
      hook.failures = 0;
      const c = await testBroker({ ws: undefined, dataDir: dir, durability: 'strict', webhooks: [{ name: 'old', url: hook.url, filter: 'q/#' }] });
      await new Promise((r) => setTimeout(r, 300));
      await c.close();
      assert.deepEqual(hook.accepted, []);
    } finally {
      await hook.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('at QoS 0 messages wait in memory while the endpoint fails, then go in order', async () => {
    const hook = await receiver({ failures: 1 });
    const broker = await testBroker({ ws: undefined, webhooks: [{ url: hook.url, filter: 'z/#', qos: 0 }] });
    const pub = await connect(urlOf(broker, 'tcp'));
    try {
      for (let i = 0; i < 3; i++) await pub.publishAsync(`z/${i}`, `q${i}`, { qos: 1 });
      await until('3 messages accepted', () => hook.accepted.length >= 3, 10_000);
      assert.deepEqual(payloads(hook.accepted), ['q0', 'q1', 'q2']);
      assert.deepEqual(hook.accepted.map((m) => m.qos), [0, 0, 0]);
      const [s] = broker.stats().webhooks;
      assert.deepEqual([s.sent, s.failed, s.dropped, s.queued], [3, 1, 0, 0]);
    } finally {
      await endAll(pub);
      await broker.close();
      await hook.close();
    }
  });

  test('users and an ACL do not apply to a webhook (the broker\'s own subscriber)', async () => {
    const hook = await receiver();
    const broker = await testBroker({
      ws: undefined,
      users: [{ username: 'alice', password: 'pw' }],
      acl: 'user alice\ntopic readwrite dev/#\n',
      webhooks: [{ url: hook.url, filter: 'dev/#' }],
    });
    const pub = await connect(urlOf(broker, 'tcp'), { username: 'alice', password: 'pw' });
    try {
      await pub.publishAsync('dev/1', 'acl', { qos: 1 });
      await until('the message accepted', () => hook.accepted.length >= 1);
      assert.deepEqual(payloads(hook.accepted), ['acl']);
    } finally {
      await endAll(pub);
      await broker.close();
      await hook.close();
    }
  });

  test('an endpoint that cannot be reached is reported, and routing goes on', async () => {
    const gone = await receiver();
    await gone.close();
    const broker = await testBroker({ ws: undefined, webhooks: [{ url: gone.url, filter: '#' }] });
    const events = [];
    broker.on('webhook', (e) => events.push(e));
    const sub = await connect(urlOf(broker, 'tcp'));
    try {
      await sub.subscribeAsync('x', { qos: 1 });
      const got = collect(sub, 1);
      await broker.publish('x', 'hello', { qos: 1 });
      await got;
      await until('a failure reported', () => events.some((e) => e.state === 'failing'));
      const [s] = broker.stats().webhooks;
      assert.equal(s.sent, 0);
      assert.ok(s.failed >= 1);
      assert.equal(s.queued, 1);
      assert.match(s.lastError, /failed/);
    } finally {
      await endAll(sub);
      await broker.close();
    }
  });

  test('bad webhook options reject with ERR_TABMQ_OPTION naming the option', async () => {
    const cases = [
      [{ webhooks: {} }, /`webhooks` must be an array/],
      [{ webhooks: [{ filter: '#' }] }, /webhooks\[0\]\.url/],
      [{ webhooks: [{ url: 'ftp://x/', filter: '#' }] }, /webhooks\[0\]\.url/],
      [{ webhooks: [{ url: 'http://x/', filter: 'a/#/b' }] }, /webhooks\[0\]\.filter/],
      [{ webhooks: [{ url: 'http://x/', filter: '#', qos: 3 }] }, /webhooks\[0\]\.qos/],
      [{ webhooks: [{ url: 'http://x/', filter: '#', method: 'GET' }] }, /webhooks\[0\]\.method/],
      [{ webhooks: [{ url: 'http://x/', filter: '#', batch: { max: 0 } }] }, /webhooks\[0\]\.batch\.max/],
      [{ webhooks: [{ url: 'http://x/', filter: '#', headers: { a: 1 } }] }, /webhooks\[0\]\.headers\.a/],
      [{ webhooks: [{ url: 'http://x/', filter: '#' }, { url: 'http://y/', filter: '#', name: '0' }] }, /webhooks\[1\]\.name/],
      [{ webhooks: [{ url: 'http://x/', filter: '#', retries: 3 }] }, /webhooks\[0\]\.retries/],
    ];
    for (const [options, message] of cases) {
      await assert.rejects(testBroker({ ws: undefined, ...options }), (err) => {
        assert.equal(err.code, 'ERR_TABMQ_OPTION');
        assert.match(err.message, message);
        return true;
      });
    }
  });

  test('npx tabmq --config with webhooks: forwarded, failures logged; a bad one exits naming it', { timeout: 20_000 }, async () => {
    const hook = await receiver({ failures: 1 });
    const dir = mkdtempSync(join(tmpdir(), 'tabmq-webhook-cli-'));
    const file = join(dir, 'tabmq.json');
    writeFileSync(file, JSON.stringify({ webhooks: [{ name: 'ingest', url: hook.url, filter: 'cli/#' }] }));
    const cli = await startCli(['--config', file, '--tcp', '0']);
    try {
      const pub = await connect(cli.urls.tcp);
      await pub.publishAsync('cli/1', 'from the cli', { qos: 1 });
      await endAll(pub);
      // Errors go to stderr.
      await until('the failure logged', () => / error webhook ingest: failing \(POST .* answered 500/.test(cli.stderr()));
      await cli.waitFor(/ info webhook ingest: ok$/);
      assert.deepEqual(payloads(hook.accepted), ['from the cli']);
    } finally {
      await cli.stop('SIGINT');
      await hook.close();
    }
    writeFileSync(file, JSON.stringify({ webhooks: [{ url: 'nope', filter: '#' }] }));
    const bad = await runCli(['--config', file]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /option `webhooks\[0\]\.url`/);
    rmSync(dir, { recursive: true, force: true });
  });
});
