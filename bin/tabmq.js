#!/usr/bin/env node
// The tabmq command: the broker on real TCP, WebSocket and TLS ports.
// `npx tabmq --help` says how to use it; `npx tabmq passwd` manages
// password files (bin/passwd.js).

import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { createBroker } from '../www/node/index.js';
import { kebab, loadCore } from './core.js';

/** Other spellings of a limit's flag: Mosquitto's (`max_keepalive`). */
const LIMIT_ALIASES = { maxKeepAlive: ['max-keepalive'] };

/** The usage text; the limit flags come from the core's table (`limits`,
 *  as resolveLimits({}) returns it; null when the wasm is not built). */
function usage(limits) {
  const row = (flag, text) => (flag.length <= 20
    ? `  ${flag.padEnd(20)}  ${text}`
    : `  ${flag}\n${' '.repeat(24)}${text}`);
  const limitRows = limits === null
    ? ['  (the limit flags are read from the broker\'s wasm, which is not built:', '   run `npm run build:wasm`)']
    : limits.map((l) => {
      const flags = [kebab(l.name), ...(LIMIT_ALIASES[l.name] ?? [])].map((f) => `--${f} N`).join(', ');
      const range = `${l.min} to ${l.max}, default ${l.value ?? 'none (no limit)'}`;
      return row(flags, l.doc ? `${l.doc} (${range})` : range);
    });
  return `Usage: tabmq [options]
       tabmq passwd [-c | -D] [-b] FILE USER [PASSWORD]   (tabmq passwd --help)

Runs the tabmq MQTT 3.1.1 + 5.0 broker (the same WebAssembly core as in the
browser) on real TCP, WebSocket and TLS ports. Without --tcp, --ws, --tls or
--wss it listens on TCP port 1883. With --data DIR, sessions, subscriptions,
queued and in-flight QoS 1/2 messages and retained messages are kept in a
SQLite database in DIR and restored at the next start; without it they are
kept in memory only.

Listeners:
  --tcp PORT            MQTT over TCP on PORT (0 picks a free one; repeatable)
  --ws PORT             MQTT over WebSocket on PORT (repeatable)
  --tls PORT            MQTT over TLS (mqtts) on PORT (repeatable; needs
                        --cert and --key)
  --wss PORT            MQTT over secure WebSocket on PORT, at --ws-path
                        (repeatable; needs --cert and --key)
  --http PORT           the HTTP API on PORT: POST /api/v1/publish, GET
                        /api/v1/clients, /subscriptions, /retained, /stats,
                        DELETE /api/v1/clients/ID, GET /metrics (Prometheus),
                        /healthz, /readyz; HTTPS with --cert and --key; HTTP
                        Basic as a user of --password-file when given
  --http-admin USER     a user who may use the API's administrative
                        endpoints (clients, subscriptions, stats, metrics,
                        DELETE) when requests carry users (repeatable); any
                        user may publish and read retained messages (ACL)
  --coap PORT           a CoAP gateway on UDP PORT: POST coap://HOST/ps/TOPIC
                        publishes (?qos=, ?retain=; CON is QoS 1, NON QoS 0),
                        GET with Observe subscribes, GET reads the retained
                        message; credentials ?u=USER&p=PASSWORD
  --host HOST           address to listen on (default 127.0.0.1;
                        0.0.0.0 or :: for every interface)
  --ws-path PATH        WebSocket endpoint path (default /mqtt)
  --cert FILE           the server certificate (PEM, with its chain) for
                        --tls and --wss
  --key FILE            the server certificate's private key (PEM)
  --cafile FILE         CA certificates (PEM) that client certificates must
                        chain to
  --require-certificate clients must present a certificate signed by a CA
                        of --cafile
  --use-identity-as-username
                        the client certificate's Common Name is the
                        client's username, no password needed (implies
                        --require-certificate)

Access control (Mosquitto's file formats):
  --password-file FILE  users and password hashes, as \`tabmq passwd\` or
                        mosquitto_passwd write them; clients without a
                        username are then refused
  --acl-file FILE       a Mosquitto ACL file: which topics each user may
                        read and write
  --allow-anonymous     accept clients without a username even with a
                        password file
  --strict-client-ids   refuse client identifiers with characters other
                        than letters and digits (CONNACK 0x85)
  On SIGHUP the password, ACL and certificate files are read again.

Storage:
  --data DIR            keep the broker's state in DIR (created if missing;
                        one broker per directory)
  --durability MODE     strict (default with --data): an acknowledged QoS
                        1/2 message is on disk (fsync'd) first; relaxed:
                        acknowledged at once and written within
                        milliseconds: a crash can lose what was acknowledged
                        since the last commit
  --max-store-bytes N   past N bytes of stored data, QoS 1/2 messages that
                        would be stored are refused (0x97 quota exceeded);
                        default 0, no limit

Connections:
  --max-connections-per-address N
                        connections open at once from one address
  --connect-rate N      new connections per second from one address

Limits (from the broker core; they override --config's "limits"):
${limitRows.join('\n')}

Other:
  --config FILE         a JSON file of createBroker() options (tcp, ws,
                        limits, bridges, webhooks, ...); the flags
                        override it
  --sys-interval SECS   $SYS topics refresh interval, 0 = off (default 10)
  --log LEVEL           error, info (default: a line per connect and
                        disconnect) or debug (also dropped messages)
  -v, --version         print the version and exit
  -h, --help            print this help and exit

Examples:
  npx tabmq --tcp 1883 --ws 8083
  npx tabmq --tcp 1883 --host 0.0.0.0 --log debug
  npx tabmq --data ./tabmq-data
  npx tabmq --tls 8883 --cert server.crt --key server.key --password-file passwd
  npx tabmq --max-keepalive 60 --max-packet-size 65536
  npx tabmq --config tabmq.json      (e.g. bridges to a remote broker; see README)
`;
}

