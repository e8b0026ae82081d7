// Disk storage (--data DIR) across restarts of the CLI: kill -9 in the
// middle of a stream of QoS 1 and QoS 2 publishes (strict durability: what
// was acknowledged is on disk; publishers that resume their sessions get
// QoS 2 delivered exactly once), a graceful SIGTERM restart (retained
// messages, MQTT 5 subscription options, queued and in-flight messages,
// delayed wills), and relaxed durability.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { connect, endAll, packet, rawConnect, until, within } from './helpers.mjs';
import { startCli } from './cli-helpers.mjs';

const dirs = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh data directory, removed when the file's tests are done. */
function dataDir() {
  const dir = mkdtempSync(join(tmpdir(), 'tabmq-crash-'));
  dirs.push(dir);
  return dir;
}

/** The CLI on a free TCP port, keeping its state in `dir`. */
async function startBroker(dir, extra = []) {
  const cli = await startCli(['--tcp', '0', '--data', dir, '--sys-interval', '0', ...extra]);
  // The line that says what the store held at start.
  const restored = await cli.waitFor(/ info storage .* restored \d+ records$/);
  return { cli, url: cli.urls.tcp, restored };
}

/** A client that stays quiet when its broker dies under it. */
async function quietClient(url, opts) {
  const client = await connect(url, opts);
  client.on('error', () => {});
  return client;
}

/**
 * A client resuming (or starting) a persistent session: `got` collects
 * every message from the first byte on (MQTT.js's connectAsync resolves
 * after the queued ones may already have come) as { topic, payload, qos,
 * retain, properties, at (when it came) }, as MQTT.js hands them out: a
 * QoS 2 one at its PUBREL, so after QoS 1 and 0 ones sent later. `wire`:
 * the same for every PUBLISH packet, in the order the broker sent them
 * (a resent QoS 2 PUBLISH too, which MQTT.js does not hand out twice).
 */
async function session(url, clientId, protocolVersion, opts = {}) {
  const client = mqtt.connect(url, {
    reconnectPeriod: 0,
    connectTimeout: 4000,
    clientId,
    clean: false,
    protocolVersion,
    ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
    ...opts,
  });
  const got = [];
  const wire = [];
  const entry = (p) => ({ topic: p.topic, payload: p.payload.toString(), qos: p.qos, retain: p.retain, properties: p.properties, at: Date.now() });
  client.on('packetreceive', (p) => {
    if (p.cmd === 'publish') wire.push(entry(p));
  });
  client.on('message', (_topic, _payload, packet) => got.push(entry(packet)));
  const [connack] = await within(5000, `${clientId} to connect`, once(client, 'connect'));
  client.on('error', () => {});
  return { client, got, wire, connack };
}

/**
 * Publishes 1, 2, 3, ... (the payload) on `topic` at `qos`, keeping
 * `window` publishes unacknowledged at all times: each acknowledgement
 * (PUBACK for QoS 1, PUBREC for QoS 2: the broker owns the message from
 * then on) sends the next one. `acked` lists the sequence numbers the
 * broker acknowledged, `refused` those it answered with a reason code of
 * 0x80 or more, `completed` the QoS 2 ones whose PUBCOMP came, `idOf` the
 * packet identifier of each. `onAck()` runs after each acknowledgement is
 * counted and the next publish sent.
 */
function pump(client, topic, qos, window, onAck) {
  const state = { topic, qos, sent: 0, acked: [], refused: [], completed: new Set(), idOf: new Map(), stopped: false };
  const seqOf = new Map(); // packet id -> sequence number, until the flow ends
  const ack = qos === 1 ? 'puback' : 'pubrec';
  client.on('packetsend', (p) => {
    if (p.cmd !== 'publish' || p.topic !== topic) return;
    const seq = Number(String(p.payload));
    seqOf.set(p.messageId, seq);
    state.idOf.set(seq, p.messageId);
  });
  client.on('packetreceive', (p) => {
    if (!seqOf.has(p.messageId)) return;
    const seq = seqOf.get(p.messageId);
    if (p.cmd === 'pubcomp' && qos === 2) {
      state.completed.add(seq);
      seqOf.delete(p.messageId);
      return;
    }
    if (p.cmd !== ack) return;
    if (qos === 1) seqOf.delete(p.messageId);
    ((p.reasonCode ?? 0) < 0x80 ? state.acked : state.refused).push(seq);
    next();
    onAck();
  });
  const next = () => {
    if (state.stopped) return;
    state.sent++;
    client.publish(topic, String(state.sent), { qos }, () => {});
  };
  for (let i = 0; i < window; i++) next();
  return state;
}

/**
 * A publisher's session resumed after the restart (a raw client, so that
 * exactly what MQTT asks of a client is resent [MQTT-4.4.0-1]): PUBREL
 * again for each QoS 2 message acknowledged by a PUBREC but not completed,
 * and each unacknowledged PUBLISH again with DUP set and its packet
 * identifier, each flow then finished. Returns the sequence numbers
 * resent.
 */
