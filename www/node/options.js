// Checks the options of createBroker() (the Node host). Errors are
// TabmqErrors with code ERR_TABMQ_OPTION that name the option. The core
// checks the ranges of its own options again (src/wasm/options.rs); here we
// check what it cannot: unknown names (serde-wasm-bindgen only reads the
// fields it knows, so the core never sees a misspelt one), value types (so
// the error names the option), and everything about listeners.

import { optionError } from '../shared/errors.js';
import { checkCertificates } from './certificates.js';
import { checkWebhooks } from '../shared/webhooks.js';

const BROWSER_ONLY = {
  name: 'names a broker shared by the tabs of an origin; in Node each createBroker() is its own broker',
  mode: "chooses where a browser runs the broker; in Node it runs in this process",
  hooks: 'is the URL of a module for a browser worker; in Node pass `authenticate` and `authorize` as functions',
  workerUrl: 'is for browsers; the Node host runs no worker',
  wasmUrl: 'is for browsers; the Node host reads www/pkg/tabmq_bg.wasm from disk',
};

const KNOWN = [
  'tcp', 'ws', 'tls', 'wss', 'durability', 'limits', 'sysInterval', 'queueQos0Offline', 'retainAvailable',
  'clientIdSeed', 'authenticate', 'authorize', 'maxWriteBuffer', 'bridges',
  'passwordFile', 'users', 'acl', 'allowAnonymous', 'strictClientIds',
  'maxConnectionsPerAddress', 'connectRate', 'dataDir', 'maxStoreBytes', 'http', 'coap',
  'webhooks',
];

/** Options the core takes as they are (it checks their content), with the
 *  type checked here so that the error names the option. */
const CORE_TYPED = {
  sysInterval: 'number',
  clientIdSeed: 'number',
  queueQos0Offline: 'boolean',
  retainAvailable: 'boolean',
  passwordFile: 'string',
  acl: 'string',
  allowAnonymous: 'boolean',
  strictClientIds: 'boolean',
};

/** The access options `setAccess()` takes (a subset of CORE_TYPED, plus `users`). */
const ACCESS = ['passwordFile', 'users', 'acl', 'allowAnonymous'];

/** Listener options of each transport. */
const LISTENER_KEYS = {
  tcp: ['port', 'host'],
  ws: ['port', 'host', 'path'],
  tls: ['port', 'host', 'cert', 'key', 'ca', 'requireCertificate', 'useIdentityAsUsername'],
  wss: ['port', 'host', 'path', 'cert', 'key', 'ca', 'requireCertificate', 'useIdentityAsUsername'],
};

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_WS_PATH = '/mqtt';
/** Bytes of unsent output after which a connection is closed as too slow,
 *  on top of what the in-flight window may hold (maxInflight whole packets,
 *  up to a session's queue budget, maxQueuedBytes): a consumer of QoS 1/2
 *  messages is not closed for what the window lets the core send it unless
 *  that is more than its queue could hold. */
const WRITE_BUFFER_SLACK = 8 * 1024 * 1024;

