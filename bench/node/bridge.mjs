// Bridges on the Node host, TCP loopback: what a bridge costs next to a
// direct connection, and how fast its queue drains after an outage.
//
// Three processes: the remote broker (Mosquitto, or another tabmq Node
// broker), the local tabmq broker whose bridge carries `bench/bridge/#` out
// to the remote at QoS 1 (each broker in a process of its own, as in
// suite.mjs), and the bench process with the raw generator's publisher and
// subscriber (MQTT 3.1.1, QoS 1; the subscriber always on the remote).
//
//   throughput  the publisher sends N QoS 1 messages, at most `window`
//               unacknowledged at a time, either to the remote itself
//               (direct: publisher -> remote -> subscriber) or to the local
//               broker (bridged: publisher -> local -> bridge -> remote ->
//               subscriber); msgs/s end to end = N / (last delivery - first
//               publish). Direct and bridged runs alternate, `reps` each.
//   drain       bridge paused, N QoS 1 messages published to the local
//               broker (all acknowledged: they queue in the bridge's
//               session), subscriber started on the remote, bridge resumed:
//               the time from resumeBridge until the subscriber has all N.

import { startBroker, tcpClient, env } from './suite.mjs';
import { cpuMeter } from '../lib/cpu.mjs';

const NAME = 'bench';
const TOPIC = 'bench/bridge/t';
const FILTER = 'bench/bridge/#';
// Far above what a run queues: a publisher acknowledged at once can run
// ahead of the bridge (or of a remote subscriber) by up to N messages, and
// the default 10,000 would refuse (bridge queue) or drop (subscriber) some.
const LIMITS = { maxQueuedMessages: 1_000_000 };
/** No delivery for this long: the rest counts as lost. */
const STALL_MS = 10_000;

/** Below this much measured time, CPU per message is not reported: /proc
 *  counts 10 ms ticks. */
const MIN_CPU_SECONDS = 0.25;

/** CPU µs per message of each process (cores × seconds / messages). */
function usPerMsg(cpu, messages) {
  const out = {};
  const ok = messages > 0 && cpu.seconds >= MIN_CPU_SECONDS;
  for (const [k, cores] of Object.entries(cpu.cores)) if (k !== 'other') out[k] = ok ? (cores * cpu.seconds * 1e6) / messages : null;
  return out;
}

function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

async function bridgeView(local) {
  const s = await local.request('stats');
  return s.bridges.find((b) => b.name === NAME);
}

async function waitState(local, state, ms = 15_000) {
  const until = Date.now() + ms;
  for (;;) {
    const b = await bridgeView(local);
    if (b.state === state) return b;
    if (Date.now() > until) throw new Error(`bridge still '${b.state}' after ${ms} ms, not '${state}' (${b.lastError ?? 'no error'})`);
    await env.sleep(20);
  }
}

/** A remote broker and a local tabmq broker bridged out to it, connected. */
async function startPair(remoteKind, remoteConfig, localLimits) {
  const remote = await startBroker(remoteKind, { options: remoteKind === 'tabmq' ? { limits: LIMITS } : remoteConfig });
  let local;
  try {
    local = await startBroker('tabmq', {
      options: {
        limits: { ...LIMITS, ...localLimits },
        bridges: [{
          name: NAME,
          url: `mqtt://127.0.0.1:${remote.port}`,
          out: [{ filter: FILTER, qos: 1 }],
          reconnect: { minDelay: 100, maxDelay: 1000 },
        }],
      },
    });
    await waitState(local, 'connected');
  } catch (err) {
    await local?.stop();
    await remote.stop();
    throw err;
  }
  return {
    remote,
    local,
    roots: { remote: remote.pid, local: local.pid, generator: () => [process.pid] },
    stop: async () => {
      await local.stop();
      await remote.stop();
    },
  };
}

async function subscriber(port, tag) {
  const c = await tcpClient(port);
  await c.connect(`bsub-${tag}`, { clean: true });
  await c.subscribe([FILTER], 1);
  c.count = 0;
  c.last = 0;
  c.onDelivery = () => {
    c.count++;
    c.last = env.now();
  };
  return c;
}

/**
 * Publishes `n` QoS 1 messages on a new connection to `port`, keeping at
 * most `window` unacknowledged; what a refill finds room for leaves in one
 * write. Resolves to the connected client; `start()` starts publishing,
 * and `acked` resolves to the time the last PUBACK came.
 */
