// A real Mosquitto broker (Debian's 2.0.11, /usr/sbin/mosquitto) for the
// tests: its own temp dir, config and free ports of 127.0.0.1 (MQTT over TCP
// and over WebSocket), persistence on, and stop()/start() that keep the ports
// and the dir, so sessions survive a restart. Every child still running when
// the test process exits is SIGKILLed and its dir removed.
// `bash scripts/ensure-interop.sh` installs Mosquitto.

import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';

const BINARIES = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'];
const PASSWD_BINARIES = ['/usr/bin/mosquitto_passwd', '/usr/sbin/mosquitto_passwd'];
const MAX_LOG = 4 * 1024 * 1024;

const running = new Set();
const dirs = new Set();
process.on('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** The path of the mosquitto binary, or null when it is not installed. */
export function mosquittoBinary() {
  return BINARIES.find((p) => fs.existsSync(p)) ?? null;
}

/** A TCP port of 127.0.0.1 that was free a moment ago. */
export async function freePort() {
  return (await freePorts(1))[0];
}

/** `n` distinct free ports: the servers are all open before any closes. */
async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      servers.push(s);
      await new Promise((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(() => resolve()))));
  }
}

/** Resolves true once something accepts TCP connections on 127.0.0.1:port. */
function accepts(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts Mosquitto. Options: `users` ([{ username, password }]: a password
 * file, anonymous clients refused), `extraConfig` (appended to the config),
 * `verbose` (log_type all), `autosaveInterval` (seconds; Mosquitto's default
 * is 1800, and it saves on SIGTERM anyway), `maxQueuedMessages` (100000),
 * `maxInflightMessages` (0: no limit), `bin`, `startTimeout` (ms, 5000).
 * Resolves to { tcpPort, wsPort, tcpUrl, wsUrl, dir, config, start(), stop(),
 * kill(), logs(), running() } once it accepts connections.
 */
export async function startMosquitto(opts = {}) {
  const bin = opts.bin ?? mosquittoBinary();
  if (!bin) throw new Error('mosquitto is not installed: run `bash scripts/ensure-interop.sh` (Debian package mosquitto)');
  const startTimeout = opts.startTimeout ?? 5000;
  const [tcpPort, wsPort] = await freePorts(2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabmq-mosquitto-'));
  dirs.add(dir);
  const config = path.join(dir, 'mosquitto.conf');
  const users = opts.users ?? [];

  const lines = [
    'per_listener_settings false',
    `listener ${tcpPort} 127.0.0.1`,
    'protocol mqtt',
    `listener ${wsPort} 127.0.0.1`,
    'protocol websockets',
    `allow_anonymous ${users.length === 0}`,
    'persistence true',
    `persistence_location ${dir}/`,
    'log_dest stderr',
    opts.verbose ? 'log_type all' : null,
    'log_timestamp_format %H:%M:%S',
    'set_tcp_nodelay true',
    // Tests queue a few thousand messages for offline sessions: the default
    // (1000) would drop most of them.
    `max_queued_messages ${opts.maxQueuedMessages ?? 100000}`,
    // 2.0.11's inflight quota can stall for good with many QoS 1/2 messages
    // in flight (fixed in 2.0.13; see bench/node/suite.mjs).
    `max_inflight_messages ${opts.maxInflightMessages ?? 0}`,
    opts.autosaveInterval != null ? `autosave_interval ${opts.autosaveInterval}` : null,
    // Started as root, 2.0.11 switches to the user 'mosquitto', which cannot
    // write the temp dir (nor read the password file): stay who we are.
    process.getuid?.() === 0 ? `user ${os.userInfo().username}` : null,
  ];
  if (users.length > 0) {
    const passwd = path.join(dir, 'passwd');
    const tool = PASSWD_BINARIES.find((p) => fs.existsSync(p)) ?? 'mosquitto_passwd';
    users.forEach(({ username, password }, i) => {
      const args = i === 0 ? ['-b', '-c', passwd, username, password] : ['-b', passwd, username, password];
      const r = spawnSync(tool, args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`mosquitto_passwd ${username} failed: ${r.error?.message ?? ''}${r.stderr}${r.stdout}`);
    });
    lines.push(`password_file ${passwd}`);
  }
  if (opts.extraConfig) lines.push(opts.extraConfig);
  fs.writeFileSync(config, lines.filter((l) => l != null).join('\n') + '\n');

  let log = '';
  const append = (d) => {
    log += d;
    if (log.length > MAX_LOG) log = log.slice(log.length - MAX_LOG / 2);
  };
  let child = null;
  let exited = null;

  const handle = {
    tcpPort,
    wsPort,
    tcpUrl: `mqtt://127.0.0.1:${tcpPort}`,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    dir,
    config,
    /** The captured stdout and stderr of every run so far. */
    logs: () => log,
    /** True while the child process runs. */
    running: () => child !== null,

    /** Starts it (again, on the same ports and dir); resolves once both ports accept. */
    async start() {
      if (child) return;
      append(`---- start ${bin} -c ${config}\n`);
      const proc = spawn(bin, ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      running.add(proc);
      proc.stdout.setEncoding('utf8').on('data', append);
      proc.stderr.setEncoding('utf8').on('data', append);
      // A test that forgets stop() must not keep the process alive: the
      // 'exit' handler kills the child then.
      proc.unref();
      proc.stdout.unref?.();
      proc.stderr.unref?.();
      let gone = false;
      exited = new Promise((resolve) => proc.once('exit', (code, signal) => {
        gone = true;
        running.delete(proc);
        if (child === proc) child = null;
        append(`---- exited: ${signal ?? `code ${code}`}\n`);
        resolve({ code, signal });
      }));
      proc.once('error', (err) => append(`---- spawn error: ${err.message}\n`));
      const end = Date.now() + startTimeout;
      for (const port of [tcpPort, wsPort]) {
        for (;;) {
          if (gone) throw new Error(`mosquitto exited while starting:\n${log}`);
          if (await accepts(port)) break;
          if (Date.now() > end) {
            proc.kill('SIGKILL');
            throw new Error(`mosquitto did not accept connections on 127.0.0.1:${port} within ${startTimeout} ms:\n${log}`);
          }
          await sleep(20);
        }
      }
    },

    /** SIGTERM (Mosquitto saves its persistence file), then waits for the exit; bounded. */
    async stop(ms = 5000) {
      if (!child) return;
      const proc = child;
      proc.kill('SIGTERM');
      let timer;
      const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve(null), ms)));
      const result = await Promise.race([exited, timeout]).finally(() => clearTimeout(timer));
      if (result === null) {
        proc.kill('SIGKILL');
        const keepAlive = setInterval(() => {}, 1000);
        await exited.finally(() => clearInterval(keepAlive));
        throw new Error(`mosquitto did not exit within ${ms} ms of SIGTERM (killed):\n${log}`);
      }
    },

    /** SIGKILL: a crash, nothing saved since the last autosave; waits for the exit. */
    async kill() {
      if (!child) return;
      child.kill('SIGKILL');
      // The child is unref'd: a timer keeps the process up until it is gone.
      const keepAlive = setInterval(() => {}, 1000);
      await exited.finally(() => clearInterval(keepAlive));
    },
  };
  await handle.start();
  return handle;
}
