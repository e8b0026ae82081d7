// Turns a results object into the markdown table and the SVG chart.

import { label } from './scenarios.mjs';
import { GOAL, PROMISES, caseLabel, targetName } from '../node/durability.mjs';

const NOISY = 0.25; // cores used by other processes during a measurement

export function fmtRate(v) {
  if (v == null || !Number.isFinite(v)) return '–';
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return `${Math.round(v)}`;
}

function ms(v) {
  if (v == null) return '–';
  if (v < 1) return v.toFixed(2);
  if (v < 10) return v.toFixed(1);
  return v.toFixed(0);
}

function bytes(n) {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(2)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}

function ratio(a, b) {
  return a && b ? a / b : null;
}

function fmtRatio(r) {
  return r == null ? '–' : `${r.toFixed(2)}×`;
}

export function geomean(xs) {
  const v = xs.filter((x) => x > 0 && Number.isFinite(x));
  if (!v.length) return null;
  return Math.exp(v.reduce((a, x) => a + Math.log(x), 0) / v.length);
}

/** Marks on a throughput cell: † noisy machine, ✗ messages lost. */
function rateCell(r, which = 'sat') {
  const sat = r?.[which];
  if (!sat) return r?.error ? 'error' : '–';
  const cpu = which === 'satBatched' ? r.cpuBatched : r.cpu;
  let s = fmtRate(sat.deliveredPerSec);
  if (cpu?.cores?.other > NOISY) s += ' †';
  if (cpu?.cores?.generator >= 0.9) s += ' §';
  if (sat.lost > 0) s += ` ✗${sat.lost}`;
  return s;
}

const rate = (r, which = 'sat') => r?.[which]?.deliveredPerSec;

/** Broker CPU (µs) per delivered message. */
function usPerMsg(r, which = 'sat') {
  const sat = r?.[which];
  const cpu = which === 'satBatched' ? r?.cpuBatched : r?.cpu;
  if (!sat || !cpu) return '–';
  return ((cpu.cores.broker * 1e6) / sat.deliveredPerSec).toFixed(2);
}

function latCell(r) {
  if (!r?.lat) return '–';
  const l = r.lat;
  let s = `${ms(l.p50)} / ${ms(l.p99)} / ${ms(l.max)}`;
  if (l.overloaded) s += ' (overloaded)';
  if (l.lost > 0) s += ` ✗${l.lost}`;
  return s;
}

function offered(rows) {
  const l = rows.find((r) => r?.lat)?.lat;
  if (!l) return '–';
  const rates = [...new Set(rows.filter((r) => r?.lat).map((r) => r.lat.offered))];
  return rates.map(fmtRate).join(' / ') + (rates.some((x) => x < 10_000) ? ' ‡' : '');
}

/** Groups scenario results by scenario key, then by variant. */
function byScenario(list, variantOf) {
  const map = new Map();
  for (const r of list) {
    const key = label(r.sc);
    if (!map.has(key)) map.set(key, { sc: r.sc, v: {} });
    map.get(key).v[variantOf(r)] = r;
  }
  return [...map.entries()];
}

/** The browser's durable runs by scenario (publishers' in-flight limit
 *  included), each with memory, relaxed and strict; and the goal of issue
 *  15: strict and relaxed ≥ 0.8× memory, p99 at 5,000/s ≤ 2 × commit p99 +
 *  memory's p99. */
const DURABLE_GOAL = { ratio: 0.8 };
/** Issue 15: tabmq ÷ the batching ceiling in every browser scenario. */
const CEILING_GOAL = 0.95;

/** A browser result's column: the ceilings by target, tabmq by durability. */
const variant = (r) => ({ echo: 'echo', 'echo-input': 'echoInput' })[r.sc.target] ?? r.sc.durability;
function browserDurableRows(list) {
  const map = new Map();
  for (const r of list ?? []) {
    if (r.error) continue;
    const key = `${label(r.sc)}, ${r.sc.perPublisher} unacknowledged per publisher`;
    if (!map.has(key)) map.set(key, {});
    map.get(key)[r.sc.durability] = r;
  }
  return [...map.entries()].map(([key, v]) => {
    const row = { key, ...v };
    for (const d of ['relaxed', 'strict']) {
      row[`${d}Ratio`] = ratio(rate(v[d]), rate(v.memory));
      const bound = v[d]?.storage && v.memory?.lat ? 2 * v[d].storage.commitMsP99 + v.memory.lat.p99 : null;
      row[`${d}Bound`] = bound;
      row[`${d}LatencyMet`] = bound !== null && v[d]?.lat ? v[d].lat.p99 <= bound : null;
    }
    return row;
  });
}

