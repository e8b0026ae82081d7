// Security, end to end: an attacker's tour of tabmq's access control with
// real clients against a real broker (createBroker on free ports, and the
// CLI where a flag is the point): MQTT.js in MQTT 5.0, 3.1.1 and 3.1,
// Debian's mosquitto_pub/mosquitto_sub/mosquitto_passwd, Python paho-mqtt,
// raw bytes where no client will send what an attacker sends.
//
// Each attempt asserts what is refused (the exact reason code) and that
// nothing leaks: a client that may read everything (root) or the
// attacker's own subscription receives nothing it should not. To know that
// delivery has happened, each check waits for a control message published
// after the forbidden one (routing is in order per connection, and a QoS 1
// publish is routed before its PUBACK), never for a fixed time.
//
// The core's simulator tests (tests/broker_access.rs) cover the same rules
// packet by packet; the CLI's flags are in cli-access.test.mjs; per-address
// connection limits and the connect rate (maxConnectionsPerAddress,
// connectRate) in admission.test.mjs and cli-access.test.mjs, so they are
// not repeated here.
//
// Documented, as in Mosquitto: a client id is not a credential. `%c`
// patterns grant by client id, so any user connecting with a device's id
// gets that device's `%c` topics (give devices a username of their own and
// use `%u` where that matters), and it takes over (ends) the connection
// and session of whoever held the id. What it never gets is another
// user's session: its subscriptions, its queued messages, or its `%u`
// topics.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  attempt as attemptAt, connect, createBroker, endAll, packet, rawClient, rawConnect, until, within,
} from './helpers.mjs';
import { makeCertificates } from './certs.mjs';
import { startCli } from './cli-helpers.mjs';

const PAHO_SUBSCRIBE_FAILURE = fileURLToPath(new URL('./interop/paho_subscribe_failure.py', import.meta.url));
const INSTALL = 'run `bash scripts/ensure-interop.sh` to install it';

// ---- the users, their passwords and the ACL --------------------------------

/** Passwords as typed; the password file is made by mosquitto_passwd -b. */
const PASSWORDS = {
  alice: 'sé:cret 1', // a colon, a space and non-ASCII: all part of the password
  bob: 'b0b',
  mallory: 'm4llory',
  root: 'r00t',
  'zoë': 'zoë pw',
};
/** A username that is a wildcard (it must never widen a `%u` pattern). Given as `users`: in a password file,
 *  tabmq, like Mosquitto, reads a line starting with `#` as a comment. */
const HASH_USER = { username: '#', password: 'hash' };

const ACL = `# clients without a username (only where allowAnonymous is on)
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret
topic read shared/#

user bob
topic readwrite bob/#
topic write alice/inbox
topic write shared/#

user mallory
topic readwrite mallory/#

user zoë
topic readwrite zoë/#

user root
topic readwrite #
topic readwrite $SYS/#

# every client: its device's topics by client id, its inbox by username
pattern readwrite devices/%c/#
pattern read users/%u/#
`;

let dir;
let passwordFile; // the text of the file mosquitto_passwd wrote
let passwordPath;

before(() => {
  for (const tool of ['mosquitto_passwd', 'mosquitto_pub', 'mosquitto_sub']) {
    assert.equal(spawnSync(tool, ['--help']).error, undefined, `${tool} (Debian mosquitto, mosquitto-clients): ${INSTALL}`);
  }
  dir = mkdtempSync(join(tmpdir(), 'tabmq-security-'));
  passwordPath = join(dir, 'passwd');
  Object.entries(PASSWORDS).forEach(([user, password], i) => {
    const r = spawnSync('mosquitto_passwd', [...(i === 0 ? ['-c'] : []), '-b', passwordPath, user, password], { encoding: 'utf8' });
    assert.equal(r.status, 0, `mosquitto_passwd -b ${user}: ${r.error?.message ?? r.stderr}`);
  });
  passwordFile = readFileSync(passwordPath, 'utf8');
  assert.match(passwordFile, /^zoë:\$7\$101\$/m, 'mosquitto_passwd wrote $7$ lines');
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---- helpers ---------------------------------------------------------------

/** `attempt` in MQTT 5 unless `opts` says otherwise. */
const attempt = (url, opts = {}) => attemptAt(url, { protocolVersion: 5, ...opts });

/** The CONNACK code of a connection that must be refused. */
async function refusal(url, opts, what) {
  const r = await attempt(url, opts);
  if (r.client) {
    await endAll(r.client);
    assert.fail(`${what}: accepted, and must not be`);
  }
  return r.error.code;
}

/** Connects as `user` with the right password, or fails. */
async function login(url, user, opts = {}) {
  const r = await attempt(url, { username: user, password: PASSWORDS[user], ...opts });
  if (r.error) throw new Error(`${user} could not connect: ${r.error.message}`);
  r.client.connack = r.connack;
  return r.client;
}

/** The SUBACK codes (granted QoS or failure) for `filters`. */
async function suback(client, filters, qos = 1) {
  try {
    const granted = await within(5000, `a SUBACK for ${filters}`, client.subscribeAsync(filters, { qos }));
    return granted.map((g) => g.qos);
  } catch (err) {
    if (!err.packet?.granted) throw err;
    return err.packet.granted;
  }
}

/** 0 if a QoS 1/2 publish is acknowledged as a success, else the refusal's reason code. */
async function puback(client, topic, payload, opts) {
  try {
    await within(5000, `the acknowledgement of a publish to ${topic}`, client.publishAsync(topic, payload, opts));
    return 0;
  } catch (err) {
    if (typeof err.code !== 'number') throw err;
    return err.code;
  }
}

/**
 * Records every message `client` gets from now on. `control(publisher,
 * topic)` publishes a fresh control message at QoS 1 and resolves, once it
 * has arrived, to everything received before it (as `topic payload`
 * strings, the control left out): whatever was published before the
 * control has been delivered by then.
 */
let controls = 0;
function record(client) {
  const got = [];
  const waiters = new Set();
  const onMessage = (topic, payload, p) => {
    got.push({ topic, payload: String(payload), retain: p.retain, qos: p.qos });
    for (const w of [...waiters]) w();
  };
  client.on('message', onMessage);
  const waitFor = (match, what, ms = 5000) => within(ms, what, new Promise((resolve) => {
    const check = () => {
      const m = got.find(match);
      if (!m) return;
      waiters.delete(check);
      resolve(m);
    };
    waiters.add(check);
    check();
  })).catch((err) => {
    throw new Error(`${err.message}; received: ${JSON.stringify(got.map((m) => `${m.topic} ${m.payload}`))}`);
  });
  return {
    got,
    waitFor,
    /** The messages so far, as `topic payload`, control messages left out. */
    seen: () => got.filter((m) => !m.payload.startsWith('control ')).map((m) => `${m.topic} ${m.payload}`),
    async control(publisher, topic) {
      const payload = `control ${++controls}`;
      const arrived = waitFor((m) => m.topic === topic && m.payload === payload, `the control message on ${topic}`);
      assert.equal(await puback(publisher, topic, payload, { qos: 1 }), 0, `the control publish to ${topic}`);
      await arrived;
      return this.seen();
    },
    stop: () => client.off('message', onMessage),
  };
}

/** Runs a command to completion without blocking the event loop (the broker runs in this process). */
function run(cmd, args, ms = 15_000) {
  return within(ms, `${cmd} ${args.join(' ')}`, new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  }));
}

