// Durable QoS 1 on the Node host: what each durability setting costs a
// publisher. tabmq's command line (the snapshot's bin/tabmq.js) with
// durability memory (no --data), relaxed and strict (--data DIR
// --durability ...), and Mosquitto with `persistence true`, each in a
// process of its own on TCP loopback; the bench's raw generator (MQTT
// 3.1.1) in the bench process.
//
// The consumer is what a real user runs: one persistent subscriber
// (clean session false, QoS 1, `bench/durable/#`) that acknowledges every
// delivery, so every message is stored for a session before its PUBACK
// (under strict) and deleted again when the subscriber acknowledges it.
//
//   online   the subscriber is connected; P publishers (clean sessions)
//            each keep W QoS 1 messages unacknowledged (closed loop: what
//            a refill finds room for leaves in one write), and together
//            stay at most P x W messages ahead of the subscriber, so that
//            the rate is one the broker keeps up end to end; after a
//            warm-up, PUBACKs per second over the measured time, and
//            publish -> PUBACK latency of every message sent in it
//            (p50/p99/max). `unbounded`: without the second limit, as
//            devices that know nothing of the subscriber publish; then
//            PUBACKs/s and deliveries/s can part (the subscriber's queue
//            grows), and nothing waits for the queue to drain afterwards.
//   offline  the subscriber is away: P publishers send N messages, at most
//            W unacknowledged each, all of which queue for its session;
//            msg/s = N / (last PUBACK - first publish), latency of all N.
//            Then the subscriber comes back and the bench counts the queue
//            as it drains (so that one knows every message was kept).
//
// Each target is started once, runs every case in turn, and is stopped;
// its data directory (under os.tmpdir()) goes with it.

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { startBroker, tcpClient, env, freePort, waitForPort } from './suite.mjs';
import { percentile } from '../lib/driver.js';
import { cpuMeter } from '../lib/cpu.mjs';
import { CLI } from '../lib/snapshot.mjs';
import { DISCONNECT } from '../lib/wire.js';

const ONLINE = 'bench/durable';
const OFFLINE = 'bench/queued';
/** A queue limit no run reaches, on both brokers (tabmq's default and
 *  suite.mjs's Mosquitto configuration say 10,000 per session: the offline
 *  and unbounded runs queue more). */
export const MAX_QUEUED = 1_000_000;
/** No PUBACK or delivery for this long: the rest counts as lost. */
const STALL_MS = 5000;

/** What each target promises about an acknowledged QoS 1 message. */
export const PROMISES = {
  memory: 'nothing on disk: a restart loses every session and queued message',
  relaxed: 'SQLite (WAL, synchronous=NORMAL), written by the store\'s worker thread in its next commit; the PUBACK does not wait for it, '
    + 'so until then the message is in memory only (milliseconds while the store keeps up; under a load above what it writes, the commits and '
    + 'that time grow, see the store figures); once written it survives a crash of the process, not of the machine (power loss, kernel panic)',
  strict: 'the PUBACK waits until the commit holding the message is in SQLite with fsync (synchronous=FULL, group commit): '
    + 'survives a power loss',
  mosquitto: 'sessions and messages live in memory; the whole state is written to mosquitto.db every autosave_interval '
    + '(default 1800 s) and at a clean shutdown, never per acknowledgement: a crash or power loss loses everything since the last save',
};

/** The goal for tabmq's strict durability, next to memory, at QoS 1 with
 *  an online persistent subscriber and several publishers' windows in flight. */
export const GOAL = { ratio: 0.7, p99Ms: 20 };

export const TARGETS = [
  { kind: 'tabmq', durability: 'memory' },
  { kind: 'tabmq', durability: 'relaxed' },
  { kind: 'tabmq', durability: 'strict' },
  { kind: 'mosquitto', durability: 'persistent' },
];

export function targetName(t) {
  return t.kind === 'mosquitto' ? 'Mosquitto (persistence true)' : `tabmq ${t.durability}`;
}

export function caseLabel(c, short = false) {
  if (short) return `${c.mode}, ${c.publishers} × ${c.window}${c.unbounded ? ', unbounded' : ''}`;
  return `${c.mode}, ${c.publishers} × ${c.window} in flight${c.unbounded ? ', not held back by the subscriber' : ''}`;
}

/** The cases: online (the goal's case first), offline, and, last (its
 *  backlog is left to the broker's shutdown), online unbounded. */
