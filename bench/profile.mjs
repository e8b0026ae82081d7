#!/usr/bin/env node
// node bench/profile.mjs [--www=DIR] [--no-names] [--only=TEXT]
//
// Where the time goes on the hot path (bytes in → route → bytes out), in
// both hosts. Browser: V8's sampling profiler (CDP) on the SharedWorker
// and on the page's main thread during a saturation run.
// Node: `node --cpu-prof` on tabmq's Node host process during a
// saturation run. Writes bench/results/profile-<date>.{md,json}.
//
// The shipped wasm has no name section (wasm-opt -Oz drops it), so by
// default the profile measures a copy of www/ whose wasm is the cargo
// output run through wasm-bindgen only, names kept (--no-names: the
// shipped build, wasm functions then show as wasm-function[N]).

import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openBrowser } from './browser/suite.mjs';
import { runNodeScenario } from './node/suite.mjs';
import { snapshot } from './lib/snapshot.mjs';
import { fromCpuProfile, profileMarkdown } from './lib/profiles.mjs';
import { SIZES, WINDOWS } from './lib/scenarios.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const WWW = args.find((a) => a.startsWith('--www='))?.slice(6);
// Only the runs whose title contains this text (e.g. --only=strict).
const ONLY = args.find((a) => a.startsWith('--only='))?.slice(7);
const log = (...a) => console.error('[profile]', ...a);

function namedCopy() {
  const raw = join(ROOT, 'target/wasm32-unknown-unknown/release/tabmq.wasm');
  const bindgen = join(process.env.CARGO_HOME ?? join(homedir(), '.cargo'), 'bin/wasm-bindgen');
  if (!existsSync(raw) || !existsSync(bindgen)) return null;
  const dir = join(ROOT, 'bench/.work/named-www');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(join(ROOT, 'www'))) if (f !== 'pkg') cpSync(join(ROOT, 'www', f), join(dir, f), { recursive: true });
  execFileSync(bindgen, ['--target', 'web', '--out-dir', join(dir, 'pkg'), raw], { stdio: 'inherit' });
  return dir;
}

/**
 * V8's CPU profiler (CDP Profiler domain) on the page's main thread and on
 * the SharedWorker: the worker is reached from a browser-level CDP session
 * (Target.attachToTarget + sendMessageToTarget), as Playwright has no
 * session for shared workers. 100 µs sampling interval.
 */
async function startProfilers(b, page) {
  const pageCdp = await b.ctx.newCDPSession(page);
  const cdp = await b.browser.newBrowserCDPSession();
  const { targetInfos } = await cdp.send('Target.getTargets');
  const sw = targetInfos.find((t) => t.type === 'shared_worker');
  if (!sw) throw new Error('no shared_worker target');
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: sw.targetId, flatten: false });
  let id = 0;
  const pending = new Map();
  cdp.on('Target.receivedMessageFromTarget', (e) => {
    const m = JSON.parse(e.message);
    if (m.id && pending.has(m.id)) {
      pending.get(m.id)(m.result);
      pending.delete(m.id);
    }
  });
  const worker = (method, params = {}) => new Promise((ok) => {
    const i = ++id;
    pending.set(i, ok);
    cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id: i, method, params }) });
  });
  for (const send of [(m, p) => pageCdp.send(m, p), worker]) {
    await send('Profiler.enable', {});
    await send('Profiler.setSamplingInterval', { interval: 100 });
    await send('Profiler.start', {});
  }
  return async () => {
    const pageProfile = (await pageCdp.send('Profiler.stop')).profile;
    const workerProfile = (await worker('Profiler.stop')).profile;
    await cdp.detach();
    await pageCdp.detach();
    return { pageProfile, workerProfile };
  };
}

