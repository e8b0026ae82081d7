// Reads V8 CPU profiles (.cpuprofile from `node --cpu-prof`, or the CDP
// Profiler's result) into self time per function and
// per category of code: wasm, the wasm-bindgen glue, the JS host, the
// transport, GC, and so on.

/** What part of the stack a call frame belongs to. */
export function category(cf) {
  const url = cf.url ?? '';
  const fn = cf.functionName ?? '';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)') return 'runtime (program: native, not JS)';
  if (fn === '(root)') return 'root';
  if (url.startsWith('wasm://') || url.endsWith('.wasm') || cf.codeType === 'wasm' || /^\$?wasm-function\[/.test(fn)) return 'wasm (broker core)';
  if (url.includes('/pkg/tabmq.js')) return 'wasm-bindgen glue (pkg/tabmq.js)';
  if (url.endsWith('/host.js')) return 'host.js (pump, drain loop)';
  if (url.endsWith('/worker.js')) return 'worker.js';
  if (url.includes('/www/node/')) return 'Node host (www/node/)';
  if (url.endsWith('/socket.js') || url.endsWith('/frames.js')) return 'BrokerSocket (socket.js, frames.js)';
  if (url.includes('mqtt.esm.js')) return 'MQTT.js';
  if (url.includes('/bench/')) return 'bench clients and driver';
  if (url.startsWith('node:')) return 'Node core (net, streams, timers)';
  if (url === '') return `native: ${fn || '(anonymous)'}`;
  return url.split('/').slice(-1)[0];
}

/** { total µs, byCategory: [[name, µs]], top: [[name, category, µs]] } from nodes and per-node self µs. */
function summarise(nodes, selfUs, topN) {
  const byCat = new Map();
  const byFn = new Map();
  let total = 0;
  for (const n of nodes) {
    const us = selfUs.get(n.id) ?? 0;
    if (!us) continue;
    const cat = category(n.callFrame);
    if (cat === 'idle') continue;
    total += us;
    byCat.set(cat, (byCat.get(cat) ?? 0) + us);
    const name = `${n.callFrame.functionName || '(anonymous)'}${n.callFrame.url ? ` ${n.callFrame.url.split('/').slice(-1)[0]}:${n.callFrame.lineNumber + 1}` : ''}`;
    const cur = byFn.get(name) ?? { cat, us: 0 };
    cur.us += us;
    byFn.set(name, cur);
  }
  const sort = (m) => [...m.entries()].sort((a, b) => (b[1].us ?? b[1]) - (a[1].us ?? a[1]));
  return {
    totalMs: total / 1000,
    byCategory: sort(byCat).map(([k, us]) => ({ name: k, ms: us / 1000, pct: (100 * us) / total })),
    top: sort(byFn).slice(0, topN).map(([k, v]) => ({ name: k, category: v.cat, ms: v.us / 1000, pct: (100 * v.us) / total })),
  };
}

/** A .cpuprofile (node --cpu-prof). */
export function fromCpuProfile(profile, topN = 25) {
  const selfUs = new Map();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const dt = timeDeltas[i + 1] ?? 0; // the time until the next sample
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + dt);
  }
  return summarise(profile.nodes, selfUs, topN);
}

export function profileMarkdown(title, summaries) {
  const out = [`### ${title}`, ''];
  for (const s of summaries) {
    out.push(`**${s.thread ?? 'main'}** — ${s.totalMs.toFixed(0)} ms of CPU sampled (idle excluded)`);
    out.push('');
    out.push('| Category | ms | % |');
    out.push('|---|--:|--:|');
    for (const c of s.byCategory.slice(0, 12)) out.push(`| ${c.name} | ${c.ms.toFixed(0)} | ${c.pct.toFixed(1)} |`);
    out.push('');
    out.push('| Top self time | category | % |');
    out.push('|---|---|--:|');
    for (const f of s.top.slice(0, 15)) out.push(`| \`${f.name.replace(/\|/g, '\\|').slice(0, 110)}\` | ${f.category} | ${f.pct.toFixed(1)} |`);
    out.push('');
  }
  return out.join('\n');
}
