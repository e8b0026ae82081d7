// Persistent sessions of clients nobody here wrote, across a restart of the
// tabmq CLI with --data: Mosquitto's mosquitto_sub -c / mosquitto_pub and
// Eclipse Paho for Python (paho-mqtt, tests/node/interop/paho_persistent.py),
// in MQTT 3.1.1 and 5.0. The subscriber subscribes at QoS 1 and goes away;
// QoS 1 messages are published (and acknowledged) while it is offline; the
// broker is stopped by SIGTERM, or killed by SIGKILL (strict durability: what
// was acknowledged is on disk), and started again on the same directory; the
// subscriber comes back with the same client id and gets the messages, in
// order. `bash scripts/ensure-interop.sh` installs the clients; without them
// these tests fail and say so (TABMQ_SKIP_INTEROP=1 skips them instead).

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { within } from './helpers.mjs';
import { startCli } from './cli-helpers.mjs';

const PAHO_SCRIPT = fileURLToPath(new URL('./interop/paho_persistent.py', import.meta.url));
const INSTALL = 'run `bash scripts/ensure-interop.sh` to install it';

function missing() {
  const out = [];
  if (spawnSync('mosquitto_sub', ['--help']).error) out.push('mosquitto_sub (Debian package mosquitto-clients)');
  if (spawnSync('python3', ['-c', 'import paho.mqtt']).status !== 0) out.push('python3 paho-mqtt (PyPI)');
  return out;
}
const absent = missing();
const skip = process.env.TABMQ_SKIP_INTEROP === '1' && absent.length > 0 && `TABMQ_SKIP_INTEROP=1 and missing: ${absent.join(', ')}`;

const root = mkdtempSync(join(tmpdir(), 'tabmq-storage-interop-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Runs `cmd` to completion (bounded): { code, stdout, stderr }. */
function run(cmd, args, ms = 15_000) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => proc.on('close', (code) => resolve({ code, stdout, stderr })));
  return within(ms, `${cmd} ${args.join(' ')} to exit`, exited).catch((err) => {
    proc.kill('SIGKILL');
    throw new Error(`${err.message} (stdout: ${stdout.trim()}; stderr: ${stderr.trim()})`);
  });
}

/** Runs `cmd` and expects exit status 0. */
async function ok(cmd, args, ms) {
  const r = await run(cmd, args, ms);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r;
}

/** The port of a CLI's first TCP listener. */
function portOf(cli) {
  return new URL(cli.urls.tcp).port;
}

/**
 * The CLI on `dir`, stopped with `signal` once `offline(port)` has run, then
 * started again: returns the second one, which has logged what it restored.
 */
async function restartAround(dir, signal, offline) {
  const first = await startCli(['--data', dir, '--tcp', '0']);
  try {
    await offline(portOf(first));
  } finally {
    const stopped = await first.stop(signal);
    if (signal === 'SIGKILL') assert.equal(stopped.signal, 'SIGKILL');
    else assert.equal(stopped.code, 0, `tabmq after ${signal}: ${first.stderr()}`);
  }
  const second = await startCli(['--data', dir, '--tcp', '0']);
  const restored = await second.waitFor(/ info storage .*: restored \d+ records/);
  assert.doesNotMatch(restored, /restored 0 records/);
  return second;
}

