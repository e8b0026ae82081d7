// The ceiling: a worker that speaks tabmq's worker protocol (control
// messages 'init', 'connect', 'close'; one MessagePort per connection,
// ArrayBuffers transferred both ways) but has no broker behind it. It
// answers CONNECT, SUBSCRIBE and PINGREQ, acknowledges QoS 1 PUBLISHes,
// and forwards each PUBLISH frame's bytes unchanged to the ports
// subscribed to exactly that topic (no wildcards, no sessions, no queues).
// What MQTT.js clients reach through it is the most the browser's
// MessagePort path and the clients themselves allow.
//
// Two ways to flush (the worker URL's `flush` parameter):
// - 'burst' (the default, the ceiling): tabmq's own technique. Output is
//   kept until the inputs already queued in this turn (port messages) are
//   read, then each destination gets everything for it in one message.
// - 'input': one message per destination after each input (the ceiling
//   before issue 15, kept as a row to show what batching is worth).

import { StreamParser } from '../lib/wire.js';

const td = new TextDecoder();
/** topic -> Set of connections */
const topics = new Map();
const PER_INPUT = new URL(self.location.href).searchParams.get('flush') === 'input';

/** Destination Conn -> array of Uint8Array parts not yet sent. */
const out = new Map();
let flushQueued = false;
const flushChannel = new MessageChannel();
flushChannel.port1.onmessage = () => {
  flushQueued = false;
  flush();
};

/** Runs once the port messages already queued are handled (a
 *  MessageChannel message queues behind them), as the tabmq host polls. */
function flushSoon() {
  if (PER_INPUT) return flush();
  if (flushQueued) return;
  flushQueued = true;
  flushChannel.port2.postMessage(0);
}

function flush() {
  for (const [to, parts] of out) {
    let buf;
    if (parts.length === 1) buf = parts[0].slice();
    else {
      let n = 0;
      for (const p of parts) n += p.length;
      buf = new Uint8Array(n);
      let off = 0;
      for (const p of parts) {
        buf.set(p, off);
        off += p.length;
      }
    }
    if (to.port) to.port.postMessage(buf.buffer, [buf.buffer]);
  }
  out.clear();
}

class Conn {
  subs = new Set();
  constructor(port) {
    this.port = port;
    this.parser = new StreamParser((type, flags, buf, start, end, head) => this.packet(type, flags, buf, start, end, head));
    port.onmessage = (e) => {
      const data = e.data;
      if (data instanceof ArrayBuffer) {
        this.parser.push(new Uint8Array(data));
        flushSoon();
      } else if (data && data.close) this.drop();
    };
    port.postMessage({ open: true });
  }

  /** `bytes` may be a view of an input buffer (which is never reused);
   *  flush copies into a buffer of the destination's own. */
  queue(to, bytes) {
    let parts = out.get(to);
    if (!parts) out.set(to, (parts = []));
    parts.push(bytes);
  }

  packet(type, flags, buf, start, end, head) {
    switch (type) {
      case 1: // CONNECT
        this.queue(this, Uint8Array.of(0x20, 2, 0, 0));
        break;
      case 3: { // PUBLISH
        const tlen = (buf[start] << 8) | buf[start + 1];
        const topic = td.decode(buf.subarray(start + 2, start + 2 + tlen));
        const qos = (flags >> 1) & 3;
        if (qos === 1) {
          const p = start + 2 + tlen;
          this.queue(this, Uint8Array.of(0x40, 2, buf[p], buf[p + 1]));
        }
        const subs = topics.get(topic);
        if (subs) {
          // The whole frame, fixed header included.
          const frame = buf.subarray(head, end);
          for (const s of subs) this.queue(s, frame);
        }
        break;
      }
      case 8: { // SUBSCRIBE
        const id0 = buf[start];
        const id1 = buf[start + 1];
        const codes = [];
        let p = start + 2;
        while (p < end) {
          const len = (buf[p] << 8) | buf[p + 1];
          const filter = td.decode(buf.subarray(p + 2, p + 2 + len));
          const qos = buf[p + 2 + len];
          p += 3 + len;
          if (!topics.has(filter)) topics.set(filter, new Set());
          topics.get(filter).add(this);
          this.subs.add(filter);
          codes.push(qos);
        }
        this.queue(this, Uint8Array.of(0x90, 2 + codes.length, id0, id1, ...codes));
        break;
      }
      case 12: // PINGREQ
        this.queue(this, Uint8Array.of(0xd0, 0));
        break;
      case 14: // DISCONNECT
        this.drop();
        break;
      default: // PUBACK from subscribers and the rest: nothing to do
    }
  }

  drop() {
    for (const f of this.subs) topics.get(f)?.delete(this);
    this.subs.clear();
    if (this.port) {
      this.port.onmessage = null;
      this.port.close();
      this.port = null;
    }
  }
}

function serve(control) {
  control.onmessage = (e) => {
    const msg = e.data;
    if (msg.t === 'init') control.postMessage({ t: 'ready' });
    else if (msg.t === 'connect') new Conn(msg.port);
    else if (msg.t === 'stats' || msg.t === 'inspect') control.postMessage({ t: 'reply', id: msg.id, value: {} });
    else if (msg.t === 'close') control.postMessage({ t: 'reply', id: msg.id });
  };
}

if (typeof SharedWorkerGlobalScope !== 'undefined' && self instanceof SharedWorkerGlobalScope) {
  self.onconnect = (e) => serve(e.ports[0]);
} else {
  serve(self);
}
