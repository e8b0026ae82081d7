// Load: 1,000 MQTT.js connections held by one broker (the CLI, in its own
// process, so its memory can be measured) and all served; then 100
// connections flooding malformed bytes while well-behaved clients go on.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { collect, connect, endAll, rawClient, testBroker, until, urlOf, within } from './helpers.mjs';
import { startCli } from './cli-helpers.mjs';

const CONNECTIONS = 1000;

/** VmRSS and VmHWM (peak) of a process, in MiB. */
function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

function openFileLimit() {
  try {
    return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  } catch {
    return Infinity;
  }
}

/** A deterministic stream of pseudo-random bytes (xorshift32). */
function garbage(seed, length) {
  let x = seed || 1;
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe(`${CONNECTIONS} concurrent connections`, { skip: openFileLimit() < 2 * CONNECTIONS + 200 && `ulimit -n is below ${2 * CONNECTIONS + 200}` }, () => {
  let cli;
  const clients = [];
  before(async () => {
    cli = await startCli(['--tcp', '0', '--ws', '0', '--sys-interval', '0', '--log', 'info']);
  });
  after(async () => {
    await endAll(clients);
    await cli?.stop();
  });

  test(`${CONNECTIONS} MQTT.js clients (half TCP, half WebSocket; 3.1.1 and 5.0) connect and subscribe, and every one gets the message`, { timeout: 60_000 }, async (t) => {
    const url = cli.urls.tcp;
    const idle = memory(cli.pid);
    const started = performance.now();
    const BATCH = 100;
    for (let i = 0; i < CONNECTIONS; i += BATCH) {
      const batch = await Promise.all(Array.from({ length: BATCH }, (_, j) =>
        connect(j % 2 ? cli.urls.ws : cli.urls.tcp, { protocolVersion: j % 4 < 2 ? 5 : 4, clientId: `load-${i + j}`, keepalive: 0 })));
      await Promise.all(batch.map((c) => c.subscribeAsync('load/all', { qos: 1 })));
      clients.push(...batch);
    }
    const connectMs = performance.now() - started;
    const held = memory(cli.pid);

    const received = clients.map((c) => collect(c, 1, 20_000, 'the fan-out message'));
    const pub = await connect(url, { protocolVersion: 5, clientId: 'load-pub' });
    const sent = performance.now();
    await pub.publishAsync('load/all', 'to everyone', { qos: 1 });
    const got = await Promise.all(received);
    const deliverMs = performance.now() - sent;
    await endAll(pub);
    assert.equal(got.length, CONNECTIONS);
    assert.ok(got.every(([m]) => m.payload === 'to everyone' && m.qos === 1));
    assert.equal(cli.lines.filter((l) => / info connected load-\d+ /.test(l)).length, CONNECTIONS, 'one log line per connect');

    const after = memory(cli.pid);
    const perConn = ((held.rss - idle.rss) * 1024) / CONNECTIONS;
    t.diagnostic(`connect + subscribe ${CONNECTIONS} clients: ${connectMs.toFixed(0)} ms; `
      + `one QoS 1 message to all: ${deliverMs.toFixed(0)} ms`);
    t.diagnostic(`broker RSS: idle ${idle.rss.toFixed(1)} MiB, ${CONNECTIONS} connections ${held.rss.toFixed(1)} MiB `
      + `(~${perConn.toFixed(1)} KiB each), after delivery ${after.rss.toFixed(1)} MiB, peak ${after.peak.toFixed(1)} MiB`);
  });
});

describe('malformed flood', () => {
  test('100 connections sending garbage are closed; well-behaved clients are served throughout', { timeout: 30_000 }, async () => {
    // Noise that frames a packet longer than what follows keeps the core
    // waiting for the rest: the connect timeout (before CONNECT) and the
    // keep alive (after it) end those connections.
    const broker = await testBroker({ ws: undefined, limits: { connectTimeout: 1000 } });
    const good = [];
    try {
      const url = urlOf(broker, 'tcp');
      for (let i = 0; i < 10; i++) good.push(await connect(url, { protocolVersion: i % 2 ? 5 : 4, clientId: `good-${i}` }));
      for (const c of good) await c.subscribeAsync('good/#', { qos: 1 });

      const bad = await Promise.all(Array.from({ length: 100 }, () => rawClient(broker.ports.tcp)));
      const allClosed = Promise.all(bad.map((b) => b.closed));
      // Each sends 64 KiB of noise in 4 KiB writes: a quarter after a real
      // CONNECT (3.1.1, keep alive 1 s), a quarter starting with a CONNECT byte.
      const flood = bad.map(async (b, i) => {
        if (i % 4 === 0) b.send(Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x01, 0x00, 0x00]));
        const noise = garbage(i + 1, 64 * 1024);
        if (i % 4 === 1) noise[0] = 0x10;
        for (let off = 0; off < noise.length && !b.socket.destroyed; off += 4096) {
          b.send(noise.subarray(off, off + 4096));
          await new Promise((r) => setImmediate(r));
        }
      });
      // Meanwhile the good clients keep talking.
      const rounds = 20;
      const got = good.map((c) => collect(c, rounds * good.length, 20_000, 'every good message'));
      for (let r = 0; r < rounds; r++) {
        await Promise.all(good.map((c, i) => c.publishAsync(`good/${i}`, `r${r}`, { qos: 1 })));
      }
      await Promise.all(flood);
      const msgs = await Promise.all(got);
      for (const m of msgs) assert.equal(m.length, rounds * good.length);
      await within(15_000, 'every garbage connection to be closed by the broker', allClosed);
      const s = await until('only the good clients to be left', () => {
        const st = broker.stats();
        return st.sockets === good.length && st;
      });
      assert.equal(s.connections, good.length);
    } finally {
      await endAll(good);
      await broker.close();
    }
  });
});
