// The Node host's transports: MQTT over TCP (node:net) and over WebSocket
// (the `ws` package), each connection a `link` for BrokerHost.handleOpen().
//
// Backpressure: when a socket cannot take more output (socket.write()
// returns false, or a WebSocket's bufferedAmount passes HIGH_WATER), the
// host stops reading from it until its output drains. A client that does
// not read then stops acknowledging too, so the core's in-flight window and
// queue limits bound what it holds for that client. QoS 0 messages to an
// online client bypass the core's queue, so a connection whose unsent output
// still passes `maxWriteBuffer` is closed as too slow (its will applies).

import net from 'node:net';
import http from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';
import { ERROR_CODES, TabmqError } from '../shared/errors.js';

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
 * @property {Pick<import('../shared/host.js').BrokerHost, 'handleOpen' | 'handleBytes' | 'handleClosed'>} host
 *   the host's inputs (refused once the broker is closed)
 * @property {number} maxWriteBuffer
 * @property {number} maxPayload        largest WebSocket message accepted
 * @property {number} connectTimeout    ms for an HTTP upgrade request to arrive
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

  /** Hands the connection to the broker; false if the broker is closed. */
  open() {
    this.id = this.ctx.host.handleOpen(this.link, null);
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

class TcpConnection extends Connection {
  /** @param {net.Socket} socket */
  constructor(ctx, listener, socket) {
    super(ctx, 'tcp', listener, socket.remoteAddress, socket.remotePort);
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

class WsConnection extends Connection {
  /** @param {WebSocket} ws @param {http.IncomingMessage} req */
  constructor(ctx, listener, ws, req) {
    super(ctx, 'ws', listener, req.socket.remoteAddress, req.socket.remotePort);
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

/** `mqtt://host:port` or `ws://host:port/path` for a listening address. */
function listenerUrl(transport, host, port, path = '') {
  let h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  if (h.includes(':')) h = `[${h}]`;
  return transport === 'tcp' ? `mqtt://${h}:${port}` : `ws://${h}:${port}${path}`;
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

/** A listening MQTT over TCP server. @param {Context} ctx */
export async function listenTcp(spec, ctx) {
  const info = { transport: 'tcp', host: spec.host, port: spec.port, url: '' };
  const server = net.createServer((socket) => {
    if (!ctx.admit(socket)) return;
    const conn = new TcpConnection(ctx, info, socket);
    if (!conn.open()) socket.destroy();
  });
  server.maxConnections = ctx.hardCap;
  await listen(server, spec, 'MQTT over TCP');
  server.on('error', (err) => ctx.warn(err));
  info.port = server.address().port;
  info.url = listenerUrl('tcp', spec.host, info.port);
  return { info, close: () => closeServer(server) };
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

/** A listening MQTT over WebSocket server. @param {Context} ctx */
export async function listenWs(spec, ctx) {
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: ctx.maxPayload,
    handleProtocols: (protocols) => MQTT_SUBPROTOCOLS.find((p) => protocols.has(p)) ?? false,
  });
  const info = { transport: 'ws', host: spec.host, port: spec.port, path: spec.path, url: '' };
  // An upgrade request must arrive within the connect timeout, as CONNECT must.
  const timeouts = {
    headersTimeout: ctx.connectTimeout,
    requestTimeout: ctx.connectTimeout,
    connectionsCheckingInterval: Math.min(1000, ctx.connectTimeout),
  };
  const server = http.createServer(timeouts, (req, res) => {
    res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close', Upgrade: 'websocket' });
    res.end(`tabmq: MQTT over WebSocket (subprotocol mqtt) at ${spec.path}\n`);
  });
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
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new WsConnection(ctx, info, ws, req);
      if (!conn.open()) ws.terminate();
    });
  });
  await listen(server, spec, 'MQTT over WebSocket');
  server.on('error', (err) => ctx.warn(err));
  info.port = server.address().port;
  info.url = listenerUrl('ws', spec.host, info.port, spec.path);
  return {
    info,
    close: () => {
      const closed = closeServer(server);
      server.closeIdleConnections();
      wss.close();
      return closed;
    },
    // Sockets that never became MQTT connections (an upgrade still on its way).
    destroy: () => server.closeAllConnections(),
  };
}
