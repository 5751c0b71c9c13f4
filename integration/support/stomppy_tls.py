"""
stomp.py over TLS, made safe to use from its two threads.

stomp.py reads its socket in a receiver thread while the calling thread writes frames on the same
socket. Over TLS that is one OpenSSL connection used by two threads at once: CPython releases the
GIL inside SSL_read and SSL_write and takes no lock of its own, and OpenSSL requires that one SSL
object is never used concurrently. The race is real and not rare: right after a TLS 1.3 handshake
the server's NewSessionTicket messages reach SSL_read while SSL_write sends CONNECT, and about 1 in
45 connections lost the CONNECT (the server's byte count stopped at the handshake: the record never
left the client), or failed with "missing fatal" inside OpenSSL. The same pattern with one thread
(write, then read) lost none in 400. docs/development.md has the measurements.

`install()` wraps the socket stomp.py keeps after its TLS handshake so that one thread at a time
is inside OpenSSL: a read waits for data with select() outside the lock, then reads without
blocking under it. What the listener sees on the wire is unchanged.
"""

import select
import socket
import ssl
import threading
import time

import stomp.transport


class SerializedTls:
    """An SSLSocket whose reads and writes never run at the same time."""

    def __init__(self, sock):
        self._sock = sock
        self._lock = threading.Lock()

    def recv(self, size):
        timeout = self._sock.gettimeout()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if self._sock.pending() > 0:
                    return self._sock.recv(size)
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            readable, _, _ = select.select([self._sock], [], [], left)
            if not readable:
                raise socket.timeout("timed out")
            with self._lock:
                self._sock.setblocking(False)
                try:
                    return self._sock.recv(size)
                except ssl.SSLWantReadError:
                    # only a handshake message (a session ticket) or part of a record came in
                    continue
                finally:
                    self._sock.settimeout(timeout)

    def sendall(self, data):
        with self._lock:
            return self._sock.sendall(data)

    def send(self, data):
        with self._lock:
            return self._sock.send(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def install():
    """Every stomp.py connection made after this serializes its TLS socket."""
    transport = stomp.transport.Transport
    if getattr(transport, "_ferry_serialized_tls", False):
        return
    original = transport.attempt_connection

    def attempt_connection(self):
        original(self)
        if isinstance(self.socket, ssl.SSLSocket):
            self.socket = SerializedTls(self.socket)

    transport.attempt_connection = attempt_connection
    transport._ferry_serialized_tls = True
