// The "Cloud link" panel: a bridge from the tab's broker to a remote MQTT
// broker (another tabmq, `npx tabmq --ws 8083`, or any Mosquitto with
// WebSockets). Device data (home/#) goes out as tabmq-demo/home/...;
// commands published on the remote to tabmq-demo/home/<id>/set come in to
// the devices. While the link is down (the switch pauses the bridge), the
// QoS 1 messages it carries wait in its queue, a persistent session of the
// local broker; they drain in order when it comes back.
//
// The URL is kept in localStorage and given to startBroker() as `bridges`:
// a new URL means a broker with new options, so the page reloads. The
// broker lives in a SharedWorker: while other tabs of the demo keep it
// running, a reloaded tab joins it with its old options, and the handle
// says so ('error' with ERR_TABMQ_OPTION_CONFLICT); the panel shows that.

import { bytes, h, icon, num } from './ui.js';

const KEY = 'tabmq-demo:cloud-url';
const LINK = 'cloud';
const PREFIX = 'tabmq-demo/';
// The device topics of catalog.js: everything a device publishes is under
// home/<id>/, and commands are home/<id>/set.
const OUT = 'home/#';
const IN = 'home/+/set';

const STATES = {
  off: 'Not linked',
  connecting: 'Connecting',
  connected: 'Connected',
  backoff: 'Backoff · retrying',
  refused: 'Refused',
  paused: 'Paused · link down',
  stopped: 'Stopped',
};
const CONNACK = {
  0x80: 'unspecified error', 0x81: 'malformed packet', 0x82: 'protocol error', 0x84: 'unsupported protocol version',
  0x85: 'client identifier not valid', 0x86: 'bad user name or password', 0x87: 'not authorized', 0x88: 'server unavailable',
  0x89: 'server busy', 0x8a: 'banned', 0x8c: 'bad authentication method', 0x9c: 'use another server', 0x9d: 'server moved',
};

export function savedUrl() {
  try {
    return localStorage.getItem(KEY) ?? '';
  } catch {
    return '';
  }
}

/** Why `url` cannot be a bridge URL in a browser, or '' if it can. */
function urlProblem(url) {
  let u;
  try {
    u = new URL(url);
  } catch {
    return 'That is not a URL: try ws://localhost:8083/mqtt';
  }
  return u.protocol === 'ws:' || u.protocol === 'wss:' ? '' : 'A browser reaches a broker through WebSocket only: use a ws:// or wss:// URL';
}

/** startBroker()'s `bridges` option for the saved URL (none without one). */
function linkOptions(url = savedUrl()) {
  if (!url || urlProblem(url)) return {};
  const route = (filter) => [{ filter, qos: 1, remotePrefix: PREFIX }];
  return { bridges: [{ name: LINK, url, clientId: clientId(), out: route(OUT), in: route(IN), reconnect: { minDelay: 500, maxDelay: 10_000 } }] };
}

/** This browser's client id at the remote: stable (the remote keeps the
 *  link's session under it) and its own, so two browsers linked to one
 *  remote do not take each other's session. */
function clientId() {
  const key = 'tabmq-demo:cloud-client';
  let id = localStorage.getItem(key);
  if (!id) {
    id = `tabmq-demo-${crypto.randomUUID().slice(0, 8)}`;
    localStorage.setItem(key, id);
  }
  return id;
}

let startupError = '';

/** startBroker(options) with the link; should the broker refuse the link's
 *  options, without it (the panel says why), so the demo still starts. */
export async function startBrokerWithLink(startBroker, options) {
  const link = linkOptions();
  if (!link.bridges) return startBroker(options);
  try {
    return await startBroker({ ...options, ...link });
  } catch (err) {
    if (err?.code !== 'ERR_TABMQ_OPTION') throw err;
    startupError = `The broker refused the link: ${err.message}`;
    return startBroker(options);
  }
}

export class CloudLink {
  el;
  #broker;
  #e = {};
  #bridge = null; // the link in broker.stats().bridges
  #conflict = '';
  #problem = { text: '', until: 0 }; // a message for the user, shown a while
  #prev = null; // { t, out } for the rate
  #rate = 0;

