"""
Third-party clients logging in to Ferry's listeners, several attempts in one process (a Python
start each less): stomp.py (Debian's python3-stomp) and Qpid Proton (python3-qpid-proton).
One JSON line on stdout: a result per attempt.

    clients.py stomp PORT ATTEMPTS
        each attempt {"login", "ca", "cert", "key", "dests"} (all optional; TLS when "ca"):
        CONNECT (with login/passcode when "login"), then a SEND with a receipt to each of
        "dests", each waited for. Result: connected, exception, errors (ERROR messages), receipts
    clients.py amqp PORT ATTEMPTS
        each attempt {"user", "ca", "cert", "key", "addresses"} (all optional): amqps to
        localhost when "ca" (the test server certificate names localhost; proton checks the
        name), SASL PLAIN when "user", else EXTERNAL over TLS, else ANONYMOUS. Then a sender and
        one message per address. Result: connected, error, sent, refused
"""
import json
import os
import sys
import time

import stomp
from proton import Message, SSLDomain
from proton.utils import BlockingConnection

# stomp.py uses its TLS socket from two threads at once; this makes that safe (see the module)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import stomppy_tls  # noqa: E402

stomppy_tls.install()


def wait_until(check, seconds):
    end = time.time() + seconds
    while time.time() < end and not check():
        time.sleep(0.02)


def stomp_attempt(port, a):
    errors, receipts = [], []

    class Listener(stomp.ConnectionListener):
        def on_error(self, frame):
            errors.append(frame.headers.get("message"))

        def on_receipt(self, frame):
            receipts.append(frame.headers.get("receipt-id"))

    # stomp.py takes a read that times out for a closed connection: a refusal the per-address
    # slow-down holds for seconds must not read as "not connected" with no ERROR
    c = stomp.Connection12([("127.0.0.1", port)], heartbeats=(0, 0), reconnect_attempts_max=1, timeout=30)
    if a.get("ca"):
        c.set_ssl(for_hosts=[("127.0.0.1", port)], ca_certs=a["ca"], cert_file=a.get("cert"), key_file=a.get("key"))
    c.set_listener("l", Listener())
    out = {"connected": False}
    try:
        if a.get("login"):
            c.connect(a["login"], "pw", wait=True)
        else:
            c.connect(wait=True)
        out["connected"] = True
    except Exception as e:
        out["exception"] = type(e).__name__
    if out["connected"]:
        for d in a.get("dests", []):
            n = len(receipts) + len(errors)
            try:
                c.send(d, "from-stomp.py", headers={"receipt": d})
            except Exception:
                break
            wait_until(lambda: len(receipts) + len(errors) > n, 5)
    else:
        wait_until(lambda: errors, 5)
    out["errors"], out["receipts"] = errors, receipts
    try:
        c.disconnect()
    except Exception:
        pass
    return out


def amqp_attempt(port, a):
    kw = {}
    url = "amqp://127.0.0.1:%s" % port
    if a.get("ca"):
        d = SSLDomain(SSLDomain.MODE_CLIENT)
        d.set_trusted_ca_db(a["ca"])
        d.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME, a["ca"])
        if a.get("cert"):
            d.set_credentials(a["cert"], a["key"], None)
        kw["ssl_domain"] = d
        url = "amqps://localhost:%s" % port
    if a.get("user"):
        kw.update(user=a["user"], password="pw", allowed_mechs="PLAIN")
    elif a.get("ca"):
        kw["allowed_mechs"] = "EXTERNAL"
    out = {"connected": False, "sent": [], "refused": []}
    try:
        c = BlockingConnection(url, timeout=10, **kw)
        out["connected"] = True
    except Exception as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
        return out
    for address in a.get("addresses", []):
        try:
            c.create_sender(address).send(Message(body="from-proton"))
            out["sent"].append(address)
        except Exception as e:
            out["refused"].append("%s %s" % (address, e))
    c.close()
    return out


def main(argv):
    mode, port, attempts = argv[1], int(argv[2]), json.loads(argv[3])
    run = {"stomp": stomp_attempt, "amqp": amqp_attempt}.get(mode)
    if run is None:
        print("unknown mode %s" % mode, file=sys.stderr)
        return 2
    print(json.dumps([run(port, a) for a in attempts]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
