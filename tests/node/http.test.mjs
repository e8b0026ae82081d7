// The HTTP API (`tabmq --http PORT`, `createBroker({ http })`), with real
// requests: publishes seen by mosquitto_sub, the ACL and HTTP Basic against
// the password file, the inspection endpoints, disconnecting a client
// (0x98), Prometheus metrics parsed strictly and moving with traffic,
// health and readiness, HTTPS, and bad options.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import https from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createBroker, endAll, testBroker, until, within } from './helpers.mjs';
import { runCli, startCli } from './cli-helpers.mjs';
import { makeCertificates } from './certs.mjs';
import { freePort } from './mosquitto.mjs';

const ACL = 'user alice\ntopic readwrite alice/#\ntopic read #\nuser bob\ntopic read bob/#\n';

/** Prometheus' text exposition format, strictly: every line a HELP, a TYPE
 *  or a sample of a declared metric. Returns Map(series -> value). */
function parseMetrics(text) {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const types = new Map();
  const samples = new Map();
  const name = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const value = '(?:[-+]?(?:[0-9]*\\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf)|NaN)';
  const labels = `\\{(?:${name}="(?:[^"\\\\\\n]|\\\\[\\\\n"])*"(?:,${name}="(?:[^"\\\\\\n]|\\\\[\\\\n"])*")*,?)?\\}`;
  const sample = new RegExp(`^(${name})(${labels})? (${value})(?: -?[0-9]+)?$`);
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue; // the format ignores empty lines
    if (line.startsWith('# HELP ')) {
      assert.match(line, new RegExp(`^# HELP ${name} .*$`));
      continue;
    }
    const type = line.match(new RegExp(`^# TYPE (${name}) (counter|gauge|histogram|summary|untyped)$`));
    if (type) {
      types.set(type[1], type[2]);
      continue;
    }
    const m = line.match(sample);
    assert.ok(m, `not a line of the exposition format: ${JSON.stringify(line)}`);
    const base = m[1].replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(m[1]) || types.get(base) === 'histogram' || types.get(base) === 'summary', `${m[1]} has no TYPE`);
    samples.set(m[1] + (m[2] ?? ''), Number(m[3]));
  }
  return samples;
}

const basic = (user, password) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

/** mosquitto_sub, collecting lines; `done` resolves at its exit. */
function mosquittoSub(args) {
  const child = spawn('mosquitto_sub', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    const parts = out.split('\n');
    out = parts.pop();
    lines.push(...parts);
  });
  const done = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  return { child, lines, done };
}

