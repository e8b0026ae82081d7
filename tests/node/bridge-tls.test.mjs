// A Node broker bridged to Debian's Mosquitto over TLS (mqtts://), with
// certificates made by openssl for the test: the bridge's `tls` options
// reach Node's tls.connect, a remote whose certificate is not trusted is
// never connected to, and a `tls` option on a plain URL is refused.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createBroker, endAll, until, within } from './helpers.mjs';
import { freePort, startMosquitto } from './mosquitto.mjs';

let dir;
let mosq;
let tlsPort;

/** A CA, and a server certificate it signed for localhost and 127.0.0.1. */
function makeCertificates(into) {
  const ssl = (...args) => execFileSync('openssl', args, { cwd: into, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=tabmq test CA');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(join(into, 'san.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.cnf');
  // A second CA that signed nothing here: trusting only it must fail.
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.crt', '-days', '2', '-subj', '/CN=someone else');
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tabmq-tls-'));
  makeCertificates(dir);
  tlsPort = await freePort();
  mosq = await startMosquitto({
    extraConfig: [
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${join(dir, 'ca.crt')}`,
      `certfile ${join(dir, 'server.crt')}`,
      `keyfile ${join(dir, 'server.key')}`,
    ].join('\n'),
  });
});

after(async () => {
  await mosq?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function bridge(url, tls) {
  return {
    name: 'secure',
    url,
    tls,
    reconnect: { minDelay: 200, maxDelay: 1000 },
    out: [{ filter: 'dev/#', qos: 1, remotePrefix: 'tls/' }],
  };
}

test('mqtts:// with the CA in `tls.ca`: messages cross over TLS', { timeout: 20_000 }, async () => {
  const ca = readFileSync(join(dir, 'ca.crt'));
  const broker = await createBroker({ tcp: { port: 0 }, bridges: [bridge(`mqtts://localhost:${tlsPort}`, { ca })] });
  const clients = [];
  try {
    await until('the TLS bridge to connect', () => broker.stats().bridges[0].state === 'connected', 10_000);
    const sub = await connect(mosq.tcpUrl, { clientId: 'tls-sub' });
    const pub = await connect(`mqtt://127.0.0.1:${broker.ports.tcp}`, { clientId: 'tls-pub' });
    clients.push(sub, pub);
    await sub.subscribeAsync('tls/#', { qos: 1 });
    const got = new Promise((resolve) => sub.once('message', (topic, payload) => resolve(`${topic} ${payload}`)));
    await pub.publishAsync('dev/1', 'secret', { qos: 1 });
    assert.equal(await within(5000, 'the message over TLS', got), 'tls/dev/1 secret');
    assert.ok(broker.stats().bridges[0].bytesOut > 0);
  } finally {
    await endAll(clients);
    await broker.close();
  }
});

test('a remote whose certificate the bridge does not trust is never connected to', { timeout: 20_000 }, async () => {
  const other = readFileSync(join(dir, 'other.crt'));
  const broker = await createBroker({ tcp: { port: 0 }, bridges: [bridge(`mqtts://localhost:${tlsPort}`, { ca: other })] });
  try {
    await until('two failed attempts', () => broker.stats().bridges[0].attempts >= 2, 10_000);
    const b = broker.stats().bridges[0];
    assert.notEqual(b.state, 'connected');
    assert.equal(b.messagesIn + b.messagesOut, 0);
  } finally {
    await broker.close();
  }
});

test('`tls` on a plain mqtt:// URL is refused, naming the option', async () => {
  await assert.rejects(
    createBroker({ tcp: { port: 0 }, bridges: [bridge(`mqtt://localhost:${tlsPort}`, { ca: 'x' })] }),
    (err) => err.code === 'ERR_TABMQ_OPTION' && err.message.includes('bridges[0].tls'),
  );
});
