// The Node host's TLS listeners: `tls` (MQTT over TLS, mqtts://) and `wss`
// (MQTT over WebSocket over TLS), with certificates made by openssl at test
// time (tests/node/certs.mjs): mosquitto_sub and MQTT.js reach the broker
// over both, a client that trusts another CA does not; requireCertificate
// refuses clients without a certificate signed by `ca` at the handshake;
// setCertificates() swaps the certificate for new connections;
// useIdentityAsUsername makes the certificate's CN the user name; option
// errors name the option; close() is not held up by a handshake.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { spawn, spawnSync } from 'node:child_process';
import { TabmqError } from '../../www/node/index.js';
import { attempt, collect, connect, createBroker, endAll, until, within } from './helpers.mjs';
import { makeCertificates } from './certs.mjs';

let certs;
before(() => {
  certs = makeCertificates();
});
after(() => certs?.remove());

/** The server certificate `name` ('server': signed by `ca`; 'server2': by `other`) as listener options. */
const serverCert = (name = 'server') => ({ cert: certs.pem(`${name}.crt`), key: certs.pem(`${name}.key`) });
/** Client options trusting CA `ca` ('ca' or 'other'), with client certificate `as` if given. */
function trust(ca, as) {
  const opts = { ca: certs.pem(`${ca}.crt`) };
  if (as) Object.assign(opts, { cert: certs.pem(`${as}.crt`), key: certs.pem(`${as}.key`) });
  return opts;
}

/** A broker with one `tls` and one `wss` listener (each given `extra`), on free ports. */
function secureBroker(extra = {}, options = {}) {
  return createBroker({
    tls: { port: 0, ...serverCert(), ...extra },
    wss: { port: 0, ...serverCert(), ...extra },
    sysInterval: 0,
    ...options,
  });
}

async function refused(url, opts, what) {
  const { client, error } = await attempt(url, opts);
  if (client) await endAll(client);
  assert.ok(error, `${what}: the connection is refused`);
  return error;
}

async function accepted(url, opts, what) {
  const { client, error } = await attempt(url, opts);
  assert.ok(client, `${what}: connected (${error?.code ?? ''} ${error?.message ?? ''})`);
  return client;
}

const urls = (broker) => broker.addresses.map((a) => a.url);

