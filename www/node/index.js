// tabmq's Node host: the same wasm broker the browser runs, served on real
// TCP, TLS, WebSocket and WebSocket-over-TLS ports.
//
//   import { createBroker } from 'tabmq/node';
//   const broker = await createBroker({ tcp: { port: 1883 }, ws: { port: 8083, path: '/mqtt' } });
//   broker.on('connected', (e) => console.log(e.clientId, e.remoteAddress));
//   await broker.close();

import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { BrokerHost, loadWasm } from '../shared/host.js';
import { TabmqError, optionError } from '../shared/errors.js';
import { checkAccessOptions, checkNodeOptions, defaultWriteBuffer } from './options.js';
import { resolveLimits, validateOptions } from '../pkg/tabmq.js';
import { listenTcp, listenWs } from './transport.js';
import { Admission } from './admission.js';
import { checkCertificates } from './certificates.js';
import { nodeDialer } from './dial.js';
import { DiskStore } from './store/index.js';

export { TabmqError, ERROR_CODES } from '../shared/errors.js';

const WASM_URL = new URL('../pkg/tabmq_bg.wasm', import.meta.url);
/** Sockets over limits.maxConnections that are still accepted, so that
 *  their clients hear why they are refused (CONNACK 0x97 or return code 3)
 *  instead of seeing the connection drop. */
const REFUSAL_MARGIN = 64;

let wasmBytes = null;

async function readWasm() {
  if (wasmBytes) return wasmBytes;
  try {
    wasmBytes = await readFile(WASM_URL);
  } catch (err) {
    throw new TabmqError(`tabmq: cannot read the broker's wasm at ${fileURLToPath(WASM_URL)} `
      + `(${err.code ?? err.message}); build it with \`npm run build:wasm\``, 'ERR_TABMQ_WASM');
  }
  return wasmBytes;
}

/**
 * Starts a broker listening on the `tcp`, `tls`, `ws` and/or `wss`
 * listeners of `options`. Throws a TabmqError (code ERR_TABMQ_OPTION, naming the option)
 * for a bad option, and the listen error (code EADDRINUSE, ...) with a
 * message naming the address when a port cannot be had; nothing is left
 * listening then.
 */
export async function createBroker(options = {}) {
  const opts = checkNodeOptions(options);
  const wasm = await readWasm();
  // The core checks its options before the data directory is touched.
  await loadWasm(wasm);
  validateOptions(opts.core);
  // The HTTP API listens first, so that /healthz answers and /readyz says
  // no while the data directory is restored; MQTT listens only after: a
  // client never meets a broker that has not yet read its sessions back.
  const app = { broker: null, metrics: null, closing: false, maxBody: 0, observations: new Map(), warn: (err) => process.emitWarning(err) };
  // Loaded only when asked for (prom-client and coap with them).
  const api = opts.http ? await (await import('./http.js')).listenHttp(opts.http, app) : null;
  let store = null;
  let host;
  try {
    store = opts.storage ? await DiskStore.open(opts.storage) : null;
    host = await BrokerHost.create(opts.core, opts.callbacks, wasm, 'node', store);
  } catch (err) {
    await store?.close();
    await api?.close();
    throw err;
  }
  // The limits in effect, from the core's table (the options are valid:
  // the core has just accepted them).
  opts.limits = Object.fromEntries(resolveLimits(opts.core).map((l) => [l.name, l.value]));
  opts.maxWriteBuffer ??= defaultWriteBuffer(opts.limits);
  const broker = new NodeBroker(host, opts);
  host.startWebhooks(opts.webhooks);
  host.setDialer(nodeDialer(opts.tlsByBridge));
  try {
    await broker._listen(opts.listeners);
  } catch (err) {
    await broker.close();
    await api?.close();
    throw err;
  }
  app.maxBody = opts.limits.maxPacketSize;
  app.warn = (err) => broker._warn(err);
  if (api) {
    const { brokerMetrics } = await import('./metrics.js');
    app.metrics = brokerMetrics({ stats: () => broker.stats(), watch: (type, fn) => broker.on(type, fn), store });
  }
  broker._serveGateways(api, app);
  if (opts.coap) {
    try {
      const { listenCoap } = await import('./coap.js');
      broker._serveGateways(await listenCoap(opts.coap, app), app);
    } catch (err) {
      await broker.close();
      throw err;
    }
  }
  broker._replayStartup();
  return broker;
}

/**
 * A running broker. Events: 'connected', 'disconnected', 'rejected',
 * 'dropped', 'denied', 'bridge' (the core's events, with `transport`, `remoteAddress` and
 * `remotePort` added where there is a connection), 'event' (all of those),
 * 'slowConsumer' (a connection closed because its unsent output passed
 * maxWriteBuffer), 'storage' (the data directory's store stalled,
 * recovered, went over maxStoreBytes or back under it), 'warning' (a
 * listener error after start, or an `error` event: storage trouble) and
 * 'close'.
 */
