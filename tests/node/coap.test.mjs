// The CoAP gateway (`tabmq --coap PORT`, `createBroker({ coap })`), with the
// `coap` package as the client: publishes (CON is QoS 1, NON QoS 0),
// Observe streaming messages in order, the retained read, credentials and
// the ACL, and garbage datagrams that harm nobody.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import coap from 'coap';
import { collect, connect, createBroker, endAll, until, within } from './helpers.mjs';
import { startCli } from './cli-helpers.mjs';

const ACL = 'user alice\ntopic readwrite #\nuser bob\ntopic read bob/#\n';

/** One CoAP request, from a UDP socket of its own (`agent` null);
 *  resolves with the response (an ObserveReadStream with `observe`). */
function request(agent, port, { method = 'GET', path, query = '', confirmable = true, observe = false, token }, payload) {
  return within(5000, `CoAP ${method} ${path}`, new Promise((resolve, reject) => {
    const req = coap.request({ hostname: '127.0.0.1', port, method, pathname: path, query, confirmable, observe, token, agent: agent ?? false });
    req.on('response', (res) => {
      // coap 1.5 keeps an observation open for any answer but 4.04: close
      // the ones that are refusals, or their sockets stay open.
      if (observe === true && !res.code.startsWith('2.')) res.close();
      resolve(res);
    });
    req.on('error', reject);
    req.end(payload);
  }));
}

describe('CoAP gateway', () => {
  let broker;
  let agent;
  let port;
  const creds = 'u=alice&p=alicepw';
  before(async () => {
    broker = await createBroker({
      tcp: 0, coap: { port: 0 }, sysInterval: 0,
      users: [{ username: 'alice', password: 'alicepw' }, { username: 'bob', password: 'bobpw' }], acl: ACL,
    });
    port = broker.ports.coap;
    agent = null; // a socket per request
  });
  after(async () => {
    await broker?.close();
  });

  test('POST publishes: confirmable at QoS 1, non-confirmable at QoS 0, ?qos and ?retain', async () => {
    const sub = await connect(`mqtt://127.0.0.1:${broker.ports.tcp}`, { protocolVersion: 5, username: 'alice', password: 'alicepw' });
    try {
      await sub.subscribeAsync('coap/#', { qos: 2 });
      const got = collect(sub, 3);
      let res = await request(agent, port, { method: 'POST', path: '/ps/coap/con', query: creds }, 'confirmable');
      assert.equal(res.code, '2.04');
      res = await request(agent, port, { method: 'POST', path: '/ps/coap/non', query: creds, confirmable: false }, 'not confirmable');
      assert.equal(res.code, '2.04');
      res = await request(agent, port, { method: 'PUT', path: '/ps/coap/kept', query: `${creds}&qos=2&retain=true` }, 'kept');
      assert.equal(res.code, '2.04');
      const msgs = await got;
      assert.deepEqual(msgs.map((m) => [m.topic, m.payload, m.qos]),
        [['coap/con', 'confirmable', 1], ['coap/non', 'not confirmable', 0], ['coap/kept', 'kept', 2]]);
      res = await request(agent, port, { path: '/ps/coap/kept', query: creds });
      assert.deepEqual([res.code, res.payload.toString()], ['2.05', 'kept']);
      res = await request(agent, port, { path: '/ps/coap/none', query: creds });
      assert.equal(res.code, '4.04');
    } finally {
      await endAll(sub);
    }
  });

  test('GET with Observe streams 10 messages in order, and stops when the client cancels', async () => {
    // An agent of its own: the observation's socket, kept for the deregistration.
    const observer = new coap.Agent({ type: 'udp4' });
    const stream = await (async () => {
      const pending = request(observer, port, { path: '/ps/obs/t', query: creds, observe: true });
      // The response comes with the first notification.
      const pub = await connect(`mqtt://127.0.0.1:${broker.ports.tcp}`, { username: 'alice', password: 'alicepw' });
      for (let i = 0; i < 10; i++) await pub.publishAsync('obs/t', `n${i}`, { qos: 1 });
      await endAll(pub);
      return pending;
    })();
    const got = [];
    await within(5000, '10 notifications', new Promise((resolve) => {
      const onData = (d) => {
        got.push(d.toString());
        if (got.length === 10) resolve();
      };
      // Every notification is a 'data' event, the first (the response) too.
      stream.on('data', onData);
    }));
    assert.deepEqual(got, [...Array(10).keys()].map((i) => `n${i}`));
    assert.equal(broker.stats().subscriptions, 1, 'the observation is a subscription');
    // Deregistration (a GET with Observe 1 and the same token, RFC 7641
    // 3.6) ends it. (Sent before closing: coap 1.5's own `close(true)`
    // sends it on the socket it has just closed.)
    await request(observer, port, { path: '/ps/obs/t', query: creds, observe: 1, token: stream._packet.token });
    stream.close();
    await until('the observation to end', () => broker.stats().subscriptions === 0);
    observer.close();
  });

  test('bad credentials get 4.01, the ACL 4.03, unknown resources 4.04', async () => {
    let res = await request(agent, port, { method: 'POST', path: '/ps/x', query: 'u=alice&p=wrong' }, 'no');
    assert.equal(res.code, '4.01');
    res = await request(agent, port, { method: 'POST', path: '/ps/x' }, 'anonymous');
    assert.equal(res.code, '4.01');
    res = await request(agent, port, { method: 'POST', path: '/ps/bob/x', query: 'u=bob&p=bobpw' }, 'read only');
    assert.equal(res.code, '4.03');
    res = await request(agent, port, { path: '/ps/secret/#', query: 'u=bob&p=bobpw', observe: true });
    assert.equal(res.code, '4.03');
    res = await request(agent, port, { path: '/ps/secret/%23', query: 'u=bob&p=bobpw', observe: true });
    assert.equal(res.code, '4.03');
    res = await request(agent, port, { path: '/other', query: creds });
    assert.equal(res.code, '4.04');
    assert.equal(broker.inspect().retained.some((m) => m.topic === 'x'), false);
  });

  test('garbage datagrams are ignored without harm to other clients', async () => {
    const socket = dgram.createSocket('udp4');
    try {
      const junk = [Buffer.alloc(0), Buffer.from([0xff]), Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0x40, 0x01, 0x00]),
        Buffer.from([0x44, 0x02, 0x12, 0x34, 0xff, 0xff, 0xff, 0xff, 0xbd, 0xff])];
      for (let i = 0; i < 200; i++) junk.push(Buffer.from(Array.from({ length: 1 + (i % 40) }, (_, j) => (i * 31 + j * 17) & 0xff)));
      for (const d of junk) await new Promise((ok) => socket.send(d, port, '127.0.0.1', () => ok()));
      const res = await request(agent, port, { method: 'POST', path: '/ps/after/junk', query: creds }, 'still here');
      assert.equal(res.code, '2.04');
      assert.equal(broker.stats().connections, 0);
    } finally {
      socket.close();
    }
  });
});

