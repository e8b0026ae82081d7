// Per-address admission in the Node host (www/node/admission.js):
// `maxConnectionsPerAddress` and `connectRate`, on every listener kind; the
// bookkeeping stays bounded. Also the option checks of the access options
// the Node host passes to the core (`passwordFile`, `users`, `acl`,
// `allowAnonymous`, `strictClientIds`) and of setAccess().

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import mqtt from 'mqtt';
import { TabmqError } from '../../www/node/index.js';
import { Admission } from '../../www/node/admission.js';
import { collect, connect, createBroker, endAll, testBroker, until, urlOf, within } from './helpers.mjs';
import { makeCertificates } from './certs.mjs';

/** A raw TCP socket to `port`: `closed` resolves when it closes (the broker
 *  refused it, or it was destroyed), `isClosed()` says whether it has. */
async function rawSocket(port) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let closed = false;
  const whenClosed = once(socket, 'close').then(() => {
    closed = true;
  });
  await within(3000, 'a TCP connection', Promise.race([once(socket, 'connect'), whenClosed]));
  return { socket, closed: whenClosed, isClosed: () => closed, destroy: () => socket.destroy() };
}

/** An MQTT.js client once connected, or null if the connection is refused or closes first. */
function tryConnect(url) {
  const connecting = mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 3000 }, false);
  return within(4000, `MQTT.js to connect to or fail at ${url}`, connecting).catch(() => null);
}

function expectOptionError(name, why) {
  return (err) => {
    assert.ok(err instanceof TabmqError, `${name}: ${err}`);
    assert.equal(err.code, 'ERR_TABMQ_OPTION');
    assert.ok(err.message.includes(`\`${name}\``), `${name}: ${err.message}`);
    if (why) assert.match(err.message, why);
    return true;
  };
}

describe('Admission (the module)', () => {
  test('at most maxConnectionsPerAddress open per address; released ones are forgotten', () => {
    const a = new Admission({ maxConnectionsPerAddress: 2 });
    assert.ok(a.admit('10.0.0.1'));
    assert.ok(a.admit('::ffff:10.0.0.1'), 'IPv4 on a dual-stack listener is the same address');
    assert.equal(a.admit('10.0.0.1'), false);
    assert.ok(a.admit('10.0.0.2'), 'another address has its own count');
    a.release('10.0.0.1');
    assert.ok(a.admit('10.0.0.1'));
    for (const addr of ['10.0.0.1', '10.0.0.1', '10.0.0.2']) a.release(addr);
    assert.deepEqual(a.tracked, { addresses: 0, buckets: 0 });
  });

  test('connectRate: a burst of connectRate, then connectRate a second; full buckets are swept', () => {
    let now = 0;
    const a = new Admission({ connectRate: 5, now: () => now });
    const burst = Array.from({ length: 20 }, () => a.admit('10.0.0.1'));
    assert.equal(burst.filter(Boolean).length, 5);
    now += 200; // one token back
    assert.ok(a.admit('10.0.0.1'));
    assert.equal(a.admit('10.0.0.1'), false);
    now += 1000; // five back
    assert.equal(Array.from({ length: 10 }, () => a.admit('10.0.0.1')).filter(Boolean).length, 5);
    assert.ok(a.admit('10.0.0.2'), 'another address has its own bucket');
    for (let i = 0; i < 1000; i++) a.admit(`10.1.${i >> 8}.${i & 255}`);
    assert.equal(a.tracked.buckets, 1002);
    now += 2000; // every bucket is full again: the next admission sweeps them
    assert.ok(a.admit('10.0.0.3'));
    assert.equal(a.tracked.buckets, 1, 'only the new address keeps a bucket');
    assert.equal(a.tracked.addresses, 0, 'no open counts without maxConnectionsPerAddress');
  });

  test('no limits: everything is admitted, nothing is tracked', () => {
    const a = new Admission({});
    assert.equal(a.enabled, false);
    for (let i = 0; i < 100; i++) assert.ok(a.admit('10.0.0.1'));
    assert.deepEqual(a.tracked, { addresses: 0, buckets: 0 });
  });
});

