import { createMessage, NO_HEADERS, TypedNumber, type HeaderValue } from '@ferry/core';
import { messageToBroker, sendToMessage } from './mapping.js';
import { SharedSendParts } from './shared-send-parts.js';

describe('stomp-listener mapping', () => {
  it('with shared parts: source and meta are the last SEND\'s while destination, session and version are the same; persistent is never shared', () => {
    const shared = new SharedSendParts('web');
    const send = (destination: string, sessionId: string, headers: [string, string][] = []) =>
      sendToMessage({ destination, headers, body: Buffer.alloc(0), confirmed: true, sessionId, login: undefined, version: '1.2' }, 'web', shared);
    const a = send('/queue/a', 's1');
    const b = send('/queue/a', 's1');
    const c = send('/queue/b', 's1');
    const d = send('/queue/b', 's2');
    const e = send('/queue/b', 's2', [['persistent', 'true']]);
    expect(b.source).toBe(a.source);
    expect(b.meta).toBe(a.meta);
    expect(c.source).not.toBe(a.source);
    expect(c.meta).toBe(a.meta);
    expect(d.source).toBe(c.source);
    expect(d.meta).not.toBe(c.meta);
    expect([a, c, d, e].map((m) => [m.source, m.meta])).toEqual([
      [{ connector: 'web', protocol: 'stomp', address: '/queue/a' }, { stomp: { version: '1.2', session: 's1' } }],
      [{ connector: 'web', protocol: 'stomp', address: '/queue/b' }, { stomp: { version: '1.2', session: 's1' } }],
      [{ connector: 'web', protocol: 'stomp', address: '/queue/b' }, { stomp: { version: '1.2', session: 's2' } }],
      [{ connector: 'web', protocol: 'stomp', address: '/queue/b' }, { stomp: { version: '1.2', session: 's2', persistent: true } }],
    ]);
    expect(send('/queue/b', 's2').meta).toBe(d.meta);
  });

  it('SEND headers → canonical fields; the first of a repeated header wins; protocol headers stay out', () => {
    const m = sendToMessage(
      {
        destination: '/queue/a',
        headers: [
          ['content-type', 'application/json'],
          ['message-id', 'm-1'],
          ['correlation-id', 'c-1'],
          ['reply-to', '/queue/replies'],
          ['expires', '1900000000000'],
          ['priority', '7'],
          ['persistent', 'true'],
          ['x-a', 'first'],
          ['x-a', 'second'],
          ['x-b', 'a:b\nc'],
        ],
        body: Buffer.from([0, 1]),
        confirmed: true,
        sessionId: 's',
        login: 'alice',
        version: '1.2',
      },
      'web',
    );
    expect(m).toMatchObject({
      contentType: 'application/json',
      messageId: 'm-1',
      correlationId: 'c-1',
      replyTo: '/queue/replies',
      expiresAt: 1900000000000,
      priority: 7,
      userId: 'alice',
      guarantee: 'at-least-once',
      source: { connector: 'web', protocol: 'stomp', address: '/queue/a' },
      meta: { stomp: { version: '1.2', session: 's', persistent: true } },
    });
    expect([...m.headers]).toEqual([
      ['x-a', 'first'],
      ['x-b', 'a:b\nc'],
    ]);
    expect(m.body.equals(Buffer.from([0, 1]))).toBe(true);
  });

  it('no receipt is at-most-once; odd priority and expires are not guessed', () => {
    const m = sendToMessage({ destination: '/topic/t', headers: [['priority', 'high'], ['expires', '0']], body: Buffer.alloc(0), confirmed: false, sessionId: 's', login: undefined, version: '1.0' }, 'web');
    expect(m.guarantee).toBe('at-most-once');
    expect(m.priority).toBeUndefined();
    expect(m.expiresAt).toBeUndefined();
    expect(m.headers.get('priority')).toBe('high');
    // no application header (the correlation marker is taken out): the one shared empty map
    const plain = sendToMessage({ destination: '/topic/t', headers: [['correlation-id', 'YQ=='], ['ferry-correlation-encoding', 'base64']], body: Buffer.alloc(0), confirmed: false, sessionId: 's', login: undefined, version: '1.2' }, 'web');
    expect(plain.correlationId).toEqual(Buffer.from('a'));
    expect(plain.headers).toBe(NO_HEADERS);
  });

  it('canonical message → MESSAGE headers, typed values as strings, mapped names not written twice', () => {
    const msg = createMessage({
      body: Buffer.from('x'),
      headers: new Map<string, HeaderValue>([
        ['n', new TypedNumber('ubyte', 7)],
        ['bin', Buffer.from([1, 2, 3])],
        ['content-type', 'ignored/duplicate'],
      ]),
      contentType: 'text/plain',
      messageId: 'id-9',
      correlationId: Buffer.from([255]),
      priority: 12,
      expiresAt: 5,
      source: { connector: 'mq', protocol: 'mqtt', address: 'a/b' },
    });
    const b = messageToBroker(msg, '/topic/x');
    expect(b.headers).toEqual([
      ['content-type', 'text/plain'],
      ['ferry-message-id', 'id-9'],
      ['correlation-id', '/w=='],
      ['ferry-correlation-encoding', 'base64'],
      ['expires', '5'],
      ['priority', '9'],
      ['n', '7'],
      ['bin', 'AQID'],
    ]);
    expect(b.expiresAt).toBe(5);
  });

  it('correlation ids: a binary id or text with NUL goes as base64 with ferry-correlation-encoding; a SEND carrying both comes back as the id', () => {
    for (const id of ['c-1', Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x80]), Buffer.from('abc'), 'a\u0000b']) {
      const b = messageToBroker(createMessage({ body: Buffer.alloc(0), correlationId: id, source: { connector: 'mq', protocol: 'mqtt', address: 'a' } }), '/topic/x');
      expect(b.headers.find(([n]) => n === 'correlation-id')?.[1]).not.toContain('\u0000');
      const m = sendToMessage({ destination: '/topic/x', headers: b.headers, body: Buffer.alloc(0), confirmed: true, sessionId: 's', login: undefined, version: '1.2' }, 'web');
      expect(m.correlationId).toEqual(id);
      expect(m.headers.has('ferry-correlation-encoding')).toBe(false);
    }
  });
});
