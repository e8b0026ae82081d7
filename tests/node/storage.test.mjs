// The Node host's disk storage (`dataDir`, `tabmq --data DIR`) under bad
// conditions: a directory that cannot be used, a second process on the same
// directory (and the lock the OS drops after kill -9), records damaged on
// disk, a database from an older schema (upgraded in place) or a newer one
// (refused), `maxStoreBytes` reached, and the disk filling up during a
// commit (a small tmpfs). Each test checks what MQTT clients see (MQTT.js,
// raw 3.1.1 packets) and what the broker reports: 'warning', 'event' and
// 'storage' events, `stats().storage`, the CLI's exit status and log.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { connect, createBroker, endAll, packet, rawConnect, until, urlOf, within } from './helpers.mjs';
import { runCli, startCli } from './cli-helpers.mjs';
import { migrate, SCHEMA_VERSION, TABLES } from '../../www/node/store/schema.js';

const DB_FILE = 'tabmq.sqlite';
const root = mkdtempSync(join(tmpdir(), 'tabmq-storage-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A new empty directory under the test's temp dir. */
function freshDir() {
  return mkdtempSync(join(root, 'data-'));
}

/** A broker on a free TCP port of 127.0.0.1 keeping its state in `dir`. */
function storedBroker(dir, options = {}) {
  return createBroker({ tcp: { port: 0 }, sysInterval: 0, dataDir: dir, ...options });
}

/**
 * A persistent session (3.1.1 clean session 0; 5.0 clean start 0 with a
 * session expiry of an hour) whose message listener is on before CONNECT,
 * so the queue the broker sends right after CONNACK is not missed.
 * Returns { client, connack, got: [{ topic, payload, qos, retain }], wait(n) }.
 */
async function persistent(url, clientId, protocolVersion = 5) {
  const client = mqtt.connect(url, {
    clientId,
    clean: false,
    protocolVersion,
    reconnectPeriod: 0,
    connectTimeout: 4000,
    ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
  });
  const got = [];
  client.on('message', (topic, payload, p) => {
    got.push({ topic, payload: payload.toString(), qos: p.qos, retain: p.retain });
  });
  const connack = await within(5000, `${clientId} to connect`, new Promise((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
    client.once('close', () => reject(new Error(`${clientId}: closed before CONNACK`)));
  })).catch((err) => {
    client.end(true);
    throw err;
  });
  return {
    client,
    connack,
    got,
    wait: (n, ms = 5000) => until(`${n} message(s) for ${clientId} (got ${got.length})`, () => got.length >= n, ms),
  };
}

/**
 * Publishes with MQTT.js and resolves with the reason code of the PUBACK
 * (QoS 1) or PUBREC (QoS 2) that answers it, as it came off the wire
 * (`packetreceive`). `payload` must be unique on this client: it is how
 * the packet id is found.
 */
function publishAck(client, topic, payload, opts = { qos: 1 }) {
  const ack = opts.qos === 2 ? 'pubrec' : 'puback';
  let id;
  let onSend;
  let onReceive;
  const answered = new Promise((resolve) => {
    onSend = (p) => {
      if (p.cmd === 'publish' && p.topic === topic && String(p.payload) === payload) id = p.messageId;
    };
    onReceive = (p) => {
      if (p.cmd === ack && id !== undefined && p.messageId === id) resolve(p.reasonCode ?? 0);
    };
    client.on('packetsend', onSend);
    client.on('packetreceive', onReceive);
  }).finally(() => {
    client.off('packetsend', onSend);
    client.off('packetreceive', onReceive);
  });
  // Refusals also come back as the callback's error: the packet says it all.
  client.publish(topic, payload, opts, () => {});
  return answered;
}

/**
 * What a broker writes into `dir`: the persistent session `keeper`
 * (MQTT 5) subscribed to keep/# at QoS 1 with three QoS 1 messages queued
 * (m0, m1, m2), and a retained message on kept/retained.
 */
async function seed(dir) {
  const broker = await storedBroker(dir);
  try {
    const url = urlOf(broker, 'tcp');
    const sub = await persistent(url, 'keeper');
    await sub.client.subscribeAsync('keep/#', { qos: 1 });
    await endAll(sub.client);
    const pub = await connect(url, { protocolVersion: 5 });
    for (let i = 0; i < 3; i++) await pub.publishAsync('keep/queue', `m${i}`, { qos: 1 });
    await pub.publishAsync('kept/retained', 'kept', { qos: 1, retain: true });
    await endAll(pub);
  } finally {
    await broker.close();
  }
}

/** `keeper`'s session is back with m0, m1, m2 in order, and keep/retained
 *  still holds 'kept'. */
async function assertSeedRestored(url) {
  const keeper = await persistent(url, 'keeper');
  const fresh = await connect(url, { protocolVersion: 5 });
  try {
    assert.equal(keeper.connack.sessionPresent, true, 'the session was restored');
    await keeper.wait(3);
    assert.deepEqual(keeper.got.map((m) => [m.topic, m.payload, m.qos]),
      [['keep/queue', 'm0', 1], ['keep/queue', 'm1', 1], ['keep/queue', 'm2', 1]]);
    const retained = new Promise((resolve) => fresh.once('message', (topic, payload, p) => resolve([topic, payload.toString(), p.retain])));
    await fresh.subscribeAsync('kept/retained', { qos: 1 });
    assert.deepEqual(await within(3000, 'the retained message', retained), ['kept/retained', 'kept', true]);
  } finally {
    await endAll(keeper.client, fresh);
  }
}

/** Runs `fn(db)` on the (closed) broker database in `dir`, better-sqlite3. */
function withDatabase(dir, fn, options = {}) {
  const db = new Database(join(dir, DB_FILE), options);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Mounts a tmpfs of `size` (and mount `options`) on `dir`: null, or why
 *  it cannot (not root, no mount(8)). */
function mountTmpfs(dir, size, ...options) {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', [`size=${size}`, ...options].join(','), 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error) return r.error.message;
  return r.status === 0 ? null : (r.stderr.trim() || `mount exited with status ${r.status}`);
}

function unmount(dir) {
  if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]);
}

/** Fills the file system of `dir` with a file of ours, all but `leave`
 *  bytes: returns its path. */
function fillDisk(dir, leave = 64 * 1024) {
  const { bavail, bsize } = statfsSync(dir);
  const filler = join(dir, 'filler');
  writeFileSync(filler, Buffer.alloc(Math.max(0, bavail * bsize - leave)));
  return filler;
}

/** A promise that resolves once `check()` is true (polled; never rejects),
 *  and `stop()` to stop polling. */
function watchFor(check) {
  let timer;
  const promise = new Promise((resolve) => {
    timer = setInterval(() => {
      if (!check()) return;
      clearInterval(timer);
      resolve(true);
    }, 10);
  });
  return { promise, stop: () => clearInterval(timer) };
}

describe('data directory: refused, naming the path, when it cannot be used', () => {
  test('a directory whose parent is missing too: createBroker rejects with ERR_TABMQ_STORAGE naming it; nothing is created', async () => {
    const dir = join(root, 'no-such-parent', 'data');
    await assert.rejects(storedBroker(dir), (err) => {
      assert.equal(err.code, 'ERR_TABMQ_STORAGE');
      assert.equal(err.name, 'TabmqError');
      assert.ok(err.message.includes(dir), err.message);
      assert.match(err.message, /does not exist, nor does its parent/);
      return true;
    });
    assert.equal(existsSync(join(root, 'no-such-parent')), false);
  });

  test('the CLI with such a --data: exit status 1, the path on stderr', async () => {
    const dir = join(root, 'no-such-parent-cli', 'data');
    const r = await runCli(['--data', dir, '--tcp', '0']);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.stderr.includes(dir), r.stderr);
    assert.match(r.stderr, /^tabmq: data directory .* does not exist/);
    assert.equal(r.stdout, '');
  });

  test('a missing directory whose parent exists is created, with the database in it', async () => {
    const dir = join(freshDir(), 'new');
    const broker = await storedBroker(dir);
    try {
      assert.equal(broker.stats().storage.path, join(dir, DB_FILE));
      assert.equal(existsSync(join(dir, DB_FILE)), true);
    } finally {
      await broker.close();
    }
    const viaCli = join(freshDir(), 'new-cli');
    const cli = await startCli(['--data', viaCli, '--tcp', '0']);
    try {
      assert.equal(existsSync(join(viaCli, DB_FILE)), true);
      await cli.waitFor(/ info storage .*\(strict, schema \d+\): restored 0 records/);
    } finally {
      assert.equal((await cli.stop()).code, 0);
    }
  });

  test('a path that is a regular file is refused: "is not a directory" (createBroker and CLI)', async () => {
    const file = join(freshDir(), 'a-file');
    writeFileSync(file, 'not a directory\n');
    await assert.rejects(storedBroker(file), (err) => {
      assert.equal(err.code, 'ERR_TABMQ_STORAGE');
      assert.equal(err.message, `tabmq: data directory ${file} is not a directory`);
      return true;
    });
    const r = await runCli(['--data', file, '--tcp', '0']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `tabmq: data directory ${file} is not a directory\n`);
  });
  test('a read-only file system: the directory is refused as not writable, a missing one as not creatable (EROFS)', async (t) => {
    const dir = join(root, 'read-only');
    mkdirSync(dir);
    const why = mountTmpfs(dir, '64k', 'ro');
    if (why !== null) {
      t.skip(`cannot mount a read-only tmpfs (needs root and mount(8)): ${why}`);
      return;
    }
    try {
      await assert.rejects(storedBroker(dir), (err) => {
        assert.equal(err.code, 'ERR_TABMQ_STORAGE');
        assert.equal(err.message, `tabmq: data directory ${dir} is not writable (EROFS)`);
        return true;
      });
      const inside = join(dir, 'data');
      await assert.rejects(storedBroker(inside), (err) => {
        assert.equal(err.code, 'ERR_TABMQ_STORAGE');
        assert.equal(err.message, `tabmq: data directory ${inside} cannot be created (EROFS)`);
        return true;
      });
      const r = await runCli(['--data', dir, '--tcp', '0']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `tabmq: data directory ${dir} is not writable (EROFS)\n`);
    } finally {
      unmount(dir);
    }
  });

  test('a tabmq.sqlite that is not a SQLite database is refused with ERR_TABMQ_STORAGE naming it, and left alone', async () => {
    const dir = freshDir();
    const junk = 'not a database, whatever the name says\n'.repeat(50);
    writeFileSync(join(dir, DB_FILE), junk);
    await assert.rejects(storedBroker(dir), (err) => {
      assert.equal(err.code, 'ERR_TABMQ_STORAGE');
      assert.ok(err.message.includes(join(dir, DB_FILE)), err.message);
      assert.match(err.message, /not a database/);
      return true;
    });
    assert.equal(readFileSync(join(dir, DB_FILE), 'utf8'), junk);
  });
});

