#!/usr/bin/env node
// Checks wasm modules built for wasm32-unknown-unknown:
//   node scripts/check-wasm-imports.mjs [--probe PROBE.wasm] [MODULE.wasm ...]
//
// For every module: lists its imports and exports and fails if any import
// comes from module "env". An "env" import means something in the Rust code
// (or a dependency) expects a C/POSIX-like host the browser does not have; the
// module would fail to instantiate in a tab.
//
// The crate has no exported functions yet, so dead-code elimination leaves its
// own module nearly empty and the check above would pass vacuously. The
// probe (examples/wasm_probe.rs) exports a decode/re-encode round trip that
// links in the whole codec; with --probe this script also instantiates it
// (every import it has is a stub that fails the check if called) and
// round-trips real MQTT byte strings through it, asserting that the bytes come
// back identical and that malformed input is refused with the expected reason
// code.

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const args = process.argv.slice(2);
let probePath = null;
const modules = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--probe') probePath = args[++i];
  else modules.push(args[i]);
}
if (!probePath && modules.length === 0) {
  console.error('usage: check-wasm-imports.mjs [--probe PROBE.wasm] [MODULE.wasm ...]');
  process.exit(2);
}

let failures = 0;
function fail(msg) {
  console.error(`  FAIL ${msg}`);
  failures++;
}

function inspect(path) {
  const bytes = readFileSync(path);
  const module = new WebAssembly.Module(bytes);
  const imports = WebAssembly.Module.imports(module);
  const exports = WebAssembly.Module.exports(module);
  console.log(`${path} (${bytes.length} bytes)`);
  console.log(`  imports (${imports.length}):${imports.length ? '' : ' none'}`);
  for (const imp of imports) console.log(`    ${imp.module}.${imp.name} [${imp.kind}]`);
  // Before wasm-bindgen runs, the module also exports one __wbindgen_describe_*
  // function per binding: leave those out of the listing.
  const shown = exports.filter((e) => !e.name.startsWith('__wbindgen_describe'));
  const more = shown.length > 40 ? `, ... ${shown.length - 40} more` : '';
  const hidden = exports.length - shown.length;
  console.log(
    `  exports (${exports.length}${hidden ? `, ${hidden} __wbindgen_describe* not listed` : ''}): ` +
      shown.slice(0, 40).map((e) => `${e.name} [${e.kind}]`).join(', ') + more,
  );
  const env = imports.filter((imp) => imp.module === 'env');
  if (env.length) {
    fail(`${basename(path)} imports ${env.length} item(s) from module "env": ${env.map((i) => i.name).join(', ')}`);
  }
  return { module, imports, exports };
}

// ---- MQTT byte strings, built field by field so every length is right ------

const enc = new TextEncoder();
const u16 = (n) => [(n >> 8) & 0xff, n & 0xff];
const u32 = (n) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const varint = (n) => {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
};
const bin = (b) => [...u16(b.length), ...b];
const str = (s) => bin([...enc.encode(s)]);
const raw = (s) => [...enc.encode(s)];
const props = (...items) => {
  const body = items.flat();
  return [...varint(body.length), ...body];
};
const packet = (firstByte, ...body) => {
  const b = body.flat();
  return [firstByte, ...varint(b.length), ...b];
};