async function resumePublisher(port, clientId, version, stream) {
  const props = version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {};
  const c = await rawConnect(port, clientId, version, { clean: false, ...props });
  try {
    assert.equal(c.connack.sessionPresent, true, `${clientId}: session present`);
    const acked = new Set(stream.acked);
    const seqs = Array.from({ length: stream.sent }, (_, i) => i + 1);
    assert.deepEqual(seqs.filter((seq) => !stream.idOf.has(seq)), [], `${clientId}: publishes MQTT.js never wrote`);
    const resend = seqs.filter((seq) => !acked.has(seq));
    const release = seqs.filter((seq) => stream.qos === 2 && acked.has(seq) && !stream.completed.has(seq));
    const count = (cmd) => c.packets.filter((p) => p.cmd === cmd).length;
    for (const seq of release) c.send(packet({ cmd: 'pubrel', messageId: stream.idOf.get(seq) }, version));
    for (const seq of resend) {
      c.send(packet({ cmd: 'publish', topic: stream.topic, payload: String(seq), qos: stream.qos, dup: true, messageId: stream.idOf.get(seq) }, version));
    }
    const ack = stream.qos === 1 ? 'puback' : 'pubrec';
    await until(`${clientId}: ${resend.length} ${ack}s`, () => count(ack) >= resend.length, 10_000);
    const acks = c.packets.filter((p) => p.cmd === ack);
    assert.deepEqual(acks.filter((p) => (p.reasonCode ?? 0) >= 0x80), [], `${clientId}: resent publishes refused`);
    if (stream.qos === 2) {
      for (const seq of resend) c.send(packet({ cmd: 'pubrel', messageId: stream.idOf.get(seq) }, version));
      await until(`${clientId}: ${release.length + resend.length} PUBCOMPs`, () => count('pubcomp') >= release.length + resend.length, 10_000);
      // 0x92 (packet identifier not found): a PUBREL the broker had done
      // with before it died, whose PUBCOMP did not get out.
      const comps = c.packets.filter((p) => p.cmd === 'pubcomp');
      assert.deepEqual(comps.filter((p) => ![0, 0x92].includes(p.reasonCode ?? 0)), [], `${clientId}: PUBCOMP reason codes`);
    }
    c.send(packet({ cmd: 'disconnect' }, version));
    return resend;
  } finally {
    c.destroy();
  }
}

/**
 * What arrived of one publisher's stream, checked against what MQTT
 * promises: every acknowledged message is there (with `all`, every message
 * sent), nothing that was never sent is, each arrived at its QoS, and in
 * the order it was published [MQTT-4.6.0-6]. QoS 2: each exactly once, so
 * strictly increasing. QoS 1: at least once, so a message may come again,
 * but only one that already came: a new one is always past every earlier
 * one.
 */
function checkStream(name, stream, arrived, all = false) {
  const { qos } = stream;
  const mine = arrived.filter((m) => m.topic === stream.topic);
  const wrongQos = mine.filter((m) => m.qos !== qos);
  assert.deepEqual(wrongQos, [], `${name}: delivered at QoS ${qos}`);
  const seqs = mine.map((m) => Number(m.payload));
  const seen = new Set();
  let last = 0;
  for (const [i, seq] of seqs.entries()) {
    assert.ok(Number.isInteger(seq) && seq >= 1 && seq <= stream.sent, `${name}: message ${i} is ${seq}, which was never sent`);
    const around = seqs.slice(Math.max(0, i - 5), i + 5).join(' ');
    if (qos === 2) {
      assert.ok(seq > last, `${name}: ${seq} came after ${last} (${seen.has(seq) ? 'a duplicate' : 'out of order'}): ... ${around} ...`);
    } else {
      assert.ok(seq > last || seen.has(seq), `${name}: ${seq} came after ${last} and is not a duplicate: ... ${around} ...`);
    }
    seen.add(seq);
    last = Math.max(last, seq);
  }
  const expected = all ? Array.from({ length: stream.sent }, (_, i) => i + 1) : stream.acked;
  const lost = expected.filter((seq) => !seen.has(seq));
  assert.deepEqual(lost.slice(0, 20), [], `${name}: ${lost.length} of ${expected.length} ${all ? 'sent' : 'acknowledged'} messages lost`);
  return seqs.length;
}

