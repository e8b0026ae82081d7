// The tables declared once (error codes in www/shared/errors.js, limits in
// src/broker/config.rs) and everything that must agree with them: the
// `.d.ts` files, the README, and every code the sources use.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../../www/shared/errors.js';
import { loadWasm } from '../../www/shared/host.js';
import { resolveLimits } from '../../www/pkg/tabmq.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (f) => readFileSync(join(ROOT, f), 'utf8');

function filesUnder(dir, exts) {
  const out = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = join(dir, name);
    if (name === 'pkg' || name === 'node_modules') continue;
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...filesUnder(rel, exts));
    else if (exts.some((e) => name.endsWith(e))) out.push(rel);
  }
  return out;
}

test('every ERR_TABMQ_* code the sources use is in the registry', () => {
  const used = new Map();
  for (const f of [...filesUnder('src', ['.rs']), ...filesUnder('www', ['.js']), ...filesUnder('bin', ['.js'])]) {
    for (const [code] of read(f).matchAll(/ERR_TABMQ_[A-Z_]+/g)) used.set(code, f);
  }
  assert.ok(used.size >= 5, 'the scan finds codes');
  for (const [code, file] of used) assert.ok(code in ERROR_CODES, `${code} (used in ${file}) is in ERROR_CODES`);
});

test('the TabmqErrorCode union is exactly the registry, and the README lists every code', () => {
  const dts = read('www/shared/errors.d.ts');
  const union = dts.slice(dts.indexOf('export type TabmqErrorCode'), dts.indexOf(';', dts.indexOf('export type TabmqErrorCode')));
  const inUnion = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]);
  assert.deepEqual(inUnion, Object.keys(ERROR_CODES));
  const readme = read('README.md');
  for (const code of Object.keys(ERROR_CODES)) assert.ok(readme.includes(`\`${code}\``), `README.md mentions ${code}`);
});

test('the limits of the .d.ts, the README and docs/node.md are exactly the core\'s table', async () => {
  await loadWasm(readFileSync(join(ROOT, 'www/pkg/tabmq_bg.wasm')));
  const table = resolveLimits({});
  const names = table.map((l) => l.name);
  assert.ok(names.includes('maxInflight') && names.length >= 10);
  const dts = read('www/shared/types.d.ts');
  const body = dts.slice(dts.indexOf('export interface Limits {'), dts.indexOf('\n}', dts.indexOf('export interface Limits {')));
  assert.deepEqual([...body.matchAll(/^\s+(\w+)\?: number;/gm)].map((m) => m[1]), names);
  const row = read('README.md').split('\n').find((l) => l.startsWith('| `limits` |'));
  for (const n of names) assert.ok(row.includes(`\`${n}\``), `README's limits row names ${n}`);
  const nodeRow = read('docs/node.md').split('\n').find((l) => l.startsWith('| `limits` |'));
  for (const n of names) assert.ok(nodeRow.includes(`\`${n}\``), `docs/node.md's limits row names ${n}`);
});

test('resolveLimits gives the defaults, applies options, and refuses bad ones naming them', async () => {
  await loadWasm(readFileSync(join(ROOT, 'www/pkg/tabmq_bg.wasm')));
  const byName = (o) => Object.fromEntries(resolveLimits(o).map((l) => [l.name, l.value]));
  assert.equal(byName({}).maxInflight, 1024);
  assert.equal(byName({}).maxKeepAlive, undefined, 'no keep alive limit by default');
  assert.equal(byName({ limits: { maxInflight: 5, maxKeepAlive: 60 } }).maxInflight, 5);
  assert.equal(byName({ limits: { maxKeepAlive: 60 } }).maxKeepAlive, 60);
  for (const [limits, name] of [[{ maxThings: 1 }, 'limits.maxThings'], [{ maxInflight: '5' }, 'limits.maxInflight'], [{ maxInflight: 0 }, 'limits.maxInflight'], [[], 'limits']]) {
    assert.throws(() => resolveLimits({ limits }), (err) => {
      assert.equal(err.code, 'ERR_TABMQ_OPTION');
      assert.ok(err.message.includes(`\`${name}\``), err.message);
      return true;
    });
  }
});
