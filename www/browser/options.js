// Checks the options of startBroker() that the page handles itself. The
// broker's own options (durability, limits, sysInterval, ...) are checked
// by the core, which names the option in its error too.

import { optionError } from '../shared/errors.js';
import { checkWebhooks } from '../shared/webhooks.js';

const MODES = ['shared', 'leader', 'worker', 'inline'];
const DURABILITIES = ['strict', 'relaxed', 'memory'];
const KNOWN = new Set([
  'name', 'mode', 'durability', 'limits', 'sysInterval', 'queueQos0Offline', 'retainAvailable',
  'clientIdSeed', 'authenticate', 'authorize', 'hooks', 'workerUrl', 'wasmUrl', 'bridges',
  'passwordFile', 'users', 'acl', 'allowAnonymous', 'strictClientIds', 'webhooks',
]);
/** Options the core reads and checks itself (their errors name them). */
const CORE = [
  'durability', 'limits', 'sysInterval', 'queueQos0Offline', 'retainAvailable', 'clientIdSeed', 'bridges',
  'passwordFile', 'users', 'acl', 'allowAnonymous', 'strictClientIds',
];

/** What only a browser cannot do with a bridge: it dials WebSocket alone.
 *  The rest (names, filters, prefixes, QoS) the core checks. */
function checkBridges(bridges) {
  if (!Array.isArray(bridges)) return;
  bridges.forEach((b, i) => {
    if (b === null || typeof b !== 'object') return;
    if (b.tls !== undefined) {
      throw optionError(`bridges[${i}].tls`, 'is for the Node host: a browser uses its own TLS for wss:// URLs');
    }
    const scheme = typeof b.url === 'string' ? b.url.split('://')[0].toLowerCase() : '';
    if (['mqtt', 'mqtts', 'tcp', 'ssl', 'tls'].includes(scheme)) {
      throw optionError(`bridges[${i}].url`, `is ${JSON.stringify(b.url)}, but a browser can only open WebSocket connections: use a ws:// or wss:// URL of the remote broker`);
    }
  });
}

/** Returns { name, mode, core, hooks, callbacks, workerUrl, wasmUrl, webhooks } or throws a TabmqError. */
export function checkOptions(options = {}) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw optionError('options', 'must be an object');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw optionError(key, `is not a tabmq option (known: ${[...KNOWN].join(', ')})`);
  }
  const name = options.name ?? 'default';
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    throw optionError('name', 'must be a non-empty string of at most 200 characters');
  }
  const mode = options.mode ?? 'shared';
  if (!MODES.includes(mode)) throw optionError('mode', `must be one of ${MODES.map((m) => `'${m}'`).join(', ')}, got ${JSON.stringify(mode)}`);
  if (options.durability !== undefined && !DURABILITIES.includes(options.durability)) {
    throw optionError('durability', `must be one of 'strict', 'relaxed', 'memory', got ${JSON.stringify(options.durability)}`);
  }
  // `limits` (names, types and ranges) are checked by the core, against its
  // table of limits (src/broker/config.rs), where the broker runs.
  for (const key of ['authenticate', 'authorize']) {
    const fn = options[key];
    if (fn === undefined) continue;
    if (typeof fn !== 'function') throw optionError(key, 'must be a function');
    if (mode !== 'inline') {
      throw optionError(key, `is a function, and functions cannot be sent to a ${mode === 'shared' ? 'SharedWorker' : 'Worker'}: `
        + "export it from a module and pass that module's URL as `hooks` (it runs in the worker), or use mode 'inline'");
    }
  }
  let hooks;
  if (options.hooks !== undefined) {
    if (!(typeof options.hooks === 'string' || options.hooks instanceof URL)) {
      throw optionError('hooks', 'must be the URL (string or URL) of a module exporting authenticate and/or authorize');
    }
    hooks = new URL(options.hooks, globalThis.location?.href).href;
  }
  checkBridges(options.bridges);
  const core = {};
  for (const key of CORE) {
    if (options[key] !== undefined) core[key] = options[key];
  }
  if (core.clientIdSeed === undefined) core.clientIdSeed = Math.floor(Math.random() * 2 ** 52);
  const urlOption = (key) => {
    const v = options[key];
    if (v === undefined) return undefined;
    if (!(typeof v === 'string' || v instanceof URL)) throw optionError(key, 'must be a URL (string or URL)');
    return new URL(v, globalThis.location?.href).href;
  };
  return {
    name,
    mode,
    core,
    hooks,
    callbacks: { authenticate: options.authenticate, authorize: options.authorize },
    workerUrl: urlOption('workerUrl'),
    wasmUrl: urlOption('wasmUrl'),
    webhooks: checkWebhooks(options.webhooks),
  };
}
