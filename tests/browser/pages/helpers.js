// In-page helpers for the browser tests (driven with page.evaluate).
import mqtt from '/node_modules/mqtt/dist/mqtt.esm.js';

/** Connects MQTT.js through the broker handle; resolves once CONNACK came.
 *  `client.socket` is the BrokerSocket underneath (to drop it without DISCONNECT). */
export function connect(broker, opts = {}) {
  let socket;
  const client = mqtt.connect(broker.url, {
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...opts,
    createWebsocket: (url, protocols, o) => (socket = broker.createWebsocket(url, protocols, o)),
  });
  // Every message from the start: a resumed session's queued messages can
  // arrive before the caller's `await` returns. collect() reads from here.
  client.inbox = [];
  client.taken = 0;
  client.waiters = [];
  client.on('message', (topic, payload, packet) => {
    client.inbox.push({ topic, payload: new TextDecoder().decode(payload), packet });
    for (const w of client.waiters.splice(0)) w();
  });
  return new Promise((ok, fail) => {
    client.once('connect', (connack) => {
      client.socket = socket;
      client.connack = connack;
      ok(client);
    });
    client.once('error', fail);
  });
}

/** Resolves with the next `n` messages `client` receives (counting from
 *  the last collect, or from the connection): { topic, payload, packet }. */
export function collect(client, n, timeoutMs = 10_000) {
  const start = client.taken;
  client.taken += n;
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`timed out with ${client.inbox.length - start}/${n} messages`)), timeoutMs);
    const check = () => {
      if (client.inbox.length >= start + n) {
        clearTimeout(timer);
        ok(client.inbox.slice(start, start + n));
      } else {
        client.waiters.push(check);
      }
    };
    check();
  });
}

export const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/** A plain view of a received packet for assertions in Node. */
export function plain(m) {
  const p = m.packet;
  return {
    topic: m.topic,
    payload: m.payload,
    qos: p.qos,
    retain: p.retain,
    properties: p.properties
      ? { ...p.properties, correlationData: p.properties.correlationData ? new TextDecoder().decode(p.properties.correlationData) : undefined }
      : undefined,
  };
}
