// Failover time (npm run bench, not --quick): how long MQTT.js clients go
// unserved when the broker dies. Two cases, `rounds` failovers each:
//   - 'shared': the SharedWorker is killed (CDP Target.closeTarget), as the
//     OS would kill it; an idle tab started it, a client tab stays.
//   - 'leader': no SharedWorker; the leader tab closes and the next tab in
//     the election's queue takes over; a follower tab is watched (a fresh
//     tab joins after each round).
// Each round: kill, then the time until the client tab's handle says
// 'restarted' (broker serving again) and until its MQTT.js client (strict,
// persistent session, reconnectPeriod 100 ms) is connected again with its
// session, then one QoS 1 round trip through the new broker.

const PERSISTENT = { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 100 };
const PAGE = '/tests/browser/pages/blank.html';

/** In a page: joins broker `name` with a persistent client subscribed to
 *  `fo/#`; records connects and 'restarted' events. */
function join(p, name, clientId) {
  return p.evaluate(async ({ name, clientId, PERSISTENT }) => {
    window.broker = await tabmq.startBroker({ name });
    window.restarts = [];
    window.broker.addEventListener('restarted', (e) => window.restarts.push({ ...e.detail, at: Date.now() }));
    window.client = await h.connect(window.broker, { ...PERSISTENT, clientId });
    window.connects = [];
    window.client.on('connect', (ack) => window.connects.push({ at: Date.now(), sessionPresent: ack.sessionPresent }));
    await window.client.subscribeAsync('fo/#', { qos: 1 });
  }, { name, clientId, PERSISTENT });
}

/** Times one failover, seen from page `p`, started at `at` (ms since the epoch). */
async function observe(p, at) {
  const r = await (await p.waitForFunction((at) => {
    const back = window.connects.find((c) => c.at >= at);
    const restarted = window.restarts.find((x) => x.at >= at);
    return back && restarted && { back: back.at - at, serving: restarted.at - at, sessionPresent: back.sessionPresent };
  }, at, { timeout: 15_000 })).jsonValue();
  // One QoS 1 round trip through the new broker.
  await p.evaluate(async () => {
    const got = h.collect(window.client, 1, 5000);
    await window.client.publishAsync('fo/x', 'ping', { qos: 1 });
    await got;
  });
  return r;
}

function summary(samples, key) {
  const xs = samples.map((s) => s[key]).sort((a, b) => a - b);
  return { p50: xs[Math.floor((xs.length - 1) / 2)], max: xs[xs.length - 1] };
}

async function sharedRounds(b, cdp, rounds, log) {
  const name = `bench-failover-shared-${Date.now()}`;
  const idle = await b.newPage(PAGE);
  await idle.evaluate(async (name) => { window.broker = await tabmq.startBroker({ name }); }, name);
  const p = await b.newPage(PAGE);
  await join(p, name, 'fo-shared');
  const samples = [];
  for (let i = 0; i < rounds; i++) {
    const { targetInfos } = await cdp.send('Target.getTargets');
    const target = targetInfos.find((t) => t.type === 'shared_worker' && t.url.endsWith('/www/browser/worker.js'));
    const at = Date.now();
    await cdp.send('Target.closeTarget', { targetId: target.targetId });
    samples.push(await observe(p, at));
  }
  log(`failover shared: ${samples.map((s) => s.back).join(' ')} ms`);
  await p.close();
  await idle.close();
  return samples;
}

async function leaderRounds(b, rounds, log) {
  const ctx = await b.browser.newContext();
  await ctx.addInitScript(() => {
    delete window.SharedWorker;
  });
  const name = `bench-failover-leader-${Date.now()}`;
  const open = async () => {
    const p = await ctx.newPage();
    await p.goto(b.server.url + PAGE);
    await p.waitForFunction(() => window.ready === true);
    return p;
  };
  // Tabs queue for the election in the order they open: the oldest leads.
  // Each round closes it and watches the newest tab, a follower that the
  // election passes over this time; then a fresh tab joins.
  const tabs = [];
  const add = async () => {
    const p = await open();
    await join(p, name, `fo-leader-${tabs.length}-${Date.now()}`);
    tabs.push(p);
  };
  for (let i = 0; i < 3; i++) await add();
  const samples = [];
  for (let i = 0; i < rounds; i++) {
    const at = Date.now();
    await tabs.shift().close({ runBeforeUnload: false });
    samples.push(await observe(tabs[tabs.length - 1], at));
    await add();
  }
  log(`failover leader: ${samples.map((s) => s.back).join(' ')} ms`);
  await ctx.close();
  return samples;
}

/** Runs both cases in browser `b` (openBrowser({ persistent: false })). */
export async function failoverSuite(b, { rounds = 20, log = () => {} } = {}) {
  const cdp = await b.browser.newBrowserCDPSession();
  try {
    const out = {};
    for (const [mode, run] of [['shared', () => sharedRounds(b, cdp, rounds, log)], ['leader', () => leaderRounds(b, rounds, log)]]) {
      const samples = await run();
      out[mode] = {
        rounds,
        back: summary(samples, 'back'),
        serving: summary(samples, 'serving'),
        sessionResumed: samples.filter((s) => s.sessionPresent).length,
        samples,
      };
    }
    return out;
  } finally {
    await cdp.detach().catch(() => {});
  }
}

/** The report's section. */
export function failoverMarkdown(f) {
  if (!f) return '';
  const row = (label, r) => `| ${label} | ${r.rounds} | ${r.serving.p50} / ${r.serving.max} | ${r.back.p50} / ${r.back.max} | ${r.sessionResumed}/${r.rounds} |`;
  return [
    '',
    '## Failover',
    '',
    'The broker killed `rounds` times; ms from the kill to the client tab\'s handle reporting `restarted` (a new broker restored from IndexedDB and serving), and to its MQTT.js client (persistent session, strict, reconnectPeriod 100 ms) connected again, p50 / max.',
    '',
    '| case | rounds | serving again | client back | session resumed |',
    '|---|---|---|---|---|',
    row('SharedWorker killed (CDP Target.closeTarget)', f.shared),
    row('no SharedWorker: the leader tab closed', f.leader),
  ].join('\n');
}
