// One simulated device = one dedicated module Worker = one MQTT.js 5 client.
//
// The page (the tab that holds the devices lock) calls broker.openPort() and
// transfers the port here; socketFromPort(port) is the WebSocket MQTT.js
// uses. The client has a persistent session (Clean Start 0, Session Expiry 1
// day) and a retained will: when the page terminates this worker (a crash:
// no DISCONNECT), the broker notices at the keep alive deadline (1.5 × 3 s)
// and publishes home/<id>/status = offline. Commands sent while the device
// is down wait in its session and arrive when it starts again.
//
// The device's own state (light on/off, set point, energy counter) lives in
// its "flash": a small IndexedDB store, so it survives reloads and restarts.

import { socketFromPort } from '/www/browser/index.js';
import mqtt from '/node_modules/mqtt/dist/mqtt.esm.js';
import { deviceById, FIRMWARE } from '../catalog.js';
import { createModel } from './models.js';
import { loadFlash, saveFlash } from './flash.js';

const KEEPALIVE = 3;
const SESSION_EXPIRY = 86_400;

let spec = null;
let brokerUrl = '';
let model = null;
let client = null;
let timer = null;
let boots = 0;
let connected = false;
let pendingSave = null;

self.onmessage = (e) => {
  const msg = e.data;
  if (msg.t === 'start') start(msg).catch((err) => report('error', String(err?.message ?? err)));
  else if (msg.t === 'port') connect(msg.port);
};

function report(t, detail) {
  self.postMessage({ t, id: spec?.id, detail });
}

async function start(msg) {
  spec = deviceById(msg.id);
  if (!spec) throw new Error(`unknown device ${msg.id}`);
  brokerUrl = msg.url;
  const flash = await loadFlash(spec.id);
  boots = (flash.boots ?? 0) + 1;
  const io = {
    now: () => Date.now(),
    publish: (metric, payload, opts) => {
      if (connected) client.publish(`home/${spec.id}/${metric}`, payload, opts);
    },
    save: (state) => {
      pendingSave = state;
    },
  };
  model = createModel(spec, flash.state, io);
  setInterval(() => {
    if (pendingSave) {
      saveFlash(spec.id, { state: pendingSave, boots }).catch(() => {});
      pendingSave = null;
    }
  }, 1000);
  saveFlash(spec.id, { state: flash.state, boots }).catch(() => {});
  connect(msg.port);
}

function connect(port) {
  const topic = (m) => `home/${spec.id}/${m}`;
  client = mqtt.connect(brokerUrl, {
    clientId: `tabmq-demo-${spec.id}`,
    protocolVersion: 5,
    clean: false,
    keepalive: KEEPALIVE,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    properties: { sessionExpiryInterval: SESSION_EXPIRY },
    will: {
      topic: topic('status'),
      payload: 'offline',
      qos: 1,
      retain: true,
      properties: { contentType: 'text/plain' },
    },
    createWebsocket: () => socketFromPort(port),
  });
  const me = client;
  me.on('connect', async (connack) => {
    connected = true;
    me.publish(topic('status'), 'online', { qos: 1, retain: true, properties: { contentType: 'text/plain' } });
    me.publish(topic('info'), JSON.stringify({
      name: spec.name,
      kind: spec.kind,
      room: spec.room,
      model: spec.model,
      firmware: FIRMWARE,
      boots,
      sessionPresent: connack.sessionPresent === true,
      connectedAt: new Date().toISOString(),
    }), { qos: 1, retain: true, properties: { contentType: 'application/json' } });
    report('connected', { sessionPresent: connack.sessionPresent === true });
    model.announce();
    // Subscribed every time (the session may already hold these): that also
    // delivers the retained state this device reacts to.
    const subs = [...model.subscriptions];
    if (model.command) subs.push(topic('set'));
    if (subs.length) await me.subscribeAsync(subs, { qos: 1 }).catch(() => {});
    if (model.tickMs > 0 && timer === null) {
      model.tick();
      timer = setInterval(() => connected && model.tick(), model.tickMs);
    }
  });
  me.on('message', (t, payload, packet) => onMessage(me, t, payload, packet));
  me.on('close', () => {
    if (me !== client) return;
    connected = false;
    report('closed');
    // Ask the page for a fresh port and come back (resuming the session).
    setTimeout(() => report('need-port'), 1500);
    me.end(true);
  });
  me.on('error', (err) => report('mqtt-error', String(err?.message ?? err)));
}

function onMessage(me, t, payload, packet) {
  const text = new TextDecoder().decode(payload);
  if (t !== `home/${spec.id}/set`) {
    model.onMessage(t, text, packet);
    return;
  }
  const props = packet.properties ?? {};
  let cmd;
  try {
    cmd = JSON.parse(text);
  } catch {
    cmd = text === 'on' || text === 'off' ? { on: text === 'on' } : text === 'toggle' ? { toggle: true } : undefined;
  }
  // Actuators take a moment: relays click, valves move.
  setTimeout(() => {
    const result = cmd === undefined ? { ok: false, error: 'payload is not JSON' } : model.command(cmd);
    if (!props.responseTopic) return;
    me.publish(props.responseTopic, JSON.stringify({ device: spec.id, ...result }), {
      qos: 1,
      properties: {
        correlationData: props.correlationData,
        contentType: 'application/json',
      },
    });
  }, model.delayMs?.() ?? 300);
}