describe('per-address limits', () => {
  test('maxConnectionsPerAddress 2: the third socket is closed at accept, on any listener; the first two work', async () => {
    const certs = makeCertificates();
    const broker = await testBroker({
      maxConnectionsPerAddress: 2,
      tls: { port: 0, cert: certs.pem('server.crt'), key: certs.pem('server.key') },
    });
    const clients = [];
    try {
      const a = await connect(urlOf(broker, 'tcp'), { clientId: 'first' });
      const b = await connect(urlOf(broker, 'ws'), { clientId: 'second' });
      clients.push(a, b);
      for (const port of [broker.ports.tcp, broker.ports.ws, broker.ports.tls]) {
        const third = await rawSocket(port);
        await within(3000, `the third socket (port ${port}) to be closed`, third.closed);
      }
      assert.equal(broker.stats().sockets, 2);
      await a.subscribeAsync('per/address', { qos: 1 });
      const got = collect(a, 1);
      await b.publishAsync('per/address', 'still served', { qos: 1 });
      assert.equal((await got)[0].payload, 'still served');
      await endAll(b);
      await until('the second socket to be counted closed', () => broker.stats().sockets === 1);
      clients.push(await connect(urlOf(broker, 'tls'), { clientId: 'third', ca: certs.pem('ca.crt') }));
      assert.equal(broker.stats().connections, 2);
    } finally {
      await endAll(clients);
      await broker.close();
      certs.remove();
    }
  });

  test('connectRate 5: a burst of 20 gets about 5 through, and a second later more are admitted', async () => {
    const broker = await testBroker({ connectRate: 5, ws: undefined });
    const sockets = [];
    try {
      const started = performance.now();
      sockets.push(...await Promise.all(Array.from({ length: 20 }, () => rawSocket(broker.ports.tcp))));
      // Every socket is either refused (closed by the broker) or counted by it.
      await until('the broker to admit or refuse all 20',
        () => sockets.filter((s) => s.isClosed()).length + broker.stats().sockets === 20);
      const elapsed = (performance.now() - started) / 1000;
      const admitted = broker.stats().sockets;
      // The burst of 5, plus what refilled while the 20 arrived (5 a second).
      const most = 5 + Math.ceil(5 * elapsed);
      assert.ok(admitted >= 5 && admitted <= most, `admitted ${admitted} of 20 in ${elapsed.toFixed(3)} s (expected 5 to ${most})`);
      // More are admitted once tokens come back (one every 200 ms), and served.
      const client = await until('a later MQTT client to be admitted', () => tryConnect(urlOf(broker, 'tcp')), 5000, 100);
      await client.subscribeAsync('rate', { qos: 1 });
      await endAll(client);
    } finally {
      for (const s of sockets) s.destroy();
      await broker.close();
    }
  });

  test('options: whole numbers from 1', async () => {
    for (const [options, name] of [
      [{ tcp: 0, maxConnectionsPerAddress: 0 }, 'maxConnectionsPerAddress'],
      [{ tcp: 0, maxConnectionsPerAddress: '2' }, 'maxConnectionsPerAddress'],
      [{ tcp: 0, connectRate: 1.5 }, 'connectRate'],
      [{ tcp: 0, connectRate: -1 }, 'connectRate'],
    ]) {
      await assert.rejects(createBroker(options), expectOptionError(name, /whole number/));
    }
  });
});

describe('access options', () => {
  test('createBroker checks their types, naming the option', async () => {
    for (const [options, name] of [
      [{ tcp: 0, passwordFile: 5 }, 'passwordFile'],
      [{ tcp: 0, users: { bob: 'x' } }, 'users'],
      [{ tcp: 0, acl: ['topic #'] }, 'acl'],
      [{ tcp: 0, allowAnonymous: 'no' }, 'allowAnonymous'],
      [{ tcp: 0, strictClientIds: 1 }, 'strictClientIds'],
    ]) {
      await assert.rejects(createBroker(options), expectOptionError(name));
    }
  });

  test('setAccess() checks its options, naming them', async () => {
    const broker = await testBroker({ ws: undefined });
    try {
      for (const [options, name] of [
        [{ passwordFile: 5 }, 'passwordFile'],
        [{ users: 'bob' }, 'users'],
        [{ acl: null }, 'acl'],
        [{ allowAnonymous: 1 }, 'allowAnonymous'],
        [{ strictClientIds: true }, 'strictClientIds'],
        [null, 'setAccess'],
      ]) {
        assert.throws(() => broker.setAccess(options), expectOptionError(name));
      }
    } finally {
      await broker.close();
    }
    assert.throws(() => broker.setAccess({}), { code: 'ERR_TABMQ_CLOSED' });
  });

  // These two need the core's access control (issue 13), checked by the core.
  test('they reach the core: users and allowAnonymous decide who connects', async () => {
    const broker = await testBroker({ ws: undefined, users: [{ username: 'bob', password: 'pw' }], allowAnonymous: false });
    try {
      const url = urlOf(broker, 'tcp');
      await assert.rejects(connect(url, { protocolVersion: 5 }), 'an anonymous client is refused');
      await assert.rejects(connect(url, { protocolVersion: 5, username: 'bob', password: 'wrong' }), 'a wrong password is refused');
      await endAll(await connect(url, { protocolVersion: 5, username: 'bob', password: 'pw' }));
    } finally {
      await broker.close();
    }
  });

  test('setAccess() replaces them for new connections', async () => {
    const broker = await testBroker({ ws: undefined, users: [{ username: 'bob', password: 'pw' }], allowAnonymous: false });
    try {
      const url = urlOf(broker, 'tcp');
      broker.setAccess({ users: [{ username: 'carol', password: 'pw2' }], allowAnonymous: false });
      await assert.rejects(connect(url, { protocolVersion: 5, username: 'bob', password: 'pw' }), 'bob is gone');
      await endAll(await connect(url, { protocolVersion: 5, username: 'carol', password: 'pw2' }));
    } finally {
      await broker.close();
    }
  });
});
