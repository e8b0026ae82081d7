// The one static file server of the repository: `npm start` (scripts/start.mjs,
// the demo), the browser and package tests (tests/browser/server.mjs) and the
// browser bench (bench/lib/server.mjs) all serve files with it. No framework.
//
//   import { serveStatic } from './static-server.mjs';
//   const server = await serveStatic({ root, port: 0 });   // { url, port, close }
//
// It answers GET and HEAD (405 otherwise) with the MIME types browsers insist
// on (application/wasm for streaming compilation, text/javascript for module
// scripts and workers), `x-content-type-options: nosniff`, a Cache-Control of
// the caller's choice, and any extra headers the caller asks for. A path
// ending in `/` serves that folder's index.html. Paths outside the root, and
// anything that is not a file, are a 404.

import http from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, posix, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: what is served unless the caller names another root. */
export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

/** The Content-Type of a file, by its extension. */
export function contentType(file) {
  return TYPES[extname(file)] ?? 'application/octet-stream';
}

/**
 * Starts a static server; resolves to { url, port, close }.
 *
 * - `root`: the folder served (default: the repository root).
 * - `port` (default 0: a free port, reported in `port` and `url`), `host`
 *   (default 127.0.0.1).
 * - `routes`: fixed URL paths -> a file under the root, as a path string or
 *   `{ file, headers }` (headers added to that route's responses only).
 * - `prefixes`: when given, only URL paths under one of these (or a route)
 *   are served; everything else is a 404. Default: the whole root.
 * - `cacheControl`: the Cache-Control of every file (default `no-store`).
 * - `headers`: extra headers on every file served.
 * - `onRequest(pathname)`: called with the decoded path of each request.
 */
export function serveStatic({
  root = ROOT,
  port = 0,
  host = '127.0.0.1',
  routes = {},
  prefixes = null,
  cacheControl = 'no-store',
  headers = {},
  onRequest,
} = {}) {
  root = resolve(root);
  const resolvePath = (pathname) => {
    const clean = posix.normalize(pathname);
    const route = Object.hasOwn(routes, clean) ? routes[clean] : null;
    if (route) {
      const { file, headers: extra = {} } = typeof route === 'string' ? { file: route } : route;
      return { file: join(root, file), extra };
    }
    if (prefixes && !prefixes.some((p) => clean.startsWith(p))) return null;
    const file = join(root, clean);
    if (file !== root && !file.startsWith(root + sep)) return null;
    return { file: clean.endsWith('/') ? join(file, 'index.html') : file, extra: {} };
  };

  const handle = async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end('bad request');
      return;
    }
    onRequest?.(pathname);
    const found = pathname.includes('\0') ? null : resolvePath(pathname);
    let body;
    try {
      if (!found || !(await stat(found.file)).isFile()) throw new Error('not a file');
      body = await readFile(found.file);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': contentType(found.file),
      'content-length': body.byteLength,
      'cache-control': cacheControl,
      'x-content-type-options': 'nosniff',
      ...headers,
      ...found.extra,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      const actual = server.address().port;
      const shown = host.includes(':') ? `[${host}]` : host;
      ok({
        url: `http://${shown}:${actual}`,
        port: actual,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections?.();
            server.close(() => done());
          }),
      });
    });
  });
}