export function durableCases({ offline = [20_000, 5000], unbounded = true } = {}) {
  return [
    { mode: 'online', publishers: 4, window: 100 },
    { mode: 'online', publishers: 1, window: 5 },
    { mode: 'offline', publishers: 4, window: 100, messages: offline[0] },
    { mode: 'offline', publishers: 1, window: 5, messages: offline[1] },
    ...(unbounded ? [{ mode: 'online', publishers: 4, window: 100, unbounded: true }] : []),
  ];
}

// What a run that fails (an exception, process.exit) would leave behind:
// its data directories and the CLI children.
const leftovers = { dirs: new Set(), children: new Set() };
process.on('exit', () => {
  for (const child of leftovers.children) child.kill('SIGKILL');
  for (const dir of leftovers.dirs) rmSync(dir, { recursive: true, force: true });
});

/** Bytes of the files in `dir` (not recursive). */
function dirBytes(dir) {
  let n = 0;
  try {
    for (const f of readdirSync(dir)) n += statSync(join(dir, f)).size;
  } catch {
    return null;
  }
  return n;
}

/** tabmq's command line on a free port of 127.0.0.1; { port, pid, stop() }. */
async function startCli(durability, dataDir) {
  const port = await freePort();
  const args = [CLI, '--tcp', String(port), '--host', '127.0.0.1', '--log', 'error', '--sys-interval', '0',
    '--max-queued-messages', String(MAX_QUEUED)];
  if (durability !== 'memory') args.push('--data', dataDir, '--durability', durability);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  leftovers.children.add(child);
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d) => {
    err += d;
    process.stderr.write(`tabmq ${durability}: ${d}`);
  });
  const exited = new Promise((ok) => child.once('exit', ok)).then((code) => {
    leftovers.children.delete(child);
    return code;
  });
  try {
    await Promise.race([waitForPort(port), exited.then((code) => { throw new Error(`tabmq exited (${code}): ${err}`); })]);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    port,
    pid: child.pid,
    // SIGTERM: the CLI closes the broker (the last commit, a checkpoint).
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.race([exited, env.sleep(10_000).then(() => child.kill('SIGKILL'))]);
    },
  };
}

/** Sends DISCONNECT, waits a moment for the broker to take it, closes. */
async function leave(client) {
  client.transport.send(DISCONNECT);
  await env.sleep(50);
  client.close();
}

/** A clean-session-false QoS 1 subscriber (it acknowledges every
 *  delivery), counting deliveries from the CONNACK on: a resumed session's
 *  queue comes right after it. `filter`: null when resuming. */
async function persistentSubscriber(port, id, filter) {
  const c = await tcpClient(port);
  c.count = 0;
  c.last = 0;
  c.onDelivery = () => {
    c.count++;
    c.last = env.now();
  };
  await c.connect(id, { clean: false });
  if (filter) await c.subscribe([filter], 1);
  return c;
}

/**
 * A closed-loop QoS 1 publisher: at most `window` unacknowledged, up to
 * `limit` messages, and no more at a time than `room()` allows; each PUBACK
 * (they come in the order of the PUBLISHes, [MQTT-4.6.0-2]) is timed from
 * its message's write. `rec(sentAt, now)` hears every acknowledgement;
 * `refill()` sends what there is room for.
 */
async function closedLoopPublisher(port, id, topic, { window, size, limit = Infinity, room = () => Infinity }, rec) {
  const c = await tcpClient(port);
  await c.connect(id, { clean: true });
  const pub = c.publisher(topic, 1, size);
  pub.batch = true;
  const sentAt = new Float64Array(1 << 16);
  const mask = sentAt.length - 1;
  const p = { client: c, sent: 0, acked: 0, running: false };
  const refill = () => {
    if (!p.running) return;
    const k = Math.min(window - (p.sent - p.acked), limit - p.sent, room());
    if (k <= 0) return;
    const now = env.now();
    for (let i = 0; i < k; i++) sentAt[(p.sent + i) & mask] = now;
    p.sent += k;
    pub.publish(k);
  };
  c.afterData = () => {
    const now = env.now();
    while (p.acked < c.pubacks) {
      rec(sentAt[p.acked & mask], now);
      p.acked++;
    }
    refill();
  };
  p.start = () => {
    p.running = true;
    refill();
  };
  p.refill = refill;
  return p;
}