export function headlines(res) {
  const h = {};
  const ok = (list) => (list ?? []).filter((r) => !r.error);
  if (res.node?.length) {
    const groups = byScenario(ok(res.node), (r) => r.broker);
    const g = (peer, which) => geomean(groups.map(([, x]) => ratio(rate(x.v.tabmq, which), rate(x.v[peer], which))));
    h.nodeVsAedes = g('aedes', 'sat');
    h.nodeVsMosquitto = g('mosquitto', 'sat');
    h.nodeVsAedesPipelined = g('aedes', 'satBatched');
    h.nodeVsMosquittoPipelined = g('mosquitto', 'satBatched');
  }
  const strict = durableVsMemory(res.durable, res.durable?.cases?.[0]);
  if (strict) h.durable = strict;
  for (const t of ok(res.bridge?.throughput)) {
    h.bridgedVsDirect ??= {};
    h.bridgedVsDirect[t.remote] = t.ratio;
  }
  const mq = ok(res.browser).filter((r) => r.sc.client === 'mqttjs');
  if (mq.length) {
    const groups = byScenario(mq, variant);
    const ratios = (k) => groups.map(([, g]) => ratio(rate(g.v[k]), rate(g.v.echo))).filter((x) => x !== null);
    h.browserMemoryVsCeiling = geomean(ratios('memory'));
    h.browserMemoryVsCeilingLowest = ratios('memory').length ? Math.min(...ratios('memory')) : null;
    h.browserStrictVsCeiling = geomean(ratios('strict'));
  }
  const durableRows = browserDurableRows(res.browserDurable);
  if (durableRows.length) {
    const lowest = (k) => Math.min(...durableRows.map((r) => r[k] ?? Infinity));
    h.browserDurable = { strict: lowest('strictRatio'), relaxed: lowest('relaxedRatio'), scenarios: durableRows.length };
  }
  const raw = ok(res.browser).filter((r) => r.sc.client === 'raw');
  if (raw.length) {
    const groups = byScenario(raw, variant);
    const ratios = groups.map(([, g]) => ratio(rate(g.v.memory), rate(g.v.echo))).filter((x) => x !== null);
    h.browserRawVsCeiling = geomean(ratios);
    h.browserRawVsCeilingLowest = ratios.length ? Math.min(...ratios) : null;
    h.browserRawVsCeilingPipelined = geomean(groups.map(([, g]) => ratio(rate(g.v.memory, 'satBatched'), rate(g.v.echo, 'satBatched'))));
  }
  return h;
}

