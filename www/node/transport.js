// The Node host's transports: MQTT over TCP (node:net), over TLS
// (node:tls), over WebSocket (the `ws` package) and over WebSocket over TLS
// (node:https + `ws`), each connection a `link` for BrokerHost.handleOpen().
// A TLSSocket is a net.Socket, so TLS connections are TcpConnections and
// WebSocket-over-TLS ones WsConnections: backpressure and closing are the
// same on all four.
//
// Backpressure: when a socket cannot take more output (socket.write()
// returns false, or a WebSocket's bufferedAmount passes HIGH_WATER), the
// host stops reading from it until its output drains. A client that does
// not read then stops acknowledging too, so the core's in-flight window and
// queue limits bound what it holds for that client. QoS 0 messages to an
// online client bypass the core's queue, so a connection whose unsent output
// still passes `maxWriteBuffer` is closed as too slow (its will applies).

import net from 'node:net';
import tls from 'node:tls';
import http from 'node:http';
import https from 'node:https';
import { WebSocketServer, WebSocket } from 'ws';
import { ERROR_CODES, TabmqError } from '../shared/errors.js';
import { peerIdentity, serverOptions } from './certificates.js';

/** Unsent bytes above which a WebSocket connection stops being read. */
const HIGH_WATER = 64 * 1024;
/** ... and below which it is read again. */
const LOW_WATER = 16 * 1024;
/** How long a closing connection may take to say goodbye before it is destroyed. */
export const CLOSE_LINGER_MS = 2000;
/** WebSocket subprotocols of MQTT 3.1.1/5.0 ('mqtt') and 3.1 ('mqttv3.1') [MQTT-6.0.0-3]. */
export const MQTT_SUBPROTOCOLS = ['mqtt', 'mqttv3.1'];

const noop = () => {};

/**
 * What the transports need from the broker (see NodeBroker in index.js):
 * @typedef {object} Context
 * @property {{ handleOpen: (link: object, owner: null, identity?: string) => number,
 *   handleBytes: (id: number, bytes: Uint8Array) => void, handleClosed: (id: number) => void }} host
 *   the host's inputs (refused once the broker is closed); `identity`: the
 *   client certificate's CN on a listener with useIdentityAsUsername
 * @property {number} maxWriteBuffer
 * @property {number} maxPayload        largest WebSocket message accepted
 * @property {number} connectTimeout    ms for a TLS handshake or an HTTP upgrade request to arrive
 * @property {number} hardCap           sockets (all listeners) before new ones are refused
 * @property {(socket: net.Socket) => boolean} admit   counts a new socket; false: refuse it
 * @property {(conn: Connection) => void} add
 * @property {(conn: Connection) => void} remove
 * @property {(conn: Connection) => void} slow        a connection is closed as too slow
 * @property {(err: Error) => void} warn
 */

/** One client connection, whatever carries it. */
class Connection {
  id = 0;
  paused = false;
  closing = false;
  #linger = null;

  /** @param {Context} ctx */
  constructor(ctx, transport, listener, remoteAddress, remotePort) {
    this.ctx = ctx;
    this.transport = transport;
    this.listener = listener;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
    this.link = { send: (bytes) => this.send(bytes), close: (code, reason) => this.end(code, reason) };
  }

  /** Hands the connection to the broker; false if the broker is closed.
   *  `identity` (a client certificate's CN) replaces the CONNECT's user name. */
  open(identity) {
    this.id = this.ctx.host.handleOpen(this.link, null, identity);
    if (this.id === 0) return false;
    this.ctx.add(this);
    return true;
  }

  /** The broker closes the connection: flush, then close; destroy if the
   *  peer does not finish within CLOSE_LINGER_MS. */
  end(code, reason) {
    if (this.closing) return;
    this.closing = true;
    this.finish(code, reason);
    this.#linger = setTimeout(() => this.destroy(), CLOSE_LINGER_MS);
    this.#linger.unref?.();
  }

  /** The network side is gone. */
  gone() {
    if (this.#linger) clearTimeout(this.#linger);
    this.#linger = null;
    this.closing = true;
    this.ctx.host.handleClosed(this.id);
    this.ctx.remove(this);
  }

  overflow() {
    this.ctx.slow(this);
    this.destroy();
  }
}

/** MQTT over TCP or over TLS (a TLSSocket is a net.Socket). */
class TcpConnection extends Connection {
  /** @param {net.Socket} socket */
  constructor(ctx, listener, socket) {
    super(ctx, listener.transport, listener, socket.remoteAddress, socket.remotePort);
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.on('data', (bytes) => this.ctx.host.handleBytes(this.id, bytes));
    socket.on('drain', () => this.#drained());
    socket.on('error', noop); // 'close' follows
    socket.once('close', () => this.gone());
  }

  send(bytes) {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    if (socket.write(bytes)) return;
    if (socket.writableLength > this.ctx.maxWriteBuffer) return this.overflow();
    if (!this.paused) {
      this.paused = true;
      socket.pause();
    }
  }

  #drained() {
    if (!this.paused || this.closing) return;
    this.paused = false;
    this.socket.resume();
  }

