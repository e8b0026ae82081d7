// The demo's service worker, served at /sw.js (scope /) by scripts/start.mjs.
// It precaches the whole app shell on install — the page, its modules, the
// device worker, tabmq's own modules and worker, the wasm, MQTT.js and
// uPlot — so that after one visit the demo starts with no network at all.
//
// Strategy: network first (so a rebuilt wasm or an edited module shows up
// at once during development), the cache when the network is not there.
// Everything fetched successfully is cached again as it goes.
//
// GET /__tabmq-demo/online is answered here, never by the server: the
// service worker sends a HEAD request for / to the origin and answers
// {"online": true|false}. The page's "Offline" chip asks it, because
// navigator.onLine only knows about network interfaces: it stays true when
// the server is gone. (Asked from the page, a failed probe would also log a
// network error on the page's console.)

const CACHE = 'tabmq-demo-v5';
const PROBE = '/__tabmq-demo/online';

const SHELL = [
  '/',
  '/www/demo/app.js',
  '/www/demo/bus.js',
  '/www/demo/catalog.js',
  '/www/demo/charts.js',
  '/www/demo/cloud.js',
  '/www/demo/dashboard.js',
  '/www/demo/explorer.js',
  '/www/demo/history.js',
  '/www/demo/inspector.js',
  '/www/demo/supervisor.js',
  '/www/demo/ui.js',
  '/www/demo/styles.css',
  '/www/demo/manifest.webmanifest',
  '/www/demo/icons/icon.svg',
  '/www/demo/icons/icon-192.png',
  '/www/demo/icons/icon-512.png',
  '/www/demo/icons/maskable-512.png',
  '/www/demo/devices/device.js',
  '/www/demo/devices/flash.js',
  '/www/demo/devices/models.js',
  '/www/browser/control.js',
  '/www/browser/dial.js',
  '/www/browser/follower.js',
  '/www/browser/index.js',
  '/www/browser/frames.js',
  '/www/browser/leader.js',
  '/www/browser/lifeline.js',
  '/www/browser/links.js',
  '/www/browser/options.js',
  '/www/browser/remote.js',
  '/www/browser/socket.js',
  '/www/browser/worker.js',
  '/www/shared/errors.js',
  '/www/shared/host.js',
  '/www/shared/webhooks.js',
  '/www/pkg/tabmq.js',
  '/www/pkg/tabmq_bg.wasm',
  '/node_modules/mqtt/dist/mqtt.esm.js',
  '/node_modules/uplot/dist/uPlot.esm.js',
  '/node_modules/uplot/dist/uPlot.min.css',
];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL.map((url) => new Request(url, { cache: 'reload' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith('tabmq-demo-') && key !== CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

/** Network first with a timeout for page loads; the cache otherwise. */
async function respond(request) {
  const cache = await caches.open(CACHE);
  const path = new URL(request.url).pathname;
  const isPage = request.mode === 'navigate' && (path === '/' || path === '/index.html');
  try {
    const response = await withTimeout(fetch(request), isPage ? 4000 : 8000);
    if (response.ok && response.type === 'basic') {
      cache.put(isPage ? '/' : request, response.clone()).catch(() => {});
    }
    if (response.ok || !isPage) return response;
    throw new Error(`HTTP ${response.status}`);
  } catch (err) {
    const cached = (await cache.match(isPage ? '/' : request, { ignoreSearch: isPage })) ?? (await cache.match(request));
    if (cached) return cached;
    throw err;
  }
}

/** Whether the origin answers a request for the page right now. */
async function probe() {
  let online = false;
  try {
    const response = await withTimeout(fetch('/', { method: 'HEAD', cache: 'no-store' }), 4000);
    online = response.ok;
  } catch {
    // No network, no server, or no answer in time: offline.
  }
  return new Response(JSON.stringify({ online }), {
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  });
}

function withTimeout(promise, ms) {
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('timeout')), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        ok(v);
      },
      (e) => {
        clearTimeout(timer);
        fail(e);
      },
    );
  });
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === '/sw.js') return;
  if (url.pathname === PROBE) {
    event.respondWith(probe());
    return;
  }
  event.respondWith(respond(request));
});
