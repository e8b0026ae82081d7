// The HTTP API of the Node host (`http: { port, host }`, `tabmq --http
// PORT`): publish over HTTP, the broker's clients, subscriptions, retained
// messages and stats, disconnecting a client, Prometheus metrics, and
// health and readiness. Over TLS when the option has `cert` and `key`.
//
// Access: when the broker admits no anonymous client (a password file or
// users), every request needs HTTP Basic credentials of one of its users;
// a publish goes through the ACL as that user. It listens on 127.0.0.1
// unless told otherwise.

import http from 'node:http';
import https from 'node:https';
import { once } from 'node:events';
import { readRetained } from './retained.js';

const API = '/api/v1';
const JSON_TYPE = 'application/json; charset=utf-8';

/** HTTP status for the MQTT 5 reason a publish was refused with. */
function statusOf(reasonCode) {
  if (reasonCode === 0x87) return 403;
  if (reasonCode === 0x97 || reasonCode === 0x93 || reasonCode === 0x89) return 503;
  return 400;
}

class HttpError extends Error {
  constructor(status, message, extra = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
  }
}

/**
 * Listens for the HTTP API: `spec` { port, host, cert?, key?, ca? };
 * `app.broker` is the NodeBroker once it serves (null while it restores:
 * /readyz says 503 and the API waits), `app.metrics` the /metrics writer,
 * `app.maxBody` the largest publish body. Resolves with { info, close,
 * destroy }, like the MQTT listeners.
 */
export async function listenHttp(spec, app) {
  const secure = spec.cert !== undefined;
  const handler = (req, res) => {
    serve(req, res, app, spec.admins ?? []).catch((err) => {
      // A client that went away mid-request is no server error.
      if (req.destroyed && !res.writableEnded && !(err instanceof HttpError)) return res.destroy();
      if (err?.code === 'ERR_TABMQ_CLOSED') err = new HttpError(503, 'the broker is closing');
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) app.warn?.(err);
      const body = { error: err.message, ...(err.extra ?? {}) };
      const headers = { 'content-type': JSON_TYPE };
      if (status === 401) headers['www-authenticate'] = 'Basic realm="tabmq", charset="UTF-8"';
      if (!res.headersSent) res.writeHead(status, headers);
      res.end(JSON.stringify(body));
    });
  };
  const server = secure
    ? https.createServer({ cert: spec.cert, key: spec.key, ca: spec.ca }, handler)
    : http.createServer(handler);
  server.listen(spec.port, spec.host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => {
    throw Object.assign(new Error(`tabmq: cannot listen for HTTP on ${spec.host}:${spec.port}: ${err.message}`), { code: err.code });
  })]);
  server.on('error', (err) => app.warn?.(err));
  const { port } = server.address();
  const scheme = secure ? 'https' : 'http';
  const hostPart = spec.host.includes(':') ? `[${spec.host}]` : spec.host;
  return {
    info: { transport: secure ? 'https' : 'http', host: spec.host, port, url: `${scheme}://${hostPart}:${port}/` },
    close: () => new Promise((resolve) => server.close(() => resolve())),
    destroy: () => server.closeAllConnections(),
  };
}

async function serve(req, res, app, admins) {
  const url = new URL(req.url, 'http://tabmq.invalid');
  const path = url.pathname;
  if (path === '/healthz') return send(res, 200, { status: 'ok' });
  if (path === '/readyz') {
    const ready = app.broker !== null && !app.closing;
    return send(res, ready ? 200 : 503, { ready });
  }
  const broker = app.broker;
  if (broker === null || app.closing) throw new HttpError(503, 'the broker is not serving yet (restoring its data) or is closing');
  const username = await authenticate(req, broker);
  const route = `${req.method} ${path}`;
  // Publishing and reading retained messages are any user's, under the
  // ACL; the rest (other clients, their subscriptions, the broker's
  // figures, disconnecting) only an administrator's, when requests carry
  // users at all (http.admins).
  const open = route === `POST ${API}/publish` || route === `GET ${API}/retained`;
  if (!open && username !== undefined && !admins.includes(username)) {
    throw new HttpError(403, `'${username}' is not an administrator of this broker (http.admins)`);
  }
  if (route === 'GET /metrics') {
    const text = await app.metrics.text();
    res.writeHead(200, { 'content-type': app.metrics.contentType });
    return res.end(text);
  }
  if (route === `POST ${API}/publish`) return publish(req, res, url, broker, username, app.maxBody);
  if (route === `GET ${API}/clients`) return send(res, 200, broker.inspect(0).clients);
  if (route === `GET ${API}/subscriptions`) {
    const subs = broker.inspect(0).clients.flatMap((c) => c.subscriptions.map((s) => ({ clientId: c.clientId, ...s })));
    return send(res, 200, subs);
  }
  if (route === `GET ${API}/retained`) {
    const limit = Math.min(Number(url.searchParams.get('limit') ?? 1000) || 1000, 100_000);
    const readable = await readRetained(broker, '#', username, limit).catch((err) => {
      if (err.code === 'ERR_TABMQ_REJECTED') return []; // nothing readable
      throw err;
    });
    const retained = readable.map(({ topic, payload, qos }) => ({
      topic, qos, payload: Buffer.from(payload).toString('base64'), payloadEncoding: 'base64',
    }));
    return send(res, 200, retained);
  }
  if (route === `GET ${API}/stats`) return send(res, 200, broker.stats());
  if (req.method === 'DELETE' && path.startsWith(`${API}/clients/`)) {
    let clientId;
    try {
      clientId = decodeURIComponent(path.slice(`${API}/clients/`.length));
    } catch {
      throw new HttpError(400, 'the client id is not valid percent-encoding');
    }
    if (!broker.disconnectClient(clientId)) throw new HttpError(404, `no client '${clientId}' is connected`);
    return send(res, 200, { disconnected: clientId });
  }
  throw new HttpError(404, `no such endpoint: ${req.method} ${path}`);
}

