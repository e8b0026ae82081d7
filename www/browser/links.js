// How a page's broker handle reaches its broker: a link is `{ control,
// worker?, terminate }`, where `control` speaks the control protocol
// (control.js) to a SharedWorker, a dedicated Worker or a broker in this
// page's own thread, or (mode 'leader') the worker of the tab elected to
// run it (leader.js).

import { leaderLink } from './leader.js';

// The worker URLs are written as `new URL('./worker.js', import.meta.url)`
// inside the constructor call, with static options, so that bundlers (Vite,
// webpack, Rollup) find and bundle the worker. One SharedWorker serves every
// broker name of the origin; each name gets its own broker inside it.
export function workerLink(opts) {
  if (opts.mode === 'shared') {
    const worker = opts.workerUrl
      ? new SharedWorker(opts.workerUrl, { type: 'module' })
      : new SharedWorker(new URL('./worker.js', import.meta.url), { type: 'module' });
    worker.port.start();
    return { control: worker.port, worker, terminate: () => worker.port.close() };
  }
  if (opts.mode === 'leader') {
    // Named so that worker.js serves a control port per tab (leader.js).
    const worker = opts.workerUrl
      ? new Worker(opts.workerUrl, { type: 'module', name: 'tabmq-leader' })
      : new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'tabmq-leader' });
    return { control: null, worker, terminate: () => worker.terminate() };
  }
  const worker = opts.workerUrl
    ? new Worker(opts.workerUrl, { type: 'module' })
    : new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  return { control: worker, worker, terminate: () => worker.terminate() };
}

/** The broker in this page's own thread, behind the same control protocol
 *  as a worker's (control.js). */
export async function inlineLink(opts) {
  const { serveControl, startHost } = await import('./control.js');
  const channel = new MessageChannel();
  let started = null;
  serveControl(channel.port2, {
    start: (init) => (started = startHost(init, opts.callbacks).then((host) => ({ host }))),
    dedicated: true,
  });
  const terminate = () => {
    started?.then(({ host }) => host.abandon(), () => {});
    channel.port1.close();
  };
  return { control: channel.port1, terminate };
}

/** A new link of the kind `opts.mode` asks for. */
export function openLink(opts) {
  if (opts.mode === 'inline') return inlineLink(opts);
  if (opts.mode === 'leader') return leaderLink(opts, workerLink);
  return workerLink(opts);
}
