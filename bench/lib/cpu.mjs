// CPU accounting from /proc (Linux): who used the cores during a
// measurement. Lets the report say whether the broker, the load generator
// or something else on the machine was the limit.

import { readFileSync, readdirSync } from 'node:fs';

const HZ = 100; // USER_HZ: clock ticks per second on Linux

function readStat(path) {
  try {
    const s = readFileSync(path, 'utf8');
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    const f = s.slice(close + 2).split(' ');
    // f[0] is field 3 (state); utime is field 14, stime 15, ppid 4.
    return { comm, ppid: +f[1], ticks: +f[11] + +f[12] };
  } catch {
    return null;
  }
}

/** Busy and total ticks of the whole machine. */
export function machineTicks() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = line[3] + (line[4] || 0);
  const total = line.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** `pid` and all its descendants. */
export function tree(pid) {
  const children = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = readStat(`/proc/${d}/stat`);
    if (!st) continue;
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(+d);
  }
  const out = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** A process's role: Chromium's --type (renderer, gpu-process, ...) or its name. */
function role(pid) {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/\0| /);
    const type = args.find((a) => a.startsWith('--type='));
    if (type) return type.slice(7);
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** CPU ticks per thread (keyed pid:tid:role:comm) over the given processes. */
export function threadTicks(pids) {
  const byName = {};
  let total = 0;
  for (const pid of pids) {
    const r = role(pid);
    let tids;
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      const st = readStat(`/proc/${pid}/task/${tid}/stat`);
      if (!st) continue;
      const key = `${pid}:${tid}:${r}:${st.comm}`;
      byName[key] = st.ticks;
      total += st.ticks;
    }
  }
  return { byName, total };
}

/**
 * Starts a CPU measurement of the process trees rooted at `roots` (a map
 * name -> pid or () => pids). `stop()` returns cores used (1.0 = one core
 * busy all the time) per name, by the busiest threads, and by everything
 * else on the machine ('other').
 */
export function cpuMeter(roots) {
  const pidsOf = (r) => (typeof r === 'function' ? r() : tree(r));
  const t0 = performance.now();
  const m0 = machineTicks();
  const before = {};
  for (const [name, r] of Object.entries(roots)) before[name] = threadTicks(pidsOf(r));
  return {
    stop() {
      const seconds = (performance.now() - t0) / 1000;
      const m1 = machineTicks();
      const out = { seconds, cores: {}, threads: {} };
      let ours = 0;
      for (const [name, r] of Object.entries(roots)) {
        const after = threadTicks(pidsOf(r));
        let used = 0;
        for (const [k, v] of Object.entries(after.byName)) {
          const d = v - (before[name].byName[k] ?? 0);
          if (d <= 0) continue;
          used += d;
          const [, , r, ...comm] = k.split(':');
          const tkey = `${r}/${comm.join(':')}`;
          out.threads[tkey] = (out.threads[tkey] ?? 0) + d / HZ / seconds;
        }
        ours += used;
        out.cores[name] = used / HZ / seconds;
      }
      out.cores.other = Math.max(0, (m1.busy - m0.busy - ours) / HZ / seconds);
      for (const k of Object.keys(out.threads)) {
        if (out.threads[k] < 0.05) delete out.threads[k];
        else out.threads[k] = Math.round(out.threads[k] * 100) / 100;
      }
      for (const k of Object.keys(out.cores)) out.cores[k] = Math.round(out.cores[k] * 100) / 100;
      return out;
    },
  };
}