describe('one broker per data directory', () => {
  test('a second process is refused (CLI exit 1 "in use"; createBroker ERR_TABMQ_STORAGE_LOCKED); after kill -9 the directory opens again with what was acknowledged', async () => {
    const dir = freshDir();
    const first = await startCli(['--data', dir, '--tcp', '0']);
    let firstGone = false;
    try {
      // Something acknowledged (strict: committed) by the first process.
      const sub = await persistent(first.urls.tcp, 'survivor');
      await sub.client.subscribeAsync('survive/#', { qos: 1 });
      await endAll(sub.client);
      const pub = await connect(first.urls.tcp, { protocolVersion: 5 });
      await pub.publishAsync('survive/1', 'acknowledged before kill -9', { qos: 1 });
      await endAll(pub);

      const second = await runCli(['--data', dir, '--tcp', '0']);
      assert.equal(second.code, 1, second.stderr);
      assert.match(second.stderr, /^tabmq: the data directory .* is in use by another tabmq process/);
      assert.ok(second.stderr.includes(dir), second.stderr);
      assert.doesNotMatch(second.stdout, /listening on/);

      await assert.rejects(storedBroker(dir), (err) => {
        assert.equal(err.code, 'ERR_TABMQ_STORAGE_LOCKED');
        assert.ok(err.message.includes(dir), err.message);
        assert.match(err.message, /in use by another tabmq process/);
        return true;
      });

      const killed = await first.stop('SIGKILL');
      firstGone = true;
      assert.equal(killed.signal, 'SIGKILL');
    } finally {
      if (!firstGone) await first.stop('SIGKILL');
    }

    // The OS dropped the lock with the process.
    const broker = await storedBroker(dir);
    try {
      const sub = await persistent(urlOf(broker, 'tcp'), 'survivor');
      try {
        assert.equal(sub.connack.sessionPresent, true);
        await sub.wait(1);
        assert.deepEqual(sub.got.map((m) => [m.topic, m.payload]), [['survive/1', 'acknowledged before kill -9']]);
      } finally {
        await endAll(sub.client);
      }
      // And now this process holds it: the CLI is refused, and so is a
      // second broker in this process (another worker thread).
      await assert.rejects(storedBroker(dir), { code: 'ERR_TABMQ_STORAGE_LOCKED' });
      const cli = await runCli(['--data', dir, '--tcp', '0']);
      assert.equal(cli.code, 1, cli.stderr);
      assert.match(cli.stderr, /in use by another tabmq process/);
    } finally {
      await broker.close();
    }
    // Closed: free again.
    const again = await storedBroker(dir);
    await again.close();
  });
});

