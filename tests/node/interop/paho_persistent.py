#!/usr/bin/env python3
"""Eclipse Paho (Python, paho-mqtt 1.x or 2.x) with a persistent session,
for tests/node/storage-interop.test.mjs (a tabmq CLI with --data, restarted
between the steps). One step per run, MQTT 3.1.1 (clean_session=False) or
5.0 (clean_start=False, session expiry one hour):

  subscribe  connects as --id, subscribes to --topic at QoS 1, disconnects;
  publish    connects as a clean client and publishes --count QoS 1
             messages to --topic ("<prefix>-0", "<prefix>-1", ...), each
             waited for until acknowledged;
  receive    connects as --id again, without subscribing, and waits for
             --count messages (what the session queued while it was away).

Each step prints one JSON line ({"sessionPresent": ..., ...}) and exits 0,
or prints why on stderr and exits 1. Every wait is bounded by --timeout.
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
    print(f"paho_persistent: {why}", file=sys.stderr, flush=True)
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


def reason_value(rc):
    """A reason code as an int, whatever paho version made it."""
    if isinstance(rc, list):
        rc = rc[0]
    return getattr(rc, "value", rc)


def session_present(flags):
    """CONNACK's session present flag, whatever paho version made it."""
    if isinstance(flags, dict):
        return bool(flags.get("session present"))
    return bool(getattr(flags, "session_present", False))


def make_client(args, client_id, persistent):
    v5 = args.version == "5"
    kwargs = dict(client_id=client_id, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    if not v5:
        kwargs["clean_session"] = not persistent
    if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2.x
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
    return mqtt.Client(**kwargs)


def connect(client, args, persistent, events):
    def on_connect(_c, _u, flags, rc, *_rest):
        events.add(("connack", reason_value(rc), session_present(flags)))

    client.on_connect = on_connect
    if args.version == "5":
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600 if persistent else 0
        client.connect(args.host, args.port, keepalive=30, clean_start=not persistent, properties=props)
    else:
        client.connect(args.host, args.port, keepalive=30)
    client.loop_start()
    events.wait(lambda items: any(i[0] == "connack" for i in items), args.timeout, "CONNACK")
    connack = next(i for i in events.items if i[0] == "connack")
    if connack[1] != 0:
        fail(f"CONNACK refused the connection: {connack[1]}")
    return connack[2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=["subscribe", "publish", "receive"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", choices=["3.1.1", "5"], default="5")
    parser.add_argument("--id", default="")
    parser.add_argument("--topic", default="")
    parser.add_argument("--prefix", default="paho")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10)
    args = parser.parse_args()

    events = Waiter()
    persistent = args.step != "publish"
    client = make_client(args, args.id if persistent else "", persistent)
    received = []

    def on_message(_c, _u, msg):
        received.append({"topic": msg.topic, "payload": msg.payload.decode(), "qos": msg.qos, "retain": bool(msg.retain)})
        events.add(("message",))

    def on_subscribe(_c, _u, _mid, granted, *_rest):
        events.add(("suback", [reason_value(g) for g in granted]))

    client.on_message = on_message
    client.on_subscribe = on_subscribe
    present = connect(client, args, persistent, events)
    out = {"sessionPresent": present}

    if args.step == "subscribe":
        client.subscribe(args.topic, qos=1)
        events.wait(lambda items: any(i[0] == "suback" for i in items), args.timeout, "SUBACK")
        out["granted"] = next(i for i in events.items if i[0] == "suback")[1]
    elif args.step == "publish":
        for n in range(args.count):
            info = client.publish(args.topic, f"{args.prefix}-{n}", qos=1)
            info.wait_for_publish(timeout=args.timeout)
            if not info.is_published():
                fail(f"message {n} was not acknowledged within {args.timeout}s")
        out["published"] = args.count
    else:
        events.wait(lambda items: sum(1 for i in items if i[0] == "message") >= args.count,
                    args.timeout, f"{args.count} message(s)")
        out["received"] = list(received)

    client.disconnect()
    client.loop_stop()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
