// tabmq Home: an IoT dashboard whose MQTT broker runs inside the browser.
//
// Boot: chart history from IndexedDB, then startBroker() (a SharedWorker
// shared by every tab of the origin), the page's MQTT client, the views, and
// a place in the queue for the devices lock: one tab runs the device workers.

import { startBroker } from '/www/browser/index.js';
import { BROKER_NAME, SERIES, seriesOf } from './catalog.js';
import { Bus } from './bus.js';
import { History } from './history.js';
import { Supervisor } from './supervisor.js';
import { Dashboard } from './dashboard.js';
import { Explorer } from './explorer.js';
import { Inspector } from './inspector.js';
import { CloudLink, startBrokerWithLink } from './cloud.js';
import { h, icon, toast } from './ui.js';

const VIEWS = ['dashboard', 'explorer', 'inspector'];

function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((err) => {
    console.warn('tabmq demo: no offline support:', err.message);
  });
  navigator.serviceWorker.addEventListener('controllerchange', () => probeServer());
}

// Whether the server that serves the app answers: the "Offline" chip.
// navigator.onLine only knows about network interfaces, so it says online
// while the server is gone (and, in Chromium, after a reload with the
// network emulated offline). The service worker probes the origin for us
// (see PROBE in sw.js): true or false once it answered, null while unknown
// (no service worker yet, or an older one without the probe), and then
// navigator.onLine decides. Every 5 s while offline, every 30 s otherwise,
// and at once when the browser reports a change of network or the tab is
// shown again.
const PROBE = '/__tabmq-demo/online';
let reachable = null;
let probing = false;
let probeAgain = false;
let probeTimer = 0;

async function probeServer() {
  if (probing) {
    probeAgain = true; // something changed while a probe was under way
    return;
  }
  probing = true;
  probeAgain = false;
  clearTimeout(probeTimer);
  try {
    if (!navigator.serviceWorker?.controller) {
      reachable = null;
    } else {
      const response = await fetch(PROBE, { cache: 'no-store' });
      const answer = response.ok && response.headers.get('content-type') === 'application/json' ? await response.json() : null;
      reachable = typeof answer?.online === 'boolean' ? answer.online : null;
    }
  } catch {
    // The service worker could not answer from the network nor its cache.
    reachable = false;
  } finally {
    probing = false;
    updateChips();
    probeTimer = setTimeout(probeServer, probeAgain ? 0 : reachable === false ? 5000 : 30_000);
  }
}

const chips = {};
let bus = null;
let supervisor = null;
let broker = null;

function updateChips() {
  if (!chips.broker) return;
  const ok = bus?.connected;
  chips.broker.dataset.state = ok ? 'ok' : broker ? 'warn' : 'idle';
  chips.broker.title = broker
    ? `Broker "${broker.name}" in a ${broker.mode === 'shared' ? 'SharedWorker shared by every tab' : broker.mode === 'worker' ? 'dedicated Worker' : 'this page'}`
    : 'Starting the broker';
  chips.broker.lastChild.textContent = !broker ? 'Starting broker' : ok ? (broker.mode === 'shared' ? 'Broker · SharedWorker' : `Broker · ${broker.mode}`) : 'Reconnecting';
  chips.devices.dataset.state = supervisor?.active ? 'ok' : 'idle';
  chips.devices.lastChild.textContent = supervisor?.active ? 'Devices run here' : 'Devices in another tab';
  chips.devices.title = supervisor?.active
    ? 'This tab holds the devices lock: the device workers run here. Close it and another tab takes over.'
    : 'Another tab holds the devices lock and runs the device workers; this one watches.';
  const online = reachable ?? navigator.onLine;
  const controlled = !!navigator.serviceWorker?.controller;
  chips.offline.dataset.state = online ? (controlled ? 'ok' : 'idle') : 'warn';
  chips.offline.lastChild.textContent = online ? (controlled ? 'Offline ready' : 'Caching app') : 'Offline';
  chips.offline.replaceChild(icon(online ? 'cloudCheck' : 'wifiOff'), chips.offline.firstChild);
  chips.offline.title = online
    ? controlled ? 'The service worker has cached the app: it also works without a network.' : 'The service worker is caching the app for offline use.'
    : controlled ? 'The server cannot be reached: the app runs from its offline cache, and the broker never needed one.'
      : 'No network, and the app is not cached for offline use yet.';
}

function chip(key) {
  chips[key] = h('span.chip.status-chip', { 'data-testid': `chip-${key}`, 'data-state': 'idle' }, icon('activity'), h('span', '…'));
  if (key === 'broker') chips[key].replaceChild(h('i.dot'), chips[key].firstChild);
  if (key === 'devices') chips[key].replaceChild(icon('cpu'), chips[key].firstChild);
  return chips[key];
}

