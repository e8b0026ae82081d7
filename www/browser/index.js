// tabmq's page API: startBroker() starts (or joins) a broker and returns a
// handle that MQTT clients connect through.

import { BrokerSocket } from './socket.js';
import { checkOptions } from './options.js';
import { TabmqError, optionError } from '../shared/errors.js';

export { BrokerSocket } from './socket.js';
export { TabmqError, ERROR_CODES } from '../shared/errors.js';

let warnedNoSharedWorker = false;

/**
 * A fake WebSocket over a port from `broker.openPort()`; works in any
 * context, workers included: `mqtt.connect(url, { createWebsocket: () =>
 * socketFromPort(port) })`.
 */
export function socketFromPort(port, url = 'ws://tabmq.invalid/', protocols = ['mqtt']) {
  return new BrokerSocket(url, protocols, () => Promise.resolve(port));
}

/**
 * Starts the broker named `options.name` (or joins it: in 'shared' mode
 * every tab of the origin gets the same one). Rejects with a TabmqError
 * naming the option when an option is bad.
 */
export async function startBroker(options = {}) {
  const opts = checkOptions(options);
  if (opts.mode === 'shared' && typeof SharedWorker !== 'function') {
    if (!warnedNoSharedWorker) {
      console.warn("tabmq: SharedWorker is not available here; mode 'shared' falls back to 'worker' (one broker per tab)");
      warnedNoSharedWorker = true;
    }
    opts.mode = 'worker';
  }
  const link = opts.mode === 'inline' ? await inlineLink(opts) : workerLink(opts);
  const handle = new BrokerHandle(opts, link);
  try {
    await handle._init();
  } catch (err) {
    link.terminate();
    throw err;
  }
  return handle;
}

// The worker URLs are written as `new URL('./worker.js', import.meta.url)`
// inside the constructor call, with static options, so that bundlers (Vite,
// webpack, Rollup) find and bundle the worker. One SharedWorker serves every
// broker name of the origin; each name gets its own broker inside it.
function workerLink(opts) {
  if (opts.mode === 'shared') {
    const worker = opts.workerUrl
      ? new SharedWorker(opts.workerUrl, { type: 'module' })
      : new SharedWorker(new URL('./worker.js', import.meta.url), { type: 'module' });
    worker.port.start();
    return { control: worker.port, worker, terminate: () => worker.port.close() };
  }
  const worker = opts.workerUrl
    ? new Worker(opts.workerUrl, { type: 'module' })
    : new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  return { control: worker, worker, terminate: () => worker.terminate() };
}

/** The broker in this page's own thread, behind the same control protocol
 *  as a worker's (control.js). */
async function inlineLink(opts) {
  const { serveControl, startHost } = await import('./control.js');
  const channel = new MessageChannel();
  let started = null;
  serveControl(channel.port2, {
    start: (init) => (started = startHost(init, opts.callbacks).then((host) => ({ host }))),
    dedicated: true,
  });
  const terminate = () => {
    started?.then(({ host }) => host.abandon(), () => {});
    channel.port1.close();
  };
  return { control: channel.port1, terminate };
}

