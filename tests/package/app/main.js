// A consumer app as a user would write it: the quick start from the README.
import { startBroker } from 'tabmq';
import mqtt from 'mqtt';

async function run() {
  const t0 = performance.now();
  const broker = await startBroker({ name: 'home', durability: 'memory' });
  const client = mqtt.connect(broker.url, { createWebsocket: broker.createWebsocket, protocolVersion: 5 });
  await new Promise((ok) => client.on('connect', ok));
  const connackMs = performance.now() - t0;
  await client.subscribeAsync('home/#', { qos: 1 });
  const got = new Promise((ok) => client.on('message', (topic, payload) => ok(`${topic}=${payload}`)));
  await client.publishAsync('home/hello', 'world', { qos: 1 });
  const message = await got;
  await client.endAsync();
  await broker.close();
  return { message, connackMs };
}

run().then(
  (r) => (window.result = r),
  (e) => (window.result = { error: String(e?.stack ?? e) }),
);
