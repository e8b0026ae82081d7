// The tabmq command's limit flags: one per row of the core's limits table
// (resolveLimits), kebab-cased, in --help with their ranges and defaults,
// checked against the table's range, and over --config's `limits`.

import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { endAll, within } from './helpers.mjs';
import { runCli, startCli } from './cli-helpers.mjs';
import { kebab, loadCore } from '../../bin/core.js';

let table;
before(async () => {
  table = (await loadCore()).resolveLimits({});
});

/** Connects with MQTT.js; resolves to [client, CONNACK packet]. */
async function connack(url, opts) {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 4000, ...opts });
  try {
    const [packet] = await within(5000, `MQTT.js to connect to ${url}`, Promise.race([
      once(client, 'connect'),
      once(client, 'error').then(([err]) => Promise.reject(err)),
    ]));
    return [client, packet];
  } catch (err) {
    client.end(true);
    throw err;
  }
}

function configFile(obj) {
  const file = join(mkdtempSync(join(tmpdir(), 'tabmq-cli-limits-')), 'tabmq.json');
  writeFileSync(file, JSON.stringify(obj));
  return file;
}

/** The Server Keep Alive a broker started with `args` gives an MQTT 5 client asking 120 s. */
async function serverKeepAlive(args) {
  const cli = await startCli(['--tcp', '0', '--sys-interval', '0', ...args]);
  let client;
  try {
    let packet;
    [client, packet] = await connack(cli.urls.tcp, { protocolVersion: 5, keepalive: 120, clientId: 'ka' });
    return packet.properties?.serverKeepAlive;
  } finally {
    await endAll(client);
    await cli.stop();
  }
}

describe('limit flags from the core\'s table', () => {
  test('--help lists every limit of the table as a flag, with its range and default', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(table.length >= 13, `the table has ${table.length} rows`);
    for (const l of table) {
      const line = r.stdout.split('\n').findIndex((s) => s.startsWith(`  --${kebab(l.name)} N`));
      assert.ok(line >= 0, `--${kebab(l.name)} is in --help`);
      // The range is on the flag's line or the next.
      const text = r.stdout.split('\n').slice(line, line + 2).join(' ');
      assert.ok(text.includes(`${l.min} to ${l.max}`), `${l.name}'s range in: ${text}`);
      assert.ok(text.includes(`default ${l.value ?? 'none'}`), `${l.name}'s default in: ${text}`);
    }
    assert.match(r.stdout, /--max-keep-alive N, --max-keepalive N/);
  });

  test('--max-packet-size 3: one line naming the flag and its range, exit status 2', async () => {
    const l = table.find((x) => x.name === 'maxPacketSize');
    const r = await runCli(['--max-packet-size', '3']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `tabmq: --max-packet-size must be a whole number from ${l.min} to ${l.max}, got '3' (see tabmq --help)\n`);
    assert.equal(r.stdout, '');
  });

  test('every limit flag refuses a value outside the table\'s range', { timeout: 30_000 }, async () => {
    const cases = table.flatMap((l) => [l.max + 1, ...(l.min > 0 ? [l.min - 1] : [])].map((v) => [l, String(v)]));
    // A few at a time: each is a process that loads the wasm.
    for (let i = 0; i < cases.length; i += 6) {
      await Promise.all(cases.slice(i, i + 6).map(async ([l, value]) => {
        const flag = `--${kebab(l.name)}`;
        const r = await runCli([flag, value]);
        assert.equal(r.code, 2, `${flag} ${value}: ${r.stderr}`);
        assert.equal(r.stderr, `tabmq: ${flag} must be a whole number from ${l.min} to ${l.max}, got '${value}' (see tabmq --help)\n`);
      }));
    }
  });

  test('a limit flag refuses words, fractions and signs', async () => {
    for (const value of ['many', '1.5', '+5', '1e3', '']) {
      const r = await runCli([`--max-inflight=${value}`]);
      assert.equal(r.code, 2, `${value}: ${r.stderr}`);
      assert.match(r.stderr, /^tabmq: --max-inflight must be a whole number from 1 to \d+, got '/);
    }
  });

  test('--max-keepalive 60: an MQTT 5 client asking 120 gets Server Keep Alive 60', { timeout: 20_000 }, async () => {
    assert.equal(await serverKeepAlive(['--max-keepalive', '60']), 60);
  });

  test('--max-keep-alive is the same limit; the last of the two spellings wins', { timeout: 20_000 }, async () => {
    assert.equal(await serverKeepAlive(['--max-keep-alive', '45']), 45);
    assert.equal(await serverKeepAlive(['--max-keep-alive', '45', '--max-keepalive', '50']), 50);
  });

  test('a flag overrides --config\'s limit; the config\'s other limits stay', { timeout: 30_000 }, async () => {
    const file = configFile({ limits: { maxKeepAlive: 30, maxConnections: 1 } });
    assert.equal(await serverKeepAlive(['--config', file]), 30);
    assert.equal(await serverKeepAlive(['--config', file, '--max-keepalive', '60']), 60);
    // maxConnections: 1 from the file still holds next to --max-keepalive.
    const cli = await startCli(['--tcp', '0', '--config', file, '--max-keepalive', '60']);
    const clients = [];
    try {
      clients.push((await connack(cli.urls.tcp, { protocolVersion: 5, clientId: 'one' }))[0]);
      await assert.rejects(connack(cli.urls.tcp, { protocolVersion: 5, clientId: 'two' }), (err) => err.code === 0x97);
    } finally {
      await endAll(clients);
      await cli.stop();
    }
  });

  test('a limit the flag leaves alone keeps its default (no Server Keep Alive without one)', { timeout: 20_000 }, async () => {
    assert.equal(await serverKeepAlive([]), undefined);
  });

  test('a limit out of range in --config: exit status 1 naming it', async () => {
    const r = await runCli(['--config', configFile({ limits: { maxPacketSize: 3 } })]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^tabmq: option `limits\.maxPacketSize` must be a whole number from 64 to/);
  });
});
