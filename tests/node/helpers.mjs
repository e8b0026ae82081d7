// Helpers for the Node host tests: bounded waits, MQTT.js clients that do
// not reconnect, and a raw TCP client speaking bytes built by mqtt-packet.

import net from 'node:net';
import { once } from 'node:events';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { createBroker } from '../../www/node/index.js';

export { createBroker };

/** Resolves like `promise`, or rejects after `ms` saying what was awaited. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `check()` (sync or async) until it is truthy; bounded. */
export async function until(what, check, ms = 5000, every = 10) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** An MQTT.js client that is connected, never reconnects, and fails fast. */
export async function connect(url, opts = {}) {
  return within(5000, `MQTT.js to connect to ${url}`, mqtt.connectAsync(url, {
    reconnectPeriod: 0,
    connectTimeout: 4000,
    ...opts,
  }));
}

/** The next `n` messages of `client` as { topic, payload (string), qos, retain, properties }. */
export function collect(client, n, ms = 5000, what = `${n} message(s)`) {
  const got = [];
  return within(ms, `${what} (got ${got.length})`, new Promise((resolve) => {
    const onMessage = (topic, payload, packet) => {
      got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain, properties: packet.properties });
      if (got.length === n) {
        client.off('message', onMessage);
        resolve(got);
      }
    };
    client.on('message', onMessage);
  }));
}

/** Ends every client, quietly, without waiting for slow ones. */
/**
 * MQTT.js, never reconnecting: `{ client, connack }` once connected, or
 * `{ error }` (its `code` is the CONNACK's reason or return code) if the
 * broker refuses or the connection closes first.
 */
export function attempt(url, opts = {}) {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 4000, ...opts });
  return within(6000, `MQTT.js to connect to or fail at ${url}`, new Promise((resolve) => {
    client.once('connect', (connack) => resolve({ client, connack }));
    client.once('error', (error) => {
      client.end(true);
      resolve({ error });
    });
    client.once('close', () => {
      client.end(true);
      resolve({ error: new Error('closed before CONNACK') });
    });
  }));
}

export async function endAll(...clients) {
  await Promise.all(clients.flat().filter(Boolean).map((c) => within(3000, 'client end', c.endAsync(true)).catch(() => {})));
}

/** A broker on free ports of 127.0.0.1 (TCP and WebSocket unless told). */
export function testBroker(options = {}) {
  return createBroker({ tcp: { port: 0 }, ws: { port: 0 }, sysInterval: 0, ...options });
}

/** The URL of the broker's first listener of `transport`. */
export function urlOf(broker, transport) {
  return broker.addresses.find((l) => l.transport === transport).url;
}

/** MQTT packet bytes, as mqtt-packet generates them. */
export function packet(p, protocolVersion = 4) {
  return mqttPacket.generate(p, { protocolVersion });
}

/**
 * A raw TCP connection: `send(bytes)`, `packets` (parsed as they come),
 * `next(cmd)` waits for a packet of that type, `closed` resolves when the
 * broker closes the connection.
 */
export async function rawClient(port, protocolVersion = 4) {
  const socket = net.connect(port, '127.0.0.1');
  await within(3000, 'a raw TCP connection', once(socket, 'connect'));
  const parser = mqttPacket.parser({ protocolVersion });
  const packets = [];
  const waiters = [];
  parser.on('packet', (p) => {
    packets.push(p);
    for (const w of [...waiters]) w();
  });
  parser.on('error', () => {});
  socket.on('data', (d) => parser.parse(d));
  socket.on('error', () => {});
  const closed = new Promise((resolve) => socket.once('close', resolve));
  return {
    socket,
    packets,
    closed,
    send: (bytes) => socket.write(bytes),
    next(cmd, ms = 3000) {
      return within(ms, `a ${cmd} packet`, new Promise((resolve) => {
        const check = () => {
          const i = packets.findIndex((p) => p.cmd === cmd);
          if (i < 0) return;
          waiters.splice(waiters.indexOf(check), 1);
          resolve(packets.splice(i, 1)[0]);
        };
        waiters.push(check);
        check();
      }));
    },
    destroy: () => socket.destroy(),
  };
}

/** Connects a raw client with a CONNECT and waits for its CONNACK. */
export async function rawConnect(port, clientId, protocolVersion = 4, extra = {}) {
  const c = await rawClient(port, protocolVersion);
  c.send(packet({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clientId, clean: true, keepalive: 0, ...extra }, protocolVersion));
  c.connack = await c.next('connack');
  return c;
}
