// Interop with MQTT clients nobody here wrote: mosquitto_pub/mosquitto_sub
// (Debian's mosquitto-clients) and Eclipse Paho for Python (paho-mqtt), in
// MQTT 3.1.1 and 5.0, each publishing and subscribing at QoS 0, 1 and 2
// through tabmq, with MQTT.js on the other end. `bash scripts/ensure-interop.sh`
// installs both; without them these tests fail and say so (set
// TABMQ_SKIP_INTEROP=1 to skip them instead).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { collect, connect, endAll, testBroker, until, urlOf, within } from './helpers.mjs';

const PAHO_SCRIPT = fileURLToPath(new URL('./interop/paho_client.py', import.meta.url));
const INSTALL = 'run `bash scripts/ensure-interop.sh` to install it';

function missing() {
  const out = [];
  if (spawnSync('mosquitto_sub', ['--help']).error) out.push('mosquitto_sub (Debian package mosquitto-clients)');
  if (spawnSync('python3', ['-c', 'import paho.mqtt']).status !== 0) out.push('python3 paho-mqtt (PyPI)');
  return out;
}
const absent = missing();
const skip = process.env.TABMQ_SKIP_INTEROP === '1' && absent.length > 0 && `TABMQ_SKIP_INTEROP=1 and missing: ${absent.join(', ')}`;

/** A child process with its output split in lines; bounded waits. */
function child(cmd, args) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let stderr = '';
  let partial = '';
  const waiters = new Set();
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (d) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop();
    lines.push(...parts);
    for (const w of [...waiters]) w();
  });
  proc.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => proc.on('close', (code) => {
    if (partial) lines.push(partial);
    resolve(code);
  }));
  return {
    lines,
    stderr: () => stderr,
    line(re, ms, what) {
      return within(ms, `${cmd}: ${what} (stderr: ${stderr.trim()})`, new Promise((resolve) => {
        const check = () => {
          const l = lines.find((x) => re.test(x));
          if (l === undefined) return;
          waiters.delete(check);
          resolve(l);
        };
        waiters.add(check);
        check();
      }));
    },
    exit(ms, what) {
      return within(ms, `${cmd} to exit after ${what} (stderr: ${stderr.trim()})`, exited);
    },
    kill: () => proc.kill('SIGKILL'),
  };
}

function run(cmd, args, ms = 10_000) {
  const c = child(cmd, args);
  return c.exit(ms, 'its work').then((code) => {
    assert.equal(code, 0, `${cmd} ${args.join(' ')} failed: ${c.stderr()}`);
  }, (err) => {
    c.kill();
    throw err;
  });
}

