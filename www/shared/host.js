// BrokerHost: runs the wasm broker core and is its IO. It speaks the core's
// grammar: inputs are handle* (handleOpen, handleBytes, handleClosed), and
// one poll() sends what the core has produced (pollTransmit), hands out its
// events (pollEvents) and arms one timer from its next deadline
// (pollTimeout). It runs in a SharedWorker, a Worker or the page itself; in
// Node the Node host wraps the same core.

import init, { Broker, setErrorClass, validateOptions } from '../pkg/tabmq.js';
import { TabmqError, optionError } from './errors.js';
import { Webhooks } from './webhooks.js';

let wasmReady = null;

/** Loads the wasm module once. `source` may be a URL, a Response or bytes
 *  (Node reads the file and passes its bytes). Errors the module throws are
 *  TabmqErrors from then on. */
export function loadWasm(source) {
  wasmReady ??= init(source === undefined ? undefined : { module_or_path: source }).then((wasm) => {
    setErrorClass(TabmqError);
    return wasm;
  });
  return wasmReady;
}

/**
 * Reads what `Broker.pollTransmit()` returns (one Uint8Array, laid out as
 * its doc in src/wasm/mod.rs says) as views: connection `conns[i]` gets
 * `data.subarray(i === 0 ? 0 : ends[i - 1], ends[i])`, then is closed if
 * `closes[i]` is 1.
 * @param {Uint8Array} packed
 * @returns {{ conns: Uint32Array, ends: Uint32Array, closes: Uint8Array, data: Uint8Array }}
 */
export function readTransmits(packed) {
  const { buffer, byteOffset: at } = packed;
  const n = new Uint32Array(buffer, at, 1)[0];
  return {
    conns: new Uint32Array(buffer, at + 4, n),
    ends: new Uint32Array(buffer, at + 4 + 4 * n, n),
    closes: packed.subarray(4 + 8 * n, 4 + 9 * n),
    data: packed.subarray(4 + 9 * n),
  };
}

/** Calls `gone()` once Web Lock `name` is free (its holder died or let
 *  go); returns a function that stops watching. Without Web Locks (Node),
 *  nothing is watched. */
function watchHolder(name, gone) {
  const locks = globalThis.navigator?.locks;
  if (typeof locks?.request !== 'function') return () => {};
  const stop = new AbortController();
  locks.request(name, { signal: stop.signal }, () => {
    if (!stop.signal.aborted) gone();
  }).catch(() => {});
  return () => stop.abort();
}

export class BrokerHost {
  #broker;
  #conns = new Map(); // conn id -> { port, owner }
  #nextConn = 1;
  #timer = null;
  #timerAt = Infinity;
  #listeners = new Set();
  #closed = false;
  #closing = false;
  #dialer = null;
  /** A store the host keeps (the Node host's DiskStore), or null: then
   *  storage is IndexedDB inside the wasm, or memory. */
  #store = null;
  /** The host's own publishes (id -> { resolve, reject }) and
   *  subscriptions (id -> { callback, resolve, reject }): see publish(). */
  #nextHostId = 1;
  /** The `authenticate` hook as given, for checkCredentials (null: none). */
  #authenticate = null;
  #publishes = new Map();
  #subscriptions = new Map();
  /** The webhooks (webhooks.js), once started. */
  #webhooks = null;

  constructor(broker) {
    this.#broker = broker;
  }

  /**
   * Starts a broker: with durability 'strict' or 'relaxed' (the default is
   * strict) it is restored from its IndexedDB database first, so clients
   * that connect meanwhile wait for it. If IndexedDB cannot be used (not
   * there, blocked by an older version open in another tab, failing), the
   * broker serves from memory and says so with an `error` event.
   * @param {object} options broker options (see README)
   * @param {object} hooks { authenticate?, authorize? }
   * @param {string} name the broker's name: its database is `tabmq:<name>`
   * @param {object} [store] a store the host keeps instead (the Node host's
   *   DiskStore, www/node/store/): the broker is restored from its rows and
   *   hands it each commit
   */
  static async create(options, hooks = {}, wasmSource, name = 'default', store = null) {
    await loadWasm(wasmSource);
    const host = new BrokerHost(null);
    if (store) host.#broker = host.#openStored(options ?? {}, host.#wrapHooks(hooks), store);
    else host.#broker = await host.#openBroker(name, options ?? {}, host.#wrapHooks(hooks));
    host.#armTimer();
    return host;
  }