test('tabmq --coap PORT serves the gateway', async () => {
  const cli = await startCli(['--tcp', '0', '--coap', '0', '--sys-interval', '0']);
  const agent = null;
  try {
    const port = Number(new URL(cli.urls.coap).port);
    const sub = await connect(cli.urls.tcp);
    const got = collect(sub, 1);
    await sub.subscribeAsync('cli/coap');
    const res = await request(agent, port, { method: 'POST', path: '/ps/cli/coap' }, 'from coap');
    assert.equal(res.code, '2.04');
    assert.equal((await got)[0].payload, 'from coap');
    await endAll(sub);
  } finally {
    await cli.stop();
  }
});

test('observations are bounded per address: past coap.maxObservationsPerAddress a new one gets 5.03, others are served', async () => {
  const broker = await createBroker({ tcp: 0, coap: { port: 0, maxObservationsPerAddress: 2 }, sysInterval: 0 });
  const port = broker.ports.coap;
  const observers = [new coap.Agent({ type: 'udp4' }), new coap.Agent({ type: 'udp4' })];
  try {
    // Two observations (their responses come with the first notification).
    const pending = observers.map((a, i) => request(a, port, { path: `/ps/cap/${i}`, observe: true }));
    await until('two observations', () => broker.stats().subscriptions === 2);
    const third = await request(null, port, { path: '/ps/cap/2', observe: true });
    assert.equal(third.code, '5.03');
    assert.equal(broker.stats().subscriptions, 2);
    // Publishing and reading still work.
    assert.equal((await request(null, port, { method: 'POST', path: '/ps/cap/0' }, 'x')).code, '2.04');
    const first = await pending[0];
    assert.equal(first.code, '2.05');
    first.close();
    pending[1].then((s) => s.close(), () => {});
  } finally {
    await broker.close();
    for (const a of observers) a.close();
  }
});

test('bad coap options are refused, naming the option', async () => {
  for (const [coapOption, name] of [[{ port: 0, maxObservations: -1 }, 'coap.maxObservations'], [{ port: 0, maxObservationsPerAddress: 1.5 }, 'coap.maxObservationsPerAddress'], [{ port: 0, observe: true }, 'coap.observe']]) {
    await assert.rejects(createBroker({ tcp: 0, coap: coapOption }), (err) => {
      assert.equal(err.code, 'ERR_TABMQ_OPTION');
      assert.ok(err.message.includes(name), err.message);
      return true;
    });
  }
});