describe('TLS listeners', () => {
  test('addresses, ports and events name mqtts:// and wss://, transports tls and wss', async () => {
    const broker = await secureBroker({}, { tcp: { port: 0 } });
    const events = [];
    broker.on('connected', (e) => events.push(e));
    try {
      const [tls, wss] = broker.addresses.filter((a) => a.transport !== 'tcp');
      assert.equal(tls.transport, 'tls');
      assert.equal(tls.url, `mqtts://127.0.0.1:${tls.port}`);
      assert.equal(wss.transport, 'wss');
      assert.equal(wss.url, `wss://127.0.0.1:${wss.port}/mqtt`);
      assert.deepEqual(broker.ports, { tcp: broker.addresses[0].port, tls: tls.port, wss: wss.port });
      const clients = [await connect(tls.url, trust('ca')), await connect(wss.url, trust('ca'))];
      assert.deepEqual(events.map((e) => [e.transport, e.listener]), [['tls', tls.url], ['wss', wss.url]]);
      assert.equal(broker.stats().sockets, 2);
      await endAll(clients);
      await until('the TLS sockets to be counted closed', () => broker.stats().sockets === 0);
    } finally {
      await broker.close();
    }
  });

  test('MQTT.js over mqtts and over wss: messages cross both ways', async () => {
    const broker = await secureBroker();
    const [tlsUrl, wssUrl] = urls(broker);
    const a = await connect(tlsUrl, { ...trust('ca'), protocolVersion: 5 });
    const b = await connect(wssUrl, { ...trust('ca'), protocolVersion: 4 });
    try {
      await a.subscribeAsync('to/a', { qos: 1 });
      await b.subscribeAsync('to/b', { qos: 1 });
      const gotA = collect(a, 1);
      const gotB = collect(b, 1);
      await b.publishAsync('to/a', 'over wss', { qos: 1 });
      await a.publishAsync('to/b', 'over mqtts', { qos: 1 });
      assert.equal((await gotA)[0].payload, 'over wss');
      assert.equal((await gotB)[0].payload, 'over mqtts');
    } finally {
      await endAll(a, b);
      await broker.close();
    }
  });

  test('mosquitto_sub --cafile receives a message over mqtts; with another CA it cannot connect', { timeout: 30_000 }, async () => {
    assert.equal(spawnSync('mosquitto_sub', ['--help']).error, undefined,
      'mosquitto_sub (Debian mosquitto-clients) is installed: run `bash scripts/ensure-interop.sh`');
    const broker = await secureBroker();
    const port = String(broker.ports.tls);
    const pub = await connect(urls(broker)[1], trust('ca'));
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '--cafile', certs.path('ca.crt'),
      '-i', 'mosq-tls', '-t', 'secure/#', '-C', '1', '-W', '20', '-v'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    sub.stdout.on('data', (d) => (out += d));
    sub.stderr.on('data', (d) => (out += d));
    const exited = once(sub, 'close');
    try {
      await until('mosquitto_sub to subscribe over TLS', () => broker.inspect().clients
        .some((c) => c.clientId === 'mosq-tls' && c.connected && c.subscriptions.length === 1), 10_000);
      await pub.publishAsync('secure/hello', 'from wss', { qos: 1 });
      const [code] = await within(15_000, 'mosquitto_sub to exit with its message', exited);
      assert.equal(code, 0, out);
      assert.equal(out.trim(), 'secure/hello from wss');
      const connected = [];
      broker.on('connected', (e) => connected.push(e.clientId));
      const wrong = spawnSync('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '--cafile', certs.path('other.crt'),
        '-i', 'mosq-wrong', '-t', 'secure/#', '-C', '1', '-W', '2'], { encoding: 'utf8', timeout: 15_000 });
      assert.notEqual(wrong.status, 0, 'mosquitto_sub trusting another CA fails');
      assert.deepEqual(connected, [], 'and never reaches the broker');
    } finally {
      sub.kill('SIGKILL');
      await endAll(pub);
      await broker.close();
    }
  });

  test('a client trusting another CA is refused, over mqtts and wss, and the broker sees no connection', async () => {
    const broker = await secureBroker();
    const seen = [];
    broker.on('event', (e) => seen.push(e.type));
    try {
      for (const url of urls(broker)) {
        const err = await refused(url, trust('other'), `${url} trusting another CA`);
        assert.match(String(err.code ?? err.message), /CERT|SIGN|ISSUER|VERIFY|SELF/i);
      }
      assert.deepEqual(seen, []);
      await until('the refused sockets to be counted closed', () => broker.stats().sockets === 0);
    } finally {
      await broker.close();
    }
  });
});

describe('client certificates', () => {
  test('requireCertificate: no certificate, or one signed by another CA, is refused; one signed by `ca` is accepted', async () => {
    const broker = await secureBroker({ ca: certs.pem('ca.crt'), requireCertificate: true });
    const seen = [];
    broker.on('connected', (e) => seen.push(e.transport));
    try {
      for (const url of urls(broker)) {
        await refused(url, trust('ca'), `${url} without a client certificate`);
        await refused(url, trust('ca', 'mallory'), `${url} with a certificate signed by another CA`);
        const ok = await accepted(url, trust('ca', 'alice'), `${url} with alice's certificate`);
        await endAll(ok);
      }
      assert.deepEqual(seen, ['tls', 'wss']);
    } finally {
      await broker.close();
    }
  });

  test('without requireCertificate, `ca` alone does not ask for a client certificate', async () => {
    const broker = await secureBroker({ ca: certs.pem('ca.crt') });
    try {
      for (const url of urls(broker)) await endAll(await accepted(url, trust('ca'), `${url} without a client certificate`));
    } finally {
      await broker.close();
    }
  });

  test('useIdentityAsUsername: the certificate\'s CN is the user name the broker (and authenticate) sees', async () => {
    const usernames = [];
    const broker = await secureBroker({ ca: certs.pem('ca.crt'), useIdentityAsUsername: true }, {
      authenticate: (req) => {
        usernames.push(req.username);
        return true;
      },
    });
    try {
      for (const url of urls(broker)) {
        await refused(url, trust('ca'), `${url} without a client certificate (useIdentityAsUsername implies requireCertificate)`);
        await refused(url, trust('ca', 'nameless'), `${url} with a certificate that has no CN`);
        const c = await accepted(url, { ...trust('ca', 'alice'), username: 'mallory', password: 'x' }, `${url} as alice`);
        const d = await accepted(url, { ...trust('ca', 'alice'), protocolVersion: 5 }, `${url} as alice, no user name`);
        await endAll(c, d);
      }
      assert.deepEqual(usernames, ['alice', 'alice', 'alice', 'alice'],
        'the CN replaces the CONNECT\'s user name (needs the core\'s identity support: www/pkg/tabmq.d.ts handleIdentity)');
    } finally {
      await broker.close();
    }
  });
});

