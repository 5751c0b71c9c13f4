"""
A Qpid Proton client (python3-qpid-proton, Debian's /usr/bin/python3) playing the scenarios the
amqp10-listener tests need. One JSON object on stdout at the end: what it received (message ids
in order), the outcomes its sender saw, and the first error (a connection, session or link
closed with an error, or a transport error). Exit status 0 when the scenario ran to its end.

    proton_client.py same-name     URL ADDR N       sender and receiver on ADDR, both named
                                                    "<container>-ADDR" (Proton's default) on one
                                                    session; N sent, N received and accepted
    proton_client.py receive       URL ADDR N       a receiver: N received and accepted
    proton_client.py reattach      URL ADDR N K     a receiver takes K, detaches, attaches again
                                                    with the same name and takes the other N-K
    proton_client.py accept-detach URL ADDR N FENCE a receiver takes N, accepts the first half
                                                    and detaches in the same write; a new receiver
                                                    then gets what was not accepted and a fence
                                                    message its own sender sends to FENCE
"""
import json
import sys

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container


class Scenario(MessagingHandler):
    def __init__(self, mode, url, address, args):
        super().__init__(prefetch=0, auto_accept=False)
        self.mode = mode
        self.url = url
        self.address = address
        self.args = args
        self.n = int(args[0])
        self.received = []
        self.outcomes = {}
        self.error = None
        self.names = []
        self.done = False
        self.held = []
        self.phase = 1
        self.sent = 0

    def finish(self, event):
        if self.done:
            return
        self.done = True
        event.container.stop()

    def on_start(self, event):
        event.container.schedule(15.0, self)
        self.conn = event.container.connect(self.url, allowed_mechs='ANONYMOUS', reconnect=False)
        if self.mode == 'same-name':
            self.sender = event.container.create_sender(self.conn, self.address)
            self.receiver = event.container.create_receiver(self.conn, self.address)
            self.names = [self.sender.name, self.receiver.name]
            self.receiver.flow(self.n)
        elif self.mode == 'reattach':
            self.receiver = event.container.create_receiver(self.conn, self.address, name='again')
            self.receiver.flow(int(self.args[1]))
        else:
            self.receiver = event.container.create_receiver(self.conn, self.address)
            self.receiver.flow(self.n)

    def on_timer_task(self, event):
        self.error = self.error or 'timed out'
        self.finish(event)

    def on_sendable(self, event):
        if self.mode == 'same-name':
            while self.sender.credit > 0 and self.sent < self.n:
                self.sender.send(Message(id='m%d' % self.sent, body=b'x'))
                self.sent += 1
        if self.mode == 'accept-detach' and self.phase == 2 and self.sent == 0:
            self.fence.send(Message(id='fence', body=b'f'))
            self.sent = 1

    def on_accepted(self, event):
        self.outcomes[event.delivery.tag] = 'accepted'
        self.check(event)

    def on_rejected(self, event):
        self.outcomes[event.delivery.tag] = 'rejected'

    def on_released(self, event):
        self.outcomes[event.delivery.tag] = 'released'

    def on_message(self, event):
        self.received.append(event.message.id)
        if self.mode == 'accept-detach' and self.phase == 1:
            self.held.append(event.delivery)
            if len(self.held) == self.n:
                # accepts and the detach leave in one write: Proton flushes once per event
                for d in self.held[: self.n // 2]:
                    d.update(d.ACCEPTED)
                    d.settle()
                self.receiver.close()
            return
        self.accept(event.delivery)
        if self.mode == 'reattach' and self.phase == 1 and len(self.received) == int(self.args[1]):
            self.receiver.close()
            return
        self.check(event)

    def on_link_closed(self, event):
        if not event.link.is_receiver:
            return
        if self.mode == 'reattach' and self.phase == 1:
            self.phase = 2
            self.receiver = event.container.create_receiver(self.conn, self.address, name='again')
            self.receiver.flow(self.n - int(self.args[1]))
        elif self.mode == 'accept-detach' and self.phase == 1:
            self.phase = 2
            self.receiver = event.container.create_receiver(self.conn, self.address)
            self.receiver.flow(self.n + 1)
            self.fence = event.container.create_sender(self.conn, self.args[1])

    def check(self, event):
        if self.mode == 'same-name':
            ok = len(self.received) == self.n and sum(1 for o in self.outcomes.values() if o == 'accepted') == self.n
        elif self.mode == 'accept-detach':
            ok = 'fence' in self.received
        else:
            ok = len(self.received) == self.n
        if ok:
            event.connection.close()
            self.finish(event)

    def on_connection_error(self, event):
        self.error = self.error or 'connection error %s' % event.connection.remote_condition
        self.finish(event)

    def on_session_error(self, event):
        self.error = self.error or 'session error %s' % event.session.remote_condition
        self.finish(event)

    def on_link_error(self, event):
        self.error = self.error or 'link error %s' % event.link.remote_condition
        self.finish(event)

    def on_transport_error(self, event):
        self.error = self.error or 'transport error %s' % event.transport.condition
        self.finish(event)

    def on_disconnected(self, event):
        if not self.done:
            self.error = self.error or 'disconnected'
            self.finish(event)


def main():
    mode, url, address = sys.argv[1:4]
    s = Scenario(mode, url, address, sys.argv[4:])
    Container(s).run()
    print(json.dumps({'received': s.received, 'accepted': sum(1 for o in s.outcomes.values() if o == 'accepted'), 'names': s.names, 'error': s.error}))
    sys.exit(0 if s.error is None else 1)


main()
