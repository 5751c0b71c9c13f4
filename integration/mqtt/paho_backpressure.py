"""
Paho (Debian python3-paho-mqtt 1.6.1) as the two ends of a listener-to-listener stream, for
listener-backpressure.test.ts:

  sub HOST PORT TOPIC COUNT DELAY_MS VERSION  a deliberately slow QoS 1 subscriber: sleeps DELAY_MS
                                              in every on_message (paho sends the PUBACK after it);
                                              prints "ready" once subscribed, then one JSON line
                                              with every payload received, once COUNT distinct
                                              ones arrived or nothing came for 10 s
  pub HOST PORT TOPIC COUNT VERSION           a fast QoS 1 publisher, 100 in flight; payloads are
                                              0..COUNT-1; prints one JSON line once every PUBACK
                                              arrived (or after 60 s)

VERSION: 4 (MQTT 3.1.1) or 5.
"""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt


def client(client_id, version):
    if version == 5:
        return mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
    return mqtt.Client(client_id=client_id, clean_session=True, protocol=mqtt.MQTTv311)


def connect(c, host, port, version):
    if version == 5:
        c.connect(host, port, keepalive=60, clean_start=True)
    else:
        c.connect(host, port, keepalive=60)


def subscriber(host, port, topic, count, delay_ms, version):
    got = []
    seen = set()
    last = [time.monotonic()]
    done = threading.Event()
    subscribed = threading.Event()
    c = client("bp-slow-sub", version)

    def on_connect(cl, _u, _f, _rc, _p=None):
        cl.subscribe(topic, qos=1)

    def on_subscribe(_cl, _u, _mid, _granted, _p=None):
        subscribed.set()

    def on_message(_cl, _u, msg):
        time.sleep(delay_ms / 1000.0)
        payload = msg.payload.decode()
        got.append(payload)
        seen.add(payload)
        last[0] = time.monotonic()
        if len(seen) >= count:
            done.set()

    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    c.on_message = on_message
    connect(c, host, port, version)
    c.loop_start()
    if not subscribed.wait(10):
        print(json.dumps({"error": "no SUBACK"}))
        sys.exit(1)
    last[0] = time.monotonic()
    print("ready", flush=True)
    while not done.wait(0.1):
        if time.monotonic() - last[0] > 10:
            break
    # let paho send the PUBACK of the last message before leaving
    time.sleep(0.2)
    c.disconnect()
    c.loop_stop()
    print(json.dumps({"received": got}), flush=True)


def publisher(host, port, topic, count, version):
    acked = [0]
    all_acked = threading.Event()
    c = client("bp-fast-pub", version)
    c.max_inflight_messages_set(100)
    c.max_queued_messages_set(0)

    def on_publish(_cl, _u, _mid):
        acked[0] += 1
        if acked[0] >= count:
            all_acked.set()

    c.on_publish = on_publish
    connect(c, host, port, version)
    c.loop_start()
    t0 = time.monotonic()
    for i in range(count):
        c.publish(topic, str(i).encode(), qos=1)
    all_acked.wait(60)
    seconds = time.monotonic() - t0
    c.disconnect()
    c.loop_stop()
    print(json.dumps({"published": count, "acked": acked[0], "seconds": round(seconds, 3)}), flush=True)


def main():
    mode, host, port, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    if mode == "sub":
        subscriber(host, port, topic, count, float(sys.argv[6]), int(sys.argv[7]))
    else:
        publisher(host, port, topic, count, int(sys.argv[6]))


main()
