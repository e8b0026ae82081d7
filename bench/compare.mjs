#!/usr/bin/env node
// Before/after: the same few scenarios against several copies of www/,
// interleaved round by round (A B C A B C ...) so that drift on the
// machine hits every variant alike; medians per variant.
//
//   node bench/compare.mjs --www=base=/tmp/base/www --www=patched=/tmp/patched/www \
//       [--set=node,browser,durable,ceiling] [--rounds=2]
//   node bench/compare.mjs --www=tabmq=www --target=echo --target=echo-input --set=ceiling
//
// Each DIR is a complete www/ (its *.js and pkg/). --target=T adds a
// variant that runs the browser sets against a ceiling worker (echo: the
// forwarder that batches per burst; echo-input: per input) with the first
// DIR's page code. The 'ceiling' set is every MQTT.js and raw scenario
// of `npm run bench`'s ceiling rows. Writes
// bench/results/compare-<date>.{md,json} and prints the table.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { snapshot } from './lib/snapshot.mjs';
import { openBrowser, runBrowserScenario } from './browser/suite.mjs';
import { runNodeScenario } from './node/suite.mjs';
import { label, SIZES, WINDOWS } from './lib/scenarios.mjs';
import { fmtRate } from './lib/report.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const variants = args.filter((a) => a.startsWith('--www=')).map((a) => {
  const [name, ...dir] = a.slice(6).split('=');
  return { name, dir: dir.join('='), target: 'tabmq' };
});
for (const a of args.filter((x) => x.startsWith('--target='))) {
  if (variants.length) variants.push({ name: a.slice(9), dir: variants[0].dir, target: a.slice(9) });
}
const sets = (args.find((a) => a.startsWith('--set='))?.slice(6) ?? 'node,browser').split(',');
const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 2);
if (variants.length < 2) {
  console.error('usage: node bench/compare.mjs --www=NAME=DIR --www=NAME=DIR [...] [--set=node,browser] [--rounds=N]');
  process.exit(2);
}
const log = (...a) => console.error('[compare]', ...a);
const TIMING = { warmupMs: 300, measureMs: 1500, latencyMs: 1500 };

const NODE = [
  { topology: 'fanin', n: 100, qos: 0, size: 16 },
  { topology: 'fanin', n: 100, qos: 1, size: 16 },
  { topology: 'fanout', n: 100, qos: 0, size: 16 },
  { topology: 'pairs', n: 50, qos: 0, size: 16 },
  { topology: 'pairs', n: 50, qos: 1, size: 16 },
].map((sc) => ({ ...sc, window: WINDOWS[sc.topology] }));

const BROWSER = [
  { client: 'mqttjs', topology: 'fanin', n: 100, qos: 0, size: 16 },
  { client: 'mqttjs', topology: 'fanout', n: 100, qos: 0, size: 16 },
  { client: 'mqttjs', topology: 'pairs', n: 50, qos: 0, size: 16, latency: true },
  { client: 'mqttjs', topology: 'pairs', n: 50, qos: 1, size: 16 },
  { client: 'raw', topology: 'fanin', n: 100, qos: 0, size: 16 },
  { client: 'raw', topology: 'pairs', n: 50, qos: 0, size: 16 },
].map((sc) => ({ ...sc, durability: 'memory', window: WINDOWS[sc.topology] }));

// The scenarios `npm run bench` measures against the ceiling.
const CEILING = [];
for (const topology of ['fanin', 'fanout', 'pairs']) {
  for (const qos of [0, 1]) {
    for (const size of [16, 1024]) CEILING.push({ client: 'mqttjs', topology, n: SIZES.full[topology], qos, size });
    CEILING.push({ client: 'raw', topology, n: SIZES.full[topology], qos, size: 16 });
  }
}
for (const sc of CEILING) Object.assign(sc, { durability: 'memory', window: WINDOWS[sc.topology] });

// Durable QoS 1 in the browser, persistent sessions (MQTT.js clean: false),
// a disk-backed profile: strict next to memory, many in flight and few.
const DURABLE = [];
for (const topology of ['fanin', 'fanout', 'pairs']) {
  const n = { fanin: 50, fanout: 50, pairs: 50 }[topology];
  for (const perPublisher of [5, 20]) {
    const publishers = topology === 'fanout' ? 1 : n;
    const deliveriesPerMessage = topology === 'fanout' ? n : 1;
    // Twice what the publishers may have unacknowledged: PUBACKs bind.
    const window = 2 * perPublisher * publishers * deliveriesPerMessage;
    for (const durability of ['memory', 'strict']) {
      DURABLE.push({ client: 'mqttjs', topology, n, qos: 1, size: 16, target: 'tabmq', durability, window, perPublisher });
    }
  }
}

const results = {}; // key -> variant -> [samples]
function add(key, variant, value) {
  results[key] ??= {};
  (results[key][variant] ??= []).push(value);
}

