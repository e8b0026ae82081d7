// Packaging: `npm pack` the package, install the tarball into a fresh Vite
// project next to mqtt, build it, and run the result in Chromium.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve } from '../browser/server.mjs';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const VITE = '7.3.8';

function run(cmd, args, cwd) {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Chromium, launched again once if its first start fails (seen once on
 *  a loaded machine: the browser closed itself during launch). */
async function launchChromium() {
  const options = { executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'] };
  try {
    return await chromium.launch(options);
  } catch (err) {
    console.log(`# Chromium failed to launch (${String(err.message).split('\n')[0]}); trying once more`);
    return chromium.launch(options);
  }
}

test('the packed tarball works in a fresh Vite app in Chromium', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tabmq-pkg-'));
  try {
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dir], ROOT))[0];
    const tarball = join(dir, packed.filename);
    const files = packed.files.map((f) => f.path);
    console.log(`# packed ${packed.filename}: ${packed.size} bytes, ${packed.unpackedSize} unpacked, ${files.length} files`);
    for (const f of ['www/browser/index.js', 'www/browser/worker.js', 'www/browser/index.d.ts', 'www/shared/host.js', 'www/pkg/tabmq_bg.wasm', 'www/pkg/tabmq.js']) {
      assert.ok(files.includes(f), `${f} is in the package`);
    }
    assert.ok(!files.some((f) => f.startsWith('tests/') || f.startsWith('src/')), 'no tests or Rust sources in the package');

    const app = join(dir, 'app');
    cpSync(join(ROOT, 'tests/package/app'), app, { recursive: true });
    const mqttVersion = JSON.parse(run('node', ['-p', 'JSON.stringify(require("mqtt/package.json").version)'], ROOT));
    writeFileSync(join(app, 'package.json'), JSON.stringify({
      name: 'tabmq-consumer', private: true, type: 'module',
      dependencies: { tabmq: `file:${tarball}`, mqtt: mqttVersion },
      devDependencies: { vite: VITE },
    }, null, 2));
    run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], app);
    run('npx', ['vite', 'build'], app);
    statSync(join(app, 'dist/index.html'));

    const server = await serve(join(app, 'dist'));
    let browser;
    try {
      browser = await launchChromium();
      const page = await browser.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      await page.goto(server.url + '/');
      await page.waitForFunction(() => window.result !== undefined, null, { timeout: 30_000 });
      const result = await page.evaluate(() => window.result);
      assert.equal(result.error, undefined, result.error);
      assert.equal(result.message, 'home/hello=world');
      console.log(`# startBroker() to first CONNACK in the built app: ${result.connackMs.toFixed(1)} ms`);
      assert.deepEqual(errors, []);
    } finally {
      // Closed whatever failed, or the test process never exits.
      await browser?.close();
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
