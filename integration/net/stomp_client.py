"""
Third-party STOMP clients against Ferry's stomp-listener: stomp.py (Debian's python3-stomp 8.0)
over TCP and TLS, and raw STOMP 1.2 frames over WebSocket with websocket-client (Debian's
python3-websocket; stomp.py 8.0 has no WebSocket transport). One JSON object on stdout.

    stomp_client.py send  HOST PORT N [CA [CERT KEY]]
        stomp.py, STOMP 1.2 (TLS when CA is given): subscribe /topic/net.<tag>, SEND N with
        receipts; prints the bodies sent, the receipts and the MESSAGEs received
    stomp_client.py ws    URL N [CA]
        websocket-client, subprotocols v12.stomp/v11.stomp: CONNECT, SUBSCRIBE, then N SENDs with
        receipts written so that two frames share one WebSocket message and one frame is split
        over two messages; prints the same plus the negotiated subprotocol
    stomp_client.py limit HOST PORT K
        stomp.py: K connections, then one more; then each of the K sends one SEND with a receipt
"""
import json
import os
import ssl
import sys
import threading
import time
import uuid

import stomp

# stomp.py uses its TLS socket from two threads at once; this makes that safe (see the module)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import stomppy_tls  # noqa: E402

stomppy_tls.install()


SOCKET_TIMEOUT = 30


class Collect(stomp.ConnectionListener):
    def __init__(self):
        self.receipts = []
        self.received = []
        self.errors = []
        self.lock = threading.Lock()

    def on_receipt(self, frame):
        with self.lock:
            self.receipts.append(frame.headers.get("receipt-id"))

    def on_message(self, frame):
        with self.lock:
            self.received.append(frame.body if isinstance(frame.body, str) else frame.body.decode())

    def on_error(self, frame):
        self.errors.append(frame.headers.get("message"))


def stomp_connect(host, port, ca=None, cert=None, key=None):
    # stomp.py applies this one timeout to the TCP connect, the TLS handshake and every socket
    # read, and takes a read that times out for a closed connection: with 5 s, a server that
    # answers CONNECT 5 s late on a loaded machine made a good client "not connected" with nothing
    # sent. A refused client is closed by the server at once, so a long timeout costs nothing;
    # the test's runner still bounds the whole client (runPythonFile's time-out).
    conn = stomp.Connection12([(host, port)], heartbeats=(0, 0), reconnect_attempts_max=1, timeout=SOCKET_TIMEOUT)
    if ca is not None:
        conn.set_ssl(for_hosts=[(host, port)], ca_certs=ca, cert_file=cert, key_file=key)
    listener = Collect()
    conn.set_listener("c", listener)
    try:
        conn.connect(wait=True, headers={"host": "ferry"}, with_connect_command=True)
    except Exception as e:
        return None, listener, f"{type(e).__name__}: {e}"
    if not conn.is_connected():
        return None, listener, "not connected"
    return conn, listener, None