async function publisher(port, tag, { n, window, size }) {
  const c = await tcpClient(port);
  await c.connect(`bpub-${tag}`, { clean: true });
  const pub = c.publisher(TOPIC, 1, size);
  pub.batch = true;
  let sent = 0;
  let allAcked;
  c.acked = new Promise((ok) => (allAcked = ok));
  const refill = () => {
    const k = Math.min(window - (sent - c.pubacks), n - sent);
    if (k > 0) {
      sent += k;
      pub.publish(k);
    }
    if (c.pubacks >= n) allAcked(env.now());
  };
  c.start = () => {
    c.afterData = refill;
    refill();
  };
  return c;
}

/** Waits until `sub` has `n` messages or none came for STALL_MS. */
async function received(sub, n) {
  let seen = sub.count;
  let since = env.now();
  while (sub.count < n) {
    await env.sleep(5);
    if (sub.count !== seen) {
      seen = sub.count;
      since = env.now();
    } else if (env.now() - since > STALL_MS) break;
  }
  return sub.count;
}

/** Samples the bridge's in-flight and queued counts every 20 ms. */
function sampleBridge(local) {
  const s = { maxInflight: 0, maxQueued: 0, inflight: [] };
  let on = true;
  const done = (async () => {
    while (on) {
      const b = await bridgeView(local);
      s.maxInflight = Math.max(s.maxInflight, b.inflight);
      s.maxQueued = Math.max(s.maxQueued, b.queued);
      if (b.queued > 0 && b.state === 'connected') s.inflight.push(b.inflight);
      await env.sleep(20);
    }
  })();
  return async () => {
    on = false;
    await done;
    // The typical window while messages waited (the queue was not empty)
    // on a live link; null when no sample caught that.
    return { maxInflight: s.maxInflight, maxQueued: s.maxQueued, inflightWhileQueued: median(s.inflight) };
  };
}

async function throughputRun(pair, mode, o, tag) {
  const { remote, local } = pair;
  const before = await bridgeView(local);
  const sub = await subscriber(remote.port, tag);
  const pub = await publisher(mode === 'direct' ? remote.port : local.port, tag, o);
  const stopSampling = mode === 'bridged' ? sampleBridge(local) : null;
  const meter = cpuMeter(pair.roots);
  const t0 = env.now();
  pub.start();
  const got = await received(sub, o.n);
  const cpu = meter.stop();
  const ackedAt = await Promise.race([pub.acked, env.sleep(1000).then(() => null)]);
  const bridge = stopSampling ? await stopSampling() : undefined;
  const after = await bridgeView(local);
  pub.close();
  sub.close();
  const ms = (got ? sub.last : env.now()) - t0;
  return {
    mode,
    n: o.n,
    received: got,
    lost: Math.max(0, o.n - got),
    ms,
    perSec: (got / ms) * 1000,
    pubAckedMs: ackedAt == null ? null : ackedAt - t0,
    cpu,
    usPerMsg: usPerMsg(cpu, got),
    bridge: bridge && { ...bridge, messagesOut: after.messagesOut - before.messagesOut },
  };
}

/**
 * Direct and bridged throughput to one remote, alternating, `reps` each.
 * `beforeRun` (optional) is awaited before every measured run (run.mjs
 * waits for a quiet machine there).
 */
