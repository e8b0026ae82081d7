// The tabmq command (bin/tabmq.js): flags, errors, log lines, shutdown.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { connect, createBroker, endAll, until, within } from './helpers.mjs';
import { CLI, runCli, startCli } from './cli-helpers.mjs';

describe('flags and errors', () => {
  test('--help prints the usage and exits 0', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: tabmq \[options\]/);
    const flags = ['--tcp', '--ws', '--host', '--ws-path', '--sys-interval', '--log', '--config',
      '--tls', '--wss', '--cert', '--key', '--cafile', '--require-certificate', '--use-identity-as-username',
      '--password-file', '--acl-file', '--allow-anonymous', '--strict-client-ids',
      '--max-connections-per-address', '--connect-rate', '--max-connections', '--max-keepalive', 'tabmq passwd'];
    for (const flag of flags) assert.match(r.stdout, new RegExp(`(^|\\s)${flag}(\\s|,|$)`, 'm'), flag);
  });

  test('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `tabmq ${version}\n`);
  });

  const bad = [
    [['--foo'], /^tabmq: unknown option --foo \(see tabmq --help\)\n$/],
    [['--tcp'], /^tabmq: option --tcp needs a value/],
    [['--tcp', 'abc'], /^tabmq: --tcp must be a port number from 0 to 65535, got 'abc'/],
    [['--ws', '70000'], /^tabmq: --ws must be a port number/],
    [['--sys-interval', '-1'], /--sys-interval/],
    [['--log', 'loud'], /^tabmq: --log must be one of error, info, debug, got 'loud'/],
    [['--ws', '0', '--ws-path', 'mqtt'], /^tabmq: --ws-path must start with '\/'/],
    [['extra'], /^tabmq: unexpected argument 'extra'/],
  ];
  for (const [args, message] of bad) {
    test(`${args.join(' ')}: one line on stderr, exit status 2`, async () => {
      const r = await runCli(args);
      assert.equal(r.code, 2);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(r.stdout, '');
    });
  }

  test('a port in use: one line naming it on stderr, exit status 1', async () => {
    const busy = net.createServer().listen(0, '127.0.0.1');
    await once(busy, 'listening');
    const { port } = busy.address();
    try {
      const r = await runCli(['--tcp', String(port)]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `tabmq: cannot listen for MQTT over TCP on 127.0.0.1:${port}: address already in use\n`);
    } finally {
      busy.close();
    }
  });
});