describe('strict durability: kill -9', () => {
  const WINDOW = 100;
  // Kill after `acks` acknowledgements to each publisher; the subscriber
  // speaks `version`; with `resume`, the publishers resume their sessions
  // after the restart and finish what was in flight.
  const cases = [
    { acks: 1, version: 5 },
    { acks: 200, version: 4 },
    { acks: 5000, version: 5 },
    { acks: 1000, version: 5, resume: true },
  ];
  for (const { acks, version, resume = false } of cases) {
    const when = `kill -9 after ${acks} acknowledgement${acks === 1 ? '' : 's'} to each publisher`;
    const setting = `(${WINDOW} in flight, MQTT ${version === 5 ? '5' : '3.1.1'} subscriber)`;
    const name = resume
      ? `publishers resuming after ${when} get every message delivered, QoS 2 exactly once, in order ${setting}`
      : `every acknowledged QoS 1 and QoS 2 message survives ${when}, QoS 2 exactly once, in order ${setting}`;
    test(name, { timeout: 40_000 }, async (t) => {
      const dir = dataDir();
      // Two publishers of up to ~5100 messages each, queued for one session.
      const limits = ['--max-queued-messages', '100000'];
      const first = await startBroker(dir, limits);
      const clients = [];
      let second;
      try {
        assert.match(first.restored, / \(strict, schema \d+\): restored 0 records$/);
        const sub = await session(first.url, `crash-sub-${acks}`, version);
        clients.push(sub.client);
        const granted = await sub.client.subscribeAsync('crash/#', { qos: 2 });
        assert.equal(granted[0].qos, 2);
        await sub.client.endAsync();

        // Persistent sessions, for the cases that resume them.
        const pub1 = await quietClient(first.url, { protocolVersion: 4, clientId: `crash-pub1-${acks}`, clean: false });
        const pub2 = await quietClient(first.url, {
          protocolVersion: 5, clientId: `crash-pub2-${acks}`, clean: false, properties: { sessionExpiryInterval: 3600 },
        });
        clients.push(pub1, pub2);
        let killedAt = null;
        const streams = [];
        const maybeKill = () => {
          if (killedAt || streams.length < 2 || streams.some((s) => s.acked.length < acks)) return;
          // Synchronously, from the acknowledgement's handler: both
          // publishers have WINDOW publishes on their way right now.
          first.cli.child.kill('SIGKILL');
          killedAt = streams.map((s) => ({ sent: s.sent, acked: s.acked.length }));
          for (const s of streams) s.stopped = true;
        };
        streams.push(pump(pub1, 'crash/q1', 1, WINDOW, maybeKill), pump(pub2, 'crash/q2', 2, WINDOW, maybeKill));
        const [q1, q2] = streams;
        const exit = await within(30_000, `${acks} acknowledgements and the kill`, first.cli.exited).catch((err) => {
          throw new Error(`${err.message} (acknowledged: QoS 1 ${q1.acked.length}, QoS 2 ${q2.acked.length})`);
        });
        assert.deepEqual(exit, { code: null, signal: 'SIGKILL' }, first.cli.stderr());
        assert.ok(killedAt, 'the broker died before the test killed it');
        for (const [i, s] of streams.entries()) {
          assert.deepEqual(s.refused, [], `${s.topic}: refused publishes`);
          // Mid-stream: a full window was unacknowledged when it died.
          assert.equal(killedAt[i].sent - killedAt[i].acked, WINDOW);
        }
        await endAll(pub1, pub2);

        second = await startBroker(dir, limits);
        const [records] = second.restored.match(/\d+(?= records$)/);
        assert.ok(Number(records) >= q1.acked.length + q2.acked.length, second.restored);
        // A marker, queued after everything restored: once it is there,
        // so is everything the session held.
        const marker = await quietClient(second.url, { protocolVersion: 5, clientId: `crash-marker-${acks}` });
        clients.push(marker);
        await marker.publishAsync('crash/end', 'restored', { qos: 2 });
        const resumed = await session(second.url, `crash-sub-${acks}`, version);
        clients.push(resumed.client);
        assert.equal(resumed.connack.sessionPresent, true);
        const markerCame = (payload) => () => resumed.got.some((m) => m.topic === 'crash/end' && m.payload === payload);
        await until('the marker after the restored messages', markerCame('restored'), 20_000);
        const restored = new Set(resumed.wire.map((m) => `${m.topic} ${m.payload}`));
        let resent = [[], []];
        if (resume) {
          // With the subscriber online: a resent message the broker already
          // had must not reach it again (QoS 2).
          const port = Number(new URL(second.url).port);
          resent = [await resumePublisher(port, `crash-pub1-${acks}`, 4, q1), await resumePublisher(port, `crash-pub2-${acks}`, 5, q2)];
          await marker.publishAsync('crash/end', 'resumed', { qos: 2 });
          await until('the marker after the resent messages', markerCame('resumed'), 10_000);
        }
        // Anything the broker still sends after the last marker would be
        // out of order; give it a moment to show.
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.deepEqual(resumed.wire.filter((m) => m.topic === 'crash/end').map((m) => m.payload), resume ? ['restored', 'resumed'] : ['restored']);
        assert.equal(resumed.wire.at(-1).topic, 'crash/end', 'nothing comes after the last marker');
        // As the broker sent them (a resent QoS 2 PUBLISH counts twice),
        // and as MQTT.js handed them out.
        const arrived = resumed.wire.filter((m) => m.topic !== 'crash/end');
        const handed = resumed.got.filter((m) => m.topic !== 'crash/end');
        let counts;
        for (const [how, list] of [['sent', arrived], ['handed out', handed]]) {
          counts = streams.map((s) => checkStream(`QoS ${s.qos} (${how})`, s, list, resume));
          assert.equal(counts[0] + counts[1], list.length, `only the publishers' messages arrive (${how})`);
        }
        for (const [i, s] of streams.entries()) {
          const had = resent[i].filter((seq) => restored.has(`${s.topic} ${seq}`)).length;
          t.diagnostic(`QoS ${s.qos}: ${s.sent} sent, ${s.acked.length} acknowledged (${killedAt[i].acked} at the kill), `
            + `${resume ? `${resent[i].length} resent (${had} of them restored already), ` : ''}${counts[i]} arrived`);
        }
      } finally {
        await endAll(clients);
        await first.cli.stop('SIGKILL');
        if (second) await second.cli.stop('SIGTERM');
      }
    });
  }

  test('a session (CONNACK), a subscription (SUBACK) and a retained message (PUBACK) survive kill -9 right after their acknowledgement', { timeout: 30_000 }, async () => {
    const dir = dataDir();
    const brokers = [];
    const clients = [];
    /** Kills the broker the moment a `cmd` packet reaches `client`;
     *  resolves once the broker is dead. */
    const killOn = async (broker, client, cmd) => {
      client.on('error', () => {});
      client.on('packetreceive', (p) => {
        if (p.cmd === cmd) broker.cli.child.kill('SIGKILL');
      });
      clients.push(client);
      const exit = await within(10_000, `a ${cmd} and the kill`, broker.cli.exited);
      assert.deepEqual(exit, { code: null, signal: 'SIGKILL' }, broker.cli.stderr());
    };
    const restart = async () => {
      const broker = await startBroker(dir);
      brokers.push(broker);
      return broker;
    };
    try {
      let broker = await restart();
      const opts = { reconnectPeriod: 0, clientId: 'acked-sub', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } };
      await killOn(broker, mqtt.connect(broker.url, opts), 'connack');

      broker = await restart();
      const subscriber = await session(broker.url, 'acked-sub', 5);
      assert.equal(subscriber.connack.sessionPresent, true, 'the session confirmed by the CONNACK');
      subscriber.client.subscribe('acked/#', { qos: 1 });
      await killOn(broker, subscriber.client, 'suback');

      broker = await restart();
      const offline = await session(broker.url, 'acked-sub', 5);
      clients.push(offline.client);
      assert.equal(offline.connack.sessionPresent, true);
      await offline.client.endAsync();
      const pub = mqtt.connect(broker.url, { reconnectPeriod: 0, clientId: 'acked-pub', protocolVersion: 5 });
      pub.on('connect', () => pub.publish('acked/kept', 'kept', { qos: 1, retain: true }));
      await killOn(broker, pub, 'puback');

      broker = await restart();
      // The subscription confirmed by the SUBACK: the message confirmed by
      // the PUBACK was queued for it.
      const resumed = await session(broker.url, 'acked-sub', 5);
      clients.push(resumed.client);
      assert.equal(resumed.connack.sessionPresent, true);
      await until('the queued message', () => resumed.got.length > 0, 5000);
      assert.deepEqual(resumed.got.map((m) => `${m.topic} ${m.payload} ${m.qos} ${m.retain}`), ['acked/kept kept 1 false']);
      // And kept as the topic's retained message.
      const fresh = await connect(broker.url, { protocolVersion: 5, clientId: 'acked-fresh' });
      clients.push(fresh);
      const retained = [];
      fresh.on('message', (topic, payload, packet) => retained.push(`${topic} ${payload} ${packet.retain}`));
      await fresh.subscribeAsync('acked/#', { qos: 1 });
      await until('the retained message', () => retained.length > 0, 5000);
      assert.deepEqual(retained, ['acked/kept kept true']);
    } finally {
      await endAll(clients);
      for (const b of brokers) await b.cli.stop('SIGTERM');
    }
  });
});

