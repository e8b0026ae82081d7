// The dashboard: headline figures, two history charts and a tile per
// device with its live values and controls. Controls use MQTT 5
// request/response: a tile shows "pending" until the device confirms.
// Below the tiles, the Cloud link panel (cloud.js), when app.js gives one.

import { DEVICES } from './catalog.js';
import { align, timeChart } from './charts.js';
import { ago, h, icon, num, toast } from './ui.js';

const ROOMS = DEVICES.filter((d) => d.kind === 'climate');
const RANGES = [
  ['15m', 15 * 60],
  ['1h', 3600],
  ['6h', 6 * 3600],
  ['24h', 24 * 3600],
];
const KIND_ICON = { climate: 'thermometer', light: 'bulb', thermostat: 'flame', door: 'door', meter: 'bolt' };

export class Dashboard {
  #bus;
  #history;
  #supervisor;
  #tiles = new Map(); // id -> { el, status, parts, update() }
  #charts = {};
  #range = 15 * 60;
  #dirty = true;
  #kpi = {};
  #lastStatus = new Map();
  #doorOpenedAt = 0;
  #quietUntil = Date.now() + 3000;
  visible = true;

  constructor(root, { bus, history, supervisor, cloud }) {
    this.#bus = bus;
    this.#history = history;
    this.#supervisor = supervisor;
    try {
      this.#range = Number(localStorage.getItem('tabmq-demo:range')) || this.#range;
    } catch { /* default */ }
    root.append(this.#build(cloud?.el));
    bus.addEventListener('message', (e) => this.#onMessage(e.detail));
    // Retained messages that came with the subscription, before this view.
    for (const [topic, info] of bus.topics) this.#onMessage({ topic, info });
    setInterval(() => this.#tick(), 1000);
  }

  #build(cloudPanel) {
    const kpis = h('section.kpis',
      this.#kpiCard('climate', 'thermometer', 'Indoor climate'),
      this.#kpiCard('power', 'bolt', 'Power now'),
      this.#kpiCard('heating', 'flame', 'Heating'),
      this.#kpiCard('devices', 'cpu', 'Devices online'),
    );
    const rangeButtons = RANGES.map(([label, secs]) =>
      h('button', {
        type: 'button',
        'aria-pressed': String(secs === this.#range),
        on: { click: () => this.#setRange(secs) },
      }, label));
    this.#rangeButtons = rangeButtons;
    const tempChart = h('div.chart');
    const powerChart = h('div.chart');
    const legend = h('div.legend', ROOMS.map((r) => h('span', h('i', { style: { background: r.color } }), r.name)));
    const charts = h('section.charts',
      h('article.card.chart-card', { 'data-testid': 'chart-temperature' },
        h('header', h('h2', 'Temperature'), legend, h('div.segmented', { role: 'group', 'aria-label': 'Time range' }, rangeButtons)),
        tempChart),
      h('article.card.chart-card', { 'data-testid': 'chart-power' },
        h('header', h('h2', 'Power'), h('div.legend', h('span', h('i', { style: { background: '#34d399' } }), 'Whole home, W'))),
        powerChart),
    );
    const tiles = h('section.tiles', DEVICES.map((d) => this.#tile(d)));
    const view = h('div.dashboard', kpis, charts, tiles, cloudPanel);
    // Charts are made once the view is in the DOM and has a size.
    queueMicrotask(() => {
      this.#charts.temp = timeChart(tempChart, {
        series: ROOMS.map((r) => ({ label: r.name, stroke: r.color, unit: ' °C', digits: 1 })),
        yPad: 0.4,
        yUnit: '°',
      });
      this.#charts.power = timeChart(powerChart, {
        series: [{ label: 'Power', stroke: '#34d399', unit: ' W', digits: 0, fill: 0.35 }],
        yMin: 0,
      });
      for (const r of ROOMS) {
        const t = this.#tiles.get(r.id);
        t.chart = timeChart(t.parts.spark, { series: [{ label: 'Temperature', stroke: r.color, fill: 0.25 }], spark: true, yPad: 0.2 });
      }
      this.#dirty = true;
      this.#redraw();
    });
    return view;
  }
  #rangeButtons = [];

  #setRange(secs) {
    this.#range = secs;
    localStorage.setItem('tabmq-demo:range', String(secs));
    for (const b of this.#rangeButtons) b.setAttribute('aria-pressed', String(b.textContent === RANGES.find((r) => r[1] === secs)[0]));
    this.#dirty = true;
    this.#redraw();
  }

  #kpiCard(key, iconName, title) {
    const value = h('div.kpi-value', '—');
    const sub = h('div.kpi-sub', '');
    this.#kpi[key] = { value, sub };
    return h(`article.card.kpi.kpi-${key}`, { 'data-testid': `kpi-${key}` },
      h('div.kpi-icon', icon(iconName)), h('div', h('div.kpi-title', title), value, sub));
  }

  // ---- tiles ----------------------------------------------------------------

  #tile(d) {
    const status = h('span.status', { 'data-state': 'unknown' }, h('i'), h('span', 'Waiting'));
    const powerBtn = h('button.icon-btn.power-btn', {
      type: 'button',
      title: 'Stop this device',
      'aria-label': `Stop ${d.name}`,
      on: { click: () => this.#togglePower(d) },
    }, icon('power'));
    const header = h('header',
      h(`div.tile-icon.kind-${d.kind}`, icon(KIND_ICON[d.kind])),
      h('div.tile-title', h('h3', d.name), h('div.tile-sub', d.label)),
      status, powerBtn);
    const parts = {};
    const body = this.#tileBody(d, parts);
    const foot = h('footer', h('span.updated', ''), h('span.note', ''));
    const el = h(`article.card.tile.tile-${d.kind}`, { 'data-testid': `tile-${d.id}`, 'data-device': d.id }, header, body, foot);
    const tile = { d, el, status, powerBtn, parts, foot, pending: null, confirmed: null };
    this.#tiles.set(d.id, tile);
    return el;
  }

  #tileBody(d, p) {
    if (d.kind === 'climate') {
      p.temp = h('span.big-value', '—');
      p.hum = h('span.side-value', '—');
      p.spark = h('div.spark');
      return h('div.tile-body',
        h('div.reading', p.temp, h('span.unit', '°C'), h('span.side', icon('droplet'), p.hum, h('span.unit', '%'))),
        p.spark);
    }
    if (d.kind === 'light') {
      p.switch = h('button.switch', {
        type: 'button', role: 'switch', 'aria-checked': 'false', 'aria-label': `Switch ${d.name}`,
        'data-testid': `switch-${d.id}`,
        on: { click: () => this.#lightCommand(d, { on: p.switch.getAttribute('aria-checked') !== 'true' }) },
      }, h('span.knob'));
      p.state = h('span.big-value.light-state', '—');
      p.slider = h('input.slider', {
        type: 'range', min: '1', max: '100', value: '80', 'aria-label': `${d.name} brightness`,
        on: {
          input: () => (p.level.textContent = `${p.slider.value} %`),
          change: () => this.#lightCommand(d, { brightness: Number(p.slider.value), on: true }),
        },
      });
      p.level = h('span.level', '');
      p.bulb = h('div.bulb', icon('bulb'));
      return h('div.tile-body',
        h('div.reading', p.bulb, p.state, p.switch),
        h('div.slider-row', icon('activity', 'dim'), p.slider, p.level));
    }
    if (d.kind === 'thermostat') {
      p.current = h('span.big-value', '—');
      p.setpoint = h('span.setpoint-value', '—');
      const step = (delta) => h('button.icon-btn.round', {
        type: 'button',
        'aria-label': delta > 0 ? 'Warmer' : 'Cooler',
        'data-testid': delta > 0 ? 'thermostat-up' : 'thermostat-down',
        on: { click: () => this.#thermostatStep(d, delta) },
      }, icon(delta > 0 ? 'plus' : 'minus'));
      p.heating = h('span.heating', icon('flame'), h('span', 'Idle'));
      p.mode = h('div.segmented.small', { role: 'group', 'aria-label': 'Mode' },
        ['heat', 'off'].map((m) => h('button', {
          type: 'button', 'data-mode': m, 'aria-pressed': 'false',
          on: { click: () => this.#thermostatCommand(d, { mode: m }) },
        }, m === 'heat' ? 'Heat' : 'Off')));
      return h('div.tile-body',
        h('div.reading', p.current, h('span.unit', '°C'), p.heating),
        h('div.setpoint-row', h('span.dim', 'Target'), step(-0.5), p.setpoint, step(0.5), p.mode));
    }
    if (d.kind === 'door') {
      p.state = h('span.big-value.door-state', '—');
      p.opened = h('span.dim', '');
      p.battery = h('span.battery', '');
      return h('div.tile-body',
        h('div.reading', p.state, p.battery),
        h('div.door-meta', p.opened));
    }
    // meter
    p.power = h('span.big-value', '—');
    p.energy = h('span', '—');
    p.voltage = h('span', '—');
    return h('div.tile-body',
      h('div.reading', p.power, h('span.unit', 'W')),
      h('div.meter-meta', h('span.dim', 'Energy'), p.energy, h('span.dim', 'Voltage'), p.voltage));
  }

  #togglePower(d) {
    const want = this.#supervisor.desired(d.id) === 'running' ? 'stopped' : 'running';
    this.#supervisor.setDesired(d.id, want);
    if (want === 'stopped') {
      toast(`${d.name} crashed on purpose: its worker is gone without a DISCONNECT. The broker publishes its will at once.`, 'warn', 'power');
    }
  }

  // ---- commands (MQTT 5 request/response) -----------------------------------

  async #request(d, body, label) {
    const tile = this.#tiles.get(d.id);
    const started = performance.now();
    const pending = { body, label, started };
    tile.pending = pending;
    tile.confirmed = null;
    this.#render(d.id);
    try {
      const answer = await this.#bus.request(`home/${d.id}/set`, body);
      if (tile.pending !== pending) return;
      tile.pending = null;
      if (answer.ok) {
        tile.confirmed = { at: Date.now(), ms: Math.round(performance.now() - started), state: answer.state };
      } else {
        tile.confirmed = { at: Date.now(), error: answer.error ?? 'refused' };
      }
    } catch {
      if (tile.pending !== pending) return;
      tile.pending = null;
      tile.confirmed = { at: Date.now(), error: 'no answer from the device' };
    }
    this.#render(d.id);
  }

  #lightCommand(d, body) {
    this.#request(d, body, body.brightness ? `${body.brightness} %` : body.on ? 'On' : 'Off');
  }

