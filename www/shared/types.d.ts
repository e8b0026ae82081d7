// Type declarations shared by the page API (`tabmq`) and the Node host
// (`tabmq/node`): what the broker core itself takes and reports.

/** What `authenticate` receives for a CONNECT (or an AUTH exchange step). */
export interface AuthenticateRequest {
  conn: number;
  clientId: string;
  username?: string;
  password?: Uint8Array;
  /** 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0). */
  protocolVersion: 3 | 4 | 5;
  /** MQTT 5 enhanced authentication: the method and this step's data. */
  method?: string;
  data?: Uint8Array;
  /** True for re-authentication (AUTH 0x19) on a live connection. */
  reauthenticate: boolean;
}

/**
 * `true` accepts, `false` refuses with 0x86 (bad user name or password), a
 * number or `{ reasonCode }` refuses with that MQTT 5 reason code (0x80 and
 * up), `{ continue: data }` sends AUTH 0x18 (enhanced authentication).
 */
export type AuthenticateResult = boolean | number | { reasonCode: number } | { continue?: Uint8Array };

export interface AuthorizeRequest {
  action: 'publish' | 'subscribe';
  clientId: string;
  username?: string;
  protocolVersion: 3 | 4 | 5;
  /** The topic name (publish) or topic filter (subscribe). */
  topic: string;
  qos: 0 | 1 | 2;
  retain?: boolean;
}

export interface Limits {
  maxConnections?: number;
  /** Bytes, fixed header included (default 1 MiB). */
  maxPacketSize?: number;
  /** Unacknowledged QoS 1/2 PUBLISHes a client may send (default 65535, the most MQTT allows). */
  receiveMaximum?: number;
  /** QoS 1/2 messages in flight to one client (default 64). */
  maxInflight?: number;
  /** Messages waiting per session (default 10,000; when full, new messages are dropped). */
  maxQueuedMessages?: number;
  maxQueuedBytes?: number;
  /** Topic aliases a client may set (default 64). */
  topicAliasMaximum?: number;
  /** Topic aliases the broker sets towards one MQTT 5 client that allows them, within the client's own Topic Alias
   *  Maximum (default 64; 0: none). Repeated topics then cost 2 bytes instead of their name. */
  maxOutgoingTopicAliases?: number;
  maxTopicLength?: number;
  maxTopicLevels?: number;
  maxSubscriptionsPerClient?: number;
  /** Seconds; longer (or zero) client keep alives are replaced (MQTT 5 Server Keep Alive). */
  maxKeepAlive?: number;
  /** Seconds. */
  maxSessionExpiry?: number;
  /** Milliseconds a new connection has to send CONNECT (default 10,000). */
  connectTimeout?: number;
  /** PUBLISH packets per second one connection may send (a bucket of one second's worth); beyond it an MQTT 5
   *  client gets DISCONNECT 0x96 and a 3.1.1 client is closed (default: no limit). */
  publishRate?: number;
  /** PUBLISH bytes (topic and payload) per second one connection may send, with the same policy (default: no limit). */
  publishByteRate?: number;
}

/** One `out` or `in` entry of a bridge: topics matching `localPrefix +
 *  filter` here are `remotePrefix + filter` there (Mosquitto's `topic` line). */
export interface BridgeTopic {
  filter: string;
  /** Highest QoS the topics cross with (default 0). */
  qos?: 0 | 1 | 2;
  localPrefix?: string;
  remotePrefix?: string;
}

/** A bridge to a remote broker (see the README, "Bridge to a remote broker"). */
export interface BridgeOptions {
  /** Names the bridge (stats, events, `$SYS/broker/bridges/<name>/state`); no '/', '+' or '#'. */
  name: string;
  /** The remote: ws:// or wss:// in a browser; also mqtt://, tcp://, mqtts://, ssl://, tls:// in Node. */
  url: string;
  /** The client id at the remote (default `tabmq.<name>`): keep it stable, the remote keeps its session. */
  clientId?: string;
  username?: string;
  password?: string;
  /** 5 (default) or 4 (MQTT 3.1.1, announced as a bridge with level 0x84 unless `tryPrivate` is false). */
  protocolVersion?: 4 | 5;
  /** Seconds between PINGREQs (default 60); the link is given up after twice that in silence. */
  keepalive?: number;
  /** Seconds the remote keeps the bridge's session while it is away (default 86400). */
  sessionExpiry?: number;
  /** What goes from here to the remote. */
  out?: BridgeTopic[];
  /** What comes from the remote to here. */
  in?: BridgeTopic[];
  /** Reconnect backoff in ms (default 1000 to 60000, doubling, with jitter). */
  reconnect?: { minDelay?: number; maxDelay?: number };
  /** MQTT 3.1.1: announce a bridge (level 0x84, Mosquitto's try_private) so the remote does not echo (default true). */
  tryPrivate?: boolean;
}