export function markdown(res) {
  const out = [];
  const m = res.meta;
  out.push(`# tabmq bench — ${m.date}${m.quick ? ' (quick)' : ''}`);
  out.push('');
  out.push(`Machine: ${m.machine.cpus} × ${m.machine.cpuModel}, ${m.machine.memGiB} GiB; Chromium ${m.versions.chromium}, Node ${m.versions.node}, `
    + `Mosquitto ${m.versions.mosquitto ?? '–'}, Aedes ${m.versions.aedes ?? '–'}, MQTT.js ${m.versions.mqtt}. tabmq ${m.tabmq.git}, wasm sha256 ${m.tabmq.wasmSha256.slice(0, 12)}.`);
  out.push('');
  out.push('Throughput: delivered messages per second at saturation (closed loop, a window of outstanding deliveries). '
    + 'Latency: p50 / p99 / max in ms, publish to delivery, at the offered rate (deliveries/s, open loop). '
    + '† other processes used more than 0.25 of a core during the measurement; § the load generator used 0.9 of a core or more (the number is a lower bound for that broker); ‡ offered rate reduced (the scenario sustains less than 2 × 10,000/s); ✗N messages never delivered (5 s after the last delivery).');
  out.push('');
  const h = headlines(res);
  const hl = [];
  if (h.nodeVsMosquitto) {
    hl.push(`Node, one packet per write: tabmq ÷ Mosquitto **${fmtRatio(h.nodeVsMosquitto)}**, tabmq ÷ Aedes **${fmtRatio(h.nodeVsAedes)}**; `
      + `pipelined: ÷ Mosquitto **${fmtRatio(h.nodeVsMosquittoPipelined)}**, ÷ Aedes **${fmtRatio(h.nodeVsAedesPipelined)}** (geometric means of the scenarios' throughput ratios)`);
  }
  if (h.browserMemoryVsCeiling) {
    hl.push(`Browser, MQTT.js clients: tabmq ÷ no-broker ceiling **${fmtRatio(h.browserMemoryVsCeiling)}** (memory; lowest scenario ${fmtRatio(h.browserMemoryVsCeilingLowest)}, goal ≥ ${CEILING_GOAL}× in each), `
      + `**${fmtRatio(h.browserStrictVsCeiling)}** (strict)`);
  }
  if (h.browserDurable) {
    hl.push(`Browser durable QoS 1 (publishers waiting for PUBACKs, ${h.browserDurable.scenarios} scenarios): lowest strict ÷ memory **${fmtRatio(h.browserDurable.strict)}**, `
      + `lowest relaxed ÷ memory **${fmtRatio(h.browserDurable.relaxed)}** (goal ≥ ${DURABLE_GOAL.ratio}×)`);
  }
  if (h.browserRawVsCeiling) {
    hl.push(`Browser, the bench's raw client: tabmq ÷ ceiling **${fmtRatio(h.browserRawVsCeiling)}** one packet per message (lowest ${fmtRatio(h.browserRawVsCeilingLowest)}), `
      + `**${fmtRatio(h.browserRawVsCeilingPipelined)}** pipelined`);
  }
  if (h.durable) {
    hl.push(`Node durable QoS 1 (${caseLabel(h.durable.case)}, persistent subscriber): strict ÷ memory **${fmtRatio(h.durable.ratio)}**, `
      + `strict PUBACK p99 **${ms(h.durable.p99)} ms** (goal ≥ ${GOAL.ratio}× with p99 < ${GOAL.p99Ms} ms: ${h.durable.met ? 'met' : 'not met'})`);
  }
  if (h.bridgedVsDirect) {
    hl.push(`Node bridge, QoS 1 end to end: bridged ÷ direct ${Object.entries(h.bridgedVsDirect).map(([k, v]) => `**${fmtRatio(v)}** (${REMOTE[k] ?? k})`).join(', ')}`);
  }
  if (hl.length) {
    out.push('**Headline:** ' + hl.join('; ') + '.');
    out.push('');
  }

  const mq = (res.browser ?? []).filter((r) => r.sc.client === 'mqttjs');
  if (mq.length) {
    out.push('## Browser: MQTT.js clients in one page, broker in a SharedWorker');
    out.push('');
    out.push('Ceiling: a forwarder with no broker behind it (bench/browser/echo-worker.js) that batches as tabmq does, all output for one destination '
      + 'during one burst of input in one message; "per input": the same forwarder sending after each input.');
    out.push('');
    out.push('| Scenario | tabmq memory | tabmq strict | ceiling | ceiling per input | memory ÷ ceiling | strict ÷ ceiling | offered | latency memory | latency strict | latency ceiling |');
    out.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const [key, g] of byScenario(mq, variant)) {
      const { memory, strict, echo, echoInput } = g.v;
      out.push(`| ${key} | ${rateCell(memory)} | ${rateCell(strict)} | ${rateCell(echo)} | ${rateCell(echoInput)} | `
        + `${fmtRatio(ratio(memory?.sat.deliveredPerSec, echo?.sat.deliveredPerSec))} | ${fmtRatio(ratio(strict?.sat.deliveredPerSec, echo?.sat.deliveredPerSec))} | `
        + `${offered([memory, strict, echo])} | ${latCell(memory)} | ${latCell(strict)} | ${latCell(echo)} |`);
    }
    out.push('');
  }
  const durableRows = browserDurableRows(res.browserDurable);
  if (durableRows.length) {
    out.push('## Browser: durable QoS 1, persistent sessions, publishers that wait for their PUBACKs');
    out.push('');
    out.push('MQTT.js clients with clean: false, a disk-backed Chromium profile, the broker in a SharedWorker. Each publisher keeps at most N messages unacknowledged. '
      + 'Latency at 5,000 deliveries/s (or less when saturation is lower); the bound is 2 × the store\'s commit p99 + memory\'s p99 (goal: latency p99 within it, throughput ≥ 0.8× memory).');
    out.push('');
    out.push('| Scenario | memory | relaxed | strict | relaxed ÷ memory | strict ÷ memory | p99 memory / relaxed / strict (ms) | commit p99 relaxed / strict (ms) | p99 within bound (relaxed / strict) |');
    out.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|');
    const yes = (v) => (v === null ? '–' : v ? 'yes' : 'no');
    for (const r of durableRows) {
      const p99 = (x) => (x?.lat ? ms(x.lat.p99) : '–');
      const commit = (x) => (x?.storage ? ms(x.storage.commitMsP99) : '–');
      out.push(`| ${r.key} | ${rateCell(r.memory)} | ${rateCell(r.relaxed)} | ${rateCell(r.strict)} | ${fmtRatio(r.relaxedRatio)} | ${fmtRatio(r.strictRatio)} | `
        + `${p99(r.memory)} / ${p99(r.relaxed)} / ${p99(r.strict)} | ${commit(r.relaxed)} / ${commit(r.strict)} | ${yes(r.relaxedLatencyMet)} / ${yes(r.strictLatencyMet)} |`);
    }
    out.push('');
  }
  const raw = (res.browser ?? []).filter((r) => r.sc.client === 'raw');
  if (raw.length) {
    out.push("## Browser: the bench's raw client (pre-encoded packets, no MQTT.js), broker in a SharedWorker");
    out.push('');
    out.push('One packet per postMessage, then pipelined (what one publisher sends in one turn, in one message). CPU: cores used by the worker thread and by the page thread during the one-packet run.');
    out.push('');
    out.push('| Scenario | tabmq | ceiling | ÷ ceiling | pipelined tabmq | pipelined ceiling | ÷ ceiling | offered | latency tabmq | latency ceiling | worker CPU (tabmq / ceiling) | page CPU (tabmq / ceiling) |');
    out.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const [key, g] of byScenario(raw, variant)) {
      const { memory, echo } = g.v;
      const th = (r, name) => (r?.cpu?.threads?.[name] ?? 0).toFixed(2);
      out.push(`| ${key} | ${rateCell(memory)} | ${rateCell(echo)} | ${fmtRatio(ratio(rate(memory), rate(echo)))} | `
        + `${rateCell(memory, 'satBatched')} | ${rateCell(echo, 'satBatched')} | ${fmtRatio(ratio(rate(memory, 'satBatched'), rate(echo, 'satBatched')))} | `
        + `${offered([memory, echo])} | ${latCell(memory)} | ${latCell(echo)} | `
        + `${th(memory, 'renderer/SharedWorker th')} / ${th(echo, 'renderer/SharedWorker th')} | ${th(memory, 'renderer/chromium')} / ${th(echo, 'renderer/chromium')} |`);
    }
    out.push('');
  }
  if (res.node?.length) {
    out.push("## Node: TCP on loopback, the bench's raw generator, each broker in a process of its own");
    out.push('');
    out.push('Throughput with one packet per write() (each publish its own write, as a device sends), then pipelined (what a publisher sends in one turn of the loop in one write, as MQTT.js does when publishing in a loop).');
    out.push('');
    out.push('| Scenario | tabmq | Aedes | Mosquitto | ÷ Aedes | ÷ Mosquitto | pipelined tabmq | Aedes | Mosquitto | ÷ Aedes | ÷ Mosquitto |');
    out.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    const groups = byScenario(res.node, (r) => r.broker);
    for (const [key, g] of groups) {
      const { tabmq, aedes, mosquitto } = g.v;
      out.push(`| ${key} | ${rateCell(tabmq)} | ${rateCell(aedes)} | ${rateCell(mosquitto)} | `
        + `${fmtRatio(ratio(rate(tabmq), rate(aedes)))} | ${fmtRatio(ratio(rate(tabmq), rate(mosquitto)))} | `
        + `${rateCell(tabmq, 'satBatched')} | ${rateCell(aedes, 'satBatched')} | ${rateCell(mosquitto, 'satBatched')} | `
        + `${fmtRatio(ratio(rate(tabmq, 'satBatched'), rate(aedes, 'satBatched')))} | ${fmtRatio(ratio(rate(tabmq, 'satBatched'), rate(mosquitto, 'satBatched')))} |`);
    }
    out.push('');
    out.push('Latency at the offered rate, and broker CPU per delivered message (µs, one packet per write; cores the broker and the generator used).');
    out.push('');
    out.push('| Scenario | offered | latency tabmq | latency Aedes | latency Mosquitto | broker µs/msg tabmq / Aedes / Mosquitto | broker cores | generator cores |');
    out.push('|---|--:|--:|--:|--:|--:|--:|--:|');
    for (const [key, g] of groups) {
      const rs = [g.v.tabmq, g.v.aedes, g.v.mosquitto];
      const cores = (k) => rs.map((r) => (r?.cpu?.cores?.[k] ?? 0).toFixed(2)).join(' / ');
      out.push(`| ${key} | ${offered(rs)} | ${latCell(rs[0])} | ${latCell(rs[1])} | ${latCell(rs[2])} | ${rs.map((r) => usPerMsg(r)).join(' / ')} | ${cores('broker')} | ${cores('generator')} |`);
    }
    out.push('');
  }
  if (res.bridge) out.push(...bridgeMarkdown(res.bridge));
  if (res.durable) out.push(...durableMarkdown(res.durable));
  const sc = res.scaling;
  if (sc?.subscribers?.length) {
    out.push('## Browser: throughput as subscribers grow (fan-out 1→N, QoS 0, 16 B, memory; raw client pipelined, MQTT.js as it comes)');
    out.push('');
    out.push('| Subscribers | ' + sc.subscribers.map((r) => `${r.client === 'raw' ? 'raw' : 'MQTT.js'}`).filter((v, i, a) => a.indexOf(v) === i).join(' | ') + ' |');
    const clients = [...new Set(sc.subscribers.map((r) => r.client))];
    out.push('|--:|' + clients.map(() => '--:|').join(''));
    for (const n of [...new Set(sc.subscribers.map((r) => r.n))]) {
      out.push(`| ${n} | ` + clients.map((c) => rateCell(sc.subscribers.find((r) => r.n === n && r.client === c))).join(' | ') + ' |');
    }
    out.push('');
  }
  if (sc?.filters?.length) {
    out.push('## Browser: throughput as subscriptions grow (pairs, QoS 0, 16 B, raw client pipelined; N extra filters, a third exact siblings of the published topics, a third `noise/i/#`, a third `+/xi`, none matching)');
    out.push('');
    out.push('| Extra filters | tabmq | setup (subscribe) ms |');
    out.push('|--:|--:|--:|');
    for (const r of sc.filters) out.push(`| ${r.filters.toLocaleString('en')} | ${rateCell(r)} | ${Math.round(r.setup.setupMs)} |`);
    out.push('');
  }
  const rs = res.resources;
  if (rs) {
    out.push('## Resources');
    out.push('');
    out.push('| Figure | Value |');
    out.push('|---|--:|');
    out.push(`| wasm (www/pkg/tabmq_bg.wasm) | ${bytes(rs.sizes.wasm.raw)} raw, ${bytes(rs.sizes.wasm.gzip)} gzip |`);
    out.push(`| JS (www/{browser,node,shared}/*.js + www/pkg/tabmq.js) | ${bytes(rs.sizes.js.raw)} raw, ${bytes(rs.sizes.js.gzip)} gzip |`);
    out.push(`| JS a browser page loads (index.js, socket.js, frames.js, options.js, errors.js; worker: worker.js, host.js, pkg/tabmq.js) | ${bytes(rs.sizes.browserJs.raw)} raw, ${bytes(rs.sizes.browserJs.gzip)} gzip |`);
    if (rs.session) out.push(`| wasm memory per idle connected session (${rs.session.sessions} sessions) | ${bytes(rs.session.perSession)} |`);
    for (const q of rs.queued ?? []) out.push(`| wasm memory per queued QoS 1 message, ${q.size} B payload (${q.messages} queued) | ${bytes(q.perMessage)} |`);
    for (const s of rs.startup ?? []) {
      out.push(`| startBroker() → first CONNACK, ${s.mode}/${s.durability} (median of ${s.trials}) | ${ms(s.firstConnackMs)} ms (startBroker ${ms(s.startBrokerMs)} ms; then MQTT.js connect ${ms(s.mqttjsConnectMs)} ms) |`);
    }
    out.push('');
  }
  return out.join('\n');
}