function pageLockName(name) {
  const id = globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random()}`;
  return { page: id, lock: `tabmq:${name}:page:${id}` };
}

/** Holds a Web Lock for as long as this page lives, so that a SharedWorker
 *  learns when the page is gone (MessagePort has no close event). */
function holdPageLock(lock) {
  if (!globalThis.navigator?.locks) return Promise.resolve(false);
  return new Promise((held) => {
    navigator.locks.request(lock, () => {
      held(true);
      return new Promise(() => {});
    });
  });
}

function sameBroker(a, b) {
  try {
    const x = new URL(a);
    const y = new URL(b);
    return x.protocol === y.protocol && x.hostname === y.hostname && x.pathname === y.pathname;
  } catch {
    return false;
  }
}

class BrokerHandle extends EventTarget {
  #opts;
  #link;
  #requests = new Map();
  #nextRequest = 1;
  #ready = null;
  #closed = false;
  #uninstall = null;
  #early = [];
  /** broker.subscribe() callbacks, by subscription number. */
  #subs = new Map();
  #nextSub = 1;

  constructor(opts, link) {
    super();
    this.#opts = opts;
    this.#link = link;
    /** A ws:// URL that names this broker: give it to MQTT.js, or to `new
     *  WebSocket` after installWebSocket(). It never reaches the network. */
    this.url = `ws://tabmq.invalid/${encodeURIComponent(opts.name)}`;
    this.name = opts.name;
    this.mode = opts.mode;
    this.createWebsocket = (url, protocols) => new BrokerSocket(url ?? this.url, protocols ?? ['mqtt'], () => this.#attach());
    link.control.onmessage = (e) => this.#onControl(e.data);
    if (link.worker) link.worker.onerror = (e) => this.#fatal(e);
  }

  async _init() {
    const { page, lock } = pageLockName(this.#opts.name);
    if (this.#opts.mode === 'shared') await holdPageLock(lock);
    const ready = new Promise((resolve, reject) => (this.#ready = { resolve, reject }));
    this.#link.control.postMessage({
      t: 'init',
      name: this.#opts.name,
      page,
      lock: this.#opts.mode === 'shared' ? lock : undefined,
      core: this.#opts.core,
      hooks: this.#opts.hooks,
      wasmUrl: this.#opts.wasmUrl,
      webhooks: this.#opts.webhooks,
    });
    await ready;
    const early = this.#early;
    this.#early = null;
    // Dispatched once the caller of startBroker() has had its turn to listen.
    if (early.length) setTimeout(() => early.forEach((e) => this.#emit(e)), 0);
  }

  #onControl(msg) {
    if (msg.t === 'ready') this.#ready?.resolve();
    else if (msg.t === 'error') {
      const err = new TabmqError(msg.message, msg.code);
      if (this.#ready) this.#ready.reject(err);
      this.dispatchEvent(Object.assign(new Event('error'), { error: err, message: err.message }));
    } else if (msg.t === 'event') {
      this.#emit(msg.event);
    } else if (msg.t === 'message') {
      this.#deliver(msg.sub, msg.message);
    } else if (msg.t === 'reply') {
      const request = this.#requests.get(msg.id);
      this.#requests.delete(msg.id);
      if (msg.error) {
        const err = new TabmqError(msg.error.message, msg.error.code);
        if (msg.error.reasonCode !== undefined) err.reasonCode = msg.error.reasonCode;
        request?.reject(err);
      } else request?.resolve(msg.value);
    }
  }

  /** Broker events become DOM events on the handle: 'error' (with `error`,
   *  `code` and `message`; storage trouble), 'connected', 'disconnected',
   *  'rejected', 'dropped', 'denied' (refused as not authorized) and
   *  'bridge' (a bridge's state changed), 'webhook' (a webhook's endpoint
   *  failed, or answers again), with
   *  the event's fields in `detail`. */
  #emit(event) {
    if (this.#early) {
      // Before startBroker() resolves nobody can listen yet: keep it.
      this.#early.push(event);
      return;
    }
    if (event.type === 'error') {
      const error = new TabmqError(event.message, event.code);
      this.dispatchEvent(Object.assign(new Event('error'), { error, code: event.code, message: event.message }));
      return;
    }
    this.dispatchEvent(Object.assign(new Event(event.type), { detail: event }));
  }

  #fatal(e) {
    const err = new TabmqError(`tabmq: the broker worker failed: ${e?.message ?? 'unknown error'}`, 'ERR_TABMQ_WORKER');
    this.#ready?.reject(err);
    this.#settle(err);
    this.dispatchEvent(Object.assign(new Event('error'), { error: err, code: err.code, message: err.message }));
  }

  /** Pending requests fail with `err`: the broker will never answer them. */
  #settle(err) {
    for (const [id, { reject }] of this.#requests) {
      this.#requests.delete(id);
      reject(err);
    }
  }

  #request(t, fields = {}) {
    if (this.#closed) return Promise.reject(new TabmqError('tabmq: broker handle is closed', 'ERR_TABMQ_CLOSED'));
    const id = this.#nextRequest++;
    return new Promise((resolve, reject) => {
      this.#requests.set(id, { resolve, reject });
      this.#link.control.postMessage({ ...fields, t, id });
    });
  }

  /** Takes bridge `name`'s link down: messages for it queue (in its
   *  session, stored like any other) until `resumeBridge(name)`. Rejects
   *  with ERR_TABMQ_NO_BRIDGE for an unknown name. */
  pauseBridge(name) {
    return this.#request('bridge', { name, paused: true });
  }

  /** Brings a paused bridge back: it connects at once and drains its queue. */
  resumeBridge(name) {
    return this.#request('bridge', { name, paused: false });
  }

  /** Replaces the access settings given (`passwordFile`, `users`, `acl`,
   *  `allowAnonymous`) where the broker runs, for every session at once.
   *  Rejects with ERR_TABMQ_OPTION (naming the option and the line of a
   *  file) and changes nothing if one does not read. */
  setAccess(options) {
    return this.#request('access', { options });
  }

  /**
   * Publishes from the page's own code, without an MQTT client: the same
   * topic rules, ACL (as `options.username`) and routing as a client's
   * PUBLISH. Resolves with `{ reasonCode }` once the broker has the message
   * (at QoS 1/2 under strict durability: once it is in IndexedDB); rejects
   * with ERR_TABMQ_REJECTED and its `reasonCode` if the broker refuses it.
   * `options`: `{ qos, retain, properties, username }`; a string is UTF-8.
   */
  publish(topic, payload, options = {}) {
    return this.#request('publish', { topic, payload, options });
  }

  /**
   * Calls `callback({ topic, payload, qos, retain, properties })` for each
   * message matching `filter` (retained ones first). Resolves with `{ qos,
   * unsubscribe() }` once subscribed; rejects with ERR_TABMQ_REJECTED and
   * its `reasonCode` if refused. `options`: `{ qos, username }`.
   */
  async subscribe(filter, callback, options = {}) {
    if (typeof callback !== 'function') throw optionError('callback', 'must be a function');
    const sub = this.#nextSub++;
    this.#subs.set(sub, callback);
    try {
      const { qos } = await this.#request('subscribe', { sub, filter, options });
      const unsubscribe = () => {
        if (!this.#subs.delete(sub) || this.#closed) return;
        this.#request('unsubscribe', { sub }).catch(() => {});
      };
      return { qos, unsubscribe };
    } catch (err) {
      this.#subs.delete(sub);
      throw err;
    }
  }

  #deliver(sub, message) {
    const callback = this.#subs.get(sub);
    if (!callback) return;
    try {
      callback(message);
    } catch (err) {
      console.error('tabmq: a subscribe callback threw', err);
    }
  }

  /** A MessagePort connected to the broker, once the broker has accepted it. */
  #attach() {
    if (this.#closed) return Promise.reject(new TabmqError('tabmq: broker handle is closed', 'ERR_TABMQ_CLOSED'));
    const { port1, port2 } = new MessageChannel();
    return new Promise((resolve, reject) => {
      port1.onmessage = (e) => {
        port1.onmessage = null;
        if (e.data?.open) resolve(port1);
        else reject(new TabmqError('tabmq: the broker refused the connection', 'ERR_TABMQ_REFUSED'));
      };
      this.#link.control.postMessage({ t: 'connect', port: port2 }, [port2]);
    });
  }

  /**
   * A MessagePort already connected to the broker, for an MQTT client in
   * another context (a Worker, an iframe): transfer the port there and wrap
   * it with `socketFromPort(port)` to get the WebSocket for MQTT.js.
   */
  openPort() {
    return this.#attach();
  }

  /** Sessions (client id, protocol, subscriptions, in-flight and queued
   *  counts) and retained messages (topic, payload, QoS), for an inspector. */
  inspect() {
    return this.#request('inspect');
  }

  /** Connection, subscription, retained, message and byte counters. */
  stats() {
    return this.#request('stats');
  }

  /**
   * Routes `new WebSocket(url)` for this broker's URL to tabmq, so clients
   * that cannot take a socket factory (Paho JS) work unchanged; every other
   * URL still reaches the real WebSocket. Returns a function that undoes it.
   */
  installWebSocket() {
    if (this.#uninstall) return this.#uninstall;
    const Real = globalThis.WebSocket;
    const handle = this;
    function TabmqWebSocket(url, protocols) {
      if (sameBroker(String(url), handle.url)) return handle.createWebsocket(String(url), protocols);
      return new Real(url, protocols);
    }
    for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) TabmqWebSocket[k] = BrokerSocket[k];
    TabmqWebSocket.prototype = Real?.prototype;
    globalThis.WebSocket = TabmqWebSocket;
    this.#uninstall = () => {
      if (globalThis.WebSocket === TabmqWebSocket) globalThis.WebSocket = Real;
      this.#uninstall = null;
    };
    return this.#uninstall;
  }

  /**
   * Stops the broker at once, as a crash would: the dedicated Worker is
   * terminated ('worker' mode) or this page's link to the SharedWorker cut.
   * Nothing is flushed; what 'strict' durability promised survives.
   */
  terminate() {
    this.#closed = true;
    this.#settle(new TabmqError('tabmq: the broker was terminated', 'ERR_TABMQ_CLOSED'));
    this.#link.terminate();
  }

  /**
   * Closes this page's connections to the broker. In 'worker' and 'inline'
   * mode the broker stops; in 'shared' mode it keeps serving other tabs.
   */
  async close() {
    if (this.#closed) return;
    await this.#request('close');
    this.#closed = true;
    this.#uninstall?.();
    this.#link.terminate();
  }
}
