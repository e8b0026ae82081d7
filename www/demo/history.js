// Chart history in the page's own IndexedDB store, so that a reload brings
// the charts back whatever the broker keeps. Points are keyed by
// [series, device timestamp]: every tab writes the same keys, so several
// tabs recording at once store each point once.

const DB = 'tabmq-demo-history';
const STORE = 'points';
/** How much history is kept. */
export const KEEP_MS = 24 * 3600 * 1000;

function req(r) {
  return new Promise((ok, fail) => {
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
}

export class History {
  #db = null;
  #queue = [];
  #timer = null;
  /** series -> { t: seconds[], v: number[] } */
  series = new Map();

  async open() {
    try {
      const open = indexedDB.open(DB, 1);
      open.onupgradeneeded = () => open.result.createObjectStore(STORE, { keyPath: ['s', 't'] });
      this.#db = await req(open);
    } catch (err) {
      console.warn('tabmq demo: no IndexedDB for history', err);
    }
  }

  /** Loads the points of the last `ms` milliseconds and drops older ones. */
  async load(names, ms = KEEP_MS) {
    const since = Date.now() - ms;
    for (const s of names) this.series.set(s, { t: [], v: [] });
    if (!this.#db) return;
    const tx = this.#db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    await Promise.all(names.map(async (s) => {
      const rows = await req(store.getAll(IDBKeyRange.bound([s, since], [s, Infinity])));
      const series = this.series.get(s);
      for (const row of rows) {
        series.t.push(row.t / 1000);
        series.v.push(row.v);
      }
      store.delete(IDBKeyRange.bound([s, 0], [s, since], false, true));
    }));
  }

  /** Adds a point (ts in ms); ignores repeats and points older than the last. */
  add(name, ts, value) {
    const series = this.series.get(name);
    if (!series || !Number.isFinite(value)) return false;
    const t = ts / 1000;
    const last = series.t.at(-1);
    if (last !== undefined && t <= last) return false;
    series.t.push(t);
    series.v.push(value);
    const cutoff = (Date.now() - KEEP_MS) / 1000;
    if (series.t[0] < cutoff) {
      const i = series.t.findIndex((x) => x >= cutoff);
      series.t.splice(0, i);
      series.v.splice(0, i);
    }
    this.#queue.push({ s: name, t: ts, v: value });
    if (this.#timer === null) this.#timer = setTimeout(() => this.flush(), 2000);
    return true;
  }

  /** Writes queued points in one transaction. */
  flush() {
    this.#timer = null;
    if (!this.#db || this.#queue.length === 0) return;
    const batch = this.#queue;
    this.#queue = [];
    const tx = this.#db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    for (const p of batch) store.put(p);
  }

  /** The points of `name` since `sinceSec`, with null where the device was
   *  silent (so that charts show a gap, not a straight line). */
  window(name, sinceSec, gapSec = 12) {
    const s = this.series.get(name);
    const t = [];
    const v = [];
    if (!s) return [t, v];
    let i = s.t.length;
    while (i > 0 && s.t[i - 1] >= sinceSec) i--;
    for (let k = i; k < s.t.length; k++) {
      if (t.length && s.t[k] - t.at(-1) > gapSec) {
        t.push(t.at(-1) + 1);
        v.push(null);
      }
      t.push(s.t[k]);
      v.push(s.v[k]);
    }
    return [t, v];
  }

  /** The time (seconds) of the first point at or after `sinceSec`. */
  firstSince(name, sinceSec) {
    const s = this.series.get(name);
    if (!s) return undefined;
    let lo = 0;
    let hi = s.t.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s.t[mid] < sinceSec) lo = mid + 1;
      else hi = mid;
    }
    return s.t[lo];
  }

  last(name) {
    const s = this.series.get(name);
    return s && s.v.length ? s.v.at(-1) : undefined;
  }
}
