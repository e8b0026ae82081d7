// The bench's own MQTT 3.1.1 client: pre-encoded packets, no per-message
// objects, one send per batch. Runs over any transport with
// send(Uint8Array) and a data callback (a Node socket, a MessagePort).
// Cheap enough that, with the broker in another thread or process, the
// broker is what saturates.

import { connect, subscribe, publishTemplate, StreamParser } from './wire.js';

export class RawClient {
  /**
   * @param {{ send(u8: Uint8Array): void }} transport; call client.data(u8) with what arrives
   * @param {() => number} now the clock stamped into payloads
   */
  constructor(transport, now) {
    this.transport = transport;
    this.now = now;
    this.onDelivery = () => {};
    this.nextId = 1;
    this.waiting = new Map(); // packet id or 'connack' -> resolve
    this.acks = [];
    this.received = 0;
    this.pubacks = 0;
    this.parser = new StreamParser((type, flags, buf, start, end) => this.#packet(type, flags, buf, start, end));
  }

  #id() {
    const id = this.nextId;
    this.nextId = id === 65535 ? 1 : id + 1;
    return id;
  }

  data(u8) {
    this.dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
    this.parser.push(u8);
    if (this.acks.length) {
      const n = this.acks.length;
      const out = new Uint8Array(4 * n);
      for (let i = 0; i < n; i++) {
        const id = this.acks[i];
        out[4 * i] = 0x40;
        out[4 * i + 1] = 2;
        out[4 * i + 2] = id >> 8;
        out[4 * i + 3] = id & 0xff;
      }
      this.acks.length = 0;
      this.transport.send(out);
    }
  }

  #packet(type, flags, buf, start, end) {
    if (type === 3) {
      const qos = (flags >> 1) & 3;
      let p = start + 2 + ((buf[start] << 8) | buf[start + 1]);
      if (qos) {
        this.acks.push((buf[p] << 8) | buf[p + 1]);
        p += 2;
      }
      this.received++;
      // The parser may have joined chunks: then buf is not the chunk dv covers.
      const ts = buf.buffer === this.dv.buffer && buf.byteOffset === this.dv.byteOffset
        ? this.dv.getFloat64(p, true)
        : new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getFloat64(p, true);
      this.onDelivery(ts);
    } else if (type === 4) {
      this.pubacks++;
    } else if (type === 2) {
      const rc = buf[start + 1];
      this.#settle('connack', rc);
    } else if (type === 9) {
      this.#settle((buf[start] << 8) | buf[start + 1], buf.slice(start + 2, end));
    }
  }

  #settle(key, value) {
    const w = this.waiting.get(key);
    if (w) {
      this.waiting.delete(key);
      w(value);
    }
  }

  #expect(key, timeoutMs = 30_000) {
    return new Promise((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`raw client: no answer for ${key} in ${timeoutMs} ms`)), timeoutMs);
      this.waiting.set(key, (v) => {
        clearTimeout(t);
        ok(v);
      });
    });
  }

  async connect(clientId, opts) {
    const answer = this.#expect('connack');
    this.transport.send(connect(clientId, opts));
    const rc = await answer;
    if (rc !== 0) throw new Error(`raw client ${clientId}: CONNACK return code ${rc}`);
  }

  /** Subscribes in packets of at most `perPacket` filters. */
  async subscribe(filters, qos, perPacket = 500) {
    for (let i = 0; i < filters.length; i += perPacket) {
      const id = this.#id();
      const answer = this.#expect(id);
      this.transport.send(subscribe(id, filters.slice(i, i + perPacket), qos));
      const codes = await answer;
      if (codes.some((c) => c === 0x80)) throw new Error('raw client: subscription refused');
    }
  }

  /** A Publisher for the Driver: `publish(count)` sends count messages in
   *  one write while `batch` is true (as MQTT.js does for what it publishes
   *  in one turn of the event loop: it corks its stream until the next
   *  tick), or in one write each when `batch` is false. */
  publisher(topic, qos, size) {
    const tpl = publishTemplate(topic, qos, size);
    const len = tpl.bytes.length;
    const fill = (out, off) => {
      out.set(tpl.bytes, off);
      if (qos) {
        const id = this.#id();
        out[off + tpl.idAt] = id >> 8;
        out[off + tpl.idAt + 1] = id & 0xff;
      }
    };
    const pub = {
      batch: true,
      publish: (count) => {
        if (pub.batch) {
          const out = new Uint8Array(len * count);
          const dv = new DataView(out.buffer);
          for (let i = 0, off = 0; i < count; i++, off += len) {
            fill(out, off);
            dv.setFloat64(off + tpl.tsAt, this.now(), true);
          }
          this.transport.send(out);
          return;
        }
        for (let i = 0; i < count; i++) {
          const out = new Uint8Array(len);
          fill(out, 0);
          new DataView(out.buffer).setFloat64(tpl.tsAt, this.now(), true);
          this.transport.send(out);
        }
      },
    };
    return pub;
  }
}