/** The default `maxWriteBuffer` for the limits in effect. */
export function defaultWriteBuffer(limits) {
  return WRITE_BUFFER_SLACK + Math.min(limits.maxInflight * limits.maxPacketSize, limits.maxQueuedBytes);
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Returns { listeners: [{ transport, port, host, path?, cert?, key?, ca?,
 * requireCertificate?, useIdentityAsUsername? }], core, tlsByBridge,
 * callbacks, maxWriteBuffer?, admission: { maxConnectionsPerAddress?,
 * connectRate? } } or throws a TabmqError naming the option. `limits` and
 * the content of the access options (`passwordFile`, `users`, `acl`) are
 * checked by the core (src/broker/config.rs and its access control).
 */
export function checkNodeOptions(options = {}) {
  if (!isObject(options)) throw optionError('options', 'must be an object');
  for (const key of Object.keys(options)) {
    if (key in BROWSER_ONLY) throw optionError(key, `is a browser option: it ${BROWSER_ONLY[key]}`);
    if (!KNOWN.includes(key)) throw optionError(key, `is not a createBroker option (known: ${KNOWN.join(', ')})`);
  }
  const listeners = ['tcp', 'ws', 'tls', 'wss'].flatMap((transport) => listenerList(options[transport], transport));
  if (listeners.length === 0) {
    throw optionError('tcp', 'or `ws`, `tls`, `wss` is needed: createBroker() serves MQTT on at least one listener, e.g. { tcp: { port: 1883 } }');
  }
  const storage = checkStorage(options);
  for (const [key, type] of Object.entries(CORE_TYPED)) checkType(options, key, type);
  checkUsers(options.users, 'users');
  for (const key of ['authenticate', 'authorize']) {
    if (options[key] !== undefined && typeof options[key] !== 'function') throw optionError(key, 'must be a function');
  }
  const { maxWriteBuffer } = options;
  if (maxWriteBuffer !== undefined && (!Number.isSafeInteger(maxWriteBuffer) || maxWriteBuffer < 65_536)) {
    throw optionError('maxWriteBuffer', `must be a whole number of bytes, at least 65536, got ${String(maxWriteBuffer)}`);
  }
  const admission = {
    maxConnectionsPerAddress: positiveWhole(options, 'maxConnectionsPerAddress'),
    connectRate: positiveWhole(options, 'connectRate'),
  };
  const core = { durability: storage ? storage.durability : 'memory' };
  for (const key of ['limits', ...Object.keys(CORE_TYPED), 'users']) {
    if (options[key] !== undefined) core[key] = options[key];
  }
  core.clientIdSeed ??= Math.floor(Math.random() * 2 ** 52);
  const { bridges, tlsByBridge } = splitBridges(options.bridges);
  if (bridges) core.bridges = bridges;
  return {
    listeners,
    core,
    tlsByBridge,
    callbacks: { authenticate: options.authenticate, authorize: options.authorize },
    maxWriteBuffer,
    admission,
    storage,
    http: checkHttp(options.http),
    coap: checkCoap(options.coap),
    webhooks: checkWebhooks(options.webhooks),
  };
}

const COAP_KEYS = ['port', 'host', 'maxObservations', 'maxObservationsPerAddress'];

/** `coap`: a UDP port, or { port, host, maxObservations,
 *  maxObservationsPerAddress }; null when not given. */
function checkCoap(spec) {
  if (spec === undefined || spec === null || spec === false) return null;
  const obj = typeof spec === 'number' ? { port: spec } : spec;
  if (!isObject(obj)) throw optionError('coap', `must be a port number or an object { port, host }, got ${describe(spec)}`);
  for (const key of Object.keys(obj)) {
    if (!COAP_KEYS.includes(key)) throw optionError(`coap.${key}`, `is not a coap option (known: ${COAP_KEYS.join(', ')})`);
  }
  const { port, host = DEFAULT_HOST, maxObservations = 1000, maxObservationsPerAddress = 16 } = obj;
  for (const [key, value] of [['maxObservations', maxObservations], ['maxObservationsPerAddress', maxObservationsPerAddress]]) {
    if (!Number.isInteger(value) || value < 0) throw optionError(`coap.${key}`, `must be a whole number, 0 or more, got ${describe(value)}`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw optionError('coap.port', `must be a whole number from 0 to 65535 (0 picks a free port), got ${describe(port)}`);
  }
  if (typeof host !== 'string' || host.length === 0) throw optionError('coap.host', `must be a non-empty string, got ${describe(host)}`);
  return { port, host, maxObservations, maxObservationsPerAddress };
}

/** `http`: a port, or { port, host, cert?, key?, ca?, admins? } (HTTPS
 *  with `cert` and `key`); null when not given. */
function checkHttp(spec) {
  if (spec === undefined || spec === null || spec === false) return null;
  const known = ['port', 'host', 'cert', 'key', 'ca', 'admins'];
  const obj = typeof spec === 'number' ? { port: spec } : spec;
  if (!isObject(obj)) throw optionError('http', `must be a port number or an object { ${known.join(', ')} }, got ${describe(spec)}`);
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) throw optionError(`http.${key}`, `is not an http option (known: ${known.join(', ')})`);
  }
  const { port, host = DEFAULT_HOST } = obj;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw optionError('http.port', `must be a whole number from 0 to 65535 (0 picks a free port), got ${describe(port)}`);
  }
  if (typeof host !== 'string' || host.length === 0) throw optionError('http.host', `must be a non-empty string, got ${describe(host)}`);
  const { admins = [] } = obj;
  if (!Array.isArray(admins) || admins.some((a) => typeof a !== 'string' || a.length === 0)) {
    throw optionError('http.admins', `must be an array of user names, got ${describe(admins)}`);
  }
  const secure = obj.cert !== undefined || obj.key !== undefined || obj.ca !== undefined;
  return { port, host, admins: [...admins], ...(secure ? checkCertificates(obj, 'http.') : {}) };
}