/** A bridge's state, in `stats().bridges` and `inspect().bridges`. */
export interface BridgeStats {
  name: string;
  url: string;
  state: 'connecting' | 'connected' | 'backoff' | 'refused' | 'paused' | 'stopped';
  /** The reason code the remote refused or closed with. */
  reasonCode?: number;
  lastError?: string;
  /** Messages waiting in the bridge's session, and in flight to the remote. */
  queued: number;
  inflight: number;
  messagesOut: number;
  messagesIn: number;
  bytesOut: number;
  bytesIn: number;
  /** Connection attempts since the last success. */
  attempts: number;
}

/** The 'bridge' event: a bridge changed state. */
export interface BridgeEvent {
  type: 'bridge';
  name: string;
  state: BridgeStats['state'];
  reasonCode?: number;
  error?: string;
}

/** A webhook (`webhooks` option): messages matching `filter` are posted to
 *  `url` as JSON, one request at a time, in order, and acknowledged to the
 *  broker only after a 2xx answer; until then they queue in the webhook's
 *  session `$host/webhook/<name>` (stored like a bridge's). */
export interface WebhookOptions {
  /** Names its session (default: its index, as a string); keep it when reordering webhooks. */
  name?: string;
  /** http:// or https://. From a browser, the endpoint must allow the page's origin by CORS. */
  url: string;
  /** An MQTT topic filter. */
  filter: string;
  /** Default 'POST'. */
  method?: 'POST' | 'PUT';
  /** Sent with each request (after `content-type: application/json`). */
  headers?: Record<string, string>;
  /** The subscription's QoS (default 1; at 0 nothing is stored, and at most 1000 messages wait in memory while the endpoint fails). */
  qos?: 0 | 1 | 2;
  /** Send JSON arrays of up to `max` messages (default 100), waiting up to `ms` (default 0) to fill one.
   *  Without `batch`, each request is one message object. */
  batch?: { max?: number; ms?: number };
}

/** What an endpoint receives per message. */
export interface WebhookMessage {
  topic: string;
  payload: string;
  /** 'utf8' when the payload is valid UTF-8, else 'base64'. */
  payloadEncoding: 'utf8' | 'base64';
  qos: 0 | 1 | 2;
  retain: boolean;
  /** As in MessageProperties; correlationData as base64. */
  properties: Record<string, unknown>;
  /** When the broker handed it to the webhook (ms since 1970). */
  timestamp: number;
}

/** A webhook's figures, in `stats().webhooks`. */
export interface WebhookStats {
  name: string;
  url: string;
  filter: string;
  /** Messages the endpoint accepted (2xx). */
  sent: number;
  /** Failed requests (no answer, or not 2xx). */
  failed: number;
  /** QoS 0 messages dropped: more than 1000 waiting while the endpoint failed. */
  dropped: number;
  /** Messages received from the broker and not yet accepted (the rest wait in the session). */
  queued: number;
  retrying: boolean;
  lastError: string | null;
  lastErrorAt: number | null;
  lastStatus: number | null;
}

/** The 'webhook' event: a request failed ('failing', retried with backoff), or the endpoint accepts again ('ok'). */
export interface WebhookEvent {
  type: 'webhook';
  name: string;
  url: string;
  state: 'failing' | 'ok';
  /** The HTTP status, or null when there was no answer. */
  status: number | null;
  error?: string;
  queued?: number;
}

/** The options the broker core takes, the same in the browser and in Node. */
export interface CoreOptions {
  /** Remote brokers to bridge to. */
  bridges?: BridgeOptions[];
  limits?: Limits;
  /** `$SYS/broker/...` refresh interval in seconds; 0 turns it off (default 10). */
  sysInterval?: number;
  /** Queue QoS 0 messages for offline persistent sessions (default false). */
  queueQos0Offline?: boolean;
  retainAvailable?: boolean;
  /** Seed for the client ids the broker assigns (default: random). */
  clientIdSeed?: number;
  /** Called for each CONNECT (and AUTH step); may return a Promise. */
  authenticate?: (request: AuthenticateRequest) => AuthenticateResult | Promise<AuthenticateResult>;
  /** Called for each publish and subscribe; synchronous. */
  authorize?: (request: AuthorizeRequest) => boolean;
  /** The text of a Mosquitto password file (`mosquitto_passwd`): `username:hash` lines. */
  passwordFile?: string;
  /** Users, with a clear password or a hash as a Mosquitto password file holds it. */
  users?: ({ username: string; password: string } | { username: string; passwordHash: string })[];
  /** The text of a Mosquitto ACL file (`topic`, `user`, `pattern` lines). */
  acl?: string;
  /** Accept clients without a user name (refused with 0x87). Default: true unless `passwordFile` or `users` is
   *  given, as in Mosquitto 2.0. */
  allowAnonymous?: boolean;
  /** Refuse client ids with characters outside 0-9, a-z, A-Z (0x85), as [MQTT-3.1.3-5] lets a server (default false). */
  strictClientIds?: boolean;
  /** Forward messages to HTTP endpoints (handled by the host, with fetch). */
  webhooks?: WebhookOptions[];
}

