// Per-address admission for the Node host's listeners: at most
// `maxConnectionsPerAddress` sockets open at once from one remote address,
// and at most `connectRate` new ones per second (a token bucket per address
// holding up to `connectRate` tokens, refilled at `connectRate` a second).
// A socket over either limit is refused at accept, before TLS or HTTP.
//
// The bookkeeping stays bounded: an address's count is deleted when it
// drops to 0, and its bucket once it is full again (found by a sweep at
// most once a second, on admission, so no timer is needed). Buckets then
// exist only for addresses admitted within the last two seconds or so.

/** How often (ms) admission sweeps out buckets that have refilled. */
const SWEEP_MS = 1000;

/** `::ffff:10.0.0.1` (IPv4 on a dual-stack listener) is `10.0.0.1`. */
function addressKey(address) {
  if (typeof address !== 'string') return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * Per-address limits. `admit(address)` says whether a new socket from
 * `address` may stay (and, if so, counts it); `release(address)` uncounts
 * it when it closes.
 */
export class Admission {
  #maxPerAddress;
  #rate;
  #now;
  #open = new Map(); // address -> sockets open
  #buckets = new Map(); // address -> { tokens, at }
  #sweptAt = 0;

  /**
   * @param {{ maxConnectionsPerAddress?: number, connectRate?: number, now?: () => number }} limits
   *   either may be undefined (no such limit); `now` (ms) is for tests
   */
  constructor({ maxConnectionsPerAddress, connectRate, now = () => performance.now() } = {}) {
    this.#maxPerAddress = maxConnectionsPerAddress ?? Infinity;
    this.#rate = connectRate ?? Infinity;
    this.#now = now;
  }

  /** True when either limit is set. */
  get enabled() {
    return this.#maxPerAddress !== Infinity || this.#rate !== Infinity;
  }

  /** Addresses with open sockets and with buckets not yet full (bounded; for tests). */
  get tracked() {
    return { addresses: this.#open.size, buckets: this.#buckets.size };
  }

  /** Whether a new socket from `address` may stay; counts it if so. */
  admit(address) {
    if (!this.enabled) return true;
    const key = addressKey(address);
    const open = this.#open.get(key) ?? 0;
    if (open >= this.#maxPerAddress) return false;
    if (!this.#take(key)) return false;
    if (this.#maxPerAddress !== Infinity) this.#open.set(key, open + 1);
    return true;
  }

  /** A socket `admit` let in has closed. */
  release(address) {
    if (this.#maxPerAddress === Infinity) return;
    const key = addressKey(address);
    const open = (this.#open.get(key) ?? 0) - 1;
    if (open > 0) this.#open.set(key, open);
    else this.#open.delete(key);
  }

  /** Takes a token from `key`'s bucket; false when it is empty. */
  #take(key) {
    if (this.#rate === Infinity) return true;
    const now = this.#now();
    this.#sweep(now);
    const bucket = this.#buckets.get(key);
    const tokens = bucket ? this.#refilled(bucket, now) : this.#rate;
    if (tokens < 1) {
      bucket.tokens = tokens;
      bucket.at = now;
      return false;
    }
    this.#buckets.set(key, { tokens: tokens - 1, at: now });
    return true;
  }

  #refilled(bucket, now) {
    return Math.min(this.#rate, bucket.tokens + ((now - bucket.at) / 1000) * this.#rate);
  }

  /** Deletes the buckets that are full again, at most once per SWEEP_MS. */
  #sweep(now) {
    if (now - this.#sweptAt < SWEEP_MS) return;
    this.#sweptAt = now;
    for (const [key, bucket] of this.#buckets) {
      if (this.#refilled(bucket, now) >= this.#rate) this.#buckets.delete(key);
    }
  }
}
