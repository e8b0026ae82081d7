// The demo end to end in real Chromium: live values, a light switched with
// MQTT 5 request/response, a device crash (will) and restart (session
// resume with a queued command), the explorer's publish form, the inspector,
// history across a reload, the Cloud link (a bridge to a Node tabmq: data
// out, a command in, a queue that fills while the link is down and drains
// when it is up), two tabs in sync with one set of device workers, and a
// reload with the network and the server gone (the service worker serves
// the app). Saves screenshots to tests/demo/screenshots/ (git-ignored:
// a test run leaves the checkout as it was).
//
//   node --test tests/demo/demo.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import mqtt from 'mqtt';
import { ensureBuilt, serve } from '../../scripts/start.mjs';
import { createBroker } from '../../www/node/index.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = new URL('./screenshots/', import.meta.url);
const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-dev-shm-usage', '--disable-quic',
  '--font-render-hinting=none',
];

let server;
let profile;
let context;
let remote; // the Cloud link's remote broker (a Node tabmq)
let remoteClient;
const requested = new Set();
const errors = [];
const pages = {};
const started = Date.now();

function watch(page, name) {
  page.on('pageerror', (e) => errors.push(`${name} pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${name} console: ${m.text()}`);
  });
  return page;
}

async function open(name) {
  const page = watch(await context.newPage(), name);
  await page.goto(`${server.url}/`);
  await ready(page);
  pages[name] = page;
  return page;
}

async function ready(page) {
  await page.waitForFunction(() => document.documentElement.dataset.ready === 'true', null, { timeout: 20_000 });
}

const tile = (page, id) => page.locator(`[data-testid="tile-${id}"]`);

/** The state the page's MQTT client has seen on a topic. */
const seen = (page, topic) => page.evaluate((t) => window.demo.bus.text(t), topic);

async function allOnline(page, timeout = 20_000) {
  await page.waitForFunction(
    () => ['climate-living', 'climate-kitchen', 'climate-bedroom', 'thermostat', 'light-living', 'light-kitchen', 'front-door', 'power-meter']
      .every((id) => window.demo.bus.text(`home/${id}/status`) === 'online'),
    null,
    { timeout },
  );
}

async function shot(page, name) {
  // Notices come and go; the pictures are of the views.
  await page.waitForFunction(() => !document.querySelector('.toast'), null, { timeout: 10_000 });
  await page.evaluate(() => {
    window.scrollTo(0, 0);
    for (const el of document.querySelectorAll('.explorer-side, .tree')) el.scrollTop = 0;
  });
  const buf = await page.screenshot({ path: new URL(`${name}.png`, SHOTS).pathname });
  assert.ok(buf.byteLength < 260_000, `${name}.png is ${buf.byteLength} bytes`);
}

before(async () => {
  ensureBuilt();
  await mkdir(SHOTS, { recursive: true });
  server = await serve({ port: 0, onRequest: (p) => requested.add(p) });
  // A real (not incognito) profile, as a visitor has: installability is
  // only judged there.
  profile = await mkdtemp(join(tmpdir(), 'tabmq-demo-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ARGS,
    viewport: { width: 1280, height: 800 },
    deviceScaleFactor: 1,
  });
  // Uncaught errors anywhere in the context (pages and their workers).
  context.on('weberror', (e) => errors.push(`weberror: ${e.error().message}`));
});

