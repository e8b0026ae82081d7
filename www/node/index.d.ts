// Type declarations for tabmq's Node host (`tabmq/node`).

import type { EventEmitter } from 'node:events';
import type { AccessOptions, BridgeEvent, BridgeOptions, BrokerInspection, BrokerStats, CoreOptions, WebhookEvent } from '../shared/types.js';
import type { BrokerMessage, BrokerSubscription, PublishOptions, SubscribeOptions } from '../shared/types.js';

export type {
  AccessOptions, AuthenticateRequest, AuthenticateResult, AuthorizeRequest, BridgeEvent, BridgeOptions, BridgeStats, BridgeTopic,
  BrokerInspection, BrokerStats, CoreOptions, Limits, StorageStats, WebhookEvent, WebhookMessage, WebhookOptions, WebhookStats,
  BrokerMessage, BrokerSubscription, MessageProperties, PublishOptions, SubscribeOptions,
} from '../shared/types.js';
export { TabmqError, ERROR_CODES } from '../shared/errors.js';
export type { TabmqErrorCode } from '../shared/errors.js';
import type { TabmqErrorCode } from '../shared/errors.js';

export interface TcpListenerOptions {
  /** 0 picks a free port; `broker.ports.tcp` tells which. */
  port: number;
  /** Address to listen on (default '127.0.0.1'; '0.0.0.0' or '::' for every interface). */
  host?: string;
}

export interface WsListenerOptions extends TcpListenerOptions {
  /** URL path of the endpoint (default '/mqtt'). */
  path?: string;
}

/** PEM text: a string or a Buffer. */
export type Pem = string | Buffer;

/** The certificates of a TLS listener, and of `broker.setCertificates()`. */
export interface Certificates {
  /** The listener's certificate (and its chain), PEM. */
  cert: Pem;
  /** Its private key, PEM, unencrypted. */
  key: Pem;
  /** CA certificate(s) that sign the client certificates to accept, PEM. */
  ca?: Pem | Pem[];
}

/** MQTT over TLS (mqtts). */
export interface TlsListenerOptions extends TcpListenerOptions, Certificates {
  /** Refuse, at the TLS handshake, clients without a certificate signed by `ca` (default false; needs `ca`). */
  requireCertificate?: boolean;
  /** The client certificate's subject CN becomes the MQTT user name, whatever the CONNECT says
   *  (no password is checked); implies `requireCertificate`. */
  useIdentityAsUsername?: boolean;
}

/** MQTT over WebSocket over TLS (wss). */
export interface WssListenerOptions extends TlsListenerOptions {
  /** URL path of the endpoint (default '/mqtt'). */
  path?: string;
}

/** A bridge, plus `tls`: options for Node's tls.connect (ca, cert, key,
 *  rejectUnauthorized, servername, ...) for an mqtts:// or wss:// url. */
export interface NodeBridgeOptions extends BridgeOptions {
  tls?: import('node:tls').ConnectionOptions;
}

export interface NodeBrokerOptions extends Omit<CoreOptions, 'bridges'> {
  bridges?: NodeBridgeOptions[];
  /** MQTT over TCP: a port, a listener, or several. */
  tcp?: number | TcpListenerOptions | (number | TcpListenerOptions)[];
  /** MQTT over WebSocket (subprotocol 'mqtt' or 'mqttv3.1'): a port, a listener, or several. */
  ws?: number | WsListenerOptions | (number | WsListenerOptions)[];
  /** MQTT over TLS: a listener, or several. */
  tls?: TlsListenerOptions | TlsListenerOptions[];
  /** MQTT over WebSocket over TLS: a listener, or several. */
  wss?: WssListenerOptions | WssListenerOptions[];
  /** A directory for the broker's SQLite database (created if missing; its parent must exist). Sessions,
   *  subscriptions, queued and in-flight QoS 1/2 messages and retained messages are restored from it at start.
   *  One broker per directory: another gets ERR_TABMQ_STORAGE_LOCKED. */
  dataDir?: string;
  /** With `dataDir`: 'strict' (the default: an acknowledgement waits until what it confirms is on disk, fsync'd)
   *  or 'relaxed' (acknowledged at once, written within milliseconds: a crash can lose what was acknowledged
   *  since the last commit; what was committed survives a crash of the process, not of the machine).
   *  Without `dataDir`: 'memory' (the default), nothing kept. */
  durability?: 'strict' | 'relaxed' | 'memory';
  /** With `dataDir`: past this many bytes of stored data, QoS 1/2 messages that would be stored are refused
   *  with 0x97 quota exceeded (3.1.1 clients are disconnected) until it is 5% below it (default 0: no limit). */
  maxStoreBytes?: number;
  /** Bytes of unsent output after which a connection is closed as too slow
   *  (default 8 MiB, at least 65536). Reading from a connection pauses long
   *  before that, as soon as its socket's buffer is full. */
  maxWriteBuffer?: number;
  /** Sockets open at once from one remote address, on all listeners; one more is closed as it is accepted (default: no limit). */
  maxConnectionsPerAddress?: number;
  /** New connections per second accepted from one remote address (a burst of up to this many, then this many a
   *  second); the others are closed as they are accepted (default: no limit). */
  connectRate?: number;
  /** The HTTP API (publish, clients, subscriptions, retained, stats, disconnect, /metrics, /healthz, /readyz):
   *  a port or { port, host (default '127.0.0.1'), cert, key (HTTPS) }. It listens before the data directory is
   *  restored (/readyz says 503 until then). HTTP Basic as a user of the broker when it admits no anonymous client. */
  http?: number | HttpOptions;
  /** A CoAP gateway on UDP: a port or { port, host (default '127.0.0.1') }. POST coap://host/ps/<topic> publishes
   *  (CON QoS 1, NON QoS 0; ?qos, ?retain), GET with Observe subscribes, GET reads the retained message;
   *  credentials ?u=&p=. Observations are bounded: `maxObservations` in all (1,000) and
   *  `maxObservationsPerAddress` (16); past them a new one gets 5.03. */
  coap?: number | (TcpListenerOptions & { maxObservations?: number; maxObservationsPerAddress?: number });
}