export async function bridgeThroughput(remoteKind, { n, window, size = 16, reps = 1, warmup = n, remoteConfig, localLimits, beforeRun }) {
  const pair = await startPair(remoteKind, remoteConfig, localLimits);
  try {
    // A warm-up of both paths: V8 tiers the wasm up as it runs (measured:
    // a cold tabmq child does 2-3 times less in its first 20,000 messages
    // than in its third).
    const warm = { n: warmup, window, size };
    const warmed = [];
    if (warmup > 0) {
      warmed.push(await throughputRun(pair, 'direct', warm, `warm-d-${Date.now()}`));
      warmed.push(await throughputRun(pair, 'bridged', warm, `warm-b-${Date.now()}`));
    }
    const runs = { direct: [], bridged: [] };
    for (let i = 0; i < reps; i++) {
      for (const mode of ['direct', 'bridged']) {
        await beforeRun?.();
        runs[mode].push(await throughputRun(pair, mode, { n, window, size }, `${mode}-${i}-${Date.now()}`));
      }
    }
    const med = (mode, f) => median(runs[mode].map(f));
    const direct = med('direct', (r) => r.perSec);
    const bridged = med('bridged', (r) => r.perSec);
    // CPU per message of each process over all runs of a mode (one run
    // of tabmq is ~0.1 s: a few of /proc's 10 ms ticks), and the median
    // of the cores other processes used meanwhile.
    const cpuOf = (mode) => {
      const out = {};
      const msgs = runs[mode].reduce((a, r) => a + r.received, 0);
      const seconds = runs[mode].reduce((a, r) => a + r.cpu.seconds, 0);
      for (const k of ['remote', 'local', 'generator']) {
        out[k] = msgs && seconds >= MIN_CPU_SECONDS ? (runs[mode].reduce((a, r) => a + r.cpu.cores[k] * r.cpu.seconds, 0) * 1e6) / msgs : null;
      }
      out.otherCores = med(mode, (r) => r.cpu.cores.other);
      return out;
    };
    return {
      remote: remoteKind,
      n,
      window,
      size,
      reps,
      warmup,
      warmupRates: warmed.map((r) => Math.round(r.perSec)),
      direct,
      bridged,
      ratio: direct && bridged ? bridged / direct : null,
      range: {
        direct: [Math.min(...runs.direct.map((r) => r.perSec)), Math.max(...runs.direct.map((r) => r.perSec))],
        bridged: [Math.min(...runs.bridged.map((r) => r.perSec)), Math.max(...runs.bridged.map((r) => r.perSec))],
      },
      cpu: { direct: cpuOf('direct'), bridged: cpuOf('bridged') },
      // The bridge's in-flight window while messages waited in its queue.
      bridgeInflight: med('bridged', (r) => r.bridge.inflightWhileQueued),
      bridgeMaxQueued: Math.max(...runs.bridged.map((r) => r.bridge.maxQueued)),
      lost: [...runs.direct, ...runs.bridged].reduce((a, r) => a + r.lost, 0),
      runs,
    };
  } finally {
    await pair.stop();
  }
}

/** Time to drain `n` queued messages once the bridge is resumed. */
export async function bridgeDrain(remoteKind, { n, window, size = 16, warmup = n, remoteConfig, localLimits, beforeRun }) {
  const pair = await startPair(remoteKind, remoteConfig, localLimits);
  const { remote, local } = pair;
  try {
    // Warm-up: the same number of messages over the bridge first.
    if (warmup > 0) await throughputRun(pair, 'bridged', { n: warmup, window, size }, `warm-${Date.now()}`);
    await local.request('pauseBridge', NAME);
    await waitState(local, 'paused');
    const tag = `drain-${Date.now()}`;
    const pub = await publisher(local.port, tag, { n, window, size });
    const p0 = env.now();
    pub.start();
    const ackedAt = await Promise.race([pub.acked, env.sleep(60_000).then(() => null)]);
    if (ackedAt == null) throw new Error(`only ${pub.pubacks} of ${n} messages acknowledged while the bridge was paused`);
    pub.close();
    const queued = (await bridgeView(local)).queued;
    const sub = await subscriber(remote.port, tag);
    await beforeRun?.();
    let connectedAt = null;
    local.onEvent = (e) => {
      if (e.event === 'bridge' && e.state === 'connected' && connectedAt == null) connectedAt = env.now();
    };
    const meter = cpuMeter(pair.roots);
    const t0 = env.now();
    await local.request('resumeBridge', NAME);
    const stopSampling = sampleBridge(local);
    const got = await received(sub, n);
    const cpu = meter.stop();
    const bridge = await stopSampling();
    sub.close();
    const after = await bridgeView(local);
    const ms = (got ? sub.last : env.now()) - t0;
    return {
      remote: remoteKind,
      n,
      queued,
      publishMs: ackedAt - p0,
      received: got,
      lost: Math.max(0, n - got),
      connectMs: connectedAt == null ? null : connectedAt - t0,
      ms,
      perSec: (got / ms) * 1000,
      // Delivery rate once the link was up.
      perSecConnected: connectedAt == null ? null : (got / (sub.last - connectedAt)) * 1000,
      queuedAfter: after.queued,
      bridgeInflight: bridge.inflightWhileQueued,
      cpu,
      usPerMsg: usPerMsg(cpu, got),
    };
  } finally {
    await pair.stop();
  }
}