  #thermostatStep(d, delta) {
    const tile = this.#tiles.get(d.id);
    const base = tile.pending?.body.setpoint ?? this.#bus.json('home/thermostat/state')?.setpoint ?? 21;
    const setpoint = Math.min(28, Math.max(10, base + delta));
    this.#thermostatCommand(d, { setpoint });
  }

  #thermostatCommand(d, body) {
    this.#request(d, body, body.mode ? (body.mode === 'heat' ? 'Heat' : 'Off') : `${body.setpoint.toFixed(1)} °C`);
  }

  // ---- updates --------------------------------------------------------------

  #onMessage({ topic, info }) {
    if (topic.startsWith('demo/devices/')) {
      const id = topic.split('/')[2];
      if (this.#tiles.has(id)) this.#render(id);
      return;
    }
    const m = /^home\/([^/]+)\/([^/]+)$/.exec(topic);
    if (!m || !this.#tiles.has(m[1])) return;
    const [, id, metric] = m;
    if (metric === 'status') this.#statusChanged(id, info.text);
    if (metric === 'contact' && info.text === 'open') {
      this.#doorOpenedAt = Number(info.properties?.userProperties?.ts) || Date.now();
    }
    if (metric === 'info' && Date.now() > this.#quietUntil) {
      try {
        const i = JSON.parse(info.text);
        if (i.sessionPresent && i.boots > 1) toast(`${this.#tiles.get(id).d.name} is back and resumed its persistent session`, 'ok', 'check');
      } catch { /* ignore */ }
    }
    this.#render(id);
    if (['temperature', 'humidity', 'power'].includes(metric)) this.#dirty = true;
  }

  #statusChanged(id, text) {
    const before = this.#lastStatus.get(id);
    this.#lastStatus.set(id, text);
    if (before === undefined || before === text || Date.now() < this.#quietUntil) return;
    const name = this.#tiles.get(id).d.name;
    if (text === 'offline') toast(`${name} went offline: the broker published its last will`, 'warn', 'wifiOff');
  }

  /** The device's lifecycle as the tile shows it. */
  #lifecycle(id) {
    const status = this.#bus.text(`home/${id}/status`);
    const desired = this.#supervisor.desired(id);
    if (desired === 'stopped') return status === 'online' ? ['crashed', 'Crashed'] : ['stopped', 'Stopped'];
    if (status === 'online') return ['online', 'Online'];
    if (status === 'offline') return ['starting', 'Offline · restarting'];
    return ['unknown', 'Connecting'];
  }

  #render(id) {
    const tile = this.#tiles.get(id);
    if (!tile) return;
    const { d, parts: p } = tile;
    const [state, label] = this.#lifecycle(id);
    tile.status.dataset.state = state;
    tile.status.lastChild.textContent = label;
    tile.status.title = {
      online: 'Connected to the broker',
      crashed: 'The worker is gone without a DISCONNECT; the broker publishes the will at the keep-alive deadline (1.5 × 3 s)',
      stopped: 'Offline: the broker published this device’s will',
      starting: 'Offline; the device is starting again',
      unknown: 'Waiting for the device',
    }[state];
    tile.el.dataset.state = state;
    const running = this.#supervisor.desired(id) === 'running';
    tile.powerBtn.classList.toggle('off', !running);
    tile.powerBtn.title = running
      ? 'Crash this device: terminate its worker without DISCONNECT (the broker publishes its will)'
      : 'Start this device again (it resumes its persistent session)';
    tile.powerBtn.setAttribute('aria-label', `${running ? 'Stop' : 'Start'} ${d.name}`);
    const bus = this.#bus;
    const t = (m) => bus.text(`home/${id}/${m}`);
    if (d.kind === 'climate') {
      const temp = Number(t('temperature'));
      const hum = Number(t('humidity'));
      p.temp.textContent = t('temperature') ? temp.toFixed(1) : '—';
      p.hum.textContent = t('humidity') ? hum.toFixed(0) : '—';
    } else if (d.kind === 'light') {
      const st = bus.json(`home/${id}/state`);
      if (st) {
        p.switch.setAttribute('aria-checked', String(st.on));
        p.state.textContent = st.on ? 'On' : 'Off';
        p.bulb.classList.toggle('lit', st.on);
        p.bulb.style.setProperty('--glow', String(st.brightness / 100));
        if (document.activeElement !== p.slider && !tile.pending) p.slider.value = String(st.brightness);
        p.level.textContent = `${p.slider.value} %`;
      }
      p.switch.classList.toggle('busy', !!tile.pending);
    } else if (d.kind === 'thermostat') {
      const st = bus.json('home/thermostat/state');
      if (st) {
        p.current.textContent = st.temperature == null ? '—' : st.temperature.toFixed(1);
        const target = tile.pending?.body.setpoint ?? st.setpoint;
        p.setpoint.textContent = `${target.toFixed(1)}°`;
        p.setpoint.classList.toggle('busy', tile.pending?.body.setpoint !== undefined);
        p.heating.classList.toggle('on', st.heating);
        p.heating.lastChild.textContent = st.mode === 'off' ? 'Off' : st.heating ? 'Heating' : 'Idle';
        for (const b of p.mode.children) b.setAttribute('aria-pressed', String(b.dataset.mode === st.mode));
      }
    } else if (d.kind === 'door') {
      const c = t('contact');
      p.state.textContent = c ? (c === 'open' ? 'Open' : 'Closed') : '—';
      tile.el.classList.toggle('door-open', c === 'open');
      if (t('battery')) p.battery.replaceChildren(icon('gauge'), `${t('battery')} %`);
      p.opened.textContent = c === 'open' ? 'Someone is coming in' : this.#doorOpenedAt ? `Last opened ${ago(this.#doorOpenedAt)}` : 'No opening seen yet';
    } else if (d.kind === 'meter') {
      const w = Number(t('power'));
      p.power.textContent = t('power') ? num.format(Math.round(w)) : '—';
      p.energy.textContent = t('energy') ? `${Number(t('energy')).toFixed(2)} kWh` : '—';
      p.voltage.textContent = t('voltage') ? `${Number(t('voltage')).toFixed(1)} V` : '—';
    }
    this.#renderFoot(tile);
  }

  #renderFoot(tile) {
    const note = tile.foot.querySelector('.note');
    const updated = tile.foot.querySelector('.updated');
    const id = tile.d.id;
    let last = 0;
    for (const [topic, info] of this.#bus.topics) {
      if (topic.startsWith(`home/${id}/`) && !topic.endsWith('/status') && !topic.endsWith('/info')) last = Math.max(last, info.lastAt);
    }
    updated.textContent = last ? `Updated ${ago(last)}` : '';
    note.className = 'note';
    note.textContent = '';
    note.title = '';
    if (tile.pending) {
      const offline = this.#bus.text(`home/${id}/status`) !== 'online';
      note.classList.add('pending');
      note.replaceChildren(h('span.spinner'), offline ? `${tile.pending.label} · queued in session` : `${tile.pending.label} · pending`);
      note.title = offline
        ? 'The device is down: the command waits in its persistent session (message expiry 120 s)'
        : 'Sent with a Response Topic and Correlation Data; waiting for the device to answer';
      note.dataset.testid = 'pending';
      tile.el.classList.add('is-pending');
    } else {
      tile.el.classList.remove('is-pending');
      const c = tile.confirmed;
      if (c && Date.now() - c.at < 6000) {
        if (c.error) {
          note.classList.add('error');
          note.textContent = c.error;
        } else {
          note.classList.add('confirmed');
          note.replaceChildren(icon('check'), `Confirmed in ${num.format(c.ms)} ms`);
        }
      }
    }
  }

  #tick() {
    for (const id of this.#tiles.keys()) this.#renderFoot(this.#tiles.get(id));
    this.#render('front-door');
    for (const id of this.#tiles.keys()) {
      const tile = this.#tiles.get(id);
      const [state] = this.#lifecycle(id);
      if (tile.el.dataset.state !== state) this.#render(id);
    }
    this.#kpis();
    if (this.visible) this.#redraw();
  }

  #kpis() {
    const bus = this.#bus;
    const temps = ROOMS.map((r) => Number(bus.text(`home/${r.id}/temperature`))).filter((x) => x > 0);
    const hums = ROOMS.map((r) => Number(bus.text(`home/${r.id}/humidity`))).filter((x) => x > 0);
    const avg = (a) => a.reduce((s, x) => s + x, 0) / a.length;
    const k = this.#kpi;
    if (temps.length) {
      k.climate.value.innerHTML = `${avg(temps).toFixed(1)}<small> °C</small>`;
      k.climate.sub.textContent = `${avg(hums).toFixed(0)} % humidity · ${temps.length} rooms`;
    }
    const w = bus.text('home/power-meter/power');
    if (w) {
      k.power.value.innerHTML = `${num.format(Math.round(Number(w)))}<small> W</small>`;
      const e = bus.text('home/power-meter/energy');
      k.power.sub.textContent = e ? `${Number(e).toFixed(2)} kWh on the meter` : '';
    }
    const th = bus.json('home/thermostat/state');
    if (th) {
      k.heating.value.innerHTML = th.mode === 'off' ? 'Off' : th.heating ? 'On' : 'Idle';
      k.heating.sub.textContent = th.mode === 'off' ? 'Thermostat switched off' : `Target ${th.setpoint.toFixed(1)} °C`;
      k.heating.value.parentElement.parentElement.classList.toggle('hot', th.heating === true);
    }
    const online = DEVICES.filter((d) => bus.text(`home/${d.id}/status`) === 'online').length;
    k.devices.value.innerHTML = `${online}<small> / ${DEVICES.length}</small>`;
    k.devices.sub.textContent = this.#supervisor.active ? 'Workers run in this tab' : 'Workers run in another tab';
  }

  /** Redraws the charts from the history (at most once a second). */
  #redraw() {
    if (!this.#dirty || !this.#charts.temp) return;
    this.#dirty = false;
    const now = Date.now() / 1000;
    const since = now - this.#range;
    // While the history is shorter than the range, the charts span what
    // there is (half a minute at least) rather than a mostly empty range.
    const first = Math.min(...ROOMS.map((r) => this.#history.firstSince(`${r.id}/temperature`, since) ?? now));
    const from = Math.max(since, Math.min(first, now - 30));
    const x = this.#charts;
    x.temp.set(align(ROOMS.map((r) => this.#history.window(`${r.id}/temperature`, from))));
    x.temp.plot.setScale('x', { min: from, max: now });
    const firstW = this.#history.firstSince('power-meter/power', since) ?? now;
    const fromW = Math.max(since, Math.min(firstW, now - 30));
    x.power.set(this.#history.window('power-meter/power', fromW));
    x.power.plot.setScale('x', { min: fromW, max: now });
    for (const r of ROOMS) {
      const tile = this.#tiles.get(r.id);
      tile.chart?.set(this.#history.window(`${r.id}/temperature`, now - 30 * 60));
    }
  }

  /** Called when the dashboard becomes visible. */
  shown() {
    this.visible = true;
    this.#dirty = true;
    this.#redraw();
  }
}