/** Waits until `done()` or nothing moved (`progress()` unchanged) for STALL_MS. */
async function settle(done, progress) {
  let seen = progress();
  let since = env.now();
  while (!done()) {
    await env.sleep(5);
    const now = progress();
    if (now !== seen) {
      seen = now;
      since = env.now();
    } else if (env.now() - since > STALL_MS) return false;
  }
  return true;
}

function latencies(samples) {
  const s = Float64Array.from(samples).sort();
  return { samples: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s.length ? s[s.length - 1] : null };
}

/** stats().storage's counters between two snapshots, per commit and per
 *  second; the commit-time percentiles are the store's (its last 1024
 *  commits). */
function storageDelta(a, b, seconds, messages) {
  if (!a || !b) return null;
  const commits = b.commits - a.commits;
  const ops = b.opsWritten - a.opsWritten;
  return {
    commits,
    commitsPerSec: commits / seconds,
    opsPerCommit: commits ? ops / commits : null,
    messagesPerCommit: commits ? messages / commits : null,
    opsPerMessage: messages ? ops / messages : null,
    bytesPerMessage: messages ? (b.bytesWritten - a.bytesWritten) / messages : null,
    commitMsP50: b.commitMsP50,
    commitMsP99: b.commitMsP99,
    compactions: b.compactions - a.compactions,
  };
}

/**
 * Starts one target and its two persistent sessions (online: connected;
 * offline: subscribed, then disconnected). Resolves to { run(case, timing),
 * close() }. With `child`, tabmq runs in bench/node/broker-child.mjs
 * (createBroker with the CLI's options, in a process of its own) instead
 * of the command line, and each run also reports stats().storage's
 * figures (`storage`): the command line cannot be asked for them.
 */