/** The subscription identifiers a message carries (an array). */
function subId(m) {
  const id = m.properties?.subscriptionIdentifier;
  return Array.isArray(id) ? id : id === undefined ? [] : [id];
}

/** `got` without the fields a comparison does not need. */
function brief(got) {
  return got.map((m) => ({ topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, subIds: subId(m) }));
}

describe('graceful restart (SIGTERM)', () => {
  test('retained messages, MQTT 5 subscription options and queued messages survive a SIGTERM restart', { timeout: 30_000 }, async () => {
    const dir = dataDir();
    const first = await startBroker(dir);
    const clients = [];
    let second;
    try {
      const sub = await session(first.url, 'opts-sub', 5);
      clients.push(sub.client);
      const grantedA = await sub.client.subscribeAsync({ 'opt/a/#': { qos: 2, nl: false, rap: true, rh: 0 } }, { properties: { subscriptionIdentifier: 7 } });
      const grantedB = await sub.client.subscribeAsync({ 'opt/b/#': { qos: 1, nl: true, rap: false, rh: 1 } }, { properties: { subscriptionIdentifier: 9 } });
      assert.deepEqual([grantedA[0].qos, grantedB[0].qos], [2, 1]);
      await sub.client.endAsync();

      // While the session is offline: retained messages, and messages
      // queued for it.
      const pub = await connect(first.url, { protocolVersion: 5, clientId: 'opts-pub' });
      clients.push(pub);
      await pub.publishAsync('keep/r', 'kept', {
        qos: 1,
        retain: true,
        properties: { contentType: 'text/plain', userProperties: { origin: 'before' }, messageExpiryInterval: 3600 },
      });
      await pub.publishAsync('opt/a/queued', 'qa', { qos: 2, retain: true });
      await pub.publishAsync('opt/b/queued', 'qb', { qos: 2, retain: true });
      await pub.publishAsync('opt/a/plain', 'pa', { qos: 1 });
      await pub.endAsync();

      assert.deepEqual(await first.cli.stop('SIGTERM'), { code: 0, signal: null }, first.cli.stderr());
      second = await startBroker(dir);

      // The session, without subscribing again: first what was queued, as
      // each subscription's options make it.
      const resumed = await session(second.url, 'opts-sub', 5);
      clients.push(resumed.client);
      assert.equal(resumed.connack.sessionPresent, true);
      await until('the 3 queued messages', () => resumed.wire.length >= 3, 5000);
      assert.deepEqual(brief(resumed.wire), [
        { topic: 'opt/a/queued', payload: 'qa', qos: 2, retain: true, subIds: [7] }, // retain as published
        { topic: 'opt/b/queued', payload: 'qb', qos: 1, retain: false, subIds: [9] }, // granted QoS 1, retain cleared
        { topic: 'opt/a/plain', payload: 'pa', qos: 1, retain: false, subIds: [7] },
      ]);

      // Then what is published now. No local on opt/b/#: its own message
      // there does not come back; on opt/a/# it does (and would come after
      // the first, in the order published).
      await resumed.client.publishAsync('opt/b/self', 'not for me', { qos: 1 });
      await resumed.client.publishAsync('opt/a/self', 'mine', { qos: 1 });
      await until('its own message on opt/a/self', () => resumed.wire.length >= 4, 5000);
      const live = await connect(second.url, { protocolVersion: 5, clientId: 'opts-live' });
      clients.push(live);
      await live.publishAsync('opt/a/live', 'la', { qos: 2, retain: true });
      await live.publishAsync('opt/b/live', 'lb', { qos: 2, retain: true });
      await until('the 2 live messages', () => resumed.wire.length >= 6, 5000);
      assert.deepEqual(brief(resumed.wire.slice(3)), [
        { topic: 'opt/a/self', payload: 'mine', qos: 1, retain: false, subIds: [7] },
        { topic: 'opt/a/live', payload: 'la', qos: 2, retain: true, subIds: [7] },
        { topic: 'opt/b/live', payload: 'lb', qos: 1, retain: false, subIds: [9] },
      ]);

      // Retained messages of before the restart, with their properties,
      // for a new subscriber.
      const fresh = await connect(second.url, { protocolVersion: 5, clientId: 'opts-fresh' });
      clients.push(fresh);
      const retained = [];
      fresh.on('message', (topic, payload, packet) => retained.push({ topic, payload: payload.toString(), packet }));
      await fresh.subscribeAsync({ 'keep/#': { qos: 1 }, 'opt/#': { qos: 2 } });
      await until('5 retained messages', () => retained.length >= 5, 5000);
      assert.deepEqual(retained.map((m) => `${m.topic} ${m.payload}`).sort(),
        ['keep/r kept', 'opt/a/live la', 'opt/a/queued qa', 'opt/b/live lb', 'opt/b/queued qb']);
      const kept = retained.find((m) => m.topic === 'keep/r').packet;
      assert.equal(kept.retain, true);
      assert.equal(kept.qos, 1);
      assert.equal(kept.properties.contentType, 'text/plain');
      assert.deepEqual({ ...kept.properties.userProperties }, { origin: 'before' });
      assert.ok(kept.properties.messageExpiryInterval > 0 && kept.properties.messageExpiryInterval <= 3600);

      // Subscribing to opt/b/# again with retain handling 1 (send retained
      // messages only for a new subscription): it is not new, so none
      // come; a filter that is new gets them.
      const before = resumed.wire.length;
      await resumed.client.subscribeAsync({ 'opt/b/#': { qos: 1, nl: true, rap: false, rh: 1 } }, { properties: { subscriptionIdentifier: 9 } });
      await live.publishAsync('opt/a/marker', 'm1', { qos: 1 });
      await until('the first marker', () => resumed.wire.some((m) => m.payload === 'm1'), 5000);
      assert.deepEqual(brief(resumed.wire.slice(before)).map((m) => m.topic), ['opt/a/marker']);
      await resumed.client.subscribeAsync({ 'opt/b/+': { qos: 1, rh: 1 } }, { properties: { subscriptionIdentifier: 11 } });
      await live.publishAsync('opt/a/marker', 'm2', { qos: 1 });
      await until('the second marker', () => resumed.wire.some((m) => m.payload === 'm2'), 5000);
      assert.deepEqual(brief(resumed.wire.slice(before + 1)).map((m) => `${m.topic} ${m.retain}`).sort(),
        ['opt/a/marker false', 'opt/b/live true', 'opt/b/queued true']);
    } finally {
      await endAll(clients);
      await first.cli.stop('SIGKILL');
      if (second) await second.cli.stop('SIGTERM');
    }
  });

  test('messages in flight to a subscriber survive a SIGTERM restart: PUBREL again for those it received, PUBLISH with DUP for the others, in order', { timeout: 30_000 }, async () => {
    const dir = dataDir();
    let broker = await startBroker(dir);
    const first = broker;
    const clients = [];
    const raws = [];
    const props = { properties: { sessionExpiryInterval: 3600 } };
    const port = () => Number(new URL(broker.url).port);
    const publishes = (c) => c.packets.filter((p) => p.cmd === 'publish');
    const ids = (c, cmd) => c.packets.filter((p) => p.cmd === cmd).map((p) => p.messageId);
    /** Everything the subscriber sent before this is done with. */
    const ping = async (c) => {
      c.send(packet({ cmd: 'pingreq' }, 5));
      await c.next('pingresp');
    };
    let second;
    let third;
    try {
      const sub = await rawConnect(port(), 'inflight-sub', 5, { clean: false, ...props });
      raws.push(sub);
      sub.send(packet({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'inf/#', qos: 2 }] }, 5));
      assert.deepEqual((await sub.next('suback')).granted, [2]);
      const pub = await quietClient(broker.url, { protocolVersion: 5, clientId: 'inflight-pub' });
      clients.push(pub);
      for (let i = 1; i <= 4; i++) {
        await pub.publishAsync('inf/q2', `q2-${i}`, { qos: 2 });
        await pub.publishAsync('inf/q1', `q1-${i}`, { qos: 1 });
      }
      await until('8 PUBLISHes', () => publishes(sub).length >= 8, 5000);
      const sent = publishes(sub).map((p) => ({ id: p.messageId, payload: String(p.payload), qos: p.qos }));
      assert.deepEqual(sent.map((m) => m.payload), ['q2-1', 'q1-1', 'q2-2', 'q1-2', 'q2-3', 'q1-3', 'q2-4', 'q1-4']);
      const idOf = Object.fromEntries(sent.map((m) => [m.payload, m.id]));
      // Received: q2-1 and q2-2 (PUBREC; the broker answers PUBREL) and
      // q1-1 (PUBACK). The rest stays unacknowledged.
      sub.send(packet({ cmd: 'pubrec', messageId: idOf['q2-1'] }, 5));
      sub.send(packet({ cmd: 'pubrec', messageId: idOf['q2-2'] }, 5));
      sub.send(packet({ cmd: 'puback', messageId: idOf['q1-1'] }, 5));
      await until('2 PUBRELs', () => ids(sub, 'pubrel').length >= 2, 5000);
      await ping(sub);
      sub.destroy();
      await broker.cli.waitFor(/ info disconnected inflight-sub from /);
      await pub.publishAsync('inf/q1', 'queued', { qos: 1 });
      assert.deepEqual(await broker.cli.stop('SIGTERM'), { code: 0, signal: null }, broker.cli.stderr());

      second = await startBroker(dir);
      broker = second;
      const back = await rawConnect(port(), 'inflight-sub', 5, { clean: false, ...props });
      raws.push(back);
      assert.equal(back.connack.sessionPresent, true);
      await until('2 PUBRELs and 6 PUBLISHes', () => ids(back, 'pubrel').length >= 2 && publishes(back).length >= 6, 5000);
      // [MQTT-4.4.0-1]: PUBRELs for what it had received, the other
      // PUBLISHes again, DUP set, same packet identifiers, in order
      // [MQTT-4.6.0-1, 4.6.0-3]; then what was queued.
      assert.deepEqual(ids(back, 'pubrel'), [idOf['q2-1'], idOf['q2-2']]);
      const again = publishes(back).map((p) => ({ id: p.messageId, payload: String(p.payload), qos: p.qos, dup: p.dup }));
      const expected = ['q1-2', 'q2-3', 'q1-3', 'q2-4', 'q1-4'].map((payload) => ({ ...sent.find((m) => m.payload === payload), dup: true }));
      assert.deepEqual(again.slice(0, 5), expected);
      const { id: _id, ...queued } = again[5];
      assert.deepEqual(queued, { payload: 'queued', qos: 1, dup: false });

      // Finishes every flow; after another restart nothing is left to send.
      for (const id of ids(back, 'pubrel')) back.send(packet({ cmd: 'pubcomp', messageId: id }, 5));
      for (const m of again) back.send(packet({ cmd: m.qos === 1 ? 'puback' : 'pubrec', messageId: m.id }, 5));
      await until('2 more PUBRELs', () => ids(back, 'pubrel').length >= 4, 5000);
      for (const id of ids(back, 'pubrel').slice(2)) back.send(packet({ cmd: 'pubcomp', messageId: id }, 5));
      await ping(back);
      back.send(packet({ cmd: 'disconnect' }, 5));
      await back.closed;
      await endAll(pub);
      assert.deepEqual(await second.cli.stop('SIGTERM'), { code: 0, signal: null }, second.cli.stderr());

      third = await startBroker(dir);
      broker = third;
      const last = await rawConnect(port(), 'inflight-sub', 5, { clean: false, ...props });
      raws.push(last);
      assert.equal(last.connack.sessionPresent, true);
      const marker = await quietClient(broker.url, { protocolVersion: 5, clientId: 'inflight-marker' });
      clients.push(marker);
      await marker.publishAsync('inf/end', 'end', { qos: 1 });
      await until('the marker', () => publishes(last).length > 0, 5000);
      assert.deepEqual(last.packets.map((p) => `${p.cmd} ${p.payload ?? ''}`), ['publish end']);
    } finally {
      for (const c of raws) c.destroy();
      await endAll(clients);
      await first.cli.stop('SIGKILL');
      if (second) await second.cli.stop('SIGKILL');
      if (third) await third.cli.stop('SIGTERM');
    }
  });

  test('a delayed will pending at SIGTERM is published after the restart, when its delay ends', { timeout: 30_000 }, async (t) => {
    const DELAY = 3;
    const dir = dataDir();
    const first = await startBroker(dir);
    const clients = [];
    let second;
    try {
      // Connected until the broker stops: a will published early (by the
      // shutdown, or at the restart) would come to it, or be queued for it.
      const watcher = await session(first.url, 'will-watcher', 5);
      clients.push(watcher.client);
      await watcher.client.subscribeAsync('will/#', { qos: 1 });
      const client = await quietClient(first.url, {
        protocolVersion: 5,
        clientId: 'will-client',
        properties: { sessionExpiryInterval: 60 },
        will: {
          topic: 'will/client',
          payload: 'gone',
          qos: 1,
          retain: false,
          properties: { willDelayInterval: DELAY, contentType: 'text/plain', userProperties: { why: 'dropped' } },
        },
      });
      clients.push(client);
      // Dropped without a DISCONNECT: the will is due DELAY s from now.
      const droppedAt = Date.now();
      client.stream.destroy();
      await first.cli.waitFor(/ info disconnected will-client from /);
      const exit = await first.cli.stop('SIGTERM');
      assert.deepEqual(exit, { code: 0, signal: null }, first.cli.stderr());

      second = await startBroker(dir);
      assert.ok(Date.now() < droppedAt + DELAY * 1000, 'the broker restarted before the will was due (else this test tests nothing)');
      const resumed = await session(second.url, 'will-watcher', 5);
      clients.push(resumed.client);
      assert.equal(resumed.connack.sessionPresent, true);
      const dueAt = droppedAt + DELAY * 1000;
      await until('the will', () => resumed.got.length > 0, DELAY * 1000 + 3000);
      // Anything else (a second copy) would follow at once.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(watcher.got, [], 'nothing came before the stop');
      assert.equal(resumed.got.length, 1, JSON.stringify(brief(resumed.got)));
      const [will] = resumed.got;
      assert.equal(will.topic, 'will/client');
      assert.equal(will.payload, 'gone');
      assert.equal(will.qos, 1);
      assert.equal(will.properties.contentType, 'text/plain');
      assert.deepEqual({ ...will.properties.userProperties }, { why: 'dropped' });
      assert.ok(will.at >= dueAt, `the will came ${dueAt - will.at} ms before its delay ended`);
      assert.ok(will.at <= dueAt + 1500, `the will came ${will.at - dueAt} ms after its delay ended`);
      t.diagnostic(`the will came ${will.at - dueAt} ms after its delay ended`);
    } finally {
      await endAll(clients);
      await first.cli.stop('SIGKILL');
      if (second) await second.cli.stop('SIGTERM');
    }
  });

  test('wills of clients connected at SIGTERM: one without delay is published once, a delayed one its delay after the stop', { timeout: 30_000 }, async (t) => {
    const DELAY = 3;
    const dir = dataDir();
    const first = await startBroker(dir);
    const clients = [];
    let second;
    try {
      const watcher = await session(first.url, 'stop-watcher', 5);
      clients.push(watcher.client);
      await watcher.client.subscribeAsync('will/#', { qos: 1 });
      const delayed = await quietClient(first.url, {
        protocolVersion: 5,
        clientId: 'stop-delayed',
        properties: { sessionExpiryInterval: 60 },
        will: { topic: 'will/delayed', payload: 'later', qos: 1, properties: { willDelayInterval: DELAY } },
      });
      const now = await quietClient(first.url, {
        protocolVersion: 4, clientId: 'stop-now', clean: false, will: { topic: 'will/now', payload: 'now', qos: 1 },
      });
      clients.push(delayed, now);
      // The shutdown closes their connections without a DISCONNECT from
      // them: their wills apply, the delay counting from the stop.
      const stoppingAt = Date.now();
      assert.deepEqual(await first.cli.stop('SIGTERM'), { code: 0, signal: null }, first.cli.stderr());
      const stoppedAt = Date.now();

      second = await startBroker(dir);
      assert.ok(Date.now() < stoppingAt + DELAY * 1000, 'the broker restarted before the will was due (else this test tests nothing)');
      const resumed = await session(second.url, 'stop-watcher', 5);
      clients.push(resumed.client);
      await until('the delayed will', () => resumed.got.some((m) => m.topic === 'will/delayed'), DELAY * 1000 + 3000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const all = [...watcher.got, ...resumed.got];
      // Queued for the watcher (its session went offline first) or sent
      // to it before it was: either way exactly once.
      assert.deepEqual(all.filter((m) => m.topic === 'will/now').map((m) => m.payload), ['now']);
      assert.deepEqual(watcher.got.filter((m) => m.topic === 'will/delayed'), [], 'the delayed will came before the stop');
      const wills = resumed.got.filter((m) => m.topic === 'will/delayed');
      assert.equal(wills.length, 1);
      assert.ok(wills[0].at >= stoppingAt + DELAY * 1000, `the will came ${stoppingAt + DELAY * 1000 - wills[0].at} ms before its delay ended`);
      assert.ok(wills[0].at <= stoppedAt + DELAY * 1000 + 1500, `the will came ${wills[0].at - stoppedAt - DELAY * 1000} ms after its delay ended`);
      t.diagnostic(`the delayed will came ${wills[0].at - stoppingAt - DELAY * 1000} ms after its delay (from the SIGTERM) ended`);
    } finally {
      await endAll(clients);
      await first.cli.stop('SIGKILL');
      if (second) await second.cli.stop('SIGTERM');
    }
  });
});

