"""Third-party clients of Ferry's listeners for the listener-state fault scenario (paho-mqtt,
stomp.py, qpid-proton: none of them is what Ferry itself uses). Each command prints one line
per event, `<kind> <payload>`, then `done`; a command that times out says so and exits 1.

  mqtt-subscribe  PORT CLIENT VERSION          persistent session, subscribe ferry/+/temperature QoS 1, leave
  mqtt-publish    PORT RUN COUNT RETAINED      QoS 1 publishes; prints `acked <id>` per PUBACK
  mqtt-drain      PORT CLIENT VERSION COUNT    resume the session, print `got <id>` until COUNT
  mqtt-retained   PORT COUNT                   subscribe status/#, print `retained <payload>`
  stomp-drain     PORT DEST COUNT              subscribe a /queue, print `got <id>` until COUNT
  amqp-drain      PORT ADDRESS COUNT           receive from an address, print `got <id>` until COUNT
"""
import sys
import threading
import time

TIMEOUT = 20.0


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def paho_client(client_id, version, clean):
    import paho.mqtt.client as mqtt
    if version == 5:
        c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
    else:
        c = mqtt.Client(client_id=client_id, clean_session=clean, protocol=mqtt.MQTTv311)
    return c


def connect(c, port, version, clean):
    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties
    from paho.mqtt.packettypes import PacketTypes
    connected = threading.Event()
    c.on_connect = lambda *a: connected.set()
    if version == 5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        c.connect("127.0.0.1", port, keepalive=30, clean_start=clean, properties=props)
    else:
        c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    if not connected.wait(TIMEOUT):
        out("timeout connect")
        sys.exit(1)
    c._sock.setsockopt(__import__("socket").IPPROTO_TCP, __import__("socket").TCP_NODELAY, 1)


def wait_count(seen, count, lock):
    end = time.time() + TIMEOUT
    while time.time() < end:
        with lock:
            if len(seen) >= count:
                return True
        time.sleep(0.02)
    return False


def mqtt_subscribe(port, client_id, version):
    version = int(version)
    c = paho_client(client_id, version, False)
    connect(c, int(port), version, False)
    subscribed = threading.Event()
    c.on_subscribe = lambda *a: subscribed.set()
    c.subscribe("ferry/+/temperature", qos=1)
    if not subscribed.wait(TIMEOUT):
        out("timeout subscribe")
        sys.exit(1)
    c.disconnect()
    c.loop_stop()
    out("done")


def mqtt_publish(port, run, count, retained):
    c = paho_client(run + "-pub", 4, True)
    connect(c, int(port), 4, True)
    lock = threading.Lock()
    mids = {}
    acked = []

    def on_publish(_c, _u, mid):
        with lock:
            ident = mids.pop(mid, None)
            if ident is not None:
                acked.append(ident)
                out("acked " + ident)

    c.on_publish = on_publish
    total = 0
    for i in range(int(retained)):
        ident = "%s-r%d" % (run, i)
        with lock:
            info = c.publish("status/%s/dev%d" % (run, i), ident, qos=1, retain=True)
            mids[info.mid] = ident
        total += 1
    for i in range(int(count)):
        ident = "%s-%d" % (run, i)
        with lock:
            info = c.publish("sensors/hall/temperature", ident, qos=1)
            mids[info.mid] = ident
        total += 1
    ok = wait_count(acked, total, lock)
    c.disconnect()
    c.loop_stop()
    out("done" if ok else "timeout publish")
    sys.exit(0 if ok else 1)


def mqtt_drain(port, client_id, version, count):
    version = int(version)
    c = paho_client(client_id, version, False)
    lock = threading.Lock()
    seen = []
    present = []

    def on_message(_c, _u, msg):
        with lock:
            seen.append(msg.payload)
            out("got " + msg.payload.decode())

    c.on_message = on_message
    connect(c, int(port), version, False)
    ok = wait_count(seen, int(count), lock)
    c.disconnect()
    c.loop_stop()
    out("done" if ok else "timeout drain")


def mqtt_retained(port, count):
    c = paho_client("retained-reader", 4, True)
    lock = threading.Lock()
    seen = []

    def on_message(_c, _u, msg):
        with lock:
            seen.append(msg.payload)
            if msg.retain:
                out("retained " + msg.payload.decode())

    c.on_message = on_message
    connect(c, int(port), 4, True)
    c.subscribe("status/#", qos=1)
    ok = wait_count(seen, int(count), lock)
    c.disconnect()
    c.loop_stop()
    out("done" if ok else "timeout retained")


def stomp_drain(port, dest, count):
    import stomp
    lock = threading.Lock()
    seen = []

    class L(stomp.ConnectionListener):
        def on_message(self, frame):
            with lock:
                seen.append(frame.body)
                body = frame.body if isinstance(frame.body, str) else frame.body.decode()
                out("got " + body)

    conn = stomp.Connection([("127.0.0.1", int(port))], heartbeats=(0, 0), auto_decode=False)
    conn.set_listener("", L())
    conn.connect(wait=True)
    conn.subscribe(destination=dest, id="1", ack="auto")
    ok = wait_count(seen, int(count), lock)
    conn.disconnect()
    out("done" if ok else "timeout stomp")


def amqp_drain(port, address, count):
    from proton.utils import BlockingConnection
    conn = BlockingConnection("amqp://127.0.0.1:%s" % port, timeout=TIMEOUT)
    receiver = conn.create_receiver(address, credit=100)
    got = 0
    end = time.time() + TIMEOUT
    while got < int(count) and time.time() < end:
        try:
            msg = receiver.receive(timeout=max(0.1, end - time.time()))
        except Exception:
            break
        body = msg.body
        if isinstance(body, (bytes, bytearray, memoryview)):
            body = bytes(body).decode()
        out("got " + str(body))
        receiver.accept()
        got += 1
    conn.close()
    out("done" if got >= int(count) else "timeout amqp")


COMMANDS = {
    "mqtt-subscribe": mqtt_subscribe,
    "mqtt-publish": mqtt_publish,
    "mqtt-drain": mqtt_drain,
    "mqtt-retained": mqtt_retained,
    "stomp-drain": stomp_drain,
    "amqp-drain": amqp_drain,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