after(async () => {
  await remoteClient?.endAsync(true).catch(() => {});
  await remote?.close();
  await context?.close();
  await server?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

test('the dashboard comes up with live values from eight device workers', async () => {
  const page = await open('a');
  await allOnline(page);
  await page.waitForFunction(() => /^\d+\.\d$/.test(document.querySelector('[data-testid="tile-climate-living"] .big-value')?.textContent ?? ''));
  const first = await seen(page, 'home/power-meter/power');
  await page.waitForFunction((w) => window.demo.bus.text('home/power-meter/power') !== w, first, { timeout: 6000 });
  assert.equal(await page.locator('[data-testid="chip-devices"]').getAttribute('data-state'), 'ok', 'the first tab runs the devices');
  // Each device is its own MQTT client (plus this page's): the broker says so.
  const stats = await page.evaluate(() => window.demo.broker.stats());
  assert.ok(stats.connections >= 9, `connections: ${stats.connections}`);
  // The service worker is in control before anything goes offline.
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15_000 });
  // Installable as an app: manifest, icons and a service worker that Chromium accepts.
  const cdp = await context.newCDPSession(page);
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  assert.deepEqual(installabilityErrors.map((e) => e.errorId), [], 'Chromium finds the app installable');
  const { url, data } = await cdp.send('Page.getAppManifest');
  assert.match(url, /manifest\.webmanifest$/);
  assert.equal(JSON.parse(data).display, 'standalone');
  await cdp.detach();
});

test('switching a light: pending, then the device confirms (MQTT 5 request/response)', async () => {
  const page = pages.a;
  const sw = page.locator('[data-testid="switch-light-kitchen"]');
  const before = await sw.getAttribute('aria-checked');
  await sw.click();
  await tile(page, 'light-kitchen').locator('.note.pending').waitFor({ timeout: 2000 });
  await tile(page, 'light-kitchen').locator('.note.confirmed').waitFor({ timeout: 5000 });
  assert.match(await tile(page, 'light-kitchen').locator('.note').textContent(), /Confirmed in \d+ ms/);
  const after = await sw.getAttribute('aria-checked');
  assert.notEqual(after, before);
  assert.equal(JSON.parse(await seen(page, 'home/light-kitchen/state')).on, after === 'true');
});

test('a crashed device: its will marks it offline; restarted, it resumes its session and applies the queued command', async () => {
  const page = pages.a;
  const t = tile(page, 'light-kitchen');
  const was = await t.locator('[role="switch"]').getAttribute('aria-checked');
  await t.locator('.power-btn').click();
  await page.waitForFunction(() => window.demo.bus.text('home/light-kitchen/status') === 'offline', null, { timeout: 10_000 });
  await t.locator('.status[data-state="stopped"]').waitFor();
  // Switched while down: the command waits in the device's session.
  await t.locator('[role="switch"]').click();
  await t.locator('.note.pending', { hasText: 'queued in session' }).waitFor({ timeout: 2000 });
  await page.waitForTimeout(500);
  assert.equal(await t.locator('[role="switch"]').getAttribute('aria-checked'), was, 'nothing changes while the device is down');
  await t.locator('.power-btn').click();
  await t.locator('.note.confirmed').waitFor({ timeout: 10_000 });
  await t.locator('.status[data-state="online"]').waitFor();
  assert.notEqual(await t.locator('[role="switch"]').getAttribute('aria-checked'), was);
  const info = JSON.parse(await seen(page, 'home/light-kitchen/info'));
  assert.equal(info.sessionPresent, true, 'the device resumed its persistent session');
});

test('the explorer publishes with MQTT 5 properties and the message arrives', async () => {
  const page = pages.a;
  await page.evaluate(() => (location.hash = 'explorer'));
  const form = page.locator('[data-testid="publish-form"]');
  await form.locator('[name="topic"]').fill('demo/notes/kitchen');
  await form.locator('[name="payload"]').fill('{"note": "buy milk", "from": "explorer"}');
  await form.locator('[data-qos="1"]').click();
  await form.locator('[name="retain"]').check();
  await form.locator('summary').click();
  await form.locator('[name="expiry"]').fill('3600');
  await form.locator('button[type="submit"]').click();
  await form.locator('.form-status.ok').waitFor({ timeout: 5000 });
  await page.locator('[data-testid="topic-tree"] [data-topic="demo/notes/kitchen"]').waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid="detail-payload"]')?.textContent.includes('buy milk'));
  const detail = await page.locator('[data-testid="topic-detail"]').textContent();
  assert.match(detail, /application\/json/);
  assert.match(detail, /source/);
  assert.match(detail, /Retained/);
  await page.locator('[data-testid="topic-tree"] [data-topic="home/thermostat/state"]').click();
  await page.waitForTimeout(600);
  await shot(page, 'explorer-1280');
});

