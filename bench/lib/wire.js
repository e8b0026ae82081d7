// Minimal MQTT 3.1.1 wire helpers for the bench's own load generator and
// for the no-broker ceiling worker. Isomorphic (Node and browsers): only
// Uint8Array and DataView. Not a general codec: it knows exactly the packets
// the bench sends and receives.

const te = new TextEncoder();

function varint(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function str(s) {
  const b = te.encode(s);
  return [b.length >> 8, b.length & 0xff, ...b];
}

function packet(first, body) {
  return Uint8Array.from([first, ...varint(body.length), ...body]);
}

/** CONNECT, MQTT 3.1.1. */
export function connect(clientId, { clean = true, keepalive = 0 } = {}) {
  const flags = clean ? 0x02 : 0x00;
  return packet(0x10, [...str('MQTT'), 4, flags, keepalive >> 8, keepalive & 0xff, ...str(clientId)]);
}

/** SUBSCRIBE with packet id `id` for `filters` (all at `qos`). */
export function subscribe(id, filters, qos) {
  const body = [id >> 8, id & 0xff];
  for (const f of filters) body.push(...str(f), qos);
  return packet(0x82, body);
}

export const DISCONNECT = Uint8Array.from([0xe0, 0]);

/**
 * A PUBLISH template: the whole packet with a zeroed payload of `size`
 * bytes. `tsAt` is where the 8-byte send timestamp (float64, little endian)
 * goes, `idAt` where the packet id goes (QoS 1), or -1.
 */
export function publishTemplate(topic, qos, size) {
  const t = str(topic);
  const varLen = t.length + (qos ? 2 : 0) + size;
  const head = [0x30 | (qos << 1), ...varint(varLen)];
  const bytes = new Uint8Array(head.length + varLen);
  bytes.set(head, 0);
  bytes.set(t, head.length);
  const idAt = qos ? head.length + t.length : -1;
  const payloadAt = head.length + t.length + (qos ? 2 : 0);
  return { bytes, idAt, tsAt: payloadAt, payloadAt, size };
}

export function puback(id) {
  return Uint8Array.from([0x40, 2, id >> 8, id & 0xff]);
}

/**
 * Splits a byte stream into packets and calls `on(type, flags, buf, start,
 * end, head)` for each (`start` is the first byte after the fixed header,
 * `end` one past the last byte of the packet, `head` its first byte). Holds an incomplete tail.
 */
export class StreamParser {
  pending = null;
  constructor(on) {
    this.on = on;
  }

  push(chunk) {
    let buf = chunk;
    if (this.pending) {
      buf = new Uint8Array(this.pending.length + chunk.length);
      buf.set(this.pending);
      buf.set(chunk, this.pending.length);
      this.pending = null;
    }
    const n = buf.length;
    let pos = 0;
    while (pos + 2 <= n) {
      let len = 0;
      let mul = 1;
      let i = pos + 1;
      let complete = false;
      for (; i < n && i < pos + 5; i++) {
        const b = buf[i];
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          i++;
          break;
        }
      }
      if (!complete || i + len > n) break;
      this.on(buf[pos] >> 4, buf[pos] & 0x0f, buf, i, i + len, pos);
      pos = i + len;
    }
    if (pos < n) this.pending = buf.slice(pos);
  }
}