  finish() {
    this.socket.end();
    // Read (and drop) whatever still comes, so the peer's FIN is seen.
    this.socket.resume();
  }

  destroy() {
    this.socket.destroy();
  }

  get buffered() {
    return this.socket.writableLength;
  }
}

/** MQTT over WebSocket, over TCP or over TLS. */
class WsConnection extends Connection {
  /** @param {WebSocket} ws @param {http.IncomingMessage} req */
  constructor(ctx, listener, ws, req) {
    super(ctx, listener.transport, listener, req.socket.remoteAddress, req.socket.remotePort);
    this.ws = ws;
    this.flushed = () => {
      if (this.paused && !this.closing && ws.bufferedAmount <= LOW_WATER) {
        this.paused = false;
        ws.resume();
      }
    };
    ws.on('message', (data, isBinary) => {
      if (isBinary) this.ctx.host.handleBytes(this.id, data);
      else this.#textFrame();
    });
    ws.on('error', noop); // 'close' follows
    ws.once('close', () => this.gone());
  }

  send(bytes) {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(bytes, { binary: true }, this.flushed);
    const buffered = ws.bufferedAmount;
    if (buffered > this.ctx.maxWriteBuffer) return this.overflow();
    if (buffered > HIGH_WATER && !this.paused) {
      this.paused = true;
      ws.pause();
    }
  }

  /** [MQTT-6.0.0-1]: MQTT travels in binary frames; any other data frame closes the connection. */
  #textFrame() {
    if (this.closing) return;
    this.ctx.host.handleClosed(this.id);
    this.end(1003, 'MQTT needs binary frames');
  }

  finish(code = 1000, reason = '') {
    this.ws.resume(); // the peer's close frame must be read
    this.ws.close(code, reason);
  }

  destroy() {
    this.ws.terminate();
  }

  get buffered() {
    return this.ws.bufferedAmount;
  }
}

const SCHEMES = { tcp: 'mqtt', tls: 'mqtts', ws: 'ws', wss: 'wss' };

/** `mqtt://host:port`, `mqtts://host:port`, `ws://host:port/path` or
 *  `wss://host:port/path` for a listening address. */
function listenerUrl(transport, host, port, path = '') {
  let h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  if (h.includes(':')) h = `[${h}]`;
  return `${SCHEMES[transport]}://${h}:${port}${path}`;
}

function listen(server, spec, what) {
  return new Promise((resolve, reject) => {
    const failed = (err) => {
      const reason = err.code === 'EADDRINUSE' ? 'address already in use'
        : err.code === 'EACCES' ? 'permission denied'
          : err.code === 'EADDRNOTAVAIL' ? 'address not available on this machine'
            : err.message;
      const code = err.code in ERROR_CODES ? err.code : 'ERR_TABMQ_START';
      const failure = new TabmqError(`tabmq: cannot listen for ${what} on ${spec.host}:${spec.port}: ${reason}`, code, { cause: err });
      failure.listener = { ...spec };
      reject(failure);
    };
    server.once('error', failed);
    server.listen(spec.port, spec.host, () => {
      server.off('error', failed);
      resolve();
    });
  });
}