/** `dataDir`, `durability` and `maxStoreBytes`: the store's settings
 *  ({ dir, durability, maxStoreBytes }), or null to keep everything in
 *  memory. With a data directory durability is 'strict' unless given;
 *  without one it can only be 'memory'. */
function checkStorage({ dataDir, durability, maxStoreBytes }) {
  if (dataDir !== undefined && (typeof dataDir !== 'string' || dataDir === '')) {
    throw optionError('dataDir', `must be the path of a directory, got ${describe(dataDir)}`);
  }
  if (durability !== undefined && !['memory', 'relaxed', 'strict'].includes(durability)) {
    throw optionError('durability', `must be 'strict', 'relaxed' or 'memory', got ${JSON.stringify(durability)}`);
  }
  if (maxStoreBytes !== undefined && (!Number.isSafeInteger(maxStoreBytes) || maxStoreBytes < 0)) {
    throw optionError('maxStoreBytes', `must be a whole number of bytes (0: no limit), got ${describe(maxStoreBytes)}`);
  }
  if (dataDir === undefined) {
    if (durability === 'strict' || durability === 'relaxed') {
      throw optionError('durability', `'${durability}' needs \`dataDir\`, the directory the broker keeps its database in`);
    }
    if (maxStoreBytes !== undefined) throw optionError('maxStoreBytes', 'needs `dataDir`: without one nothing is stored');
    return null;
  }
  if (durability === 'memory') {
    throw optionError('durability', "'memory' keeps nothing on disk: leave out `dataDir`, or use 'strict' or 'relaxed'");
  }
  return { dir: dataDir, durability: durability ?? 'strict', maxStoreBytes: maxStoreBytes ?? 0 };
}

/** `users` must be an array (the core checks its entries). */
function checkUsers(users, name) {
  if (users !== undefined && !Array.isArray(users)) {
    throw optionError(name, `must be an array of { username, password } or { username, passwordHash }, got ${describe(users)}`);
  }
}

/** A whole number from 1 up, or undefined when not given. */
function positiveWhole(options, key) {
  const v = options[key];
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v < 1) throw optionError(key, `must be a whole number from 1, got ${describe(v)}`);
  return v;
}

/**
 * Checks the options of `broker.setAccess()`: `passwordFile` and `acl`
 * strings, `users` an array, `allowAnonymous` a boolean (the core checks
 * their content). Returns them without the ones left undefined.
 */
export function checkAccessOptions(options) {
  if (!isObject(options)) throw optionError('setAccess', `takes an object { ${ACCESS.join(', ')} }, got ${describe(options)}`);
  for (const key of Object.keys(options)) {
    if (!ACCESS.includes(key)) throw optionError(key, `is not a setAccess option (known: ${ACCESS.join(', ')})`);
  }
  for (const key of ACCESS) if (key !== 'users') checkType(options, key, CORE_TYPED[key]);
  checkUsers(options.users, 'users');
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}

/** `bridges` for the core (checked there, fields named), and each
 *  bridge's `tls` (options for Node's tls.connect) for the dialer. */
