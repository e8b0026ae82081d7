// Webhooks: messages matching a filter, forwarded to an HTTP endpoint as
// JSON, in both hosts (Node's fetch, a browser worker's fetch).
//
// Each webhook is a subscription of the core's own (handleHostWebhook): a
// persistent session `$host/webhook/<name>` whose deliveries stay in flight
// until this sender acknowledges them (handleHostAck), which it does only
// after a 2xx answer. So while the endpoint fails, messages queue in that
// session like a bridge's (stored under strict and relaxed durability: a
// restart keeps them, and what was in flight comes again), and routing to
// everyone else goes on. One request at a time per webhook, in order;
// failures are retried with exponential backoff, capped.

import { optionError } from './errors.js';

const KEYS = ['name', 'url', 'filter', 'method', 'headers', 'qos', 'batch'];
const METHODS = ['POST', 'PUT'];
/** First retry after this many ms, doubling up to RETRY_MAX. */
export const RETRY_MIN = 250;
export const RETRY_MAX = 30_000;
/** QoS 0 messages held in memory while the endpoint fails; more are dropped
 *  (QoS 1/2 ones are bounded by the session's window instead). */
export const QOS0_HELD = 1000;
/** A request that has not answered by then counts as failed. */
const REQUEST_TIMEOUT = 30_000;

const describe = (v) => (typeof v === 'string' ? JSON.stringify(v) : String(v));

/** Checks a topic filter as MQTT does (levels, wildcards). */
function filterProblem(filter) {
  if (typeof filter !== 'string' || filter.length === 0) return 'must be a non-empty topic filter';
  if (filter.includes('\u0000')) return 'must not contain U+0000';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return "has '#' other than as the whole last level";
    if (l.includes('+') && l !== '+') return "has '+' other than as a whole level";
  }
  return null;
}

/**
 * Checks `webhooks` (an array of `{ name?, url, filter, method?, headers?,
 * qos?, batch? }`) and returns it completed with defaults, or undefined when
 * not given. Throws ERR_TABMQ_OPTION naming the option (`webhooks[0].url`).
 */
