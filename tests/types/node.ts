// Type tests for the Node host (`tabmq/node`): the README's and
// docs/node.md's examples, options, the broker object and its events.

import { createBroker, TabmqError } from 'tabmq/node';
import type {
  AccessOptions, NodeBroker, NodeBrokerOptions, ConnectedEvent, BrokerEvent, NodeBrokerStats, TabmqErrorCode, BridgeEvent,
  DiskStorageStats, StorageEvent, WebhookEvent, WebhookStats,
} from 'tabmq/node';

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
  const { reasonCode } = await broker.publish('cmd/lamp', 'on', { qos: 1, retain: true, properties: { contentType: 'text/plain' } });
  void reasonCode;
  const sub = await broker.subscribe('sensors/#', (m) => void (m.topic + m.payload.byteLength + m.qos), { username: 'alice' });
  sub.unsubscribe();
  const kicked: boolean = broker.disconnectClient('sensor-1');
  const admitted: boolean = await broker.checkCredentials('alice', 'pw');
  void (kicked && admitted);
  void broker.ports.http;
  try {
    await broker.publish('a', new Uint8Array([1]));
  } catch (err) {
    if (err instanceof TabmqError && err.code === 'ERR_TABMQ_REJECTED') void err.reasonCode;
  }
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
  http: { port: 8080, host: '127.0.0.1' },
  coap: 5683,
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

// docs/node.md, TLS listeners, access control and per-address limits.
export async function secure(cert: string, key: Buffer, ca: string): Promise<void> {
  const broker = await createBroker({
    tls: { port: 8883, cert, key },
    wss: [{ port: 8084, path: '/mqtt', cert, key, ca, requireCertificate: true, useIdentityAsUsername: true }],
    passwordFile: 'alice:$7$101$...\n',
    users: [{ username: 'bob', password: 's3cret' }, { username: 'carol', passwordHash: '$7$101$...' }],
    acl: 'user alice\ntopic readwrite alice/#\n',
    allowAnonymous: false,
    strictClientIds: true,
    limits: { publishRate: 100, publishByteRate: 1_000_000 },
    maxConnectionsPerAddress: 10,
    connectRate: 5,
  });
  const ports: { tcp?: number; ws?: number; tls?: number; wss?: number } = broker.ports;
  void ports;
  const transports: ('tcp' | 'ws' | 'tls' | 'wss' | 'http' | 'https' | 'coap')[] = broker.addresses.map((a) => a.transport);
  void transports;
  broker.on('connected', (e: ConnectedEvent) => void (e.transport === 'wss'));
  broker.setCertificates({ cert, key });
  broker.setCertificates({ cert: Buffer.from(cert), key, ca: [ca, ca] });
  broker.setAccess({ passwordFile: '', acl: 'topic read #\n', allowAnonymous: true });
  const access: AccessOptions = { users: [] };
  broker.setAccess(access);
  await broker.close();
}

// @ts-expect-error: a TLS listener needs its certificate and key
export const noCert: NodeBrokerOptions = { tls: { port: 8883 } };
// @ts-expect-error: a TLS listener is an object, not a port
export const tlsPort: NodeBrokerOptions = { tls: 8883 };
// @ts-expect-error: a user needs a password or a hash
export const noPassword: NodeBrokerOptions = { tcp: 0, users: [{ username: 'x' }] };

// README, "Node": keep the broker's state on disk.
export async function durable(): Promise<void> {
  const broker = await createBroker({ tcp: 1883, dataDir: './tabmq-data', durability: 'strict', maxStoreBytes: 1 << 30 });
  broker.on('storage', (e: StorageEvent) => void `${e.path} ${e.state}`);
  const storage: DiskStorageStats | undefined = broker.stats().storage;
  if (storage) void [storage.records, storage.bytes, storage.commitMsP99, storage.opsPerCommit, storage.full];
  await broker.close();
}

// @ts-expect-error: not a durability
export const badDurability: NodeBrokerOptions = { tcp: 0, durability: 'eventual' };

// docs/node.md, "Webhooks".
export async function webhooks(): Promise<void> {
  const broker = await createBroker({
    tcp: { port: 1883 },
    dataDir: './data',
    webhooks: [{ url: 'https://example.com/ingest', filter: 'sensors/#', headers: { authorization: 'Bearer t0k3n' }, qos: 1, batch: { max: 50, ms: 200 } }],
  });
  broker.on('webhook', (e: WebhookEvent) => void `${e.name} ${e.state} ${e.status ?? ''} ${e.error ?? ''}`);
  const hooks: WebhookStats[] | undefined = broker.stats().webhooks;
  void hooks?.[0].queued;
  // @ts-expect-error: GET is not a webhook method
  await createBroker({ webhooks: [{ url: 'http://x/', filter: '#', method: 'GET' }] });
}
