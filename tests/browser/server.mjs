// The static server of the browser and package tests: the repository's one
// static server (scripts/static-server.mjs) on a free port of 127.0.0.1,
// serving the repository root (or `root`) with nothing cached.

import { serveStatic } from '../../scripts/static-server.mjs';

/** Starts the server on a free port; resolves to { url, port, close }. */
export function serve(root) {
  return serveStatic({ root, port: 0, cacheControl: 'no-store' });
}
