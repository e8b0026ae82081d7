// Durable QoS 1 throughput and IndexedDB commit latency, per durability
// setting (a benchmark, never a test): a persistent subscriber is offline so
// every message is stored; one MQTT.js publisher keeps a window of publishes
// in flight in real Chromium; the broker runs in a dedicated Worker.
//
//   node bench/durable.mjs [--messages 5000] [--window 500] [--payload 16]
//
// Prints one row per durability: messages/s until the last PUBACK, and the
// store's own commit figures (p50/p99 commit time, operations per commit).

import { parseArgs } from 'node:util';
import { startBrowser } from '../tests/browser/harness.mjs';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '5000' },
    window: { type: 'string', default: '500' },
    payload: { type: 'string', default: '16' },
  },
});
const messages = Number(values.messages);
const windowSize = Number(values.window);
const payloadSize = Number(values.payload);

const b = await startBrowser();
const rows = [];
try {
  for (const durability of ['memory', 'relaxed', 'strict']) {
    const page = await b.newPage();
    await page.waitForFunction(() => window.ready === true);
    const r = await page.evaluate(async ({ durability, messages, windowSize, payloadSize }) => {
      const name = `bench-durable-${durability}-${Date.now()}`;
      const broker = await tabmq.startBroker({ name, mode: 'worker', durability, sysInterval: 0 });
      const sub = await h.connect(broker, { protocolVersion: 5, clean: false, clientId: 'sub', properties: { sessionExpiryInterval: 3600 } });
      await sub.subscribeAsync('bench/#', { qos: 1 });
      await sub.endAsync();
      const pub = await h.connect(broker, { protocolVersion: 5, clientId: 'pub' });
      const payload = new Uint8Array(payloadSize).fill(120);
      const t0 = performance.now();
      await new Promise((done) => {
        let sent = 0;
        let acked = 0;
        const next = () => {
          if (sent === messages) return;
          sent++;
          pub.publish('bench/x', payload, { qos: 1 }, () => {
            acked++;
            if (acked === messages) done();
            else next();
          });
        };
        for (let i = 0; i < windowSize; i++) next();
      });
      const ms = performance.now() - t0;
      const stats = await broker.stats();
      await broker.close();
      return { ms, storage: stats.storage };
    }, { durability, messages, windowSize, payloadSize });
    const s = r.storage;
    rows.push({
      durability,
      'msg/s': Math.round((messages / r.ms) * 1000),
      'commit p50 ms': s ? s.commitMsP50.toFixed(1) : '-',
      'commit p99 ms': s ? s.commitMsP99.toFixed(1) : '-',
      'ops/commit': s ? s.opsPerCommit.toFixed(0) : '-',
      commits: s ? s.commits : '-',
    });
    await page.close();
  }
} finally {
  await b.close();
}
console.log(`Durable QoS 1: ${messages} messages of ${payloadSize} B, ${windowSize} in flight, 1 offline persistent subscriber, dedicated Worker, Chromium`);
console.table(rows);
