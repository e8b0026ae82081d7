// Type declarations for tabmq's page API.

import type { TabmqError, TabmqErrorCode } from '../shared/errors.js';
import type { AccessOptions, BridgeEvent, BrokerInspection, BrokerStats, CoreOptions, WebhookEvent } from '../shared/types.js';
import type { BrokerMessage, BrokerSubscription, PublishOptions, SubscribeOptions } from '../shared/types.js';

export type {
  AccessOptions, AuthenticateRequest, AuthenticateResult, AuthorizeRequest, BridgeEvent, BridgeOptions, BridgeStats, BridgeTopic,
  BrokerInspection, BrokerStats, CoreOptions, Limits, StorageStats, WebhookEvent, WebhookMessage, WebhookOptions, WebhookStats,
  BrokerMessage, BrokerSubscription, MessageProperties, PublishOptions, SubscribeOptions,
} from '../shared/types.js';

export interface BrokerOptions extends CoreOptions {
  /** One broker per name per origin (default 'default'). */
  name?: string;
  /** 'shared' (default): a SharedWorker serving every tab; 'leader': a
   *  dedicated Worker of one tab elected among the tabs, which the others
   *  reach (what 'shared' becomes without SharedWorker); 'worker': a
   *  dedicated Worker for this tab alone; 'inline': this page's own thread. */
  mode?: 'shared' | 'leader' | 'worker' | 'inline';
  /** 'strict' (default): acknowledgements wait for IndexedDB; 'relaxed';
   *  'memory': nothing is stored. */
  durability?: 'strict' | 'relaxed' | 'memory';
  /** Mode 'inline' only (functions cannot be sent to a worker: use `hooks`). */
  authenticate?: CoreOptions['authenticate'];
  /** Mode 'inline' only (functions cannot be sent to a worker: use `hooks`). */
  authorize?: CoreOptions['authorize'];
  /** URL of a module exporting `authenticate` and/or `authorize`; it runs
   *  where the broker runs (the worker in 'shared' and 'worker' mode). */
  hooks?: string | URL;
  /** Where worker.js is, if a bundler moved it. */
  workerUrl?: string | URL;
  /** Where tabmq_bg.wasm is, if a bundler moved it. */
  wasmUrl?: string | URL;
}

/** The `error` event of a broker handle (storage trouble: quota exceeded,
 *  blocked upgrade, database that cannot open, corrupt record skipped). */
export interface BrokerErrorEvent extends Event {
  readonly error: TabmqError;
  readonly code: TabmqErrorCode;
  readonly message: string;
}

/** `connected`, `disconnected`, `rejected`, `dropped` and `denied` events carry the
 *  broker's event in `detail` (clientId, conn, reasonCode, ...; `denied`: action, topic). */
export interface BrokerActivityEvent extends Event {
  readonly detail: { type: string; clientId?: string; conn?: number; reasonCode?: number; protocolVersion?: number; topic?: string; why?: string; action?: string };
}

/** The `bridge` event: a bridge changed state (`detail`: name, state, reasonCode?, error?). */
export interface BrokerBridgeEvent extends Event {
  readonly detail: BridgeEvent;
}

/** The `restarted` event: the broker died and a new one, restored from
 *  IndexedDB, serves again; this page's sockets were closed with 1012. */
export interface BrokerRestartedEvent extends Event {
  readonly detail: {
    type: 'restarted';
    /** How the death was seen: its worker's lifeline Web Lock came free, or it stopped answering heartbeats. */
    cause: 'lock' | 'heartbeat';
    /** ms from noticing the death to the new broker serving. */
    duration: number;
  };
}

/** The `webhook` event: a webhook's request failed, or its endpoint accepts again (`detail`: name, url, state, status, error?). */
export interface BrokerWebhookEvent extends Event {
  readonly detail: WebhookEvent;
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
  readonly mode: 'shared' | 'leader' | 'worker' | 'inline';
  /** A ws:// URL naming this broker; it never reaches the network. */
  readonly url: string;
  /** Hand to MQTT.js: `mqtt.connect(broker.url, { createWebsocket: broker.createWebsocket })`. */
  createWebsocket(url?: string, protocols?: string | string[]): BrokerSocket;
  /** Routes `new WebSocket(broker.url)` to tabmq (for Paho JS); returns an undo function. */
  installWebSocket(): () => void;
  /** A MessagePort connected to the broker, for a client in a Worker (see socketFromPort); it carries one connection. */
  openPort(): Promise<MessagePort>;
  stats(): Promise<BrokerStats>;
  /** Publishes without an MQTT client, through the same topic rules, ACL (as `options.username`) and routing as a
   *  client's PUBLISH; resolves once the broker has it (QoS 1/2 under strict: stored), rejects with
   *  ERR_TABMQ_REJECTED (`reasonCode`) if refused. A string payload is UTF-8. */
  publish(topic: string, payload: string | Uint8Array | ArrayBuffer, options?: PublishOptions): Promise<{ reasonCode: number }>;
  /** Calls `callback` for each message matching `filter` (retained ones first), read under the ACL of
   *  `options.username`; rejects with ERR_TABMQ_REJECTED (`reasonCode`) if refused. After the broker
   *  restarts ('restarted') the subscription is made again, and its retained messages arrive again. */
  subscribe(filter: string, callback: (message: BrokerMessage) => void, options?: SubscribeOptions): Promise<BrokerSubscription>;
  /** Sessions and retained messages, for an inspector. */
  inspect(): Promise<BrokerInspection>;
  /** Takes bridge `name`'s link down: messages for it queue (stored like any session) until resumeBridge. Rejects with ERR_TABMQ_NO_BRIDGE for an unknown name. */
  pauseBridge(name: string): Promise<void>;
  /** Brings a paused bridge back: it connects at once and drains its queue. */
  resumeBridge(name: string): Promise<void>;
  /** Replaces the access settings given where the broker runs, for every session at once; rejects with ERR_TABMQ_OPTION (naming the option and line) and changes nothing if one does not read. */
  setAccess(options: AccessOptions): Promise<void>;
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