  /** Made right after startBroker(): the handle reports a conflict at once. */
  constructor(broker) {
    this.#broker = broker;
    this.el = this.#build();
    broker.addEventListener('error', (e) => {
      if (e.code === 'ERR_TABMQ_OPTION_CONFLICT') {
        this.#conflict = `${e.message}. Close the demo’s other tabs, then reload this one, to apply the change.`;
        this.#render();
      }
    });
    broker.addEventListener('bridge', (e) => {
      if (e.detail?.name !== LINK) return;
      this.#bridge = { ...this.#bridge, state: e.detail.state, reasonCode: e.detail.reasonCode };
      this.#render();
      this.#poll();
    });
    window.addEventListener('storage', (e) => e.key === KEY && this.#render());
    this.#poll();
    setInterval(() => this.#poll(), 1000);
  }

  #build() {
    const e = this.#e;
    e.state = h('span.status', { 'data-testid': 'cloud-state', 'data-state': 'off' }, h('i'), h('span', STATES.off));
    e.switch = h('button.switch', {
      type: 'button', role: 'switch', 'aria-checked': 'false', 'aria-label': 'Link up', disabled: true,
      'data-testid': 'cloud-switch', on: { click: () => this.#toggle() },
    }, h('span.knob'));
    e.url = h('input', {
      type: 'text', inputmode: 'url', spellcheck: 'false', autocomplete: 'off', placeholder: 'ws://localhost:8083/mqtt',
      value: savedUrl(), 'aria-label': 'Remote broker URL', 'data-testid': 'cloud-url',
    });
    e.save = h('button.btn.primary', { type: 'submit', 'data-testid': 'cloud-connect' }, icon('cloud'), 'Connect');
    e.remove = h('button.btn.ghost', { type: 'button', 'data-testid': 'cloud-remove', on: { click: () => this.#apply('') } },
      icon('x'), 'Disconnect');
    e.note = h('p.cloud-note', { 'data-testid': 'cloud-note' });
    const figure = (key, title) => {
      e[key] = h('div.stat-value', '—');
      e[`${key}Sub`] = h('div.stat-sub', '');
      return h('div.cloud-figure', { 'data-testid': `cloud-${key}` }, h('div.kpi-title', title), e[key], e[`${key}Sub`]);
    };
    e.error = h('p.cloud-error', { 'data-testid': 'cloud-error' });
    const code = (text) => h('code', text);
    const hint = h('aside.cloud-hint',
      h('h4', 'Try it on this machine'),
      h('ol',
        h('li', 'Start a remote broker: ', code('npx tabmq --ws 8083 --tcp 1883'), ', then connect to ', code('ws://localhost:8083/mqtt'), '.'),
        h('li', 'Watch the devices from there: ', code("mosquitto_sub -h localhost -p 1883 -t 'tabmq-demo/#' -v")),
        h('li', 'Switch a light in this tab from the remote: ',
          code(`mosquitto_pub -h localhost -p 1883 -q 1 -t tabmq-demo/home/light-living/set -m '{"toggle":true}'`))),
      h('p', 'While the link is down, QoS 1 messages (states, the door, commands) wait in the queue; '
        + 'QoS 0 readings are not kept for it, as MQTT has it.'));
    const route = (dir, from, to) => h('div.cloud-route', h('span.chip', dir), code(from), '→', code(to));
    return h('article.card.cloud', { 'data-testid': 'cloud-link', 'data-state': 'off' },
      h('header',
        h('div.tile-icon.cloud-icon', icon('cloud')),
        h('div.tile-title', h('h2', 'Cloud link'), h('div.tile-sub', 'A bridge from the broker in this tab to a remote MQTT broker')),
        e.state,
        h('label.cloud-toggle', h('span', 'Link'), e.switch)),
      h('div.cloud-body',
        h('div.cloud-main',
          h('form.cloud-form', { on: { submit: (ev) => (ev.preventDefault(), this.#apply(e.url.value.trim())) } }, e.url, e.save, e.remove),
          e.note,
          h('div.cloud-figures',
            figure('queued', 'Queued'),
            figure('inflight', 'In flight'),
            figure('out', 'Out to the remote'),
            figure('in', 'In from the remote')),
          e.error,
          h('div.cloud-routes',
            route('Out', OUT, `${PREFIX}${OUT}`),
            route('In', `${PREFIX}${IN}`, IN))),
        hint));
  }

  /** Saves the URL ('' removes the link) and restarts the page's broker with it. */
  #apply(url) {
    const problem = url && urlProblem(url);
    if (problem) {
      this.#say(problem);
      this.#render();
      return;
    }
    if (url === savedUrl() && (url ? this.#bridge?.url === url : !this.#bridge)) return;
    try {
      if (url) localStorage.setItem(KEY, url);
      else localStorage.removeItem(KEY);
    } catch (err) {
      this.#say(`Cannot save the URL: ${err.message}`);
      this.#render();
      return;
    }
    // New bridges are new broker options: the broker starts again with them.
    location.reload();
  }

  #say(text) {
    this.#problem = { text, until: Date.now() + 8000 };
  }

  async #toggle() {
    const sw = this.#e.switch;
    const up = this.#bridge?.state !== 'paused';
    sw.classList.add('busy');
    try {
      await (up ? this.#broker.pauseBridge(LINK) : this.#broker.resumeBridge(LINK));
      this.#bridge = { ...this.#bridge, state: up ? 'paused' : 'connecting' };
    } catch (err) {
      this.#say(err.message);
    } finally {
      sw.classList.remove('busy');
    }
    this.#render();
  }

  async #poll() {
    let s;
    try {
      s = await this.#broker.stats();
    } catch {
      return;
    }
    const b = s.bridges?.find((x) => x.name === LINK) ?? s.bridges?.[0] ?? null;
    const now = performance.now();
    if (b && this.#prev && now > this.#prev.t) this.#rate = Math.max(0, ((b.messagesOut - this.#prev.out) * 1000) / (now - this.#prev.t));
    this.#prev = b ? { t: now, out: b.messagesOut } : null;
    this.#bridge = b;
    this.#render();
  }

  #render() {
    const e = this.#e;
    const b = this.#bridge;
    const state = b?.state ?? 'off';
    const saved = savedUrl();
    let label = STATES[state] ?? state;
    if (state === 'refused' && b.reasonCode !== undefined) {
      label += ` · 0x${b.reasonCode.toString(16).padStart(2, '0')} ${CONNACK[b.reasonCode] ?? ''}`.trimEnd();
    }
    this.el.dataset.state = state;
    e.state.dataset.state = state;
    e.state.lastChild.textContent = label;
    e.state.title = b ? `Bridge “${b.name}” to ${b.url}` : 'No bridge: enter a remote broker’s URL';
    e.switch.disabled = !b;
    e.switch.setAttribute('aria-checked', String(!!b && state !== 'paused'));
    e.switch.title = !b ? 'No link to take down' : state === 'paused' ? 'Bring the link up: the queue drains' : 'Take the link down: messages queue';
    e.remove.hidden = !saved && !b;
    e.save.lastChild.textContent = saved && b?.url === saved ? 'Save' : 'Connect';
    // What the panel has to say, the most pressing first.
    const notes = [];
    if (Date.now() < this.#problem.until) notes.push(['error', this.#problem.text]);
    if (startupError) notes.push(['error', startupError]);
    if (this.#conflict) notes.push(['warn', this.#conflict]);
    else if (saved !== (b?.url ?? '') && !startupError) {
      notes.push(['warn', saved
        ? `Saved ${saved}, but the broker still runs ${b ? `with ${b.url}` : 'without a link'}: reload every tab of the demo to apply it.`
        : `No link is saved, but the broker still runs with ${b.url}: reload every tab of the demo to apply that.`]);
    }
    const [kind, text] = notes[0] ?? ['', ''];
    e.note.className = `cloud-note ${kind}`.trim();
    e.note.textContent = text;
    if (!b) {
      for (const k of ['queued', 'inflight', 'out', 'in']) {
        e[k].textContent = '—';
        e[`${k}Sub`].textContent = '';
      }
      e.error.textContent = '';
      return;
    }
    e.queued.textContent = num.format(b.queued);
    e.queuedSub.textContent = state === 'paused' ? 'link down: filling'
      : !b.queued ? 'nothing waiting' : state === 'connected' ? 'draining' : 'waiting for the link';
    e.inflight.textContent = num.format(b.inflight);
    e.inflightSub.textContent = 'sent, not acked yet';
    e.out.textContent = num.format(b.messagesOut);
    e.outSub.textContent = `${bytes(b.bytesOut)} · ${this.#rate.toFixed(1)} msg/s`;
    e.in.textContent = num.format(b.messagesIn);
    e.inSub.textContent = bytes(b.bytesIn);
    e.error.textContent = b.lastError ? `Last error: ${b.lastError}` : '';
  }
}