describe('setCertificates()', () => {
  test('swaps the certificate of every TLS listener for new connections; open ones carry on', async () => {
    const broker = await secureBroker();
    const [tlsUrl, wssUrl] = urls(broker);
    const before = await connect(tlsUrl, trust('ca'));
    const clients = [before];
    try {
      for (const url of [tlsUrl, wssUrl]) await refused(url, trust('other'), `${url} trusting only the new CA, before`);
      broker.setCertificates(serverCert('server2'));
      for (const url of [tlsUrl, wssUrl]) {
        clients.push(await accepted(url, trust('other'), `${url} trusting only the new CA, after`));
        await refused(url, trust('ca'), `${url} trusting only the old CA, after`);
      }
      await before.subscribeAsync('still', { qos: 1 });
      const got = collect(before, 1);
      await clients[1].publishAsync('still', 'here', { qos: 1 });
      assert.equal((await got)[0].payload, 'here', 'a connection made before the swap still works');
    } finally {
      await endAll(clients);
      await broker.close();
    }
  });

  test('`ca` left out keeps each listener\'s own: client certificates are still checked', async () => {
    const broker = await secureBroker({ ca: certs.pem('ca.crt'), requireCertificate: true });
    try {
      broker.setCertificates(serverCert('server2'));
      for (const url of urls(broker)) {
        await refused(url, trust('other'), `${url} without a client certificate`);
        await endAll(await accepted(url, trust('other', 'alice'), `${url} with alice's certificate`));
      }
      broker.setCertificates({ ...serverCert('server2'), ca: certs.pem('other.crt') });
      for (const url of urls(broker)) {
        await refused(url, trust('other', 'alice'), `${url} with alice's certificate, no longer trusted`);
        await endAll(await accepted(url, trust('other', 'mallory'), `${url} with mallory's certificate, now trusted`));
      }
    } finally {
      await broker.close();
    }
  });

  test('bad PEM throws ERR_TABMQ_OPTION naming the option, and changes nothing', async () => {
    const broker = await secureBroker();
    try {
      const bad = [
        [{ cert: 'not a certificate', key: certs.pem('server.key') }, 'cert'],
        [{ cert: certs.pem('server.crt'), key: 'not a key' }, 'key'],
        [{ cert: certs.pem('server.crt'), key: certs.pem('server2.key') }, 'key', /not the private key/],
        [{ ...serverCert(), ca: 'nope' }, 'ca'],
        [{ key: certs.pem('server.key') }, 'cert', /required/],
        [null, 'setCertificates'],
      ];
      for (const [given, name, why] of bad) {
        assert.throws(() => broker.setCertificates(given), (err) => {
          assert.ok(err instanceof TabmqError);
          assert.equal(err.code, 'ERR_TABMQ_OPTION');
          assert.ok(err.message.includes(`\`${name}\``), err.message);
          if (why) assert.match(err.message, why);
          return true;
        });
      }
      for (const url of urls(broker)) await endAll(await accepted(url, trust('ca'), `${url} with the first certificate`));
    } finally {
      await broker.close();
    }
  });
});