describe('interop', { skip }, () => {
  let broker;
  before(async () => {
    assert.deepEqual(absent, [], `interop clients missing: ${absent.join(', ')}: ${INSTALL}`);
    broker = await testBroker();
  });
  after(async () => {
    await broker?.close();
  });

  for (const [version, flag] of [['3.1.1', 'mqttv311'], ['5.0', 'mqttv5']]) {
    test(`mosquitto_pub and mosquitto_sub, MQTT ${version}, QoS 0/1/2`, { timeout: 30_000 }, async () => {
      const prefix = `mosq/${flag}`;
      const common = ['-h', '127.0.0.1', '-p', String(broker.ports.tcp), '-V', flag];
      const watcher = await connect(urlOf(broker, 'tcp'), { protocolVersion: 5 });
      const js = await connect(urlOf(broker, 'ws'), { protocolVersion: 4 });
      let sub;
      try {
        await watcher.subscribeAsync(`${prefix}/pub/#`, { qos: 2 });
        const subId = `mosq-sub-${flag}`;
        sub = child('mosquitto_sub', [...common, '-i', subId, '-q', '2', '-t', `${prefix}/#`,
          '-C', '6', '-W', '20', '-F', 'MSG|%q|%t|%p|%P']);
        // (Its output is block-buffered in a pipe: the broker says when it has subscribed.)
        await until('mosquitto_sub to subscribe', () => broker.inspect().clients
          .some((c) => c.clientId === subId && c.connected && c.subscriptions.length === 1), 10_000);
        const fromMosquitto = collect(watcher, 3, 10_000, 'mosquitto_pub\'s messages');
        for (const qos of [0, 1, 2]) {
          const props = flag === 'mqttv5' ? ['-D', 'publish', 'user-property', 'from', 'mosquitto'] : [];
          await run('mosquitto_pub', [...common, '-i', `mosq-pub-${flag}-${qos}`, '-q', String(qos),
            '-t', `${prefix}/pub/q${qos}`, '-m', `mosquitto q${qos}`, ...props]);
        }
        for (const qos of [0, 1, 2]) {
          await js.publishAsync(`${prefix}/js/q${qos}`, `mqtt.js q${qos}`, { qos });
        }
        assert.equal(await sub.exit(20_000, 'six messages'), 0, sub.stderr());
        const got = sub.lines.filter((l) => l.startsWith('MSG|')).map((l) => l.split('|'))
          .map(([, qos, topic, payload, props]) => ({ qos: Number(qos), topic, payload, props }))
          .sort((a, b) => a.topic.localeCompare(b.topic));
        assert.deepEqual(got.map((m) => [m.topic, m.payload, m.qos]), [
          [`${prefix}/js/q0`, 'mqtt.js q0', 0], [`${prefix}/js/q1`, 'mqtt.js q1', 1], [`${prefix}/js/q2`, 'mqtt.js q2', 2],
          [`${prefix}/pub/q0`, 'mosquitto q0', 0], [`${prefix}/pub/q1`, 'mosquitto q1', 1], [`${prefix}/pub/q2`, 'mosquitto q2', 2],
        ]);
        if (flag === 'mqttv5') {
          for (const m of got.filter((x) => x.topic.includes('/pub/'))) assert.equal(m.props, 'from:mosquitto');
        }
        const seen = (await fromMosquitto).sort((a, b) => a.topic.localeCompare(b.topic));
        assert.deepEqual(seen.map((m) => [m.topic, m.payload, m.qos]), [
          [`${prefix}/pub/q0`, 'mosquitto q0', 0], [`${prefix}/pub/q1`, 'mosquitto q1', 1], [`${prefix}/pub/q2`, 'mosquitto q2', 2],
        ]);
        if (flag === 'mqttv5') {
          for (const m of seen) assert.deepEqual({ ...m.properties?.userProperties }, { from: 'mosquitto' });
        }
      } finally {
        sub?.kill();
        await endAll(watcher, js);
      }
    });
  }

  for (const version of ['3.1.1', '5']) {
    for (const transport of ['tcp', 'websockets']) {
      test(`Paho Python (paho-mqtt), MQTT ${version === '5' ? '5.0' : version} over ${transport}, QoS 0/1/2`, { timeout: 30_000 }, async () => {
        const prefix = `paho-${version}-${transport}`;
        const port = transport === 'tcp' ? broker.ports.tcp : broker.ports.ws;
        const watcher = await connect(urlOf(broker, 'tcp'), { protocolVersion: 5 });
        const js = await connect(urlOf(broker, 'tcp'), { protocolVersion: 5 });
        let paho;
        try {
          await watcher.subscribeAsync(`${prefix}/paho/#`, { qos: 2 });
          const fromPaho = collect(watcher, 3, 15_000, 'paho\'s messages');
          paho = child('python3', [PAHO_SCRIPT, '--port', String(port), '--transport', transport,
            '--version', version, '--prefix', prefix, '--expect', '3', '--timeout', '15']);
          await paho.line(/^READY$/, 20_000, 'READY');
          for (const qos of [0, 1, 2]) {
            await js.publishAsync(`${prefix}/js/q${qos}`, `mqtt.js q${qos}`, { qos, properties: { userProperties: { from: 'mqtt.js' } } });
          }
          assert.equal(await paho.exit(20_000, 'its messages'), 0, paho.stderr());
          const result = JSON.parse(paho.lines.find((l) => l.startsWith('{')));
          const got = result.received.sort((a, b) => a.topic.localeCompare(b.topic));
          assert.deepEqual(got.map((m) => [m.topic, m.payload, m.qos]), [
            [`${prefix}/js/q0`, 'mqtt.js q0', 0], [`${prefix}/js/q1`, 'mqtt.js q1', 1], [`${prefix}/js/q2`, 'mqtt.js q2', 2],
            [`${prefix}/paho/q0`, 'paho q0', 0], [`${prefix}/paho/q1`, 'paho q1', 1], [`${prefix}/paho/q2`, 'paho q2', 2],
          ]);
          if (version === '5') {
            for (const m of got.filter((x) => x.topic.includes('/js/'))) assert.deepEqual(m.userProperties, [['from', 'mqtt.js']]);
            const q1 = got.find((m) => m.topic.endsWith('/paho/q1'));
            assert.deepEqual(q1.userProperties, [['from', 'paho'], ['qos', '1']]);
            assert.equal(q1.correlationData, '01ab');
          }
          const seen = (await fromPaho).sort((a, b) => a.topic.localeCompare(b.topic));
          assert.deepEqual(seen.map((m) => [m.topic, m.payload, m.qos]), [
            [`${prefix}/paho/q0`, 'paho q0', 0], [`${prefix}/paho/q1`, 'paho q1', 1], [`${prefix}/paho/q2`, 'paho q2', 2],
          ]);
          if (version === '5') {
            assert.deepEqual({ ...seen[2].properties.userProperties }, { from: 'paho', qos: '2' });
            assert.deepEqual([...seen[2].properties.correlationData], [2, 0xab]);
          }
        } finally {
          paho?.kill();
          await endAll(watcher, js);
        }
      });
    }
  }
});