/** An MQTT 5 CONNECT with a password and no username (clean start, no keep alive, no properties). */
function passwordOnlyConnect(clientId, password) {
  const str = (b) => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  const body = Buffer.concat([str(Buffer.from('MQTT')), Buffer.from([5, 0x42, 0, 0, 0]), str(Buffer.from(clientId)), str(Buffer.from(password))]);
  assert.ok(body.length < 128);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

/** The retained messages of `broker`, as `topic payload`. */
const retainedText = (broker) => broker.inspect().retained.map((m) => `${m.topic} ${Buffer.from(m.payload).toString()}`);

/** The broker's view of one client id, or undefined. */
const session = (broker, clientId) => broker.inspect().clients.find((c) => c.clientId === clientId);

// ---- authentication ---------------------------------------------------------

describe('passwords: a file made by mosquitto_passwd -b', () => {
  let broker;
  let url;
  before(async () => {
    broker = await createBroker({ tcp: 0, ws: 0, sysInterval: 0, passwordFile, acl: ACL });
    url = broker.addresses[0].url;
  });
  after(() => broker?.close());

  test('the right passwords connect: MQTT 5.0, 3.1.1, 3.1, over WebSocket, a unicode username, mosquitto_pub', async () => {
    const clients = [];
    try {
      clients.push(await login(url, 'alice'));
      clients.push(await login(url, 'alice', { protocolVersion: 4 }));
      clients.push(await login(url, 'alice', { protocolVersion: 3, protocolId: 'MQIsdp' }));
      clients.push(await login(broker.addresses[1].url, 'bob', { protocolVersion: 4 }));
      const zoe = await login(url, 'zoë');
      clients.push(zoe);
      // zoë's ACL section is found by her (unicode) name.
      assert.deepEqual(await suback(zoe, ['zoë/#', 'alice/#']), [1, 0x87]);
      const rec = record(zoe);
      const pub = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.ports.tcp), '-V', 'mqttv5',
        '-u', 'zoë', '-P', PASSWORDS['zoë'], '-t', 'zoë/from-mosquitto', '-m', 'hello', '-q', '1']);
      assert.equal(pub.code, 0, pub.stderr);
      assert.deepEqual(await rec.control(zoe, 'zoë/control'), ['zoë/from-mosquitto hello']);
    } finally {
      await endAll(clients);
    }
  });

  test('wrong, empty, missing, borrowed and look-alike credentials: 0x86 (3.1.1 and 3.1: return code 4), and no session', async () => {
    const hash = passwordFile.split('\n').find((l) => l.startsWith('alice:')).slice('alice:'.length);
    const attempts = [
      ['a wrong password', 'alice', 'secret'],
      ['an empty password', 'alice', ''],
      ['no password', 'alice', undefined],
      ['bob\'s password', 'alice', PASSWORDS.bob],
      ['the password cut at its colon', 'alice', 'sé'],
      ['the password less its last character', 'alice', 'sé:cret '],
      // (Not "the password and a NUL byte": PBKDF2's HMAC pads its key with zeros, so trailing NULs are the same
      // password, for Mosquitto too.)
      ['a NUL inside the password', 'alice', Buffer.from(PASSWORDS.alice.replace(':', '\0:'))],
      ['the password in Latin-1, not UTF-8', 'alice', Buffer.from(PASSWORDS.alice, 'latin1')],
      ['the hash from the file (pass the hash)', 'alice', hash],
      ['`alice:` for alice', 'alice:', PASSWORDS.alice],
      ['the username and password joined at the colon', 'alice:sé', 'cret 1'],
      ['`Alice` for alice', 'Alice', PASSWORDS.alice],
      ['` alice` for alice', ' alice', PASSWORDS.alice],
      ['zoë written decomposed (e + U+0308)', 'zoe\u0308', PASSWORDS['zoë']],
      ['a user not in the file', 'eve', 'eve'],
      ['an empty username', '', ''],
    ];
    const rejected = [];
    broker.on('rejected', (e) => rejected.push(e.reasonCode));
    for (const [i, [what, username, password]] of attempts.entries()) {
      for (const [version, extra, code] of [[5, {}, 0x86], [4, {}, 4], [3, { protocolId: 'MQIsdp' }, 4]]) {
        const clientId = `guess-${version}-${i}`;
        const opts = { clientId, username, password, protocolVersion: version, clean: false, ...extra };
        assert.equal(await refusal(url, opts, `${what} (MQTT ${version})`), code, `${what} (MQTT ${version})`);
        assert.equal(session(broker, clientId), undefined, `${what}: no session is kept for ${clientId}`);
      }
    }
    await until('a rejected event for every attempt', () => rejected.length === attempts.length * 3);
    assert.deepEqual(new Set(rejected), new Set([0x86]));
    // A NUL in a username is not even valid UTF-8 for MQTT [MQTT-1.5.4-2]: malformed, and closed.
    assert.equal(await refusal(url, { username: 'alice\0', password: PASSWORDS.alice }, 'a NUL in the username'), 0x81);
  });

  test('no username: 0x87 (3.1.1: return code 5); mosquitto_pub with a wrong password or none is refused', async () => {
    assert.equal(await refusal(url, {}, 'anonymous, MQTT 5'), 0x87);
    assert.equal(await refusal(url, { protocolVersion: 4 }, 'anonymous, MQTT 3.1.1'), 5);
    // MQTT 5 allows a password without a username: still anonymous. (Neither MQTT.js nor mqtt-packet will
    // write such a CONNECT: the bytes by hand.)
    const raw = await rawClient(broker.ports.tcp, 5);
    raw.send(passwordOnlyConnect('password-only', PASSWORDS.root));
    assert.equal((await raw.next('connack')).reasonCode, 0x87, 'a password without a username');
    await within(5000, 'the refused connection to be closed', raw.closed);
    const common = ['-h', '127.0.0.1', '-p', String(broker.ports.tcp), '-t', 'bob/x', '-m', 'x', '-q', '1'];
    for (const [version, wrong, none] of [['mqttv5', 134, 135], ['mqttv311', 4, 5]]) {
      const bad = await run('mosquitto_pub', [...common, '-V', version, '-u', 'bob', '-P', 'b0b!']);
      assert.equal(bad.code, wrong, `mosquitto_pub -V ${version}, wrong password: ${bad.stderr}`);
      assert.match(bad.stderr, /bad user ?name or password/i);
      const anon = await run('mosquitto_pub', [...common, '-V', version]);
      assert.equal(anon.code, none, `mosquitto_pub -V ${version}, no username: ${anon.stderr}`);
      assert.match(anon.stderr, /not authori[sz]ed/i);
    }
  });

  test('a refused CONNECT publishes no will, and packets sent right behind it are not processed', async () => {
    const root = await login(url, 'root');
    try {
      assert.deepEqual(await suback(root, '#'), [1]);
      const rec = record(root);
      const raw = await rawClient(broker.ports.tcp, 5);
      raw.send(Buffer.concat([
        packet({
          cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'pipeliner', clean: true, keepalive: 0,
          username: 'bob', password: Buffer.from('not bob\'s'),
          will: { topic: 'bob/will', payload: Buffer.from('will of a refused client'), qos: 1, retain: false, properties: {} },
        }, 5),
        packet({ cmd: 'publish', topic: 'bob/pipelined', payload: 'qos 0', qos: 0 }, 5),
        packet({ cmd: 'publish', topic: 'bob/pipelined', payload: 'qos 1', qos: 1, messageId: 1 }, 5),
        packet({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: '#', qos: 0 }] }, 5),
      ]));
      await within(5000, 'the refused connection to be closed', raw.closed);
      assert.deepEqual(raw.packets.map((p) => [p.cmd, p.reasonCode]), [['connack', 0x86]], 'only the CONNACK comes back');
      assert.deepEqual(await rec.control(root, 'root/control'), []);
      assert.equal(session(broker, 'pipeliner'), undefined);
    } finally {
      await endAll(root);
    }
  });

  test('allowAnonymous: clients without a username connect and get the anonymous section only', async () => {
    const open = await createBroker({ tcp: 0, sysInterval: 0, passwordFile, acl: ACL, allowAnonymous: true });
    const clients = [];
    try {
      const openUrl = open.addresses[0].url;
      const anon = await connect(openUrl, { protocolVersion: 5, clientId: 'anon' });
      clients.push(anon);
      assert.deepEqual(await suback(anon, ['public/#', 'alice/#', '#', 'users/+/#']), [1, 0x87, 1, 0x87]);
      // Patterns with %u are skipped without a username; %c ones apply.
      assert.deepEqual(await suback(anon, ['devices/anon/#']), [1]);
      // A wrong password is still refused: allowAnonymous is not "allow anyone".
      assert.equal(await refusal(openUrl, { username: 'alice', password: 'x' }, 'alice with a wrong password'), 0x86);
      const root = await login(openUrl, 'root');
      clients.push(root);
      const rec = record(anon);
      for (const t of ['alice/x', 'users/alice/mail', 'devices/other/x', 'public/news']) {
        assert.equal(await puback(root, t, `to ${t}`, { qos: 1 }), 0);
      }
      assert.deepEqual([...new Set(await rec.control(root, 'public/control'))], ['public/news to public/news']);
      assert.equal(await puback(anon, 'public/news', 'anonymous write', { qos: 1 }), 0x87, 'read only');
      // An anonymous client cannot resume a user's session with its client id either.
      const desk = await login(openUrl, 'alice', { clientId: 'alice-desk', clean: false, properties: { sessionExpiryInterval: 3600 } });
      assert.deepEqual(await suback(desk, 'users/alice/#'), [1]);
      await endAll(desk);
      await until('alice\'s session to be offline', () => session(open, 'alice-desk')?.connected === false);
      assert.equal(await puback(root, 'users/alice/mail', 'queued for alice', { qos: 1 }), 0);
      const r = await attempt(openUrl, { clientId: 'alice-desk', clean: false, properties: { sessionExpiryInterval: 3600 } });
      assert.ok(r.client, 'an anonymous client may take the id');
      clients.push(r.client);
      assert.equal(r.connack.sessionPresent, false, 'but gets a new session');
      assert.deepEqual(await suback(r.client, 'public/#'), [1]);
      assert.deepEqual(await record(r.client).control(root, 'public/control'), [], 'and none of alice\'s messages');
    } finally {
      await endAll(clients);
      await open.close();
    }
  });
});