class NodeBroker extends EventEmitter {
  #host;
  #opts;
  #servers = [];
  #conns = new Map(); // conn id -> Connection (node-transport.js)
  #sockets = 0;
  #admission;
  #closed = false;
  #closing = null;
  #allGone = null;
  #httpApp = null;

  constructor(host, opts) {
    super();
    this.#host = host;
    this.#opts = opts;
    this.#admission = new Admission(opts.admission);
    host.onEvent((e) => this.#onEvent(e));
  }

  /** What start-up found (records skipped while restoring, a store
   *  already full), once the caller of createBroker() has had its turn to
   *  listen. */
  _replayStartup() {
    setImmediate(() => {
      for (const e of this.#host.startupErrors) this.#onEvent(e);
    });
  }

  async _listen(listeners) {
    const ctx = this.#context();
    for (const spec of listeners) {
      const server = spec.transport === 'tcp' || spec.transport === 'tls' ? await listenTcp(spec, ctx) : await listenWs(spec, ctx);
      this.#servers.push(server);
    }
  }

  /** The HTTP API (http.js, listening since before the restore) and the
   *  CoAP gateway (coap.js): they serve from now on, and close with the
   *  broker. */
  _serveGateways(server, app) {
    if (server) this.#servers.push(server);
    this.#httpApp = app;
    app.broker = this;
  }

  _warn(err) {
    this.#warn(err);
  }

  /** Counts a new socket, or destroys it: the broker is closed, the
   *  sockets of every listener are at the cap, or its address is over
   *  `maxConnectionsPerAddress` or `connectRate`. */
  #admit(socket, hardCap) {
    const address = socket.remoteAddress;
    if (this.#closed || this.#sockets >= hardCap || !this.#admission.admit(address)) {
      socket.destroy();
      return false;
    }
    this.#sockets++;
    socket.once('close', () => {
      this.#sockets--;
      this.#admission.release(address);
    });
    return true;
  }

  /** What the transports see of the broker. */
  #context() {
    const { limits, maxWriteBuffer } = this.#opts;
    const hardCap = limits.maxConnections + REFUSAL_MARGIN;
    const host = this.#host;
    const closed = () => this.#closed;
    return {
      host: {
        // `identity`: a client certificate's CN, the CONNECT's user name from then on.
        handleOpen: (link, owner, identity) => (closed() ? 0 : host.handleOpen(link, owner, identity)),
        handleBytes: (id, bytes) => closed() || host.handleBytes(id, bytes),
        handleClosed: (id) => closed() || host.handleClosed(id),
      },
      maxWriteBuffer,
      maxPayload: Math.max(65_536, 2 * limits.maxPacketSize),
      connectTimeout: limits.connectTimeout,
      hardCap,
      admit: (socket) => this.#admit(socket, hardCap),
      add: (conn) => this.#conns.set(conn.id, conn),
      remove: (conn) => {
        this.#conns.delete(conn.id);
        if (this.#conns.size === 0) this.#allGone?.();
      },
      slow: (conn) => this.#emit('slowConsumer', {
        type: 'slowConsumer', conn: conn.id, ...where(conn), bufferedBytes: conn.buffered,
      }),
      warn: (err) => this.#warn(err),
    };
  }

  #onEvent(e) {
    if (e.type === 'error') {
      // Trouble outside the protocol (the host's storage): a warning, not
      // EventEmitter's 'error', which would throw without a listener.
      this.#warn(new TabmqError(e.message, e.code));
      return this.#emit('event', e, false);
    }
    const conn = e.conn === undefined ? undefined : this.#conns.get(e.conn);
    if (conn) Object.assign(e, where(conn));
    this.#emit(e.type, e);
  }

  #warn(err) {
    if (this.listenerCount('warning') > 0) this.emit('warning', err);
    else process.emitWarning(err);
  }

  /** A listener that throws must not break the host loop that called it. */
  #emit(type, e, alsoAsEvent = true) {
    try {
      this.emit(type, e);
      if (alsoAsEvent) this.emit('event', e);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  /** The first port of each kind of listener the broker has: `{ tcp, ws,
   *  tls, wss }` (the real one when 0 was asked for; kinds it has no
   *  listener of are left out). */
  get ports() {
    const ports = {};
    for (const { info } of this.#servers) ports[info.transport] ??= info.port;
    return ports;
  }

  /** Every listener's address: { transport, host, port, path?, url }. (Not
   *  `listeners`: that is EventEmitter's.) */
  get addresses() {
    return this.#servers.map((s) => ({ ...s.info }));
  }

  /** The core's counters, plus the host's: sockets, paused sockets and
   *  bytes waiting to be written. */
  stats() {
    this.#checkOpen();
    let paused = 0;
    let buffered = 0;
    for (const conn of this.#conns.values()) {
      if (conn.paused) paused++;
      buffered += conn.buffered;
    }
    return { ...this.#host.stats(), sockets: this.#sockets, pausedSockets: paused, bufferedBytes: buffered };
  }

  /** Takes bridge `name`'s link down: messages for it queue until
   *  `resumeBridge(name)`. Throws ERR_TABMQ_NO_BRIDGE for an unknown name. */
  pauseBridge(name) {
    this.#checkOpen();
    this.#host.handleBridgePause(name, true);
  }

  /** Brings a paused bridge back: it connects at once and drains its queue. */
  resumeBridge(name) {
    this.#checkOpen();
    this.#host.handleBridgePause(name, false);
  }

  /**
   * Replaces the certificates of every `tls` and `wss` listener, for the
   * connections made from now on (those open keep theirs): `cert` and
   * `key` (PEM), and `ca` (PEM, for client certificates; left out, each
   * listener keeps its own). Throws ERR_TABMQ_OPTION, naming the option,
   * for PEM that cannot be read or a key that is not the certificate's.
   */
  setCertificates(certificates) {
    this.#checkOpen();
    if (certificates === null || typeof certificates !== 'object') {
      throw optionError('setCertificates', 'takes an object { cert, key, ca? }');
    }
    const checked = checkCertificates(certificates);
    for (const s of this.#servers) s.setCertificates?.(checked);
  }

  /**
   * Replaces the broker's access rules, as BrokerHost.setAccess does (the
   * core checks their content): `passwordFile` and `acl` (the text of
   * Mosquitto's files), `users`, `allowAnonymous`. Throws ERR_TABMQ_OPTION,
   * naming the option, for a value of the wrong type.
   */
  setAccess(options) {
    this.#checkOpen();
    return this.#host.setAccess(checkAccessOptions(options));
  }

  /**
   * Publishes a message without an MQTT client: `options` `{ qos, retain,
   * properties, username }` (the ACL of `username` applies). Resolves with
   * `{ reasonCode }` once the broker has it (at QoS 1/2 under strict: once
   * stored); rejects with ERR_TABMQ_REJECTED and its `reasonCode` if the
   * broker refuses it.
   */
  publish(topic, payload, options = {}) {
    this.#checkOpen();
    return this.#host.publish(topic, payload, options);
  }

  /**
   * Calls `callback({ topic, payload, qos, retain, properties })` for each
   * message matching `filter` (retained ones first); `options` `{ qos,
   * username }`. Resolves with `{ qos, unsubscribe() }` once subscribed;
   * rejects with ERR_TABMQ_REJECTED and its `reasonCode` if refused.
   */
  subscribe(filter, callback, options = {}) {
    this.#checkOpen();
    return this.#host.subscribe(filter, callback, options);
  }

  /** Disconnects client `clientId` (MQTT 5: DISCONNECT 0x98,
   *  administrative action; its will follows the usual rules). Returns
   *  false if no client of that id is connected. */
  disconnectClient(clientId) {
    this.#checkOpen();
    return this.#host.disconnectClient(clientId);
  }

  /** Resolves to whether `username`/`password` would be admitted at
   *  CONNECT (the password file or users, anonymous access, then the
   *  `authenticate` callback, which must answer true). */
  checkCredentials(username, password) {
    this.#checkOpen();
    return this.#host.checkCredentials(username, password);
  }

  /** Sessions and retained messages (at most `retainedLimit`), for an inspector. */
  inspect(retainedLimit = 1000) {
    this.#checkOpen();
    return this.#host.inspect(retainedLimit);
  }

  #checkOpen() {
    if (this.#closed) throw new TabmqError('tabmq: the broker is closed', 'ERR_TABMQ_CLOSED');
  }

  /** Stops listening, sends DISCONNECT 0x8B (server shutting down) to MQTT 5
   *  clients, closes every connection and resolves once all are gone. */
  close() {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown() {
    if (this.#httpApp) this.#httpApp.closing = true;
    const serversClosed = this.#servers.map((s) => s.close());
    const gone = new Promise((resolve) => {
      this.#allGone = resolve;
    });
    const hostClosed = this.#host.close(); // every connection's link is closed here
    this.#closed = true;
    await hostClosed;
    if (this.#conns.size > 0) await gone;
    for (const s of this.#servers) s.destroy?.();
    await Promise.all(serversClosed);
    this.emit('close');
  }
}

function where(conn) {
  return {
    transport: conn.transport,
    remoteAddress: conn.remoteAddress,
    remotePort: conn.remotePort,
    listener: conn.listener.url,
  };
}
