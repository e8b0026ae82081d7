// The topic explorer: the live topic tree (retained flags, message counts,
// last payloads), the selected topic's details, and a publish form with
// MQTT 5 properties.

import { ago, bytes, clock, h, icon, num } from './ui.js';

class Node {
  constructor(name, path) {
    this.name = name;
    this.path = path;
    this.children = new Map();
    this.info = null;
  }
  /** Messages seen in this subtree. */
  total() {
    let n = this.info?.count ?? 0;
    for (const c of this.children.values()) n += c.total();
    return n;
  }
  lastAt() {
    let t = this.info?.lastAt ?? 0;
    for (const c of this.children.values()) t = Math.max(t, c.lastAt());
    return t;
  }
  topics() {
    let n = this.info ? 1 : 0;
    for (const c of this.children.values()) n += c.topics();
    return n;
  }
}

export class Explorer {
  #bus;
  #root = new Node('', '');
  #expanded = new Set(['home', 'demo']);
  #selected = null;
  #filter = '';
  #dirty = true;
  #els = {};
  visible = false;

  constructor(root, { bus }) {
    this.#bus = bus;
    root.append(this.#build());
    for (const info of bus.topics.values()) this.#insert(info.topic).info = info;
    bus.addEventListener('message', (e) => {
      const { topic, info } = e.detail;
      this.#insert(topic).info = info;
      this.#dirty = true;
      if (topic === this.#selected && this.visible) this.#renderDetail();
    });
    setInterval(() => {
      if (this.visible && this.#dirty) this.#renderTree();
    }, 500);
    setInterval(() => this.visible && this.#selected && this.#renderDetailTimes(), 1000);
  }

  #insert(topic) {
    let node = this.#root;
    const levels = topic.split('/');
    levels.forEach((name, i) => {
      let next = node.children.get(name);
      if (!next) {
        next = new Node(name, levels.slice(0, i + 1).join('/'));
        node.children.set(name, next);
        // The home's devices start unfolded: the tree is the point.
        if (i === 1 && levels[0] === 'home') this.#expanded.add(next.path);
      }
      node = next;
    });
    return node;
  }

  #build() {
    const e = this.#els;
    e.filter = h('input.search', {
      type: 'search', placeholder: 'Filter topics', 'aria-label': 'Filter topics',
      on: { input: () => { this.#filter = e.filter.value.trim().toLowerCase(); this.#renderTree(); } },
    });
    e.count = h('span.dim', '');
    e.tree = h('div.tree', { role: 'tree', 'data-testid': 'topic-tree' });
    e.detail = h('div.detail-body');
    e.detailTitle = h('h2.topic-name', 'Select a topic');
    const treeCard = h('article.card.tree-card',
      h('header', h('h2', 'Topics'), e.count, h('div.search-box', icon('search'), e.filter)),
      e.tree);
    const detailCard = h('article.card.detail-card', { 'data-testid': 'topic-detail' },
      h('header', e.detailTitle), e.detail);
    return h('div.explorer', treeCard, h('div.explorer-side', detailCard, this.#publishForm()));
  }

  // ---- tree -------------------------------------------------------------------

  #renderTree() {
    this.#dirty = false;
    const rows = [];
    const match = (node) => !this.#filter || node.path.toLowerCase().includes(this.#filter)
      || [...node.children.values()].some(match);
    const walk = (node, depth) => {
      const kids = [...node.children.values()].sort((a, b) => {
        const sa = a.name.startsWith('$');
        const sb = b.name.startsWith('$');
        return sa !== sb ? (sa ? 1 : -1) : a.name.localeCompare(b.name, undefined, { numeric: true });
      });
      for (const child of kids) {
        if (!match(child)) continue;
        const open = this.#filter ? true : this.#expanded.has(child.path);
        rows.push(this.#row(child, depth, open));
        if (open && child.children.size) walk(child, depth + 1);
      }
    };
    walk(this.#root, 0);
    const scroll = this.#els.tree.scrollTop;
    this.#els.tree.replaceChildren(...rows);
    this.#els.tree.scrollTop = scroll;
    const topics = this.#root.topics();
    const retained = [...this.#bus.topics.values()].filter((t) => t.retained).length;
    this.#els.count.textContent = `${topics} topics · ${retained} retained`;
  }

  #row(node, depth, open) {
    const info = node.info;
    const hasKids = node.children.size > 0;
    const fresh = Date.now() - node.lastAt() < 1200;
    const caret = h('span.caret', { class: `caret${hasKids ? '' : ' leaf'}${open ? ' open' : ''}` }, hasKids ? icon('chevron') : '');
    const preview = info && info.text !== ''
      ? h('span.preview', info.text.length > 48 ? `${info.text.slice(0, 48)}…` : info.text)
      : null;
    return h('div.row', {
      role: 'treeitem',
      'aria-expanded': hasKids ? String(open) : undefined,
      'aria-selected': String(this.#selected === node.path),
      'data-topic': node.path,
      class: `row${fresh ? ' fresh' : ''}${this.#selected === node.path ? ' selected' : ''}`,
      style: { paddingLeft: `${10 + depth * 16}px` },
      on: {
        click: () => {
          if (hasKids && (!info || this.#selected === node.path)) {
            if (this.#expanded.has(node.path)) this.#expanded.delete(node.path);
            else this.#expanded.add(node.path);
          }
          if (info) this.select(node.path);
          this.#renderTree();
        },
      },
    },
    caret,
    h('span.name', node.name || '∅'),
    info?.retained ? h('span.pin', { title: 'Retained' }, icon('pin')) : null,
    preview,
    h('span.count', { title: 'Messages seen' }, num.format(node.total())));
  }

  // ---- details --------------------------------------------------------------------

  select(topic) {
    this.#selected = topic;
    this.#renderDetail();
  }

  #renderDetail() {
    const info = this.#bus.get(this.#selected);
    const e = this.#els;
    if (!info) return;
    e.detailTitle.textContent = info.topic;
    let pretty = info.text;
    let isJson = false;
    try {
      const v = JSON.parse(info.text);
      if (v !== null && typeof v === 'object') {
        pretty = JSON.stringify(v, null, 2);
        isJson = true;
      }
    } catch { /* plain text */ }
    const props = info.properties ?? {};
    const propRows = [];
    const add = (k, v) => propRows.push(h('dt', k), h('dd', v));
    if (props.contentType) add('Content type', props.contentType);
    if (props.payloadFormatIndicator !== undefined) add('Payload format', props.payloadFormatIndicator ? 'UTF-8' : 'bytes');
    if (props.messageExpiryInterval !== undefined) add('Expires in', `${props.messageExpiryInterval} s`);
    if (props.responseTopic) add('Response topic', props.responseTopic);
    if (props.correlationData) add('Correlation', new TextDecoder().decode(props.correlationData));
    for (const [k, v] of Object.entries(props.userProperties ?? {})) {
      add(h('span.user-prop', k), k === 'ts' ? `${v} (${clock.format(new Date(Number(v)))})` : [].concat(v).join(', '));
    }
    e.detail.replaceChildren(
      h('div.meta',
        h('span.chip', `QoS ${info.qos}`),
        info.retained ? h('span.chip.accent', icon('pin'), 'Retained') : h('span.chip', 'Not retained'),
        h('span.chip', bytes(info.size)),
        h('span.chip', `${num.format(info.count)} messages`),
        h('span.chip.when', ago(info.lastAt))),
      h('pre.payload', { class: `payload${isJson ? ' json' : ''}`, 'data-testid': 'detail-payload' }, pretty === '' ? '(empty)' : pretty),
      propRows.length ? h('div', h('h4', 'MQTT 5 properties'), h('dl.props', propRows)) : null,
      h('h4', 'Recent messages'),
      h('ol.recent', info.recent.map((m) => h('li', h('time', clock.format(new Date(m.at))), h('code', m.text.length > 80 ? `${m.text.slice(0, 80)}…` : m.text || '(empty)'), m.retain ? icon('pin') : null))),
      h('div.detail-actions',
        h('button.btn.ghost', { type: 'button', on: { click: () => this.#useInForm(info) } }, 'Publish to this topic'),
        info.retained
          ? h('button.btn.ghost.danger', {
            type: 'button',
            on: { click: () => this.#bus.publish(info.topic, '', { qos: 1, retain: true }) },
          }, 'Clear retained')
          : null),
    );
  }

  #renderDetailTimes() {
    const info = this.#bus.get(this.#selected);
    const when = this.#els.detail.querySelector('.when');
    if (info && when) when.textContent = ago(info.lastAt);
  }

  // ---- publish ----------------------------------------------------------------------

  #publishForm() {
    const f = {};
    f.topic = h('input', { name: 'topic', required: true, placeholder: 'home/light-kitchen/set', value: 'home/light-kitchen/set', autocomplete: 'off', spellcheck: false });
    f.payload = h('textarea', { name: 'payload', rows: 3, spellcheck: false }, '{"toggle": true}');
    f.qos = h('div.segmented.small', { role: 'radiogroup', 'aria-label': 'QoS' },
      [0, 1, 2].map((q) => h('button', {
        type: 'button', 'aria-pressed': String(q === 1), 'data-qos': String(q),
        on: { click: (ev) => { for (const b of f.qos.children) b.setAttribute('aria-pressed', String(b === ev.currentTarget)); } },
      }, `QoS ${q}`)));
    f.retain = h('input', { type: 'checkbox', name: 'retain' });
    f.contentType = h('input', { name: 'contentType', placeholder: 'application/json', value: 'application/json' });
    f.expiry = h('input', { name: 'expiry', type: 'number', min: '0', placeholder: 'never' });
    f.responseTopic = h('input', { name: 'responseTopic', placeholder: 'none', spellcheck: false });
    f.props = h('div.user-props');
    const addProp = (k = '', v = '') => {
      const row = h('div.user-prop-row',
        h('input', { placeholder: 'key', value: k, 'aria-label': 'User property key' }),
        h('input', { placeholder: 'value', value: v, 'aria-label': 'User property value' }),
        h('button.icon-btn', { type: 'button', 'aria-label': 'Remove', on: { click: () => row.remove() } }, icon('x')));
      f.props.append(row);
    };
    addProp('source', 'explorer');
    f.status = h('div.form-status', { role: 'status' });
    this.#form = f;
    const form = h('form.publish', {
      'data-testid': 'publish-form',
      on: { submit: (ev) => { ev.preventDefault(); this.#publish(); } },
    },
    h('label.field.wide', h('span', 'Topic'), f.topic),
    h('label.field.wide', h('span', 'Payload'), f.payload),
    h('div.field-row',
      f.qos,
      h('label.check', f.retain, h('span', 'Retain'))),
    h('details.v5',
      h('summary', 'MQTT 5 properties'),
      h('div.v5-grid',
        h('label.field', h('span', 'Content type'), f.contentType),
        h('label.field', h('span', 'Message expiry (s)'), f.expiry),
        h('label.field.wide', h('span', 'Response topic'), f.responseTopic),
        h('div.field.wide', h('span', 'User properties'), f.props,
          h('button.btn.ghost.small', { type: 'button', on: { click: () => addProp() } }, icon('plus'), 'Add property')))),
    h('div.form-actions', f.status, h('button.btn.primary', { type: 'submit' }, icon('send'), 'Publish')));
    return h('article.card.publish-card', h('header', h('h2', 'Publish')), form);
  }
  #form = null;

  #useInForm(info) {
    this.#form.topic.value = info.topic;
    this.#form.payload.value = info.text;
    this.#form.retain.checked = info.retained;
    this.#form.topic.focus();
  }

  async #publish() {
    const f = this.#form;
    const topic = f.topic.value.trim();
    const qos = Number(f.qos.querySelector('[aria-pressed="true"]').dataset.qos);
    const properties = {};
    if (f.contentType.value.trim()) properties.contentType = f.contentType.value.trim();
    if (f.expiry.value !== '') properties.messageExpiryInterval = Number(f.expiry.value);
    if (f.responseTopic.value.trim()) properties.responseTopic = f.responseTopic.value.trim();
    const userProperties = {};
    for (const row of f.props.children) {
      const [k, v] = row.querySelectorAll('input');
      if (k.value.trim()) userProperties[k.value.trim()] = v.value;
    }
    if (Object.keys(userProperties).length) properties.userProperties = userProperties;
    if (properties.responseTopic) properties.correlationData = new TextEncoder().encode(`explorer-${Date.now().toString(36)}`);
    f.status.className = 'form-status';
    f.status.textContent = 'Publishing…';
    try {
      if (!topic || /[#+]/.test(topic)) throw new Error('a topic name has no wildcards and is not empty');
      const started = performance.now();
      await this.#bus.publish(topic, f.payload.value, { qos, retain: f.retain.checked, properties });
      const ms = Math.round(performance.now() - started);
      f.status.classList.add('ok');
      f.status.textContent = qos === 0 ? 'Sent (QoS 0: no acknowledgement)' : `Acknowledged by the broker in ${ms} ms`;
      this.#expandTo(topic);
      this.select(topic);
    } catch (err) {
      f.status.classList.add('error');
      f.status.textContent = `Not published: ${err.message}`;
    }
  }

  #expandTo(topic) {
    const levels = topic.split('/');
    for (let i = 1; i < levels.length; i++) this.#expanded.add(levels.slice(0, i).join('/'));
    this.#dirty = true;
  }

  shown() {
    this.visible = true;
    this.#renderTree();
    if (!this.#selected) {
      const first = this.#bus.get('home/thermostat/state') ? 'home/thermostat/state' : [...this.#bus.topics.keys()][0];
      if (first) {
        this.#expandTo(first);
        this.select(first);
        this.#renderTree();
      }
    } else {
      this.#renderDetail();
    }
  }
}