// ---- authorization -------------------------------------------------------------

describe('ACL', () => {
  let broker;
  let url;
  let wsUrl;
  before(async () => {
    broker = await createBroker({ tcp: 0, ws: 0, sysInterval: 1, passwordFile, users: [HASH_USER], acl: ACL });
    url = broker.addresses[0].url;
    wsUrl = broker.addresses[1].url;
  });
  after(() => broker?.close());

  test('#, +/# and $share/g/# against narrow read rules: granted, but only readable topics are delivered', async () => {
    const bob = await login(url, 'bob', { clientId: 'bob-wide' });
    const bob311 = await login(wsUrl, 'bob', { clientId: 'bob-wide-311', protocolVersion: 4 });
    const root = await login(url, 'root');
    try {
      assert.deepEqual(await suback(bob, ['#', '+/#', '$share/g/#', 'bob/#']), [1, 1, 1, 1]);
      assert.deepEqual(await suback(bob, ['alice/#', '$share/g/alice/#', 'alice/+', 'mallory/+/x', 'users/alice/#',
        'devices/alice-phone/#', '$SYS/#', '$share/g/$SYS/#', '$SYS/broker/uptime']), Array(9).fill(0x87));
      // 3.1.1 (over WebSocket): a refused filter is 0x80, next to a granted one.
      assert.deepEqual(await suback(bob311, ['#', 'alice/#', '$SYS/#', '+/secret/#']), [1, 0x80, 0x80, 1]);
      const rec = record(bob);
      const rec311 = record(bob311);
      const topics = ['alice/x', 'alice/secret', 'alice/inbox', 'mallory/x', 'shared/x', 'users/alice/mail',
        'devices/alice-phone/cmd', 'zoë/x', 'public/x', 'bobby/x', 'root'];
      for (const t of topics) assert.equal(await puback(root, t, 'not for bob', { qos: 1 }), 0, t);
      assert.equal(await puback(root, 'bob/news', 'for bob', { qos: 1 }), 0);
      const got = await rec.control(root, 'bob/control');
      assert.deepEqual([...new Set(got)], ['bob/news for bob'], 'bob reads bob/# only, through every filter');
      assert.deepEqual(await rec311.control(root, 'bob/control'), ['bob/news for bob']);
      // mosquitto_sub, MQTT 5 and 3.1.1: refused filters, and it says so.
      for (const version of ['mqttv5', 'mqttv311']) {
        const sub = await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.ports.tcp), '-V', version,
          '-u', 'bob', '-P', PASSWORDS.bob, '-t', 'alice/#', '-t', '$SYS/#', '-C', '1', '-W', '10']);
        assert.match(sub.stderr, /All subscription requests were denied/, `mosquitto_sub -V ${version}`);
        assert.equal(sub.stdout, '');
      }
    } finally {
      await endAll(bob, bob311, root);
    }
  });

  test('a deny inside a granted filter: alice/secret never reaches alice, whatever her filter', async () => {
    const alice = await login(url, 'alice', { clientId: 'alice-deny' });
    const root = await login(url, 'root');
    try {
      assert.deepEqual(await suback(alice, ['alice/#', 'alice/secret/#', '+/secret', '#']), [1, 1, 1, 1],
        'each can still match something readable');
      assert.deepEqual(await suback(alice, ['alice/secret', '$share/g/alice/secret', 'bob/#']), [0x87, 0x87, 0x87]);
      const rec = record(alice);
      for (const t of ['alice/secret', 'alice/secret/sub', 'bob/secret', 'alice/x']) {
        assert.equal(await puback(root, t, `on ${t}`, { qos: 1 }), 0);
      }
      const got = [...new Set(await rec.control(root, 'alice/control'))].sort();
      assert.deepEqual(got, ['alice/secret/sub on alice/secret/sub', 'alice/x on alice/x']);
      // Nor can she write it.
      assert.equal(await puback(alice, 'alice/secret', 'x', { qos: 1 }), 0x87);
    } finally {
      await endAll(alice, root);
    }
  });

  test('$SYS is read only with a $SYS rule (# never reaches it), and nobody publishes to $SYS, not even with a rule', { timeout: 20_000 }, async () => {
    const root = await login(url, 'root');
    const mallory = await login(url, 'mallory', { clientId: 'mallory-sys' });
    const root311 = await login(url, 'root', { protocolVersion: 4 });
    try {
      assert.deepEqual(await suback(root, ['$SYS/#', 'root/#']), [1, 1]);
      assert.deepEqual(await suback(mallory, ['#', '+/#', '$share/g/#']), [1, 1, 1]);
      assert.deepEqual(await suback(mallory, ['$SYS/#', '$SYS/broker/uptime', '$SYS/+', '$share/g/$SYS/#']),
        [0x87, 0x87, 0x87, 0x87]);
      const sys = record(root);
      const rec = record(mallory);
      // The broker's own $SYS messages (every second here) reach root...
      await sys.waitFor((m) => m.topic.startsWith('$SYS/broker/'), 'a $SYS message for root', 5000);
      // ...and nobody may forge one: not root (readwrite $SYS/#), in any QoS, retained or not.
      assert.equal(await puback(root, '$SYS/broker/uptime', 'forged', { qos: 1 }), 0x87);
      assert.equal(await puback(root, '$SYS/broker/uptime', 'forged', { qos: 2, retain: true }), 0x87);
      root.publish('$SYS/broker/uptime', 'forged');
      assert.equal(await puback(root311, '$SYS/broker/version', 'forged', { qos: 1 }), 0, '3.1.1: acknowledged, dropped');
      const forge = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.ports.tcp), '-V', 'mqttv5',
        '-u', 'root', '-P', PASSWORDS.root, '-t', '$SYS/broker/uptime', '-m', 'forged', '-q', '1']);
      assert.match(forge.stderr, /Publish 1 failed: Not authorized/);
      // Everything routed before root's control message has reached root by the time it arrives.
      await sys.control(root, 'root/control');
      assert.deepEqual(sys.got.filter((m) => m.payload === 'forged'), [], 'no forged $SYS message is delivered');
      assert.deepEqual(retainedText(broker).filter((m) => m.endsWith(' forged')), [], 'none is retained');
      // And the broker's own values go on.
      const ticks = sys.got.length;
      const next = await sys.waitFor((m, i) => i >= ticks && m.topic === '$SYS/broker/uptime', 'the next $SYS round', 5000);
      assert.notEqual(next.payload, 'forged');
      assert.deepEqual(await rec.control(mallory, 'mallory/control'), [], 'mallory got no $SYS message through # or $share');
    } finally {
      await endAll(root, mallory, root311);
    }
  });

  test('write: 0x87 for QoS 1 and 2 in MQTT 5 (QoS 0 dropped), acknowledged and dropped in 3.1.1; a topic alias smuggles nothing', async () => {
    const root = await login(url, 'root');
    const bob = await login(url, 'bob', { clientId: 'bob-writer' });
    const bob311 = await login(url, 'bob', { clientId: 'bob-writer-311', protocolVersion: 4 });
    try {
      assert.deepEqual(await suback(root, '#'), [1]);
      const rec = record(root);
      assert.equal(await puback(bob, 'alice/x', 'qos 1', { qos: 1 }), 0x87);
      assert.equal(await puback(bob, 'alice/x', 'qos 2', { qos: 2 }), 0x87);
      assert.equal(await puback(bob, 'users/bob/x', 'read-only pattern', { qos: 1 }), 0x87);
      bob.publish('alice/x', 'qos 0');
      // A topic alias set by a refused PUBLISH does not make a way in.
      assert.equal(await puback(bob, 'alice/y', 'alias set', { qos: 1, properties: { topicAlias: 1 } }), 0x87);
      assert.equal(await puback(bob, '', 'alias used', { qos: 1, properties: { topicAlias: 1 } }), 0x87);
      for (const qos of [0, 1, 2]) assert.equal(await puback(bob311, 'alice/x', `3.1.1 qos ${qos}`, { qos }), 0);
      const mosq = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.ports.tcp), '-V', 'mqttv5',
        '-u', 'bob', '-P', PASSWORDS.bob, '-t', 'alice/x', '-m', 'mosquitto_pub', '-q', '1']);
      assert.match(mosq.stderr, /Publish 1 failed: Not authorized/);
      // What bob may write gets through, after all of the above.
      assert.equal(await puback(bob, 'alice/inbox', 'allowed', { qos: 1 }), 0);
      await rec.waitFor((m) => m.topic === 'alice/inbox', 'bob\'s allowed message');
      assert.equal(await puback(bob311, 'alice/inbox', 'allowed 3.1.1', { qos: 1 }), 0);
      const got = await rec.control(root, 'root/control');
      assert.deepEqual(got, ['alice/inbox allowed', 'alice/inbox allowed 3.1.1']);
    } finally {
      await endAll(root, bob, bob311);
    }
  });

  test('retained: a writer without write access neither sets nor clears one; subscribers get only what they may read', async () => {
    const root = await login(url, 'root');
    const bob = await login(url, 'bob', { clientId: 'bob-retain' });
    const clients = [root, bob];
    try {
      for (const [t, v] of [['alice/state', 'on'], ['alice/secret', 'password'], ['bob/state', 'bob\'s']]) {
        assert.equal(await puback(root, t, v, { qos: 1, retain: true }), 0);
      }
      assert.equal(await puback(bob, 'alice/state', 'hacked', { qos: 1, retain: true }), 0x87, 'overwrite');
      assert.equal(await puback(bob, 'alice/state', '', { qos: 1, retain: true }), 0x87, 'clear');
      bob.publish('alice/state', '', { qos: 0, retain: true });
      assert.equal(await puback(bob, 'bob/sync', 'after the QoS 0 one', { qos: 1 }), 0);
      const bob311 = await login(url, 'bob', { clientId: 'bob-retain-311', protocolVersion: 4 });
      clients.push(bob311);
      assert.equal(await puback(bob311, 'alice/state', '', { qos: 1, retain: true }), 0, '3.1.1: acknowledged, dropped');

      const alice = await login(url, 'alice', { clientId: 'alice-retain' });
      const mallory = await login(url, 'mallory', { clientId: 'mallory-retain' });
      const bobReader = await login(url, 'bob', { clientId: 'bob-retain-reader' });
      clients.push(alice, mallory, bobReader);
      const recs = [alice, mallory, bobReader].map(record);
      assert.deepEqual(await suback(alice, 'alice/#'), [1]);
      assert.deepEqual(await suback(mallory, ['#', '$share/g/#']), [1, 1]);
      assert.deepEqual(await suback(bobReader, '#'), [1]);
      assert.deepEqual(await recs[0].control(root, 'alice/control'), ['alice/state on'], 'alice: hers, not alice/secret');
      assert.ok(recs[0].got[0].retain, 'delivered as retained');
      assert.deepEqual(await recs[1].control(root, 'mallory/control'), [], 'mallory: none');
      assert.deepEqual(await recs[2].control(root, 'bob/control'), ['bob/state bob\'s'], 'bob: his own only');
    } finally {
      await endAll(clients);
    }
  });

  test('wills: one to a topic its user may not write is refused at CONNECT (0x87 / return code 5); a will reaches only readers', async () => {
    const will = { topic: 'alice/alarm', payload: Buffer.from('will'), qos: 1, retain: false };
    assert.equal(await refusal(url, { username: 'bob', password: PASSWORDS.bob, will }, 'bob\'s will to alice/alarm'), 0x87);
    assert.equal(await refusal(url, { username: 'bob', password: PASSWORDS.bob, will: { ...will, retain: true }, protocolVersion: 4 },
      'bob\'s retained will to alice/alarm, 3.1.1'), 5);
    const sub = await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.ports.tcp), '-V', 'mqttv5',
      '-u', 'bob', '-P', PASSWORDS.bob, '--will-topic', 'alice/alarm', '--will-payload', 'x', '-t', 'bob/#', '-C', '1', '-W', '10']);
    assert.match(sub.stderr, /Not authorized/);

    const root = await login(url, 'root');
    const alice = await login(url, 'alice', { clientId: 'alice-will' });
    const bobReader = await login(url, 'bob', { clientId: 'bob-will-reader' });
    const bob = await login(url, 'bob', { clientId: 'bob-will', will: { ...will, topic: 'alice/inbox', payload: Buffer.from('bob is gone') } });
    try {
      assert.deepEqual(await suback(root, '#'), [1]);
      assert.deepEqual(await suback(alice, 'alice/#'), [1]);
      assert.deepEqual(await suback(bobReader, '#'), [1]);
      const recs = [root, alice, bobReader].map(record);
      bob.stream.destroy(); // no DISCONNECT: the will goes out
      await recs[0].waitFor((m) => m.payload === 'bob is gone', 'bob\'s will at root');
      assert.deepEqual(await recs[1].control(root, 'alice/control'), ['alice/inbox bob is gone'], 'alice reads it');
      assert.deepEqual(await recs[2].control(root, 'bob/control'), [], 'bob may write alice/inbox, not read it');
    } finally {
      await endAll(root, alice, bobReader, bob);
    }
  });

  test('a will cannot publish to $SYS either: refused at CONNECT (0x87 / 5) like a PUBLISH there, with a $SYS rule or without any access control', async () => {
    // A broker with the ACL (root has `topic readwrite $SYS/#`), and one without any access control: on both,
    // PUBLISH to $SYS is refused, so a will there must be too, or it forges the broker's values (retained).
    const brokers = [
      ['root, whose ACL has readwrite $SYS/#', await createBroker({ tcp: 0, sysInterval: 0, passwordFile, acl: ACL }), { username: 'root', password: PASSWORDS.root }],
      ['a client of a broker without access control', await createBroker({ tcp: 0, sysInterval: 0 }), {}],
    ];
    const clients = [];
    try {
      for (const [what, b, auth] of brokers) {
        const u = b.addresses[0].url;
        const watcher = await connect(u, { ...auth, protocolVersion: 5 });
        clients.push(watcher);
        assert.deepEqual(await suback(watcher, ['$SYS/#', 'root/#']), [1, 1]);
        assert.equal(await puback(watcher, '$SYS/broker/version', 'forged', { qos: 1, retain: true }), 0x87, `${what}: PUBLISH`);
        const rec = record(watcher);
        const outcome = [];
        for (const protocolVersion of [5, 4]) {
          const clientId = `sys-forger-${protocolVersion}`;
          const will = { topic: '$SYS/broker/version', payload: Buffer.from(`forged by a will (${protocolVersion})`), qos: 1, retain: true };
          const r = await attempt(u, { ...auth, clientId, protocolVersion, will });
          if (r.client) {
            // Accepted: drop the connection (no DISCONNECT), so that the will goes out, and see where it goes.
            const gone = new Promise((resolve) => b.on('disconnected', (e) => e.clientId === clientId && resolve()));
            r.client.stream.destroy();
            await within(5000, 'the broker to see the will\'s client go', gone);
          }
          outcome.push(r.error?.code ?? 'accepted');
        }
        const delivered = await rec.control(watcher, 'root/control');
        const retained = retainedText(b).filter((m) => m.includes('forged'));
        assert.deepEqual({ connack: outcome, delivered, retained }, { connack: [0x87, 5], delivered: [], retained: [] }, what);
      }
    } finally {
      await endAll(clients);
      for (const [, b] of brokers) await b.close();
    }
  });

  test('shared subscriptions: each message goes to a group member who may read it, never to one who may not', async () => {
    const root = await login(url, 'root');
    const alice = await login(url, 'alice', { clientId: 'alice-share' });
    const bob = await login(url, 'bob', { clientId: 'bob-share' });
    try {
      assert.deepEqual(await suback(alice, '$share/grp/+/x'), [1]);
      assert.deepEqual(await suback(bob, '$share/grp/+/x'), [1]);
      const [ra, rb] = [record(alice), record(bob)];
      for (let i = 0; i < 4; i++) {
        assert.equal(await puback(root, 'alice/x', `a${i}`, { qos: 1 }), 0);
        assert.equal(await puback(root, 'bob/x', `b${i}`, { qos: 1 }), 0);
        assert.equal(await puback(root, 'mallory/x', `m${i}`, { qos: 1 }), 0);
      }
      await until('all 8 readable messages to be delivered', () => ra.got.length + rb.got.length >= 8);
      // (The control messages go through the group too: each to the one member who may read it.)
      assert.deepEqual(await ra.control(root, 'alice/x'), ['alice/x a0', 'alice/x a1', 'alice/x a2', 'alice/x a3']);
      assert.deepEqual(await rb.control(root, 'bob/x'), ['bob/x b0', 'bob/x b1', 'bob/x b2', 'bob/x b3']);
    } finally {
      await endAll(root, alice, bob);
    }
  });

  test('%c spoofing: another user with the victim\'s client id gets a fresh session, none of its messages or %u topics', async () => {
    const persistent = { clean: false, properties: { sessionExpiryInterval: 3600 } };
    const root = await login(url, 'root');
    const clients = [root];
    try {
      // alice's phone: a persistent session reading her inbox (%u) and her device's topics (%c).
      const phone = await login(url, 'alice', { clientId: 'phone-1', ...persistent });
      assert.deepEqual(await suback(phone, ['users/alice/#', 'devices/phone-1/#']), [1, 1]);
      await endAll(phone);
      await until('alice\'s session to be offline', () => session(broker, 'phone-1')?.connected === false);
      assert.equal(await puback(root, 'users/alice/mail', 'queued for alice', { qos: 1 }), 0);
      assert.equal(await puback(root, 'devices/phone-1/cmd', 'queued for the phone', { qos: 1 }), 0);
      assert.equal(session(broker, 'phone-1').queued, 2);

      // mallory takes the client id, asking to resume.
      const mallory = await login(url, 'mallory', { clientId: 'phone-1', ...persistent });
      clients.push(mallory);
      assert.equal(mallory.connack.sessionPresent, false, 'Session Present 0: not alice\'s session');
      assert.deepEqual(session(broker, 'phone-1').subscriptions, [], 'none of alice\'s subscriptions');
      const rec = record(mallory);
      // users/+/mail is granted for users/mallory/mail, her own; it never carries alice's.
      assert.deepEqual(await suback(mallory, ['mallory/#', 'users/alice/#', 'users/alice/mail', 'users/+/mail']), [1, 0x87, 0x87, 1],
        'no %u topics of alice');
      // As in Mosquitto, %c grants by client id: the id is not a credential.
      assert.deepEqual(await suback(mallory, ['devices/phone-1/#']), [1]);
      assert.equal(await puback(root, 'users/alice/mail', 'live for alice', { qos: 1 }), 0);
      assert.equal(await puback(root, 'devices/phone-1/cmd', 'live for the phone', { qos: 1 }), 0);
      assert.deepEqual(await rec.control(root, 'mallory/control'), ['devices/phone-1/cmd live for the phone'],
        'no queued message of alice\'s, nothing of users/alice/#');
      await endAll(mallory);
      await until('mallory\'s session to be offline', () => session(broker, 'phone-1')?.connected === false);

      // The takeover ended alice's session: she starts afresh (and does not get mallory's either).
      const back = await login(url, 'alice', { clientId: 'phone-1', ...persistent });
      clients.push(back);
      assert.equal(back.connack.sessionPresent, false);
      assert.deepEqual(await suback(back, 'alice/#'), [1]);
      assert.deepEqual(await record(back).control(root, 'alice/control'), []);

      // 3.1.1, clean session 0: the same.
      const laptop = await login(url, 'alice', { clientId: 'laptop-1', protocolVersion: 4, clean: false });
      assert.deepEqual(await suback(laptop, 'users/alice/#'), [1]);
      await endAll(laptop);
      await until('the laptop session to be offline', () => session(broker, 'laptop-1')?.connected === false);
      assert.equal(await puback(root, 'users/alice/x', 'queued for the laptop', { qos: 1 }), 0);
      const m311 = await login(url, 'mallory', { clientId: 'laptop-1', protocolVersion: 4, clean: false });
      clients.push(m311);
      assert.equal(m311.connack.sessionPresent, false);
      assert.deepEqual(await suback(m311, 'mallory/#'), [1]);
      assert.deepEqual(await record(m311).control(root, 'mallory/control'), []);

      // An online victim is taken over (DISCONNECT 0x8E), as with any client id collision.
      const tablet = await login(url, 'alice', { clientId: 'tablet-1' });
      clients.push(tablet);
      const kicked = within(5000, 'alice\'s DISCONNECT', new Promise((resolve) => tablet.once('disconnect', resolve)));
      clients.push(await login(url, 'mallory', { clientId: 'tablet-1' }));
      assert.equal((await kicked).reasonCode, 0x8e);
    } finally {
      await endAll(clients);
    }
  });

  test('client ids and usernames with + # / get no pattern: they cannot widen %c or %u (Mosquitto CVE-2017-7650)', async () => {
    const root = await login(url, 'root');
    const clients = [root];
    try {
      for (const clientId of ['#', '+', 'phone-1/#', 'x/phone-1']) {
        const m = await login(url, 'mallory', { clientId });
        clients.push(m);
        assert.deepEqual(await suback(m, ['devices/#', 'devices/+/cmd', `devices/${clientId}`, 'devices/x/phone-1/#']),
          [0x87, 0x87, 0x87, 0x87], `client id ${clientId}`);
        for (const t of ['devices/phone-1/cmd', 'devices/x/phone-1/cmd']) {
          assert.equal(await puback(m, t, 'x', { qos: 1 }), 0x87, `client id ${clientId} writing ${t}`);
        }
      }
      const hash = await login(url, '#', { clientId: 'hash-user', password: HASH_USER.password });
      clients.push(hash);
      assert.deepEqual(await suback(hash, ['users/#', 'users/alice/#', 'users/+/mail']), [0x87, 0x87, 0x87]);
      assert.deepEqual(await suback(hash, ['devices/hash-user/#']), [1], 'its %c pattern still applies');
      const rec = record(hash);
      assert.equal(await puback(root, 'users/alice/mail', 'for alice', { qos: 1 }), 0);
      assert.deepEqual(await rec.control(root, 'devices/hash-user/control'), []);
    } finally {
      await endAll(clients);
    }
  });

  test('AUTH cannot switch user: without an authentication method it is a protocol error (DISCONNECT 0x82), closed at once', async () => {
    const root = await login(url, 'root');
    try {
      assert.deepEqual(await suback(root, '#'), [1]);
      const rec = record(root);
      // MQTT.js has no API to send AUTH unasked: raw bytes. CONNECT as bob, then AUTH 0x19 as alice,
      // with a PUBLISH only alice may make right behind it.
      const raw = await rawConnect(broker.ports.tcp, 'reauth', 5, { username: 'bob', password: Buffer.from(PASSWORDS.bob) });
      assert.equal(raw.connack.reasonCode, 0);
      raw.send(Buffer.concat([
        packet({ cmd: 'auth', reasonCode: 0x19, properties: {
          authenticationMethod: 'PLAIN', authenticationData: Buffer.from(`\0alice\0${PASSWORDS.alice}`),
        } }, 5),
        packet({ cmd: 'publish', topic: 'alice/x', payload: 'as alice?', qos: 1, messageId: 1 }, 5),
      ]));
      const disconnect = await raw.next('disconnect');
      assert.equal(disconnect.reasonCode, 0x82);
      await within(5000, 'the connection to be closed', raw.closed);
      assert.deepEqual(raw.packets.map((p) => p.cmd), [], 'no PUBACK: the PUBLISH behind the AUTH was not processed');
      // An authentication method in CONNECT is not a way in either.
      const plain = { authenticationMethod: 'PLAIN', authenticationData: Buffer.from(`\0alice\0${PASSWORDS.alice}`) };
      const anon = await rawConnect(broker.ports.tcp, 'enhanced-1', 5, { properties: plain });
      assert.equal(anon.connack.reasonCode, 0x87, 'no username: anonymous, refused');
      const wrong = await rawConnect(broker.ports.tcp, 'enhanced-2', 5, { username: 'alice', password: Buffer.from('x'), properties: plain });
      assert.equal(wrong.connack.reasonCode, 0x86, 'a wrong password, with an authentication method: the password check comes first');
      const method = await rawConnect(broker.ports.tcp, 'enhanced-3', 5, { username: 'bob', password: Buffer.from(PASSWORDS.bob), properties: plain });
      assert.equal(method.connack.reasonCode, 0x8c, 'an authentication method the broker does not have: Bad authentication method');
      for (const c of [anon, wrong, method]) await within(5000, 'a refused connection to be closed', c.closed);
      assert.deepEqual(await rec.control(root, 'root/control'), []);
    } finally {
      await endAll(root);
    }
  });
});

