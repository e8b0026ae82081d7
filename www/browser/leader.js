// Mode 'leader' (and 'shared' where there is no SharedWorker): one tab of
// the origin, elected with a Web Lock, runs the broker in a dedicated
// Worker; the other tabs reach it through BroadcastChannels
// (follower.js), the leader tab relaying between each channel and a port
// to its worker. Every tab queues for the lock, so when the leader tab
// closes or crashes the next one in the queue is granted it, starts a new
// worker (whose broker restores from IndexedDB) and answers the others.
//
// announce channel:  { t: 'who' }             a tab looks for the leader
//                    { t: 'leader', id }      the leader (answer, or on election)
//                    { t: 'follow', to, link } a follower opens link channel `link`
// link channel:      { t: 'welcome' }         leader -> follower, once served
//                    { t: 'control', msg }    control.js messages, both ways
//                    { t: 'connect', conn, id? }  follower -> leader
//                    { t: 'data', conn, data }    a connection's port messages
//                    { t: 'bye' }             the follower's link is closed

import { announceChannel, followerLink, linkChannel } from './follower.js';
import { holdLock, lockName, watchLock } from './lifeline.js';

/** Broker name -> this tab's part in its election. */
const elections = new Map();

/** This tab's part in the election of broker `opts.name`: it queues for
 *  the lock once, with the options of its first handle, and when granted
 *  starts the worker at once, whether or not a handle of this tab is still
 *  open: the other tabs wait for it. */
function election(opts, workerLink) {
  let e = elections.get(opts.name);
  if (e) return e;
  e = { id: lockName('tabmq:tab'), leading: false, worker: null, announce: null };
  e.start = () => startWorker(e, opts, workerLink);
  e.elected = new Promise((resolve) => {
    navigator.locks.request(`tabmq:leader:${opts.name}`, async () => {
      // The tab's own lifeline, named by its id: a follower watches it
      // from 'welcome' on, so it sees this tab go even before the broker
      // (restoring in this tab's worker) has a lifeline of its own.
      await holdLock(e.id);
      e.leading = true;
      e.start();
      resolve();
      return new Promise(() => {}); // held while this tab lives
    });
  });
  elections.set(opts.name, e);
  return e;
}

/** Starts the leader's worker if there is none (or the last one died),
 *  and tells the tabs looking for a leader. */
function startWorker(e, opts, workerLink) {
  if (e.worker) return;
  e.worker = workerLink({ ...opts, mode: 'leader' }).worker;
  e.announce ??= serveAnnounce(e, opts.name);
  e.announce.postMessage({ t: 'leader', id: e.id });
}

/** A link to broker `opts.name` in leader mode: to this tab's own worker
 *  if it is (or becomes) the leader, else to the leader's. */
export async function leaderLink(opts, workerLink) {
  const e = election(opts, workerLink);
  for (;;) {
    if (e.leading) return lead(e);
    const search = findLeader(opts.name);
    const leader = await Promise.race([e.elected.then(() => null), search.found]);
    search.stop();
    if (leader === null || e.leading) continue;
    try {
      return await followerLink(opts.name, leader);
    } catch {
      // That leader is gone (or going): look again.
    }
  }
}

/** Asks for the leader until one answers: `found` resolves to its id;
 *  `stop()` stops asking. */
function findLeader(name) {
  const announce = new BroadcastChannel(announceChannel(name));
  let timer = null;
  const stop = () => {
    clearInterval(timer);
    announce.close();
  };
  const found = new Promise((resolve) => {
    const ask = () => announce.postMessage({ t: 'who' });
    timer = setInterval(ask, 200);
    announce.onmessage = (m) => {
      if (m.data.t !== 'leader') return;
      stop();
      resolve(m.data.id);
    };
    ask();
  });
  return { found, stop };
}

/** This tab leads: its worker (started now if there is none, or the last
 *  one died) serves this tab over a port and the followers over their
 *  channels. */
function lead(e) {
  e.start();
  const worker = e.worker;
  const control = controlPort(worker);
  return {
    control,
    worker,
    terminate() {
      control.close();
    },
    /** The broker died: the next link starts a new worker. */
    lost() {
      if (e.worker === worker) e.worker = null;
      worker.terminate();
    },
  };
}

/** A new control port to the leader's worker (worker.js serves each). */
function controlPort(worker) {
  const { port1, port2 } = new MessageChannel();
  worker.postMessage({ control: port2 }, [port2]);
  port1.start();
  return port1;
}

/** Answers 'who' and serves each 'follow' addressed to this tab. */
function serveAnnounce(e, name) {
  const announce = new BroadcastChannel(announceChannel(name));
  announce.onmessage = (m) => {
    const msg = m.data;
    if (msg.t === 'who' && e.worker) announce.postMessage({ t: 'leader', id: e.id });
    else if (msg.t === 'follow' && msg.to === e.id && e.worker) serveFollower(e.worker, name, msg.link);
  };
  return announce;
}

/** Relays one follower link: its channel <-> a control port and one port
 *  per connection to the worker. */
function serveFollower(worker, name, link) {
  const channel = new BroadcastChannel(linkChannel(name, link));
  const control = controlPort(worker);
  const conns = new Map();
  let pageLock = null;
  let unwatch = null;
  const end = () => {
    unwatch?.();
    control.close();
    for (const port of conns.values()) port.close();
    conns.clear();
    channel.close();
  };
  control.onmessage = (m) => {
    channel.postMessage({ t: 'control', msg: m.data });
    // The follower's tab holds a page lock: once it is free the tab is
    // gone (its connections are dropped by the broker); so is this relay.
    if (m.data.t === 'ready' && pageLock && !unwatch) unwatch = watchLock(pageLock, end);
  };
  channel.onmessage = (m) => {
    const msg = m.data;
    if (msg.t === 'control') {
      if (msg.msg.t === 'init' && msg.msg.lock) pageLock = msg.msg.lock;
      control.postMessage(msg.msg);
    } else if (msg.t === 'connect') {
      const { port1, port2 } = new MessageChannel();
      conns.set(msg.conn, port1);
      port1.onmessage = (p) => {
        channel.postMessage({ t: 'data', conn: msg.conn, data: p.data });
        if (p.data?.close) conns.delete(msg.conn);
      };
      control.postMessage({ t: 'connect', port: port2, id: msg.id }, [port2]);
    } else if (msg.t === 'data') {
      const port = conns.get(msg.conn);
      if (msg.data instanceof ArrayBuffer) port?.postMessage(msg.data, [msg.data]);
      else port?.postMessage(msg.data);
      if (msg.data?.close) conns.delete(msg.conn);
    } else if (msg.t === 'bye') {
      end();
    }
  };
  channel.postMessage({ t: 'welcome' });
}