describe('relaxed durability', () => {
  test('queued QoS 1 and QoS 2 messages and retained messages survive a SIGTERM restart', { timeout: 30_000 }, async () => {
    const dir = dataDir();
    const relaxed = ['--durability', 'relaxed'];
    const first = await startBroker(dir, relaxed);
    const clients = [];
    let second;
    try {
      assert.match(first.restored, / \(relaxed, schema \d+\): restored 0 records$/);
      const sub = await session(first.url, 'relaxed-sub', 4);
      clients.push(sub.client);
      await sub.client.subscribeAsync('relaxed/#', { qos: 2 });
      await sub.client.endAsync();
      const pub = await connect(first.url, { protocolVersion: 4, clientId: 'relaxed-pub' });
      clients.push(pub);
      const N = 50;
      const sent = [];
      for (let i = 1; i <= N; i++) {
        sent.push(pub.publishAsync('relaxed/q1', String(i), { qos: 1 }), pub.publishAsync('relaxed/q2', String(i), { qos: 2 }));
      }
      sent.push(pub.publishAsync('relaxed/kept', 'kept', { qos: 1, retain: true }));
      await within(10_000, 'the publishes to complete', Promise.all(sent));
      await pub.endAsync();
      assert.deepEqual(await first.cli.stop('SIGTERM'), { code: 0, signal: null }, first.cli.stderr());

      second = await startBroker(dir, relaxed);
      assert.match(second.restored, / \(relaxed, schema \d+\): restored [1-9]\d* records$/);
      const resumed = await session(second.url, 'relaxed-sub', 4);
      clients.push(resumed.client);
      assert.equal(resumed.connack.sessionPresent, true);
      await until(`${2 * N + 1} queued messages`, () => resumed.got.length >= 2 * N + 1, 10_000);
      const seqs = (topic) => resumed.got.filter((m) => m.topic === topic).map((m) => m.payload);
      const all = Array.from({ length: N }, (_, i) => String(i + 1));
      assert.deepEqual(seqs('relaxed/q1'), all);
      assert.deepEqual(seqs('relaxed/q2'), all);
      assert.deepEqual(resumed.got.filter((m) => m.topic === 'relaxed/q2').map((m) => m.qos), Array(N).fill(2));
      assert.deepEqual(seqs('relaxed/kept'), ['kept']);

      const fresh = await connect(second.url, { protocolVersion: 4, clientId: 'relaxed-fresh' });
      clients.push(fresh);
      const retained = [];
      fresh.on('message', (topic, payload, packet) => retained.push(`${topic} ${payload} ${packet.retain}`));
      await fresh.subscribeAsync('relaxed/#', { qos: 1 });
      await until('the retained message', () => retained.length > 0, 5000);
      assert.deepEqual(retained, ['relaxed/kept kept true']);
    } finally {
      await endAll(clients);
      await first.cli.stop('SIGKILL');
      if (second) await second.cli.stop('SIGTERM');
    }
  });
});