function buildShell() {
  const nav = h('nav.tabs', { 'aria-label': 'Views' },
    VIEWS.map((v) => h('a', { href: `#${v}`, 'data-view': v },
      icon({ dashboard: 'grid', explorer: 'tree', inspector: 'activity' }[v]),
      h('span', v[0].toUpperCase() + v.slice(1)))));
  const install = h('button.btn.small.install', { type: 'button', hidden: true }, icon('download'), 'Install');
  let prompt = null;
  window.addEventListener('beforeinstallprompt', (e) => {
    e.preventDefault();
    prompt = e;
    install.hidden = false;
  });
  install.addEventListener('click', async () => {
    install.hidden = true;
    await prompt?.prompt();
    prompt = null;
  });
  const header = h('header.topbar',
    h('a.brand', { href: '#dashboard', 'aria-label': 'tabmq Home' },
      h('img', { src: '/www/demo/icons/icon.svg', alt: '', width: 32, height: 32 }),
      h('span.brand-text', h('strong', 'tabmq Home'), h('small', 'The MQTT broker is in this tab'))),
    nav,
    h('div.chips', chip('broker'), chip('devices'), chip('offline'), install));
  const main = h('main', VIEWS.map((v) => h('section.view', { id: `view-${v}`, 'data-view': v, hidden: true })));
  document.body.replaceChildren(header, main);
  return main;
}

function route(views) {
  const name = VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'dashboard';
  for (const v of VIEWS) {
    document.getElementById(`view-${v}`).hidden = v !== name;
    views[v].visible = v === name;
  }
  for (const a of document.querySelectorAll('nav.tabs a')) a.setAttribute('aria-current', a.dataset.view === name ? 'page' : 'false');
  document.title = `${name[0].toUpperCase() + name.slice(1)} · tabmq Home`;
  views[name].shown();
  window.scrollTo(0, 0);
}

function fatal(err) {
  console.error('tabmq demo: cannot start', err);
  document.body.replaceChildren(h('div.fatal',
    h('h1', 'The broker could not start'),
    h('p', String(err?.message ?? err)),
    h('p.dim', 'tabmq needs a browser with WebAssembly and module workers (a recent Chrome, Edge, Firefox or Safari).')));
}

async function main() {
  registerServiceWorker();
  buildShell();
  updateChips();
  probeServer();
  window.addEventListener('online', probeServer);
  window.addEventListener('offline', () => {
    updateChips();
    probeServer();
  });
  document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && probeServer());

  const history = new History();
  await history.open();
  await history.load(SERIES);

  // With the Cloud link's bridge when a remote broker's URL is saved.
  broker = await startBrokerWithLink(startBroker, { name: BROKER_NAME });
  const cloud = new CloudLink(broker);
  broker.addEventListener('error', (e) => {
    console.warn('tabmq demo: broker reports', e.code ?? '', e.message);
    toast(e.message, 'warn', 'database');
  });
  // The broker's worker died (the OS can kill a SharedWorker; a leader tab
  // can close): a new one restored from IndexedDB; clients reconnect.
  broker.addEventListener('restarted', (e) => {
    toast(`Broker restarted (back in ${e.detail.duration} ms): clients reconnect and resume their sessions`, 'info', 'database');
  });
  bus = new Bus();
  bus.addEventListener('message', ({ detail: { topic, info } }) => {
    const series = seriesOf(topic);
    if (!series) return;
    const ts = Number(info.properties?.userProperties?.ts);
    history.add(series, Number.isFinite(ts) && ts > 0 ? ts : info.lastAt, Number(info.text));
  });
  bus.addEventListener('connection', updateChips);
  await bus.connect(broker);

  supervisor = new Supervisor(broker, bus);
  supervisor.addEventListener('change', updateChips);

  const views = {
    dashboard: new Dashboard(document.getElementById('view-dashboard'), { bus, history, supervisor, cloud }),
    explorer: new Explorer(document.getElementById('view-explorer'), { bus }),
    inspector: new Inspector(document.getElementById('view-inspector'), { broker, durability: 'strict' }),
  };
  window.addEventListener('hashchange', () => route(views));
  route(views);
  supervisor.start();
  updateChips();
  window.addEventListener('pagehide', () => history.flush());
  document.addEventListener('visibilitychange', () => document.visibilityState === 'hidden' && history.flush());

  // For tests and the curious: the live objects.
  window.demo = { broker, bus, history, supervisor, views, cloud };
  document.documentElement.dataset.ready = 'true';
}

main().catch(fatal);
