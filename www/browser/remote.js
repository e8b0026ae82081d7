// The client side of a port from `broker.openPort()`, in whatever context
// uses it (a Worker, an iframe, the page): waits for the broker's hello,
// then keeps two lifelines (lifeline.js) for as long as the socket is open.
//   - It watches the broker's: if the broker's worker dies, the socket
//     closes with 1012 and the client reconnects by its own rules (with a
//     new port from the page: the old one led to the dead broker).
//   - It holds one of its own, which the broker watches: if this context
//     dies (a Worker terminated, a tab crashed), the broker learns it within
//     a second and the client's will goes out then, not at its keep-alive
//     deadline.

import { hasLocks, holdLock, lockName, watchLock } from './lifeline.js';
import { TabmqError } from '../shared/errors.js';

/** How long the connection's lock outlives a normal close: the broker reads
 *  the close (or the DISCONNECT before it) on the port first, so a client
 *  that said goodbye is never taken for a dead one. */
const LINGER_MS = 1000;

const used = new WeakSet();

/** Resolves to `port` once the broker has accepted the connection.
 *  `onEnd(fn)` registers what to do when the socket over it closes. */
export function openedPort(port, onEnd) {
  if (used.has(port)) {
    return Promise.reject(new TabmqError(
      'tabmq: this port already carried a connection; a port from openPort() carries one: ask the page for another',
      'ERR_TABMQ_REFUSED',
    ));
  }
  used.add(port);
  return new Promise((resolve) => {
    port.onmessage = (e) => {
      if (!e.data?.open) return;
      port.onmessage = null;
      lifelines(port, e.data.alive, onEnd).then(() => resolve(port));
    };
  });
}

/** The synthetic close a socket sees when its broker died. */
export function brokerGone(port, reason = 'tabmq: the broker stopped; it is being restarted') {
  const data = { close: true, code: 1012, reason };
  port.dispatchEvent(typeof MessageEvent === 'function' ? new MessageEvent('message', { data }) : Object.assign(new Event('message'), { data }));
}

async function lifelines(port, alive, onEnd) {
  if (!hasLocks()) return;
  const unwatch = alive ? watchLock(alive, () => brokerGone(port)) : () => {};
  const name = lockName('tabmq:conn');
  const release = await holdLock(name);
  port.postMessage({ held: name });
  onEnd(() => {
    unwatch();
    setTimeout(release, LINGER_MS);
  });
}
