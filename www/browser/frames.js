// Splits a byte stream into whole MQTT packets (spec 2.1: a fixed header
// byte, then the remaining length as a variable byte integer of 1 to 4
// bytes). Used by BrokerSocket to hand its client one packet per message
// event: MQTT.js processes a message event holding many packets far more
// slowly than the same packets in separate events.

export class PacketSplitter {
  #pending = null; // Uint8Array holding a partial packet, or null

  /** Returns the whole packets in `chunk` (plus any earlier remainder), each
   *  as its own ArrayBuffer. Bytes of an unfinished packet are kept. */
  push(chunk) {
    let buf = chunk;
    if (this.#pending) {
      buf = new Uint8Array(this.#pending.length + chunk.length);
      buf.set(this.#pending);
      buf.set(chunk, this.#pending.length);
      this.#pending = null;
    }
    const packets = [];
    let pos = 0;
    while (pos < buf.length) {
      const size = packetSize(buf, pos);
      if (size === 0 || pos + size > buf.length) break;
      // One packet that fills the whole chunk needs no copy.
      packets.push(pos === 0 && size === buf.length && buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength
        ? buf.buffer
        : buf.slice(pos, pos + size).buffer);
      pos += size;
    }
    if (pos < buf.length) this.#pending = buf.slice(pos);
    return packets;
  }
}

/** Total size of the packet starting at `pos`, or 0 if its header is not
 *  complete yet. A malformed length (5 bytes) is passed through whole, so
 *  the broker sees it and answers with the right reason code. */
export function packetSize(buf, pos) {
  let value = 0;
  for (let i = 0; i < 4; i++) {
    const at = pos + 1 + i;
    if (at >= buf.length) return 0;
    const byte = buf[at];
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return 2 + i + value;
  }
  return buf.length - pos;
}
