// The worker entry: a module SharedWorker (one per origin, holding one
// broker per name for every tab) or a dedicated module Worker. Each page's
// broker handle talks to it over a control port (control.js); each MQTT
// connection gets a MessagePort of its own.

import { serveControl, startHost } from './control.js';
import { hasLocks, holdLock, lockName } from './lifeline.js';

/** This worker's lifeline: a Web Lock held until the worker dies, however
 *  it dies. Pages (and sockets in other contexts) wait for it to learn,
 *  within a second, that the broker is gone and must be restarted. */
const alive = hasLocks() ? lockName('tabmq:worker') : undefined;
const living = alive ? holdLock(alive).then(() => alive) : Promise.resolve(undefined);
const lifeline = () => living;

/** Broker name -> Promise<{ host, key }>. The first page to start a name
 *  sets its options; later pages join the running broker. */
const hosts = new Map();

/** What makes two pages' options the same broker (the per-page random
 *  client id seed aside). */
function optionsKey(init) {
  const { clientIdSeed, ...core } = init.core ?? {};
  return JSON.stringify([core, init.hooks ?? null, init.webhooks ?? null]);
}

async function startOrJoin(init) {
  if (!hosts.has(init.name)) {
    const started = startHost(init).then((host) => ({ host, key: optionsKey(init) }));
    hosts.set(init.name, started);
    started.catch(() => hosts.delete(init.name));
  }
  const { host, key } = await hosts.get(init.name);
  const conflict = key === optionsKey(init) ? undefined : {
    type: 'error',
    code: 'ERR_TABMQ_OPTION_CONFLICT',
    message: `tabmq: broker '${init.name}' is already running with other options (set by the page that started it); this page joined it with those`,
  };
  return { host, conflict };
}

if (typeof SharedWorkerGlobalScope !== 'undefined' && self instanceof SharedWorkerGlobalScope) {
  self.onconnect = (e) => serveControl(e.ports[0], { start: startOrJoin, dedicated: false, lifeline });
} else if (self.name === 'tabmq-leader') {
  // The leader tab's worker (leader.js): a control port per tab it serves.
  self.onmessage = (e) => serveControl(e.data.control, { start: startOrJoin, dedicated: false, lifeline });
} else {
  serveControl(self, { start: startOrJoin, dedicated: true, lifeline });
}