test('the inspector lists the clients, retained messages and storage figures', async () => {
  const page = pages.a;
  await page.evaluate(() => (location.hash = 'inspector'));
  await page.locator('[data-testid="clients"] tr[data-client="tabmq-demo-light-living"]').waitFor({ timeout: 5000 });
  const rows = await page.locator('[data-testid="clients"] tbody tr').count();
  assert.ok(rows >= 9, `client rows: ${rows}`);
  assert.match(await page.locator('[data-testid="clients"]').textContent(), /MQTT 5\.0/);
  assert.match(await page.locator('[data-testid="retained"]').textContent(), /demo\/notes\/kitchen/);
  assert.match(await page.locator('[data-testid="storage"]').textContent(), /Storage operations/);
  await page.waitForTimeout(2500); // a few points on the rate chart
  await shot(page, 'inspector-1280');
});

test('dashboard screenshots at 1280 × 800 and 390 × 844', async () => {
  const page = pages.a;
  await page.evaluate(() => (location.hash = 'dashboard'));
  // Let the charts gather half a minute of history.
  const wait = 32_000 - (Date.now() - started);
  if (wait > 0) await page.waitForTimeout(wait);
  await allOnline(page);
  await page.waitForTimeout(1200);
  await shot(page, 'dashboard-1280');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(800);
  await shot(page, 'dashboard-390');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling at 390 px (${overflow} px too wide)`);
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('a reload keeps the chart history and the devices’ state', async () => {
  const page = pages.a;
  const before = await page.evaluate(() => window.demo.history.series.get('climate-living/temperature').t.length);
  const light = JSON.parse(await seen(page, 'home/light-kitchen/state')).on;
  assert.ok(before >= 8, `points before the reload: ${before}`);
  await page.evaluate(() => window.demo.history.flush());
  await page.waitForTimeout(300);
  await page.reload();
  await ready(page);
  const restored = await page.evaluate(() => window.demo.history.series.get('climate-living/temperature').t.length);
  assert.ok(restored >= before - 2, `points after the reload: ${restored} (before: ${before})`);
  await allOnline(page);
  await page.waitForFunction((on) => JSON.parse(window.demo.bus.text('home/light-kitchen/state') ?? '{}').on === on, light, { timeout: 8000 });
});

/** The Cloud link panel's numbers, from the page. */
const linkFigure = (page, key) => page.locator(`[data-testid="cloud-${key}"] .stat-value`).textContent().then((t) => Number(t.replace(/,/g, '')));

/** Clicks `what` (which reloads the page) and waits for the app again. */
async function reloadBy(page, what) {
  const loaded = page.waitForEvent('load');
  await page.locator(what).click();
  await loaded;
  await ready(page);
}

test('the cloud link: device data out to a remote broker, a command in, a queue while the link is down', async () => {
  const page = pages.a;
  const panel = page.locator('[data-testid="cloud-link"]');
  assert.equal(await panel.getAttribute('data-state'), 'off', 'no link until a URL is entered');
  assert.equal(await page.locator('[data-testid="cloud-switch"]').isDisabled(), true);

  // The remote: a tabmq on Node, and an MQTT.js client on it that sees what
  // the tab's devices publish (under tabmq-demo/) and sends them commands.
  remote = await createBroker({ ws: { port: 0 }, sysInterval: 0 });
  const url = remote.addresses.find((a) => a.transport === 'ws').url;
  remoteClient = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 4000 });
  const live = []; // messages delivered live (not retained copies)
  remoteClient.on('message', (topic, payload, packet) => {
    if (!packet.retain) live.push({ topic, text: payload.toString(), at: Date.now(), properties: packet.properties });
  });
  await remoteClient.subscribeAsync('tabmq-demo/#', { qos: 1 });
  const arrived = (topic, since = 0) => live.find((m) => m.topic === topic && m.at >= since);
  const waitRemote = async (what, check, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!check()) {
      assert.ok(Date.now() < end, `the remote broker did not get ${what}`);
      await new Promise((ok) => setTimeout(ok, 50));
    }
    return check();
  };

  // A URL that is not WebSocket is refused by the panel, and nothing reloads.
  await page.locator('[data-testid="cloud-url"]').fill('mqtt://localhost:1883');
  await page.locator('[data-testid="cloud-connect"]').click();
  await page.locator('[data-testid="cloud-note"].error', { hasText: 'WebSocket' }).waitFor({ timeout: 2000 });

  // The URL is saved and the broker starts again with the bridge.
  await page.locator('[data-testid="cloud-url"]').fill(url);
  await reloadBy(page, '[data-testid="cloud-connect"]');
  assert.equal(await page.evaluate(() => localStorage.getItem('tabmq-demo:cloud-url')), url);
  await page.locator('[data-testid="cloud-link"][data-state="connected"]').waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('[data-testid="cloud-url"]').inputValue(), url);
  assert.equal(await page.locator('[data-testid="cloud-switch"]').getAttribute('aria-checked'), 'true');

  // Device data flows out, MQTT 5 properties and all.
  await allOnline(page);
  const power = await waitRemote('the power meter’s readings', () => arrived('tabmq-demo/home/power-meter/power'));
  assert.ok(Number(power.text) > 0, `power: ${power.text}`);
  assert.equal(power.properties?.userProperties?.unit, 'W', 'user properties cross the bridge');
  await waitRemote('a climate reading', () => arrived('tabmq-demo/home/climate-living/temperature'));
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="cloud-out"] .stat-value').textContent.replace(/,/g, '')) > 0);

  // A command published on the remote reaches the device in the tab, and
  // the device's new state goes back out.
  const lamp = page.locator('[data-testid="switch-light-living"]');
  const was = await lamp.getAttribute('aria-checked');
  const sent = Date.now();
  await remoteClient.publishAsync('tabmq-demo/home/light-living/set', JSON.stringify({ on: was !== 'true' }), { qos: 1 });
  await page.waitForFunction((was) => document.querySelector('[data-testid="switch-light-living"]').getAttribute('aria-checked') !== was, was, { timeout: 8000 });
  assert.equal(JSON.parse(await seen(page, 'home/light-living/state')).on, was !== 'true');
  const echoed = await waitRemote('the lamp’s new state', () => arrived('tabmq-demo/home/light-living/state', sent));
  assert.equal(JSON.parse(echoed.text).on, was !== 'true');
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="cloud-in"] .stat-value').textContent) >= 1);

  // The link goes down: QoS 1 messages for it queue (a light switched in
  // the tab: its command and its new state), and nothing reaches the remote.
  await page.locator('[data-testid="cloud-switch"]').click();
  await page.locator('[data-testid="cloud-link"][data-state="paused"]').waitFor({ timeout: 5000 });
  assert.equal(await page.locator('[data-testid="cloud-switch"]').getAttribute('aria-checked'), 'false');
  const down = Date.now();
  const queuedBefore = await linkFigure(page, 'queued');
  const ceiling = page.locator('[data-testid="switch-light-kitchen"]');
  const ceilingWas = await ceiling.getAttribute('aria-checked');
  await ceiling.click();
  await tile(page, 'light-kitchen').locator('.note.confirmed').waitFor({ timeout: 5000 });
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid="cloud-queued"] .stat-value').textContent) >= n + 2, queuedBefore, { timeout: 5000 });
  const queued = await linkFigure(page, 'queued');
  assert.equal((await page.evaluate(() => window.demo.broker.stats())).bridges[0].state, 'paused');
  await page.waitForTimeout(500);
  assert.equal(live.filter((m) => m.at > down + 200 && m.topic.startsWith('tabmq-demo/home/light-kitchen/')).length, 0, 'nothing crosses a link that is down');
  await panel.scrollIntoViewIfNeeded();
  await page.waitForFunction(() => !document.querySelector('.toast'), null, { timeout: 10_000 });
  await panel.screenshot({ path: new URL('cloud-link-paused.png', SHOTS).pathname });

  // Up again: the queue drains to 0, and what waited arrives, in order.
  const up = Date.now();
  await page.locator('[data-testid="cloud-switch"]').click();
  await page.locator('[data-testid="cloud-link"][data-state="connected"]').waitFor({ timeout: 10_000 });
  await page.waitForFunction(() => window.demo.broker.stats().then((s) => s.bridges[0].queued === 0 && s.bridges[0].inflight === 0), null, { timeout: 10_000, polling: 200 });
  await page.waitForFunction(() => document.querySelector('[data-testid="cloud-queued"] .stat-value').textContent === '0', null, { timeout: 3000 });
  const cmd = await waitRemote('the queued command', () => arrived('tabmq-demo/home/light-kitchen/set', up));
  const state = await waitRemote('the queued state', () => arrived('tabmq-demo/home/light-kitchen/state', up));
  assert.equal(JSON.parse(state.text).on, ceilingWas !== 'true');
  assert.ok(live.indexOf(cmd) < live.indexOf(state), 'the command before the state it caused');
  assert.ok(queued >= 2);
  await page.waitForTimeout(1200); // a rate over a second or so
  await page.waitForFunction(() => !document.querySelector('.toast'), null, { timeout: 10_000 });
  await panel.screenshot({ path: new URL('cloud-link.png', SHOTS).pathname });

  // Disconnect: the link is forgotten and the broker starts again without it.
  await reloadBy(page, '[data-testid="cloud-remove"]');
  await page.locator('[data-testid="cloud-link"][data-state="off"]').waitFor({ timeout: 5000 });
  assert.equal(await page.evaluate(() => localStorage.getItem('tabmq-demo:cloud-url')), null);
  assert.deepEqual((await page.evaluate(() => window.demo.broker.stats())).bridges, []);
  await allOnline(page);
  await remoteClient.endAsync();
  remoteClient = null;
  await remote.close();
  remote = null;
});

test('two tabs share one broker and one set of devices, and stay in sync', async () => {
  const a = pages.a;
  const b = await open('b');
  await allOnline(b);
  await b.locator('[data-testid="chip-devices"][data-state="idle"]').waitFor({ timeout: 5000 });
  assert.equal(await a.locator('[data-testid="chip-devices"]').getAttribute('data-state'), 'ok');
  const clients = await b.evaluate(() => window.demo.broker.stats().then((s) => s.connections));
  assert.equal(clients, 10, 'eight devices and two dashboards: the devices run once');
  const sa = a.locator('[data-testid="switch-light-living"]');
  const sb = b.locator('[data-testid="switch-light-living"]');
  const was = await sa.getAttribute('aria-checked');
  assert.equal(await sb.getAttribute('aria-checked'), was, 'the new tab shows the retained state');
  await sb.click();
  await tile(b, 'light-living').locator('.note.confirmed').waitFor({ timeout: 5000 });
  await a.waitForFunction((was) => document.querySelector('[data-testid="switch-light-living"]').getAttribute('aria-checked') !== was, was, { timeout: 5000 });
  assert.equal(await sa.getAttribute('aria-checked'), await sb.getAttribute('aria-checked'));
});

test('the SharedWorker is killed: a brief "broker restarted" notice, and everything comes back', async () => {
  const a = pages.a;
  const cdp = await context.newCDPSession(a);
  const { targetInfos } = await cdp.send('Target.getTargets');
  const worker = targetInfos.find((t) => t.type === 'shared_worker' && t.url.endsWith('/www/browser/worker.js'));
  assert.ok(worker, 'the broker runs in a SharedWorker');
  const killedAt = Date.now();
  await cdp.send('Target.closeTarget', { targetId: worker.targetId });
  for (const p of [a, pages.b]) await p.locator('.toast', { hasText: 'Broker restarted' }).waitFor({ timeout: 5000 });
  // Every device connects again (a fresh port from its tab) and resumes its session.
  await a.waitForFunction((at) => ['climate-kitchen', 'light-living', 'power-meter'].every((id) => {
    const info = window.demo.bus.text(`home/${id}/info`);
    return info && Date.parse(JSON.parse(info).connectedAt) >= at && JSON.parse(info).sessionPresent;
  }), killedAt, { timeout: 15_000 });
  await allOnline(a);
  await a.waitForFunction(() => window.demo.broker.stats().then((s) => s.connections === 10), null, { timeout: 10_000 });
  await cdp.detach();
});

test('when the tab running the devices closes, the other tab takes over', async () => {
  await pages.a.close();
  delete pages.a;
  const b = pages.b;
  await b.locator('[data-testid="chip-devices"][data-state="ok"]').waitFor({ timeout: 10_000 });
  await allOnline(b);
  const info = JSON.parse(await seen(b, 'home/climate-kitchen/info'));
  assert.equal(info.sessionPresent, true, 'devices resume their sessions in the new tab');
});

test('offline: with the network and the server gone, the demo still loads and works', async () => {
  const b = pages.b;
  const offlineChip = b.locator('[data-testid="chip-offline"]');
  // Every file the app fetched is in the service worker's precache list.
  const sw = await readFile(new URL('../../www/demo/sw.js', import.meta.url), 'utf8');
  const shell = new Set([...sw.matchAll(/^\s+'(\/[^']*)',$/gm)].map((m) => m[1]));
  const missing = [...requested].filter((p) => !shell.has(p) && p !== '/sw.js' && p !== '/favicon.ico');
  assert.deepEqual(missing, [], 'files the app loads but the service worker does not precache');
  await b.locator('[data-testid="chip-offline"][data-state="ok"]').waitFor({ timeout: 10_000 });

  // The network goes, and so does the server: nothing answers on its port.
  // The emulated offline alone would not do: in some Chromium versions (148
  // with Playwright 1.65) it neither stops the service worker's own fetches
  // nor turns navigator.onLine false after a reload. So nothing here looks
  // at navigator.onLine; the server being gone is what makes it offline.
  const { url, port } = server;
  await context.setOffline(true);
  await server.close();
  server = { close: async () => {} };
  const refused = await fetch(`${url}/`).then(() => null, (e) => e.cause?.code ?? e.message);
  assert.equal(refused, 'ECONNREFUSED', 'the server is gone');

  const page = await b.reload();
  assert.ok(page?.fromServiceWorker(), 'the reloaded page came from the service worker');
  assert.equal(page.status(), 200);
  await ready(b);
  assert.ok(await b.evaluate(() => navigator.serviceWorker.controller !== null), 'served by the service worker');
  // The broker runs: the eight devices and this page are connected to it,
  // the devices publish, and a command round-trips.
  await allOnline(b);
  const stats = await b.evaluate(() => window.demo.broker.stats());
  assert.ok(stats.connections >= 9, `connections: ${stats.connections}`);
  const w = await seen(b, 'home/power-meter/power');
  await b.waitForFunction((w) => window.demo.bus.text('home/power-meter/power') !== w, w, { timeout: 6000 });
  const sl = b.locator('[data-testid="switch-light-living"]');
  const was = await sl.getAttribute('aria-checked');
  await sl.click();
  await tile(b, 'light-living').locator('.note.confirmed').waitFor({ timeout: 5000 });
  assert.notEqual(await sl.getAttribute('aria-checked'), was);
  // The chip says so: the service worker found the server unreachable.
  await b.locator('[data-testid="chip-offline"][data-state="warn"]').waitFor({ timeout: 10_000 });
  assert.equal(await offlineChip.getAttribute('data-state'), 'warn');
  assert.equal(await offlineChip.textContent(), 'Offline');

  // The network and the server come back (the same origin, so the same
  // port): the chip notices within its 5 s probe interval.
  await context.setOffline(false);
  server = await serve({ port, onRequest: (p) => requested.add(p) });
  await b.locator('[data-testid="chip-offline"][data-state="ok"]').waitFor({ timeout: 15_000 });
  assert.equal(await offlineChip.textContent(), 'Offline ready');
});

test('no errors in the browser console', () => {
  assert.deepEqual(errors, []);
});