export interface HttpOptions extends TcpListenerOptions {
  /** With `key`: HTTPS. */
  cert?: Pem;
  key?: Pem;
  ca?: Pem | Pem[];
  /** Users who may use the administrative endpoints (clients, subscriptions, stats, metrics, DELETE) when requests
   *  carry users; any user may publish and read the retained messages its ACL lets it read. */
  admins?: string[];
}

export type Transport = 'tcp' | 'ws' | 'tls' | 'wss';

export interface ListenerInfo {
  /** 'http' or 'https': the HTTP API (`http` option); 'coap': the CoAP gateway (`coap`). */
  transport: Transport | 'http' | 'https' | 'coap';
  host: string;
  port: number;
  /** WebSocket listeners only. */
  path?: string;
  /** `mqtt://host:port`, `mqtts://host:port`, `ws://host:port/path` or `wss://host:port/path`, ready for MQTT.js. */
  url: string;
}

/** Where a connection came from, added to the core's events. */
export interface ConnectionInfo {
  transport: Transport;
  remoteAddress?: string;
  remotePort?: number;
  /** The URL of the listener it came through. */
  listener: string;
}

export type ConnectedEvent = ConnectionInfo & {
  type: 'connected'; conn: number; clientId: string; protocolVersion: 3 | 4 | 5; sessionPresent: boolean;
};
export type DisconnectedEvent = ConnectionInfo & {
  type: 'disconnected'; conn: number; clientId?: string; reasonCode?: number; detail?: string;
};
export type RejectedEvent = ConnectionInfo & { type: 'rejected'; conn: number; reasonCode: number };
export interface DroppedEvent { type: 'dropped'; clientId: string; topic: string; why: 'QueueFull' | 'TooLarge' | 'Expired' | 'NotAuthorized' }
export type SlowConsumerEvent = ConnectionInfo & { type: 'slowConsumer'; conn: number; bufferedBytes: number };
/** Trouble outside the protocol, reported by the host (also as a 'warning'). */
export interface HostErrorEvent { type: 'error'; code: TabmqErrorCode; message: string }
/** A client was refused as not authorized (0x87): by the ACL, the hooks, or `$SYS`. */
export type DeniedEvent = ConnectionInfo & {
  type: 'denied'; conn: number; clientId: string; action: 'publish' | 'subscribe' | 'will'; topic: string;
};
/** The data directory's store: 'stalled' (commits fail; acknowledgements that wait for them are withheld and
 *  stored QoS 1/2 publishes refused with 0x97 while it retries every second), 'recovered', 'full' (over
 *  maxStoreBytes) or 'ok' (back under it). */
export interface StorageEvent {
  type: 'storage'; state: 'stalled' | 'recovered' | 'full' | 'ok'; path: string; bytes?: number; error?: string;
}
export type BrokerEvent = ConnectedEvent | DisconnectedEvent | RejectedEvent | DroppedEvent | DeniedEvent | SlowConsumerEvent
  | BridgeEvent | WebhookEvent | HostErrorEvent | StorageEvent;

/** `stats().storage` with a data directory. */
export interface DiskStorageStats {
  enabled: true;
  /** The database file. */
  path: string;
  durability: 'strict' | 'relaxed';
  schemaVersion: number;
  /** The version the database had when this broker opened it (0: new). */
  upgradedFrom: number;
  /** Records held (refreshed at most every 2 s). */
  records: number;
  /** Bytes of the database's pages in use (what maxStoreBytes is compared with). */
  bytes: number;
  /** The database file's size in pages (free pages included, until compaction gives them back). */
  fileBytes: number;
  maxStoreBytes: number;
  /** Over maxStoreBytes, or commits failing: stored QoS 1/2 publishes are refused with 0x97. */
  full: boolean;
  bytesWritten: number;
  commitInFlight: boolean;
  commits: number;
  opsWritten: number;
  /** ms since the epoch. */
  lastCommitAt: number;
  lastCommitMs: number;
  /** Commit duration percentiles over the last 1,024 commits (ms, from handing a commit to the storage thread
   *  to hearing it is durable). */
  commitMsP50: number;
  commitMsP99: number;
  /** Storage operations per commit over the same window (group commit at work). */
  opsPerCommit: number;
  /** Incremental vacuums run (free pages given back, WAL truncated), about once a minute. */
  compactions: number;
  corruptSkipped: number;
  /** Why commits fail, while they do. */
  error?: string;
}