export async function openTarget(target, { size = 16, child = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tabmq-bench-durable-'));
  leftovers.dirs.add(dir);
  const dataDir = join(dir, 'data');
  let broker;
  try {
    if (target.kind === 'mosquitto') {
      // Lines appended to suite.mjs's config: the later setting wins.
      broker = await startBroker('mosquitto', {
        options: [
          'persistence true',
          `persistence_location ${dir}/`,
          `max_queued_messages ${MAX_QUEUED}`,
          // Started as root, Mosquitto switches to the user 'mosquitto',
          // which cannot write the temp dir: stay who we are.
          process.getuid?.() === 0 ? `user ${userInfo().username}` : '',
        ],
      });
    } else if (child) {
      const storage = target.durability === 'memory' ? {} : { dataDir, durability: target.durability };
      broker = await startBroker('tabmq', { options: { ...storage, sysInterval: 0, limits: { maxQueuedMessages: MAX_QUEUED } } });
    } else {
      broker = await startCli(target.durability, dataDir);
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    leftovers.dirs.delete(dir);
    throw err;
  }
  const { port } = broker;
  const roots = { broker: broker.pid, generator: () => [process.pid] };
  let online;
  let runs = 0;
  try {
    online = await persistentSubscriber(port, 'durable-online', `${ONLINE}/#`);
    await leave(await persistentSubscriber(port, 'durable-offline', `${OFFLINE}/#`));
  } catch (err) {
    online?.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
    leftovers.dirs.delete(dir);
    throw err;
  }

  async function publishers(c, topic, tag, rec, room) {
    const out = [];
    for (let i = 0; i < c.publishers; i++) {
      const limit = c.messages ? Math.ceil(c.messages / c.publishers) : Infinity;
      out.push(await closedLoopPublisher(port, `dpub-${i}-${tag}`, `${topic}/${i}`, { window: c.window, size, limit, room }, rec));
    }
    return out;
  }

  /** stats().storage (tabmq in broker-child.mjs with a data directory), or null. */
  const storageStats = async () => (broker.request && target.durability !== 'memory' ? (await broker.request('stats')).storage : null);
  const acked = (pubs) => pubs.reduce((n, p) => n + p.acked, 0);
  const sent = (pubs) => pubs.reduce((n, p) => n + p.sent, 0);

  async function runOnline(c, timing) {
    const tag = `on-${runs++}`;
    let from = Infinity;
    let to = Infinity;
    let ackedIn = 0;
    const lat = [];
    const d0 = online.count;
    // Unless the case says `unbounded`, the publishers together stay at most
    // their total window ahead of the subscriber: a broker that acknowledges
    // faster than it delivers would otherwise grow the subscriber's queue
    // for as long as the run lasts, and PUBACKs/s would not be a rate it
    // can keep up.
    const bound = c.unbounded ? Infinity : c.publishers * c.window;
    let pubs = [];
    const room = () => bound - (sent(pubs) - (online.count - d0));
    pubs = await publishers(c, ONLINE, tag, (t0, now) => {
      if (t0 >= from && t0 < to) lat.push(now - t0);
      if (now >= from && now < to) ackedIn++;
    }, room);
    if (!c.unbounded) {
      online.afterData = () => {
        for (const p of pubs) p.refill();
      };
    }
    for (const p of pubs) p.start();
    await env.sleep(timing.warmupMs);
    const stats0 = await storageStats();
    const meter = cpuMeter(roots);
    from = env.now();
    const delivered0 = online.count;
    const slices = [];
    let a = 0;
    let t = from;
    for (let i = 0; i < 3; i++) {
      await env.sleep(timing.measureMs / 3);
      const now = env.now();
      slices.push(((ackedIn - a) / (now - t)) * 1000);
      a = ackedIn;
      t = now;
    }
    to = env.now();
    const cpu = meter.stop();
    const stats1 = await storageStats();
    const delivered = online.count - delivered0;
    const behind = sent(pubs) - (online.count - d0);
    for (const p of pubs) p.running = false;
    online.afterData = undefined;
    const allAcked = await settle(() => acked(pubs) >= sent(pubs), () => acked(pubs));
    const total = sent(pubs);
    // The subscriber's backlog after an unbounded run can take minutes to
    // drain: that case runs last, and nothing waits for it.
    if (!c.unbounded) await settle(() => online.count - d0 >= total, () => online.count);
    for (const p of pubs) await leave(p.client);
    const seconds = (to - from) / 1000;
    return {
      perSec: ackedIn / seconds,
      deliveredPerSec: delivered / seconds,
      // How far the subscriber was behind the publishers at the end.
      behind,
      sliceRates: slices.map(Math.round),
      seconds,
      lat: latencies(lat),
      sent: total,
      unacked: allAcked ? 0 : total - acked(pubs),
      lost: c.unbounded ? null : Math.max(0, total - (online.count - d0)),
      cpu,
      storage: storageDelta(stats0, stats1, seconds, ackedIn),
    };
  }

  async function runOffline(c) {
    const tag = `off-${runs++}`;
    const lat = [];
    let last = 0;
    const pubs = await publishers(c, OFFLINE, tag, (t0, now) => {
      lat.push(now - t0);
      last = now;
    });
    const stats0 = await storageStats();
    const meter = cpuMeter(roots);
    const t0 = env.now();
    for (const p of pubs) p.start();
    const total = c.publishers * Math.ceil(c.messages / c.publishers);
    const allAcked = await settle(() => acked(pubs) >= total, () => acked(pubs));
    const cpu = meter.stop();
    const stats1 = await storageStats();
    const ms = last - t0;
    for (const p of pubs) await leave(p.client);
    // The subscriber comes back for what was queued.
    const d0 = env.now();
    const sub = await persistentSubscriber(port, 'durable-offline', null);
    await settle(() => sub.count >= total, () => sub.count);
    const drained = sub.count;
    const lastDelivery = sub.last || d0;
    await leave(sub);
    return {
      perSec: (acked(pubs) / ms) * 1000,
      seconds: ms / 1000,
      lat: latencies(lat),
      sent: total,
      unacked: allAcked ? 0 : total - acked(pubs),
      drain: { delivered: drained, ms: lastDelivery - d0, perSec: (drained / (lastDelivery - d0)) * 1000 },
      lost: Math.max(0, total - drained),
      cpu,
      storage: storageDelta(stats0, stats1, ms / 1000, acked(pubs)),
    };
  }

  return {
    port,
    pid: broker.pid,
    run: (c, timing) => (c.mode === 'online' ? runOnline(c, timing) : runOffline(c)),
    /** Stops the broker; resolves to the bytes its data files held then. */
    close: async () => {
      online.close();
      await broker.stop();
      const bytes = target.kind === 'mosquitto' ? dirBytes(dir) : target.durability === 'memory' ? null : dirBytes(dataDir);
      rmSync(dir, { recursive: true, force: true });
      leftovers.dirs.delete(dir);
      return { storedBytes: bytes };
    },
  };
}