// Properties are listed in the order the encoder writes them (by identifier,
// then subscription identifiers, then user properties), so that a correct
// round trip reproduces the input exactly.
const V3_1 = 3;
const V4 = 4;
const V5 = 5;
const vectors = [
  ['3.1.1 CONNECT', V4, packet(0x10, str('MQTT'), 4, 0x02, u16(60), str('tabmq-probe'))],
  ['3.1 CONNECT (MQIsdp)', V3_1, packet(0x10, str('MQIsdp'), 3, 0x02, u16(30), str('probe31'))],
  [
    '3.1.1 CONNECT with will, user name and password',
    V4,
    packet(0x10, str('MQTT'), 4, 0xec, u16(10), str('c4'), str('tabmq/will'), bin(raw('bye')), str('user'), bin(raw('pass'))),
  ],
  [
    '5.0 CONNECT with properties, will, user name and password',
    V4, // the connection's version is not known yet: CONNECT names its own
    packet(
      0x10,
      str('MQTT'), 5, 0xee, u16(30),
      props([0x11, ...u32(3600)], [0x21, ...u16(20)], [0x26, ...str('k'), ...str('v')]),
      str('c5'),
      props([0x01, 1], [0x03, ...str('text/plain')], [0x18, ...u32(5)]),
      str('tabmq/will'), bin(raw('bye')), str('user'), bin(raw('pass')),
    ),
  ],
  ['3.1.1 CONNACK session present', V4, packet(0x20, 0x01, 0x00)],
  ['5.0 CONNACK with properties', V5, packet(0x20, 0x00, 0x00, props([0x21, ...u16(100)], [0x22, ...u16(10)]))],
  ['3.1.1 PUBLISH QoS 1 retain', V4, packet(0x33, str('tabmq/test'), u16(1), raw('hello'))],
  ['3.1.1 PUBLISH QoS 0 empty payload', V4, packet(0x30, str('a/b'))],
  [
    '5.0 PUBLISH QoS 0 with properties',
    V5,
    packet(
      0x30, str('tabmq/v5'),
      props([0x01, 1], [0x02, ...u32(60)], [0x03, ...str('application/json')], [0x26, ...str('unit'), ...str('C')]),
      raw('{"t":21.5}'),
    ),
  ],
  ['5.0 PUBLISH QoS 2 dup with topic alias', V5, packet(0x3c, str('a/b'), u16(7), props([0x23, ...u16(3)]), [0, 1, 2, 255])],
  ['3.1.1 PUBACK', V4, packet(0x40, u16(1))],
  ['5.0 PUBACK no matching subscribers', V5, packet(0x40, u16(1), 0x10)],
  ['5.0 PUBREC with reason string', V5, packet(0x50, u16(2), 0x80, props([0x1f, ...str('nope')]))],
  ['3.1.1 PUBREL', V4, packet(0x62, u16(3))],
  ['5.0 PUBCOMP', V5, packet(0x70, u16(4))],
  ['3.1.1 SUBSCRIBE', V4, packet(0x82, u16(10), str('tabmq/#'), 1, str('+/x'), 0)],
  ['5.0 SUBSCRIBE with options and identifier', V5, packet(0x82, u16(11), props([0x0b, ...varint(42)]), str('t/+'), 0x1e)],
  ['3.1.1 SUBACK', V4, packet(0x90, u16(10), 1, 0x80)],
  ['5.0 SUBACK', V5, packet(0x90, u16(11), props(), 0x02, 0x8f)],
  ['3.1.1 UNSUBSCRIBE', V4, packet(0xa2, u16(12), str('t/+'))],
  ['5.0 UNSUBACK', V5, packet(0xb0, u16(12), props(), 0x11)],
  ['PINGREQ', V4, packet(0xc0)],
  ['PINGRESP', V5, packet(0xd0)],
  ['3.1.1 DISCONNECT', V4, packet(0xe0)],
  ['5.0 DISCONNECT with will', V5, packet(0xe0, 0x04)],
  ['5.0 AUTH', V5, packet(0xf0, 0x18, props([0x15, ...str('SCRAM-SHA-1')], [0x16, ...bin(raw('abc'))]))],
];
// Several packets in one buffer, as a WebSocket message may carry them [MQTT-6.0.0-2].
const stream = vectors.filter(([, v]) => v === V4).flatMap(([, , bytes]) => bytes);
vectors.push(['3.1.1 stream of several packets', V4, stream]);

