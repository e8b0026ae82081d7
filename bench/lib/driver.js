// The load driver shared by every bench client (MQTT.js or the raw
// generator, browser or Node): a closed-loop saturation phase with a window
// of outstanding deliveries, and an open-loop fixed-rate phase for latency.
// Publishers stamp performance.now() into each payload; subscribers report
// every delivery's stamp back here. Isomorphic: no Node or DOM APIs beyond
// what `env` provides.

/**
 * @typedef {object} Publisher
 * @property {(count: number) => void} publish publishes `count` messages,
 *   each stamped with env.now() at the moment it is encoded
 */

export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export class Driver {
  /**
   * @param {object} env { now(), defer(fn) (soon, no clamping), pace(fn) (in about 1 ms), sleep(ms) }
   * @param {Publisher[]} publishers
   * @param {number} factor deliveries per published message (subscribers per topic)
   */
  constructor(env, publishers, factor) {
    this.env = env;
    this.publishers = publishers;
    this.factor = factor;
    this.counts = new Int32Array(publishers.length);
    this.rr = 0;
    this.published = 0;
    this.delivered = 0;
    this.lost = 0; // deliveries given up on (the stall watchdog)
    this.mode = 'idle';
    this.window = 0;
    this.pumpQueued = false;
    this.lastProgress = env.now();
    this.recFrom = Infinity;
    this.recTo = Infinity;
    this.lat = new Float64Array(1 << 16);
    this.latN = 0;
    this.pump = () => {
      this.pumpQueued = false;
      this.refill();
    };
  }

  get outstanding() {
    return this.published * this.factor - this.delivered - this.lost;
  }

  /** Called by subscribers for every message received, with its stamp. */
  onDelivery(ts) {
    this.delivered++;
    if (ts >= this.recFrom && ts <= this.recTo) {
      if (this.latN === this.lat.length) {
        const bigger = new Float64Array(this.lat.length * 2);
        bigger.set(this.lat);
        this.lat = bigger;
      }
      this.lat[this.latN++] = this.env.now() - ts;
    }
    if (this.mode === 'sat' && !this.pumpQueued) {
      this.pumpQueued = true;
      this.env.defer(this.pump);
    }
  }

  /** Publishes `k` messages round robin over the publishers, one call each. */
  publishSpread(k) {
    const n = this.publishers.length;
    const counts = this.counts;
    counts.fill(0);
    let rr = this.rr;
    if (k >= n) {
      const each = Math.floor(k / n);
      counts.fill(each);
      k -= each * n;
    }
    for (; k > 0; k--) {
      counts[rr]++;
      rr = rr + 1 === n ? 0 : rr + 1;
    }
    this.rr = rr;
    for (let i = 0; i < n; i++) {
      if (counts[i] > 0) {
        this.published += counts[i];
        this.publishers[i].publish(counts[i]);
      }
    }
  }

  refill() {
    if (this.mode !== 'sat') return;
    const room = Math.floor((this.window - this.outstanding) / this.factor);
    if (room >= this.refillMin) this.publishSpread(room);
  }

  /** Counts what has not arrived `stallMs` after the last delivery as lost. */
  #watch(stallMs) {
    let seen = this.delivered;
    let since = this.env.now();
    const id = setInterval(() => {
      const now = this.env.now();
      if (this.delivered !== seen) {
        seen = this.delivered;
        since = now;
      } else if (this.outstanding > 0 && now - since > stallMs) {
        this.lost += this.outstanding;
        since = now;
        this.refill();
      }
    }, 50);
    return () => clearInterval(id);
  }

  /**
   * Waits until every outstanding delivery arrived, or nothing arrived for
   * `stallMs`. Then settles the books: what was given up on during the
   * phase but arrived late is not lost; what never arrived is. Returns
   * the deliveries missing for good since the last settlement.
   */
  async drain(stallMs = 5000) {
    const { env } = this;
    let seen = this.delivered;
    let since = env.now();
    while (this.published * this.factor - this.delivered > 0) {
      await env.sleep(5);
      if (this.delivered !== seen) {
        seen = this.delivered;
        since = env.now();
      } else if (env.now() - since > stallMs) break;
    }
    const missing = Math.max(0, this.published * this.factor - this.delivered);
    const lost = missing - (this.settled ?? 0);
    this.settled = missing;
    this.lost = missing;
    return lost;
  }

  /**
   * Saturation: keeps `window` deliveries outstanding, refilling once at
   * least half of it (and at least one message) is free; measures
   * deliveries per second over `measureMs` after `warmupMs`.
   */
  async saturate({ window, warmupMs, measureMs, slices = 3, stallMs = 1000 }) {
    const { env } = this;
    this.window = window;
    this.refillMin = Math.max(1, Math.floor(window / this.factor / 2));
    const gaveUp0 = this.lost;
    const stop = this.#watch(stallMs);
    this.mode = 'sat';
    this.refill();
    await env.sleep(warmupMs);
    const d0 = this.delivered;
    const p0 = this.published;
    const t0 = env.now();
    // The window in slices, to show how steady the rate was.
    const rates = [];
    let d = d0;
    let t = t0;
    for (let i = 0; i < slices; i++) {
      await env.sleep(measureMs / slices);
      const dn = this.delivered;
      const tn = env.now();
      rates.push(((dn - d) / (tn - t)) * 1000);
      d = dn;
      t = tn;
    }
    const d1 = this.delivered;
    const p1 = this.published;
    const t1 = env.now();
    this.mode = 'idle';
    stop();
    const stalls = this.lost - gaveUp0;
    const lost = await this.drain();
    const seconds = (t1 - t0) / 1000;
    return {
      stalled: stalls > 0,
      deliveredPerSec: (d1 - d0) / seconds,
      publishedPerSec: (p1 - p0) / seconds,
      sliceRates: rates.map(Math.round),
      delivered: d1 - d0,
      seconds,
      lost,
      window,
    };
  }

  /**
   * Fixed rate: `rate` deliveries per second (rate / factor publishes per
   * second), open loop, paced by env.pace (a ~1 ms timer: a busy loop on
   * the clients' thread delays their incoming messages, measured: it
   * doubles p99), so messages leave in bursts of about rate / 1000. Latency of every delivery whose
   * message was sent within the `measureMs` after `warmupMs`. Gives up (and
   * says `overloaded`) when more than `maxOutstanding` deliveries pile up.
   */
  async latency({ rate, warmupMs, measureMs, maxOutstanding = 200_000 }) {
    const { env } = this;
    const pubPerMs = rate / this.factor / 1000;
    this.latN = 0;
    const start = env.now();
    this.recFrom = start + warmupMs;
    this.recTo = this.recFrom + measureMs;
    let sent = 0;
    let pubInWindow = 0;
    let overloaded = false;
    let maxLagMs = 0;
    await new Promise((done) => {
      const tick = () => {
        const now = env.now();
        if (now >= this.recTo) return done();
        if (this.outstanding > maxOutstanding) {
          overloaded = true;
          return done();
        }
        const due = Math.floor((now - start) * pubPerMs) - sent;
        if (due > 0) {
          // How far behind schedule the oldest message of this batch is.
          const lag = now - (start + (sent + 1) / pubPerMs);
          if (now >= this.recFrom && lag > maxLagMs) maxLagMs = lag;
          this.publishSpread(due);
          sent += due;
          if (now >= this.recFrom) pubInWindow += due;
        }
        env.pace(tick);
      };
      tick();
    });
    const lost = await this.drain();
    const end = Math.min(env.now(), this.recTo);
    this.recFrom = Infinity;
    const lat = this.lat.slice(0, this.latN).sort();
    const seconds = measureMs / 1000;
    return {
      offered: rate,
      achieved: (pubInWindow * this.factor) / seconds,
      samples: lat.length,
      expected: pubInWindow * this.factor,
      lost,
      overloaded,
      maxLagMs,
      p50: percentile(lat, 50),
      p90: percentile(lat, 90),
      p99: percentile(lat, 99),
      max: lat.length ? lat[lat.length - 1] : null,
      end,
    };
  }
}