function splitBridges(list) {
  if (list === undefined) return { bridges: undefined, tlsByBridge: {} };
  if (!Array.isArray(list)) throw optionError('bridges', `must be an array of bridge objects, got ${describe(list)}`);
  const tlsByBridge = {};
  const bridges = list.map((b, i) => {
    if (!isObject(b)) throw optionError(`bridges[${i}]`, `must be an object, got ${describe(b)}`);
    const { tls, ...rest } = b;
    if (tls !== undefined) {
      if (!isObject(tls)) throw optionError(`bridges[${i}].tls`, 'must be an object of options for tls.connect (ca, cert, key, rejectUnauthorized, ...)');
      const scheme = String(b.url).split('://')[0].toLowerCase();
      if (!['mqtts', 'ssl', 'tls', 'wss'].includes(scheme)) {
        throw optionError(`bridges[${i}].tls`, `is for mqtts:// or wss:// URLs, and the url is ${JSON.stringify(b.url)}`);
      }
      tlsByBridge[b.name] = tls;
    }
    return rest;
  });
  return { bridges, tlsByBridge };
}

function checkType(options, key, type) {
  const v = options[key];
  if (v === undefined || typeof v === type) return;
  throw optionError(key, `must be a ${type}, got ${describe(v)}`);
}

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v);
  return typeof v === 'number' ? String(v) : typeof v;
}

/** `tcp`/`ws`/`tls`/`wss`: a port number, a listener object, or an array of them. */
function listenerList(spec, transport) {
  if (spec === undefined || spec === null || spec === false) return [];
  if (Array.isArray(spec)) return spec.map((one, i) => listener(one, transport, `${transport}[${i}]`));
  return [listener(spec, transport, transport)];
}

function listener(spec, transport, name) {
  const known = LISTENER_KEYS[transport];
  const obj = typeof spec === 'number' ? { port: spec } : spec;
  if (!isObject(obj)) {
    const what = transport === 'tcp' || transport === 'ws' ? 'a port number or an object' : 'an object';
    throw optionError(name, `must be ${what} { ${known.join(', ')} }, got ${describe(spec)}`);
  }
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) throw optionError(`${name}.${key}`, `is not a ${transport} listener option (known: ${known.join(', ')})`);
  }
  const { port, host = DEFAULT_HOST } = obj;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw optionError(`${name}.port`, `must be a whole number from 0 to 65535 (0 picks a free port), got ${describe(port)}`);
  }
  if (typeof host !== 'string' || host.length === 0) throw optionError(`${name}.host`, `must be a non-empty string, got ${describe(host)}`);
  const out = { transport, port, host };
  if (transport === 'ws' || transport === 'wss') out.path = wsPath(obj.path, name);
  if (transport === 'tls' || transport === 'wss') Object.assign(out, secureListener(obj, name));
  return out;
}

function wsPath(path = DEFAULT_WS_PATH, name) {
  if (typeof path !== 'string' || !path.startsWith('/') || /[?#\s]/.test(path)) {
    throw optionError(`${name}.path`, `must be a URL path starting with '/' (no query, fragment or spaces), got ${describe(path)}`);
  }
  return path;
}

/** The TLS options of a `tls` or `wss` listener: certificates (checked),
 *  `requireCertificate`, `useIdentityAsUsername` (which implies it). */
function secureListener(obj, name) {
  for (const key of ['requireCertificate', 'useIdentityAsUsername']) {
    if (obj[key] !== undefined && typeof obj[key] !== 'boolean') {
      throw optionError(`${name}.${key}`, `must be a boolean, got ${describe(obj[key])}`);
    }
  }
  const useIdentityAsUsername = obj.useIdentityAsUsername ?? false;
  const requireCertificate = useIdentityAsUsername || (obj.requireCertificate ?? false);
  const certs = checkCertificates(obj, `${name}.`);
  if (requireCertificate && certs.ca === undefined) {
    const why = useIdentityAsUsername ? 'useIdentityAsUsername' : 'requireCertificate';
    throw optionError(`${name}.ca`, `is needed with \`${why}\`: the CA(s) that sign the client certificates to accept`);
  }
  return { ...certs, requireCertificate, useIdentityAsUsername };
}
