// The in-page side of the browser bench, driven by bench/browser/suite.mjs
// through page.evaluate. All clients live in this page and share its clock
// (performance.now()); the broker (or the echo ceiling) is in a
// SharedWorker, reached through tabmq's page API and fake WebSocket.

import mqtt from '/node_modules/mqtt/dist/mqtt.esm.js';
import { startBroker } from '../.work/www/browser/index.js';
import { topology } from '../lib/scenarios.mjs';
import { Driver } from '../lib/driver.js';
import { RawClient } from '../lib/rawclient.js';

const now = () => performance.now();

// A task-queue scheduler without setTimeout's clamping: a MessageChannel
// turn, interleaved with the connections' port messages.
const q = [];
const ch = new MessageChannel();
let posted = false;
ch.port1.onmessage = () => {
  posted = false;
  const fns = q.splice(0);
  for (const fn of fns) fn();
};
function defer(fn) {
  q.push(fn);
  if (!posted) {
    posted = true;
    ch.port2.postMessage(0);
  }
}
// A 1 ms timer that stays 1 ms: called from a message task, setTimeout is
// not nested, so not clamped to 4 ms.
const pace = (fn) => defer(() => setTimeout(fn, 1));
const env = { now, defer, pace, sleep: (ms) => new Promise((ok) => setTimeout(ok, ms)) };

let state = null;

function portTransport(port, client) {
  port.onmessage = (e) => {
    if (e.data instanceof ArrayBuffer) client().data(new Uint8Array(e.data));
  };
  return {
    send: (u8) => port.postMessage(u8.buffer, [u8.buffer]),
    close: () => {
      port.postMessage({ close: true });
      port.close();
    },
  };
}

async function rawClient(handle, clientId, clean) {
  const port = await handle.openPort();
  let c;
  const transport = portTransport(port, () => c);
  c = new RawClient(transport, now);
  c.close = () => transport.close();
  await c.connect(clientId, { clean, keepalive: 0 });
  return c;
}

function mqttjsClient(handle, clientId, clean) {
  const client = mqtt.connect(handle.url, {
    clientId,
    clean,
    keepalive: 0,
    reconnectPeriod: 0,
    connectTimeout: 60_000,
    protocolVersion: 4,
    createWebsocket: (url, protocols, o) => handle.createWebsocket(url, protocols, o),
  });
  return new Promise((ok, fail) => {
    client.once('connect', () => ok(client));
    client.once('error', fail);
  });
}

function readStamp(payload) {
  return new DataView(payload.buffer, payload.byteOffset, 8).getFloat64(0, true);
}

/** The ceilings: a forwarder with no broker behind it, flushing once per
 *  burst of input (tabmq's own technique) or once per input. */
const ECHO = { echo: './echo-worker.js', 'echo-input': './echo-worker.js?flush=input' };

/**
 * Starts a broker (or the echo ceiling) and connects the clients.
 * cfg: { target: 'tabmq'|'echo'|'echo-input', client: 'mqttjs'|'raw', name, durability,
 *        topology, n, qos, size, clean, extraFilters, perPublisher }
 * perPublisher: MQTT.js publishers keep at most this many QoS 1/2
 * messages unacknowledged (waiting for PUBACK/PUBCOMP), as applications do.
 */
export async function setup(cfg) {
  const t0 = now();
  const handle = await startBroker({
    name: cfg.name,
    mode: 'shared',
    durability: cfg.durability ?? 'memory',
    workerUrl: ECHO[cfg.target] ? new URL(ECHO[cfg.target], import.meta.url) : undefined,
    limits: cfg.limits,
  });
  const topo = topology(cfg.topology, cfg.n);
  const clean = cfg.clean ?? false;
  const raw = cfg.client === 'raw';
  const clients = [];
  let driver = null;
  const deliver = (ts) => driver.onDelivery(ts);
  // Subscribers first, so nothing published is missed.
  const subs = await Promise.all(topo.subs.map(async (filters, i) => {
    const id = `s${i}-${cfg.name}`;
    if (raw) {
      const c = await rawClient(handle, id, clean);
      c.onDelivery = deliver;
      await c.subscribe(filters, cfg.qos);
      return c;
    }
    const c = await mqttjsClient(handle, id, clean);
    c.on('message', (_topic, payload) => deliver(readStamp(payload)));
    await c.subscribeAsync(filters, { qos: cfg.qos });
    return c;
  }));
  clients.push(...subs);
  // Subscriptions that match nothing the bench publishes (the topic tree's size).
  if (cfg.extraFilters) {
    const per = 10_000;
    for (let k = 0; k * per < cfg.extraFilters; k++) {
      const c = await rawClient(handle, `f${k}-${cfg.name}`, true);
      const filters = [];
      for (let i = k * per; i < Math.min(cfg.extraFilters, (k + 1) * per); i++) {
        filters.push(i % 3 === 0 ? `bench/pair/${i + 1000}` : i % 3 === 1 ? `noise/${i}/#` : `+/x${i}`);
      }
      await c.subscribe(filters, 0);
      clients.push(c);
    }
  }
  const size = cfg.size;
  const pubs = await Promise.all(topo.pubs.map(async (topic, i) => {
    const id = `p${i}-${cfg.name}`;
    if (raw) {
      const c = await rawClient(handle, id, clean);
      clients.push(c);
      return c.publisher(topic, cfg.qos, size);
    }
    const c = await mqttjsClient(handle, id, clean);
    clients.push(c);
    const opts = { qos: cfg.qos };
    const one = (done) => {
      const payload = new Uint8Array(size);
      new DataView(payload.buffer).setFloat64(0, now(), true);
      c.publish(topic, payload, opts, done);
    };
    if (!cfg.perPublisher || cfg.qos === 0) {
      return {
        publish(count) {
          for (let k = 0; k < count; k++) one();
        },
      };
    }
    // As an application that waits for its PUBACKs: at most
    // `perPublisher` unacknowledged, the rest queued in the publisher.
    let inflight = 0;
    let queued = 0;
    const send = () => {
      while (queued > 0 && inflight < cfg.perPublisher) {
        queued--;
        inflight++;
        one(acked);
      }
    };
    const acked = () => {
      inflight--;
      send();
    };
    return {
      publish(count) {
        queued += count;
        send();
      },
    };
  }));
  driver = new Driver(env, pubs, topo.factor);
  state = { handle, clients, driver, raw, cfg, pubs };
  return { setupMs: now() - t0, factor: topo.factor, publishers: pubs.length, subscribers: subs.length };
}