// Results other than a byte count (see examples/wasm_probe.rs).
const INCOMPLETE = -1;
const decodeError = (reason) => -(0x100 + reason);
const MALFORMED = 0x81;
const TOPIC_NAME_INVALID = 0x90;
const publish = packet(0x32, str('tabmq/test'), u16(1), raw('hello'));
const refusals = [
  ['truncated PUBLISH needs more bytes', V4, publish.slice(0, -1), INCOMPLETE],
  ['fixed header alone needs more bytes', V4, publish.slice(0, 2), INCOMPLETE],
  ['PUBLISH QoS 3', V4, [0x36, ...publish.slice(1)], decodeError(MALFORMED)],
  ['PUBLISH with a wildcard in its topic', V4, packet(0x30, str('a/+'), raw('x')), decodeError(TOPIC_NAME_INVALID)],
  ['AUTH in 3.1.1', V4, packet(0xf0), decodeError(MALFORMED)],
  ['SUBSCRIBE with bad flags', V4, packet(0x80, u16(10), str('a'), 0), decodeError(MALFORMED)],
  ['packet id 0', V4, packet(0x40, u16(0)), decodeError(MALFORMED)],
];

function checkProbe(path) {
  const { module, imports, exports } = inspect(path);
  const names = new Set(exports.map((e) => e.name));
  for (const name of ['memory', 'probe_alloc', 'probe_free', 'probe_roundtrip']) {
    if (!names.has(name)) fail(`${basename(path)} does not export ${name}`);
  }
  if (failures) return;

  // The probe links the whole crate, so it carries the wasm-bindgen layer's
  // imports too. The codec must never call them: each is a stub that records
  // the call, and any call fails the check.
  const calls = [];
  const importObject = {};
  for (const imp of imports) {
    if (imp.kind !== 'function') {
      fail(`${basename(path)} imports ${imp.module}.${imp.name}, a ${imp.kind}: only functions can be stubbed`);
      continue;
    }
    (importObject[imp.module] ??= {})[imp.name] = () => {
      calls.push(`${imp.module}.${imp.name}`);
      throw new Error(`the codec called the import ${imp.module}.${imp.name}`);
    };
  }
  if (failures) return;
  const { exports: x } = new WebAssembly.Instance(module, importObject);
  const roundtrip = (bytes, version) => {
    const input = Uint8Array.from(bytes);
    const cap = input.length + 64;
    const inPtr = x.probe_alloc(input.length);
    const outPtr = x.probe_alloc(cap);
    try {
      new Uint8Array(x.memory.buffer, inPtr, input.length).set(input);
      const n = x.probe_roundtrip(inPtr, input.length, outPtr, cap, version);
      // Read memory only after the call: it may have grown.
      return n < 0 ? n : Uint8Array.from(new Uint8Array(x.memory.buffer, outPtr, n));
    } finally {
      x.probe_free(inPtr, input.length);
      x.probe_free(outPtr, cap);
    }
  };
  const hex = (b) => Buffer.from(b).toString('hex');

  let passed = 0;
  for (const [name, version, bytes] of vectors) {
    const out = roundtrip(bytes, version);
    if (typeof out === 'number') fail(`round trip of ${name}: probe returned ${out}`);
    else if (hex(out) !== hex(bytes)) fail(`round trip of ${name}:\n      in  ${hex(bytes)}\n      out ${hex(out)}`);
    else passed++;
  }
  for (const [name, version, bytes, expected] of refusals) {
    const out = roundtrip(bytes, version);
    if (out !== expected) fail(`${name}: expected ${expected}, got ${typeof out === 'number' ? out : hex(out)}`);
    else passed++;
  }
  if (calls.length) fail(`the codec called imports: ${[...new Set(calls)].join(', ')}`);
  const total = vectors.length + refusals.length;
  console.log(`  probe: ${passed}/${total} checks passed (${vectors.length} byte-exact round trips, ${refusals.length} refusals)`);
}

for (const path of modules) inspect(path);
if (probePath) checkProbe(probePath);

if (failures) {
  console.error(`check-wasm-imports: ${failures} failure(s)`);
  process.exit(1);
}
console.log('check-wasm-imports: ok (no imports from "env")');