/** The user of the request's HTTP Basic credentials, undefined for an
 *  anonymous request the broker accepts; throws 401 otherwise. */
async function authenticate(req, broker) {
  const header = req.headers.authorization;
  if (header === undefined) {
    if (await broker.checkCredentials(undefined, undefined)) return undefined;
    throw new HttpError(401, 'credentials needed (HTTP Basic, a user of the broker)');
  }
  const [scheme, encoded = ''] = header.split(' ');
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (scheme.toLowerCase() !== 'basic' || colon < 0) throw new HttpError(401, 'only HTTP Basic credentials are understood');
  const username = decoded.slice(0, colon);
  if (!(await broker.checkCredentials(username, decoded.slice(colon + 1)))) throw new HttpError(401, 'bad user name or password');
  return username;
}

/** POST /api/v1/publish: a JSON body { topic, payload, payloadEncoding,
 *  qos, retain, properties }, or a raw body with ?topic= (and ?qos=,
 *  ?retain=). Answered once the broker has the message. */
async function publish(req, res, url, broker, username, maxBody) {
  const body = await readBody(req, maxBody);
  let topic;
  let payload;
  let options;
  if (url.searchParams.has('topic')) {
    topic = url.searchParams.get('topic');
    payload = body;
    options = { qos: queryQos(url.searchParams.get('qos')), retain: ['1', 'true'].includes(url.searchParams.get('retain')) };
  } else {
    let msg;
    try {
      msg = JSON.parse(body.toString('utf8'));
    } catch {
      throw new HttpError(400, 'the body is not JSON (or give the topic in the query: ?topic=)');
    }
    if (msg === null || typeof msg !== 'object' || typeof msg.topic !== 'string') throw new HttpError(400, '`topic` must be a string');
    const encoding = msg.payloadEncoding ?? 'utf8';
    if (encoding !== 'utf8' && encoding !== 'base64') throw new HttpError(400, "`payloadEncoding` must be 'utf8' or 'base64'");
    if (msg.payload !== undefined && typeof msg.payload !== 'string') throw new HttpError(400, '`payload` must be a string');
    topic = msg.topic;
    if (encoding === 'base64' && !isBase64(msg.payload ?? '')) throw new HttpError(400, '`payload` is not base64 (RFC 4648, with its padding)');
    payload = Buffer.from(msg.payload ?? '', encoding);
    if (msg.qos !== undefined && ![0, 1, 2].includes(msg.qos)) throw new HttpError(400, '`qos` must be 0, 1 or 2');
    if (msg.retain !== undefined && typeof msg.retain !== 'boolean') throw new HttpError(400, '`retain` must be a boolean');
    options = { qos: msg.qos ?? 0, retain: msg.retain ?? false, properties: msg.properties };
  }
  try {
    const { reasonCode } = await broker.publish(topic, payload, { ...options, username });
    return send(res, 200, { reasonCode });
  } catch (err) {
    if (err.code === 'ERR_TABMQ_REJECTED') throw new HttpError(statusOf(err.reasonCode), err.message, { reasonCode: err.reasonCode });
    if (err.code === 'ERR_TABMQ_OPTION') throw new HttpError(400, err.message);
    throw err;
  }
}

/** Node's base64 decoder skips what it does not understand; the API does
 *  not guess: standard or URL-safe alphabet, padded to a multiple of 4. */
function isBase64(text) {
  return text.length % 4 === 0 && /^[A-Za-z0-9+/_-]*={0,2}$/.test(text);
}

function queryQos(value) {
  if (value === null) return 0;
  if (!['0', '1', '2'].includes(value)) throw new HttpError(400, '`qos` must be 0, 1 or 2');
  return Number(value);
}

async function readBody(req, max) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > max) throw new HttpError(413, `the body is larger than ${max} bytes (limits.maxPacketSize)`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function send(res, status, value) {
  res.writeHead(status, { 'content-type': JSON_TYPE });
  res.end(JSON.stringify(value));
}
