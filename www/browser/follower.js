// Mode 'leader', a follower tab's side: the broker runs in a dedicated
// Worker of another tab (the leader, leader.js), which this tab reaches
// through a BroadcastChannel of its own. The link looks like any other to
// the broker handle: a control port that speaks control.js, where a
// 'connect' hands over a MessagePort. Here the port stays in this tab and
// its messages (MQTT bytes, closes, lifeline names) travel over the
// channel; the leader puts them on a real port to the worker.

/** The channels of broker `name`: where leaders are asked for and
 *  announced, and one per follower link. */
import { watchLock } from './lifeline.js';

export const announceChannel = (name) => `tabmq:${name}:leader`;
export const linkChannel = (name, link) => `tabmq:${name}:link:${link}`;

/**
 * Joins leader `leader` of broker `name`: resolves to a link once the
 * leader has opened this link's channel, or rejects after `timeoutMs`.
 * `link.leaderGone` resolves when the leader's tab is gone (its lifeline
 * lock, named by its id, comes free).
 */
export function followerLink(name, leader, timeoutMs = 1000) {
  const id = globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random()}`;
  const channel = new BroadcastChannel(linkChannel(name, id));
  const announce = new BroadcastChannel(announceChannel(name));
  const ports = new Map(); // conn -> this tab's end of the connection
  let nextConn = 1;
  const forget = (conn) => {
    const port = ports.get(conn);
    ports.delete(conn);
    port?.close();
  };
  const control = {
    onmessage: null,
    postMessage(msg) {
      if (msg.t !== 'connect') {
        channel.postMessage({ t: 'control', msg });
        return;
      }
      const conn = nextConn++;
      ports.set(conn, msg.port);
      msg.port.onmessage = (e) => {
        channel.postMessage({ t: 'data', conn, data: e.data });
        if (e.data?.close) forget(conn);
      };
      channel.postMessage({ t: 'connect', conn, id: msg.id });
    },
  };
  let unwatchLeader = null;
  const link = {
    control,
    leaderGone: null,
    terminate() {
      unwatchLeader?.();
      channel.postMessage({ t: 'bye' });
      channel.close();
      announce.close();
      for (const conn of [...ports.keys()]) forget(conn);
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      link.terminate();
      reject(new Error(`leader ${leader} did not answer`));
    }, timeoutMs);
    channel.onmessage = (e) => {
      const m = e.data;
      if (m.t === 'welcome') {
        clearTimeout(timer);
        announce.close();
        link.leaderGone = new Promise((gone) => (unwatchLeader = watchLock(leader, gone)));
        resolve(link);
      } else if (m.t === 'control') {
        control.onmessage?.({ data: m.msg });
      } else if (m.t === 'data') {
        ports.get(m.conn)?.postMessage(m.data);
        if (m.data?.close) forget(m.conn);
      }
    };
    announce.postMessage({ t: 'follow', to: leader, link: id });
  });
}