const REMOTE = { mosquitto: 'Mosquitto', tabmq: 'tabmq' };

/** The bridge suite's tables (bench/node/bridge.mjs). */
function bridgeMarkdown(b) {
  const out = [];
  const us = (v) => (v == null ? '–' : v.toFixed(1));
  const tp = b.throughput ?? [];
  if (tp.length) {
    const first = tp.find((t) => !t.error);
    out.push(`## Node: bridges, QoS 1 end to end (TCP loopback, each broker in a process of its own)`);
    out.push('');
    out.push(`The bench's raw publisher sends ${first ? first.n.toLocaleString('en') : 'N'} QoS 1 messages of ${first?.size ?? 16} B, at most ${first?.window ?? '–'} unacknowledged, `
      + 'either straight to the remote broker (direct: publisher → remote → subscriber) or to a local tabmq Node broker whose bridge carries them to the remote '
      + '(bridged: publisher → local → bridge → remote → subscriber); a QoS 1 subscriber on the remote counts them. '
      + `msg/s end to end = N ÷ (last delivery − first publish); median of ${first?.reps ?? '–'} runs of each, alternating, after a warm-up of both paths `
      + '(range in brackets). The issue\'s target is a bridge costing at most 10% over direct (bridged ÷ direct ≥ 0.91). '
      + 'CPU: µs of each process per message over all runs of a mode (cores × seconds ÷ messages; coarse: /proc counts 10 ms ticks, so – under 0.25 s measured). '
      + 'Bridge in flight: the median of the bridge\'s in-flight count, sampled every 20 ms while its queue was not empty (its window: min(1024, the remote\'s receive maximum)). † other processes used more than 0.25 of a core (median of the runs).');
    out.push('');
    out.push('| Remote | direct msg/s | bridged msg/s | bridged ÷ direct | ≤ 10% target | bridge in flight | CPU µs/msg direct: remote / generator | bridged: local / remote / generator |');
    out.push('|---|--:|--:|--:|:-:|--:|--:|--:|');
    for (const t of tp) {
      if (t.error) {
        out.push(`| ${REMOTE[t.remote] ?? t.remote} | error: ${t.error.replace(/\|/g, '/')} | | | | | | |`);
        continue;
      }
      const noisy = (c) => (c.otherCores > NOISY ? ' †' : '');
      const lost = t.lost ? ` ✗${t.lost}` : '';
      out.push(`| ${REMOTE[t.remote] ?? t.remote} | ${fmtRate(t.direct)}${noisy(t.cpu.direct)} (${t.range.direct.map(fmtRate).join('–')}) `
        + `| ${fmtRate(t.bridged)}${noisy(t.cpu.bridged)}${lost} (${t.range.bridged.map(fmtRate).join('–')}) | ${fmtRatio(t.ratio)} | ${t.ratio >= 1 / 1.1 ? 'met' : 'not met'} `
        + `| ${t.bridgeInflight ?? '–'} | ${us(t.cpu.direct.remote)} / ${us(t.cpu.direct.generator)} `
        + `| ${us(t.cpu.bridged.local)} / ${us(t.cpu.bridged.remote)} / ${us(t.cpu.bridged.generator)} |`);
    }
    out.push('');
  }
  const dr = b.drain ?? [];
  if (dr.length) {
    out.push('## Node: a bridge draining its queue after an outage');
    out.push('');
    out.push('Bridge paused, N QoS 1 messages published to the local broker (all acknowledged, so queued in the bridge\'s session), a QoS 1 subscriber started on the remote, '
      + 'then resumeBridge(): time until the subscriber has all N (reconnect included), and the part of it until the bridge reported `connected`.');
    out.push('');
    out.push('| Remote | queued | resume → connected ms | resume → last delivery ms | msg/s | bridge in flight | CPU µs/msg: local / remote / generator |');
    out.push('|---|--:|--:|--:|--:|--:|--:|');
    for (const d of dr) {
      if (d.error) {
        out.push(`| ${REMOTE[d.remote] ?? d.remote} | error: ${d.error.replace(/\|/g, '/')} | | | | | |`);
        continue;
      }
      const noisy = d.cpu.cores.other > NOISY ? ' †' : '';
      out.push(`| ${REMOTE[d.remote] ?? d.remote} | ${d.queued.toLocaleString('en')} | ${ms(d.connectMs)} | ${ms(d.ms)}${noisy}${d.lost ? ` ✗${d.lost}` : ''} `
        + `| ${fmtRate(d.perSec)} | ${d.bridgeInflight ?? '–'} | ${us(d.usPerMsg.local)} / ${us(d.usPerMsg.remote)} / ${us(d.usPerMsg.generator)} |`);
    }
    out.push('');
  }
  return out;
}

