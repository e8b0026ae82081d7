// GET /metrics: the broker's counters in Prometheus' text format, written
// by prom-client (a registry of its own, so that an application's default
// registry is left alone).

import client from 'prom-client';

const GAUGES = {
  connections: ['tabmq_connections', 'Connected MQTT clients'],
  sessions: ['tabmq_sessions', 'Sessions the broker holds, connected or not'],
  subscriptions: ['tabmq_subscriptions', 'Subscriptions'],
  retained: ['tabmq_retained_messages', 'Retained messages'],
  queuedMessages: ['tabmq_queued_messages', 'Messages queued for sessions'],
  inflightMessages: ['tabmq_inflight_messages', 'Messages in flight to clients'],
  pendingAcks: ['tabmq_pending_acks', 'Acknowledgements waiting for storage'],
  sockets: ['tabmq_sockets', 'Open sockets on every listener'],
  bufferedBytes: ['tabmq_buffered_bytes', 'Bytes written to sockets and not yet sent'],
};

/** Counters by QoS: stats() gives `[qos0, qos1, qos2]`. */
const BY_QOS = {
  messagesReceivedByQos: ['tabmq_messages_received_total', 'PUBLISH packets received (wills included), by QoS'],
  messagesSentByQos: ['tabmq_messages_sent_total', 'PUBLISH packets sent, by QoS (the QoS they were sent at)'],
};

const COUNTERS = {
  messagesDropped: ['tabmq_messages_dropped_total', 'Messages not delivered to a session'],
  bytesReceived: ['tabmq_bytes_received_total', 'Bytes received'],
  bytesSent: ['tabmq_bytes_sent_total', 'Bytes sent'],
  storageOps: ['tabmq_storage_operations_total', 'Storage operations made'],
};

/**
 * The broker's metrics: `stats()` is the broker's stats() (read at each
 * scrape); `watch(event, fn)` subscribes to its events; `store`, if any,
 * reports each commit's duration. Returns { contentType, text() }.
 */
export function brokerMetrics({ stats, watch, store }) {
  const registry = new client.Registry();
  const last = {};
  const gauges = Object.entries(GAUGES).map(([key, [name, help]]) => [key, new client.Gauge({ name, help, registers: [registry] })]);
  const counters = Object.entries(COUNTERS).map(([key, [name, help]]) => [key, new client.Counter({ name, help, registers: [registry] })]);
  const byQos = Object.entries(BY_QOS).map(([key, [name, help]]) => [key, new client.Counter({ name, help, labelNames: ['qos'], registers: [registry] })]);
  const commits = new client.Counter({ name: 'tabmq_storage_commits_total', help: 'Storage commits', registers: [registry] });
  const commitSeconds = new client.Histogram({
    name: 'tabmq_storage_commit_seconds',
    help: 'How long a storage commit took',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const dropped = new client.Counter({ name: 'tabmq_dropped_total', help: 'Messages dropped, by reason', labelNames: ['reason'], registers: [registry] });
  const denied = new client.Counter({ name: 'tabmq_denied_total', help: 'Publishes and subscriptions refused as not authorized', labelNames: ['action'], registers: [registry] });
  const bridgeUp = new client.Gauge({ name: 'tabmq_bridge_up', help: 'A bridge is connected to its remote (1) or not (0)', labelNames: ['bridge'], registers: [registry] });
  const bridgeQueued = new client.Gauge({ name: 'tabmq_bridge_queued_messages', help: 'Messages queued for a bridge\'s remote', labelNames: ['bridge'], registers: [registry] });
  const uptime = new client.Gauge({ name: 'tabmq_uptime_seconds', help: 'Seconds since the broker started', registers: [registry] });
  if (store) {
    store.onCommit = (ms) => {
      commits.inc();
      commitSeconds.observe(ms / 1000);
    };
  }
  watch('dropped', (e) => dropped.inc({ reason: e.why }));
  watch('denied', (e) => denied.inc({ action: e.action }));

  /** Reads stats() into the metrics: gauges are set, counters advance by
   *  what the broker counted since the last scrape. */
  const refresh = () => {
    const s = stats();
    for (const [key, gauge] of gauges) gauge.set(s[key] ?? 0);
    for (const [key, counter] of counters) {
      const now = s[key] ?? 0;
      const delta = now - (last[key] ?? 0);
      if (delta > 0) counter.inc(delta);
      last[key] = now;
    }
    for (const [key, counter] of byQos) {
      (s[key] ?? [0, 0, 0]).forEach((now, qos) => {
        const k = `${key}${qos}`;
        const delta = now - (last[k] ?? 0);
        // Every label shows, from 0.
        counter.inc({ qos: String(qos) }, Math.max(0, delta));
        last[k] = now;
      });
    }
    uptime.set(s.uptimeSecs ?? 0);
    bridgeUp.reset();
    bridgeQueued.reset();
    for (const b of s.bridges ?? []) {
      bridgeUp.set({ bridge: b.name }, b.state === 'connected' ? 1 : 0);
      bridgeQueued.set({ bridge: b.name }, b.queued ?? 0);
    }
  };
  return {
    contentType: registry.contentType,
    async text() {
      refresh();
      return registry.metrics();
    },
  };
}
