#!/usr/bin/env python3
"""Eclipse Paho (Python, paho-mqtt 1.x or 2.x) against a running tabmq, for
tests/node/interop.test.mjs.

Two paho clients, a subscriber and a publisher, over TCP or WebSocket, in
MQTT 3.1.1 or 5.0:
  1. the subscriber subscribes to PREFIX/# at QoS 2;
  2. the publisher publishes PREFIX/paho/q0, q1, q2 at QoS 0, 1 and 2
     (with MQTT 5 properties in 5.0); the subscriber must get all three;
  3. it prints READY and waits for the test (MQTT.js) to publish EXPECT
     more messages under PREFIX/js/; the subscriber must get those too.
It prints one JSON line with what the subscriber received and exits 0, or
prints why on stderr and exits 1. Every wait is bounded by --timeout.
"""

import argparse
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

try:
    from paho.mqtt.properties import Properties
    from paho.mqtt.packettypes import PacketTypes
except ImportError:  # very old paho: no MQTT 5
    Properties = PacketTypes = None


def fail(why):
    print(f"paho_client: {why}", file=sys.stderr, flush=True)
    sys.exit(1)


class Waiter:
    """Collects events from paho's network thread; waits with a deadline."""

    def __init__(self):
        self.cond = threading.Condition()
        self.items = []

    def add(self, item):
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def wait(self, pred, timeout, what):
        end = time.monotonic() + timeout
        with self.cond:
            while not pred(self.items):
                left = end - time.monotonic()
                if left <= 0:
                    fail(f"timed out after {timeout}s waiting for {what} (have {self.items!r})")
                self.cond.wait(left)


def make_client(args, client_id):
    protocol = mqtt.MQTTv5 if args.version == "5" else mqtt.MQTTv311
    kwargs = dict(client_id=client_id, protocol=protocol, transport=args.transport)
    if protocol == mqtt.MQTTv311:
        kwargs["clean_session"] = True
    if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2.x
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
    else:
        client = mqtt.Client(**kwargs)
    if args.transport == "websockets":
        client.ws_set_options(path=args.path)
    return client


def reason_value(rc):
    """A reason code as an int, whatever paho version made it."""
    if isinstance(rc, list):
        rc = rc[0]
    return getattr(rc, "value", rc)


def connect(client, args, events):
    def on_connect(_c, _u, _flags, rc, *_rest):
        events.add(("connack", reason_value(rc)))

    client.on_connect = on_connect
    if args.version == "5":
        client.connect(args.host, args.port, keepalive=30, clean_start=True)
    else:
        client.connect(args.host, args.port, keepalive=30)
    client.loop_start()
    events.wait(lambda xs: any(x[0] == "connack" for x in xs), args.timeout, "CONNACK")
    rc = next(x[1] for x in events.items if x[0] == "connack")
    if rc != 0:
        fail(f"CONNACK refused: {rc}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--transport", choices=["tcp", "websockets"], default="tcp")
    ap.add_argument("--path", default="/mqtt")
    ap.add_argument("--version", choices=["3.1.1", "5"], required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--expect", type=int, default=3, help="messages the test publishes under PREFIX/js/")
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()
    v5 = args.version == "5"

    sub_events, received = Waiter(), Waiter()
    sub = make_client(args, f"paho-sub-{args.prefix}")

    def on_message(_c, _u, msg):
        item = {"topic": msg.topic, "payload": msg.payload.decode(), "qos": msg.qos}
        props = getattr(msg, "properties", None)
        if v5 and props is not None:
            item["userProperties"] = [list(p) for p in getattr(props, "UserProperty", [])]
            cd = getattr(props, "CorrelationData", None)
            if cd is not None:
                item["correlationData"] = cd.hex()
        received.add(item)

    def on_subscribe(_c, _u, _mid, granted, *_rest):
        sub_events.add(("suback", reason_value(granted)))

    sub.on_message = on_message
    sub.on_subscribe = on_subscribe
    connect(sub, args, sub_events)
    sub.subscribe(f"{args.prefix}/#", qos=2)
    sub_events.wait(lambda xs: any(x[0] == "suback" for x in xs), args.timeout, "SUBACK")
    granted = next(x[1] for x in sub_events.items if x[0] == "suback")
    if granted != 2:
        fail(f"SUBACK granted {granted}, wanted QoS 2")

    pub_events = Waiter()
    pub = make_client(args, f"paho-pub-{args.prefix}")
    connect(pub, args, pub_events)
    for qos in (0, 1, 2):
        props = None
        if v5 and Properties is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.UserProperty = [("from", "paho"), ("qos", str(qos))]
            props.CorrelationData = bytes([qos, 0xAB])
        info = pub.publish(f"{args.prefix}/paho/q{qos}", f"paho q{qos}", qos=qos, properties=props)
        info.wait_for_publish(timeout=args.timeout)
        if not info.is_published():
            fail(f"QoS {qos} publish not acknowledged")
    received.wait(lambda xs: len(xs) >= 3, args.timeout, "paho's own 3 messages")

    print("READY", flush=True)
    received.wait(lambda xs: len(xs) >= 3 + args.expect, args.timeout, f"{args.expect} messages from the test")
    pub.disconnect()
    sub.disconnect()
    pub.loop_stop()
    sub.loop_stop()
    print(json.dumps({"received": received.items}), flush=True)


if __name__ == "__main__":
    main()