export interface BrokerStats {
  connections: number;
  sessions: number;
  subscriptions: number;
  retained: number;
  messagesReceived: number;
  messagesSent: number;
  /** messagesReceived by QoS: [QoS 0, QoS 1, QoS 2]. */
  messagesReceivedByQos: [number, number, number];
  /** messagesSent by QoS: [QoS 0, QoS 1, QoS 2]. */
  messagesSentByQos: [number, number, number];
  messagesDropped: number;
  bytesReceived: number;
  bytesSent: number;
  queuedMessages: number;
  inflightMessages: number;
  storageOps: number;
  /** 'strict': acknowledgements of QoS 1 messages that left before their
   *  storage commit, every stored delivery of the message having been
   *  acknowledged already (nothing of it needed the disk any more). */
  acksReleasedEarly: number;
  pendingAcks: number;
  uptimeSecs: number;
  bridges: BridgeStats[];
  /** Present when `webhooks` are configured. */
  webhooks?: WebhookStats[];
  /** Present when the broker keeps its state in IndexedDB. */
  storage?: StorageStats;
}

export interface StorageStats {
  /** False after a storage failure: the broker then serves from memory. */
  enabled: boolean;
  /** The IndexedDB database: `tabmq:<name>`. */
  database: string;
  schemaVersion: number;
  /** The version the database had when this broker opened it (0: new). */
  upgradedFrom: number;
  /** Records the store holds once the pending writes are done. */
  records: number;
  bytesWritten: number;
  /** Storage operations waiting for the next transaction. */
  pendingOps: number;
  commitInFlight: boolean;
  commits: number;
  opsWritten: number;
  /** ms since the epoch. */
  lastCommitAt: number;
  lastCommitMs: number;
  /** Commit duration percentiles over the last 1,024 commits (ms). */
  commitMsP50: number;
  commitMsP99: number;
  /** Storage operations per transaction over the same window (group commit at work). */
  opsPerCommit: number;
  corruptSkipped: number;
  /** Commits that applied the log to the record stores and emptied it
   *  (every 1,024 commits or 8 MiB of log; the others append one log entry). */
  compactions: number;
  /** Log entries written since the last compaction (replayed at start-up). */
  logEntries: number;
  /** The origin's storage use and quota, as `navigator.storage.estimate()` says. */
  bytesEstimated?: number;
  quota?: number;
  /** Why storage failed, after a failure. */
  error?: string;
}

export interface BrokerInspection {
  bridges: BridgeStats[];
  clients: {
    clientId: string;
    connected: boolean;
    protocolVersion: 3 | 4 | 5;
    /** Seconds; 4294967295 never expires. */
    sessionExpiry: number;
    subscriptions: { filter: string; qos: 0 | 1 | 2 }[];
    inflight: number;
    queued: number;
  }[];
  retained: { topic: string; payload: Uint8Array; qos: 0 | 1 | 2 }[];
}

/** What `setAccess` replaces: each option given (null removes it). */
export type AccessOptions = Pick<CoreOptions, 'passwordFile' | 'users' | 'acl' | 'allowAnonymous'>;

/** MQTT 5 publish properties the host's own publishes may set, and that
 *  its subscriptions' messages carry (only those present). */
export interface MessageProperties {
  contentType?: string;
  responseTopic?: string;
  correlationData?: string | Uint8Array;
  /** Seconds. */
  messageExpiryInterval?: number;
  /** 1: the payload is UTF-8. */
  payloadFormatIndicator?: 0 | 1;
  /** A name may repeat: then its values are an array. */
  userProperties?: Record<string, string | string[]>;
}

/** `broker.publish(topic, payload, options)`. */
export interface PublishOptions {
  qos?: 0 | 1 | 2;
  retain?: boolean;
  properties?: MessageProperties;
  /** Publish as this user: its ACL applies (the caller has authenticated it). */
  username?: string;
}

/** `broker.subscribe(filter, callback, options)`. */
export interface SubscribeOptions {
  qos?: 0 | 1 | 2;
  /** Read as this user: its ACL applies. */
  username?: string;
  /** Called if the broker ends the subscription itself: an access change that removes the user or changes its
   *  password (0x87), as it disconnects that user's clients. */
  onEnd?: (reasonCode: number) => void;
}

/** A message for `broker.subscribe`'s callback. */
export interface BrokerMessage {
  topic: string;
  payload: Uint8Array;
  qos: 0 | 1 | 2;
  retain: boolean;
  properties: MessageProperties;
}

/** What `broker.subscribe` resolves with. */
export interface BrokerSubscription {
  /** The QoS granted. */
  qos: 0 | 1 | 2;
  /** Ends the subscription: no callback after it returns. */
  unsubscribe(): void;
}