const LEVELS = { error: 0, info: 1, debug: 2 };
const PROTOCOLS = { 3: 'MQTT 3.1', 4: 'MQTT 3.1.1', 5: 'MQTT 5.0' };
/** Flags that only mean something with a --tls or --wss listener. */
const TLS_ONLY = ['cert', 'key', 'cafile', 'require-certificate', 'use-identity-as-username'];

class UsageError extends Error {}

/**
 * The command line as { help, version, log, options (for createBroker),
 * files (what SIGHUP reads again) }. `limits` is the core's limits table.
 */
function parse(argv, limits) {
  // --max-packet-size etc.: one flag per row of the core's table.
  const limitFlags = new Map();
  for (const l of limits ?? []) {
    for (const flag of [kebab(l.name), ...(LIMIT_ALIASES[l.name] ?? [])]) limitFlags.set(flag, l);
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      tokens: true,
      options: {
        ...Object.fromEntries([...limitFlags.keys()].map((flag) => [flag, { type: 'string' }])),
        tcp: { type: 'string', multiple: true },
        ws: { type: 'string', multiple: true },
        tls: { type: 'string', multiple: true },
        wss: { type: 'string', multiple: true },
        http: { type: 'string' },
        'http-admin': { type: 'string', multiple: true },
        coap: { type: 'string' },
        config: { type: 'string' },
        host: { type: 'string' },
        'ws-path': { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        cafile: { type: 'string' },
        'require-certificate': { type: 'boolean' },
        'use-identity-as-username': { type: 'boolean' },
        'password-file': { type: 'string' },
        'acl-file': { type: 'string' },
        'allow-anonymous': { type: 'boolean' },
        'strict-client-ids': { type: 'boolean' },
        'max-connections-per-address': { type: 'string' },
        'connect-rate': { type: 'string' },
        data: { type: 'string' },
        durability: { type: 'string' },
        'max-store-bytes': { type: 'string' },
        'sys-interval': { type: 'string' },
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
  const tls = (v.tls ?? []).map((p) => port('--tls', p));
  const wss = (v.wss ?? []).map((p) => port('--wss', p));
  if (!v['ws-path'].startsWith('/')) throw new UsageError(`--ws-path must start with '/', got '${v['ws-path']}'`);
  // The limit flags in the order given, so that the last of --max-keep-alive
  // and --max-keepalive wins.
  const limitValues = {};
  for (const t of parsed.tokens) {
    const l = t.kind === 'option' ? limitFlags.get(t.name) : undefined;
    if (l) limitValues[l.name] = whole(`--${t.name}`, t.value, l.min, l.max);
  }
  const http = v.http === undefined ? undefined : port('--http', v.http);
  const secureHttp = http !== undefined && (v.cert !== undefined || v.key !== undefined);
  const secure = checkTlsFlags(v, tls.length > 0 ? '--tls' : wss.length > 0 ? '--wss' : secureHttp ? '--http' : null);

  // The config file first; each flag given replaces what it sets.
  const options = v.config === undefined ? {} : readConfig(v.config);
  if (tcp.length) options.tcp = tcp.map((p) => ({ port: p, host: v.host }));
  if (ws.length) options.ws = ws.map((p) => ({ port: p, host: v.host, path: v['ws-path'] }));
  if (tls.length) options.tls = tls.map((p) => ({ port: p, host: v.host, ...secure.listener }));
  if (wss.length) options.wss = wss.map((p) => ({ port: p, host: v.host, path: v['ws-path'], ...secure.listener }));
  if (['tcp', 'ws', 'tls', 'wss'].every((t) => options[t] === undefined)) options.tcp = [{ port: 1883, host: v.host }];
  if (http !== undefined) {
    // HTTPS with --cert and --key (the certificates the MQTT listeners present).
    const { cert, key } = secure.listener;
    options.http = { port: http, host: v.host, admins: v['http-admin'] ?? [], ...(secureHttp ? { cert, key } : {}) };
  }
  if (v.coap !== undefined) options.coap = { port: port('--coap', v.coap), host: v.host };
  if (v['sys-interval'] !== undefined) options.sysInterval = whole('--sys-interval', v['sys-interval'], 0, 86_400);
  if (Object.keys(limitValues).length > 0) options.limits = { ...options.limits, ...limitValues };
  if (v['max-connections-per-address'] !== undefined) {
    options.maxConnectionsPerAddress = whole('--max-connections-per-address', v['max-connections-per-address'], 1, 4_294_967_295);
  }
  if (v['connect-rate'] !== undefined) options.connectRate = whole('--connect-rate', v['connect-rate'], 1, 4_294_967_295);
  checkStorageFlags(v, options);

  // Access control: the files' text, as the core reads it.
  const access = {};
  if (v['password-file'] !== undefined) {
    access.passwordFile = v['password-file'];
    options.passwordFile = readText('--password-file', v['password-file']);
  }
  if (v['acl-file'] !== undefined) {
    access.acl = v['acl-file'];
    options.acl = readText('--acl-file', v['acl-file']);
  }
  if (v['allow-anonymous']) options.allowAnonymous = true;
  if (v['strict-client-ids']) options.strictClientIds = true;
  return { ...v, options, files: { access, certificates: secure.files } };
}

/** --data, --durability, --max-store-bytes (into `options`). */
function checkStorageFlags(v, options) {
  if (v.data !== undefined) options.dataDir = v.data;
  const dir = options.dataDir !== undefined;
  if (v.durability !== undefined) {
    if (!['strict', 'relaxed'].includes(v.durability)) {
      throw new UsageError(`--durability must be strict or relaxed, got '${v.durability}'`);
    }
    if (!dir) throw new UsageError(`--durability ${v.durability} needs --data DIR (where the broker keeps its database)`);
    options.durability = v.durability;
  }
  if (v['max-store-bytes'] !== undefined) {
    if (!dir) throw new UsageError('--max-store-bytes needs --data DIR');
    options.maxStoreBytes = whole('--max-store-bytes', v['max-store-bytes'], 0, Number.MAX_SAFE_INTEGER);
  }
}

/**
 * The TLS flags: --cert and --key for any --tls or --wss listener, the
 * others only with one. Returns { listener: what each secure listener gets,
 * files: { cert, key, ca? } or null }.
 */
function checkTlsFlags(v, listenerFlag) {
  if (listenerFlag === null) {
    const stray = TLS_ONLY.find((f) => v[f] !== undefined);
    if (stray) throw new UsageError(`--${stray} is for --tls and --wss listeners, and there is none`);
    return { listener: {}, files: null };
  }
  const missing = ['cert', 'key'].filter((f) => v[f] === undefined).map((f) => `--${f} FILE`);
  if (missing.length > 0) {
    throw new UsageError(`${listenerFlag} needs ${missing.join(' and ')} (the server certificate and its private key, PEM)`);
  }
  for (const flag of ['require-certificate', 'use-identity-as-username']) {
    if (v[flag] && v.cafile === undefined) {
      throw new UsageError(`--${flag} needs --cafile FILE (the CA certificates that client certificates must chain to)`);
    }
  }
  const files = { cert: v.cert, key: v.key };
  if (v.cafile !== undefined) files.ca = v.cafile;
  let listener;
  try {
    listener = readCertificates(files);
  } catch (err) {
    throw new UsageError(err.message);
  }
  // --use-identity-as-username implies --require-certificate (as the
  // option useIdentityAsUsername does).
  if (v['require-certificate'] || v['use-identity-as-username']) listener.requireCertificate = true;
  if (v['use-identity-as-username']) listener.useIdentityAsUsername = true;
  return { listener, files };
}

/** The PEM text of the files { cert, key, ca? }; the error names the flag. */
function readCertificates(files) {
  const out = {};
  for (const [name, file] of Object.entries(files)) {
    try {
      out[name] = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`${name === 'ca' ? '--cafile' : `--${name}`}: cannot read ${file} (${err.code ?? err.message})`, { cause: err });
    }
  }
  return out;
}

/** A file given on the command line, as text. */
function readText(flag, file) {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file} (${err.code ?? err.message})`);
  }
}

/** `--config FILE`: a JSON object of createBroker() options. */
function readConfig(file) {
  const text = readText('--config', file);
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
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (err.message.includes('does not take an argument')) return `option ${name ?? ''} takes no value`.replace('  ', ' ');
      return `option ${name ?? ''} needs a value`.replace('  ', ' ');
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
  broker.on('denied', (e) => log('debug', `denied ${e.action} '${e.topic}' to ${e.clientId} from ${from(e)} (not authorized)`));
  broker.on('warning', (err) => log('error', /STORAGE|RECORD/.test(err.code ?? '') ? oneLine(err) : `listener: ${err.message}`));
  broker.on('storage', (e) => {
    const what = { stalled: 'writes are failing; retrying every second', recovered: 'writes go through again',
      full: `over --max-store-bytes (${e.bytes} bytes stored): QoS 1/2 messages that would be stored are refused`,
      ok: `back under --max-store-bytes (${e.bytes} bytes stored)` }[e.state] ?? e.state;
    log(e.state === 'stalled' || e.state === 'full' ? 'error' : 'info', `storage ${e.path}: ${what}`);
  });
  broker.on('bridge', (e) => {
    const why = [e.reasonCode === undefined ? '' : `reason ${hex(e.reasonCode)}`, e.error ?? ''].filter(Boolean).join(': ');
    log(e.state === 'refused' ? 'error' : 'info', `bridge ${e.name}: ${e.state}${why ? ` (${why})` : ''}`);
  });
  broker.on('webhook', (e) => {
    log(e.state === 'failing' ? 'error' : 'info', `webhook ${e.name}: ${e.state}${e.error ? ` (${e.error})` : ''}`);
  });
}

/** An error's message, in one line, without a leading `tabmq: `. */
function oneLine(err) {
  return String(err?.message ?? err).split('\n')[0].replace(/^tabmq: /, '');
}

/**
 * SIGHUP: reads the password and ACL files again (broker.setAccess) and the
 * certificate files (broker.setCertificates). Each part that cannot be read
 * or that the broker rejects keeps its previous settings and says why.
 */
async function reload(broker, files, log) {
  const { access, certificates } = files;
  const accessFiles = Object.entries(access);
  if (accessFiles.length === 0 && certificates === null) {
    log('info', 'SIGHUP: nothing to reload (no --password-file, --acl-file or TLS certificate files)');
    return;
  }
  if (accessFiles.length > 0) {
    const what = accessFiles.map(([k, file]) => `${k === 'acl' ? 'ACL file' : 'password file'} ${file}`).join(' and ');
    try {
      // Only the options given change (the others keep their value).
      const next = {};
      for (const [k, file] of accessFiles) {
        try {
          next[k] = readFileSync(file, 'utf8');
        } catch (err) {
          throw new Error(`cannot read ${file} (${err.code ?? err.message})`, { cause: err });
        }
      }
      await broker.setAccess(next);
      log('info', `reloaded ${what}`);
    } catch (err) {
      log('error', `cannot reload the ${what}: ${oneLine(err)}; the previous ones stay in effect`);
    }
  }
  if (certificates !== null) {
    const what = `certificates (${Object.values(certificates).join(', ')})`;
    try {
      await broker.setCertificates(readCertificates(certificates));
      log('info', `reloaded ${what}`);
    } catch (err) {
      log('error', `cannot reload the ${what}: ${oneLine(err)}; the previous ones stay in effect`);
    }
  }
}

function version() {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  return pkg.version;
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv[0] === 'passwd') {
    const { passwd } = await import('./passwd.js');
    process.exitCode = await passwd(argv.slice(1));
    return;
  }
  // The limits table, for the limit flags and --help.
  let limits;
  try {
    limits = (await loadCore()).resolveLimits({});
  } catch (err) {
    // No wasm: --help and --version still work.
    if (argv.includes('-h') || argv.includes('--help')) {
      process.stdout.write(usage(null));
    } else if (argv.includes('-v') || argv.includes('--version')) {
      process.stdout.write(`tabmq ${version()}\n`);
    } else {
      process.stderr.write(`tabmq: ${oneLine(err)}\n`);
      process.exitCode = 1;
    }
    return;
  }
  let args;
  try {
    args = parse(argv, limits);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`tabmq: ${err.message} (see tabmq --help)\n`);
    process.exit(2);
  }
  if (args.help) {
    process.stdout.write(usage(limits));
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
    process.stderr.write(`tabmq: ${oneLine(err)}\n`);
    process.exit(1);
  }
  watch(broker, log);
  const storage = broker.stats().storage;
  if (storage) {
    const upgraded = storage.upgradedFrom > 0 && storage.upgradedFrom < storage.schemaVersion ? `, upgraded from schema ${storage.upgradedFrom}` : '';
    log('info', `storage ${storage.path} (${storage.durability}, schema ${storage.schemaVersion}${upgraded}): restored ${storage.records - storage.corruptSkipped} records${storage.corruptSkipped ? ` (${storage.corruptSkipped} skipped: unreadable)` : ''}`);
  }
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
  // One reload at a time, in the order the signals came.
  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    if (stopping) return;
    reloading = reloading.then(() => reload(broker, args.files, log));
  });
  // Last: whoever reads these lines may signal at once.
  for (const l of broker.addresses) log('info', `listening on ${l.url}`);
}

await main();
