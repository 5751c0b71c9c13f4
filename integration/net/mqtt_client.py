"""
Paho MQTT (Debian's python3-paho-mqtt 1.6) against Ferry's mqtt-listener, over TCP, TLS,
WebSocket or secure WebSocket. Prints one JSON object on stdout at the end.

    mqtt_client.py roundtrip TRANSPORT HOST PORT PATH N [CA [CERT KEY]]
        subscribe to net/<id>/#, publish N QoS 1 messages to net/<id>/<i>, wait for the N
        PUBACKs and the N copies the listener delivers back; prints the ids published, acked
        and received, and the negotiated connect result
    mqtt_client.py limit TRANSPORT HOST PORT PATH K
        connect K clients, then one more; then each of the K publishes one QoS 1 message and
        waits for its PUBACK. Prints which connected and how many publishes were acknowledged
    mqtt_client.py login TRANSPORT HOST PORT PATH USER PASSWORD
        connect with USER and PASSWORD; once connected, publish one QoS 1 message to
        net/login/<user> and wait for its PUBACK. Prints whether it connected (with the
        CONNACK return code when refused) and whether the publish was acknowledged

TRANSPORT: tcp | tls | ws | wss. PATH is the WebSocket path ("-" for none).
"""
import json
import ssl
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt


def make_client(transport, host, port, path, ca=None, cert=None, key=None, client_id=None):
    c = mqtt.Client(client_id=client_id or f"paho-{uuid.uuid4().hex[:8]}", clean_session=True,
                    transport="websockets" if transport in ("ws", "wss") else "tcp")
    if transport in ("ws", "wss") and path != "-":
        c.ws_set_options(path=path)
    if transport in ("tls", "wss"):
        c.tls_set(ca_certs=ca, certfile=cert, keyfile=key, cert_reqs=ssl.CERT_REQUIRED)
    return c


def connect(c, host, port, timeout=10.0):
    """True once CONNACK 0 arrived; False on refusal, a closed connection or a TLS failure."""
    done = threading.Event()
    result = {"rc": None, "error": None}

    def on_connect(client, userdata, flags, rc):
        result["rc"] = rc
        done.set()

    def on_disconnect(client, userdata, rc):
        done.set()

    c.on_connect = on_connect
    c.on_disconnect = on_disconnect
    try:
        c.connect(host, port, keepalive=30)
    except Exception as e:  # TLS handshake failures and refused sockets land here
        result["error"] = f"{type(e).__name__}: {e}"
        return False, result
    c.loop_start()
    done.wait(timeout)
    if result["rc"] != 0:
        c.loop_stop()
        if result["error"] is None:
            result["error"] = "no CONNACK" if result["rc"] is None else f"CONNACK {result['rc']}"
        return False, result
    return True, result


def roundtrip(transport, host, port, path, n, ca=None, cert=None, key=None):
    tag = uuid.uuid4().hex[:8]
    c = make_client(transport, host, port, path, ca, cert, key)
    received = []
    acked = []
    lock = threading.Lock()
    all_in = threading.Event()

    def on_message(client, userdata, msg):
        with lock:
            received.append(msg.payload.decode())
            if len(received) >= n:
                all_in.set()

    c.on_message = on_message
    ok, res = connect(c, host, port)
    if not ok:
        print(json.dumps({"connected": False, "error": res["error"], "published": [], "acked": [], "received": []}))
        return 0
    subscribed = threading.Event()
    c.on_subscribe = lambda *a: subscribed.set()
    c.subscribe(f"net/{tag}/#", qos=1)
    subscribed.wait(10)
    infos = []
    published = []
    for i in range(n):
        body = f"{tag}-{i}"
        infos.append((body, c.publish(f"net/{tag}/{i}", body, qos=1)))
        published.append(body)
    for body, info in infos:
        info.wait_for_publish(timeout=20)
        if info.is_published():
            acked.append(body)
    all_in.wait(20)
    c.disconnect()
    c.loop_stop()
    print(json.dumps({"connected": True, "error": None, "published": published, "acked": acked, "received": received}))
    return 0


def limit(transport, host, port, path, k):
    clients = []
    connected = []
    for i in range(k + 1):
        c = make_client(transport, host, port, path, client_id=f"limit-{i}-{uuid.uuid4().hex[:6]}")
        ok, _ = connect(c, host, port, timeout=5.0)
        connected.append(ok)
        if ok:
            clients.append(c)
    acked = 0
    for i, c in enumerate(clients):
        info = c.publish(f"limit/{i}", f"m{i}", qos=1)
        info.wait_for_publish(timeout=10)
        if info.is_published():
            acked += 1
    for c in clients:
        c.disconnect()
        c.loop_stop()
    print(json.dumps({"connected": connected, "acked": acked}))
    return 0


def login(transport, host, port, path, user, password):
    c = make_client(transport, host, port, path)
    c.username_pw_set(user, password)
    ok, res = connect(c, host, port)
    acked = False
    if ok:
        info = c.publish(f"net/login/{user}", b"hello", qos=1)
        info.wait_for_publish(timeout=10)
        acked = info.is_published()
        c.disconnect()
        c.loop_stop()
    print(json.dumps({"connected": ok, "rc": res["rc"], "error": res["error"], "acked": acked}))
    return 0


def main(argv):
    mode, transport, host, port, path = argv[1], argv[2], argv[3], int(argv[4]), argv[5]
    rest = argv[6:]
    if mode == "roundtrip":
        n = int(rest[0])
        ca = rest[1] if len(rest) > 1 else None
        cert = rest[2] if len(rest) > 2 else None
        key = rest[3] if len(rest) > 3 else None
        return roundtrip(transport, host, port, path, n, ca, cert, key)
    if mode == "limit":
        return limit(transport, host, port, path, int(rest[0]))
    if mode == "login":
        return login(transport, host, port, path, rest[0], rest[1])
    print(f"unknown mode {mode}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
