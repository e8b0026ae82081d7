// The retained messages a user may read, for the gateways (http.js,
// coap.js): a subscription of the broker's own made and ended at once, so
// the ACL applies per message as for an MQTT client, and the retained
// messages, which arrive before it resolves, are what it got.

/**
 * Resolves to at most `limit` retained messages matching `filter` that
 * `username` may read, each at the QoS it was published with; rejects with
 * ERR_TABMQ_REJECTED (and its `reasonCode`) when the filter is refused.
 */
export async function readRetained(broker, filter, username, limit = Infinity) {
  const got = [];
  const sub = await broker.subscribe(filter, (m) => {
    if (got.length < limit) got.push(m);
  }, { username, qos: 2 });
  sub.unsubscribe();
  return got;
}
