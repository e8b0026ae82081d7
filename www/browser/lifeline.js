// Lifelines: how one context learns, within a second, that another one
// died. A context holds a Web Lock for as long as it lives; whoever wants
// to know asks for the same lock and is granted it only once the holder is
// gone (closed, terminated, crashed, killed by the OS). Where Web Locks are
// missing (an insecure context, an old browser), a heartbeat does the job.

/** A fresh lock name under `prefix`. */
export function lockName(prefix) {
  const id = globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random()}`;
  return `${prefix}:${id}`;
}

/** Whether this context has Web Locks. */
export function hasLocks() {
  return typeof globalThis.navigator?.locks?.request === 'function';
}

/** Holds lock `name` until `release()` (or until this context dies).
 *  Resolves once it is held, to the release function. */
export function holdLock(name) {
  return new Promise((held) => {
    navigator.locks.request(name, () => new Promise((release) => held(release)));
  });
}

/** Calls `gone()` once lock `name` is free: its holder released it or
 *  died. Returns a function that stops watching. */
export function watchLock(name, gone) {
  const stop = new AbortController();
  navigator.locks.request(name, { signal: stop.signal }, () => {
    if (!stop.signal.aborted) gone();
  }).catch(() => {}); // aborted
  return () => stop.abort();
}

/** Heartbeat fallback: `ping()` every `every` ms; after `misses` pings with
 *  no `answered()` in between, `gone()`. Counting pings, not elapsed time,
 *  keeps a throttled background tab (timers slowed to once a second) from
 *  taking its own slowness for a dead broker. Returns { answered, stop }. */
export function heartbeat({ ping, gone, every = 150, misses = 4 }) {
  let unanswered = 0;
  const timer = setInterval(() => {
    if (unanswered >= misses) {
      clearInterval(timer);
      gone();
      return;
    }
    unanswered++;
    ping();
  }, every);
  return {
    answered: () => { unanswered = 0; },
    stop: () => clearInterval(timer),
  };
}
