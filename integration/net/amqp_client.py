"""
Qpid Proton (Debian's python3-qpid-proton) against Ferry's amqp10-listener, over TCP or TLS
(amqps). One JSON object on stdout.

    amqp_client.py send  HOST PORT ADDR N [CA [CERT KEY]]
        a blocking sender to ADDR: N messages, each waiting for its outcome; prints the bodies
        sent and the ones accepted (TLS with the listener verified against CA when given)
    amqp_client.py limit HOST PORT ADDR K
        K connections, then one more; then each of the K sends one message
"""
import json
import sys
import uuid

from proton import Message, SSLDomain
from proton.utils import BlockingConnection


def open_connection(host, port, ca=None, cert=None, key=None):
    domain = None
    scheme = "amqp"
    if ca is not None:
        scheme = "amqps"
        domain = SSLDomain(SSLDomain.MODE_CLIENT)
        domain.set_trusted_ca_db(ca)
        domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME, ca)
        if cert is not None:
            domain.set_credentials(cert, key, None)
    try:
        return BlockingConnection(f"{scheme}://{host}:{port}", timeout=10, ssl_domain=domain), None
    except Exception as e:
        return None, f"{type(e).__name__}: {e}"


def send(host, port, address, n, ca=None, cert=None, key=None):
    tag = uuid.uuid4().hex[:8]
    conn, err = open_connection(host, port, ca, cert, key)
    sent, accepted = [], []
    if conn is None:
        print(json.dumps({"connected": False, "error": err, "sent": sent, "accepted": accepted}))
        return 0
    try:
        snd = conn.create_sender(address)
        for i in range(n):
            body = f"{tag}-{i}"
            sent.append(body)
            snd.send(Message(body=body))  # returns once accepted, raises otherwise
            accepted.append(body)
        conn.close()
    except Exception as e:
        err = f"{type(e).__name__}: {e}"
    print(json.dumps({"connected": True, "error": err, "sent": sent, "accepted": accepted}))
    return 0


def limit(host, port, address, k):
    conns, connected, errors = [], [], []
    for i in range(k + 1):
        conn, err = open_connection(host, port)
        ok = False
        if conn is not None:
            try:
                # the open alone may race the server's close: a link attach proves the connection
                conns.append((conn, conn.create_sender(address)))
                ok = True
            except Exception as e:
                errors.append(f"{type(e).__name__}: {e}")
        else:
            errors.append(err)
        connected.append(ok)
    accepted = 0
    for i, (conn, snd) in enumerate(conns):
        try:
            snd.send(Message(body=f"m{i}"))
            accepted += 1
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")
    for conn, _ in conns:
        conn.close()
    print(json.dumps({"connected": connected, "accepted": accepted, "errors": errors}))
    return 0


def main(argv):
    mode, host, port, address = argv[1], argv[2], int(argv[3]), argv[4]
    if mode == "send":
        n = int(argv[5])
        rest = argv[6:]
        return send(host, port, address, n, *(rest + [None] * (3 - len(rest))))
    if mode == "limit":
        return limit(host, port, address, int(argv[5]))
    print(f"unknown mode {mode}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
