// Runs the device workers: one dedicated Worker per device, in exactly one
// tab of the origin. Tabs queue for the 'tabmq-demo-devices' Web Lock; the
// holder runs the devices until it closes, then the next tab takes over and
// the devices resume their persistent sessions.
//
// Whether a device should run is the retained topic
// demo/devices/<id>/desired ('running' | 'stopped'), so the start/stop
// buttons work from any tab. The holder mirrors it in localStorage so a
// stopped device stays stopped when the whole browser restarts.

import { DEVICES, DEVICES_LOCK } from './catalog.js';

const DESIRED = (id) => `demo/devices/${id}/desired`;
const MEMORY = 'tabmq-demo:desired';

export class Supervisor extends EventTarget {
  /** True while this tab holds the lock and runs the devices. */
  active = false;
  #broker;
  #bus;
  #workers = new Map(); // id -> Worker

  constructor(broker, bus) {
    super();
    this.#broker = broker;
    this.#bus = bus;
  }

  /** Queues for the lock; runs the devices once granted. */
  start() {
    if (!navigator.locks) {
      console.warn('tabmq demo: no Web Locks; every tab runs its own devices');
      this.#run();
      return;
    }
    navigator.locks.request(DEVICES_LOCK, async () => {
      await this.#run();
      return new Promise(() => {}); // held until this tab goes away
    });
  }

  desired(id) {
    const v = this.#bus.text(DESIRED(id));
    return v === 'stopped' ? 'stopped' : 'running';
  }

  /** Asks (through the broker) for a device to run or stop. */
  setDesired(id, state) {
    return this.#bus.publish(DESIRED(id), state, { qos: 1, retain: true });
  }

  async #run() {
    this.active = true;
    this.dispatchEvent(new Event('change'));
    // Retained desired states arrived with the page's subscription; give
    // them a moment, then fall back on what this browser remembers.
    await new Promise((ok) => setTimeout(ok, 250));
    let remembered = {};
    try {
      remembered = JSON.parse(localStorage.getItem(MEMORY) ?? '{}');
    } catch { /* start everything */ }
    for (const d of DEVICES) {
      if (this.#bus.get(DESIRED(d.id)) === undefined && remembered[d.id] === 'stopped') {
        await this.setDesired(d.id, 'stopped');
      }
    }
    this.#bus.addEventListener('message', (e) => {
      const m = /^demo\/devices\/([^/]+)\/desired$/.exec(e.detail.topic);
      if (m) this.#reconcile(m[1]);
    });
    let delay = 0;
    for (const d of DEVICES) {
      setTimeout(() => this.#reconcile(d.id), delay);
      delay += 120; // devices boot one after the other, like a real home
    }
  }

  #remember() {
    const map = {};
    for (const d of DEVICES) map[d.id] = this.desired(d.id);
    localStorage.setItem(MEMORY, JSON.stringify(map));
  }

  #reconcile(id) {
    if (!this.active) return;
    this.#remember();
    const want = this.desired(id);
    if (want === 'running' && !this.#workers.has(id)) this.#spawn(id);
    else if (want === 'stopped' && this.#workers.has(id)) this.#kill(id);
  }

  async #spawn(id) {
    const worker = new Worker(new URL('./devices/device.js', import.meta.url), { type: 'module', name: id });
    this.#workers.set(id, worker);
    worker.onerror = (e) => {
      e.preventDefault();
      console.warn(`tabmq demo: device ${id} failed:`, e.message);
    };
    worker.onmessage = async (e) => {
      const msg = e.data;
      if (msg.t === 'need-port' && this.#workers.get(id) === worker) {
        const port = await this.#broker.openPort();
        worker.postMessage({ t: 'port', port }, [port]);
      } else if (msg.t === 'error' || msg.t === 'mqtt-error') {
        console.warn(`tabmq demo: device ${id}:`, msg.detail);
      }
    };
    const port = await this.#broker.openPort();
    worker.postMessage({ t: 'start', id, url: this.#broker.url, port }, [port]);
  }

  /** A crash: the worker dies without DISCONNECT, so the will fires. */
  #kill(id) {
    this.#workers.get(id)?.terminate();
    this.#workers.delete(id);
  }

  running(id) {
    return this.#workers.has(id);
  }
}