describe('tabmq --http', () => {
  let dir;
  let cli;
  let api;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tabmq-http-'));
    const passwd = join(dir, 'passwd');
    await runCli(['passwd', '-c', '-b', passwd, 'alice', 'alicepw']);
    await runCli(['passwd', '-b', passwd, 'bob', 'bobpw']);
    writeFileSync(join(dir, 'acl'), ACL);
    cli = await startCli(['--tcp', '0', '--http', '0', '--http-admin', 'alice', '--password-file', passwd, '--acl-file', join(dir, 'acl'),
      '--data', join(dir, 'data'), '--sys-interval', '0']);
    api = cli.urls.http.replace(/\/$/, '');
  });
  after(async () => {
    await cli?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('requests without credentials, or with bad ones, are refused; health needs none', async () => {
    for (const path of ['/api/v1/stats', '/api/v1/clients', '/metrics']) {
      const r = await fetch(api + path);
      assert.equal(r.status, 401, path);
      assert.match(r.headers.get('www-authenticate'), /^Basic realm="tabmq"/);
    }
    const wrong = await fetch(`${api}/api/v1/publish`, { method: 'POST', headers: basic('alice', 'nope'), body: '{"topic":"alice/x"}' });
    assert.equal(wrong.status, 401);
    assert.equal((await fetch(`${api}/healthz`)).status, 200);
    assert.deepEqual(await (await fetch(`${api}/readyz`)).json(), { ready: true });
    assert.equal((await fetch(`${api}/nothing`, { headers: basic('alice', 'alicepw') })).status, 404);
  });

  test('publishes at QoS 0 and 1 (JSON and raw), retained, reach mosquitto_sub; the ACL refuses with 403', async () => {
    const port = new URL(cli.urls.tcp).port;
    const sub = mosquittoSub(['-h', '127.0.0.1', '-p', port, '-V', 'mqttv5', '-u', 'alice', '-P', 'alicepw',
      '-i', 'http-watch', '-t', 'alice/#', '-q', '1', '-C', '3', '-W', '20', '-F', '%t|%p|%q|%r']);
    await until('mosquitto_sub to subscribe', async () => {
      const r = await fetch(`${api}/api/v1/subscriptions`, { headers: basic('alice', 'alicepw') });
      return (await r.json()).some((s) => s.clientId === 'http-watch' && s.filter === 'alice/#');
    }, 10_000);
    const post = (path, body, user = 'alice', pw = 'alicepw') => fetch(api + path, { method: 'POST', headers: basic(user, pw), body });
    let r = await post('/api/v1/publish', JSON.stringify({ topic: 'alice/q0', payload: 'zero' }));
    assert.deepEqual([r.status, await r.json()], [200, { reasonCode: 0 }]);
    r = await post('/api/v1/publish', JSON.stringify({ topic: 'alice/q1', payload: Buffer.from('one').toString('base64'), payloadEncoding: 'base64', qos: 1, retain: true }));
    assert.equal(r.status, 200);
    r = await post('/api/v1/publish?topic=alice/raw&qos=1', 'raw bytes');
    assert.equal(r.status, 200);
    assert.equal(await within(20_000, 'mosquitto_sub to exit', sub.done), 0);
    assert.deepEqual(sub.lines, ['alice/q0|zero|0|0', 'alice/q1|one|1|0', 'alice/raw|raw bytes|1|0']);
    // bob may not write; a bad topic and a bad body are 400s.
    r = await post('/api/v1/publish', JSON.stringify({ topic: 'bob/x', payload: 'no', qos: 1 }), 'bob', 'bobpw');
    assert.deepEqual([r.status, (await r.json()).reasonCode], [403, 0x87]);
    r = await post('/api/v1/publish', JSON.stringify({ topic: 'alice/+', payload: 'no' }));
    assert.deepEqual([r.status, (await r.json()).reasonCode], [400, 0x90]);
    r = await post('/api/v1/publish', 'not json');
    assert.equal(r.status, 400);
    r = await post('/api/v1/publish', JSON.stringify({ topic: 'alice/x', qos: 3 }));
    assert.equal(r.status, 400);
    const retained = await (await fetch(`${api}/api/v1/retained`, { headers: basic('alice', 'alicepw') })).json();
    assert.deepEqual(retained, [{ topic: 'alice/q1', qos: 1, payload: Buffer.from('one').toString('base64'), payloadEncoding: 'base64' }]);
    // bob reads only bob/#: alice's retained message is not his to see.
    const bobs = await fetch(`${api}/api/v1/retained`, { headers: basic('bob', 'bobpw') });
    assert.deepEqual([bobs.status, await bobs.json()], [200, []]);
  });

  test('DELETE /api/v1/clients/:id disconnects an MQTT 5 client with 0x98', async () => {
    const client = await connect(cli.urls.tcp, { protocolVersion: 5, clientId: 'to-kick', username: 'bob', password: 'bobpw' });
    try {
      const reason = new Promise((resolve) => client.once('disconnect', (p) => resolve(p.reasonCode)));
      const clients = await (await fetch(`${api}/api/v1/clients`, { headers: basic('alice', 'alicepw') })).json();
      // bob is no administrator (--http-admin alice): not his to list or kick.
      for (const [method, path] of [['GET', '/api/v1/clients'], ['GET', '/api/v1/subscriptions'], ['GET', '/api/v1/stats'], ['GET', '/metrics'], ['DELETE', '/api/v1/clients/to-kick']]) {
        assert.equal((await fetch(api + path, { method, headers: basic('bob', 'bobpw') })).status, 403, `${method} ${path}`);
      }
      assert.ok(clients.some((c) => c.clientId === 'to-kick' && c.connected));
      const r = await fetch(`${api}/api/v1/clients/to-kick`, { method: 'DELETE', headers: basic('alice', 'alicepw') });
      assert.equal(r.status, 200);
      assert.equal(await within(5000, 'the DISCONNECT', reason), 0x98);
      const again = await fetch(`${api}/api/v1/clients/to-kick`, { method: 'DELETE', headers: basic('alice', 'alicepw') });
      assert.equal(again.status, 404);
      const garbled = await fetch(`${api}/api/v1/clients/%E0`, { method: 'DELETE', headers: basic('alice', 'alicepw') });
      assert.equal(garbled.status, 400, 'a client id that is not percent-encoding is a bad request, not a server error');
    } finally {
      await endAll(client);
    }
  });

  test('/metrics is Prometheus text that moves with traffic', async () => {
    const scrape = async () => {
      const r = await fetch(`${api}/metrics`, { headers: basic('alice', 'alicepw') });
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
      return parseMetrics(await r.text());
    };
    const before = await scrape();
    for (const name of ['tabmq_connections', 'tabmq_sessions', 'tabmq_subscriptions', 'tabmq_retained_messages',
      'tabmq_messages_received_total{qos="0"}', 'tabmq_messages_received_total{qos="1"}', 'tabmq_messages_received_total{qos="2"}',
      'tabmq_messages_sent_total{qos="1"}', 'tabmq_bytes_received_total', 'tabmq_queued_messages',
      'tabmq_inflight_messages', 'tabmq_storage_commits_total', 'tabmq_storage_commit_seconds_count']) {
      assert.ok(before.has(name), `${name} is exposed`);
    }
    const client = await connect(cli.urls.tcp, { protocolVersion: 5, username: 'alice', password: 'alicepw' });
    try {
      await client.subscribeAsync('alice/m', { qos: 1 });
      for (let i = 0; i < 5; i++) await client.publishAsync('alice/m', `m${i}`, { qos: 1, retain: i === 4 });
      await client.publishAsync('bob/denied', 'x', { qos: 1 }).catch(() => {});
      const during = await scrape();
      assert.equal(during.get('tabmq_connections'), before.get('tabmq_connections') + 1);
      // Five QoS 1 publishes in, five out at QoS 1; none at QoS 2.
      assert.ok(during.get('tabmq_messages_received_total{qos="1"}') >= before.get('tabmq_messages_received_total{qos="1"}') + 5);
      assert.ok(during.get('tabmq_messages_sent_total{qos="1"}') >= before.get('tabmq_messages_sent_total{qos="1"}') + 5);
      assert.equal(during.get('tabmq_messages_received_total{qos="2"}'), before.get('tabmq_messages_received_total{qos="2"}'));
      assert.ok(during.get('tabmq_bytes_received_total') > before.get('tabmq_bytes_received_total'));
      assert.ok(during.get('tabmq_storage_commits_total') > before.get('tabmq_storage_commits_total'), 'commits are counted');
      assert.ok(during.get('tabmq_storage_commit_seconds_count') > before.get('tabmq_storage_commit_seconds_count'));
      assert.ok(during.get('tabmq_denied_total{action="publish"}') >= 1);
    } finally {
      await endAll(client);
    }
  });
});

