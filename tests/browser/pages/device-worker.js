// A device in a dedicated Worker for the browser tests: an MQTT.js client
// over a port from broker.openPort(), with a will. Posts 'connected' once
// its CONNACK came and 'ended' after a clean DISCONNECT ({ t: 'end' }).
import mqtt from '/node_modules/mqtt/dist/mqtt.esm.js';
import { socketFromPort } from '/www/browser/index.js';

self.onmessage = (e) => {
  const msg = e.data;
  if (msg.t === 'start') {
    const client = mqtt.connect('ws://tabmq.invalid/', {
      clientId: msg.id,
      protocolVersion: 5,
      keepalive: 60,
      reconnectPeriod: 0,
      will: { topic: `status/${msg.id}`, payload: 'offline', qos: 1 },
      createWebsocket: () => socketFromPort(msg.port),
    });
    client.on('connect', () => postMessage({ t: 'connected' }));
    self.client = client;
  } else if (msg.t === 'end') {
    self.client.end(false, () => postMessage({ t: 'ended' }));
  }
};
