// Static server for the browser bench: the repository's one static server
// (scripts/static-server.mjs) on a free port of 127.0.0.1, serving the
// repository root, cross-origin isolated (COOP + COEP) so that
// performance.now() has its fine resolution (5 µs in Chromium instead of
// 100 µs).

import { ROOT, serveStatic } from '../../scripts/static-server.mjs';

export { ROOT };

/** Starts the server on a free port; resolves to { url, port, close }. */
export function serve(root = ROOT) {
  return serveStatic({
    root,
    port: 0,
    cacheControl: 'no-store',
    headers: {
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cross-origin-resource-policy': 'same-origin',
    },
  });
}