  /** A broker restored from a host-kept store, which it then feeds: one
   *  commit at a time (`pollStorage` in poll()), each reported back with
   *  `handlePersisted`. */
  #openStored(options, hooks, store) {
    validateOptions(options);
    const broker = Broker.openStored(options, hooks, store.rows, Date.now());
    store.rows = null;
    this.#store = store;
    // Records skipped while restoring: reported before anyone listens.
    const early = broker.pollEvents() ?? [];
    this.startupErrors.push(...early);
    store.corruptSkipped = early.filter((e) => e.code === 'ERR_TABMQ_CORRUPT_RECORD').length;
    // Events during attach (a store already full) are start-up events too.
    let starting = true;
    store.attach({
      persisted: (ticket) => {
        if (this.#closed) return;
        broker.handlePersisted(ticket);
        this.poll();
      },
      full: (full) => {
        if (!this.#closed) broker.handleStorageFull(full);
      },
      event: (e) => {
        if (starting) this.startupErrors.push(e);
        else for (const fn of this.#listeners) fn(e);
      },
    });
    starting = false;
    return broker;
  }

  /** Errors raised before anyone could listen (storage fallback at start). */
  startupErrors = [];

  #releaseDatabase = null;

  /** Holds the Web Lock `tabmq:db:<name>` for the broker's life. Waits up to
   *  3 s for a broker that is going away (a reloading page's worker). */
  async #lockDatabase(name) {
    const locks = globalThis.navigator?.locks;
    if (!locks) return true;
    const signal = AbortSignal.timeout(3000);
    return new Promise((resolve) => {
      locks.request(`tabmq:db:${name}`, { signal }, () => {
        resolve(true);
        return new Promise((release) => (this.#releaseDatabase = release));
      }).catch(() => resolve(false));
    });
  }

  async #openBroker(name, options, hooks) {
    // Bad options fail here, before the database is locked or opened.
    validateOptions(options);
    const durability = options.durability ?? 'strict';
    if (durability === 'memory') return new Broker(options, hooks);
    const memory = (why) => {
      this.startupErrors.push({ type: 'error', code: why.code ?? 'ERR_TABMQ_STORAGE', message: `${why.message}; the broker keeps serving from memory` });
      return new Broker({ ...options, durability: 'memory' }, hooks);
    };
    if (typeof indexedDB === 'undefined') {
      return memory({ message: `tabmq: IndexedDB is not available here, so broker '${name}' cannot keep anything across a reload` });
    }
    // One broker per database: two brokers on one database (two tabs in
    // 'worker' mode, or a SharedWorker left from an older deployment) would
    // hand out the same message ids and restore each other's sessions.
    if (!(await this.#lockDatabase(name))) {
      return memory(new TabmqError(
        `tabmq: another broker (in another tab or worker) holds IndexedDB database 'tabmq:${name}'`,
        'ERR_TABMQ_STORAGE_LOCKED',
      ));
    }
    let onBlocked;
    const blocked = new Promise((_, fail) => (onBlocked = () => fail(new TabmqError(
      `tabmq: IndexedDB database 'tabmq:${name}' is held open at an older version by another tab or worker, which blocks its upgrade`,
      'ERR_TABMQ_STORAGE_BLOCKED',
    ))));
    // A commit finished: the next poll applies it and sends what it releases.
    const opening = Broker.openDurable(name, options, hooks, () => { this.poll(); }, () => onBlocked());
    try {
      return await Promise.race([opening, blocked]);
    } catch (err) {
      if (err?.code === 'ERR_TABMQ_OPTION') throw err;
      // If the blocked open completes later, let go of that database.
      opening.then((late) => { late.closeStorage(); late.free(); }, () => {});
      return memory(err);
    }
  }

  /** Lets an authenticate hook return a Promise: the core is told the
   *  decision is pending and gets it later through handleAuthDecision. */
  #wrapHooks(hooks) {
    const { authenticate, authorize } = hooks ?? {};
    if (typeof authenticate === 'function') this.#authenticate = authenticate;
    const wrapped = {};
    if (typeof authorize === 'function') wrapped.authorize = (req) => authorize(req) === true;
    if (typeof authenticate === 'function') {
      wrapped.authenticate = (req) => {
        const result = authenticate(req);
        if (!result || typeof result.then !== 'function') return result;
        result.then(
          (decision) => this.#decide(req.conn, decision),
          (err) => {
            console.error('tabmq: authenticate rejected', err);
            this.#decide(req.conn, 0x83);
          },
        );
        return 'pending';
      };
    }
    return wrapped;
  }

  #decide(conn, decision) {
    if (this.#closed) return;
    try {
      this.#broker.handleAuthDecision(conn, decision, Date.now());
    } catch (err) {
      console.error(err);
      this.#broker.handleAuthDecision(conn, 0x83, Date.now());
    }
    this.poll();
  }

  /**
   * Sets how bridges reach their remote brokers: `dialer({ url, bridge },
   * handlers)` opens a connection and returns a link `{ send(bytes),
   * close() }`; it calls `handlers.open()` once connected, `handlers.bytes(u8)`
   * for what arrives and `handlers.closed(why?)` when the connection ends or
   * could not be made (exactly once). Without a dialer, bridges stay in
   * backoff.
   */
  setDialer(dialer) {
    this.#dialer = dialer;
    this.poll();
  }

  /** Takes bridge `name`'s link down (`paused`) or brings it back; throws
   *  ERR_TABMQ_NO_BRIDGE if there is none of that name. */
  handleBridgePause(name, paused) {
    if (this.#closed) throw new TabmqError('tabmq: the broker is closed', 'ERR_TABMQ_CLOSED');
    const known = this.#broker.handleBridgePause(String(name), Boolean(paused), Date.now());
    this.poll();
    if (!known) throw new TabmqError(`tabmq: the broker has no bridge named '${name}'`, 'ERR_TABMQ_NO_BRIDGE');
  }

  /** The network is back (an `online` event): bridges retry now. */
  handleOnline() {
    if (this.#closed) return;
    this.#broker.handleOnline(Date.now());
    this.poll();
  }

  /** Opens what the core asked for (`pollDial`): a connection to a remote
   *  broker, which is then a connection like any other. */
  #dial({ conn, bridge, url }) {
    let opened = false;
    let ended = false;
    const fail = () => {
      if (ended) return;
      ended = true;
      if (this.#closed) return;
      if (opened) this.handleClosed(conn);
      else {
        this.#broker.handleClosed(conn, Date.now());
        this.poll();
      }
    };
    const handlers = {
      open: () => {
        if (ended || opened) return;
        opened = true;
        if (this.#closed || this.#closing) {
          link.close();
          return;
        }
        this.#conns.set(conn, { link, owner: null });
        this.#broker.handleOpen(conn, Date.now());
        this.poll();
      },
      bytes: (bytes) => this.handleBytes(conn, bytes),
      closed: fail,
    };
    let link = { send() {}, close() {} };
    if (!this.#dialer) return queueMicrotask(fail);
    try {
      link = this.#dialer({ url, bridge }, handlers);
    } catch (err) {
      console.warn(`tabmq: bridge '${bridge}' cannot dial ${url}: ${err?.message ?? err}`);
      queueMicrotask(fail);
    }
  }

  /** Calls `fn(event)` for each broker event: connected, disconnected,
   *  rejected, dropped, denied (refused as not authorized), bridge (a
   *  bridge's state changed), and error
   *  (storage trouble; `code` and `message`). */
  onEvent(fn) {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * Opens a connection to the broker. `link.send(bytes)` carries the
   * broker's bytes to the client: a Uint8Array the link may keep, but a
   * view that shares its buffer with other connections' bytes (a link that
   * transfers the buffer copies first). `link.close()` ends the connection
   * when the broker closes it. The client's bytes come in through
   * `handleBytes(id, bytes)`, and the end of the network side through
   * `handleClosed(id)`. `owner` groups connections (per page) so they can
   * be ended together. `identity`: a name the transport authenticated (a
   * TLS client certificate's CN), which becomes the client's username.
   * Returns the connection id.
   */
  handleOpen(link, owner = null, identity = undefined) {
    if (this.#closed || this.#closing) {
      link.close(1001, 'broker closed');
      return 0;
    }
    const id = this.#nextConn++;
    this.#conns.set(id, { link, owner });
    this.#broker.handleOpen(id, Date.now());
    if (identity !== undefined) this.#broker.handleIdentity(id, identity);
    this.poll();
    return id;
  }

  /** Bytes from the client of connection `id`. */
  handleBytes(id, bytes) {
    if (this.#closed || !this.#conns.has(id)) return;
    this.#broker.handleBytes(id, bytes, Date.now());
    this.#pollSoon();
  }

  // One poll per burst of input: the poll runs once the inputs already
  // queued (port messages, socket reads of this turn) are fed, so a fan-in
  // of many connections sends its subscriber one batch, not one message per
  // input (measured: bench/results/compare-*.md, up to 2.3x in the browser).
  #pollQueued = false;
  #pollChannel = null;
  #pollSoon() {
    if (this.#pollQueued) return;
    this.#pollQueued = true;
    if (typeof setImmediate === 'function') {
      setImmediate(() => {
        this.#pollQueued = false;
        this.poll();
      });
      return;
    }
    if (!this.#pollChannel) {
      this.#pollChannel = new MessageChannel();
      this.#pollChannel.port1.onmessage = () => {
        this.#pollQueued = false;
        this.poll();
      };
    }
    this.#pollChannel.port2.postMessage(0);
  }

  /** The network side of connection `id` ended (socket closed, page gone). */
  handleClosed(id) {
    if (!this.#conns.delete(id)) return;
    this.#broker.handleClosed(id, Date.now());
    this.poll();
  }

  /** Serves one MQTT connection over a MessagePort: ArrayBuffers both ways
   *  (transferred), `{ close: true }` to end it, `{ open: true, ...hello }`
   *  once the broker has it. A client that holds a Web Lock for the
   *  connection's life says so (`{ held: name }`): when the lock comes free
   *  with the connection still open, its context died (a terminated Worker,
   *  a crashed tab), and the connection ends at once, will and all. */
  connectPort(port, owner = null, hello = {}) {
    const link = {
      send: (bytes) => {
        // A buffer of its own to transfer: one poll's bytes share a buffer.
        const own = bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
        port.postMessage(own.buffer, [own.buffer]);
      },
      close: (code = 1000, reason = '') => {
        port.postMessage({ close: true, code, reason });
        port.onmessage = null;
        port.close();
      },
    };
    const id = this.handleOpen(link, owner);
    if (id === 0) return 0;
    let unwatch = null;
    port.onmessage = (e) => {
      const data = e.data;
      if (data instanceof ArrayBuffer) this.handleBytes(id, new Uint8Array(data));
      else if (data && data.close) {
        unwatch?.();
        port.onmessage = null;
        port.close();
        this.handleClosed(id);
      } else if (typeof data?.held === 'string' && !unwatch) {
        unwatch = watchHolder(data.held, () => {
          if (!this.#conns.has(id)) return;
          port.onmessage = null;
          port.close();
          this.handleClosed(id);
        });
      }
    };
    port.postMessage({ open: true, ...hello });
    return id;
  }

  /** Ends every connection of one owner (a page that closed or crashed):
   *  their wills follow the usual rules. */
  dropOwner(owner) {
    for (const [id, conn] of [...this.#conns]) {
      if (conn.owner !== owner) continue;
      conn.link.close(1001, 'page gone');
      this.#conns.delete(id);
      this.#broker.handleClosed(id, Date.now());
    }
    this.poll();
  }

  /**
   * The host's turn: sends what the core has produced (storage goes first,
   * inside pollTransmit, so what a finished commit releases leaves now),
   * hands out its events, and re-arms the timer.
   */
  poll() {
    if (this.#closed) return;
    if (this.#store !== null && !this.#store.busy) {
      const commit = this.#broker.pollStorage();
      if (commit !== undefined) this.#store.commit(commit);
    }
    const out = this.#broker.pollTransmit();
    if (out !== undefined) this.#transmit(readTransmits(out));
    for (let d = this.#broker.pollDial(); d !== undefined; d = this.#broker.pollDial()) this.#dial(d);
    const events = this.#broker.pollEvents();
    if (events !== undefined) {
      for (const event of events) {
        if (this.#hostEvent(event)) continue;
        for (const fn of this.#listeners) fn(event);
      }
    }
    this.#armTimer();
  }

  /**
   * Publishes a message from the host's own code (no MQTT client): the same
   * topic rules, ACL (as `options.username`, which the caller has
   * authenticated, see checkCredentials) and routing as a client's PUBLISH.
   * Resolves with `{ reasonCode }` once the broker has the message (at QoS
   * 1/2 under strict durability: once it is stored); rejects with
   * ERR_TABMQ_REJECTED (and the MQTT 5 `reasonCode`: 0x87 not authorized,
   * 0x90 invalid topic, 0x97 quota) if it refuses.
   * @param {string} topic
   * @param {string | Uint8Array | ArrayBuffer} payload
   * @param {{ qos?: 0|1|2, retain?: boolean, properties?: object, username?: string }} [options]
   */
  publish(topic, payload, options = {}) {
    if (this.#closed || this.#closing) return Promise.reject(closedError());
    const id = this.#nextHostId++;
    try {
      const { qos = 0, retain = false, properties, username } = options ?? {};
      this.#broker.handleHostPublish(id, String(topic), payloadBytes(payload), qos, Boolean(retain), properties, username, Date.now());
    } catch (err) {
      return Promise.reject(err);
    }
    const answer = new Promise((resolve, reject) => this.#publishes.set(id, { resolve, reject }));
    this.poll();
    return answer;
  }

  /**
   * Subscribes the host's own code to `filter`: `callback({ topic, payload,
   * qos, retain, properties })` for each message (retained ones first), read
   * under the ACL of `options.username`. Resolves with `{ qos, unsubscribe }`
   * once subscribed; rejects with ERR_TABMQ_REJECTED (and `reasonCode`) if
   * refused.
   * @param {string} filter
   * @param {(message: object) => void} callback
   * @param {{ qos?: 0|1|2, username?: string, onEnd?: (reasonCode: number) => void }} [options]
   *   `onEnd`: called if the broker ends the subscription itself (an access
   *   change took the user away, say).
   */
  subscribe(filter, callback, options = {}) {
    if (this.#closed || this.#closing) return Promise.reject(closedError());
    if (typeof callback !== 'function') return Promise.reject(optionError('callback', 'must be a function'));
    const id = this.#nextHostId++;
    try {
      const { qos = 0, username } = options ?? {};
      this.#broker.handleHostSubscribe(id, String(filter), qos, username, Date.now());
    } catch (err) {
      return Promise.reject(err);
    }
    const onEnd = typeof options?.onEnd === 'function' ? options.onEnd : null;
    const answer = new Promise((resolve, reject) => this.#subscriptions.set(id, { callback, resolve, reject, onEnd }));
    this.poll();
    return answer.then((qos) => ({ qos, unsubscribe: () => this.#unsubscribe(id) }));
  }

  /**
   * Starts the webhooks (`list` as checkWebhooks() returns it), each a
   * subscription of the core's own whose deliveries are acknowledged only
   * once the endpoint answers 2xx. `fetchFn`: the platform's fetch.
   */
  startWebhooks(list, fetchFn = (url, init) => globalThis.fetch(url, init)) {
    if (this.#webhooks || this.#closed) return;
    // The sessions of webhooks no longer configured (removed, renamed) end,
    // with their queues: nothing would ever forward them.
    this.#broker.handleHostForgetWebhooks((list ?? []).map((w) => w.name), Date.now());
    this.poll();
    if (!list?.length) return;
    const core = {
      subscribe: (hook, deliver) => {
        const id = this.#nextHostId++;
        this.#broker.handleHostWebhook(id, hook.name, hook.filter, hook.qos, hook.window, Date.now());
        const answer = new Promise((resolve, reject) => this.#subscriptions.set(id, { callback: deliver, raw: true, resolve, reject }));
        // The id first: what was in flight comes again before the answer.
        queueMicrotask(() => this.poll());
        return { id, answer };
      },
      ack: (id, packetId) => {
        if (this.#closed) return;
        this.#broker.handleHostAck(id, packetId, Date.now());
        this.poll();
      },
      unsubscribe: (id) => this.#unsubscribe(id),
      emit: (event) => {
        for (const fn of this.#listeners) fn(event);
      },
    };
    this.#webhooks = new Webhooks(list, core, fetchFn);
    this.#webhooks.start();
  }

  #unsubscribe(id) {
    if (!this.#subscriptions.delete(id) || this.#closed) return;
    this.#broker.handleHostUnsubscribe(id, Date.now());
    this.poll();
  }

  /** Disconnects client `clientId` (MQTT 5: DISCONNECT 0x98,
   *  administrative action); false if no client of that id is connected. */
  disconnectClient(clientId) {
    if (this.#closed) return false;
    const found = this.#broker.handleDisconnectClient(String(clientId), Date.now());
    this.poll();
    return found;
  }

  /** Resolves to whether `username`/`password` would be admitted at
   *  CONNECT: the password file or users, anonymous access, then the
   *  `authenticate` hook, if there is one, which must answer `true` (or
   *  0); for a host that authenticates its own requests (HTTP Basic,
   *  CoAP). A hook that throws or rejects refuses. */
  async checkCredentials(username, password) {
    const bytes = password === undefined ? undefined : payloadBytes(password);
    if (!this.#broker.checkCredentials(username, bytes)) return false;
    if (this.#authenticate === null) return true;
    try {
      const decision = await this.#authenticate({
        clientId: '', username, password: bytes, protocolVersion: 5, method: undefined, data: undefined, reauthenticate: false,
      });
      return decision === true || decision === 0;
    } catch (err) {
      console.error('tabmq: authenticate threw', err);
      return false;
    }
  }

  /** Answers to publish() and subscribe(), and their messages: handled
   *  here, not broker events. */
  #hostEvent(event) {
    switch (event.type) {
      case 'published': {
        const p = this.#publishes.get(event.id);
        this.#publishes.delete(event.id);
        if (event.reasonCode < 0x80) p?.resolve({ reasonCode: event.reasonCode });
        else p?.reject(rejected('publish', event.reasonCode));
        return true;
      }
      case 'subscribed': {
        const s = this.#subscriptions.get(event.id);
        if (!s?.resolve) return true;
        const { resolve, reject } = s;
        s.resolve = s.reject = null;
        if (event.reasonCode < 0x80) resolve(event.reasonCode);
        else {
          this.#unsubscribe(event.id);
          reject(rejected('subscribe', event.reasonCode));
        }
        return true;
      }
      case 'message': {
        const s = this.#subscriptions.get(event.id);
        if (s) {
          const { topic, payload, qos, retain, properties } = event;
          try {
            s.callback(s.raw ? event : { topic, payload, qos, retain, properties });
          } catch (err) {
            console.error('tabmq: a subscribe callback threw', err);
          }
        }
        return true;
      }
      case 'unsubscribed': {
        // The broker ended it (an access change, a protocol error): its
        // owner is told, when it asked to be (one it ended itself is gone
        // from the map already).
        const s = this.#subscriptions.get(event.id);
        this.#subscriptions.delete(event.id);
        s?.onEnd?.(event.reasonCode);
        return true;
      }
      default:
        return false;
    }
  }

  /** One poll's output: entry i is connection conns[i], its bytes
   *  data[ends[i - 1] .. ends[i]], then a close if closes[i]. */
  #transmit({ conns, ends, closes, data }) {
    let start = 0;
    for (let i = 0; i < conns.length; i++) {
      const id = conns[i];
      const end = ends[i];
      const conn = this.#conns.get(id);
      if (conn) {
        if (end > start) conn.link.send(data.subarray(start, end));
        if (closes[i]) {
          this.#conns.delete(id);
          conn.link.close(1000, '');
          this.#broker.handleClosed(id, Date.now());
        }
      }
      start = end;
    }
  }

  /** One timer, at the core's next deadline (pollTimeout). */
  #armTimer() {
    const at = this.#broker.pollTimeout();
    if (at === undefined) return;
    if (this.#timer !== null && at >= this.#timerAt) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#timerAt = Infinity;
      if (this.#closed) return;
      this.#broker.handleTimeout(Date.now());
      this.poll();
    }, Math.max(0, at - Date.now()));
  }

  stats() {
    const stats = this.#broker.stats(Date.now());
    if (this.#store !== null) stats.storage = this.#store.figures();
    if (this.#webhooks !== null) stats.webhooks = this.#webhooks.stats();
    return stats;
  }

  /** Replaces the access settings given (`passwordFile`, `users`, `acl`,
   *  `allowAnonymous`) for every session; throws ERR_TABMQ_OPTION, naming
   *  the option and line, for a file that does not read (nothing changes). */
  setAccess(options) {
    this.#broker.setAccess(options, Date.now());
    this.poll();
  }

  /** stats(), plus the origin's storage use as the browser estimates it. */
  async statsWithEstimate() {
    const stats = this.stats();
    if (stats.storage && globalThis.navigator?.storage?.estimate) {
      const { usage, quota } = await navigator.storage.estimate();
      stats.storage.bytesEstimated = usage;
      stats.storage.quota = quota;
    }
    return stats;
  }

  /** Sessions and retained messages, for an inspector. */
  inspect(retainedLimit = 1000) {
    return this.#broker.inspect(retainedLimit);
  }

  /** Stops at once, as a crash would: no shutdown, nothing flushed; ports
   *  are left as they are (the page that owned them is going). */
  abandon() {
    if (this.#closed) return;
    this.#closed = true;
    this.#settleHost();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#broker.closeStorage();
    this.#store?.abandon();
    this.#releaseDatabase?.();
  }

  /** Closes every connection (MQTT 5 clients get DISCONNECT 0x8B, server
   *  shutting down) and stops the broker. */
  async close() {
    if (this.#closed || this.#closing) return;
    // What the endpoints have not taken stays in the webhooks' sessions.
    this.#webhooks?.stop();
    this.#closing = true;
    this.#broker.handleShutdown(Date.now());
    this.poll();
    // Let the last commit (sessions left by the shutdown) finish.
    for (let i = 0; i < 500 && !this.#storageSettled(); i++) {
      await new Promise((ok) => setTimeout(ok, 10));
      this.poll();
    }
    // Whatever is still open (output gated behind a commit that never
    // came) is closed now: no port is left waiting.
    for (const [id, conn] of [...this.#conns]) {
      conn.link.close(1001, 'broker closed');
      this.#conns.delete(id);
    }
    this.#closed = true;
    this.#settleHost();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#broker.closeStorage();
    this.#broker.free();
    await this.#store?.close();
    this.#releaseDatabase?.();
  }

  /** Publishes and subscriptions still waiting for an answer fail. */
  #settleHost() {
    for (const { reject } of this.#publishes.values()) reject(closedError());
    for (const { reject } of this.#subscriptions.values()) reject?.(closedError());
    this.#publishes.clear();
    this.#subscriptions.clear();
  }

  /** Nothing stored is still on its way to storage. */
  #storageSettled() {
    if (this.#store !== null) {
      if (this.#store.busy) return false;
      const commit = this.#broker.pollStorage();
      if (commit === undefined) return true;
      this.#store.commit(commit);
      return false;
    }
    const s = this.#broker.stats(Date.now()).storage;
    return !s || (s.pendingOps === 0 && !s.commitInFlight);
  }
}

function closedError() {
  return new TabmqError('tabmq: the broker is closed', 'ERR_TABMQ_CLOSED');
}

/** The broker refused a host publish or subscription: `reasonCode` says why. */
function rejected(what, reasonCode) {
  const hex = `0x${reasonCode.toString(16).padStart(2, '0')}`;
  const err = new TabmqError(`tabmq: the broker refused the ${what} (reason code ${hex})`, 'ERR_TABMQ_REJECTED');
  err.reasonCode = reasonCode;
  return err;
}

const utf8 = new TextEncoder();

/** A payload as bytes: a string is UTF-8. */
export function payloadBytes(payload) {
  if (typeof payload === 'string') return utf8.encode(payload);
  if (payload instanceof Uint8Array) return payload;
  if (payload instanceof ArrayBuffer) return new Uint8Array(payload);
  if (ArrayBuffer.isView(payload)) return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  if (payload === undefined || payload === null) return new Uint8Array(0);
  throw optionError('payload', 'must be a string, a Uint8Array or an ArrayBuffer');
}