async function main() {
  for (let round = 0; round < rounds; round++) {
    for (const v of variants) {
      snapshot(v.dir);
      if (sets.includes('node') && v.target === 'tabmq') {
        for (const sc of NODE) {
          const r = await runNodeScenario('tabmq', sc, { ...TIMING, skipLatency: true });
          add(`node ${label(sc)}, one packet per write`, v.name, { rate: r.sat.deliveredPerSec, us: (r.cpu.cores.broker * 1e6) / r.sat.deliveredPerSec, other: r.cpu.cores.other });
          add(`node ${label(sc)}, pipelined`, v.name, { rate: r.satBatched.deliveredPerSec, us: (r.cpuBatched.cores.broker * 1e6) / r.satBatched.deliveredPerSec, other: r.cpuBatched.cores.other });
          log(`round ${round + 1} ${v.name} node ${label(sc)}: ${Math.round(r.sat.deliveredPerSec)} / ${Math.round(r.satBatched.deliveredPerSec)}`);
        }
      }
      if (sets.includes('durable') && v.target === 'tabmq') {
        const b = await openBrowser();
        try {
          for (const sc of DURABLE) {
            const r = await runBrowserScenario(b, sc, { ...TIMING, skipLatency: true });
            const worker = r.cpu.threads['renderer/SharedWorker th'] ?? 0;
            const name = `browser MQTT.js ${label(sc)} ${sc.durability}, ${sc.perPublisher} in flight per publisher`;
            add(name, v.name, { rate: r.sat.deliveredPerSec, us: (worker * 1e6) / r.sat.deliveredPerSec, other: r.cpu.cores.other });
            log(`round ${round + 1} ${v.name} ${name}: ${Math.round(r.sat.deliveredPerSec)}`);
          }
        } finally {
          await b.close();
        }
      }
      for (const set of ['browser', 'ceiling']) {
        if (!sets.includes(set)) continue;
        const b = await openBrowser();
        try {
          for (const base of set === 'browser' ? BROWSER : CEILING) {
            const sc = { ...base, target: v.target };
            const r = await runBrowserScenario(b, sc, { ...TIMING, skipLatency: !sc.latency });
            const worker = r.cpu.threads['renderer/SharedWorker th'] ?? 0;
            const name = `browser ${sc.client === 'raw' ? 'raw' : 'MQTT.js'} ${label(sc)}`;
            add(`${name}${sc.client === 'raw' ? ', one packet per message' : ''}`, v.name, { rate: r.sat.deliveredPerSec, us: (worker * 1e6) / r.sat.deliveredPerSec, other: r.cpu.cores.other });
            if (r.satBatched) add(`${name}, pipelined`, v.name, { rate: r.satBatched.deliveredPerSec, us: ((r.cpuBatched.threads['renderer/SharedWorker th'] ?? 0) * 1e6) / r.satBatched.deliveredPerSec, other: r.cpuBatched.cores.other });
            if (r.lat) add(`${name}, latency p50/p99 at ${r.lat.offered}/s`, v.name, { p50: r.lat.p50, p99: r.lat.p99 });
            log(`round ${round + 1} ${v.name} ${name}: ${Math.round(r.sat.deliveredPerSec)}`);
          }
        } finally {
          await b.close();
        }
      }
    }
  }
  const med = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const out = [`# compare — ${new Date().toISOString()}`, '', `${rounds} rounds, interleaved; medians. Rates in delivered msg/s; µs: CPU of the broker process (Node) or of the SharedWorker thread (browser) per delivered message.`, '',
    variants.map((v) => `- **${v.name}**: \`${v.dir}\``).join('\n'), '',
    `| Scenario | ${variants.map((v) => v.name).join(' | ')} | ${variants.slice(1).map((v) => `${v.name} ÷ ${variants[0].name}`).join(' | ')} |`,
    `|---|${variants.map(() => '--:|').join('')}${variants.slice(1).map(() => '--:|').join('')}`];
  for (const [key, byVariant] of Object.entries(results)) {
    if (key.includes('latency')) {
      const cell = (v) => {
        const xs = byVariant[v.name] ?? [];
        return xs.length ? `${med(xs.map((x) => x.p50)).toFixed(2)} / ${med(xs.map((x) => x.p99)).toFixed(2)} ms` : '–';
      };
      out.push(`| ${key} | ${variants.map(cell).join(' | ')} | ${variants.slice(1).map(() => '').join(' | ')} |`);
      continue;
    }
    const m = variants.map((v) => {
      const xs = byVariant[v.name] ?? [];
      return xs.length ? { rate: med(xs.map((x) => x.rate)), us: med(xs.map((x) => x.us)), noisy: xs.some((x) => x.other > 0.25) } : null;
    });
    out.push(`| ${key} | ${m.map((x) => (x ? `${fmtRate(x.rate)} (${x.us.toFixed(2)} µs)${x.noisy ? ' †' : ''}` : '–')).join(' | ')} | `
      + `${m.slice(1).map((x) => (x && m[0] ? `${(x.rate / m[0].rate).toFixed(2)}×` : '–')).join(' | ')} |`);
  }
  const md = out.join('\n');
  console.log(md);
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  const name = `compare-${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}`;
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results', `${name}.md`), md + '\n');
  writeFileSync(join(ROOT, 'bench/results', `${name}.json`), JSON.stringify({ variants, rounds, results }, null, 1));
  log(`bench/results/${name}.{md,json}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
