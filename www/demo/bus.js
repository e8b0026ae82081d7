// The page's own MQTT.js 5 client, plus what it has seen: every topic with
// its last message, count and retained flag (the explorer's tree and the
// dashboard's tiles both read this), and MQTT 5 request/response.

import mqtt from '/node_modules/mqtt/dist/mqtt.esm.js';

const decoder = new TextDecoder();

function randomHex(bytes) {
  const a = crypto.getRandomValues(new Uint8Array(bytes));
  return [...a].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** What the page knows about one topic. */
export class TopicInfo {
  constructor(topic) {
    this.topic = topic;
    this.text = '';
    this.size = 0;
    this.qos = 0;
    this.retain = false;
    /** The broker holds a retained message for it (as far as we saw). */
    this.retained = false;
    this.count = 0;
    this.lastAt = 0;
    this.properties = null;
    /** The last few messages: { at, text, retain, qos }. */
    this.recent = [];
  }
}

export class Bus extends EventTarget {
  client = null;
  clientId = `dashboard-${randomHex(3)}`;
  topics = new Map();
  connected = false;
  #pending = new Map(); // correlation hex -> { resolve, reject, timer }
  #replyTopic = `reply/${this.clientId}`;

  /** Connects through the broker handle and subscribes to everything. */
  connect(broker) {
    this.client = mqtt.connect(broker.url, {
      clientId: this.clientId,
      protocolVersion: 5,
      clean: true,
      keepalive: 30,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      createWebsocket: broker.createWebsocket,
    });
    this.client.on('message', (topic, payload, packet) => this.#onMessage(topic, payload, packet));
    this.client.on('close', () => this.#setConnected(false));
    this.client.on('error', (err) => console.warn('tabmq demo: MQTT error', err?.message ?? err));
    return new Promise((ok) => {
      this.client.on('connect', async () => {
        await this.client.subscribeAsync(
          { '#': { qos: 1, rap: true }, '$SYS/#': { qos: 0, rap: true } },
        );
        this.#setConnected(true);
        ok();
      });
    });
  }

  #setConnected(value) {
    if (this.connected === value) return;
    this.connected = value;
    this.dispatchEvent(new CustomEvent('connection', { detail: value }));
  }

  get(topic) {
    return this.topics.get(topic);
  }

  text(topic) {
    return this.topics.get(topic)?.text;
  }

  json(topic) {
    const t = this.topics.get(topic);
    if (!t || t.text === '') return undefined;
    try {
      return JSON.parse(t.text);
    } catch {
      return undefined;
    }
  }

  #onMessage(topic, payload, packet) {
    const props = packet.properties ?? {};
    if (topic === this.#replyTopic && props.correlationData) {
      const key = decoder.decode(props.correlationData);
      const p = this.#pending.get(key);
      if (p) {
        this.#pending.delete(key);
        clearTimeout(p.timer);
        let body;
        try {
          body = JSON.parse(decoder.decode(payload));
        } catch {
          body = { ok: false, error: 'unreadable response' };
        }
        p.resolve(body);
      }
    }
    let info = this.topics.get(topic);
    const isNew = !info;
    if (!info) {
      info = new TopicInfo(topic);
      this.topics.set(topic, info);
    }
    const text = decoder.decode(payload);
    info.text = text;
    info.size = payload.byteLength;
    info.qos = packet.qos;
    info.retain = packet.retain === true;
    if (info.retain) info.retained = payload.byteLength > 0;
    info.count++;
    info.lastAt = Date.now();
    info.properties = Object.keys(props).length ? props : null;
    info.recent.unshift({ at: info.lastAt, text, retain: info.retain, qos: packet.qos });
    if (info.recent.length > 12) info.recent.length = 12;
    this.dispatchEvent(new CustomEvent('message', { detail: { topic, info, isNew, packet } }));
  }

  /** Publishes; resolves once the broker acknowledged (QoS 1/2) or the
   *  packet went out (QoS 0). */
  publish(topic, payload, opts = {}) {
    return this.client.publishAsync(topic, payload, opts);
  }

  /**
   * MQTT 5 request/response: publishes `body` (JSON) to `topic` with our
   * Response Topic and a fresh Correlation Data, and resolves with the
   * device's answer. The command waits in the device's session if it is down.
   */
  request(topic, body, { timeoutMs = 120_000, expirySecs = 120 } = {}) {
    const corr = randomHex(8);
    const answer = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(corr);
        reject(new Error('no answer'));
      }, timeoutMs);
      this.#pending.set(corr, { resolve, reject, timer });
    });
    this.publish(topic, JSON.stringify(body), {
      qos: 1,
      properties: {
        responseTopic: this.#replyTopic,
        correlationData: new TextEncoder().encode(corr),
        contentType: 'application/json',
        messageExpiryInterval: expirySecs,
      },
    }).catch((err) => {
      const p = this.#pending.get(corr);
      if (p) {
        this.#pending.delete(corr);
        clearTimeout(p.timer);
        p.reject(err);
      }
    });
    return answer;
  }
}
