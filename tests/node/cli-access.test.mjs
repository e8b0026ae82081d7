// The tabmq command's access control, TLS and per-address flags:
// --password-file (a file mosquitto_passwd made), --acl-file,
// --allow-anonymous, --strict-client-ids, SIGHUP reloading the files;
// --tls/--wss with --cert/--key/--cafile, --require-certificate,
// --use-identity-as-username; --max-connections-per-address, --connect-rate.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attempt as attemptAt, endAll, within } from './helpers.mjs';
import { runCli, startCli } from './cli-helpers.mjs';
import { makeCertificates } from './certs.mjs';

let dir;
let n = 0;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tabmq-cli-access-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A new file in the temp dir holding `text`. */
function file(text, name = `file-${++n}`) {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** A password file made by Mosquitto's own mosquitto_passwd -b. */
function mosquittoPasswd(users) {
  const path = join(dir, `passwd-${++n}`);
  users.forEach(([user, password], i) => addUser(path, user, password, i === 0));
  return path;
}

function addUser(path, user, password, create = false) {
  const r = spawnSync('mosquitto_passwd', [...(create ? ['-c'] : []), '-b', path, user, password], { encoding: 'utf8' });
  assert.equal(r.status, 0, `mosquitto_passwd (Debian package mosquitto; bash scripts/ensure-interop.sh): ${r.error?.message ?? r.stderr}`);
}

/** `attempt` in MQTT 5 unless `opts` says otherwise. */
const attempt = (url, opts = {}) => attemptAt(url, { protocolVersion: 5, ...opts });

/** Connects or throws. */
async function connected(url, opts) {
  const r = await attempt(url, opts);
  if (r.error) throw r.error;
  return r.client;
}

/** The CONNACK reason a refused connection got (undefined when closed without one). */
async function refusal(url, opts) {
  const r = await attempt(url, opts);
  if (r.client) {
    r.client.end(true);
    assert.fail(`${opts?.username ?? 'anonymous'} was accepted at ${url}`);
  }
  return r.error.code;
}

/** The granted QoS or reason code of one subscription (MQTT.js rejects
 *  with the code when it is a failure). */
async function subscribe(client, filter) {
  try {
    const [granted] = await within(5000, `SUBACK for ${filter}`, client.subscribeAsync(filter, { qos: 1 }));
    return granted.qos;
  } catch (err) {
    const [code] = err.packet?.granted ?? [];
    if (code === undefined) throw err;
    return code;
  }
}

describe('--password-file, --acl-file, --allow-anonymous, --strict-client-ids', () => {
  test('a password file mosquitto_passwd made: the right password connects, a wrong one gets 0x86', { timeout: 20_000 }, async () => {
    const passwords = mosquittoPasswd([['alice', 'al1ce'], ['bob', 'b0b']]);
    const cli = await startCli(['--tcp', '0', '--ws', '0', '--password-file', passwords]);
    const clients = [];
    try {
      clients.push(await connected(cli.urls.tcp, { username: 'alice', password: 'al1ce' }));
      clients.push(await connected(cli.urls.ws, { username: 'bob', password: 'b0b' }));
      clients.push(await connected(cli.urls.tcp, { username: 'bob', password: 'b0b', protocolVersion: 4 }));
      const wrong = await attempt(cli.urls.tcp, { username: 'alice', password: 'wrong' });
      assert.equal(wrong.error?.code, 0x86);
      assert.match(wrong.error.message, /Bad User Name or Password/);
      assert.equal(await refusal(cli.urls.tcp, { username: 'carol', password: 'al1ce' }), 0x86);
      assert.equal(await refusal(cli.urls.tcp, { username: 'alice', password: 'wrong', protocolVersion: 4 }), 4);
      // No username: refused (a password file turns anonymous access off).
      assert.equal(await refusal(cli.urls.tcp, {}), 0x87);
      await cli.waitFor(/ info rejected a CONNECT from tcp 127\.0\.0\.1:\d+ \(reason 0x86\)$/);
    } finally {
      await endAll(clients);
      await cli.stop();
    }
  });

  test('--allow-anonymous: clients without a username are served next to the password file', { timeout: 20_000 }, async () => {
    const cli = await startCli(['--tcp', '0', '--password-file', mosquittoPasswd([['alice', 'al1ce']]), '--allow-anonymous']);
    const clients = [];
    try {
      clients.push(await connected(cli.urls.tcp, {}));
      clients.push(await connected(cli.urls.tcp, { username: 'alice', password: 'al1ce' }));
      assert.equal(await refusal(cli.urls.tcp, { username: 'alice', password: 'wrong' }), 0x86);
    } finally {
      await endAll(clients);
      await cli.stop();
    }
  });

  test('--acl-file: each user reads and writes where the file says', { timeout: 20_000 }, async () => {
    const passwords = mosquittoPasswd([['alice', 'al1ce'], ['bob', 'b0b']]);
    const acl = file('# who may do what\ntopic read public/#\n\nuser alice\ntopic readwrite alice/#\ntopic write public/#\n\nuser bob\ntopic read public/#\n');
    const cli = await startCli(['--tcp', '0', '--password-file', passwords, '--acl-file', acl, '--allow-anonymous']);
    const clients = [];
    try {
      const alice = await connected(cli.urls.tcp, { username: 'alice', password: 'al1ce', clientId: 'alice' });
      const bob = await connected(cli.urls.tcp, { username: 'bob', password: 'b0b', clientId: 'bob' });
      const anon = await connected(cli.urls.tcp, { clientId: 'anon' });
      clients.push(alice, bob, anon);
      assert.equal(await subscribe(alice, 'alice/#'), 1);
      assert.equal(await subscribe(alice, 'bob/#'), 0x87);
      assert.equal(await subscribe(bob, 'public/#'), 1);
      assert.equal(await subscribe(bob, 'alice/#'), 0x87);
      assert.equal(await subscribe(anon, 'public/#'), 1);
      const toBob = within(5000, 'bob to get alice\'s message', once(bob, 'message'));
      const toAnon = within(5000, 'the anonymous client to get alice\'s message', once(anon, 'message'));
      await alice.publishAsync('public/news', 'from alice', { qos: 1 });
      assert.equal(String((await toBob)[1]), 'from alice');
      assert.equal(String((await toAnon)[1]), 'from alice');
      // Bob may only read public/#: his publish is refused (PUBACK 0x87).
      await assert.rejects(bob.publishAsync('public/news', 'from bob', { qos: 1 }), (err) => err.code === 0x87);
    } finally {
      await endAll(clients);
      await cli.stop();
    }
  });

  test('--strict-client-ids: a client id of other than letters and digits gets 0x85', { timeout: 20_000 }, async () => {
    const strict = await startCli(['--tcp', '0', '--strict-client-ids']);
    const loose = await startCli(['--tcp', '0']);
    const clients = [];
    try {
      clients.push(await connected(strict.urls.tcp, { clientId: 'sensor42' }));
      assert.equal(await refusal(strict.urls.tcp, { clientId: 'sensor-42/a' }), 0x85);
      assert.equal(await refusal(strict.urls.tcp, { clientId: 'sensor-42/a', protocolVersion: 4 }), 2);
      clients.push(await connected(loose.urls.tcp, { clientId: 'sensor-42/a' }));
    } finally {
      await endAll(clients);
      await strict.stop();
      await loose.stop();
    }
  });

  test('a file that cannot be read: status 2; one the broker rejects: status 1 naming the option and line', async () => {
    const missing = await runCli(['--password-file', join(dir, 'nope')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^tabmq: --password-file: cannot read .*nope \(ENOENT\) \(see tabmq --help\)\n$/);
    const noAcl = await runCli(['--acl-file', join(dir, 'nope')]);
    assert.equal(noAcl.code, 2);
    assert.match(noAcl.stderr, /^tabmq: --acl-file: cannot read /);
    const plain = await runCli(['--tcp', '0', '--password-file', file('alice:plain-text\n')]);
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /^tabmq: option `passwordFile` does not read: line 1 .*tabmq passwd/);
    assert.equal(plain.stderr.split('\n').length, 2, plain.stderr);
    const badAcl = await runCli(['--tcp', '0', '--acl-file', file('user alice\nfrobnicate x/#\n')]);
    assert.equal(badAcl.code, 1);
    assert.match(badAcl.stderr, /^tabmq: option `acl` does not read: line 2/);
  });

  test('--allow-anonymous and --strict-client-ids take no value', async () => {
    const r = await runCli(['--allow-anonymous=false']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'tabmq: option --allow-anonymous takes no value (see tabmq --help)\n');
  });
});

describe('SIGHUP', () => {
  test('reads the password and ACL files again; a file that is gone or bad keeps the previous ones', { timeout: 30_000 }, async () => {
    const passwords = mosquittoPasswd([['alice', 'al1ce']]);
    const acl = file('user alice\ntopic readwrite alice/#\n');
    const cli = await startCli(['--tcp', '0', '--password-file', passwords, '--acl-file', acl]);
    const clients = [];
    /** SIGHUP, then waits for a line on stdout (info) or stderr (error) matching `re`. */
    const hup = async (re) => {
      cli.child.kill('SIGHUP');
      const deadline = Date.now() + 5000;
      while (![...cli.lines, ...cli.stderr().split('\n')].some((l) => re.test(l))) {
        assert.ok(Date.now() < deadline, `a line matching ${re} (stderr: ${cli.stderr()})`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      assert.equal(await refusal(cli.urls.tcp, { username: 'bob', password: 'b0b' }), 0x86);
      addUser(passwords, 'bob', 'b0b');
      writeFileSync(acl, 'user alice\ntopic readwrite alice/#\ntopic read shared/#\nuser bob\ntopic read shared/#\n');
      await hup(new RegExp(` info reloaded password file ${passwords} and ACL file ${acl}$`));
      const bob = await connected(cli.urls.tcp, { username: 'bob', password: 'b0b' });
      clients.push(bob);
      assert.equal(await subscribe(bob, 'shared/#'), 1);
      // Clients already connected follow the new ACL at once.
      const alice = await connected(cli.urls.tcp, { username: 'alice', password: 'al1ce' });
      clients.push(alice);
      assert.equal(await subscribe(alice, 'shared/#'), 1);

      // The password file is gone: nothing changes, an error line says so.
      rmSync(passwords);
      await hup(/ error cannot reload the password file .* and ACL file .*: cannot read .* \(ENOENT\); the previous ones stay in effect$/);
      clients.push(await connected(cli.urls.tcp, { username: 'bob', password: 'b0b' }));

      // An ACL the core rejects: the same (and the password file given back is not applied either).
      addUser(passwords, 'carol', 'c4rol', true);
      writeFileSync(acl, 'user alice\nfrobnicate x\n');
      await hup(/ error cannot reload the password file .* and ACL file .*: option `acl` does not read: line 2.*; the previous ones stay in effect$/);
      clients.push(await connected(cli.urls.tcp, { username: 'bob', password: 'b0b' }));
      assert.equal(await refusal(cli.urls.tcp, { username: 'carol', password: 'c4rol' }), 0x86);
      assert.equal(await subscribe(alice, 'shared/#'), 1);
      assert.equal(cli.child.exitCode, null, 'still running');
    } finally {
      await endAll(clients);
      const exit = await cli.stop();
      assert.deepEqual(exit, { code: 0, signal: null });
    }
  });

  test('without files to read: says so and keeps serving', { timeout: 20_000 }, async () => {
    const cli = await startCli(['--tcp', '0']);
    try {
      cli.child.kill('SIGHUP');
      await cli.waitFor(/ info SIGHUP: nothing to reload/);
      const c = await connected(cli.urls.tcp, {});
      await endAll(c);
    } finally {
      assert.deepEqual(await cli.stop(), { code: 0, signal: null });
    }
  });
});

describe('TLS: --tls, --wss, --cert, --key, --cafile', () => {
  let certs;
  before(() => {
    certs = makeCertificates();
  });
  after(() => certs?.remove());
  const client = (as) => (as ? { cert: certs.pem(`${as}.crt`), key: certs.pem(`${as}.key`) } : {});
  const trustCa = (as) => ({ ca: certs.pem('ca.crt'), ...client(as) });

  /** The issuer CN of the certificate a TLS connection to `port` is shown. */
  async function issuerOf(port) {
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...client('alice') });
    try {
      await within(5000, 'a TLS handshake', once(socket, 'secureConnect'));
      return socket.getPeerCertificate().issuer.CN;
    } finally {
      socket.destroy();
    }
  }

  test('--tls and --wss serve MQTT over TLS with the certificate of --cert and --key', { timeout: 20_000 }, async () => {
    const cli = await startCli(['--tls', '0', '--wss', '0', '--ws-path', '/secure', '--cert', certs.path('server.crt'), '--key', certs.path('server.key')]);
    const clients = [];
    try {
      assert.match(cli.urls.tls, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
      assert.match(cli.urls.wss, /^wss:\/\/127\.0\.0\.1:\d+\/secure$/);
      assert.equal(cli.urls.tcp, undefined, 'no default TCP listener next to --tls');
      clients.push(await connected(cli.urls.tls, trustCa()));
      clients.push(await connected(cli.urls.wss, { ...trustCa(), protocolVersion: 4 }));
      await cli.waitFor(/ info connected .* \(MQTT 5\.0\) from tls 127\.0\.0\.1:\d+$/);
      // A client that trusts another CA does not connect.
      const r = await attempt(cli.urls.tls, { ca: certs.pem('other.crt') });
      assert.ok(r.error, 'refused');
    } finally {
      await endAll(clients);
      await cli.stop();
    }
  });

  test('--require-certificate and --use-identity-as-username: the certificate\'s CN is the user, for the ACL', { timeout: 20_000 }, async () => {
    const acl = file('user alice\ntopic readwrite alice/#\n');
    const cli = await startCli(['--tls', '0', '--cert', certs.path('server.crt'), '--key', certs.path('server.key'),
      '--cafile', certs.path('ca.crt'), '--use-identity-as-username', '--acl-file', acl,
      '--password-file', mosquittoPasswd([['bob', 'b0b']])]);
    const clients = [];
    try {
      // No password needed: the certificate vouches for alice.
      const alice = await connected(cli.urls.tls, trustCa('alice'));
      clients.push(alice);
      assert.equal(await subscribe(alice, 'alice/#'), 1);
      assert.equal(await subscribe(alice, 'bob/#'), 0x87);
      // No client certificate, or one from another CA: no connection.
      assert.ok((await attempt(cli.urls.tls, trustCa())).error, 'no client certificate');
      assert.ok((await attempt(cli.urls.tls, { ...trustCa(), cert: certs.pem('mallory.crt'), key: certs.pem('mallory.key') })).error);
    } finally {
      await endAll(clients);
      await cli.stop();
    }
  });

  test('SIGHUP reads the certificate files again; new connections get the new certificate', { timeout: 20_000 }, async () => {
    const cert = join(dir, 'live.crt');
    const key = join(dir, 'live.key');
    copyFileSync(certs.path('server.crt'), cert);
    copyFileSync(certs.path('server.key'), key);
    const cli = await startCli(['--tls', '0', '--cert', cert, '--key', key]);
    try {
      const port = Number(new URL(cli.urls.tls).port);
      assert.equal(await issuerOf(port), 'tabmq test CA');
      copyFileSync(certs.path('server2.crt'), cert);
      copyFileSync(certs.path('server2.key'), key);
      cli.child.kill('SIGHUP');
      await cli.waitFor(new RegExp(` info reloaded certificates \\(${cert}, ${key}\\)$`));
      assert.equal(await issuerOf(port), 'someone else');

      // A key that is not the certificate's: refused, the previous pair stays.
      copyFileSync(certs.path('server.key'), key);
      cli.child.kill('SIGHUP');
      const deadline = Date.now() + 5000;
      while (!/ error cannot reload the certificates .*; the previous ones stay in effect\n/.test(cli.stderr())) {
        assert.ok(Date.now() < deadline, `an error line (stderr: ${cli.stderr()})`);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(await issuerOf(port), 'someone else');
    } finally {
      await cli.stop();
    }
  });

  const usage = [
    [['--tls', '0'], /^tabmq: --tls needs --cert FILE and --key FILE /],
    [['--wss', '0', '--cert', 'x.crt'], /^tabmq: --wss needs --key FILE /],
    [['--tls', '0', '--key', 'x.key'], /^tabmq: --tls needs --cert FILE /],
    [['--cert', 'x.crt', '--key', 'x.key'], /^tabmq: --cert is for --tls and --wss listeners, and there is none/],
    [['--tcp', '0', '--require-certificate'], /^tabmq: --require-certificate is for --tls and --wss listeners/],
    [['--tls', '0', '--cert', 'C', '--key', 'K', '--require-certificate'], /^tabmq: --require-certificate needs --cafile FILE/],
    [['--tls', '0', '--cert', 'C', '--key', 'K', '--use-identity-as-username'], /^tabmq: --use-identity-as-username needs --cafile FILE/],
    [['--tls', '0', '--cert', '/nonexistent/x.crt', '--key', 'K'], /^tabmq: --cert: cannot read \/nonexistent\/x\.crt \(ENOENT\)/],
    [['--tls', '99999'], /^tabmq: --tls must be a port number/],
  ];
  for (const [args, message] of usage) {
    test(`${args.join(' ')}: one line, status 2`, async () => {
      const real = args.map((a) => (a === 'C' ? certs.path('server.crt') : a === 'K' ? certs.path('server.key') : a));
      const r = await runCli(real);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    });
  }
});

describe('per-address limits', () => {
  test('--max-connections-per-address 2: a third connection from 127.0.0.1 is refused until one leaves', { timeout: 20_000 }, async () => {
    const cli = await startCli(['--tcp', '0', '--max-connections-per-address', '2']);
    const clients = [];
    try {
      clients.push(await connected(cli.urls.tcp, { clientId: 'pa1' }));
      clients.push(await connected(cli.urls.tcp, { clientId: 'pa2' }));
      assert.ok((await attempt(cli.urls.tcp, { clientId: 'pa3' })).error, 'a third is refused');
      await clients.shift().endAsync();
      // Its socket's close reaches the broker soon after.
      const deadline = Date.now() + 5000;
      for (;;) {
        const r = await attempt(cli.urls.tcp, { clientId: 'pa4' });
        if (r.client) {
          clients.push(r.client);
          break;
        }
        assert.ok(Date.now() < deadline, 'a connection is accepted again once one left');
        await new Promise((res) => setTimeout(res, 50));
      }
    } finally {
      await endAll(clients);
      await cli.stop();
    }
  });

  test('--connect-rate 2: a burst of new connections from one address is cut at 2', { timeout: 20_000 }, async () => {
    const cli = await startCli(['--tcp', '0', '--connect-rate', '2']);
    const results = [];
    try {
      for (let i = 0; i < 5; i++) results.push(await attempt(cli.urls.tcp, { clientId: `rate${i}` }));
      const accepted = results.filter((r) => r.client).length;
      assert.ok(accepted >= 2 && accepted <= 3, `${accepted} of 5 accepted`);
    } finally {
      await endAll(results.map((r) => r.client));
      await cli.stop();
    }
  });

  for (const flag of ['--max-connections-per-address', '--connect-rate']) {
    test(`${flag} 0: status 2`, async () => {
      const r = await runCli([flag, '0']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, new RegExp(`^tabmq: ${flag} must be a whole number from 1 to \\d+, got '0'`));
    });
  }
});