async function browserProfiles() {
  const b = await openBrowser({ persistent: false });
  const out = [];
  const runs = [
    { title: 'Browser, raw client, pairs 50 QoS 0 16 B, pipelined (the broker is the limit)', sc: { client: 'raw', topology: 'pairs', qos: 0 }, batch: true },
    { title: 'Browser, raw client, pairs 50 QoS 0 16 B, one postMessage per packet', sc: { client: 'raw', topology: 'pairs', qos: 0 }, batch: false },
    { title: 'Browser, MQTT.js, pairs 50 QoS 1 16 B', sc: { client: 'mqttjs', topology: 'pairs', qos: 1 } },
    { title: 'Browser, MQTT.js, fan-in 100→1 QoS 0 16 B', sc: { client: 'mqttjs', topology: 'fanin', qos: 0 } },
    // Strict durability, persistent sessions, publishers that wait for
    // their PUBACKs (5 unacknowledged each).
    { title: 'Browser, MQTT.js, fan-in 50→1 QoS 1 16 B, strict, 5 in flight per publisher', sc: { client: 'mqttjs', topology: 'fanin', qos: 1, n: 50, durability: 'strict', perPublisher: 5 }, window: 500 },
    { title: 'Browser, MQTT.js, fan-in 50→1 QoS 1 16 B, strict, 50 in flight per publisher', sc: { client: 'mqttjs', topology: 'fanin', qos: 1, n: 50, durability: 'strict', perPublisher: 50 }, window: 5000 },
    { title: 'Browser, MQTT.js, fan-out 1→50 QoS 1 16 B, strict, 5 in flight', sc: { client: 'mqttjs', topology: 'fanout', qos: 1, n: 50, durability: 'strict', perPublisher: 5 }, window: 500 },
  ].filter((r) => !ONLY || r.title.includes(ONLY));
  try {
    for (const [i, run] of runs.entries()) {
      const page = await b.newPage();
      const sc = { target: 'tabmq', durability: 'memory', size: 16, n: SIZES.full[run.sc.topology], window: WINDOWS[run.sc.topology], ...run.sc, name: `profile-${i}` };
      await page.evaluate((cfg) => window.bench.setup(cfg), sc);
      if (run.batch !== undefined) await page.evaluate((on) => window.bench.setBatch(on), run.batch);
      const stop = await startProfilers(b, page);
      const sat = await page.evaluate((window) => globalThis.bench.saturate({ window, warmupMs: 300, measureMs: 3000 }), run.window ?? 1000);
      const { pageProfile, workerProfile } = await stop();
      await page.evaluate(() => window.bench.teardown());
      await page.close();
      const threads = [
        { thread: 'SharedWorker (broker)', ...fromCpuProfile(workerProfile) },
        { thread: 'page main thread (clients)', ...fromCpuProfile(pageProfile) },
      ];
      log(`${run.title}: ${Math.round(sat.deliveredPerSec)}/s`);
      out.push({ title: `${run.title} — ${Math.round(sat.deliveredPerSec).toLocaleString('en')} msg/s while traced`, sat, threads });
    }
  } finally {
    await b.close();
  }
  return out;
}

async function nodeProfiles() {
  const out = [];
  const runs = [
    { title: 'Node host, pairs 50 QoS 0 16 B, one packet per write', sc: { topology: 'pairs', qos: 0 }, batch: false },
    { title: 'Node host, pairs 50 QoS 1 16 B, one packet per write', sc: { topology: 'pairs', qos: 1 }, batch: false },
    { title: 'Node host, fan-out 1→100 QoS 0 16 B, one packet per write', sc: { topology: 'fanout', qos: 0 }, batch: false },
  ];
  for (const run of runs.filter((r) => !ONLY || r.title.includes(ONLY))) {
    const dir = mkdtempSync(join(tmpdir(), 'tabmq-cpuprof-'));
    const sc = { size: 16, n: SIZES.full[run.sc.topology], window: WINDOWS[run.sc.topology], ...run.sc };
    const r = await runNodeScenario('tabmq', sc, { warmupMs: 300, measureMs: 3000, skipLatency: true, skipBatched: true }, { cpuProf: dir });
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) {
      log(`${run.title}: no .cpuprofile written`);
      continue;
    }
    const summary = fromCpuProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')));
    rmSync(dir, { recursive: true, force: true });
    log(`${run.title}: ${Math.round(r.sat.deliveredPerSec)}/s`);
    out.push({ title: `${run.title} — ${Math.round(r.sat.deliveredPerSec).toLocaleString('en')} msg/s while profiled (whole process lifetime sampled, setup included)`, sat: r.sat, threads: [{ thread: 'broker process', ...summary }] });
  }
  return out;
}

async function main() {
  const src = WWW ?? (args.includes('--no-names') ? null : namedCopy()) ?? join(ROOT, 'www');
  log(`profiling ${src}`);
  snapshot(src);
  const res = { date: new Date().toISOString(), www: src, browser: await browserProfiles(), node: await nodeProfiles() };
  const md = ['# tabmq hot-path profiles', '', `${res.date}; www: \`${src.replace(ROOT, '')}\`. Self time per category and per function; idle excluded.`, ''];
  for (const p of [...res.browser, ...res.node]) md.push(profileMarkdown(p.title, p.threads));
  const d = new Date();
  const p2 = (n) => String(n).padStart(2, '0');
  const name = `profile-${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}-${p2(d.getHours())}${p2(d.getMinutes())}`;
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results', `${name}.json`), JSON.stringify(res, null, 1));
  writeFileSync(join(ROOT, 'bench/results', `${name}.md`), md.join('\n') + '\n');
  console.log(md.join('\n'));
  log(`bench/results/${name}.{md,json}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
