"""
Eclipse Paho's Python client (Debian's python3-paho-mqtt 1.6.1) against Ferry's mqtt-listener.
Driven by integration/mqtt/paho-conformance.test.ts; one scenario per run, one JSON object on
stdout at the end.

    paho_conformance.py connect PORT VERSION KEEPALIVE
    paho_conformance.py qos PORT VERSION PREFIX          QoS 0/1/2 both ways
    paho_conformance.py retained PORT VERSION PREFIX
    paho_conformance.py will PORT VERSION PREFIX
    paho_conformance.py flow PORT PREFIX N CLIENT_ID      MQTT 5 Receive Maximum both ways
    paho_conformance.py shared PORT VERSION PREFIX N      two members of $share/g/PREFIX/t/#

VERSION: 4 (MQTT 3.1.1) or 5.
"""
import json
import socket
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

HOST = "127.0.0.1"


def new_client(version, client_id=None, **kw):
    proto = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
    cid = client_id or f"paho-{uuid.uuid4().hex[:8]}"
    if version == 5:
        return mqtt.Client(client_id=cid, protocol=proto, **kw)
    return mqtt.Client(client_id=cid, protocol=proto, clean_session=True, **kw)


def connect(c, port, version, keepalive=30, properties=None, timeout=10.0):
    """(rc, connack properties as a dict, or None) once CONNACK arrived; rc None when none came."""
    done = threading.Event()
    out = {"rc": None, "props": None}

    def on_connect(client, userdata, flags, rc, props=None):
        out["rc"] = rc.value if hasattr(rc, "value") else rc
        if props is not None:
            out["props"] = {k: v for k, v in props.json().items()}
        done.set()

    c.on_connect = on_connect
    if version == 5:
        c.connect(HOST, port, keepalive=keepalive, clean_start=True, properties=properties)
    else:
        c.connect(HOST, port, keepalive=keepalive)
    c.loop_start()
    done.wait(timeout)
    return out["rc"], out["props"]


