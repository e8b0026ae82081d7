// How a broker in a browser reaches a bridge's remote broker: a WebSocket
// (subprotocol 'mqtt'), the only MQTT transport a page or worker can open.
// The dialer contract is BrokerHost.setDialer's (www/shared/host.js).

export function browserDialer() {
  return ({ url }, on) => {
    const ws = new WebSocket(url, 'mqtt');
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => on.open();
    ws.onmessage = (e) => on.bytes(new Uint8Array(e.data));
    // A failed connection fires error, then close: close says it once.
    ws.onerror = () => {};
    ws.onclose = () => on.closed();
    return {
      send: (bytes) => ws.send(bytes),
      close: () => ws.close(1000),
    };
  };
}