const sameTarget = (a, b) => a.kind === b.kind && a.durability === b.durability;
const sameCase = (a, b) => a.mode === b.mode && a.publishers === b.publishers && a.window === b.window && !a.unbounded === !b.unbounded;

/** The durable suite's result for one target and case, or undefined. */
function durableRun(d, target, c) {
  return d?.runs?.find((r) => sameTarget(r.target, target) && sameCase(r.case, c));
}

/** tabmq strict next to memory in one durable case: { case, ratio, p99, met }. */
function durableVsMemory(d, c) {
  if (!c) return null;
  const memory = durableRun(d, { kind: 'tabmq', durability: 'memory' }, c);
  const strict = durableRun(d, { kind: 'tabmq', durability: 'strict' }, c);
  if (!memory?.perSec || !strict?.perSec) return null;
  const r = strict.perSec / memory.perSec;
  const p99 = strict.lat?.p99;
  return { case: c, ratio: r, p99, met: r >= GOAL.ratio && p99 != null && p99 < GOAL.p99Ms };
}

/** The durable suite's tables (bench/node/durability.mjs). */
function durableMarkdown(d) {
  const out = [];
  const targets = [...new Map(d.runs.map((r) => [`${r.target.kind}/${r.target.durability}`, r.target])).values()];
  const n = (c) => (c.messages ?? 0).toLocaleString('en');
  out.push("## Node: durable QoS 1, persistent subscriber (tabmq's command line, memory / relaxed / strict; Mosquitto with persistence)");
  out.push('');
  out.push(`One persistent subscriber (MQTT 3.1.1, clean session false, QoS 1, acknowledging every delivery) and P publishers of ${d.size} B QoS 1 messages, `
    + 'each keeping W unacknowledged (closed loop: what a refill finds room for leaves in one write), on TCP loopback. '
    + 'Online: the subscriber is connected, and the publishers together stay at most P × W messages ahead of it, so that the rate is one the broker keeps up end to end '
    + `(PUBACKs/s = deliveries/s); msg/s = PUBACKs per second over ${d.timing.measureMs / 1000} s after a ${d.timing.warmupMs / 1000} s warm-up. `
    + '"Not held back by the subscriber": the same without that limit, as devices that know nothing of the consumer publish: PUBACKs/s, and in brackets deliveries/s '
    + '(when these part, the subscriber\'s queue grows for as long as the run lasts). '
    + `Offline: the subscriber is away while the publishers send N messages (${d.cases.filter((c) => c.mode === 'offline').map((c) => `${n(c)} with ${c.publishers} × ${c.window}`).join(', ')}), `
    + 'all queued for its session; msg/s = N ÷ (last PUBACK − first publish); then it comes back and the bench counts its queue as it drains. '
    + 'Latency: publish → PUBACK, p50 / p99 in ms, of every message sent in the measured time. '
    + 'Each broker in a process of its own: `tabmq --tcp PORT --data DIR --durability relaxed|strict` (memory: no `--data`; the snapshot\'s bin/tabmq.js, '
    + 'default limits: 1,024 messages in flight to the subscriber), Mosquitto with `persistence true` and a `persistence_location` of its own; '
    + 'data directories under os.tmpdir(), removed after. Queue limits raised to 1,000,000 messages on both (`--max-queued-messages`, `max_queued_messages`); '
    + 'Mosquitto otherwise as in the Node table above (`max_inflight_messages 0`). '
    + `Goal for strict: at least ${GOAL.ratio}× memory's throughput with p99 under ${GOAL.p99Ms} ms. `
    + '† other processes used more than 0.25 of a core; § the generator used 0.9 of a core or more (a lower bound for that broker); ✗N messages never delivered to the subscriber.');
  out.push('');
  out.push(`| Case | ${targets.map((t) => `${targetName(t)} msg/s · p50 / p99 ms`).join(' | ')} | strict ÷ memory | goal |`);
  out.push(`|---|${targets.map(() => '--:|').join('')}--:|:-:|`);
  for (const c of d.cases) {
    const cells = targets.map((t) => {
      const r = durableRun(d, t, c);
      if (!r || r.error) return r?.error ? 'error' : '–';
      let s = `${fmtRate(r.perSec)}${c.unbounded ? ` (delivered ${fmtRate(r.deliveredPerSec)})` : ''} · ${ms(r.lat.p50)} / ${ms(r.lat.p99)}`;
      if (r.cpu?.cores?.other > NOISY) s += ' †';
      if (r.cpu?.cores?.generator >= 0.9) s += ' §';
      if (r.lost > 0) s += ` ✗${r.lost}`;
      return s;
    });
    const v = durableVsMemory(d, c);
    const goal = v && !c.unbounded ? (v.met ? 'met' : 'not met') : '–';
    // Unbounded, PUBACKs/s are not a rate the broker keeps up: no ratio.
    out.push(`| ${caseLabel(c)}${c.messages ? ` (N = ${n(c)})` : ''} | ${cells.join(' | ')} | ${c.unbounded ? '–' : fmtRatio(v?.ratio)} | ${goal} |`);
  }
  out.push('');
  out.push('CPU during the measured time (cores: broker process, its threads included / the generator), and the offline queue\'s drain (msg/s from the reconnect to the last delivery).');
  out.push('');
  out.push(`| Case | ${targets.map((t) => `${targetName(t)} cores`).join(' | ')} | drain msg/s ${targets.map((t) => targetName(t).split(' ')[t.kind === 'tabmq' ? 1 : 0]).join(' / ')} |`);
  out.push(`|---|${targets.map(() => '--:|').join('')}--:|`);
  for (const c of d.cases) {
    const drain = c.mode === 'offline' ? targets.map((t) => fmtRate(durableRun(d, t, c)?.drain?.perSec)).join(' / ') : '–';
    // Under a quarter of a second /proc's 10 ms ticks say little.
    const cores = targets.map((t) => {
      const r = durableRun(d, t, c);
      return r?.cpu && r.cpu.seconds >= 0.25 ? `${r.cpu.cores.broker.toFixed(2)} / ${r.cpu.cores.generator.toFixed(2)}` : '–';
    });
    out.push(`| ${caseLabel(c)} | ${cores.join(' | ')} | ${drain} |`);
  }
  out.push('');
  const st = (d.storage ?? []).filter((r) => !r.error && r.storage);
  if (st.length) {
    out.push("tabmq's store in the online cases (`stats().storage` between the start and the end of the measured time; a separate run at the same load, "
      + "createBroker in a child process with the command line's options, since the command line cannot be asked; commit times: the store's last 1024 commits, "
      + 'from handing a commit to the worker thread to its answer). Ops: the storage operations the core sends (put or delete of a message, a delivery, a session).');
    out.push('');
    out.push('| Case | durability | msg/s | p50 / p99 ms | commits/s | messages per commit | ops per message | bytes per message | commit p50 / p99 ms |');
    out.push('|---|---|--:|--:|--:|--:|--:|--:|--:|');
    for (const r of st) {
      const s = r.storage;
      out.push(`| ${caseLabel(r.case)} | ${r.durability} | ${fmtRate(r.perSec)}${r.cpu?.cores?.other > NOISY ? ' †' : ''} | ${ms(r.lat.p50)} / ${ms(r.lat.p99)} | ${fmtRate(s.commitsPerSec)} `
        + `| ${s.messagesPerCommit == null ? '–' : s.messagesPerCommit.toFixed(0)} | ${s.opsPerMessage == null ? '–' : s.opsPerMessage.toFixed(2)} `
        + `| ${s.bytesPerMessage == null ? '–' : s.bytesPerMessage.toFixed(0)} | ${ms(s.commitMsP50)} / ${ms(s.commitMsP99)} |`);
    }
    out.push('');
  }
  out.push('What an acknowledged (PUBACKed) message survives:');
  out.push('');
  for (const t of targets) out.push(`- **${targetName(t)}**: ${PROMISES[t.kind === 'mosquitto' ? 'mosquitto' : t.durability]}.`);
  out.push('');
  return out;
}