describe('persistent sessions across a tabmq restart (--data)', { skip }, () => {
  test('the interop clients are installed', () => {
    assert.deepEqual(absent, [], `interop clients missing: ${absent.join(', ')}: ${INSTALL}`);
  });

  for (const [version, flag] of [['3.1.1', 'mqttv311'], ['5.0', 'mqttv5']]) {
    for (const signal of ['SIGTERM', 'SIGKILL']) {
      test(`mosquitto_sub -c (MQTT ${version}) gets the QoS 1 messages mosquitto_pub sent while it was offline, after ${signal} and restart (session present, MQTT-3.2.2-2); a retained message survives too`, { timeout: 30_000 }, async () => {
        const dir = mkdtempSync(join(root, `mosq-${flag}-${signal}-`));
        const id = `mosq-persistent-${flag}-${signal}`;
        const topic = `storage/mosq/${flag}/${signal}`;
        const common = (port) => ['-h', '127.0.0.1', '-p', port, '-V', flag];
        const cli = await restartAround(dir, signal, async (port) => {
          // -E: exits once the SUBACK is in (strict: the subscription is committed).
          await ok('mosquitto_sub', [...common(port), '-c', '-i', id, '-q', '1', '-t', topic, '-E']);
          for (let n = 0; n < 3; n++) {
            // mosquitto_pub -q 1 exits after the PUBACK, which waits for the commit.
            await ok('mosquitto_pub', [...common(port), '-i', `${id}-pub-${n}`, '-q', '1', '-t', topic, '-m', `mosquitto ${n}`]);
          }
          await ok('mosquitto_pub', [...common(port), '-i', `${id}-ret`, '-q', '1', '-r', '-t', `${topic}/retained`, '-m', 'kept']);
        });
        try {
          const port = portOf(cli);
          const back = await ok('mosquitto_sub', [...common(port), '-c', '-i', id, '-q', '1', '-t', topic,
            '-C', '3', '-W', '10', '-F', '%q|%t|%p']);
          assert.deepEqual(back.stdout.trim().split('\n'), [
            `1|${topic}|mosquitto 0`, `1|${topic}|mosquitto 1`, `1|${topic}|mosquitto 2`,
          ]);
          await cli.waitFor(new RegExp(`connected ${id} \\(.*\\) from .*, session resumed`));
          const retained = await ok('mosquitto_sub', [...common(port), '-q', '1', '-t', `${topic}/retained`,
            '-C', '1', '-W', '10', '-F', '%r|%t|%p']);
          assert.equal(retained.stdout.trim(), `1|${topic}/retained|kept`);
        } finally {
          assert.equal((await cli.stop()).code, 0, cli.stderr());
        }
      });
    }
  }

  for (const version of ['3.1.1', '5']) {
    for (const signal of ['SIGTERM', 'SIGKILL']) {
      const label = version === '5' ? '5.0' : version;
      test(`Paho Python (MQTT ${label}, clean_${version === '5' ? 'start' : 'session'}=False) gets the QoS 1 messages published while it was offline, after ${signal} and restart (session present, MQTT-3.2.2-2)`, { timeout: 30_000 }, async () => {
        const dir = mkdtempSync(join(root, `paho-${version}-${signal}-`));
        const id = `paho-persistent-${version}-${signal}`;
        const topic = `storage/paho/${version}/${signal}`;
        const paho = async (port, step, extra) => {
          const r = await ok('python3', [PAHO_SCRIPT, step, '--port', port, '--version', version, '--timeout', '10', ...extra]);
          return JSON.parse(r.stdout.trim().split('\n').at(-1));
        };
        const cli = await restartAround(dir, signal, async (port) => {
          const sub = await paho(port, 'subscribe', ['--id', id, '--topic', topic]);
          assert.equal(sub.sessionPresent, false);
          assert.deepEqual(sub.granted, [1]);
          const pub = await paho(port, 'publish', ['--topic', topic, '--count', '3', '--prefix', `paho-${version}`]);
          assert.equal(pub.published, 3);
        });
        try {
          const back = await paho(portOf(cli), 'receive', ['--id', id, '--count', '3']);
          assert.equal(back.sessionPresent, true, 'the session was restored');
          assert.deepEqual(back.received.map((m) => [m.topic, m.payload, m.qos]), [
            [topic, `paho-${version}-0`, 1], [topic, `paho-${version}-1`, 1], [topic, `paho-${version}-2`, 1],
          ]);
        } finally {
          assert.equal((await cli.stop()).code, 0, cli.stderr());
        }
      });
    }
  }
});
