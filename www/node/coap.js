// The CoAP gateway of the Node host (`coap: { port, host }`, `tabmq --coap
// PORT`), in the style of EMQX's, on the `coap` package (RFC 7252 and
// RFC 7641 Observe):
//
//   POST coap://host/ps/<topic>?qos=&retain=   publishes (PUT too); a
//       confirmable request is QoS 1 unless ?qos= says otherwise, a
//       non-confirmable one QoS 0
//   GET coap://host/ps/<filter> with Observe     subscribes: each message
//       is a notification (retained ones first), until the client cancels
//   GET coap://host/ps/<topic>                   the retained message
//
// Credentials by query (?u=&p=), checked like an MQTT client's CONNECT;
// the ACL applies as that user. A request the gateway cannot read is
// answered with an error or dropped by the `coap` package; it never
// reaches the broker.

import coap from 'coap';
import { readRetained } from './retained.js';

const PREFIX = 'ps';

/** CoAP response code for the MQTT 5 reason a request was refused with. */
function codeOf(reasonCode) {
  if (reasonCode === 0x87) return '4.03';
  if (reasonCode === 0x97 || reasonCode === 0x93 || reasonCode === 0x89) return '5.03';
  return '4.00';
}

/**
 * Listens for CoAP on UDP: `spec` { port, host }; `app.broker` is the
 * NodeBroker (null until it serves: requests get 5.03). Resolves with {
 * info, close }, like the other listeners.
 */
export async function listenCoap(spec, app) {
  app.coap = { maxObservations: spec.maxObservations ?? 1000, maxObservationsPerAddress: spec.maxObservationsPerAddress ?? 16 };
  const server = coap.createServer({ type: spec.host.includes(':') ? 'udp6' : 'udp4' });
  server.on('request', (req, res) => {
    serve(req, res, app).catch((err) => {
      app.warn?.(err);
      reply(res, '5.00', 'internal error');
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(spec.port, spec.host, (err) => (err ? reject(err) : resolve()));
  }).catch((err) => {
    throw Object.assign(new Error(`tabmq: cannot listen for CoAP on ${spec.host}:${spec.port}: ${err.message}`), { code: err.code });
  });
  server.on('error', (err) => app.warn?.(err));
  const { port } = server._sock.address();
  const hostPart = spec.host.includes(':') ? `[${spec.host}]` : spec.host;
  return {
    info: { transport: 'coap', host: spec.host, port, url: `coap://${hostPart}:${port}/` },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function reply(res, code, text) {
  res.statusCode = code; // (an ObserveWriteStream reads only this)
  res.end(text === undefined ? undefined : Buffer.from(text));
}

/** The request's Uri-Path segments and Uri-Query parameters (options, not
 *  the URL text: a '#' is a topic level there, not a fragment). */
function target(req) {
  const values = (name) => req.options.filter((o) => o.name === name).map((o) => o.value.toString('utf8'));
  const query = new Map();
  for (const q of values('Uri-Query')) {
    const eq = q.indexOf('=');
    query.set(eq < 0 ? q : q.slice(0, eq), eq < 0 ? '' : q.slice(eq + 1));
  }
  return { path: values('Uri-Path'), query };
}

async function serve(req, res, app) {
  const broker = app.broker;
  if (broker === null || app.closing) return reply(res, '5.03', 'not serving');
  const { path, query: q } = target(req);
  if (path[0] !== PREFIX || path.length < 2) return reply(res, '4.04', `resources are /${PREFIX}/<topic>`);
  let topic;
  try {
    // A level may be percent-encoded (%23 for '#').
    topic = path.slice(1).map(decodeURIComponent).join('/');
  } catch {
    return reply(res, '4.00', 'the topic is not valid percent-encoding');
  }
  const username = q.get('u');
  if (!(await broker.checkCredentials(username, q.get('p')))) return reply(res, '4.01', 'bad credentials');
  if (req.method === 'POST' || req.method === 'PUT') return publish(req, res, broker, topic, username, q);
  if (req.method !== 'GET') return reply(res, '4.05', 'POST, PUT or GET');
  const key = observationKey(req);
  if (req.headers.Observe === 0) {
    // Each observation is a subscription of the broker's: bounded in all
    // and per address (a spoofed source could otherwise pile them up, or
    // aim a stream of notifications at a victim).
    const address = req.rsinfo.address;
    const renewing = app.observations.has(key);
    const fromAddress = [...app.observations.keys()].filter((k) => k.startsWith(`${address}|`)).length;
    if (!renewing && (app.observations.size >= app.coap.maxObservations || fromAddress >= app.coap.maxObservationsPerAddress)) {
      return reply(res, '5.03', 'too many observations');
    }
    return observe(req, res, broker, topic, username, app.observations, key);
  }
  if (req.headers.Observe === 1) {
    // Deregistration (RFC 7641 3.6): the observation with this token ends.
    app.observations.get(key)?.();
  }
  return retained(res, broker, topic, username);
}

/** An observation is its client's address and port and its token. */
function observationKey(req) {
  return `${req.rsinfo.address}|${req.rsinfo.port}|${req._packet.token.toString('hex')}`;
}

async function publish(req, res, broker, topic, username, q) {
  const qos = q.has('qos') ? Number(q.get('qos')) : req._packet.confirmable ? 1 : 0;
  if (![0, 1, 2].includes(qos)) return reply(res, '4.00', 'qos must be 0, 1 or 2');
  const retain = ['1', 'true'].includes(q.get('retain'));
  try {
    await broker.publish(topic, req.payload, { qos, retain, username });
    return reply(res, '2.04');
  } catch (err) {
    if (err.code === 'ERR_TABMQ_REJECTED') return reply(res, codeOf(err.reasonCode), err.message);
    if (err.code === 'ERR_TABMQ_OPTION' || err.code === 'ERR_TABMQ_CLOSED') return reply(res, '4.00', err.message);
    throw err;
  }
}

/** A subscription for as long as the client observes: each message is
 *  one notification (its payload). */
async function observe(req, res, broker, filter, username, observations, key) {
  let sub = null;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    observations.delete(key);
    sub?.unsubscribe();
    if (!res.writableEnded) res.end();
  };
  observations.get(key)?.(); // the same token again: the newer one wins
  observations.set(key, end);
  res.on('finish', end);
  res.on('error', end);
  try {
    sub = await broker.subscribe(filter, (m) => {
      if (!ended) res.write(Buffer.from(m.payload));
    }, { username, onEnd: end }); // ended by the broker: so is the observation
  } catch (err) {
    observations.delete(key);
    ended = true;
    if (err.code === 'ERR_TABMQ_REJECTED') return reply(res, codeOf(err.reasonCode), err.message);
    throw err;
  }
  if (ended) sub.unsubscribe();
}

/** The retained message of `topic`, if `username` may read it. */
async function retained(res, broker, topic, username) {
  let got;
  try {
    got = await readRetained(broker, topic, username, 1);
  } catch (err) {
    if (err.code === 'ERR_TABMQ_REJECTED') return reply(res, codeOf(err.reasonCode), err.message);
    throw err;
  }
  if (got.length === 0) return reply(res, '4.04', 'no retained message');
  res.statusCode = '2.05';
  res.end(Buffer.from(got[0].payload));
}