describe('records that cannot be read', () => {
  /** A seeded directory with damaged rows added next to the good ones
   *  (the broker is closed: its exclusive lock is gone). */
  async function damagedDir() {
    const dir = freshDir();
    await seed(dir);
    withDatabase(dir, (db) => {
      db.prepare('INSERT INTO sessions (client, r) VALUES (?, ?)').run('junk-session', Buffer.from([0xff, 0x00, 0x13, 0x37, 0x42]));
      db.prepare('INSERT INTO subscriptions (client, filter, r) VALUES (?, ?, ?)').run('keeper', 'junk/#', Buffer.from('\xfe\xfd garbage', 'latin1'));
      // Not even a blob (text in the BLOB column): RowWriter passes it on as
      // an empty record, which the core must skip too.
      db.prepare('INSERT INTO retained (topic, r) VALUES (?, ?)').run('junk/retained', 'this is text, not a record');
      assert.equal(db.prepare('SELECT count(*) FROM sessions').pluck().get(), 2);
    });
    return dir;
  }
  const JUNK = 3;

  test('the good state is restored (queued messages, retained), each bad record is reported ERR_TABMQ_CORRUPT_RECORD and counted in stats().storage.corruptSkipped', async () => {
    const dir = await damagedDir();
    const broker = await storedBroker(dir);
    const warnings = [];
    const errorEvents = [];
    broker.on('warning', (w) => warnings.push(w));
    broker.on('event', (e) => e.type === 'error' && errorEvents.push(e));
    try {
      await until(`${JUNK} ERR_TABMQ_CORRUPT_RECORD warnings (got ${warnings.length})`, () => warnings.length >= JUNK, 3000);
      assert.equal(warnings.length, JUNK);
      for (const w of warnings) {
        assert.equal(w.code, 'ERR_TABMQ_CORRUPT_RECORD');
        assert.equal(w.name, 'TabmqError');
        assert.match(w.message, /skipped a stored record/);
      }
      const tables = warnings.map((w) => w.message.match(/record: (\w+):/)?.[1]).sort();
      assert.deepEqual(tables, ['retained', 'sessions', 'subscriptions']);
      assert.deepEqual(errorEvents.map((e) => e.code), Array(JUNK).fill('ERR_TABMQ_CORRUPT_RECORD'));
      assert.equal(broker.stats().storage.corruptSkipped, JUNK);

      await assertSeedRestored(urlOf(broker, 'tcp'));
      // The junk session was not made up from its bytes; the junk filter
      // did not become one of keeper's subscriptions.
      const clients = broker.inspect().clients;
      assert.equal(clients.some((c) => c.clientId === 'junk-session'), false);
      assert.deepEqual(clients.find((c) => c.clientId === 'keeper').subscriptions, [{ filter: 'keep/#', qos: 1 }]);
    } finally {
      await broker.close();
    }
  });

  test('the CLI logs a line per skipped record', async () => {
    const dir = await damagedDir();
    const cli = await startCli(['--data', dir, '--tcp', '0']);
    try {
      await until('the CLI to log the skipped records', () => (cli.stderr().match(/ error skipped a stored record/g) ?? []).length === JUNK, 5000);
      assert.doesNotMatch(cli.stderr(), /\(node:\d+\)/, 'no raw process warning');
    } finally {
      await cli.stop();
    }
  });

  // Start-up warnings are replayed once createBroker() has resolved, even
  // when listening takes a turn of the event loop (a DNS lookup).
  test('start-up warnings reach a listener attached right after createBroker() resolves, also when listening takes a DNS lookup (tcp.host localhost)', async () => {
    const dir = await damagedDir();
    const lost = [];
    const onProcessWarning = (w) => w.code === 'ERR_TABMQ_CORRUPT_RECORD' && lost.push(w);
    process.on('warning', onProcessWarning);
    const broker = await createBroker({ tcp: { port: 0, host: 'localhost' }, sysInterval: 0, dataDir: dir });
    const warnings = [];
    broker.on('warning', (w) => warnings.push(w));
    try {
      // Either way they are emitted within a turn or two of the loop.
      await until('the start-up warnings to be emitted somewhere', () => warnings.length + lost.length >= JUNK, 3000);
      assert.equal(lost.length, 0, `${lost.length} start-up warning(s) were emitted before createBroker() resolved `
        + '(they went to process.emitWarning, no broker listener could see them)');
      assert.equal(warnings.length, JUNK);
    } finally {
      process.off('warning', onProcessWarning);
      await broker.close();
    }
  });

  test('the CLI with --host localhost still logs the skipped records in its own log', async () => {
    const dir = await damagedDir();
    const cli = await startCli(['--data', dir, '--tcp', '0', '--host', 'localhost']);
    try {
      await until('the skipped records to be reported on stderr', () => /skipped a stored record/.test(cli.stderr()), 5000);
      assert.equal((cli.stderr().match(/ error skipped a stored record/g) ?? []).length, JUNK,
        `the CLI's log lines (stderr: ${cli.stderr().trim()})`);
    } finally {
      await cli.stop();
    }
  });
});