// ---- SVG ----------------------------------------------------------------

const COLORS = ['#2b6cb0', '#dd6b20', '#718096', '#38a169'];

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A horizontal grouped bar chart: rows [{ label, values: [number|null] }]. */
function panel(title, series, rows, unit, y0, width, log = false) {
  const left = 230;
  const barH = 9;
  const gap = 2;
  const groupH = series.length * (barH + gap) + 8;
  const plotW = width - left - 90;
  const max = Math.max(1, ...rows.flatMap((r) => r.values.filter((v) => v != null)));
  const LOG_MIN = 0.05;
  const scale = log
    ? (v) => (Math.log10(Math.max(v, LOG_MIN)) - Math.log10(LOG_MIN)) / (Math.log10(max) - Math.log10(LOG_MIN))
    : (v) => v / max;
  const parts = [];
  parts.push(`<text x="10" y="${y0 + 16}" font-size="14" font-weight="bold">${esc(title)}</text>`);
  let lx = left;
  series.forEach((s, i) => {
    parts.push(`<rect x="${lx}" y="${y0 + 24}" width="10" height="10" fill="${COLORS[i]}"/><text x="${lx + 14}" y="${y0 + 33}" font-size="11">${esc(s)}</text>`);
    lx += 24 + s.length * 7.5;
  });
  let y = y0 + 44;
  for (const r of rows) {
    parts.push(`<text x="${left - 6}" y="${y + (groupH - 8) / 2 + 4}" font-size="11" text-anchor="end">${esc(r.label)}</text>`);
    r.values.forEach((v, i) => {
      const by = y + i * (barH + gap);
      if (v == null) return;
      const w = Math.max(1, scale(v) * plotW);
      parts.push(`<rect x="${left}" y="${by}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[i]}"/>`);
      parts.push(`<text x="${left + w + 4}" y="${by + barH - 1}" font-size="9">${esc(unit(v))}</text>`);
    });
    y += groupH;
  }
  return { svg: parts.join('\n'), height: y - y0 + 10 };
}

