// Errors tabmq reports: real Error objects with a `code` a program can
// branch on. ERROR_CODES is the one registry of those codes; the `.d.ts`
// union (www/shared/errors.d.ts), the README and every `ERR_TABMQ_*` used in
// src/ and www/ are checked against it (tests/node/tables.test.mjs).

/** Every code a TabmqError (or an `error` event) can carry, and when. */
export const ERROR_CODES = Object.freeze({
  ERR_TABMQ_OPTION: 'an option is invalid; the message names it',
  ERR_TABMQ_OPTION_CONFLICT: 'event: this page joined a running broker that was started with other options',
  ERR_TABMQ_STORAGE: 'storage cannot be opened, read or written; the browser serves from memory and says so, Node refuses to start or retries the commit',
  ERR_TABMQ_STORAGE_LOCKED: 'another broker holds this broker\'s database (browser: this one serves from memory; Node: start refuses)',
  ERR_TABMQ_STORAGE_BLOCKED: 'an older version of the database is open elsewhere and blocks its upgrade',
  ERR_TABMQ_CORRUPT_RECORD: 'event: a stored record could not be read and was skipped; the rest was restored',
  ERR_TABMQ_AUTH: 'an authenticate hook returned something that is not a decision',
  ERR_TABMQ_CLOSED: 'the broker (or this handle) is closed or was terminated',
  ERR_TABMQ_REFUSED: 'the broker refused a new connection (it is closing)',
  ERR_TABMQ_REJECTED: 'publish/subscribe on the handle (or the HTTP API) was refused by the broker; `reasonCode` is the MQTT 5 reason (0x87 not authorized, 0x90/0x8F invalid topic or filter, 0x97 quota)',
  ERR_TABMQ_NO_BRIDGE: 'pauseBridge/resumeBridge: the broker has no bridge of that name',
  ERR_TABMQ_WORKER: 'the broker\'s worker failed to load or crashed',
  ERR_TABMQ_BROKER_LOST: 'the broker died before it answered this request; it is being restarted (a \'restarted\' event follows)',
  ERR_TABMQ_START: 'the broker could not start for a reason not listed here',
  ERR_TABMQ_WASM: 'the broker\'s wasm module cannot be read',
  ERR_TABMQ_PLATFORM: 'the API is not available on this platform (tabmq/node in a browser; mode \'leader\' without Web Locks or BroadcastChannel)',
  ERR_TABMQ_INTERNAL: 'a bug in tabmq: please report it',
  // Node's own codes, passed through when a listener cannot be opened.
  EADDRINUSE: 'listen: the address is already in use',
  EACCES: 'listen: permission denied (a port below 1024?)',
  EADDRNOTAVAIL: 'listen: the address is not one of this machine\'s',
});

export class TabmqError extends Error {
  /**
   * @param {string} message
   * @param {keyof typeof ERROR_CODES} code
   * @param {ErrorOptions} [options] `{ cause }`
   */
  constructor(message, code, options) {
    super(message, options);
    this.name = 'TabmqError';
    this.code = code in ERROR_CODES ? code : 'ERR_TABMQ_INTERNAL';
  }
}

export function optionError(name, why) {
  return new TabmqError(`tabmq: option \`${name}\` ${why}`, 'ERR_TABMQ_OPTION');
}

/** `err` as a TabmqError: errors made in the core (coded Errors) and by the
 *  platform keep their message and code. */
export function asTabmqError(err, fallbackCode = 'ERR_TABMQ_INTERNAL') {
  if (err instanceof TabmqError) return err;
  const code = typeof err?.code === 'string' && err.code in ERROR_CODES ? err.code : fallbackCode;
  return new TabmqError(String(err?.message ?? err), code, { cause: err });
}
