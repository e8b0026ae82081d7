// Type tests for the Node host (`tabmq/node`): the README's and
// docs/node.md's examples, options, the broker object and its events.

import { createBroker, TabmqError } from 'tabmq/node';
import type { NodeBroker, NodeBrokerOptions, ConnectedEvent, BrokerEvent, NodeBrokerStats, TabmqErrorCode, BridgeEvent } from 'tabmq/node';

export async function example(): Promise<void> {
  const broker: NodeBroker = await createBroker({
    tcp: { port: 1883 },
    ws: { port: 8083, path: '/mqtt' },
    limits: { maxConnections: 5000 },
    authenticate: ({ username, password }) => username === 'dev' && String(Buffer.from(password ?? [])) === 's3cret',
    authorize: ({ action, topic }) => !(action === 'publish' && topic.startsWith('$')),
  });
  const ports: { tcp?: number; ws?: number } = broker.ports;
  void ports;
  broker.on('connected', (e: ConnectedEvent) => console.log(`${e.clientId} from ${e.remoteAddress} over ${e.transport}`));
  broker.on('event', (e: BrokerEvent) => void e.type);
  broker.on('warning', (err) => void err.message);
  const stats: NodeBrokerStats = broker.stats();
  void stats.bufferedBytes;
  for (const a of broker.addresses) void a.url;
  void broker.inspect(10).retained;
  await broker.close();
}

export const options: NodeBrokerOptions = {
  tcp: [0, { port: 0, host: '::' }],
  ws: 0,
  durability: 'memory',
  sysInterval: 0,
  queueQos0Offline: true,
  retainAvailable: true,
  clientIdSeed: 7,
  maxWriteBuffer: 65_536,
};

export async function errors(): Promise<void> {
  try {
    await createBroker({ tcp: 1883 });
  } catch (e) {
    if (e instanceof TabmqError) {
      const code: TabmqErrorCode = e.code;
      if (code === 'EADDRINUSE' || code === 'ERR_TABMQ_OPTION') console.log(e.message);
    }
  }
}

// @ts-expect-error: browser-only option
export const badNode: NodeBrokerOptions = { tcp: 0, mode: 'inline' };

// README, "Bridge to a remote broker" (Node: TCP, TLS or WebSocket).
export async function bridge(): Promise<void> {
  const broker = await createBroker({
    tcp: 1883,
    bridges: [{
      name: 'cloud',
      url: 'mqtts://broker.example.com:8883',
      protocolVersion: 4,
      tls: { ca: 'PEM...', rejectUnauthorized: true },
      out: [{ filter: 'sensors/#', qos: 1, remotePrefix: 'site1/' }],
      in: [{ filter: 'cmd/#', qos: 1, remotePrefix: 'site1/' }],
    }],
  });
  broker.on('bridge', (e: BridgeEvent) => void `${e.name} ${e.state}`);
  const queued: number = broker.stats().bridges[0].queued;
  void queued;
  broker.pauseBridge('cloud');
  broker.resumeBridge('cloud');
  await broker.close();
}
