// The worker entry: a module SharedWorker (one per origin, holding one
// broker per name for every tab) or a dedicated module Worker. Each page's
// broker handle talks to it over a control port; each MQTT connection gets a
// MessagePort of its own.

import { BrokerHost } from '../shared/host.js';

/** Broker name -> Promise<BrokerHost>. The first page to start a name sets
 *  its options; later pages join the running broker. */
const hosts = new Map();

async function startHost(msg) {
  let hooks = {};
  if (msg.hooks) {
    const mod = await import(msg.hooks);
    hooks = { authenticate: mod.authenticate, authorize: mod.authorize };
  }
  return BrokerHost.create(msg.core, hooks, msg.wasmUrl, msg.name);
}

/** What makes two pages' options the same broker (the per-page random
 *  client id seed aside). */
function optionsKey(msg) {
  const { clientIdSeed, ...core } = msg.core ?? {};
  return JSON.stringify([core, msg.hooks ?? null]);
}

/** Serves one page's control port. */
function serve(control, dedicated) {
  let page = null;
  let hostPromise = null;
  let stopEvents = null;
  control.onmessage = async (e) => {
    const msg = e.data;
    switch (msg.t) {
      case 'init': {
        page = msg.page;
        const wanted = optionsKey(msg);
        if (!hosts.has(msg.name)) hosts.set(msg.name, startHost(msg).then((host) => Object.assign(host, { optionsKey: wanted })));
        hostPromise = hosts.get(msg.name);
        try {
          const host = await hostPromise;
          // Broker events (storage errors included) go to every page.
          stopEvents = host.onEvent((event) => control.postMessage({ t: 'event', event }));
          for (const event of host.startupErrors) control.postMessage({ t: 'event', event });
          if (host.optionsKey !== wanted) {
            control.postMessage({ t: 'event', event: { type: 'error', code: 'ERR_TABMQ_OPTION_CONFLICT', message:
              `tabmq: broker '${msg.name}' is already running with other options (set by the page that started it); this page joined it with those` } });
          }
          if (msg.lock && globalThis.navigator?.locks) {
            // Granted only once the page that holds it is gone: then its
            // connections end and their wills are sent.
            navigator.locks.request(msg.lock, () => {
              stopEvents?.();
              host.dropOwner(page);
            });
          }
          control.postMessage({ t: 'ready' });
        } catch (err) {
          hosts.delete(msg.name);
          control.postMessage({ t: 'error', message: String(err?.message ?? err), code: err?.code ?? 'ERR_TABMQ_START' });
        }
        break;
      }
      case 'connect': {
        const host = await hostPromise;
        host.connectPort(msg.port, page);
        break;
      }
      case 'stats': {
        const host = await hostPromise;
        control.postMessage({ t: 'stats', id: msg.id, stats: await host.statsWithEstimate() });
        break;
      }
      case 'inspect': {
        const host = await hostPromise;
        control.postMessage({ t: 'stats', id: msg.id, stats: host.inspect() });
        break;
      }
      case 'close': {
        const host = await hostPromise;
        if (dedicated) {
          await host.close();
          hosts.clear();
        } else {
          stopEvents?.();
          host.dropOwner(page);
        }
        control.postMessage({ t: 'closed', id: msg.id });
        break;
      }
    }
  };
}

if (typeof SharedWorkerGlobalScope !== 'undefined' && self instanceof SharedWorkerGlobalScope) {
  self.onconnect = (e) => serve(e.ports[0], false);
} else {
  serve(self, true);
}