describe('createBroker({ http })', () => {
  test('readiness is false until the data directory is restored, health answers meanwhile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabmq-ready-'));
    try {
      const first = await createBroker({ tcp: 0, dataDir: dir, sysInterval: 0 });
      const payload = 'x'.repeat(200);
      for (let i = 0; i < 20_000; i += 1000) {
        const batch = [];
        for (let j = i; j < i + 1000; j++) batch.push(first.publish(`fill/${j}`, payload, { retain: true }));
        await Promise.all(batch);
      }
      await first.close();
      const port = await freePort();
      const starting = createBroker({ tcp: 0, dataDir: dir, sysInterval: 0, http: { port } });
      const seen = [];
      let broker = null;
      starting.then((b) => (broker = b));
      while (broker === null) {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
        if (r) seen.push([r.status, (await fetch(`http://127.0.0.1:${port}/healthz`)).status]);
        await new Promise((ok) => setTimeout(ok, 2));
      }
      try {
        assert.ok(seen.length > 0, 'the HTTP API answered while the broker restored');
        assert.deepEqual(seen[0], [503, 200], 'not ready, but healthy');
        assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
        assert.equal(broker.stats().retained, 20_000);
      } finally {
        await broker.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('over HTTPS with cert and key; anonymous requests pass when the broker admits anonymous clients', async () => {
    const certs = makeCertificates();
    const broker = await testBroker({ ws: undefined, http: { port: 0, cert: certs.pem('server.crt'), key: certs.pem('server.key') } });
    try {
      assert.equal(broker.addresses.find((a) => a.transport === 'https').port, broker.ports.https);
      const body = await new Promise((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: broker.ports.https, path: '/api/v1/publish', method: 'POST', ca: certs.pem('ca.crt') }, (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve([res.statusCode, JSON.parse(text)]));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ topic: 'secure/t', payload: 'hi', qos: 1, retain: true }));
      });
      assert.deepEqual(body, [200, { reasonCode: 0x10 }]);
      assert.equal(broker.inspect().retained[0].topic, 'secure/t');
    } finally {
      await broker.close();
      certs.remove();
    }
  });

  test('with an authenticate callback and no password file, HTTP Basic is checked by the callback; base64 that does not decode is refused', async () => {
    const seen = [];
    const broker = await testBroker({
      ws: undefined,
      http: { port: 0 },
      acl: 'user alice\ntopic readwrite alice/#\n',
      allowAnonymous: false,
      authenticate: async ({ username, password }) => {
        seen.push(username);
        return username === 'alice' && new TextDecoder().decode(password) === 'right';
      },
    });
    const api = `http://127.0.0.1:${broker.ports.http}`;
    const post = (headers, msg) => fetch(`${api}/api/v1/publish`, { method: 'POST', headers, body: JSON.stringify(msg) });
    try {
      const wrong = await post(basic('alice', 'wrong'), { topic: 'alice/x', payload: 'p', retain: true });
      assert.equal(wrong.status, 401);
      assert.equal((await fetch(`${api}/api/v1/clients`, { headers: basic('alice', 'wrong') })).status, 401);
      assert.equal(broker.inspect().retained.length, 0, 'nothing published with a wrong password');
      const right = await post(basic('alice', 'right'), { topic: 'alice/x', payload: 'p', retain: true });
      assert.equal(right.status, 200);
      assert.ok(seen.includes('alice'), 'the callback was asked');
      // A retained message must not be replaced by garbage that decodes to nothing.
      const bad = await post(basic('alice', 'right'), { topic: 'alice/x', payload: '!!!!', payloadEncoding: 'base64', retain: true });
      assert.equal(bad.status, 400);
      assert.equal(new TextDecoder().decode(broker.inspect().retained[0].payload), 'p');
    } finally {
      await broker.close();
    }
  });

  test('bad http options are refused, naming the option', async () => {
    const bad = [
      [{ port: -1 }, 'http.port'],
      [{ port: 0, bogus: 1 }, 'http.bogus'],
      ['8080', 'http'],
      [{ port: 0, host: '' }, 'http.host'],
      [{ port: 0, cert: 'not pem' }, 'http.key'],
      [{ port: 0, cert: 'not pem', key: 'not pem' }, 'http.cert'],
      [{ port: 0, cert: '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n' }, 'http.'],
    ];
    for (const [http, name] of bad) {
      await assert.rejects(createBroker({ tcp: 0, http }), (err) => {
        assert.equal(err.code, 'ERR_TABMQ_OPTION');
        assert.ok(err.message.includes(`\`${name}`), `${err.message} names ${name}`);
        return true;
      });
    }
  });
});