export function svg(res) {
  const width = 900;
  const panels = [];
  const mq = (res.browser ?? []).filter((r) => r.sc.client === 'mqttjs');
  if (res.node?.length) {
    const g = byScenario(res.node, (r) => r.broker);
    panels.push(['Node, TCP loopback: delivered msg/s at saturation', ['tabmq', 'Aedes', 'Mosquitto'],
      g.map(([k, x]) => ({ label: k, values: ['tabmq', 'aedes', 'mosquitto'].map((b) => x.v[b]?.sat.deliveredPerSec ?? null) })), fmtRate]);
    panels.push(['Node: p99 latency (ms, log scale) at the offered rate', ['tabmq', 'Aedes', 'Mosquitto'],
      g.map(([k, x]) => ({ label: k, values: ['tabmq', 'aedes', 'mosquitto'].map((b) => x.v[b]?.lat?.p99 ?? null) })), ms]);
  }
  if (mq.length) {
    const g = byScenario(mq, variant);
    panels.push(['Browser, MQTT.js clients: delivered msg/s at saturation', ['tabmq memory', 'tabmq strict', 'ceiling (echo worker)'],
      g.map(([k, x]) => ({ label: k, values: ['memory', 'strict', 'echo'].map((b) => x.v[b]?.sat.deliveredPerSec ?? null) })), fmtRate]);
    panels.push(['Browser, MQTT.js clients: p99 latency (ms, log scale) at the offered rate', ['tabmq memory', 'tabmq strict', 'ceiling (echo worker)'],
      g.map(([k, x]) => ({ label: k, values: ['memory', 'strict', 'echo'].map((b) => x.v[b]?.lat?.p99 ?? null) })), ms]);
  }
  const raw = (res.browser ?? []).filter((r) => r.sc.client === 'raw');
  if (raw.length) {
    const g = byScenario(raw, variant);
    panels.push(['Browser, raw client: delivered msg/s at saturation', ['tabmq memory', 'ceiling (echo worker)'],
      g.map(([k, x]) => ({ label: k, values: ['memory', 'echo'].map((b) => x.v[b]?.sat.deliveredPerSec ?? null) })), fmtRate]);
  }
  const bt = (res.bridge?.throughput ?? []).filter((t) => !t.error);
  if (bt.length) {
    panels.push(['Node bridge, QoS 1 end to end: msg/s (median)', ['direct', 'bridged'],
      bt.map((t) => ({ label: `remote ${REMOTE[t.remote] ?? t.remote}`, values: [t.direct, t.bridged] })), fmtRate]);
  }
  const dr = res.durable;
  if (dr?.runs?.length) {
    const targets = [...new Map(dr.runs.map((r) => [`${r.target.kind}/${r.target.durability}`, r.target])).values()];
    panels.push(['Node, durable QoS 1 to a persistent subscriber: PUBACKs/s', targets.map(targetName),
      dr.cases.map((c) => ({ label: caseLabel(c, true), values: targets.map((t) => durableRun(dr, t, c)?.perSec ?? null) })), fmtRate]);
    panels.push(['Node, durable QoS 1: p99 publish → PUBACK latency (ms, log scale)', targets.map(targetName),
      dr.cases.map((c) => ({ label: caseLabel(c, true), values: targets.map((t) => durableRun(dr, t, c)?.lat?.p99 ?? null) })), ms]);
  }
  let y = 10;
  const body = [];
  for (const [title, series, rows, unit] of panels) {
    const p = panel(title, series, rows, unit, y, width, title.includes('latency'));
    body.push(p.svg);
    y += p.height + 10;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif">\n`
    + `<rect width="100%" height="100%" fill="white"/>\n${body.join('\n')}\n</svg>\n`;
}
