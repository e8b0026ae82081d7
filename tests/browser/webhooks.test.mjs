// Webhooks from the browser: the broker's worker posts with fetch to an
// endpoint on another origin (another port), which allows it by CORS. The
// endpoint fails its first requests, then accepts: every message arrives
// once, in order. A second endpoint that does not allow CORS is reported
// as failing (the browser refuses the answer), and routing goes on. Under
// strict durability the queue of a failing webhook is in IndexedDB: a
// restart of the broker posts it.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startBrowser } from './harness.mjs';

let b;
before(async () => {
  b = await startBrowser();
});
after(async () => {
  await b?.close();
});

/** An endpoint on its own port; with `cors`, it answers preflights and
 *  allows any origin. Fails the first `failures` requests with 500. */
async function receiver({ cors, failures = 0 }) {
  const r = { accepted: [], requests: 0, preflights: 0, failures, origins: new Set() };
  const server = createServer((req, res) => {
    const headers = cors ? {
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'POST, PUT',
      'access-control-allow-headers': 'content-type, x-token',
    } : {};
    if (req.method === 'OPTIONS') {
      r.preflights++;
      res.writeHead(204, headers).end();
      return;
    }
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      r.requests++;
      r.origins.add(req.headers.origin);
      r.token = req.headers['x-token'];
      if (r.failures > 0) {
        r.failures--;
        res.writeHead(500, headers).end();
        return;
      }
      r.accepted.push(JSON.parse(body));
      res.writeHead(200, headers).end();
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  r.url = `http://127.0.0.1:${server.address().port}/hook`;
  r.close = () => new Promise((ok) => server.close(ok));
  return r;
}

test('the worker posts to a CORS endpoint on another origin: retried, in order, once each', async () => {
  const hook = await receiver({ cors: true, failures: 2 });
  const closed = await receiver({ cors: false });
  const p = await b.newPage();
  try {
    await p.waitForFunction(() => window.ready === true);
    const r = await p.evaluate(async ({ url, noCors, name }) => {
      const broker = await tabmq.startBroker({
        name, mode: 'shared', durability: 'strict', sysInterval: 0,
        webhooks: [
          { name: 'cors', url, filter: 'dev/#', headers: { 'x-token': 'abc' } },
          { name: 'nocors', url: noCors, filter: 'dev/#' },
        ],
      });
      const events = [];
      broker.addEventListener('webhook', (e) => events.push(e.detail));
      const client = await h.connect(broker, { protocolVersion: 5 });
      await client.subscribeAsync('dev/#', { qos: 1 });
      const routed = h.collect(client, 5);
      for (let i = 0; i < 5; i++) await client.publishAsync(`dev/${i}`, `p${i}`, { qos: 1 });
      const toClient = (await routed).length;
      let stats;
      const deadline = Date.now() + 15000;
      for (;;) {
        stats = (await broker.stats()).webhooks;
        if ((stats[0].sent >= 5 && stats[1].failed >= 1) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await client.endAsync();
      await broker.close();
      return { toClient, stats, events };
    }, { url: hook.url, noCors: closed.url, name: `webhooks-${Date.now()}` });
    assert.equal(r.toClient, 5, 'routing does not wait for the endpoints');
    assert.deepEqual(hook.accepted.map((m) => [m.topic, m.payload, m.payloadEncoding]), [0, 1, 2, 3, 4].map((i) => [`dev/${i}`, `p${i}`, 'utf8']));
    assert.equal(hook.requests, 2 + 5);
    assert.ok(hook.preflights >= 1, 'a JSON post from another origin is preflighted');
    assert.equal(hook.token, 'abc');
    assert.deepEqual([...hook.origins], [new URL(b.server.url).origin]);
    const [cors, nocors] = r.stats;
    assert.equal(cors.sent, 5);
    assert.equal(cors.failed, 2);
    assert.equal(cors.queued, 0);
    assert.match(cors.lastError, /answered 500/);
    assert.equal(nocors.sent, 0);
    assert.ok(nocors.failed >= 1);
    assert.match(nocors.lastError, /failed/);
    assert.equal(closed.accepted.length, 0, 'no CORS: the browser does not even send the post');
    assert.ok(r.events.some((e) => e.name === 'cors' && e.state === 'failing' && e.status === 500));
    assert.ok(r.events.some((e) => e.name === 'cors' && e.state === 'ok'));
  } finally {
    await p.close();
    await hook.close();
    await closed.close();
  }
});

test('the queue of a failing webhook survives a restart of the broker (strict, IndexedDB)', async () => {
  const hook = await receiver({ cors: true, failures: Infinity });
  const p = await b.newPage();
  try {
    await p.waitForFunction(() => window.ready === true);
    const name = `webhooks-restart-${Date.now()}`;
    const options = { name, mode: 'inline', durability: 'strict', sysInterval: 0, webhooks: [{ name: 'store', url: hook.url, filter: 'q/#' }] };
    await p.evaluate(async (options) => {
      const broker = await tabmq.startBroker(options);
      const client = await h.connect(broker, { protocolVersion: 5 });
      for (let i = 0; i < 3; i++) await client.publishAsync(`q/${i}`, `k${i}`, { qos: 1 });
      const deadline = Date.now() + 10000;
      while ((await broker.stats()).webhooks[0].failed < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await client.endAsync();
      await broker.close();
    }, options);
    assert.equal(hook.accepted.length, 0);
    hook.failures = 0;
    const sent = await p.evaluate(async (options) => {
      const broker = await tabmq.startBroker(options);
      const deadline = Date.now() + 10000;
      let s;
      while ((s = (await broker.stats()).webhooks[0]).sent < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200));
      await broker.close();
      return s.sent;
    }, options);
    assert.equal(sent, 3);
    assert.deepEqual(hook.accepted.map((m) => m.payload), ['k0', 'k1', 'k2']);
  } finally {
    await p.close();
    await hook.close();
  }
});

test('a bad webhook option rejects startBroker with ERR_TABMQ_OPTION naming it', async () => {
  const p = await b.newPage();
  await p.waitForFunction(() => window.ready === true);
  const r = await p.evaluate(() => tabmq.startBroker({ mode: 'inline', webhooks: [{ url: 'ws://x/', filter: '#' }] })
    .then(() => 'started', (err) => [err.name, err.code, err.message]));
  assert.equal(r[0], 'TabmqError');
  assert.equal(r[1], 'ERR_TABMQ_OPTION');
  assert.match(r[2], /webhooks\[0\]\.url/);
  await p.close();
});
