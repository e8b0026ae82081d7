// Type declarations for tabmq's errors (www/shared/errors.js).

/** Every code a TabmqError (or an `error` event) can carry; see ERROR_CODES. */
export type TabmqErrorCode =
  | 'ERR_TABMQ_OPTION'
  | 'ERR_TABMQ_OPTION_CONFLICT'
  | 'ERR_TABMQ_STORAGE'
  | 'ERR_TABMQ_STORAGE_LOCKED'
  | 'ERR_TABMQ_STORAGE_BLOCKED'
  | 'ERR_TABMQ_CORRUPT_RECORD'
  | 'ERR_TABMQ_AUTH'
  | 'ERR_TABMQ_CLOSED'
  | 'ERR_TABMQ_REFUSED'
  | 'ERR_TABMQ_REJECTED'
  | 'ERR_TABMQ_NO_BRIDGE'
  | 'ERR_TABMQ_WORKER'
  | 'ERR_TABMQ_BROKER_LOST'
  | 'ERR_TABMQ_START'
  | 'ERR_TABMQ_WASM'
  | 'ERR_TABMQ_PLATFORM'
  | 'ERR_TABMQ_INTERNAL'
  | 'EADDRINUSE'
  | 'EACCES'
  | 'EADDRNOTAVAIL';

/** What each code means. */
export declare const ERROR_CODES: Readonly<Record<TabmqErrorCode, string>>;

/** Every error tabmq throws or rejects with. */
export declare class TabmqError extends Error {
  constructor(message: string, code: TabmqErrorCode, options?: { cause?: unknown });
  readonly name: 'TabmqError';
  readonly code: TabmqErrorCode;
  /** ERR_TABMQ_REJECTED: the MQTT 5 reason code the broker refused with. */
  readonly reasonCode?: number;
}