describe('schema versions', () => {
  /** A schema 1 database in a new directory (the six tables, no `meta`,
   *  user_version 1) holding the rows a real broker wrote in `source`. */
  function v1Copy(source) {
    const dir = freshDir();
    withDatabase(dir, (db) => {
      assert.equal(migrate(db, 1), 0);
      db.exec(`ATTACH DATABASE '${join(source, DB_FILE).replaceAll("'", "''")}' AS src`);
      for (const t of TABLES) db.exec(`INSERT INTO main.${t} SELECT * FROM src.${t}`);
      db.exec('DETACH DATABASE src');
      assert.equal(db.pragma('user_version', { simple: true }), 1);
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      assert.deepEqual(tables, [...TABLES].sort());
      assert.ok(db.prepare('SELECT count(*) FROM messages').pluck().get() >= 3);
    });
    return dir;
  }

  test('a schema 1 database with real records is upgraded in place: stats() says from 1 to 2, user_version 2, meta schema row; sessions, queues and retained are there', async () => {
    const source = freshDir();
    await seed(source);
    const dir = v1Copy(source);
    const before = Date.now();
    const broker = await storedBroker(dir);
    try {
      const storage = broker.stats().storage;
      assert.equal(storage.schemaVersion, SCHEMA_VERSION);
      assert.equal(storage.schemaVersion, 2);
      assert.equal(storage.upgradedFrom, 1);
      assert.equal(storage.corruptSkipped, 0);
      const keeper = broker.inspect().clients.find((c) => c.clientId === 'keeper');
      assert.equal(keeper.queued, 3);
      assert.deepEqual(keeper.subscriptions, [{ filter: 'keep/#', qos: 1 }]);
      await assertSeedRestored(urlOf(broker, 'tcp'));
    } finally {
      await broker.close();
    }
    withDatabase(dir, (db) => {
      assert.equal(db.pragma('user_version', { simple: true }), 2);
      const schema = JSON.parse(db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get());
      assert.equal(schema.version, 2);
      assert.equal(schema.upgradedFrom, 1);
      assert.ok(schema.at >= before && schema.at <= Date.now(), `meta.schema.at ${schema.at}`);
    }, { readonly: true });
    // Opened again: nothing more to upgrade.
    const again = await storedBroker(dir);
    try {
      assert.equal(again.stats().storage.schemaVersion, 2);
      assert.equal(again.stats().storage.upgradedFrom, 2);
    } finally {
      await again.close();
    }
  });

  test('the CLI says it upgraded a schema 1 database', async () => {
    const source = freshDir();
    await seed(source);
    const dir = v1Copy(source);
    const cli = await startCli(['--data', dir, '--tcp', '0']);
    try {
      await cli.waitFor(/ info storage .*\(strict, schema 2, upgraded from schema 1\): restored \d+ records/);
    } finally {
      assert.equal((await cli.stop()).code, 0);
    }
  });

  test('a database from a newer tabmq (user_version 99) is refused with ERR_TABMQ_STORAGE naming the version, and left as it was', async () => {
    const dir = freshDir();
    withDatabase(dir, (db) => db.pragma('user_version = 99'));
    await assert.rejects(storedBroker(dir), (err) => {
      assert.equal(err.code, 'ERR_TABMQ_STORAGE');
      assert.ok(err.message.includes(join(dir, DB_FILE)), err.message);
      assert.match(err.message, /schema version is 99, newer than this tabmq's \(2\)/);
      return true;
    });
    const r = await runCli(['--data', dir, '--tcp', '0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^tabmq: cannot open the database .*: its schema version is 99/);
    withDatabase(dir, (db) => {
      assert.equal(db.pragma('user_version', { simple: true }), 99);
      assert.deepEqual(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all(), []);
    }, { readonly: true });
  });
});

describe('maxStoreBytes', () => {
  test('past the limit, QoS 1/2 publishes that would be stored are refused (5.0: PUBACK/PUBREC 0x97 quota exceeded, §3.4.2.1; 3.1.1: connection closed), the rest flows; nothing acknowledged is lost; drained, it accepts again', { timeout: 30_000 }, async () => {
    const dir = freshDir();
    const probe = await storedBroker(dir);
    const emptyBytes = probe.stats().storage.bytes;
    await probe.close();
    assert.ok(emptyBytes > 0);
    const maxStoreBytes = emptyBytes + 8192;
    const broker = await storedBroker(dir, { maxStoreBytes });
    const storageEvents = [];
    broker.on('storage', (e) => storageEvents.push(e));
    const url = urlOf(broker, 'tcp');
    const clients = [];
    try {
      assert.equal(broker.stats().storage.maxStoreBytes, maxStoreBytes);
      assert.equal(broker.stats().storage.full, false);
      const offline = await persistent(url, 'offline-sub');
      await offline.client.subscribeAsync('stored/#', { qos: 1 });
      await endAll(offline.client);
      const live = await connect(url, { protocolVersion: 5, clean: true });
      clients.push(live);
      await live.subscribeAsync('live/#', { qos: 1 });
      const pub = await connect(url, { protocolVersion: 5 });
      clients.push(pub);

      // Fill: each PUBACK leaves after its commit, which updated `full`.
      const acked = [];
      const chunk = 'x'.repeat(1000);
      for (let i = 0; !broker.stats().storage.full; i++) {
        assert.ok(i < 300, `still not full after 300 messages (${broker.stats().storage.bytes} bytes)`);
        const payload = `fill-${i}-${chunk}`;
        assert.equal(await within(5000, `PUBACK of fill ${i}`, publishAck(pub, 'stored/a', payload)), 0);
        acked.push(payload);
      }
      const full = broker.stats().storage;
      assert.ok(full.bytes > maxStoreBytes, `${full.bytes} > ${maxStoreBytes}`);
      assert.deepEqual(storageEvents.map((e) => e.state), ['full']);
      assert.equal(storageEvents[0].bytes, full.bytes);

      // Would be stored (the offline persistent subscription): 0x97.
      assert.equal(await within(5000, 'PUBACK', publishAck(pub, 'stored/a', 'refused q1')), 0x97);
      assert.equal(await within(5000, 'PUBREC', publishAck(pub, 'stored/a', 'refused q2', { qos: 2 })), 0x97);
      // A retained message would be stored too.
      assert.equal(await within(5000, 'PUBACK', publishAck(pub, 'nobody/retained', 'refused retained', { qos: 1, retain: true })), 0x97);
      // Not stored: no subscriber at all (0x10), or only a clean session's.
      assert.equal(await within(5000, 'PUBACK', publishAck(pub, 'nobody/x', 'to nobody')), 0x10);
      const liveGot = [];
      live.on('message', (topic, payload, p) => liveGot.push([topic, payload.toString(), p.qos]));
      assert.equal(await within(5000, 'PUBACK', publishAck(pub, 'live/a', 'online q1')), 0);
      pub.publish('live/b', 'online q0', { qos: 0 });
      await until('the online subscriber\'s messages', () => liveGot.length === 2);
      assert.deepEqual(liveGot, [['live/a', 'online q1', 1], ['live/b', 'online q0', 0]]);

      // 3.1.1 cannot say no: the connection is closed, nothing acknowledged.
      const old = await rawConnect(broker.ports.tcp, 'v311-publisher', 4);
      assert.equal(old.connack.returnCode, 0);
      old.send(packet({ cmd: 'publish', topic: 'stored/a', payload: Buffer.from('3.1.1 q1'), qos: 1, messageId: 7 }, 4));
      await within(5000, 'the 3.1.1 connection to be closed', old.closed);
      assert.deepEqual(old.packets.filter((p) => p.cmd === 'puback'), []);
      assert.equal(broker.stats().storage.full, true);

      // The subscriber gets exactly what was acknowledged, in order; its
      // PUBACKs delete the rows, and the next commit finds room again.
      const sub = await persistent(url, 'offline-sub');
      clients.push(sub.client);
      assert.equal(sub.connack.sessionPresent, true);
      await sub.wait(acked.length);
      assert.deepEqual(sub.got.map((m) => m.payload), acked);
      await until('the store to be under maxStoreBytes again', () => !broker.stats().storage.full, 5000);
      assert.ok(broker.stats().storage.bytes <= maxStoreBytes, `${broker.stats().storage.bytes} <= ${maxStoreBytes}`);
      assert.ok(broker.stats().storage.bytes < full.bytes);
      assert.deepEqual(storageEvents.map((e) => e.state), ['full', 'ok']);

      assert.equal(await within(5000, 'PUBACK', publishAck(pub, 'stored/a', 'accepted again')), 0);
      await sub.wait(acked.length + 1);
      assert.equal(sub.got.at(-1).payload, 'accepted again');
      assert.equal(sub.got.length, acked.length + 1, 'no refused message was delivered');
    } finally {
      await endAll(clients);
      await broker.close();
    }
  });

  /** A directory whose database holds ten 1 KB QoS 1 messages queued for
   *  the offline session `hoarder`: returns { dir, bytes } (bytes: the
   *  database's pages in use, read once it is closed). */
  async function hoard() {
    const dir = freshDir();
    const broker = await storedBroker(dir);
    try {
      const url = urlOf(broker, 'tcp');
      const sub = await persistent(url, 'hoarder');
      await sub.client.subscribeAsync('hoard/#', { qos: 1 });
      await endAll(sub.client);
      const pub = await connect(url, { protocolVersion: 5 });
      for (let i = 0; i < 10; i++) await pub.publishAsync('hoard/a', `${i}-${'z'.repeat(1000)}`, { qos: 1 });
      await endAll(pub);
    } finally {
      await broker.close();
    }
    const db = new Database(join(dir, 'tabmq.sqlite'));
    const [pageSize, pages, free] = ['page_size', 'page_count', 'freelist_count'].map((p) => db.pragma(p, { simple: true }));
    db.close();
    return { dir, bytes: (pages - free) * pageSize };
  }

  test('a database already past maxStoreBytes at start-up is full from the start (0x97), and says so with a storage "full" event', async () => {
    const { dir, bytes } = await hoard();
    const maxStoreBytes = bytes - 4096;
    const broker = await storedBroker(dir, { maxStoreBytes });
    const storageEvents = [];
    broker.on('storage', (e) => storageEvents.push(e));
    const clients = [];
    try {
      assert.equal(broker.stats().storage.full, true);
      const pub = await connect(urlOf(broker, 'tcp'), { protocolVersion: 5 });
      clients.push(pub);
      assert.equal(await within(5000, 'PUBACK', publishAck(pub, 'hoard/a', 'over the limit already')), 0x97);
      assert.equal(await within(5000, 'PUBACK', publishAck(pub, 'elsewhere', 'not stored')), 0x10);
      await until('a storage "full" event for the state found at start-up', () => storageEvents.length > 0, 2000)
        .catch(() => assert.fail('no storage event: the broker is refusing stored QoS 1/2 publishes (stats().storage.full) '
          + 'but never said so with a \'storage\' event'));
      assert.equal(storageEvents[0].state, 'full');
      assert.equal(storageEvents[0].bytes, bytes);
    } finally {
      await endAll(clients);
      await broker.close();
    }
  });

  test('the CLI started with --max-store-bytes below what the database holds logs that it is over the limit', async () => {
    const { dir, bytes } = await hoard();
    const cli = await startCli(['--data', dir, '--tcp', '0', '--max-store-bytes', String(bytes - 4096)]);
    try {
      await until('the CLI to log "over --max-store-bytes"', () => /over --max-store-bytes/.test(cli.stderr()), 2000)
        .catch(() => assert.fail(`the CLI refuses stored QoS 1/2 publishes from the start but does not log why (stderr: ${cli.stderr().trim()})`));
      assert.match(cli.stderr(), new RegExp(` error storage .*: over --max-store-bytes \\(${bytes} bytes stored\\)`));
    } finally {
      await cli.stop();
    }
  });
});

describe('disk full during a commit', () => {

  test('the commit stalls (error ERR_TABMQ_STORAGE "disk is full", storage stalled), its PUBACK is withheld, stored QoS 1 is refused (0x97), the rest is served; space freed: recovered, the ack arrives, everything acknowledged survives a restart', { timeout: 40_000 }, async (t) => {
    const dir = join(root, 'tmpfs');
    mkdirSync(dir);
    const why = mountTmpfs(dir, '1m');
    if (why !== null) {
      t.skip(`cannot mount a tmpfs (needs root and mount(8)): ${why}`);
      return;
    }
    let broker;
    const clients = [];
    try {
      broker = await storedBroker(dir);
      const warnings = [];
      const errorEvents = [];
      const storageEvents = [];
      broker.on('warning', (w) => warnings.push(w));
      broker.on('event', (e) => e.type === 'error' && errorEvents.push(e));
      let onStalled;
      const stalled = new Promise((resolve) => (onStalled = resolve));
      broker.on('storage', (e) => {
        storageEvents.push(e);
        if (e.state === 'stalled') onStalled(e);
      });
      const url = urlOf(broker, 'tcp');
      const offline = await persistent(url, 'disk-sub');
      await offline.client.subscribeAsync('disk/#', { qos: 1 });
      await endAll(offline.client);
      const live = await connect(url, { protocolVersion: 5 });
      clients.push(live);
      await live.subscribeAsync('live/#', { qos: 1 });

      // All but 64 KiB of the tmpfs goes to a file of ours.
      const filler = fillDisk(dir);

      // QoS 1 to the offline session, one at a time, until a commit fails.
      const pub = await connect(url, { protocolVersion: 5 });
      clients.push(pub);
      const acked = [];
      const chunk = 'y'.repeat(1000);
      let withheld;
      let withheldPayload;
      for (let i = 0; withheld === undefined; i++) {
        assert.ok(i < 500, 'the tmpfs never filled up');
        const payload = `disk-${i}-${chunk}`;
        const ack = publishAck(pub, 'disk/a', payload);
        const first = await within(5000, `PUBACK of ${i} or a stalled commit`, Promise.race([ack, stalled.then(() => 'stalled')]));
        if (first === 'stalled') {
          withheld = ack;
          withheldPayload = payload;
        } else {
          assert.equal(first, 0);
          acked.push(payload);
        }
      }
      let withheldCode = null;
      withheld.then((code) => (withheldCode = code));
      assert.ok(acked.length > 0, 'some commits went through before the disk filled');

      assert.equal(warnings.length, 1);
      assert.equal(warnings[0].code, 'ERR_TABMQ_STORAGE');
      assert.match(warnings[0].message, /the disk is full/);
      assert.ok(warnings[0].message.includes(join(dir, DB_FILE)), warnings[0].message);
      assert.deepEqual(errorEvents.map((e) => e.code), ['ERR_TABMQ_STORAGE']);
      assert.deepEqual(storageEvents.map((e) => e.state), ['stalled']);
      const storage = broker.stats().storage;
      assert.equal(storage.full, true);
      assert.match(storage.error, /full/);

      // Refused while stalled: stored QoS 1 (5.0: 0x97), and a 3.1.1 one.
      const other = await connect(url, { protocolVersion: 5 });
      clients.push(other);
      assert.equal(await within(5000, 'PUBACK', publishAck(other, 'disk/a', 'refused while stalled')), 0x97);
      const old = await rawConnect(broker.ports.tcp, 'v311-disk', 4);
      old.send(packet({ cmd: 'publish', topic: 'disk/a', payload: Buffer.from('3.1.1 while stalled'), qos: 1, messageId: 3 }, 4));
      await within(5000, 'the 3.1.1 connection to be closed', old.closed);
      // Served from memory: online delivery, QoS 0 and 1, and new clients.
      const liveGot = [];
      live.on('message', (topic, payload, p) => liveGot.push([topic, payload.toString(), p.qos]));
      assert.equal(await within(5000, 'PUBACK', publishAck(other, 'live/a', 'online q1 while stalled')), 0);
      other.publish('live/b', 'online q0 while stalled', { qos: 0 });
      await until('online delivery while stalled', () => liveGot.length === 2);
      assert.deepEqual(liveGot, [['live/a', 'online q1 while stalled', 1], ['live/b', 'online q0 while stalled', 0]]);
      const late = await connect(url, { protocolVersion: 4 });
      clients.push(late);
      const echo = new Promise((resolve) => late.once('message', (topic, payload) => resolve(payload.toString())));
      await late.subscribeAsync('echo/late', { qos: 0 });
      late.publish('echo/late', 'still serving', { qos: 0 });
      assert.equal(await within(5000, 'an echo on a new connection', echo), 'still serving');
      // All of that came back, the stalled commit's PUBACK did not.
      assert.equal(withheldCode, null, 'the PUBACK of the failed commit is withheld');
      assert.equal(broker.stats().storage.full, true);

      // Space again: the next retry (every second) goes through.
      rmSync(filler);
      assert.equal(await within(10_000, 'the withheld PUBACK', withheld), 0);
      acked.push(withheldPayload);
      await until('a storage recovered event', () => storageEvents.some((e) => e.state === 'recovered'), 5000);
      assert.equal(storageEvents.filter((e) => e.state === 'stalled').length, 1);
      assert.equal(broker.stats().storage.full, false);
      assert.equal(broker.stats().storage.error, undefined);
      assert.equal(await within(5000, 'PUBACK', publishAck(pub, 'disk/a', 'after recovery')), 0);
      acked.push('after recovery');

      await endAll(clients.splice(0));
      await broker.close();
      broker = await storedBroker(dir);
      const sub = await persistent(urlOf(broker, 'tcp'), 'disk-sub');
      clients.push(sub.client);
      assert.equal(sub.connack.sessionPresent, true);
      await sub.wait(acked.length);
      assert.deepEqual(sub.got.map((m) => m.payload), acked);
    } finally {
      await endAll(clients);
      await broker?.close();
      unmount(dir);
    }
  });

  // The last assertion: a stall that ends is not reported as being back
  // under a --max-store-bytes the broker was not given.
  test('the CLI logs a full disk (the error naming the database, stalled, recovered); SIGTERM while stalled still exits and what was acknowledged survives; no word of a --max-store-bytes it was not given', { timeout: 50_000 }, async (t) => {
    const dir = join(root, 'tmpfs-cli');
    mkdirSync(dir);
    const why = mountTmpfs(dir, '1m');
    if (why !== null) {
      t.skip(`cannot mount a tmpfs (needs root and mount(8)): ${why}`);
      return;
    }
    let cli;
    const clients = [];
    try {
      cli = await startCli(['--data', dir, '--tcp', '0']);
      const url = cli.urls.tcp;
      const offline = await persistent(url, 'cli-disk-sub');
      await offline.client.subscribeAsync('cdisk/#', { qos: 1 });
      await endAll(offline.client);
      const pub = await connect(url, { protocolVersion: 5 });
      clients.push(pub);
      const stalls = () => (cli.stderr().match(/ error storage .*: writes are failing; retrying every second/g) ?? []).length;
      const acked = [];
      const chunk = 'c'.repeat(1000);
      /** Publishes to the offline session until the `round`th stall is
       *  logged: returns the PUBACK promise of the publish it caught. */
      const fillUntilStall = async (round) => {
        const stalled = watchFor(() => stalls() >= round);
        try {
          for (let i = 0; ; i++) {
            assert.ok(i < 500, 'the tmpfs never filled up');
            const payload = `round${round}-${i}-${chunk}`;
            const ack = publishAck(pub, 'cdisk/a', payload);
            const first = await within(5000, `PUBACK of ${payload.slice(0, 12)} or a stall`, Promise.race([ack, stalled.promise.then(() => 'stalled')]));
            if (first === 'stalled') return { ack, payload };
            assert.equal(first, 0);
            acked.push(payload);
          }
        } finally {
          stalled.stop();
        }
      };

      let filler = fillDisk(dir);
      const one = await fillUntilStall(1);
      assert.match(cli.stderr(), new RegExp(` error writing the database ${join(dir, DB_FILE)} failed \\(the disk is full\\)`));
      rmSync(filler);
      assert.equal(await within(10_000, 'the withheld PUBACK', one.ack), 0);
      acked.push(one.payload);
      await cli.waitFor(/ info storage .*: writes go through again/);

      // Full again, and stopped while stalled: close() gives up on the
      // commit after a bounded wait, and the process exits.
      filler = fillDisk(dir);
      const two = await fillUntilStall(2);
      const stopped = await cli.stop('SIGTERM', 20_000);
      assert.equal(stopped.code, 0, cli.stderr());
      assert.ok(cli.lines.some((l) => / info stopped$/.test(l)));
      const firstLog = cli.lines.join('\n');
      await endAll(clients.splice(0));
      rmSync(filler);

      cli = await startCli(['--data', dir, '--tcp', '0']);
      const sub = await persistent(cli.urls.tcp, 'cli-disk-sub');
      clients.push(sub.client);
      await sub.wait(acked.length);
      // Everything acknowledged, in order; the last, never acknowledged,
      // may or may not have made it.
      assert.deepEqual(sub.got.slice(0, acked.length).map((m) => m.payload), acked);
      assert.ok(sub.got.length <= acked.length + 1);
      if (sub.got.length > acked.length) assert.equal(sub.got.at(-1).payload, two.payload);

      assert.doesNotMatch(firstLog, /back under --max-store-bytes/,
        'the CLI, which has no --max-store-bytes, logged "back under --max-store-bytes" after the stall ended');
    } finally {
      await endAll(clients);
      await cli?.stop('SIGKILL');
      unmount(dir);
    }
  });
});
