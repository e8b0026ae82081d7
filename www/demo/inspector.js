// The broker inspector: counters and message rates from broker.stats(),
// sessions and retained messages from broker.inspect(), storage figures.
// Fields the broker adds later (IndexedDB figures, ...) show up by
// themselves in the storage panel.

import { timeChart } from './charts.js';
import { ago, bytes, clock, duration, h, icon, num } from './ui.js';

/** Stats fields with a place of their own; any other field goes to "Storage". */
const KNOWN = new Set([
  'connections', 'sessions', 'subscriptions', 'retained', 'messagesReceived', 'messagesSent', 'messagesDropped',
  'bytesReceived', 'bytesSent', 'queuedMessages', 'inflightMessages', 'uptimeSecs', 'storageOps', 'pendingAcks',
  'bridges', // the dashboard's Cloud link panel shows them
]);
const PROTOCOL = { 3: 'MQTT 3.1', 4: 'MQTT 3.1.1', 5: 'MQTT 5.0' };
const WINDOW = 10 * 60; // seconds of rates kept

const LABELS = {
  enabled: 'IndexedDB enabled',
  database: 'Database',
  schemaVersion: 'Schema version',
  upgradedFrom: 'Upgraded from',
  records: 'Records stored',
  bytesWritten: 'Bytes written',
  pendingOps: 'Operations pending',
  commitInFlight: 'Commit in flight',
  commits: 'Commits',
  opsWritten: 'Operations written',
  lastCommitAt: 'Last commit',
  lastCommitMs: 'Last commit took',
  corruptSkipped: 'Corrupt records skipped',
  bytesEstimated: 'Origin storage used',
  quota: 'Origin quota',
  error: 'Error',
};
const REASONS = {
  0x00: 'normal', 0x04: 'with will', 0x80: 'unspecified error', 0x81: 'malformed packet', 0x82: 'protocol error',
  0x87: 'not authorized', 0x89: 'server busy', 0x8b: 'server shutting down', 0x8d: 'keep alive timeout',
  0x8e: 'session taken over', 0x93: 'receive maximum exceeded', 0x95: 'packet too large', 0x97: 'quota exceeded',
  0x98: 'administrative action', 0x9c: 'use another server',
};

function humanize(key) {
  return LABELS[key] ?? key.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase());
}

function formatField(key, value) {
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (value === null || value === undefined) return '—';
  if (typeof value !== 'number') return typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/bytes|quota/i.test(key)) return bytes(value);
  if (/At$/.test(key)) return value > 0 ? ago(value) : 'never';
  if (/secs$/i.test(key)) return duration(value);
  if (/Ms$/.test(key)) return `${value < 10 ? value.toFixed(1) : num.format(Math.round(value))} ms`;
  return num.format(value);
}

export class Inspector {
  #broker;
  #durability;
  #els = {};
  #cards = {};
  #rates = { t: [], in: [], out: [] };
  #prev = null;
  #chart = null;
  #stats = null;
  visible = false;

