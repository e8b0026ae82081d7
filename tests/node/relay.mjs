// A byte-transparent TCP relay on 127.0.0.1 for cutting and restoring a
// network link in tests: MQTT over TCP or over WebSocket alike. Clients
// connect to the relay's port; each connection is piped to the target.

import net from 'node:net';
import { once } from 'node:events';

/** Ends a socket quietly, whatever its state. */
function drop(socket, how) {
  if (!socket || socket.destroyed) return;
  if (how === 'reset' && typeof socket.resetAndDestroy === 'function' && !socket.connecting) socket.resetAndDestroy();
  else socket.destroy();
}

/**
 * Starts a relay to targetHost:targetPort. Resolves to { port, url(scheme),
 * cut(mode), restore(), close(), connections() }:
 * - `cut('destroy')` (the default) closes both sides of every open
 *   connection and closes each new one at once (the port stays reserved);
 *   `cut('reset')` does the same with TCP resets;
 *   `cut('blackhole')` keeps every connection open but moves no byte either
 *   way, and new ones are accepted and held, as a link that went silent: only
 *   keep-alive timeouts notice it; the bytes wait in the kernel's buffers.
 * - `restore()` accepts and relays again (a blackhole's held bytes flow on).
 * - `connections()` counts the connections open through the relay.
 */
export async function startRelay(targetPort, targetHost = '127.0.0.1') {
  const pairs = new Set();
  let mode = null;

  const link = (pair) => {
    const upstream = net.connect({ port: targetPort, host: targetHost, noDelay: true });
    pair.upstream = upstream;
    const { client } = pair;
    const forget = () => pairs.delete(pair);
    upstream.on('error', () => {});
    client.on('close', (hadError) => {
      forget();
      if (hadError) drop(upstream);
      else if (!upstream.destroyed) upstream.end();
    });
    upstream.on('close', (hadError) => {
      forget();
      if (hadError) drop(client);
      else if (!client.destroyed) client.end();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  };

  const hold = (pair) => {
    pair.client.unpipe();
    pair.client.pause();
    if (pair.upstream) {
      pair.upstream.unpipe();
      pair.upstream.pause();
    }
  };

  const server = net.createServer({ noDelay: true }, (client) => {
    client.on('error', () => {});
    if (mode === 'destroy' || mode === 'reset') {
      drop(client, mode);
      return;
    }
    const pair = { client, upstream: null };
    pairs.add(pair);
    if (mode === 'blackhole') {
      client.pause();
      client.once('close', () => {
        if (!pair.upstream) pairs.delete(pair);
      });
      return;
    }
    link(pair);
  });
  server.on('error', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();

  return {
    port,
    /** The relay's URL: `mqtt://127.0.0.1:port`, or `ws://...` with scheme 'ws'. */
    url: (scheme = 'mqtt') => `${scheme}://127.0.0.1:${port}`,

    /** Cuts the link: 'destroy' (default), 'reset' or 'blackhole'. */
    cut(how = 'destroy') {
      if (!['destroy', 'reset', 'blackhole'].includes(how)) throw new Error(`relay.cut: unknown mode ${how}`);
      mode = how;
      for (const pair of [...pairs]) {
        if (how === 'blackhole') {
          hold(pair);
        } else {
          pairs.delete(pair);
          drop(pair.client, how);
          drop(pair.upstream, how);
        }
      }
    },

    /** Restores the link: new connections are relayed, held ones flow again. */
    restore() {
      const was = mode;
      mode = null;
      if (was !== 'blackhole') return;
      for (const pair of [...pairs]) {
        if (pair.client.destroyed) {
          pairs.delete(pair);
          drop(pair.upstream);
        } else if (!pair.upstream) {
          link(pair);
        } else {
          pair.client.pipe(pair.upstream);
          pair.upstream.pipe(pair.client);
        }
      }
    },

    /** How many connections are open through the relay (held ones included). */
    connections: () => pairs.size,

    /** Closes the listener and every connection. */
    async close() {
      mode = 'destroy';
      for (const pair of [...pairs]) {
        drop(pair.client);
        drop(pair.upstream);
      }
      pairs.clear();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
