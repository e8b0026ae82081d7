#!/usr/bin/env node
// The tabmq command: the broker on real TCP and WebSocket ports.
// `npx tabmq --help` says how to use it.

import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { createBroker } from '../www/node/index.js';

const USAGE = `Usage: tabmq [options]

Runs the tabmq MQTT 3.1.1 + 5.0 broker (the same WebAssembly core as in the
browser) on real TCP and WebSocket ports. Without --tcp or --ws it listens on
TCP port 1883. Messages and sessions are kept in memory only.

Options:
  --config FILE         a JSON file of createBroker() options (tcp, ws,
                        limits, bridges, ...); the flags below override it
  --tcp PORT            MQTT over TCP on PORT (0 picks a free one; repeatable)
  --ws PORT             MQTT over WebSocket on PORT (repeatable)
  --host HOST           address to listen on (default 127.0.0.1;
                        0.0.0.0 or :: for every interface)
  --ws-path PATH        WebSocket endpoint path (default /mqtt)
  --sys-interval SECS   $SYS topics refresh interval, 0 = off (default 10)
  --max-connections N   MQTT connections served at once (default 10000)
  --log LEVEL           error, info (default: a line per connect and
                        disconnect) or debug (also dropped messages)
  -v, --version         print the version and exit
  -h, --help            print this help and exit

Examples:
  npx tabmq --tcp 1883 --ws 8083
  npx tabmq --tcp 1883 --host 0.0.0.0 --log debug
  npx tabmq --config tabmq.json      (e.g. bridges to a remote broker; see README)
`;

const LEVELS = { error: 0, info: 1, debug: 2 };
const PROTOCOLS = { 3: 'MQTT 3.1', 4: 'MQTT 3.1.1', 5: 'MQTT 5.0' };

class UsageError extends Error {}

function parse(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        tcp: { type: 'string', multiple: true },
        ws: { type: 'string', multiple: true },
        config: { type: 'string' },
        host: { type: 'string' },
        'ws-path': { type: 'string' },
        'sys-interval': { type: 'string' },
        'max-connections': { type: 'string' },
        log: { type: 'string' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(parseArgsMessage(err));
  }
  const v = { host: '127.0.0.1', 'ws-path': '/mqtt', log: 'info', ...parsed.values };
  if (v.help || v.version) return v;
  if (!(v.log in LEVELS)) throw new UsageError(`--log must be one of ${Object.keys(LEVELS).join(', ')}, got '${v.log}'`);
  const tcp = (v.tcp ?? []).map((p) => port('--tcp', p));
  const ws = (v.ws ?? []).map((p) => port('--ws', p));
  if (!v['ws-path'].startsWith('/')) throw new UsageError(`--ws-path must start with '/', got '${v['ws-path']}'`);
  // The config file first; each flag given replaces what it sets.
  const options = v.config === undefined ? {} : readConfig(v.config);
  if (tcp.length) options.tcp = tcp.map((p) => ({ port: p, host: v.host }));
  if (ws.length) options.ws = ws.map((p) => ({ port: p, host: v.host, path: v['ws-path'] }));
  if (options.tcp === undefined && options.ws === undefined) options.tcp = [{ port: 1883, host: v.host }];
  if (v['sys-interval'] !== undefined) options.sysInterval = whole('--sys-interval', v['sys-interval'], 0, 86_400);
  if (v['max-connections'] !== undefined) {
    const maxConnections = whole('--max-connections', v['max-connections'], 1, 1_000_000);
    options.limits = { ...options.limits, maxConnections };
  }
  return { ...v, options };
}

/** `--config FILE`: a JSON object of createBroker() options. */
function readConfig(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--config: cannot read ${file} (${err.code ?? err.message})`);
  }
  let config;
  try {
    config = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--config: ${file} is not JSON (${err.message})`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new UsageError(`--config: ${file} must hold a JSON object of createBroker() options`);
  }
  return config;
}

/** parseArgs' errors, in one short line. */
function parseArgsMessage(err) {
  const name = /'(-[^' ]*)/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': return `unknown option ${name ?? ''}`.trim();
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': return `option ${name ?? ''} needs a value`.replace('  ', ' ');
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': return `unexpected argument '${/'([^']*)'/.exec(err.message)?.[1] ?? ''}'`;
    default: return err.message.split('\n')[0];
  }
}

function whole(flag, text, min, max) {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got '${text}'`);
  }
  return Number(text);
}

function port(flag, text) {
  if (!/^\d+$/.test(text) || Number(text) > 65_535) {
    throw new UsageError(`${flag} must be a port number from 0 to 65535, got '${text}'`);
  }
  return Number(text);
}

function hex(code) {
  return `0x${code.toString(16).padStart(2, '0')}`;
}

function logger(level) {
  const max = LEVELS[level];
  return (lvl, msg) => {
    if (LEVELS[lvl] > max) return;
    const line = `${new Date().toISOString()} ${lvl} ${msg}\n`;
    (lvl === 'error' ? process.stderr : process.stdout).write(line);
  };
}

function from(e) {
  return `${e.transport} ${e.remoteAddress}:${e.remotePort}`;
}

function watch(broker, log) {
  broker.on('connected', (e) => {
    const resumed = e.sessionPresent ? ', session resumed' : '';
    log('info', `connected ${e.clientId} (${PROTOCOLS[e.protocolVersion] ?? e.protocolVersion}) from ${from(e)}${resumed}`);
  });
  broker.on('disconnected', (e) => {
    const why = [e.reasonCode === undefined ? '' : `reason ${hex(e.reasonCode)}`, e.detail ?? ''].filter(Boolean).join(': ');
    const who = e.clientId ?? '(no CONNECT)';
    log('info', `disconnected ${who}${e.transport ? ` from ${from(e)}` : ''}${why ? ` (${why})` : ''}`);
  });
  broker.on('rejected', (e) => log('info', `rejected a CONNECT from ${from(e)} (reason ${hex(e.reasonCode)})`));
  broker.on('slowConsumer', (e) => log('info', `closed ${from(e)}: too slow, ${e.bufferedBytes} bytes unsent`));
  broker.on('dropped', (e) => log('debug', `dropped a message on '${e.topic}' for ${e.clientId} (${e.why})`));
  broker.on('warning', (err) => log('error', `listener: ${err.message}`));
  broker.on('bridge', (e) => {
    const why = [e.reasonCode === undefined ? '' : `reason ${hex(e.reasonCode)}`, e.error ?? ''].filter(Boolean).join(': ');
    log(e.state === 'refused' ? 'error' : 'info', `bridge ${e.name}: ${e.state}${why ? ` (${why})` : ''}`);
  });
}

function version() {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  return pkg.version;
}

async function main() {
  let args;
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`tabmq: ${err.message} (see tabmq --help)\n`);
    process.exit(2);
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (args.version) {
    process.stdout.write(`tabmq ${version()}\n`);
    return;
  }
  const log = logger(args.log);
  let broker;
  try {
    broker = await createBroker(args.options);
  } catch (err) {
    const message = String(err?.message ?? err).split('\n')[0];
    process.stderr.write(`${message.startsWith('tabmq:') ? '' : 'tabmq: '}${message}\n`);
    process.exit(1);
  }
  watch(broker, log);
  for (const l of broker.addresses) log('info', `listening on ${l.url}`);
  let stopping = false;
  const stop = async (signal) => {
    if (stopping) {
      log('error', `${signal} again: exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    log('info', `${signal}: shutting down`);
    await broker.close();
    log('info', 'stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

await main();
