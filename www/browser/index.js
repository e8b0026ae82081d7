// tabmq's page API: startBroker() starts (or joins) a broker and returns a
// handle that MQTT clients connect through.

import { BrokerSocket } from './socket.js';
import { checkOptions } from './options.js';
import { openLink } from './links.js';
import { hasLocks, heartbeat, watchLock } from './lifeline.js';
import { brokerGone, openedPort } from './remote.js';
import { TabmqError, optionError } from '../shared/errors.js';

export { BrokerSocket } from './socket.js';
export { TabmqError, ERROR_CODES } from '../shared/errors.js';

/**
 * A fake WebSocket over a port from `broker.openPort()`; works in any
 * context, workers included: `mqtt.connect(url, { createWebsocket: () =>
 * socketFromPort(port) })`. A port carries one connection: after a close
 * (the broker restarted, say) ask the page for another.
 */
export function socketFromPort(port, url = 'ws://tabmq.invalid/', protocols = ['mqtt']) {
  const socket = new BrokerSocket(url, protocols, () => openedPort(port, (end) => {
    if (socket.readyState === BrokerSocket.CLOSED) end();
    else socket.addEventListener('close', end, { once: true });
  }));
  return socket;
}

/**
 * Starts the broker named `options.name` (or joins it: in 'shared' mode
 * every tab of the origin gets the same one). Rejects with a TabmqError
 * naming the option when an option is bad.
 */