export interface NodeBrokerStats extends Omit<BrokerStats, 'storage'> {
  /** Open sockets on every listener. */
  sockets: number;
  /** Connections not being read because their output is backed up. */
  pausedSockets: number;
  /** Bytes written but not yet sent, over all connections. */
  bufferedBytes: number;
  /** Present with a data directory. */
  storage?: DiskStorageStats;
}

export interface NodeBroker extends EventEmitter {
  /** The first port of each kind of listener (the real one when 0 was asked for); kinds without a listener are absent. */
  readonly ports: { tcp?: number; ws?: number; tls?: number; wss?: number; http?: number; https?: number; coap?: number };
  /** Every listener's address (the real port when 0 was asked for). */
  readonly addresses: ListenerInfo[];
  stats(): NodeBrokerStats;
  /** Publishes without an MQTT client, through the same topic rules, ACL (as `options.username`) and routing as a
   *  client's PUBLISH; resolves once the broker has it (QoS 1/2 under strict: stored), rejects with
   *  ERR_TABMQ_REJECTED (`reasonCode`) if refused. A string payload is UTF-8. */
  publish(topic: string, payload: string | Uint8Array | ArrayBuffer, options?: PublishOptions): Promise<{ reasonCode: number }>;
  /** Calls `callback` for each message matching `filter` (retained ones first), read under the ACL of
   *  `options.username`; rejects with ERR_TABMQ_REJECTED (`reasonCode`) if refused. */
  subscribe(filter: string, callback: (message: BrokerMessage) => void, options?: SubscribeOptions): Promise<BrokerSubscription>;
  /** Disconnects client `clientId` (DISCONNECT 0x98 for MQTT 5); false if no client of that id is connected. */
  disconnectClient(clientId: string): boolean;
  /** Whether these credentials would be admitted at CONNECT (password file, users, anonymous access). */
  checkCredentials(username?: string, password?: string | Uint8Array): Promise<boolean>;
  /** Sessions and retained messages (at most `retainedLimit`, default 1000). */
  inspect(retainedLimit?: number): BrokerInspection;
  /** Takes bridge `name`'s link down: messages for it queue until resumeBridge. Throws ERR_TABMQ_NO_BRIDGE for an unknown name. */
  pauseBridge(name: string): void;
  /** Brings a paused bridge back: it connects at once and drains its queue. */
  resumeBridge(name: string): void;
  /** Replaces the certificates of every `tls` and `wss` listener for new connections (`ca` left out: each keeps its
   *  own). Throws ERR_TABMQ_OPTION, naming the option, for PEM that cannot be read or a key that is not the cert's. */
  setCertificates(certificates: Certificates): void;
  /** Replaces the access rules (password file, users, ACL, anonymous access). Throws ERR_TABMQ_OPTION for a bad one. */
  setAccess(options: AccessOptions): void;
  /** Stops listening, sends DISCONNECT 0x8B to MQTT 5 clients, closes every connection. */
  close(): Promise<void>;
  on(event: 'connected', fn: (e: ConnectedEvent) => void): this;
  on(event: 'disconnected', fn: (e: DisconnectedEvent) => void): this;
  on(event: 'rejected', fn: (e: RejectedEvent) => void): this;
  on(event: 'dropped', fn: (e: DroppedEvent) => void): this;
  on(event: 'denied', fn: (e: DeniedEvent) => void): this;
  on(event: 'slowConsumer', fn: (e: SlowConsumerEvent) => void): this;
  on(event: 'bridge', fn: (e: BridgeEvent) => void): this;
  on(event: 'webhook', fn: (e: WebhookEvent) => void): this;
  on(event: 'storage', fn: (e: StorageEvent) => void): this;
  on(event: 'event', fn: (e: BrokerEvent) => void): this;
  on(event: 'warning', fn: (err: Error) => void): this;
  on(event: 'close', fn: () => void): this;
  on(event: string | symbol, fn: (...args: any[]) => void): this;
}

/**
 * Starts a broker on real ports. Rejects with a TabmqError (code
 * 'ERR_TABMQ_OPTION', naming the option) for a bad option, or with the
 * listen error (code 'EADDRINUSE', ...) when a port cannot be had.
 */
export declare function createBroker(options: NodeBrokerOptions): Promise<NodeBroker>;
