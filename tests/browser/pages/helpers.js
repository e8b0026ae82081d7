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
  return new Promise((ok, fail) => {
    client.once('connect', (connack) => {
      client.socket = socket;
      client.connack = connack;
      ok(client);
    });
    client.once('error', fail);
  });
}

/** Resolves with the first `n` messages `client` receives: { topic, payload, packet }. */
export function collect(client, n, timeoutMs = 10_000) {
  const got = [];
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`timed out with ${got.length}/${n} messages`)), timeoutMs);
    client.on('message', (topic, payload, packet) => {
      got.push({ topic, payload: new TextDecoder().decode(payload), packet });
      if (got.length === n) {
        clearTimeout(timer);
        ok(got);
      }
    });
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
