import { encodeFrame, encodeFrameAfter } from '../frame/encoder.js';
import { STOMP_VERSIONS, type HeaderEntry, type StompVersion } from '../frame/frame.js';
import type { BrokerMessage } from './broker-message.js';
import { Subscription, type AckMode, type SubscriberSession } from './broker.js';
import { MESSAGE_PROTOCOL_HEADERS } from './frame-headers.js';
import { MessageHead } from './message-head.js';

const session: SubscriberSession = { id: 's', writable: true, sendMessage: () => undefined };

/** the MESSAGE's headers as a list, in the order the session writes them (STOMP 1.2 §MESSAGE) */
function listed(sub: Subscription, msg: BrokerMessage, messageId: string, version: StompVersion): HeaderEntry[] {
  const headers: HeaderEntry[] = [
    ['subscription', sub.id],
    ['message-id', messageId],
    ['destination', msg.destination],
  ];
  if (sub.ackMode !== 'auto' && version === '1.2') headers.push(['ack', messageId]);
  if (msg.redelivered) headers.push(['redelivered', 'true']);
  for (const h of msg.headers) if (!MESSAGE_PROTOCOL_HEADERS.has(h[0])) headers.push(h);
  return headers;
}

describe('MessageHead', () => {
  const awkward = ['plain', 'a:b', 'line\nbreak', 'back\\slash', 'cr\rhere', 'nul\u0000here', 'é€'];
  const appHeaders: HeaderEntry[] = [
    ['content-type', 'text/plain'],
    ['x-odd', 'v:1\n2'],
    ['subscription', 'not copied'],
    ['content-length\r', 'dropped or skipped'],
    ['bad:name', 'v'],
  ];

  it('writes, with the message headers after it, the bytes of the frame encoded from the whole header list', () => {
    let compared = 0;
    for (const version of STOMP_VERSIONS) {
      for (const ackMode of ['auto', 'client', 'client-individual'] as AckMode[]) {
        for (const id of awkward) {
          for (const dest of awkward) {
            const destination = `/queue/${dest}`;
            const sub = new Subscription(session, id, destination, 'queue', ackMode);
            const head = new MessageHead(sub.id, sub.destination, sub.ackMode !== 'auto', version);
            for (const redelivered of [false, true]) {
              for (const msgDestination of [destination, '/queue/other:one']) {
                const msg: BrokerMessage = { destination: msgDestination, headers: appHeaders, body: Buffer.from('body\0'), redelivered };
                const messageId = id === 'plain' ? 'ferry-1-2' : `m-${id}`;
                const bytes = encodeFrameAfter(head.text(msg, messageId), true, true, msg.headers, MESSAGE_PROTOCOL_HEADERS, msg.body, version).bytes;
                expect(bytes.toString('latin1')).toBe(encodeFrame('MESSAGE', listed(sub, msg, messageId, version), msg.body, version).toString('latin1'));
                compared++;
              }
            }
          }
        }
      }
    }
    expect(compared).toBe(3 * 3 * 7 * 7 * 2 * 2);
  });
});