// ---- TLS ---------------------------------------------------------------------------

describe('TLS', () => {
  let certs;
  before(() => {
    certs = makeCertificates();
  });
  after(() => certs?.remove());

  test('a client certificate\'s CN is the username for the ACL; a wrong CA, or no certificate, gets nowhere', async () => {
    const broker = await createBroker({
      tcp: 0,
      tls: { port: 0, cert: certs.pem('server.crt'), key: certs.pem('server.key'), ca: certs.pem('ca.crt'), useIdentityAsUsername: true },
      sysInterval: 0,
      passwordFile,
      acl: ACL,
    });
    const tlsUrl = broker.addresses.find((a) => a.transport === 'tls').url;
    const tcpUrl = broker.addresses.find((a) => a.transport === 'tcp').url;
    const as = (name) => ({ ca: certs.pem('ca.crt'), cert: certs.pem(`${name}.crt`), key: certs.pem(`${name}.key`) });
    const connected = [];
    broker.on('connected', (e) => connected.push(e.clientId));
    const clients = [];
    try {
      // The server's certificate is checked against the CA the client trusts.
      const wrongCa = await attempt(tlsUrl, { ...as('alice'), ca: certs.pem('other.crt') });
      assert.match(String(wrongCa.error?.code ?? wrongCa.error?.message), /CERT|SIGN|ISSUER|VERIFY|SELF/i, 'a client trusting another CA');
      // The client's, against the broker's: another CA's, or none, fail at the handshake.
      assert.ok((await attempt(tlsUrl, as('mallory'))).error, 'mallory\'s certificate, from another CA');
      assert.ok((await attempt(tlsUrl, { ca: certs.pem('ca.crt'), username: 'root', password: PASSWORDS.root })).error,
        'no certificate, even with root\'s password');
      assert.deepEqual(connected, [], 'none of them reached MQTT');

      // alice's certificate, claiming to be root (with a wrong password): she is alice.
      const alice = await login(tlsUrl, 'root', { ...as('alice'), password: 'not needed', clientId: 'alice-cert' });
      clients.push(alice);
      assert.deepEqual(await suback(alice, ['#', 'alice/#']), [1, 1]);
      assert.deepEqual(await suback(alice, ['bob/#', '$SYS/#', 'users/root/#']), [0x87, 0x87, 0x87]);
      assert.deepEqual(await suback(alice, 'users/alice/#'), [1], '%u is the CN');
      assert.equal(await puback(alice, 'bob/x', 'as alice', { qos: 1 }), 0x87);
      const root = await login(tcpUrl, 'root');
      clients.push(root);
      const rec = record(alice);
      for (const t of ['bob/x', 'root/x', 'alice/secret', 'users/root/x', 'alice/x', 'users/alice/x']) {
        assert.equal(await puback(root, t, `on ${t}`, { qos: 1 }), 0);
      }
      assert.deepEqual([...new Set(await rec.control(root, 'alice/control'))], ['alice/x on alice/x', 'users/alice/x on users/alice/x']);
      // The CN counts on the TLS listener only: on TCP, "alice" still needs her password.
      assert.equal(await refusal(tcpUrl, { username: 'alice' }, 'alice on TCP without a password'), 0x86);
    } finally {
      await endAll(clients);
      await broker.close();
    }
  });
});

