// Type declarations for tabmq's page API.

import type { TabmqError, TabmqErrorCode } from '../shared/errors.js';

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
  topicAliasMaximum?: number;
  maxTopicLength?: number;
  maxTopicLevels?: number;
  maxSubscriptionsPerClient?: number;
  /** Seconds; longer (or zero) client keep alives are replaced (MQTT 5 Server Keep Alive). */
  maxKeepAlive?: number;
  /** Seconds. */
  maxSessionExpiry?: number;
  /** Milliseconds a new connection has to send CONNECT (default 10,000). */
  connectTimeout?: number;
}

export interface BrokerOptions {
  /** One broker per name per origin (default 'default'). */
  name?: string;
  /** 'shared' (default): a SharedWorker serving every tab; 'worker': a
   *  dedicated Worker; 'inline': this page's own thread. */
  mode?: 'shared' | 'worker' | 'inline';
  /** 'strict' (default): acknowledgements wait for IndexedDB; 'relaxed';
   *  'memory': nothing is stored. */
  durability?: 'strict' | 'relaxed' | 'memory';
  limits?: Limits;
  /** `$SYS/broker/...` refresh interval in seconds; 0 turns it off (default 10). */
  sysInterval?: number;
  /** Queue QoS 0 messages for offline persistent sessions (default false). */
  queueQos0Offline?: boolean;
  retainAvailable?: boolean;
  /** Seed for the client ids the broker assigns (default: random). */
  clientIdSeed?: number;
  /** Mode 'inline' only: called for each CONNECT; may return a Promise. */
  authenticate?: (request: AuthenticateRequest) => AuthenticateResult | Promise<AuthenticateResult>;
  /** Mode 'inline' only: called for each publish and subscribe; synchronous. */
  authorize?: (request: AuthorizeRequest) => boolean;
  /** URL of a module exporting `authenticate` and/or `authorize`; it runs
   *  where the broker runs (the worker in 'shared' and 'worker' mode). */
  hooks?: string | URL;
  /** Where worker.js is, if a bundler moved it. */
  workerUrl?: string | URL;
  /** Where tabmq_bg.wasm is, if a bundler moved it. */
  wasmUrl?: string | URL;
}

export interface BrokerStats {
  connections: number;
  sessions: number;
  subscriptions: number;
  retained: number;
  messagesReceived: number;
  messagesSent: number;
  messagesDropped: number;
  bytesReceived: number;
  bytesSent: number;
  queuedMessages: number;
  inflightMessages: number;
  storageOps: number;
  pendingAcks: number;
  uptimeSecs: number;
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
  /** Records held (refreshed at most every 2 s). */
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
  /** The origin's storage use and quota, as `navigator.storage.estimate()` says. */
  bytesEstimated?: number;
  quota?: number;
  /** Why storage failed, after a failure. */
  error?: string;
}

/** The `error` event of a broker handle (storage trouble: quota exceeded,
 *  blocked upgrade, database that cannot open, corrupt record skipped). */
export interface BrokerErrorEvent extends Event {
  readonly error: TabmqError;
  readonly code: TabmqErrorCode;
  readonly message: string;
}

/** `connected`, `disconnected`, `rejected` and `dropped` events carry the
 *  broker's event in `detail` (clientId, conn, reasonCode, ...). */
export interface BrokerActivityEvent extends Event {
  readonly detail: { type: string; clientId?: string; conn?: number; reasonCode?: number; protocolVersion?: number; topic?: string; why?: string };
}

export interface BrokerInspection {
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

/** A fake WebSocket connected to the broker (what MQTT.js and Paho use of WebSocket). */
export declare class BrokerSocket extends EventTarget {
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;
  readonly url: string;
  readonly readyState: 0 | 1 | 2 | 3;
  readonly protocol: string;
  readonly extensions: string;
  readonly bufferedAmount: number;
  binaryType: 'arraybuffer' | 'blob';
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void;
  close(code?: number, reason?: string): void;
}

export interface Broker extends EventTarget {
  readonly name: string;
  readonly mode: 'shared' | 'worker' | 'inline';
  /** A ws:// URL naming this broker; it never reaches the network. */
  readonly url: string;
  /** Hand to MQTT.js: `mqtt.connect(broker.url, { createWebsocket: broker.createWebsocket })`. */
  createWebsocket(url?: string, protocols?: string | string[]): BrokerSocket;
  /** Routes `new WebSocket(broker.url)` to tabmq (for Paho JS); returns an undo function. */
  installWebSocket(): () => void;
  /** A MessagePort connected to the broker, for a client in a Worker (see socketFromPort). */
  openPort(): Promise<MessagePort>;
  stats(): Promise<BrokerStats>;
  /** Sessions and retained messages, for an inspector. */
  inspect(): Promise<BrokerInspection>;
  /** Closes this page's connections; stops the broker in 'worker' and 'inline' mode. */
  close(): Promise<void>;
  /** Stops the broker at once, as a crash would (tests, demos). */
  terminate(): void;
}

export { TabmqError, ERROR_CODES } from '../shared/errors.js';
export type { TabmqErrorCode } from '../shared/errors.js';

/** A fake WebSocket over a port from `broker.openPort()`, usable in any context. */
export declare function socketFromPort(port: MessagePort, url?: string, protocols?: string[]): BrokerSocket;

export declare function startBroker(options?: BrokerOptions): Promise<Broker>;
