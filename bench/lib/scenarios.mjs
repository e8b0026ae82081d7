// Scenario definitions shared by the browser and Node suites.

/** Publishers' topics and subscribers' filters; `factor`: deliveries per publish. */
export function topology(kind, n) {
  if (kind === 'fanin') {
    return { pubs: Array.from({ length: n }, () => 'bench/fanin'), subs: [['bench/fanin']], factor: 1 };
  }
  if (kind === 'fanout') {
    return { pubs: ['bench/fanout'], subs: Array.from({ length: n }, () => ['bench/fanout']), factor: n };
  }
  if (kind === 'pairs') {
    return {
      pubs: Array.from({ length: n }, (_, i) => `bench/pair/${i}`),
      subs: Array.from({ length: n }, (_, i) => [`bench/pair/${i}`]),
      factor: 1,
    };
  }
  throw new Error(`unknown topology ${kind}`);
}

export const TARGET_RATE = 10_000;

/** The latency phase's offered rate (deliveries/s): 10,000, or half the
 *  measured saturation rate (rounded down to 1-2-5 steps) when the
 *  scenario cannot sustain 10,000 with room to spare. */
export function latencyRate(saturation) {
  if (saturation >= 2 * TARGET_RATE) return { rate: TARGET_RATE, note: '' };
  const half = saturation / 2;
  const steps = [1, 2, 5];
  let best = 100;
  for (let p = 100; p <= TARGET_RATE; p *= 10) for (const s of steps) if (s * p <= half) best = s * p;
  return { rate: best, note: `reduced: saturation ${Math.round(saturation)}/s < 2 × ${TARGET_RATE}` };
}

/** The topology sizes and saturation windows (outstanding deliveries). */
export const SIZES = {
  full: { fanin: 100, fanout: 100, pairs: 50 },
  quick: { fanin: 20, fanout: 20, pairs: 10 },
};
export const WINDOWS = { fanin: 500, fanout: 2000, pairs: 1000 };

export function label(sc) {
  const t = { fanin: `fan-in ${sc.n}→1`, fanout: `fan-out 1→${sc.n}`, pairs: `pairs ${sc.n}×1:1` }[sc.topology];
  return `${t} QoS${sc.qos} ${sc.size >= 1024 ? `${sc.size / 1024}KiB` : `${sc.size}B`}`;
}