export async function startBroker(options = {}) {
  const opts = checkOptions(options);
  // Without SharedWorker, one tab runs the broker for every tab (leader.js).
  if (opts.mode === 'shared' && typeof SharedWorker !== 'function') opts.mode = 'leader';
  if (opts.mode === 'leader' && !(hasLocks() && typeof BroadcastChannel === 'function')) {
    throw new TabmqError(
      `tabmq: broker '${opts.name}' cannot be shared between tabs here: mode 'leader'${options.mode === 'leader' ? '' : " (what 'shared' becomes without SharedWorker)"} needs Web Locks and BroadcastChannel (serve the page from https: or localhost); mode 'worker' runs a broker for this tab alone`,
      'ERR_TABMQ_PLATFORM',
    );
  }
  const handle = new BrokerHandle(opts);
  try {
    await handle._init();
  } catch (err) {
    handle.terminate();
    throw err;
  }
  return handle;
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

function closedError() {
  return new TabmqError('tabmq: broker handle is closed', 'ERR_TABMQ_CLOSED');
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
  #link = null;
  /** Resolves (to the broker's 'ready') once the current link's broker is
   *  ready; replaced by a pending one while the broker restarts. */
  #linkReady;
  #requests = new Map();
  #nextRequest = 1;
  #ready = null;
  #closed = false;
  #uninstall = null;
  #early = [];
  #page = null;
  #pageLock = undefined;
  /** Ports of this page's sockets (createWebsocket), open or opening: they
   *  are closed with 1012 when the broker dies. */
  #live = new Set();
  #unwatch = null;
  #beat = null;
  /** broker.subscribe() callbacks, by subscription number. */
  #subs = new Map();
  #nextSub = 1;

  constructor(opts) {
    super();
    this.#opts = opts;
    /** A ws:// URL that names this broker: give it to MQTT.js, or to `new
     *  WebSocket` after installWebSocket(). It never reaches the network. */
    this.url = `ws://tabmq.invalid/${encodeURIComponent(opts.name)}`;
    this.name = opts.name;
    this.mode = opts.mode;
    this.createWebsocket = (url, protocols) => {
      const socket = new BrokerSocket(url ?? this.url, protocols ?? ['mqtt'], () => this.#attach().then((port) => {
        const forget = () => this.#live.delete(port);
        if (socket.readyState !== BrokerSocket.CONNECTING) forget();
        else socket.addEventListener('close', forget, { once: true });
        return port;
      }));
      return socket;
    };
  }

  async _init() {
    const { page, lock } = pageLockName(this.#opts.name);
    this.#page = page;
    if (this.#opts.mode === 'shared' || this.#opts.mode === 'leader') {
      // Named to the broker only if held: a lock this page does not hold
      // would be granted to the broker at once, as if the page were gone.
      if (await holdPageLock(lock)) this.#pageLock = lock;
    }
    await this.#connect();
    const early = this.#early;
    this.#early = null;
    // Dispatched once the caller of startBroker() has had its turn to listen.
    if (early.length) setTimeout(() => early.forEach((e) => this.#emit(e)), 0);
  }

  /** Opens a link to the broker (starting or joining it) and waits until
   *  it is ready, restored from IndexedDB; then watches its lifeline. */
  #connect() {
    const ready = new Promise((resolve, reject) => (this.#ready = { resolve, reject }));
    this.#linkReady = ready;
    ready.catch(() => {}); // the callers of #connect() and #attach() see it
    const opened = (async () => {
      for (;;) {
        const hello = await this.#open(ready);
        if (hello === null) continue; // a leader tab gone before its broker was ready
        this.#ready = null;
        this.#watch(this.#link, hello);
        return;
      }
    })();
    opened.catch((err) => this.#ready?.reject(err));
    return opened;
  }

  /** One link: opened, told 'init'; resolves to the broker's 'ready'
   *  message, or null when the link is a follower's (mode 'leader') whose
   *  leader tab went away first: then there is a new leader to find. */
  async #open(ready) {
    const link = await openLink(this.#opts);
    if (this.#closed) {
      link.terminate();
      throw new TabmqError('tabmq: broker handle is closed', 'ERR_TABMQ_CLOSED');
    }
    this.#link = link;
    link.control.onmessage = (e) => {
      if (this.#link === link) this.#onControl(e.data);
    };
    if (link.worker) {
      link.worker.onerror = (e) => {
        if (this.#link === link) this.#fatal(e);
      };
    }
    link.control.postMessage({
      t: 'init',
      name: this.#opts.name,
      page: this.#page,
      lock: this.#pageLock,
      core: this.#opts.core,
      hooks: this.#opts.hooks,
      wasmUrl: this.#opts.wasmUrl,
      webhooks: this.#opts.webhooks,
    });
    if (!link.leaderGone) return ready;
    const hello = await Promise.race([ready, link.leaderGone.then(() => null)]);
    if (hello === null) {
      link.control.onmessage = null;
      link.terminate();
    }
    return hello;
  }

  /** Watches the broker behind `link` (its 'ready' said `alive` and
   *  `beats`): its lifeline lock (lifeline.js), or a heartbeat where there
   *  are no Web Locks. An inline broker dies with this page and needs no
   *  watching; a worker that answers no pings is not watched. */
  #watch(link, { alive, beats }) {
    if (this.#opts.mode === 'inline' || this.#closed) return;
    if (alive && hasLocks()) {
      this.#unwatch = watchLock(alive, () => this.#lost(link, 'lock'));
      return;
    }
    if (!beats) return;
    this.#beat = heartbeat({
      ping: () => link.control.postMessage({ t: 'ping' }),
      gone: () => this.#lost(link, 'heartbeat'),
    });
    this.#unwatch = this.#beat.stop;
  }

  #stopWatching() {
    this.#unwatch?.();
    this.#unwatch = null;
    this.#beat = null;
  }

  /**
   * The broker behind `link` died (`cause`: 'lock', its worker's lifeline
   * came free; 'heartbeat', it stopped answering). Every socket of this page
   * closes with 1012 at once, so clients reconnect by their own rules; a new
   * broker is started (or joined: every page of the origin does this, and
   * the browser gives them one new SharedWorker, in which the broker's
   * database lock lets one broker restore and serve); then 'restarted'.
   */
  #lost(link, cause) {
    if (this.#closed || link !== this.#link) return;
    const started = performance.now();
    this.#stopWatching();
    link.control.onmessage = null;
    link.terminate();
    link.lost?.();
    this.#settle(new TabmqError('tabmq: the broker died before it answered; it is being restarted', 'ERR_TABMQ_BROKER_LOST'));
    for (const port of this.#live) brokerGone(port);
    this.#live.clear();
    this.#connect().then(
      () => {
        this.#resubscribe();
        this.#emit({ type: 'restarted', cause, duration: Math.round(performance.now() - started) });
      },
      (err) => {
        const error = err instanceof TabmqError ? err : new TabmqError(`tabmq: the broker could not be restarted: ${err?.message ?? err}`, 'ERR_TABMQ_START');
        this.dispatchEvent(Object.assign(new Event('error'), { error, code: error.code, message: error.message }));
      },
    );
  }

  #onControl(msg) {
    if (msg.t === 'ready') this.#ready?.resolve(msg);
    else if (msg.t === 'pong') this.#beat?.answered();
    else if (msg.t === 'error') {
      const err = new TabmqError(msg.message, msg.code);
      if (this.#ready) this.#ready.reject(err);
      this.dispatchEvent(Object.assign(new Event('error'), { error: err, message: err.message }));
    } else if (msg.t === 'event') {
      this.#emit(msg.event);
    } else if (msg.t === 'message') {
      this.#deliver(msg.sub, msg.message);
    } else if (msg.t === 'ended') {
      const s = this.#subs.get(msg.sub);
      this.#subs.delete(msg.sub);
      s?.onEnd?.(msg.reasonCode);
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

  /** Sends a request to the broker (waiting for it first while it
   *  restarts) and resolves with its reply. */
  async #request(t, fields = {}, transfer = []) {
    if (this.#closed) throw closedError();
    await this.#linkReady;
    if (this.#closed) throw closedError();
    const id = this.#nextRequest++;
    return new Promise((resolve, reject) => {
      this.#requests.set(id, { resolve, reject });
      this.#link.control.postMessage({ ...fields, t, id }, transfer);
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
    const { onEnd, ...sent } = options ?? {}; // a function stays in this page
    this.#subs.set(sub, { callback, filter, options: sent, onEnd: typeof onEnd === 'function' ? onEnd : null });
    try {
      const { qos } = await this.#request('subscribe', { sub, filter, options: sent });
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

  /** A restarted broker has none of the page's subscriptions (each was a
   *  clean session of the broker that died): they are made again, and the
   *  retained messages they match arrive again. */
  #resubscribe() {
    for (const [sub, { filter, options }] of this.#subs) {
      this.#request('subscribe', { sub, filter, options }).catch((error) => {
        this.dispatchEvent(Object.assign(new Event('error'), { error, code: error.code, message: `tabmq: subscribe(${filter}) failed after the restart: ${error.message}` }));
      });
    }
  }

  #deliver(sub, message) {
    const callback = this.#subs.get(sub)?.callback;
    if (!callback) return;
    try {
      callback(message);
    } catch (err) {
      console.error('tabmq: a subscribe callback threw', err);
    }
  }

  /** A MessagePort connected to the broker, once the broker has accepted it. */
  async #attach() {
    if (this.#closed) throw closedError();
    await this.#linkReady;
    if (this.#closed) throw closedError();
    const { port1, port2 } = new MessageChannel();
    // Known from now on: if the broker dies before it answers, the
    // synthetic close (remote.js) refuses the connection.
    this.#live.add(port1);
    return new Promise((resolve, reject) => {
      port1.onmessage = (e) => {
        port1.onmessage = null;
        if (e.data?.open) resolve(port1);
        else {
          this.#live.delete(port1);
          reject(new TabmqError('tabmq: the broker refused the connection', 'ERR_TABMQ_REFUSED'));
        }
      };
      this.#link.control.postMessage({ t: 'connect', port: port2 }, [port2]);
    });
  }

  /**
   * A MessagePort already connected to the broker, for an MQTT client in
   * another context (a Worker, an iframe): transfer the port there and wrap
   * it with `socketFromPort(port)` to get the WebSocket for MQTT.js.
   * Resolves once the broker has accepted it. The port carries one
   * connection; its socket closes with 1012 if the broker dies, and the
   * client then needs a new port.
   */
  async openPort() {
    if (this.#closed) throw closedError();
    const hello = await this.#linkReady;
    if (!hello.beats) {
      // A worker of the older protocol (a SharedWorker left from an older
      // tabmq, the bench's echo ceiling) answers on the port only.
      const port = await this.#attach();
      this.#live.delete(port);
      return port;
    }
    const { port1, port2 } = new MessageChannel();
    // The broker's hello ({ open, alive }) waits in port1's queue for
    // socketFromPort, wherever the port is taken.
    await this.#request('connect', { port: port2 }, [port2]);
    return port1;
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
   * terminated ('worker' mode) or this page's link to the SharedWorker (or
   * the leader tab's worker) cut.
   * Nothing is flushed; what 'strict' durability promised survives.
   */
  terminate() {
    this.#closed = true;
    this.#stopWatching();
    this.#settle(new TabmqError('tabmq: the broker was terminated', 'ERR_TABMQ_CLOSED'));
    this.#link?.terminate();
  }

  /**
   * Closes this page's connections to the broker. In 'worker' and 'inline'
   * mode the broker stops; in 'shared' mode it keeps serving other tabs.
   */
  async close() {
    if (this.#closed) return;
    await this.#request('close');
    this.#closed = true;
    this.#stopWatching();
    this.#uninstall?.();
    this.#link.terminate();
  }
}