def wait(pred, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


def scenario_connect(port, version, keepalive):
    c = new_client(version)
    rc, props = connect(c, port, version, keepalive=keepalive)
    ok = rc == 0
    pong = False
    if ok:
        # one round trip after CONNACK: the connection is usable
        got = threading.Event()
        c.on_subscribe = lambda *a: got.set()
        c.subscribe("paho/ping", qos=0)
        pong = got.wait(5)
        c.disconnect()
    c.loop_stop()
    return {"rc": rc, "props": props, "usable": pong}


def scenario_qos(port, version, prefix):
    """Subscribe at QoS 2, publish QoS 0, 1, 2: each comes back at its own QoS, and the
    publishes are acknowledged (PUBACK / PUBCOMP) by Ferry once the route settled them."""
    c = new_client(version)
    rc, _ = connect(c, port, version)
    if rc != 0:
        return {"rc": rc}
    received = []
    published = []
    lock = threading.Lock()

    def on_message(client, userdata, msg):
        with lock:
            received.append({"topic": msg.topic, "qos": msg.qos, "payload": msg.payload.decode()})

    def on_publish(client, userdata, mid):
        with lock:
            published.append(mid)

    c.on_message = on_message
    c.on_publish = on_publish
    subscribed = threading.Event()
    c.on_subscribe = lambda *a: subscribed.set()
    c.subscribe(f"{prefix}/#", qos=2)
    subscribed.wait(5)
    mids = {}
    for q in (0, 1, 2):
        info = c.publish(f"{prefix}/q{q}", f"m{q}".encode(), qos=q)
        mids[q] = info.mid
    wait(lambda: len(received) == 3 and all(m in published for m in mids.values()))
    # the client is still connected and working after the QoS 2 flows in both directions
    alive = c.is_connected()
    c.disconnect()
    c.loop_stop()
    return {"rc": rc, "received": sorted(received, key=lambda r: r["topic"]), "acknowledged": sorted(q for q, m in mids.items() if m in published), "alive": alive}


def scenario_retained(port, version, prefix):
    pub = new_client(version)
    connect(pub, port, version)
    info = pub.publish(f"{prefix}/state", b"on", qos=1, retain=True)
    info.wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()
    sub = new_client(version)
    rc, _ = connect(sub, port, version)
    got = []
    sub.on_message = lambda client, userdata, msg: got.append({"topic": msg.topic, "payload": msg.payload.decode(), "retain": bool(msg.retain)})
    sub.subscribe(f"{prefix}/#", qos=1)
    wait(lambda: len(got) >= 1, 5)
    retained = list(got)
    # a retained message with an empty payload clears it (§3.3.1.3)
    clear = sub.publish(f"{prefix}/state", b"", qos=1, retain=True)
    clear.wait_for_publish(5)
    sub.disconnect()
    sub.loop_stop()
    late = new_client(version)
    connect(late, port, version)
    after = []
    late.on_message = lambda client, userdata, msg: after.append(msg.topic)
    subscribed = threading.Event()
    late.on_subscribe = lambda *a: subscribed.set()
    late.subscribe(f"{prefix}/#", qos=1)
    subscribed.wait(5)
    time.sleep(0.3)
    late.disconnect()
    late.loop_stop()
    return {"rc": rc, "retained": retained, "after_clear": after}


def scenario_will(port, version, prefix):
    watcher = new_client(version)
    connect(watcher, port, version)
    got = []
    watcher.on_message = lambda client, userdata, msg: got.append({"topic": msg.topic, "payload": msg.payload.decode(), "qos": msg.qos})
    subscribed = threading.Event()
    watcher.on_subscribe = lambda *a: subscribed.set()
    watcher.subscribe(f"{prefix}/#", qos=1)
    subscribed.wait(5)
    dying = new_client(version)
    dying.will_set(f"{prefix}/status", b"offline", qos=1, retain=False)
    rc, _ = connect(dying, port, version)
    # gone without DISCONNECT: the listener publishes the will (§3.1.2.5)
    dying.loop_stop()
    dying.socket().shutdown(socket.SHUT_RDWR)
    dying.socket().close()
    wait(lambda: len(got) >= 1, 10)
    # a clean DISCONNECT drops the will
    polite = new_client(version)
    polite.will_set(f"{prefix}/polite", b"should not appear", qos=1)
    connect(polite, port, version)
    polite.disconnect()
    polite.loop_stop()
    time.sleep(0.5)
    watcher.disconnect()
    watcher.loop_stop()
    return {"rc": rc, "wills": got}


def scenario_flow(port, prefix, n, client_id):
    """MQTT 5 flow control (§4.9): the client keeps to the Receive Maximum in Ferry's CONNACK, and
    announces its own Receive Maximum of 2, which Ferry keeps to when it sends n QoS 1 messages."""
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = 2
    c = new_client(5, client_id)
    rc, connack = connect(c, port, 5, properties=props)
    if rc != 0:
        return {"rc": rc}
    server_max = (connack or {}).get("ReceiveMaximum", 65535)
    # what a client does with the server's Receive Maximum: no more unacknowledged than that
    c.max_inflight_messages_set(server_max)
    received = []
    c.on_message = lambda client, userdata, msg: received.append(msg.payload.decode())
    subscribed = threading.Event()
    c.on_subscribe = lambda *a: subscribed.set()
    c.subscribe(f"{prefix}/back/#", qos=1)
    subscribed.wait(5)
    infos = [c.publish(f"{prefix}/in/{i}", f"p{i}".encode(), qos=1) for i in range(n)]
    acked = wait(lambda: all(i.is_published() for i in infos), 30)
    wait(lambda: len(received) >= n, 30)
    alive = c.is_connected()
    c.disconnect()
    c.loop_stop()
    return {"rc": rc, "server_receive_maximum": server_max, "all_acknowledged": acked, "received": received, "alive": alive}


def scenario_shared(port, version, prefix, n):
    """Two members of one shared subscription (MQTT 5 §4.8.2; over 3.1.1 as Mosquitto allows) and a
    publisher of n QoS 1 messages: what SUBACK granted each member, and what each received."""
    members = []
    for name in ("a", "b"):
        c = new_client(version)
        rc, _ = connect(c, port, version)
        if rc != 0:
            return {"rc": rc}
        m = {"client": c, "granted": None, "received": [], "subscribed": threading.Event()}

        def on_subscribe(client, userdata, mid, granted, *rest, m=m):
            m["granted"] = [g.value if hasattr(g, "value") else g for g in granted]
            m["subscribed"].set()

        c.on_subscribe = on_subscribe
        c.on_message = lambda client, userdata, msg, m=m: m["received"].append(msg.payload.decode())
        c.subscribe(f"$share/g/{prefix}/t/#", qos=1)
        m["subscribed"].wait(5)
        members.append(m)
    pub = new_client(version)
    rc, _ = connect(pub, port, version)
    infos = [pub.publish(f"{prefix}/t/{i}", f"s{i}".encode(), qos=1) for i in range(n)]
    wait(lambda: all(i.is_published() for i in infos), 20)
    wait(lambda: sum(len(m["received"]) for m in members) >= n, 20)
    for c in [m["client"] for m in members] + [pub]:
        c.disconnect()
        c.loop_stop()
    return {"rc": rc, "granted": [m["granted"] for m in members], "received": [m["received"] for m in members]}


def main():
    kind = sys.argv[1]
    port = int(sys.argv[2])
    if kind == "connect":
        out = scenario_connect(port, int(sys.argv[3]), int(sys.argv[4]))
    elif kind == "qos":
        out = scenario_qos(port, int(sys.argv[3]), sys.argv[4])
    elif kind == "retained":
        out = scenario_retained(port, int(sys.argv[3]), sys.argv[4])
    elif kind == "will":
        out = scenario_will(port, int(sys.argv[3]), sys.argv[4])
    elif kind == "shared":
        out = scenario_shared(port, int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    elif kind == "flow":
        out = scenario_flow(port, sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        raise SystemExit(f"unknown scenario {kind}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