def wait_until(check, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if check():
            return True
        time.sleep(0.02)
    return check()


def send(host, port, n, ca=None, cert=None, key=None):
    tag = uuid.uuid4().hex[:8]
    t0 = time.time()
    conn, l, err = stomp_connect(host, port, ca, cert, key)
    if conn is None:
        err = f"{err} (after {time.time() - t0:.1f} s)"
        print(json.dumps({"connected": False, "error": err, "sent": [], "receipts": [], "received": []}))
        return 0
    conn.subscribe(destination=f"/topic/net.{tag}", id="s1", ack="auto", headers={"receipt": "sub"})
    wait_until(lambda: "sub" in l.receipts, 10)
    sent = []
    for i in range(n):
        body = f"{tag}-{i}"
        conn.send(destination=f"/topic/net.{tag}", body=body, headers={"receipt": body})
        sent.append(body)
    wait_until(lambda: len(l.receipts) >= n + 1 and len(l.received) >= n, 20)
    # taken before DISCONNECT: stomp.py asks for a receipt of its own on it
    with l.lock:
        receipts = [r for r in l.receipts if r != "sub"]
        received = list(l.received)
    conn.disconnect()
    print(json.dumps({"connected": True, "error": None, "sent": sent, "receipts": receipts, "received": received}))
    return 0


def frame(command, headers, body=""):
    lines = [command] + [f"{k}:{v}" for k, v in headers.items()]
    return ("\n".join(lines) + "\n\n" + body + "\x00").encode()


def ws(url, n, ca=None):
    import websocket  # python3-websocket

    tag = uuid.uuid4().hex[:8]
    sock = websocket.create_connection(url, subprotocols=["v12.stomp", "v11.stomp"], timeout=10, sslopt={"ca_certs": ca} if ca else None)
    protocol = sock.getsubprotocol()
    sock.send_binary(frame("CONNECT", {"accept-version": "1.2", "host": "ferry", "heart-beat": "0,0"}))
    buf = b""
    receipts, received, errors, connected = [], [], [], False

    def pump(until, seconds=20):
        nonlocal buf, connected
        end = time.time() + seconds
        while not until() and time.time() < end:
            data = sock.recv()
            buf += data if isinstance(data, bytes) else data.encode()
            while b"\x00" in buf:
                raw, buf = buf.split(b"\x00", 1)
                raw = raw.lstrip(b"\r\n")
                if not raw:
                    continue
                head, _, body = raw.partition(b"\n\n")
                lines = head.decode().split("\n")
                hdrs = dict(l.split(":", 1) for l in lines[1:] if ":" in l)
                if lines[0] == "CONNECTED":
                    connected = True
                elif lines[0] == "RECEIPT":
                    receipts.append(hdrs.get("receipt-id"))
                elif lines[0] == "MESSAGE":
                    received.append(body.decode())
                elif lines[0] == "ERROR":
                    errors.append(hdrs.get("message"))
                    return

    pump(lambda: connected, 10)
    sock.send_binary(frame("SUBSCRIBE", {"id": "s1", "destination": f"/topic/net.{tag}", "ack": "auto", "receipt": "sub"}))
    pump(lambda: "sub" in receipts, 10)
    sent = []
    frames = []
    for i in range(n):
        body = f"{tag}-{i}"
        sent.append(body)
        frames.append(frame("SEND", {"destination": f"/topic/net.{tag}", "receipt": body, "content-type": "text/plain"}, body))
    i = 0
    while i < len(frames):
        if i + 1 < len(frames) and i % 3 == 0:
            sock.send_binary(frames[i] + frames[i + 1])  # two frames in one WebSocket message
            i += 2
        elif i % 3 == 2:
            half = len(frames[i]) // 2
            sock.send_binary(frames[i][:half])  # one frame over two WebSocket messages
            sock.send_binary(frames[i][half:])
            i += 1
        else:
            sock.send_binary(frames[i])
            i += 1
    pump(lambda: len(receipts) >= n + 1 and len(received) >= n, 20)
    sock.send_binary(frame("DISCONNECT", {}))
    sock.close()
    print(json.dumps({"connected": connected, "subprotocol": protocol, "error": errors[0] if errors else None, "sent": sent, "receipts": [r for r in receipts if r != "sub"], "received": received}))
    return 0


def limit(host, port, k):
    conns = []
    connected = []
    for i in range(k + 1):
        conn, l, err = stomp_connect(host, port)
        connected.append(conn is not None)
        if conn is not None:
            conns.append((conn, l))
    receipted = 0
    for i, (conn, l) in enumerate(conns):
        conn.send(destination=f"/queue/limit.{i}", body=f"m{i}", headers={"receipt": f"r{i}"})
        if wait_until(lambda: f"r{i}" in l.receipts, 10):
            receipted += 1
    for conn, _ in conns:
        conn.disconnect()
    print(json.dumps({"connected": connected, "receipted": receipted}))
    return 0


def main(argv):
    mode = argv[1]
    if mode == "send":
        host, port, n = argv[2], int(argv[3]), int(argv[4])
        rest = argv[5:]
        return send(host, port, n, *(rest + [None] * (3 - len(rest))))
    if mode == "ws":
        return ws(argv[2], int(argv[3]), argv[4] if len(argv) > 4 else None)
    if mode == "limit":
        return limit(argv[2], int(argv[3]), int(argv[4]))
    print(f"unknown mode {mode}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