  constructor(root, { broker, durability = 'strict' }) {
    this.#broker = broker;
    this.#durability = durability;
    root.append(this.#build());
    for (const type of ['connected', 'disconnected', 'rejected', 'dropped', 'error']) {
      broker.addEventListener(type, (e) => this.#onEvent(type, e));
    }
    this.#poll();
    setInterval(() => this.#poll(), 1000);
    setInterval(() => this.visible && this.#inspect(), 2000);
  }

  #build() {
    const e = this.#els;
    const cards = h('section.stat-cards',
      this.#card('connections', 'users', 'Connections'),
      this.#card('sessions', 'layers', 'Sessions'),
      this.#card('subscriptions', 'tree', 'Subscriptions'),
      this.#card('retained', 'pin', 'Retained'),
      this.#card('messages', 'activity', 'Messages in / out'),
      this.#card('uptime', 'cpu', 'Uptime'));
    e.chart = h('div.chart');
    e.rateNow = h('div.legend',
      h('span', h('i', { style: { background: '#38bdf8' } }), 'Received'),
      h('span', h('i', { style: { background: '#f472b6' } }), 'Sent'));
    e.storage = h('dl.kv');
    e.storageNote = h('p.note-text', '');
    e.activity = h('ol.activity', h('li.empty', 'Connects, disconnects and drops show up here as they happen.'));
    e.clients = h('tbody');
    e.retained = h('tbody');
    e.clientsCount = h('span.dim', '');
    e.retainedCount = h('span.dim', '');
    return h('div.inspector',
      cards,
      h('div.inspector-cols',
        h('div.col',
          h('article.card.chart-card.rates', { 'data-testid': 'rates' },
            h('header', h('h2', 'Message rate'), e.rateNow, h('span.dim.small', 'messages / s, last 10 min')),
            e.chart),
          h('article.card.table-card', { 'data-testid': 'clients' },
            h('header', h('h2', 'Clients'), e.clientsCount),
            h('div.table-wrap', h('table',
              h('thead', h('tr', ['Client', 'Status', 'Subscriptions', 'In-flight', 'Queued'].map((c) => h('th', c)))),
              e.clients))),
          h('article.card.table-card', { 'data-testid': 'retained' },
            h('header', h('h2', 'Retained messages'), e.retainedCount),
            h('div.table-wrap', h('table',
              h('thead', h('tr', ['Topic', 'Payload', 'QoS', 'Size'].map((c) => h('th', c)))),
              e.retained)))),
        h('div.col',
          h('article.card.storage', { 'data-testid': 'storage' },
            h('header', h('h2', 'Storage'), icon('database', 'dim')),
            e.storage, e.storageNote),
          h('article.card.activity-card', { 'data-testid': 'activity' },
            h('header', h('h2', 'Activity'), h('span.dim.small', 'broker events')),
            e.activity))));
  }

  #card(key, iconName, title) {
    const value = h('div.stat-value', '—');
    const sub = h('div.stat-sub', '');
    this.#cards[key] = { value, sub };
    return h('article.card.stat', h('div.stat-title', icon(iconName), title), value, sub);
  }

  async #poll() {
    let s;
    try {
      s = await this.#broker.stats();
    } catch {
      return;
    }
    const now = Date.now() / 1000;
    if (this.#prev) {
      const dt = Math.max(0.001, now - this.#prev.at);
      const r = this.#rates;
      r.t.push(now);
      r.in.push(Math.max(0, (s.messagesReceived - this.#prev.s.messagesReceived) / dt));
      r.out.push(Math.max(0, (s.messagesSent - this.#prev.s.messagesSent) / dt));
      while (r.t.length && r.t[0] < now - WINDOW) {
        r.t.shift();
        r.in.shift();
        r.out.shift();
      }
    }
    this.#prev = { at: now, s };
    this.#stats = s;
    if (this.visible) this.#render();
  }

  #render() {
    const s = this.#stats;
    if (!s) return;
    const c = this.#cards;
    const set = (k, v, sub) => {
      c[k].value.textContent = v;
      c[k].sub.textContent = sub;
    };
    set('connections', num.format(s.connections), 'open right now');
    const kept = Math.max(0, s.sessions - s.connections);
    set('sessions', num.format(s.sessions), kept ? `${num.format(kept)} kept for offline clients` : 'all clients connected');
    set('subscriptions', num.format(s.subscriptions), 'across all sessions');
    set('retained', num.format(s.retained), 'kept for new subscribers');
    set('messages', `${num.format(s.messagesReceived)} / ${num.format(s.messagesSent)}`,
      `${bytes(s.bytesReceived)} in · ${bytes(s.bytesSent)} out${s.messagesDropped ? ` · ${num.format(s.messagesDropped)} dropped` : ''}`);
    set('uptime', duration(s.uptimeSecs), `${num.format(s.queuedMessages)} queued · ${num.format(s.inflightMessages)} in flight`);
    this.#renderStorage(s);
    const r = this.#rates;
    if (!this.#chart) {
      this.#chart = timeChart(this.#els.chart, {
        series: [
          { label: 'Received', stroke: '#38bdf8', unit: '/s', digits: 1, fill: 0.25 },
          { label: 'Sent', stroke: '#f472b6', unit: '/s', digits: 1 },
        ],
        yMin: 0,
      });
    }
    this.#chart.set([r.t.slice(), r.in.slice(), r.out.slice()]);
  }

  #renderStorage(s) {
    const rows = [];
    const add = (k, v, title) => rows.push(h('dt', { title }, k), h('dd', { title: typeof v === 'string' ? v : undefined }, v));
    const section = (name) => rows.push(h('dt.kv-section', name));
    add('Durability', this.#durability === 'strict' ? 'strict' : this.#durability,
      "'strict': acknowledgements wait until IndexedDB has the message");
    add('Storage operations', num.format(s.storageOps), 'Session, subscription, message and retained writes the broker emitted');
    add('Acks waiting for storage', num.format(s.pendingAcks), 'Acknowledgements held until their write is persisted');
    // Figures the broker reports beyond the counters above (IndexedDB, ...)
    // are listed as they come, nested objects as sections.
    for (const [k, v] of Object.entries(s)) {
      if (KNOWN.has(k)) continue;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        section(k === 'storage' ? 'IndexedDB' : humanize(k));
        for (const [k2, v2] of Object.entries(v)) add(humanize(k2), formatField(k2, v2));
      } else {
        add(humanize(k), formatField(k, v));
      }
    }
    this.#els.storage.replaceChildren(...rows);
    this.#els.storageNote.textContent = s.storage
      ? ''
      : 'This broker build keeps everything in memory; IndexedDB figures appear here when it persists.';
  }

  /** Broker events (connects, disconnects with their reason, drops, storage errors). */
  #onEvent(type, e) {
    const d = e.detail ?? {};
    let text;
    let kind = type;
    if (type === 'connected') {
      text = [h('b', d.clientId), ` connected (${PROTOCOL[d.protocolVersion] ?? 'MQTT'}${d.sessionPresent ? ', session resumed' : ''})`];
    } else if (type === 'disconnected') {
      const why = d.reasonCode !== undefined ? REASONS[d.reasonCode] ?? `reason 0x${d.reasonCode.toString(16)}` : d.detail ?? 'connection closed';
      text = [h('b', d.clientId ?? `connection ${d.conn}`), ` disconnected: ${why}`];
      if (d.reasonCode !== undefined && d.reasonCode !== 0) kind = 'warn';
    } else if (type === 'rejected') {
      text = [`Connection ${d.conn} refused: ${REASONS[d.reasonCode] ?? `reason 0x${(d.reasonCode ?? 0).toString(16)}`}`];
      kind = 'warn';
    } else if (type === 'dropped') {
      text = [`Message to `, h('b', d.clientId), ` on ${d.topic} dropped (${d.why})`];
      kind = 'warn';
    } else {
      text = [e.message ?? 'broker error'];
      kind = 'error';
    }
    this.#events.unshift(h(`li.${kind}`, h('time', clock.format(new Date())), h('span', text)));
    if (this.#events.length > 80) this.#events.length = 80;
    if (this.visible) this.#els.activity.replaceChildren(...this.#events);
  }
  #events = [];

  async #inspect() {
    let data;
    try {
      data = await this.#broker.inspect();
    } catch {
      return;
    }
    const clients = [...data.clients].sort((a, b) => (b.connected - a.connected) || a.clientId.localeCompare(b.clientId));
    this.#els.clientsCount.textContent = `${clients.filter((c) => c.connected).length} connected · ${clients.length} sessions`;
    this.#els.clients.replaceChildren(...clients.map((c) => {
      const subs = c.subscriptions;
      const expiry = c.sessionExpiry === 4294967295 ? 'never expires' : c.sessionExpiry === 0 ? 'clean session' : `session ${duration(c.sessionExpiry)}`;
      return h('tr', { 'data-client': c.clientId },
        h('td.client',
          h('div.mono', c.clientId),
          h('div.dim.small', `${PROTOCOL[c.protocolVersion] ?? String(c.protocolVersion)} · ${expiry}`)),
        h('td', h(`span.badge.${c.connected ? 'ok' : 'idle'}`, c.connected ? 'Connected' : 'Offline, kept')),
        h('td', subs.length === 0 ? h('span.dim', 'none') : h('div.subs',
          ...subs.slice(0, 3).map((x) => h('span.chip.mono', { title: `QoS ${x.qos}` }, x.filter)),
          subs.length > 3 ? h('span.chip', `+${subs.length - 3}`) : null)),
        h('td.num', num.format(c.inflight)),
        h('td.num', num.format(c.queued)));
    }));
    const decoder = new TextDecoder();
    const sys = (t) => t.startsWith('$');
    const retained = [...data.retained].sort((a, b) => (sys(a.topic) - sys(b.topic)) || a.topic.localeCompare(b.topic));
    this.#els.retainedCount.textContent = `${retained.length} topics`;
    this.#els.retained.replaceChildren(...retained.map((m) => {
      const text = decoder.decode(m.payload);
      return h('tr',
        h('td.mono', m.topic),
        h('td.mono.payload-cell', text.length > 70 ? `${text.slice(0, 70)}…` : text),
        h('td.num', String(m.qos)),
        h('td.num', bytes(m.payload.byteLength)));
    }));
  }

  shown() {
    this.visible = true;
    if (this.#events.length) this.#els.activity.replaceChildren(...this.#events);
    this.#render();
    this.#inspect();
  }
}