describe('running', () => {
  test('serves TCP and WebSocket, logs connects, disconnects and rejections, runs $SYS', { timeout: 20_000 }, async () => {
    const cli = await startCli(['--tcp', '0', '--ws', '0', '--ws-path', '/m', '--sys-interval', '1', '--max-connections', '2']);
    const clients = [];
    try {
      assert.match(cli.urls.tcp, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
      assert.match(cli.urls.ws, /^ws:\/\/127\.0\.0\.1:\d+\/m$/);
      const a = await connect(cli.urls.tcp, { protocolVersion: 5, clientId: 'cli-a' });
      const b = await connect(cli.urls.ws, { protocolVersion: 4, clientId: 'cli-b' });
      clients.push(a, b);
      await cli.waitFor(/ info connected cli-a \(MQTT 5\.0\) from tcp 127\.0\.0\.1:\d+$/);
      await cli.waitFor(/ info connected cli-b \(MQTT 3\.1\.1\) from ws 127\.0\.0\.1:\d+$/);

      // Refreshed every second: within a few, it counts both clients.
      const counts = [];
      a.on('message', (topic, payload) => topic.startsWith('$SYS/') && counts.push(payload.toString()));
      await a.subscribeAsync('$SYS/broker/clients/connected', { qos: 0 });
      await until('$SYS/broker/clients/connected to say 2', () => counts.includes('2'), 5000);

      await assert.rejects(connect(cli.urls.tcp, { protocolVersion: 5, clientId: 'cli-c' }), (err) => err.code === 0x97);
      await cli.waitFor(/ info rejected a CONNECT from tcp 127\.0\.0\.1:\d+ \(reason 0x97\)$/);

      await b.endAsync();
      await cli.waitFor(/ info disconnected cli-b from ws 127\.0\.0\.1:\d+$/);
      const dropped = await connect(cli.urls.tcp, { protocolVersion: 4, clientId: 'cli-d' });
      dropped.stream.destroy();
      await cli.waitFor(/ info disconnected cli-d from tcp 127\.0\.0\.1:\d+/);
      dropped.end(true);
    } finally {
      await endAll(clients);
      const exit = await cli.stop('SIGINT');
      assert.deepEqual(exit, { code: 0, signal: null });
    }
  });

  test('SIGTERM: MQTT 5 clients get DISCONNECT 0x8B, listeners close, exit status 0', { timeout: 20_000 }, async () => {
    const cli = await startCli(['--tcp', '0', '--ws', '0', '--log', 'debug']);
    const v5 = await connect(cli.urls.tcp, { protocolVersion: 5, clientId: 'term-5' });
    const v5ws = await connect(cli.urls.ws, { protocolVersion: 5, clientId: 'term-5ws' });
    const v4 = await connect(cli.urls.tcp, { protocolVersion: 4, clientId: 'term-4' });
    try {
      const reasons = [v5, v5ws].map((c) => within(5000, 'DISCONNECT', new Promise((resolve) => c.once('disconnect', (p) => resolve(p.reasonCode)))));
      const v4closed = within(5000, 'the 3.1.1 client to be closed', once(v4, 'close'));
      const exit = await cli.stop('SIGTERM');
      assert.deepEqual(exit, { code: 0, signal: null }, cli.stderr());
      assert.deepEqual(await Promise.all(reasons), [0x8b, 0x8b]);
      await v4closed;
      assert.ok(cli.lines.some((l) => / info SIGTERM: shutting down$/.test(l)));
      assert.ok(cli.lines.some((l) => / info disconnected term-5 from tcp .* \(reason 0x8b: server shutting down\)$/.test(l)));
      assert.ok(cli.lines.at(-1).endsWith(' info stopped'));
      const s = net.connect(Number(new URL(cli.urls.tcp).port), '127.0.0.1');
      const [err] = await within(2000, 'a refused connection', once(s, 'error'));
      assert.equal(err.code, 'ECONNREFUSED');
    } finally {
      await endAll(v5, v5ws, v4);
    }
  });

  test('--log error prints nothing for connects and disconnects', { timeout: 20_000 }, async () => {
    // No "listening" line at this level: listen on a port known to be free.
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address();
    await new Promise((r) => probe.close(r));
    const child = spawn(process.execPath, [CLI, '--tcp', String(port), '--log', 'error'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
    try {
      const c = await until('the CLI to accept connections',
        () => connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: 'quiet' }).catch(() => null), 10_000, 50);
      await c.publishAsync('x', 'y', { qos: 1 });
      await endAll(c);
      child.kill('SIGTERM');
      assert.equal(await within(10_000, 'the CLI to exit', exited), 0);
      assert.equal(out, '');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('--config FILE', () => {
  const configFile = (obj) => {
    const dir = mkdtempSync(join(tmpdir(), 'tabmq-cli-'));
    const file = join(dir, 'tabmq.json');
    writeFileSync(file, typeof obj === 'string' ? obj : JSON.stringify(obj));
    return file;
  };

  test('a config file bridges the CLI to a remote broker; --tcp on the command line overrides its listeners', { timeout: 20_000 }, async () => {
    const remote = await createBroker({ tcp: { port: 0 } });
    const file = configFile({
      tcp: { port: 1 }, // replaced by --tcp 0 below
      bridges: [{ name: 'up', url: `mqtt://127.0.0.1:${remote.ports.tcp}`, out: [{ filter: 'dev/#', qos: 1, remotePrefix: 'site/' }] }],
    });
    const cli = await startCli(['--config', file, '--tcp', '0']);
    const clients = [];
    try {
      await cli.waitFor(/ info bridge up: connected$/);
      const sub = await connect(`mqtt://127.0.0.1:${remote.ports.tcp}`, { clientId: 'remote-sub' });
      const pub = await connect(cli.urls.tcp, { clientId: 'local-pub' });
      clients.push(sub, pub);
      await sub.subscribeAsync('site/#', { qos: 1 });
      const got = new Promise((resolve) => sub.once('message', (topic, payload) => resolve(`${topic} ${payload}`)));
      await pub.publishAsync('dev/1', 'hi', { qos: 1 });
      assert.equal(await within(5000, 'the bridged message', got), 'site/dev/1 hi');
    } finally {
      await endAll(clients);
      await cli.stop('SIGINT');
      await remote.close();
    }
  });

  test('a bad config file: one line naming the problem, exit status 1 or 2', async () => {
    const notJson = await runCli(['--config', configFile('{ nope')]);
    assert.equal(notJson.code, 2);
    assert.match(notJson.stderr, /--config: .* is not JSON/);
    const badBridge = await runCli(['--config', configFile({ bridges: [{ name: 'x', url: 'http://x', out: [{ filter: '#' }] }] })]);
    assert.equal(badBridge.code, 1);
    assert.match(badBridge.stderr, /option `bridges\[0\]\.url`/);
    const missing = await runCli(['--config', '/nonexistent/tabmq.json']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--config: cannot read/);
  });
});
