// Type tests for the page API (`tabmq`): every README example, the options
// and the handle, compiled with `tsc --noEmit` (npm test, step `types`). A
// line marked @ts-expect-error must fail to type-check, or tsc fails.

import { startBroker, socketFromPort, TabmqError, ERROR_CODES, BrokerSocket } from 'tabmq';
import type { Broker, BrokerOptions, BrokerStats, BrokerInspection, Limits, TabmqErrorCode, BrokerErrorEvent, BrokerBridgeEvent, BrokerRestartedEvent, BridgeOptions, BridgeStats, BrokerWebhookEvent, WebhookMessage } from 'tabmq';

export async function quickStart(mqtt: { connect(url: string, opts: object): unknown }): Promise<void> {
  const broker: Broker = await startBroker({ name: 'home' });
  mqtt.connect(broker.url, { createWebsocket: broker.createWebsocket, protocolVersion: 5 });

  // Paho JS and other clients without a socket factory.
  const uninstall: () => void = broker.installWebSocket();
  uninstall();

  // Clients in a Worker.
  const port: MessagePort = await broker.openPort();
  const socket: BrokerSocket = socketFromPort(port);
  socket.binaryType = 'arraybuffer';
  socket.send(new Uint8Array([0xc0, 0]));
  socket.onmessage = (e: MessageEvent) => void e.data;

  const stats: BrokerStats = await broker.stats();
  const commits: number | undefined = stats.storage?.commits;
  void commits;
  const seen: BrokerInspection = await broker.inspect();
  for (const c of seen.clients) void c.subscriptions.map((s) => s.filter + s.qos);
  await broker.publish('cmd/lamp', new TextEncoder().encode('on'), { qos: 2 });
  const sub = await broker.subscribe('sensors/+', (m) => void new TextDecoder().decode(m.payload), { qos: 1 });
  sub.unsubscribe();

  broker.addEventListener('error', (e) => {
    const err = (e as BrokerErrorEvent).error;
    const code: TabmqErrorCode = err.code;
    void code;
  });
  broker.addEventListener('restarted', (e) => {
    const { cause, duration } = (e as BrokerRestartedEvent).detail;
    const how: 'lock' | 'heartbeat' = cause;
    void [how, duration.toFixed(0)];
  });
  const lost: TabmqErrorCode = 'ERR_TABMQ_BROKER_LOST';
  void lost;
  const leader: Broker = await startBroker({ mode: 'leader' });
  void leader.mode;
  await broker.close();
  broker.terminate();
}

export const everyOption: BrokerOptions = {
  name: 'home',
  mode: 'shared',
  durability: 'strict',
  limits: {
    maxConnections: 1,
    maxPacketSize: 64,
    receiveMaximum: 1,
    maxInflight: 1,
    maxQueuedMessages: 0,
    maxQueuedBytes: 0,
    topicAliasMaximum: 0,
    maxOutgoingTopicAliases: 0,
    maxTopicLength: 1,
    maxTopicLevels: 1,
    maxSubscriptionsPerClient: 1,
    maxKeepAlive: 1,
    maxSessionExpiry: 0,
    connectTimeout: 100,
  },
  sysInterval: 10,
  queueQos0Offline: false,
  retainAvailable: true,
  clientIdSeed: 1,
  hooks: new URL('https://example.invalid/auth.js'),
  workerUrl: '/worker.js',
  wasmUrl: '/tabmq_bg.wasm',
};

export const inlineHooks: BrokerOptions = {
  mode: 'inline',
  authenticate: async ({ username, password }) => username === 'dev' && password?.length === 6,
  authorize: ({ action, topic }) => !(action === 'publish' && topic.startsWith('$')),
};

export async function errors(): Promise<void> {
  try {
    await startBroker({ limits: { maxInflight: 0 } });
  } catch (e) {
    if (e instanceof TabmqError && e.code === 'ERR_TABMQ_OPTION') console.log(e.message, ERROR_CODES[e.code]);
  }
  const limits: Limits = { maxInflight: 5 };
  void limits;
}

// @ts-expect-error: not a mode
export const badMode: BrokerOptions = { mode: 'tab' };
// @ts-expect-error: not a limit
export const badLimit: Limits = { maxThings: 3 };
// @ts-expect-error: not a code
export const badCode: TabmqErrorCode = 'ERR_NOPE';

// README, "Bridge to a remote broker".
export async function bridge(): Promise<void> {
  const broker = await startBroker({
    name: 'dashboard',
    bridges: [{
      name: 'cloud',
      url: 'wss://broker.example.com:8084/mqtt',
      username: 'dashboard',
      password: 's3cret',
      out: [{ filter: 'cmd/#', qos: 1, remotePrefix: 'site1/' }],
      in: [{ filter: 'sensors/#', qos: 1, remotePrefix: 'site1/' }],
      reconnect: { minDelay: 1000, maxDelay: 30_000 },
    }],
  });
  broker.addEventListener('bridge', (e) => {
    const { name, state, reasonCode } = (e as BrokerBridgeEvent).detail;
    void `${name} ${state} ${reasonCode ?? ''}`;
  });
  const [cloud]: BridgeStats[] = (await broker.stats()).bridges;
  void `${cloud.state}: ${cloud.queued} queued, ${cloud.inflight} in flight`;
  await broker.pauseBridge('cloud');
  await broker.resumeBridge('cloud');
  // @ts-expect-error a browser bridge has no tls options (it dials wss:// with the browser's TLS)
  const noTls: BridgeOptions = { name: 'x', url: 'wss://x', tls: {} };
  void noTls;
}

// README, "Webhooks".
export async function webhooks(): Promise<void> {
  const broker = await startBroker({
    name: 'dashboard',
    webhooks: [{ url: 'https://api.example.com/readings', filter: 'sensors/#', batch: { max: 20, ms: 500 } }],
  });
  broker.addEventListener('webhook', (e) => {
    const { name, state, status } = (e as BrokerWebhookEvent).detail;
    void `${name} ${state} ${status ?? ''}`;
  });
  const stats = await broker.stats();
  void stats.webhooks?.[0].lastError;
  const body: WebhookMessage = { topic: 't', payload: 'aGk=', payloadEncoding: 'base64', qos: 1, retain: false, properties: {}, timestamp: 0 };
  void body;
}
