// The control protocol between a page's broker handle (index.js) and the
// broker it talks to: a broker in a SharedWorker or Worker (worker.js) or in
// the page itself ('inline' mode). One module serves both ends' broker side.
//
// page -> broker                         broker -> page
//   { t: 'init', name, page, lock?,        { t: 'ready', alive?, beats }
//     core, hooks, wasmUrl, webhooks }     { t: 'error', code, message }  (init failed)
//   { t: 'connect', port, id? }            { t: 'event', event }          (broker events)
//     (port transferred)                   { t: 'reply', id, value }
//   { t: 'stats' | 'inspect' | 'close',    { t: 'reply', id, error: { code, message } }
//     id }                                 { t: 'pong' }
//   { t: 'bridge', id, name, paused }      { t: 'message', sub, message }  (a subscription's)
//                                          { t: 'ended', sub, reasonCode } (the broker ended it)
//   { t: 'ping' }
//   { t: 'publish', id, topic, payload, options }
//   { t: 'subscribe', id, sub, filter, options }
//   { t: 'unsubscribe', id, sub }
//
// Each MQTT connection gets a MessagePort of its own ('connect'); the host
// answers on that port ({ open: true, alive? }) once the broker has it, and
// on the control port too when the connect had an id. `alive` names the Web
// Lock the broker's worker holds for its lifetime (lifeline.js): granted to
// a page or socket that asks for it only once the broker is gone. `beats`:
// this broker answers 'ping' (a worker that does not, such as one left
// from an older tabmq, is not watched at all rather than taken for dead).

import { BrokerHost } from '../shared/host.js';
import { browserDialer } from './dial.js';

/**
 * Serves one page's control port. `start(init)` resolves to the BrokerHost
 * the page joins (started for it, or already running) and may set
 * `conflict` on the result when the running broker has other options.
 * `dedicated`: the broker serves this page alone, so the page's 'close'
 * stops it; otherwise 'close' only ends this page's connections.
 * `lifeline()`: resolves to the name of the Web Lock this broker's context
 * holds for its lifetime (undefined: none, the page falls back to a
 * heartbeat).
 */
export function serveControl(control, { start, dedicated, lifeline }) {
  let page = null;
  let hostPromise = null;
  let stopEvents = null;
  const reply = (id, value) => control.postMessage({ t: 'reply', id, value });
  const fail = (id, err) => control.postMessage({ t: 'reply', id, error: { code: err.code, message: err.message, reasonCode: err.reasonCode } });
  /** This page's subscriptions (broker.subscribe): sub -> { unsubscribe }. */
  const subs = new Map();
  /** Replies to request `id` with what `fn` did, or the error it threw. */
  const attempt = (id, fn) => {
    try {
      fn();
      reply(id);
    } catch (err) {
      fail(id, err);
    }
  };
  let left = false;
  const leave = (host) => {
    left = true;
    for (const s of subs.values()) s.unsubscribe();
    subs.clear();
    stopEvents?.();
    stopEvents = null;
    host.dropOwner(page);
  };
  control.onmessage = async (e) => {
    const msg = e.data;
    if (msg.t === 'ping') {
      control.postMessage({ t: 'pong' });
      return;
    }
    if (msg.t === 'init') {
      page = msg.page;
      hostPromise = start(msg);
      let joined;
      try {
        joined = await hostPromise;
      } catch (err) {
        control.postMessage({ t: 'error', message: String(err?.message ?? err), code: err?.code ?? 'ERR_TABMQ_START' });
        return;
      }
      const { host, conflict } = joined;
      // Broker events (storage errors included) go to every page.
      stopEvents = host.onEvent((event) => control.postMessage({ t: 'event', event }));
      for (const event of host.startupErrors) control.postMessage({ t: 'event', event });
      if (conflict) control.postMessage({ t: 'event', event: conflict });
      if (msg.lock && globalThis.navigator?.locks) {
        // Granted only once the page that holds it is gone: then its
        // connections end and their wills are sent.
        navigator.locks.request(msg.lock, () => leave(host));
      }
      control.postMessage({ t: 'ready', alive: await lifeline?.(), beats: true });
      return;
    }
    const { host } = await hostPromise;
    switch (msg.t) {
      case 'connect': {
        const id = host.connectPort(msg.port, page, { alive: await lifeline?.() });
        if (msg.id === undefined) break;
        if (id) reply(msg.id);
        else control.postMessage({ t: 'reply', id: msg.id, error: { code: 'ERR_TABMQ_REFUSED', message: 'tabmq: the broker refused the connection (it is closing)' } });
        break;
      }
      case 'stats':
        reply(msg.id, await host.statsWithEstimate());
        break;
      case 'inspect':
        reply(msg.id, host.inspect());
        break;
      case 'bridge':
        attempt(msg.id, () => host.handleBridgePause(msg.name, msg.paused));
        break;
      case 'access':
        attempt(msg.id, () => host.setAccess(msg.options));
        break;
      case 'publish':
        host.publish(msg.topic, msg.payload, msg.options).then((v) => reply(msg.id, v), (err) => fail(msg.id, err));
        break;
      case 'subscribe': {
        const deliver = (message) => control.postMessage({ t: 'message', sub: msg.sub, message });
        const onEnd = (reasonCode) => {
          subs.delete(msg.sub);
          control.postMessage({ t: 'ended', sub: msg.sub, reasonCode });
        };
        host.subscribe(msg.filter, deliver, { ...msg.options, onEnd }).then((s) => {
          // The page left while this was being made: it is not kept.
          if (left) return s.unsubscribe();
          subs.set(msg.sub, s);
          reply(msg.id, { qos: s.qos });
        }, (err) => fail(msg.id, err));
        break;
      }
      case 'unsubscribe':
        subs.get(msg.sub)?.unsubscribe();
        subs.delete(msg.sub);
        reply(msg.id);
        break;
      case 'close':
        if (dedicated) await host.close();
        else leave(host);
        reply(msg.id);
        break;
    }
  };
}

/** Starts a broker for an 'init' message: its hooks module (if any) is
 *  imported where the broker runs. */
export async function startHost(init, callbacks = {}) {
  let hooks = callbacks;
  if (init.hooks) {
    const mod = await import(init.hooks);
    hooks = { authenticate: mod.authenticate, authorize: mod.authorize };
  }
  const host = await BrokerHost.create(init.core, hooks, init.wasmUrl, init.name);
  // Bridges reach their remotes over WebSocket; a returning network is
  // worth an immediate retry.
  host.setDialer(browserDialer());
  globalThis.addEventListener?.('online', () => host.handleOnline());
  // Webhooks post with the worker's fetch: CORS applies (README).
  host.startWebhooks(init.webhooks);
  return host;
}