export function saturate(opts) {
  return state.driver.saturate(opts);
}

/** Raw clients: one message (postMessage) per packet, or per batch. */
export function setBatch(on) {
  for (const p of state.pubs) if ('batch' in p) p.batch = on;
}

export function latency(opts) {
  return state.driver.latency(opts);
}

export async function stats() {
  return state.handle.stats();
}

export async function teardown() {
  if (!state) return;
  for (const c of state.clients) {
    try {
      if (state.raw) c.close();
      else c.end(true);
    } catch {
      // already closed
    }
  }
  state = null;
}

// ---- resource figures -------------------------------------------------

async function wasmMemory() {
  // host.js initialised the module; init() hands back the same exports.
  const { default: init } = await import('../.work/www/pkg/tabmq.js');
  const wasm = await init();
  return wasm.memory;
}

/** Wasm memory growth for `sessions` idle connected clients (inline mode,
 *  raw clients: clean session, keep alive 60 s, 20-byte client ids). */
export async function memoryPerSession({ sessions, name }) {
  const handle = await startBroker({ name, mode: 'inline', durability: 'memory' });
  const memory = await wasmMemory();
  // One client first, so one-off allocations are not counted per session.
  const warm = await rawClient(handle, `warm-${name}`.padEnd(20, 'x').slice(0, 20), true);
  const before = memory.buffer.byteLength;
  const clients = [];
  for (let i = 0; i < sessions; i++) {
    const port = await handle.openPort();
    let c;
    const t = portTransport(port, () => c);
    c = new RawClient(t, now);
    clients.push(c.connect(`idle-${String(i).padStart(15, '0')}`, { clean: true, keepalive: 60 }));
  }
  await Promise.all(clients);
  const after = memory.buffer.byteLength;
  warm.close();
  return { sessions, before, after, perSession: (after - before) / sessions };
}

/** Wasm memory growth for `messages` QoS 1 messages of `size` bytes queued
 *  for one offline persistent session. */
export async function memoryPerQueued({ messages, size, name }) {
  const handle = await startBroker({ name, mode: 'inline', durability: 'memory', limits: { maxQueuedMessages: messages + 10 } });
  const memory = await wasmMemory();
  const sub = await rawClient(handle, `qsub-${name}`, false);
  await sub.subscribe(['q/#'], 1);
  sub.close(); // offline: what is published now is queued
  await new Promise((ok) => setTimeout(ok, 100));
  const pub = await rawClient(handle, `qpub-${name}`, true);
  const p = pub.publisher('q/x', 1, size);
  // Warm up the queue's first allocations, then measure.
  p.publish(10);
  while (pub.pubacks < 10) await new Promise((ok) => setTimeout(ok, 5));
  const before = memory.buffer.byteLength;
  for (let sent = 0; sent < messages; sent += 500) {
    p.publish(Math.min(500, messages - sent));
    while (pub.pubacks < 10 + Math.min(messages, sent + 500)) await new Promise((ok) => setTimeout(ok, 2));
  }
  const after = memory.buffer.byteLength;
  const stats = await handle.stats();
  pub.close();
  return { messages, size, before, after, perMessage: (after - before) / messages, stats };
}

/** Time from startBroker() to its promise and to the first CONNACK (the
 *  bench's raw client), then how long an MQTT.js client takes to connect
 *  to the running broker. A fresh page, so a fresh worker. */
export async function startupTime({ mode, durability, name }) {
  const t0 = now();
  const handle = await startBroker({ name, mode, durability });
  const t1 = now();
  const raw = await rawClient(handle, `first-${name}`, true);
  const t2 = now();
  const c = await mqttjsClient(handle, `mqttjs-${name}`, true);
  const t3 = now();
  c.end(true);
  raw.close();
  return { startBrokerMs: t1 - t0, firstConnackMs: t2 - t0, mqttjsConnectMs: t3 - t2 };
}