// ---- rate limits ------------------------------------------------------------------

describe('publish rate limits', () => {
  test('flooders are cut off (MQTT 5: DISCONNECT 0x96; 3.1.1: closed) while two well-behaved clients deliver every message', { timeout: 30_000 }, async () => {
    const rate = 50;
    const broker = await createBroker({ tcp: 0, sysInterval: 0, limits: { publishRate: rate, publishByteRate: 64 * 1024 } });
    const url = broker.addresses[0].url;
    const clients = [];
    try {
      const watcher = await connect(url, { protocolVersion: 5, clientId: 'watcher' });
      clients.push(watcher);
      assert.deepEqual(await suback(watcher, ['calm/#', 'flood/#']), [1, 1]);
      const rec = record(watcher);
      const calm = [await connect(url, { protocolVersion: 5, clientId: 'calm-5' }), await connect(url, { protocolVersion: 4, clientId: 'calm-311' })];
      clients.push(...calm);
      const flood5 = await connect(url, { protocolVersion: 5, clientId: 'flood-5' });
      const floodBytes = await connect(url, { protocolVersion: 5, clientId: 'flood-bytes' });
      clients.push(flood5, floodBytes);
      const cutOff = (c) => within(10_000, `${c.options.clientId} to get a DISCONNECT`, new Promise((resolve) => c.once('disconnect', resolve)));
      const disconnects = [cutOff(flood5), cutOff(floodBytes)];
      const closed5 = new Promise((resolve) => flood5.once('close', resolve));
      const started = performance.now();

      // Flood: 500 messages at once; 20 of 16 KiB (past 64 KiB a second); 500 raw 3.1.1 PUBLISHes in one write.
      for (let i = 0; i < 500; i++) flood5.publish('flood/5', `f${i}`);
      for (let i = 0; i < 20; i++) floodBytes.publish('flood/bytes', Buffer.alloc(16 * 1024, i));
      const raw311 = await rawConnect(broker.ports.tcp, 'flood-311', 4);
      raw311.send(Buffer.concat(Array.from({ length: 500 }, (_, i) => packet({ cmd: 'publish', topic: 'flood/311', payload: `r${i}`, qos: 0 }))));
      // Meanwhile, the calm clients publish 40 QoS 1 messages each, within the rate.
      const sent = calm.map(async (c, n) => {
        for (let i = 0; i < 40; i++) assert.equal(await puback(c, `calm/${n}`, `c${n}-${i}`, { qos: 1 }), 0);
      });

      const [d5, dBytes] = await Promise.all(disconnects);
      assert.equal(d5.reasonCode, 0x96, 'Message rate too high');
      assert.equal(dBytes.reasonCode, 0x96, 'Message rate too high (bytes)');
      await within(5000, 'the MQTT 5 flooder to be closed', closed5);
      await within(5000, 'the 3.1.1 flooder to be closed', raw311.closed);
      assert.deepEqual(raw311.packets.map((p) => p.cmd), [], '3.1.1 has no DISCONNECT from the server: just closed');
      const elapsed = (performance.now() - started) / 1000;
      await Promise.all(sent);

      const got = await rec.control(calm[0], 'calm/control');
      for (const n of [0, 1]) {
        assert.deepEqual(got.filter((m) => m.startsWith(`calm/${n} `)), Array.from({ length: 40 }, (_, i) => `calm/${n} c${n}-${i}`),
          `every message of calm client ${n}, in order`);
      }
      const allowance = rate + Math.ceil(rate * elapsed);
      for (const t of ['flood/5', 'flood/311']) {
        const through = got.filter((m) => m.startsWith(`${t} `)).length;
        assert.ok(through >= 1 && through <= allowance, `${t}: ${through} got through (at most ${allowance} in ${elapsed.toFixed(2)} s)`);
      }
      assert.ok(got.filter((m) => m.startsWith('flood/bytes ')).length <= 5, 'at most 64 KiB of 16 KiB messages, and a little refill');
      assert.ok(calm.every((c) => c.connected), 'the calm clients are still connected');
    } finally {
      await endAll(clients);
      await broker.close();
    }
  });
});