function closeServer(server) {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/**
 * What the TLS listeners add: destroy(), for the sockets that never became
 * MQTT connections (a handshake still on its way: the server's close waits
 * for them), and setCertificates() for new connections.
 * @param {tls.Server} server @param {object} spec a checked tls/wss listener
 */
function secureParts(server, spec) {
  const open = new Set(); // raw sockets, until they close
  server.on('connection', (raw) => {
    open.add(raw);
    raw.once('close', () => open.delete(raw));
  });
  // A failed or timed-out handshake (handshakeTimeout) only reports this:
  // the socket stays open until it is destroyed.
  server.on('tlsClientError', (_err, socket) => socket.destroy());
  let current = { cert: spec.cert, key: spec.key, ca: spec.ca };
  return {
    // Called once every MQTT connection is gone: what is left never was one.
    destroy: () => {
      for (const raw of open) raw.destroy();
    },
    /** Checked `{ cert, key, ca? }`: `ca` left out keeps the listener's own. */
    setCertificates: ({ cert, key, ca }) => {
      current = { cert, key, ca: ca ?? current.ca };
      server.setSecureContext(current);
    },
  };
}

/** The identity a TLS connection brings: the client certificate's CN when
 *  the listener uses it as the user name (null: it has none), else undefined. */
function identityOf(spec, socket) {
  return spec.useIdentityAsUsername ? peerIdentity(socket) : undefined;
}

/** A listening MQTT over TCP (`tcp`) or over TLS (`tls`) server. @param {Context} ctx */
export async function listenTcp(spec, ctx) {
  const secure = spec.transport === 'tls';
  const info = { transport: spec.transport, host: spec.host, port: spec.port, url: '' };
  const serve = (socket) => {
    const identity = secure ? identityOf(spec, socket) : undefined;
    if (identity === null) return socket.destroy();
    const conn = new TcpConnection(ctx, info, socket);
    if (!conn.open(identity)) socket.destroy();
  };
  let server;
  if (secure) {
    // Sockets are admitted (or refused) at accept, before the handshake.
    server = tls.createServer(serverOptions(spec, ctx.connectTimeout));
    server.on('connection', (raw) => ctx.admit(raw));
    server.on('secureConnection', serve);
  } else {
    server = net.createServer((socket) => {
      if (ctx.admit(socket)) serve(socket);
    });
  }
  const parts = secure ? secureParts(server, spec) : {};
  server.maxConnections = ctx.hardCap;
  await listen(server, spec, secure ? 'MQTT over TLS' : 'MQTT over TCP');
  server.on('error', (err) => ctx.warn(err));
  info.port = server.address().port;
  info.url = listenerUrl(spec.transport, spec.host, info.port);
  return { info, close: () => closeServer(server), ...parts };
}

/** Answers an upgrade request that will not become an MQTT connection. */
function refuse(socket, status, text, message) {
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\n`
      + `Content-Length: ${Buffer.byteLength(message)}\r\n\r\n${message}`);
  }
  socket.destroy();
}

/** The MQTT subprotocol to answer with, from a Sec-WebSocket-Protocol header. */
function pickProtocol(header) {
  if (typeof header !== 'string') return null;
  const offered = header.split(',').map((p) => p.trim());
  return MQTT_SUBPROTOCOLS.find((p) => offered.includes(p)) ?? null;
}

/** A listening MQTT over WebSocket (`ws`) or WebSocket over TLS (`wss`)
 *  server. @param {Context} ctx */
export async function listenWs(spec, ctx) {
  const secure = spec.transport === 'wss';
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: ctx.maxPayload,
    handleProtocols: (protocols) => MQTT_SUBPROTOCOLS.find((p) => protocols.has(p)) ?? false,
  });
  const info = { transport: spec.transport, host: spec.host, port: spec.port, path: spec.path, url: '' };
  // An upgrade request must arrive within the connect timeout, as CONNECT must.
  const timeouts = {
    headersTimeout: ctx.connectTimeout,
    requestTimeout: ctx.connectTimeout,
    connectionsCheckingInterval: Math.min(1000, ctx.connectTimeout),
  };
  const notMqtt = (req, res) => {
    res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close', Upgrade: 'websocket' });
    res.end(`tabmq: MQTT over WebSocket (subprotocol mqtt) at ${spec.path}\n`);
  };
  const server = secure
    ? https.createServer({ ...timeouts, ...serverOptions(spec, ctx.connectTimeout) }, notMqtt)
    : http.createServer(timeouts, notMqtt);
  server.maxConnections = ctx.hardCap;
  server.on('connection', (socket) => ctx.admit(socket));
  server.on('clientError', (_err, socket) => socket.destroy());
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', noop);
    const path = (req.url ?? '/').split('?')[0];
    if (path !== spec.path) return refuse(socket, 404, 'Not Found', `tabmq: no MQTT endpoint at ${path}; try ${spec.path}\n`);
    if (!pickProtocol(req.headers['sec-websocket-protocol'])) {
      return refuse(socket, 400, 'Bad Request', `tabmq: the WebSocket subprotocol must be one of ${MQTT_SUBPROTOCOLS.join(', ')}\n`);
    }
    const identity = secure ? identityOf(spec, socket) : undefined;
    if (identity === null) return refuse(socket, 403, 'Forbidden', 'tabmq: the client certificate has no common name\n');
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new WsConnection(ctx, info, ws, req);
      if (!conn.open(identity)) ws.terminate();
    });
  });
  const parts = secure ? secureParts(server, spec) : {};
  await listen(server, spec, secure ? 'MQTT over WebSocket over TLS' : 'MQTT over WebSocket');
  server.on('error', (err) => ctx.warn(err));
  info.port = server.address().port;
  info.url = listenerUrl(spec.transport, spec.host, info.port, spec.path);
  return {
    info,
    close: () => {
      const closed = closeServer(server);
      server.closeIdleConnections();
      wss.close();
      return closed;
    },
    ...parts,
    // Sockets that never became MQTT connections (an upgrade, or a TLS
    // handshake, still on its way).
    destroy: () => {
      parts.destroy?.();
      server.closeAllConnections();
    },
  };
}
