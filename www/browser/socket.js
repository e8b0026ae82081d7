// BrokerSocket: a fake WebSocket whose other end is a tabmq broker. It has
// the surface MQTT.js and Paho use: readyState and its constants, url,
// protocol, extensions, binaryType ('arraybuffer' or 'blob'),
// bufferedAmount, send, close(code, reason), on* handlers and
// addEventListener. Frames travel over a MessagePort as transferred
// ArrayBuffers; each MQTT packet from the broker is its own message event.

import { PacketSplitter } from './frames.js';

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

function domError(message, name) {
  return typeof DOMException === 'function' ? new DOMException(message, name) : Object.assign(new Error(message), { name });
}

function closeEvent(code, reason, wasClean) {
  if (typeof CloseEvent === 'function') return new CloseEvent('close', { code, reason, wasClean });
  return Object.assign(new Event('close'), { code, reason, wasClean });
}

function messageEvent(data) {
  if (typeof MessageEvent === 'function') return new MessageEvent('message', { data });
  return Object.assign(new Event('message'), { data });
}

/** Copies what `send` accepts into a fresh ArrayBuffer that can be transferred. */
function toBuffer(data) {
  if (typeof data === 'string') return new TextEncoder().encode(data).buffer;
  if (data instanceof ArrayBuffer) return data.slice(0);
  if (ArrayBuffer.isView(data)) return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  throw new TypeError('BrokerSocket.send: data must be a string, ArrayBuffer, typed array, DataView or Blob');
}

export class BrokerSocket extends EventTarget {
  static CONNECTING = CONNECTING;
  static OPEN = OPEN;
  static CLOSING = CLOSING;
  static CLOSED = CLOSED;
  CONNECTING = CONNECTING;
  OPEN = OPEN;
  CLOSING = CLOSING;
  CLOSED = CLOSED;

  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;

  #port = null;
  #readyState = CONNECTING;
  #binaryType = 'blob';
  #splitter = new PacketSplitter();
  #inbox = []; // whole packets not yet dispatched
  #closeAfterInbox = null;
  #url;
  #protocol = '';

  /**
   * @param {string} url
   * @param {string|string[]|undefined} protocols
   * @param {() => Promise<MessagePort>} attach opens a connection to the broker
   */
  constructor(url, protocols, attach) {
    super();
    this.#url = String(url);
    const wanted = protocols === undefined ? [] : [].concat(protocols);
    attach().then(
      (port) => this.#attached(port, wanted),
      (err) => this.#fail(err),
    );
  }

  get url() { return this.#url; }
  get readyState() { return this.#readyState; }
  get protocol() { return this.#protocol; }
  get extensions() { return ''; }
  /** Frames are handed to the broker's port at once: nothing waits here. */
  get bufferedAmount() { return 0; }
  get binaryType() { return this.#binaryType; }
  set binaryType(value) {
    if (value === 'arraybuffer' || value === 'blob') this.#binaryType = value;
  }

  #attached(port, wanted) {
    if (this.#readyState !== CONNECTING) {
      port.postMessage({ close: true });
      port.close();
      return;
    }
    this.#port = port;
    // The broker speaks MQTT; choose the subprotocol the client asked for.
    this.#protocol = wanted.find((p) => p === 'mqtt' || p === 'mqttv3.1') ?? '';
    port.onmessage = (e) => this.#receive(e.data);
    this.#readyState = OPEN;
    this.#dispatch(new Event('open'));
  }

  #receive(data) {
    if (data instanceof ArrayBuffer) {
      if (this.#readyState !== OPEN) return;
      const wasIdle = this.#inbox.length === 0;
      this.#inbox.push(...this.#splitter.push(new Uint8Array(data)));
      if (wasIdle) this.#deliver();
    } else if (data && data.close) {
      // Packets that arrived before the close are delivered first.
      if (this.#inbox.length) this.#closeAfterInbox = data;
      else this.#finish(data.code ?? 1000, data.reason ?? '', true);
    }
  }

  /** One packet per message event, each in its own microtask: as with a
   *  real WebSocket (one task per message), promise continuations of one
   *  event (say, `await client.connectAsync()`) run before the next. */
  #deliver() {
    if (this.#inbox.length === 0 || this.#readyState !== OPEN) return;
    const packet = this.#inbox.shift();
    const payload = this.#binaryType === 'blob' ? new Blob([packet]) : packet;
    this.#dispatch(messageEvent(payload));
    if (this.#inbox.length) queueMicrotask(() => this.#deliver());
    else if (this.#closeAfterInbox) {
      const { code, reason } = this.#closeAfterInbox;
      this.#finish(code ?? 1000, reason ?? '', true);
    }
  }

  #fail(err) {
    if (this.#readyState === CLOSED) return;
    this.#dispatch(Object.assign(new Event('error'), { error: err, message: String(err?.message ?? err) }));
    this.#finish(1006, String(err?.message ?? ''), false);
  }

  #finish(code, reason, wasClean) {
    if (this.#readyState === CLOSED) return;
    this.#readyState = CLOSED;
    if (this.#port) {
      this.#port.onmessage = null;
      this.#port.close();
      this.#port = null;
    }
    this.#dispatch(closeEvent(code, reason, wasClean));
  }

  /** Like a WebSocket, a handler that throws is reported and delivery
   *  goes on (EventTarget listeners already behave so). */
  #dispatch(event) {
    const handler = this['on' + event.type];
    if (typeof handler === 'function') {
      try {
        handler.call(this, event);
      } catch (err) {
        if (typeof reportError === 'function') reportError(err);
        else console.error(err);
      }
    }
    this.dispatchEvent(event);
  }

  send(data) {
    if (this.#readyState === CONNECTING) throw domError('BrokerSocket is still connecting', 'InvalidStateError');
    if (this.#readyState !== OPEN) return;
    if (typeof Blob === 'function' && data instanceof Blob) {
      data.arrayBuffer().then((buf) => this.#post(buf));
      return;
    }
    this.#post(toBuffer(data));
  }

  #post(buffer) {
    if (this.#readyState === OPEN) this.#port.postMessage(buffer, [buffer]);
  }

  close(code, reason) {
    if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999)) {
      throw domError(`close code ${code} is not 1000 or 3000-4999`, 'InvalidAccessError');
    }
    if (reason !== undefined && new TextEncoder().encode(reason).length > 123) {
      throw domError('close reason is longer than 123 bytes', 'SyntaxError');
    }
    if (this.#readyState === CLOSING || this.#readyState === CLOSED) return;
    if (this.#readyState === CONNECTING) {
      this.#readyState = CLOSING;
      queueMicrotask(() => this.#finish(code ?? 1000, reason ?? '', false));
      return;
    }
    this.#readyState = CLOSING;
    this.#port.postMessage({ close: true });
    // Let the event loop turn once, as a real WebSocket's closing handshake does.
    setTimeout(() => this.#finish(code ?? 1000, reason ?? '', true), 0);
  }
}