// ---- setAccess ---------------------------------------------------------------------

describe('setAccess(): new rules apply at once', () => {
  const users = Object.entries(PASSWORDS).map(([username, password]) => ({ username, password }));
  const granted = 'user alice\ntopic readwrite alice/#\ntopic read news/#\nuser bob\ntopic readwrite bob/#\ntopic write news/#\nuser root\ntopic readwrite #\n';
  const noRead = granted.replace('topic read news/#\n', '');
  const noWrite = noRead.replace('topic write news/#\n', '');

  test('revoking read stops delivery through existing subscriptions: online, shared, and those of offline sessions (cf. Mosquitto CVE-2021-34434)', async () => {
    const broker = await createBroker({ tcp: 0, sysInterval: 0, users, acl: granted });
    const url = broker.addresses[0].url;
    const persistent = { clientId: 'alice-offline', clean: false, properties: { sessionExpiryInterval: 3600 } };
    const clients = [];
    try {
      const root = await login(url, 'root');
      const bob = await login(url, 'bob');
      const alice = await login(url, 'alice', { clientId: 'alice-online' });
      clients.push(root, bob, alice);
      // news/# is wholly readable: deliveries through it need no per-message check until the rules change.
      assert.deepEqual(await suback(alice, ['news/#', '$share/g/news/#', 'alice/#']), [1, 1, 1]);
      const away = await login(url, 'alice', persistent);
      assert.deepEqual(await suback(away, 'news/#'), [1]);
      await endAll(away);
      await until('alice\'s persistent session to be offline', () => session(broker, 'alice-offline')?.connected === false);
      const rec = record(alice);
      assert.equal(await puback(bob, 'news/1', 'readable', { qos: 1 }), 0);
      assert.deepEqual(await rec.control(root, 'alice/control'), ['news/1 readable', 'news/1 readable'], 'plain and shared');
      rec.got.length = 0;
      assert.equal(session(broker, 'alice-offline').queued, 1);

      broker.setAccess({ users, acl: noRead });
      assert.equal(await puback(bob, 'news/2', 'no longer readable', { qos: 1 }), 0, 'bob may still write it');
      assert.deepEqual(await rec.control(root, 'alice/control'), []);
      assert.deepEqual(await suback(alice, 'news/#'), [0x87], 'nor may she subscribe again');
      assert.equal(session(broker, 'alice-offline').queued, 0, 'nothing more queued, and what was queued is dropped (Mosquitto drops it at reconnect)');
      const back = await login(url, 'alice', persistent);
      clients.push(back);
      assert.equal(back.connack.sessionPresent, true);
      const recBack = record(back);
      assert.deepEqual(await suback(back, 'alice/#'), [1]);
      assert.deepEqual(await recBack.control(root, 'alice/control'), [], 'nothing of news/# reaches her');

      // Revoking write: 0x87 from the next PUBLISH on.
      broker.setAccess({ users, acl: noWrite });
      assert.equal(await puback(bob, 'news/3', 'x', { qos: 1 }), 0x87);

      // Granting again: each message once per subscription, no duplicates from the re-registration.
      broker.setAccess({ users, acl: granted });
      broker.setAccess({ users, acl: granted });
      rec.got.length = 0;
      assert.equal(await puback(bob, 'news/4', 'readable again', { qos: 1 }), 0);
      assert.deepEqual(await rec.control(root, 'alice/control'), ['news/4 readable again', 'news/4 readable again']);
    } finally {
      await endAll(clients);
      await broker.close();
    }
  });

  test('a user removed from the users/password file loses a connection it still holds, as Mosquitto does on reload', async () => {
    const broker = await createBroker({ tcp: 0, sysInterval: 0, users, acl: granted });
    const url = broker.addresses[0].url;
    const clients = [];
    try {
      const root = await login(url, 'root');
      const bob = await login(url, 'bob', { clientId: 'bob-revoked' });
      clients.push(root, bob);
      assert.deepEqual(await suback(bob, 'bob/#'), [1]);
      const closed = new Promise((resolve) => bob.once('close', resolve));
      const told = new Promise((resolve) => bob.once('disconnect', (packet) => resolve(packet.reasonCode)));
      broker.setAccess({ users: users.filter((u) => u.username !== 'bob'), acl: granted });
      assert.equal(await refusal(url, { username: 'bob', password: PASSWORDS.bob }, 'bob, removed'), 0x86, 'bob cannot connect again');
      await within(2000, 'bob\'s open connection to be closed', closed);
      assert.equal(await within(2000, 'DISCONNECT', told), 0x87, 'DISCONNECT 0x87 (not authorized)');
      assert.equal(await puback(root, 'news/5', 'root stays', { qos: 1 }), 0, 'root, still a user, stays connected');
    } finally {
      await endAll(clients);
      await broker.close();
    }
  });
});

