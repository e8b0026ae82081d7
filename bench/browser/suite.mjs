// The browser side: real Chromium (the Debian package) through
// playwright-core, with a profile on disk so that IndexedDB is the real,
// disk-backed one. One page per scenario, the broker (or the echo
// ceiling) in a SharedWorker; closing the page ends the worker, so every
// scenario starts from a fresh one.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '../lib/server.mjs';
import { cpuMeter, tree } from '../lib/cpu.mjs';
import { latencyRate } from '../lib/scenarios.mjs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-dev-shm-usage', '--disable-quic',
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
];

function chromiumPid() {
  for (const d of readdirSync(`/proc/${process.pid}/task`)) {
    let kids;
    try {
      kids = readFileSync(`/proc/${process.pid}/task/${d}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const pid of kids.trim().split(/\s+/).filter(Boolean)) {
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('chrom')) return +pid;
      } catch {
        // the process is gone
      }
    }
  }
  return null;
}

/** Launches Chromium with a fresh on-disk profile and the bench's server. */
export async function openBrowser({ persistent = true } = {}) {
  const server = await serve();
  const dir = mkdtempSync(join(tmpdir(), 'tabmq-bench-profile-'));
  let ctx;
  let browser = null;
  if (persistent) {
    ctx = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: ARGS });
  } else {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    ctx = await browser.newContext();
  }
  const pid = chromiumPid();
  const errors = [];
  return {
    server,
    ctx,
    browser,
    pid,
    errors,
    profileDir: dir,
    version: browser ? browser.version() : ctx.browser()?.version() ?? null,
    async newPage(path = '/bench/browser/bench.html') {
      const page = await ctx.newPage();
      page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') errors.push(`console: ${m.text()}`);
      });
      await page.goto(server.url + path);
      await page.waitForFunction(() => window.ready === true);
      return page;
    },
    async close() {
      await ctx.close();
      if (browser) await browser.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let seq = 0;

/**
 * One scenario in a fresh page: setup, saturation, latency at a fixed rate.
 * sc: { target, client, topology, n, qos, size, durability, window, extraFilters?, perPublisher? }
 * timing: { warmupMs, measureMs, latencyMs, skipLatency?, latencyRate? (fixed offered rate) }
 */
export async function runBrowserScenario(b, sc, timing) {
  const page = await b.newPage();
  try {
    const name = `bench-${process.pid}-${++seq}`;
    const setup = await page.evaluate((cfg) => window.bench.setup(cfg), { ...sc, name });
    const roots = { chromium: () => (b.pid ? tree(b.pid) : []), bench: () => [process.pid] };
    const satOpts = { window: sc.window, warmupMs: timing.warmupMs, measureMs: timing.measureMs };
    // Raw clients: one postMessage per packet first, then pipelined (or
    // pipelined only, where the per-message cost of postMessage would
    // hide what is measured: the scaling runs).
    if (sc.client === 'raw') await page.evaluate((on) => window.bench.setBatch(on), !!timing.pipelinedOnly);
    let meter = cpuMeter(roots);
    const sat = await page.evaluate((o) => window.bench.saturate(o), satOpts);
    const cpu = meter.stop();
    let satBatched = null;
    let cpuBatched = null;
    if (sc.client === 'raw' && !timing.skipBatched && !timing.pipelinedOnly) {
      await page.evaluate(() => window.bench.setBatch(true));
      meter = cpuMeter(roots);
      satBatched = await page.evaluate((o) => window.bench.saturate(o), satOpts);
      cpuBatched = meter.stop();
      await page.evaluate(() => window.bench.setBatch(false));
    }
    let lat = null;
    if (!timing.skipLatency) {
      // A fixed offered rate when asked (capped at what saturation showed).
      const rate = timing.latencyRate
        ? { rate: Math.min(timing.latencyRate, Math.floor(sat.deliveredPerSec)), note: '' }
        : latencyRate(sat.deliveredPerSec);
      lat = await page.evaluate((o) => window.bench.latency(o), {
        rate: rate.rate, warmupMs: timing.warmupMs, measureMs: timing.latencyMs,
      });
      lat.rateNote = rate.note;
    }
    // The store's own figures (commit latency), for durable runs.
    const storage = sc.durability && sc.durability !== 'memory' && sc.target === 'tabmq'
      ? (await page.evaluate(() => window.bench.stats())).storage ?? null
      : null;
    await page.evaluate(() => window.bench.teardown());
    return { setup, sat, lat, cpu, satBatched, cpuBatched, storage };
  } finally {
    await page.close();
  }
}
