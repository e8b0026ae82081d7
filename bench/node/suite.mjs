// The Node comparison: tabmq's Node host, Aedes and Mosquitto on TCP
// loopback, each in a process of its own, all driven by the same load
// generator (bench/lib/rawclient.js over node:net) in the bench process.
// With 2 cores, the broker gets one and the generator the other; the CPU
// each used is recorded next to every number.

import net from 'node:net';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Driver } from '../lib/driver.js';
import { RawClient } from '../lib/rawclient.js';
import { topology, latencyRate } from '../lib/scenarios.mjs';
import { cpuMeter } from '../lib/cpu.mjs';

const CHILD = fileURLToPath(new URL('./broker-child.mjs', import.meta.url));
const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'];

export const env = {
  now: () => performance.now(),
  defer: (fn) => setImmediate(fn),
  pace: (fn) => setTimeout(fn, 1),
  sleep: (ms) => new Promise((ok) => setTimeout(ok, ms)),
};

export function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

export async function waitForPort(port, ms = 10_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const ok = await new Promise((res) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        res(true);
      });
      s.once('error', () => res(false));
    });
    if (ok) return;
    await env.sleep(50);
  }
  throw new Error(`nothing listening on 127.0.0.1:${port} after ${ms} ms`);
}

export function mosquittoPath() {
  for (const p of MOSQUITTO) {
    try {
      execFileSync(p, ['-h'], { stdio: 'ignore' });
    } catch (err) {
      if (err.code === 'ENOENT') continue;
    }
    return p;
  }
  return null;
}

export function brokerVersions() {
  const out = {};
  const m = mosquittoPath();
  if (m) {
    try {
      execFileSync(m, ['-h'], { encoding: 'utf8' });
    } catch (err) {
      out.mosquitto = String(err.stdout ?? '').split('\n')[0].replace(/^mosquitto version /, '');
    }
  }
  return out;
}

/**
 * Starts a broker; resolves to { port, pid, stop() }. For tabmq also
 * `request(op, name?)` (stats, pauseBridge, resumeBridge: see
 * broker-child.mjs) and `onEvent` (set it to hear the child's 'bridge'
 * events). `options`: for tabmq, merged into its createBroker options;
 * for Mosquitto, lines appended to its configuration.
 */
export async function startBroker(kind, { cpuProf, options } = {}) {
  if (kind === 'mosquitto') {
    const bin = mosquittoPath();
    if (!bin) throw new Error('mosquitto is not installed (apt-get install -y mosquitto)');
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'tabmq-bench-mosquitto-'));
    const conf = join(dir, 'mosquitto.conf');
    // Defaults, except: max_queued_messages as tabmq's default (10,000),
    // so that no broker drops QoS 1 messages the bench's window lets
    // through; and no limit on in-flight QoS 1 messages, because the
    // inflight quota of Mosquitto 2.0.11 (Debian 12) stalls: messages it
    // acknowledged stay queued, undelivered, for good (fixes to the quota
    // came in 2.0.13; measured here: ~480 of a 500-message window stuck).
    writeFileSync(conf, [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'set_tcp_nodelay true',
      'max_inflight_messages 0',
      'max_queued_messages 10000',
      'log_dest none',
      ...(Array.isArray(options) ? options : []),
      '',
    ].join('\n'));
    const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise((ok) => child.once('exit', ok));
    try {
      await Promise.race([waitForPort(port), exited.then(() => { throw new Error(`mosquitto exited: ${err}`); })]);
    } catch (e) {
      child.kill('SIGKILL');
      throw e;
    }
    return {
      port,
      pid: child.pid,
      stop: async () => {
        process.kill(child.pid, 'SIGTERM');
        await Promise.race([exited, env.sleep(3000).then(() => child.kill('SIGKILL'))]);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const args = [];
  if (cpuProf) args.push('--cpu-prof', `--cpu-prof-dir=${cpuProf}`);
  const childArgs = [CHILD, kind];
  if (options) childArgs.push(JSON.stringify(options));
  const child = spawn(process.execPath, [...args, ...childArgs], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((ok) => child.once('exit', ok));
  const replies = new Map();
  let nextId = 1;
  const handle = {
    port: 0,
    pid: child.pid,
    onEvent: () => {},
    /** One request to the child (tabmq only); resolves to its result. */
    request: (op, name) => new Promise((ok, fail) => {
      const id = nextId++;
      replies.set(id, { ok, fail });
      child.stdin.write(`${JSON.stringify({ id, op, name })}\n`);
    }),
    stop: async () => {
      child.stdin.end();
      await Promise.race([exited, env.sleep(5000).then(() => child.kill('SIGKILL'))]);
    },
  };
  handle.port = await new Promise((ok, fail) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        let msg;
        try {
          msg = JSON.parse(line);
        } catch {
          process.stderr.write(`${kind} broker: ${line}\n`);
          continue;
        }
        if (msg.port !== undefined) ok(msg.port);
        else if (msg.event) handle.onEvent(msg);
        else if (replies.has(msg.id)) {
          const r = replies.get(msg.id);
          replies.delete(msg.id);
          if (msg.error) r.fail(new Error(msg.error));
          else r.ok(msg.result);
        }
      }
    });
    child.once('exit', (code) => {
      fail(new Error(`${kind} broker exited with ${code}`));
      for (const r of replies.values()) r.fail(new Error(`${kind} broker exited with ${code}`));
      replies.clear();
    });
  });
  return handle;
}