export function checkWebhooks(list) {
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list)) throw optionError('webhooks', `must be an array of { ${KEYS.join(', ')} }`);
  const names = new Set();
  return list.map((w, i) => {
    const at = (key) => `webhooks[${i}]${key ? `.${key}` : ''}`;
    if (w === null || typeof w !== 'object' || Array.isArray(w)) throw optionError(at(), `must be an object { ${KEYS.join(', ')} }`);
    for (const key of Object.keys(w)) {
      if (!KEYS.includes(key)) throw optionError(at(key), `is not a webhook option (known: ${KEYS.join(', ')})`);
    }
    const name = w.name ?? String(i);
    if (typeof name !== 'string' || name.length === 0 || name.length > 200 || name.includes('\u0000')) {
      throw optionError(at('name'), `must be a non-empty string of at most 200 characters, got ${describe(name)}`);
    }
    if (names.has(name)) throw optionError(at('name'), `is ${JSON.stringify(name)}, the name of another webhook`);
    names.add(name);
    let url;
    try {
      url = new URL(w.url);
    } catch {
      throw optionError(at('url'), `must be an absolute http:// or https:// URL, got ${describe(w.url)}`);
    }
    if (typeof w.url !== 'string' || !['http:', 'https:'].includes(url.protocol)) {
      throw optionError(at('url'), `must be an absolute http:// or https:// URL, got ${describe(w.url)}`);
    }
    const problem = filterProblem(w.filter);
    if (problem) throw optionError(at('filter'), `${problem}, got ${describe(w.filter)}`);
    const method = w.method ?? 'POST';
    if (!METHODS.includes(method)) throw optionError(at('method'), `must be 'POST' or 'PUT', got ${describe(method)}`);
    const headers = w.headers ?? {};
    if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
      throw optionError(at('headers'), 'must be an object of header names to string values');
    }
    for (const [k, v] of Object.entries(headers)) {
      if (typeof v !== 'string') throw optionError(at(`headers.${k}`), `must be a string, got ${describe(v)}`);
    }
    const qos = w.qos ?? 1;
    if (![0, 1, 2].includes(qos)) throw optionError(at('qos'), `must be 0, 1 or 2, got ${describe(qos)}`);
    let batch = null;
    if (w.batch !== undefined) {
      const b = w.batch;
      if (b === null || typeof b !== 'object' || Array.isArray(b)) throw optionError(at('batch'), 'must be an object { max, ms }');
      for (const key of Object.keys(b)) {
        if (!['max', 'ms'].includes(key)) throw optionError(at(`batch.${key}`), 'is not a batch option (known: max, ms)');
      }
      const max = b.max ?? 100;
      const ms = b.ms ?? 0;
      if (!Number.isInteger(max) || max < 1 || max > 1000) throw optionError(at('batch.max'), `must be a whole number from 1 to 1000, got ${describe(max)}`);
      if (!Number.isInteger(ms) || ms < 0 || ms > 60_000) throw optionError(at('batch.ms'), `must be a whole number of ms from 0 to 60000, got ${describe(ms)}`);
      batch = { max, ms };
    }
    return { name, url: url.href, filter: w.filter, method, headers: { ...headers }, qos, batch };
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function base64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** A message as the endpoint gets it. */
export function messageJson(m, timestamp) {
  let payload;
  let payloadEncoding = 'utf8';
  try {
    payload = utf8.decode(m.payload);
  } catch {
    payload = base64(m.payload);
    payloadEncoding = 'base64';
  }
  const properties = { ...m.properties };
  if (properties.correlationData instanceof Uint8Array) properties.correlationData = base64(properties.correlationData);
  return { topic: m.topic, payload, payloadEncoding, qos: m.qos, retain: m.retain, properties, timestamp };
}

/**
 * The webhooks of one broker host. `core` is what BrokerHost gives it:
 * `subscribe(hook, deliver) -> { id, answer: Promise }`, `ack(id, packetId)`,
 * `emit(event)`. `fetchFn` is the platform's fetch.
 */
export class Webhooks {
  #hooks;
  #stopped = false;

  constructor(list, core, fetchFn = (url, init) => globalThis.fetch(url, init)) {
    this.#hooks = list.map((spec) => new Webhook(spec, core, fetchFn));
  }

  start() {
    for (const h of this.#hooks) h.start();
  }

  stop() {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const h of this.#hooks) h.stop();
  }

  stats() {
    return this.#hooks.map((h) => h.stats());
  }
}

class Webhook {
  #spec;
  #core;
  #fetch;
  #id = null;
  /** Delivered by the core, not yet taken by the endpoint: { packetId, json }. */
  #queue = [];
  #sending = false;
  #timer = null;
  #attempt = 0;
  #abort = null;
  #stopped = false;
  #figures = { sent: 0, failed: 0, dropped: 0, lastError: null, lastErrorAt: null, lastStatus: null };

  constructor(spec, core, fetchFn) {
    this.#spec = spec;
    this.#core = core;
    // Called as a plain function: a browser's fetch refuses another `this`.
    this.#fetch = (url, init) => fetchFn.call(globalThis, url, init);
  }

  start() {
    const spec = this.#spec;
    // The in-flight window: a batch can fill, and one more waits behind it.
    const window = Math.min(65_535, Math.max(10, 2 * (spec.batch?.max ?? 1)));
    const { id, answer } = this.#core.subscribe({ ...spec, window }, (m) => this.#delivered(m));
    this.#id = id;
    answer.catch((err) => this.#failed(`cannot subscribe to ${spec.filter}: ${err?.message ?? err}`, null));
  }

  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#abort?.abort();
    this.#core.unsubscribe(this.#id);
  }

  stats() {
    const { name, url, filter } = this.#spec;
    return { name, url, filter, ...this.#figures, queued: this.#queue.length, retrying: this.#attempt > 0 };
  }

  #delivered(m) {
    if (this.#stopped) return;
    // Come again after a reconnection (DUP): the copy we hold stands.
    if (m.packetId !== undefined && this.#queue.some((q) => q.packetId === m.packetId)) return;
    if (m.packetId === undefined && this.#queue.length >= QOS0_HELD) {
      this.#figures.dropped++;
      return;
    }
    this.#queue.push({ packetId: m.packetId, json: messageJson(m, Date.now()) });
    this.#schedule();
  }

  #schedule() {
    if (this.#sending || this.#timer !== null || this.#stopped || this.#queue.length === 0) return;
    const batch = this.#spec.batch;
    if (batch === null || this.#queue.length >= batch.max || batch.ms === 0) return void this.#send();
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#send();
    }, batch.ms);
  }

  async #send() {
    if (this.#sending || this.#stopped || this.#queue.length === 0) return;
    this.#sending = true;
    const { batch, url, method, headers } = this.#spec;
    const taken = this.#queue.slice(0, batch === null ? 1 : batch.max);
    const body = JSON.stringify(batch === null ? taken[0].json : taken.map((q) => q.json));
    let error = null;
    let status = null;
    const abort = new AbortController();
    this.#abort = abort;
    const timeout = setTimeout(() => abort.abort(), REQUEST_TIMEOUT);
    try {
      const res = await this.#fetch(url, {
        method,
        headers: { 'content-type': 'application/json', ...headers },
        body,
        signal: abort.signal,
      });
      status = res.status;
      // The body is not needed; reading it frees the connection.
      await res.arrayBuffer().catch(() => {});
      if (!res.ok) error = `${method} ${url} answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
    } catch (err) {
      error = `${method} ${url} failed: ${err?.name === 'AbortError' ? 'no answer in time' : err?.message ?? err}`;
      const cause = err?.cause?.code ?? err?.cause?.message;
      if (cause) error += ` (${cause})`;
    } finally {
      clearTimeout(timeout);
      this.#abort = null;
      this.#sending = false;
    }
    if (this.#stopped) return;
    this.#figures.lastStatus = status;
    if (error !== null) {
      this.#failed(error, status);
      const delay = Math.min(RETRY_MAX, RETRY_MIN * 2 ** Math.min(this.#attempt, 20));
      this.#attempt++;
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#send();
      }, delay);
      return;
    }
    this.#queue.splice(0, taken.length);
    this.#figures.sent += taken.length;
    if (this.#attempt > 0) {
      this.#attempt = 0;
      this.#core.emit({ type: 'webhook', name: this.#spec.name, url, state: 'ok', status });
    }
    for (const q of taken) if (q.packetId !== undefined) this.#core.ack(this.#id, q.packetId);
    this.#schedule();
  }

  #failed(error, status) {
    this.#figures.failed++;
    this.#figures.lastError = error;
    this.#figures.lastErrorAt = Date.now();
    const { name, url } = this.#spec;
    this.#core.emit({ type: 'webhook', name, url, state: 'failing', status, error, queued: this.#queue.length });
  }
}
