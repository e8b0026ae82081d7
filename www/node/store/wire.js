// The core's storage operations as flat bytes, read and written on the JS
// side: the layout is src/store/wire.rs's (a kind byte, then the keys, then
// the record; u32/f64/u16 little-endian). A commit arrives as one buffer
// (its ticket first); what the store holds goes back at start-up as one
// buffer of put operations.

export const KIND = Object.freeze({
  PUT_SESSION: 1,
  DELETE_SESSION: 2,
  PUT_SUBSCRIPTION: 3,
  DELETE_SUBSCRIPTION: 4,
  PUT_MESSAGE: 5,
  DELETE_MESSAGE: 6,
  PUT_DELIVERY: 7,
  DELETE_DELIVERY: 8,
  PUT_RETAINED: 9,
  DELETE_RETAINED: 10,
  PUT_INCOMING: 11,
  DELETE_INCOMING: 12,
});

/**
 * Reads one commit (a Buffer): calls `apply(kind, a, b, record)` for each
 * operation in order, where `a` and `b` are its keys (strings or numbers;
 * `b` undefined for one-key tables; for PUT_MESSAGE `b` is the expiry time
 * or null) and `record` a Buffer view (undefined for deletes and incoming
 * QoS 2 ids). Returns `{ ticket, ops, bytes }` (bytes: record bytes).
 * Throws on a buffer that ends early or holds an unknown kind.
 */
export function readCommit(buf, apply) {
  let at = 0;
  const need = (n) => {
    if (at + n > buf.length) throw new Error(`storage commit truncated at byte ${at}`);
  };
  const num = () => { need(8); const v = buf.readDoubleLE(at); at += 8; return v; };
  const len = () => { need(4); const n = buf.readUInt32LE(at); at += 4; need(n); return n; };
  const str = () => { const n = len(); const s = buf.toString('utf8', at, at + n); at += n; return s; };
  const rec = () => { const n = len(); const r = buf.subarray(at, at + n); at += n; bytes += n; return r; };
  const u16 = () => { need(2); const v = buf.readUInt16LE(at); at += 2; return v; };
  let bytes = 0;
  let ops = 0;
  const ticket = num();
  while (at < buf.length) {
    const kind = buf[at++];
    ops++;
    switch (kind) {
      case KIND.PUT_SESSION: { const c = str(); apply(kind, c, undefined, rec()); break; }
      case KIND.DELETE_SESSION: apply(kind, str()); break;
      case KIND.PUT_SUBSCRIPTION: { const c = str(); const f = str(); apply(kind, c, f, rec()); break; }
      case KIND.DELETE_SUBSCRIPTION: { const c = str(); apply(kind, c, str()); break; }
      case KIND.PUT_MESSAGE: { const id = num(); const x = num(); apply(kind, id, x < 0 ? null : x, rec()); break; }
      case KIND.DELETE_MESSAGE: apply(kind, num()); break;
      case KIND.PUT_DELIVERY: { const c = str(); const s = num(); apply(kind, c, s, rec()); break; }
      case KIND.DELETE_DELIVERY: { const c = str(); apply(kind, c, num()); break; }
      case KIND.PUT_RETAINED: { const t = str(); apply(kind, t, undefined, rec()); break; }
      case KIND.DELETE_RETAINED: apply(kind, str()); break;
      case KIND.PUT_INCOMING:
      case KIND.DELETE_INCOMING: { const c = str(); apply(kind, c, u16()); break; }
      default: throw new Error(`storage commit holds an unknown operation kind ${kind} at byte ${at - 1}`);
    }
  }
  return { ticket, ops, bytes };
}

/** Writes put operations into growing chunks; `finish()` joins them. */
export class RowWriter {
  #chunks = [];
  #buf = Buffer.allocUnsafe(64 * 1024);
  #at = 0;
  rows = 0;

  #room(n) {
    if (this.#at + n <= this.#buf.length) return;
    this.#chunks.push(this.#buf.subarray(0, this.#at));
    this.#buf = Buffer.allocUnsafe(Math.max(64 * 1024, n));
    this.#at = 0;
  }

  #str(s) {
    const n = Buffer.byteLength(s);
    this.#room(4 + n);
    this.#buf.writeUInt32LE(n, this.#at);
    this.#buf.write(s, this.#at + 4);
    this.#at += 4 + n;
  }

  #rec(r) {
    // A value that is not a blob (damage from outside) goes as an empty
    // record: the core reports it as corrupt and skips it.
    const bytes = r instanceof Uint8Array ? r : Buffer.alloc(0);
    this.#room(4 + bytes.length);
    this.#buf.writeUInt32LE(bytes.length, this.#at);
    this.#buf.set(bytes, this.#at + 4);
    this.#at += 4 + bytes.length;
  }

  #num(v) {
    this.#room(8);
    this.#buf.writeDoubleLE(Number(v), this.#at);
    this.#at += 8;
  }

  #kind(kind) {
    this.#room(1);
    this.#buf[this.#at++] = kind;
    this.rows++;
  }

  session(client, r) { this.#kind(KIND.PUT_SESSION); this.#str(String(client)); this.#rec(r); }
  subscription(client, filter, r) { this.#kind(KIND.PUT_SUBSCRIPTION); this.#str(String(client)); this.#str(String(filter)); this.#rec(r); }
  message(id, expiresAt, r) { this.#kind(KIND.PUT_MESSAGE); this.#num(id); this.#num(expiresAt ?? -1); this.#rec(r); }
  delivery(client, seq, r) { this.#kind(KIND.PUT_DELIVERY); this.#str(String(client)); this.#num(seq); this.#rec(r); }
  retained(topic, r) { this.#kind(KIND.PUT_RETAINED); this.#str(String(topic)); this.#rec(r); }

  incoming(client, packetId) {
    this.#kind(KIND.PUT_INCOMING);
    this.#str(String(client));
    this.#room(2);
    this.#buf.writeUInt16LE(Number(packetId) & 0xffff, this.#at);
    this.#at += 2;
  }

  /** Every row written, as one Uint8Array with its own ArrayBuffer (to transfer). */
  finish() {
    const parts = [...this.#chunks, this.#buf.subarray(0, this.#at)];
    const total = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(new ArrayBuffer(total));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}
