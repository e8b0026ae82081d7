#!/usr/bin/env node
// `npm start`: builds what is missing, then serves the tabmq demo (an
// offline-capable IoT dashboard, www/demo/) at http://127.0.0.1:8080.
//
//   node scripts/start.mjs [--port N] [--host H]     (or PORT=N, HOST=H)
//
// The demo's routes on the repository's static server
// (scripts/static-server.mjs). It serves:
//   /                      the demo page (www/demo/index.html)
//   /sw.js                 the demo's service worker, from the root so that
//                          its scope covers /, /www/ and /node_modules/
//   /favicon.ico           the demo's icon
//   /www/...               tabmq itself (index.js, worker.js, pkg/*.wasm) and the demo
//   /node_modules/...      MQTT.js and uPlot, which the demo imports as modules
// Anything else is a 404. Tests import { serve } and start it on port 0.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, serveStatic } from './static-server.mjs';

export { ROOT };

/** Fixed routes: URL path -> file under the repository root. */
const ROUTES = {
  '/': 'www/demo/index.html',
  '/index.html': 'www/demo/index.html',
  // From the root, so that the service worker's scope covers the whole origin.
  '/sw.js': { file: 'www/demo/sw.js', headers: { 'service-worker-allowed': '/' } },
  '/favicon.ico': 'www/demo/icons/icon-192.png',
};

/** URL prefixes served straight from the repository. */
const PREFIXES = ['/www/', '/node_modules/'];

/**
 * Starts the demo server; resolves to { url, port, close }. `port: 0`
 * picks a free port (tests do that); `onRequest(pathname)` sees each request.
 */
export function serve({ port = 8080, host = '127.0.0.1', root = ROOT, onRequest } = {}) {
  return serveStatic({
    root,
    port,
    host,
    routes: ROUTES,
    prefixes: PREFIXES,
    // Always revalidate: the service worker keeps the offline copy.
    cacheControl: 'no-cache',
    onRequest,
  });
}

/** Builds the wasm and installs the npm dependencies if they are missing. */
export function ensureBuilt(root = ROOT) {
  const need = ['node_modules/mqtt/dist/mqtt.esm.js', 'node_modules/uplot/dist/uPlot.esm.js'];
  if (need.some((f) => !existsSync(join(root, f)))) {
    console.log('start: installing npm dependencies (npm install) ...');
    run('npm', ['install', '--no-audit', '--no-fund'], root);
  }
  if (!existsSync(join(root, 'www/pkg/tabmq_bg.wasm')) || !existsSync(join(root, 'www/pkg/tabmq.js'))) {
    console.log('start: www/pkg is missing, building the wasm (bash scripts/build-wasm.sh) ...');
    run('bash', ['scripts/build-wasm.sh'], root);
  }
}

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`start: \`${cmd} ${args.join(' ')}\` failed${r.error ? `: ${r.error.message}` : ''}`);
    process.exit(r.status || 1);
  }
}

function parseArgs(argv) {
  const out = { port: Number(process.env.PORT ?? 8080), host: process.env.HOST ?? '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    const value = () => inline ?? argv[++i];
    if (flag === '--port' || flag === '-p') out.port = Number(value());
    else if (flag === '--host') out.host = value();
    else if (flag === '--help' || flag === '-h') {
      console.log('usage: node scripts/start.mjs [--port N] [--host H]   (env: PORT, HOST)');
      process.exit(0);
    } else {
      console.error(`start: unknown argument ${argv[i]} (try --help)`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) {
    console.error('start: --port must be an integer from 0 to 65535');
    process.exit(2);
  }
  return out;
}

async function main() {
  const { port, host } = parseArgs(process.argv.slice(2));
  ensureBuilt();
  let server;
  try {
    server = await serve({ port, host });
  } catch (err) {
    console.error(`start: cannot listen on ${host}:${port}: ${err.code ?? err.message}`
      + (err.code === 'EADDRINUSE' ? ' (choose another with --port N or PORT=N)' : ''));
    process.exit(1);
  }
  console.log(`\n  tabmq demo: ${server.url}/\n`);
  console.log('  An IoT home of simulated devices on a broker running in your browser.');
  console.log('  Press Ctrl+C to stop.\n');
  const stop = () => server.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