/** A RawClient on a TCP connection to 127.0.0.1:port; `client.afterData`,
 *  when set, is called after each chunk the client has read. */
export function tcpClient(port) {
  return new Promise((ok, fail) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.once('error', fail);
    socket.once('connect', () => {
      socket.off('error', fail);
      socket.on('error', () => {});
      const client = new RawClient({ send: (u8) => socket.write(u8) }, env.now);
      socket.on('data', (d) => {
        client.data(d);
        client.afterData?.();
      });
      client.close = () => socket.destroy();
      ok(client);
    });
  });
}

/** Connects a scenario's clients to `port`; returns { driver, close }. */
async function connectScenario(port, sc, tag) {
  const topo = topology(sc.topology, sc.n);
  const clients = [];
  let driver;
  const deliver = (ts) => driver.onDelivery(ts);
  for (let i = 0; i < topo.subs.length; i++) {
    const c = await tcpClient(port);
    clients.push(c);
    c.onDelivery = deliver;
    await c.connect(`s${i}-${tag}`, { clean: true });
    await c.subscribe(topo.subs[i], sc.qos);
  }
  const pubs = [];
  for (let i = 0; i < topo.pubs.length; i++) {
    const c = await tcpClient(port);
    clients.push(c);
    await c.connect(`p${i}-${tag}`, { clean: true });
    pubs.push(c.publisher(topo.pubs[i], sc.qos, sc.size));
  }
  driver = new Driver(env, pubs, topo.factor);
  return { driver, pubs, close: () => clients.forEach((c) => c.close()) };
}

/**
 * One broker, one scenario: saturation with one write per packet, then
 * pipelined (what a publisher sends in one turn of the loop in one write),
 * then latency at a fixed rate.
 */
export async function runNodeScenario(kind, sc, timing, { cpuProf } = {}) {
  const broker = await startBroker(kind, { cpuProf });
  try {
    const tag = `${kind}-${Date.now()}`;
    const { driver, pubs, close } = await connectScenario(broker.port, sc, tag);
    const roots = { broker: broker.pid, generator: () => [process.pid] };
    for (const p of pubs) p.batch = false;
    let meter = cpuMeter(roots);
    const sat = await driver.saturate({ window: sc.window, warmupMs: timing.warmupMs, measureMs: timing.measureMs });
    const cpu = meter.stop();
    let satBatched = null;
    let cpuBatched = null;
    if (!timing.skipBatched) {
      for (const p of pubs) p.batch = true;
      meter = cpuMeter(roots);
      satBatched = await driver.saturate({ window: sc.window, warmupMs: timing.warmupMs, measureMs: timing.measureMs });
      cpuBatched = meter.stop();
    }
    for (const p of pubs) p.batch = false;
    const rate = latencyRate(sat.deliveredPerSec);
    let lat = null;
    if (!timing.skipLatency) {
      lat = await driver.latency({ rate: rate.rate, warmupMs: timing.warmupMs, measureMs: timing.latencyMs });
      lat.rateNote = rate.note;
    }
    close();
    return { sat, cpu, satBatched, cpuBatched, lat };
  } finally {
    await broker.stop();
  }
}
