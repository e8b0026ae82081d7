// How the Node host reaches a bridge's remote broker: TCP (mqtt://, tcp://),
// TLS (mqtts://, ssl://, tls://; Node's `tls`, with the bridge's `tls`
// options) or WebSocket (ws://, wss://; the `ws` package, subprotocol
// 'mqtt'). The dialer contract is BrokerHost.setDialer's (www/shared/host.js).

import net from 'node:net';
import tls from 'node:tls';
import { WebSocket } from 'ws';

const DEFAULT_PORTS = { mqtt: 1883, tcp: 1883, mqtts: 8883, ssl: 8883, tls: 8883 };
/** How long a dial may take before it counts as failed. */
const DIAL_TIMEOUT_MS = 10_000;
/** How long a closing link may take to say goodbye (a dead network path
 *  never answers) before it is destroyed. */
const CLOSE_LINGER_MS = 2_000;

/** `tlsByBridge`: bridge name -> options for tls.connect (ca, cert, key,
 *  rejectUnauthorized, servername, ...). */
export function nodeDialer(tlsByBridge = {}) {
  return ({ url, bridge }, on) => {
    const u = new URL(url);
    const scheme = u.protocol.slice(0, -1).toLowerCase();
    const tlsOptions = tlsByBridge[bridge] ?? {};
    if (scheme === 'ws' || scheme === 'wss') return dialWs(url, scheme === 'wss' ? tlsOptions : {}, on);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const port = Number(u.port) || DEFAULT_PORTS[scheme];
    const secure = scheme === 'mqtts' || scheme === 'ssl' || scheme === 'tls';
    const socket = secure
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ...tlsOptions })
      : net.connect({ host, port });
    socket.setNoDelay(true);
    socket.setTimeout(DIAL_TIMEOUT_MS, () => socket.destroy());
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      socket.setTimeout(0);
      on.open();
    });
    socket.on('data', (data) => on.bytes(data));
    // 'close' follows every 'error' and says it once.
    socket.on('error', () => {});
    socket.on('close', () => on.closed());
    return {
      send: (bytes) => socket.write(bytes),
      close: () => {
        socket.end();
        setTimeout(() => socket.destroy(), CLOSE_LINGER_MS).unref();
      },
    };
  };
}

function dialWs(url, tlsOptions, on) {
  const ws = new WebSocket(url, 'mqtt', { ...tlsOptions, handshakeTimeout: DIAL_TIMEOUT_MS });
  ws.binaryType = 'nodebuffer';
  ws.on('open', () => on.open());
  ws.on('message', (data) => on.bytes(data));
  ws.on('error', () => {});
  ws.on('close', () => on.closed());
  return {
    send: (bytes) => ws.send(bytes),
    close: () => {
      ws.close(1000);
      setTimeout(() => ws.terminate(), CLOSE_LINGER_MS).unref();
    },
  };
}
