"""
stomp.py (python3-stomp from Debian, run with /usr/bin/python3) against Ferry's stomp-listener:
one JSON object on stdout with what happened. Exit status 0 when the scenario ran to its end.

    stomppy_client.py conformance PORT VERSION LOGIN PASSCODE N
        connect with STOMP VERSION (1.0, 1.1 or 1.2) and login/passcode, SUBSCRIBE to
        /queue/conf-VERSION (ack client-individual; client on 1.0), SEND N messages with a
        receipt each, ACK the even ones and NACK the odd ones (1.1+; 1.0 has no NACK and ACKs
        all), take the redelivered ones again and ACK them, DISCONNECT with a receipt.
"""
import json
import sys
import threading
import time

import stomp


class Recorder(stomp.ConnectionListener):
    def __init__(self):
        self.messages = []
        self.errors = []
        self.receipts = set()
        self.cond = threading.Condition()

    def on_message(self, frame):
        with self.cond:
            self.messages.append(frame)
            self.cond.notify_all()

    def on_error(self, frame):
        with self.cond:
            self.errors.append(frame.headers.get('message', frame.body))
            self.cond.notify_all()

    def on_receipt(self, frame):
        with self.cond:
            self.receipts.add(frame.headers.get('receipt-id'))
            self.cond.notify_all()

    def wait(self, pred, what, timeout=10.0):
        end = time.time() + timeout
        with self.cond:
            while not pred():
                left = end - time.time()
                if left <= 0 or self.errors:
                    raise RuntimeError('waiting for %s: %s' % (what, self.errors or 'timed out'))
                self.cond.wait(left)


def conformance(port, version, login, passcode, n):
    cls = {'1.0': stomp.Connection10, '1.1': stomp.Connection11, '1.2': stomp.Connection12}[version]
    kw = {} if version == '1.0' else {'heartbeats': (0, 0)}
    conn = cls([('127.0.0.1', port)], **kw)
    rec = Recorder()
    conn.set_listener('', rec)
    result = {'version': version, 'received': [], 'redelivered': [], 'acked': 0, 'nacked': 0, 'errors': rec.errors, 'connected': False}
    try:
        conn.connect(login, passcode, wait=True)
        result['connected'] = conn.is_connected()
        dest = '/queue/conf-%s' % version
        ack_mode = 'client' if version == '1.0' else 'client-individual'
        conn.subscribe(dest, id='s1', ack=ack_mode, headers={'receipt': 'sub'})
        rec.wait(lambda: 'sub' in rec.receipts, 'the SUBSCRIBE receipt')
        for i in range(n):
            conn.send(dest, 'body-%d' % i, headers={'receipt': 'r%d' % i, 'n': str(i)})
        rec.wait(lambda: all(('r%d' % i) in rec.receipts for i in range(n)), 'the SEND receipts')
        rec.wait(lambda: len(rec.messages) >= n, '%d messages' % n)

        def settle(frame, nack):
            h = frame.headers
            if version == '1.2':
                (conn.nack if nack else conn.ack)(h['ack'])
            elif version == '1.1':
                (conn.nack if nack else conn.ack)(h['message-id'], h['subscription'])
            else:
                conn.ack(h['message-id'])

        first = list(rec.messages[:n])
        for f in first:
            result['received'].append(f.headers['n'])
            nack = version != '1.0' and int(f.headers['n']) % 2 == 1
            settle(f, nack)
            result['nacked' if nack else 'acked'] += 1
        if result['nacked']:
            rec.wait(lambda: len(rec.messages) >= n + result['nacked'], 'the redeliveries')
            for f in rec.messages[n:]:
                result['redelivered'].append([f.headers['n'], f.headers.get('redelivered')])
                settle(f, False)
                result['acked'] += 1
        conn.disconnect(receipt='bye')
    except Exception as e:  # the report says what failed; the test decides
        result['errors'] = rec.errors + [repr(e)]
    print(json.dumps(result))
    return 0 if not result['errors'] else 1


def main():
    mode = sys.argv[1]
    if mode == 'conformance':
        port, version, login, passcode, n = sys.argv[2:7]
        sys.exit(conformance(int(port), version, login, passcode, int(n)))
    sys.exit('unknown mode %s' % mode)


main()