describe('TLS listener options', () => {
  const good = () => serverCert();
  const bad = () => [
    [{ tls: { port: 0 } }, 'tls.cert', /required/],
    [{ tls: 8883 }, 'tls.cert', /required/],
    [{ tls: { port: 0, cert: certs.pem('server.crt') } }, 'tls.key', /required/],
    [{ tls: { ...good(), port: 0, cert: 'garbage' } }, 'tls.cert', /PEM/],
    [{ tls: { ...good(), port: 0, cert: 42 } }, 'tls.cert', /PEM/],
    [{ tls: { ...good(), port: 0, key: 'garbage' } }, 'tls.key'],
    [{ tls: { ...good(), port: 0, key: certs.pem('alice.key') } }, 'tls.key', /not the private key/],
    [{ tls: [{ ...good(), port: 0 }, { ...good(), port: 0, ca: 'nope' }] }, 'tls[1].ca'],
    [{ wss: { ...good(), port: 0, ca: [certs.pem('ca.crt'), 'nope'] } }, 'wss.ca[1]'],
    [{ tls: { ...good(), port: 0, requireCertificate: true } }, 'tls.ca', /requireCertificate/],
    [{ wss: { ...good(), port: 0, useIdentityAsUsername: true } }, 'wss.ca', /useIdentityAsUsername/],
    [{ tls: { ...good(), port: 0, requireCertificate: 'yes' } }, 'tls.requireCertificate'],
    [{ tls: { ...good(), port: 0, path: '/mqtt' } }, 'tls.path'],
    [{ wss: { ...good(), port: 0, path: 'mqtt' } }, 'wss.path'],
    [{ wss: { ...good(), port: 70000 } }, 'wss.port'],
    [{ tls: { ...good(), port: 0, passphrase: 'x' } }, 'tls.passphrase'],
  ];
  test('bad values are refused with ERR_TABMQ_OPTION naming the option', async () => {
    for (const [options, name, why] of bad()) {
      await assert.rejects(createBroker(options), (err) => {
        assert.ok(err instanceof TabmqError, `${name}: ${err}`);
        assert.equal(err.code, 'ERR_TABMQ_OPTION');
        assert.ok(err.message.includes(`\`${name}\``), `${name}: ${err.message}`);
        if (why) assert.match(err.message, why);
        return true;
      });
    }
  });

  test('cert, key and ca may be Buffers, ca an array', async () => {
    const broker = await createBroker({
      tls: {
        port: 0,
        cert: Buffer.from(certs.pem('server.crt')),
        key: Buffer.from(certs.pem('server.key')),
        ca: [Buffer.from(certs.pem('other.crt')), certs.pem('ca.crt')],
        requireCertificate: true,
      },
      sysInterval: 0,
    });
    try {
      await endAll(await accepted(urls(broker)[0], trust('ca', 'alice'), 'alice'));
      await endAll(await accepted(urls(broker)[0], trust('ca', 'mallory'), 'mallory'));
    } finally {
      await broker.close();
    }
  });
});

describe('handshakes', () => {
  test('a socket that never starts its TLS handshake is closed after limits.connectTimeout', async () => {
    const broker = await secureBroker({}, { limits: { connectTimeout: 500 } });
    try {
      for (const port of [broker.ports.tls, broker.ports.wss]) {
        const s = net.connect(port, '127.0.0.1');
        s.on('error', () => {});
        await within(3000, 'the TCP connection', once(s, 'connect'));
        await within(5000, 'the broker to close a silent TLS socket', once(s, 'close'));
      }
    } finally {
      await broker.close();
    }
  });

  test('close() is not held up by a TLS handshake on its way', async () => {
    const broker = await secureBroker();
    const silent = [];
    for (const port of [broker.ports.tls, broker.ports.wss]) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      await within(3000, 'the TCP connection', once(s, 'connect'));
      silent.push(s);
    }
    await until('the sockets to be accepted', () => broker.stats().sockets === 2);
    const client = await connect(urls(broker)[0], trust('ca'));
    const started = Date.now();
    await within(4000, 'broker.close()', broker.close());
    assert.ok(Date.now() - started < 3000, `close() took ${Date.now() - started} ms`);
    await within(2000, 'the silent sockets to be closed', Promise.all(silent.map((s) => (s.destroyed ? null : once(s, 'close')))));
    await endAll(client);
  });
});