// ---- Paho interoperability: test_subscribe_failure ------------------------------------

describe('Eclipse Paho interoperability: test_subscribe_failure (3.1.1) against `tabmq --acl-file`', () => {
  test('SUBACK 0x80 for the denied topic; the rest of the tree still works at QoS 2', { timeout: 30_000 }, async () => {
    assert.equal(spawnSync('python3', ['-c', 'import paho.mqtt']).status, 0, `python3 paho-mqtt (PyPI): ${INSTALL}`);
    const aclPath = join(dir, 'paho.acl');
    writeFileSync(aclPath, 'topic readwrite #\ntopic deny test/nosubscribe\n');
    const cli = await startCli(['--tcp', '0', '--acl-file', aclPath, '--sys-interval', '0', '--log', 'debug']);
    let paho;
    try {
      const port = new URL(cli.urls.tcp).port;
      paho = spawn('python3', [PAHO_SUBSCRIBE_FAILURE, '--port', port, '--timeout', '15'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      paho.stdout.on('data', (d) => (stdout += d));
      paho.stderr.on('data', (d) => (stderr += d));
      const code = await within(20_000, `paho to finish (stderr: ${stderr})`, new Promise((resolve) => paho.on('close', resolve)));
      assert.equal(code, 0, stderr);
      const result = JSON.parse(stdout.trim().split('\n').pop());
      assert.deepEqual(result.nosubscribe, [0x80], 'the denied topic: failure');
      assert.deepEqual(result.topicA, [2], 'TopicA/#: QoS 2 granted');
      assert.deepEqual(result.received, [{ topic: 'TopicA/B', payload: 'qos 2 through the ACL', qos: 2 }]);
      await cli.waitFor(/ info connected paho-subscribe-failure \(MQTT 3\.1\.1\) from tcp /);
      await cli.waitFor(/ debug denied subscribe 'test\/nosubscribe' to paho-subscribe-failure from tcp /);
    } finally {
      paho?.kill('SIGKILL');
      assert.deepEqual(await cli.stop(), { code: 0, signal: null });
    }
  });
});
