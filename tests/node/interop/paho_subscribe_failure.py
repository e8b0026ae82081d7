#!/usr/bin/env python3
"""Eclipse Paho (Python, paho-mqtt 1.x or 2.x), MQTT 3.1.1, against a tabmq
whose ACL denies one topic, for tests/node/security.test.mjs: the scenario of
Paho's interoperability test `test_subscribe_failure` (written here from its
description, not copied).

One client, clean session:
  1. subscribes to NOSUBSCRIBE (default test/nosubscribe) at QoS 2: the ACL
     denies it, so the SUBACK must say 0x80 (failure);
  2. subscribes to TopicA/# at QoS 2: granted QoS 2;
  3. publishes a QoS 2 message to TopicA/B and receives it (the ACL still
     lets everything else through).
It prints one JSON line, {"nosubscribe": [codes], "topicA": [codes],
"received": [{topic, payload, qos}]}, and exits 0, or prints why on stderr
and exits 1. Every wait is bounded by --timeout.
"""

import argparse
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt


def fail(why):
    print(f"paho_subscribe_failure: {why}", file=sys.stderr, flush=True)
    sys.exit(1)


class Events:
    """What paho's network thread reports, waited for with a deadline."""

    def __init__(self):
        self.cond = threading.Condition()
        self.items = []

    def add(self, item):
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def wait(self, kind, timeout, what):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [x for x in self.items if x[0] == kind]
                if found:
                    self.items.remove(found[0])
                    return found[0][1]
                left = end - time.monotonic()
                if left <= 0:
                    fail(f"timed out after {timeout}s waiting for {what} (have {self.items!r})")
                self.cond.wait(left)


def code(rc):
    """A reason code or granted QoS as an int, whatever paho version made it."""
    return getattr(rc, "value", rc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--nosubscribe", default="test/nosubscribe")
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()

    kwargs = dict(client_id="paho-subscribe-failure", protocol=mqtt.MQTTv311, clean_session=True)
    if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2.x
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
    else:
        client = mqtt.Client(**kwargs)
    events = Events()

    def on_connect(_c, _u, _flags, rc, *_rest):
        events.add(("connack", code(rc)))

    def on_subscribe(_c, _u, mid, granted, *_rest):
        events.add((("suback", mid), [code(g) for g in granted]))

    def on_message(_c, _u, msg):
        events.add(("message", {"topic": msg.topic, "payload": msg.payload.decode(), "qos": msg.qos}))

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(args.host, args.port, keepalive=30)
    client.loop_start()
    rc = events.wait("connack", args.timeout, "CONNACK")
    if rc != 0:
        fail(f"CONNACK refused: {rc}")

    _, mid = client.subscribe(args.nosubscribe, qos=2)
    nosubscribe = events.wait(("suback", mid), args.timeout, f"the SUBACK for {args.nosubscribe}")
    _, mid = client.subscribe("TopicA/#", qos=2)
    topic_a = events.wait(("suback", mid), args.timeout, "the SUBACK for TopicA/#")

    info = client.publish("TopicA/B", "qos 2 through the ACL", qos=2)
    info.wait_for_publish(timeout=args.timeout)
    if not info.is_published():
        fail("the QoS 2 publish to TopicA/B was not completed")
    received = [events.wait("message", args.timeout, "the message on TopicA/B")]

    client.disconnect()
    client.loop_stop()
    print(json.dumps({"nosubscribe": nosubscribe, "topicA": topic_a, "received": received}), flush=True)


if __name__ == "__main__":
    main()
