import { thrown } from '@ferry/testkit';
import { FerryError } from '@ferry/core';
import { encodeFrame, encodeFrameDetailed } from './encoder.js';
import { escapeHeader, unescapeHeader } from './escape.js';
import { StompFrameError, type FrameErrorReason } from './frame-error.js';
import { headerValue, type StompFrame, type StompVersion } from './frame.js';
import { FrameParser, type FrameLimits } from './parser.js';
import { prng } from '@ferry/testkit';

function parseAll(input: Buffer | string, version?: StompVersion, limits: Partial<FrameLimits> = {}): StompFrame[] {
  const out: StompFrame[] = [];
  const p = new FrameParser((f) => out.push(f), limits, version);
  p.push(typeof input === 'string' ? Buffer.from(input, 'utf8') : input);
  return out;
}

function parseError(input: Buffer | string, version?: StompVersion, limits: Partial<FrameLimits> = {}): StompFrameError {
  try {
    parseAll(input, version, limits);
  } catch (err) {
    if (err instanceof StompFrameError) return err;
    throw err;
  }
  throw new Error('expected a StompFrameError');
}


const plain = (f: StompFrame): { command: string; headers: (readonly [string, string])[]; body: string } => ({
  command: f.command,
  headers: [...f.headers],
  body: f.body.toString('utf8'),
});

// The example frames of the STOMP 1.2 specification, byte for byte (^@ is NUL).
const SPEC_EXAMPLES: { name: string; wire: string; expect: { command: string; headers: [string, string][]; body: string } }[] = [
  {
    name: 'CONNECT (§CONNECT or STOMP Frame)',
    wire: 'CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\0',
    expect: { command: 'CONNECT', headers: [['accept-version', '1.2'], ['host', 'stomp.github.org']], body: '' },
  },
  { name: 'CONNECTED (§CONNECTED Frame)', wire: 'CONNECTED\nversion:1.2\n\n\0', expect: { command: 'CONNECTED', headers: [['version', '1.2']], body: '' } },
  {
    name: 'SEND (§SEND)',
    wire: 'SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\n\0',
    expect: { command: 'SEND', headers: [['destination', '/queue/a'], ['content-type', 'text/plain']], body: 'hello queue a\n' },
  },
  {
    name: 'SUBSCRIBE (§SUBSCRIBE)',
    wire: 'SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\n\n\0',
    expect: { command: 'SUBSCRIBE', headers: [['id', '0'], ['destination', '/queue/foo'], ['ack', 'client']], body: '' },
  },
  { name: 'UNSUBSCRIBE (§UNSUBSCRIBE)', wire: 'UNSUBSCRIBE\nid:0\n\n\0', expect: { command: 'UNSUBSCRIBE', headers: [['id', '0']], body: '' } },
  { name: 'ACK (§ACK)', wire: 'ACK\nid:12345\ntransaction:tx1\n\n\0', expect: { command: 'ACK', headers: [['id', '12345'], ['transaction', 'tx1']], body: '' } },
  { name: 'BEGIN (§BEGIN)', wire: 'BEGIN\ntransaction:tx1\n\n\0', expect: { command: 'BEGIN', headers: [['transaction', 'tx1']], body: '' } },
  { name: 'COMMIT (§COMMIT)', wire: 'COMMIT\ntransaction:tx1\n\n\0', expect: { command: 'COMMIT', headers: [['transaction', 'tx1']], body: '' } },
  { name: 'ABORT (§ABORT)', wire: 'ABORT\ntransaction:tx1\n\n\0', expect: { command: 'ABORT', headers: [['transaction', 'tx1']], body: '' } },
  // The spec prints this one without the blank line that ends the headers (a typo: the grammar
  // of §Augmented BNF requires it); the corrected form is what clients send.
  { name: 'DISCONNECT (§DISCONNECT)', wire: 'DISCONNECT\nreceipt:77\n\n\0', expect: { command: 'DISCONNECT', headers: [['receipt', '77']], body: '' } },
  { name: 'RECEIPT (§RECEIPT)', wire: 'RECEIPT\nreceipt-id:77\n\n\0', expect: { command: 'RECEIPT', headers: [['receipt-id', '77']], body: '' } },
  {
    name: 'MESSAGE (§MESSAGE)',
    wire: 'MESSAGE\nsubscription:0\nmessage-id:007\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\0',
    expect: {
      command: 'MESSAGE',
      headers: [['subscription', '0'], ['message-id', '007'], ['destination', '/queue/a'], ['content-type', 'text/plain']],
      body: 'hello queue a',
    },
  },
  {
    name: 'ERROR (§ERROR), with its content-length:170',
    wire:
      'ERROR\nreceipt-id:message-12345\ncontent-type:text/plain\ncontent-length:170\nmessage:malformed frame received\n\n' +
      'The message:\n-----\nMESSAGE\ndestined:/queue/a\nreceipt:message-12345\n\nHello queue a!\n-----\nDid not contain a destination header, which is REQUIRED\nfor message propagation.\n\0',
    expect: {
      command: 'ERROR',
      headers: [['receipt-id', 'message-12345'], ['content-type', 'text/plain'], ['content-length', '170'], ['message', 'malformed frame received']],
      body: 'The message:\n-----\nMESSAGE\ndestined:/queue/a\nreceipt:message-12345\n\nHello queue a!\n-----\nDid not contain a destination header, which is REQUIRED\nfor message propagation.\n',
    },
  },
];

describe('FrameParser: the spec example frames', () => {
  it.each(SPEC_EXAMPLES)('$name', ({ wire, expect: want }) => {
    const frames = parseAll(wire, '1.2');
    expect(frames.map(plain)).toEqual([want]);
  });

  it('parses all examples from one stream, with heart-beat EOLs (LF and CRLF) between them', () => {
    const stream = SPEC_EXAMPLES.map((e) => e.wire).join('\n\r\n\n');
    expect(parseAll('\r\n' + stream + '\n', '1.2').map(plain)).toEqual(SPEC_EXAMPLES.map((e) => e.expect));
  });

  it('splits at every byte boundary: one byte at a time, and every two-piece split', () => {
    const stream = Buffer.from(SPEC_EXAMPLES.map((e) => e.wire).join('\n'), 'utf8');
    const want = SPEC_EXAMPLES.map((e) => e.expect);
    const out: StompFrame[] = [];
    const p = new FrameParser((f) => out.push(f), {}, '1.2');
    for (let i = 0; i < stream.length; i++) p.push(stream.subarray(i, i + 1));
    expect(out.map(plain)).toEqual(want);
    for (let cut = 0; cut <= stream.length; cut++) {
      const got: StompFrame[] = [];
      const q = new FrameParser((f) => got.push(f), {}, '1.2');
      q.push(stream.subarray(0, cut));
      q.push(stream.subarray(cut));
      expect(got.length).toBe(want.length);
      expect(got.map(plain)).toEqual(want);
    }
  });

  it('splits in random chunks (seeded)', () => {
    const rnd = prng(42);
    const stream = Buffer.from(SPEC_EXAMPLES.map((e) => e.wire).join('\r\n'), 'utf8');
    for (let round = 0; round < 200; round++) {
      const got: StompFrame[] = [];
      const p = new FrameParser((f) => got.push(f), {}, '1.2');
      let i = 0;
      while (i < stream.length) {
        const n = 1 + Math.floor(rnd() * 40);
        p.push(stream.subarray(i, i + n));
        i += n;
      }
      expect(got.map(plain)).toEqual(SPEC_EXAMPLES.map((e) => e.expect));
      expect(p.idle).toBe(true);
      expect(p.bufferedBytes).toBe(0);
    }
  });

  it('a header block whole in one chunk reads as line by line: LF and CRLF mixed, multi-byte and invalid UTF-8, LF pairs in bodies', () => {
    const stream = Buffer.concat([
      Buffer.from('SEND\ndestination:/queue/a\u00e9\r\nreceipt:r1\r\n\r\nbody\n\nmore\0'),
      Buffer.from('SEND\ndestination:/queue/\u00e9\u20ac\ncontent-length:4\n\n\n\n\n\n\0'),
      Buffer.from('SEND\r\ndestination:/queue/b\n\n\0'),
      Buffer.from('SEND\ndestination:/queue/c\nx:'),
      Buffer.from([0x80, 0xe2, 0x82]),
      Buffer.from('\ny:\u00ff\n\n\0SEND\n\n\0'),
    ]);
    const whole = parseAll(stream, '1.2').map(plain);
    const out: StompFrame[] = [];
    const p = new FrameParser((f) => out.push(f), {}, '1.2');
    for (let i = 0; i < stream.length; i++) p.push(stream.subarray(i, i + 1));
    expect(whole).toHaveLength(5);
    expect(whole).toEqual(out.map(plain));
    expect(whole[0]).toEqual({ command: 'SEND', headers: [['destination', '/queue/a\u00e9'], ['receipt', 'r1']], body: 'body\n\nmore' });
    expect(whole[1]?.headers[0]).toEqual(['destination', '/queue/\u00e9\u20ac']);
  });

  it('a block read whole reads as line by line: known and unknown names and commands, escapes, colons in values, content-length with spaces', () => {
    const stream = Buffer.from(
      'SEND\ndestination:/queue/a:b\ndestinationx:1\nreceipt:\nid:7\nack:x\nx\\cy:a\\nb\ncontent-length: 2 \n\nab\0' +
        'SENDX\nhost:h\n\n\0' +
        'ACK\nid:1\ntransaction:t\nmessage-id:m\n\n\0' +
        'SEND\ncontent-length:02\n\nab\0',
    );
    const whole = parseAll(stream, '1.2').map(plain);
    const out: StompFrame[] = [];
    const p = new FrameParser((f) => out.push(f), {}, '1.2');
    for (let i = 0; i < stream.length; i++) p.push(stream.subarray(i, i + 1));
    expect(whole).toEqual(out.map(plain));
    expect(whole).toEqual([
      {
        command: 'SEND',
        headers: [['destination', '/queue/a:b'], ['destinationx', '1'], ['receipt', ''], ['id', '7'], ['ack', 'x'], ['x:y', 'a\nb'], ['content-length', ' 2 ']],
        body: 'ab',
      },
      { command: 'SENDX', headers: [['host', 'h']], body: '' },
      { command: 'ACK', headers: [['id', '1'], ['transaction', 't'], ['message-id', 'm']], body: '' },
      { command: 'SEND', headers: [['content-length', '02']], body: 'ab' },
    ]);
  });

  it('a block read whole refuses what line by line refuses: a line without a colon, an empty name, a bad content-length', () => {
    expect(parseError('SEND\ndestination:/queue/a\nnocolon\n\n\0', '1.2').reason).toBe('bad-header');
    expect(parseError('SEND\n:v\n\n\0', '1.2').reason).toBe('bad-header');
    expect(parseError('SEND\ncontent-length:2a\n\nab\0', '1.2').reason).toBe('bad-content-length');
    expect(parseError('SEND\ncontent-length:1234567890123456\n\nab\0', '1.2').reason).toBe('bad-content-length');
    expect(parseError('send\n\n\0', '1.2').reason).toBe('bad-command');
  });

  it('accepts CRLF line endings (STOMP 1.2 §Augmented BNF)', () => {
    const f = parseAll('SEND\r\ndestination:/queue/a\r\n\r\nhi\0', '1.2');
    expect(f.map(plain)).toEqual([{ command: 'SEND', headers: [['destination', '/queue/a']], body: 'hi' }]);
  });
});

describe('FrameParser: header escaping per version', () => {
  const wire = (v: string): string => `SEND\ndestination:/queue/a\nx:${v}\n\n\0`;

  it('1.2 decodes \\r \\n \\c \\\\', () => {
    expect(headerValue(parseAll(wire('a\\cb\\nc\\rd\\\\e'), '1.2')[0] as StompFrame, 'x')).toBe('a:b\nc\rd\\e');
  });
  it('1.2: an undefined escape (\\t) is a fatal error', () => {
    expect(parseError(wire('a\\tb'), '1.2').reason).toBe('bad-escape');
    expect(parseError(wire('trailing\\'), '1.2').reason).toBe('bad-escape');
  });
  it('1.1 decodes \\n \\c \\\\ but not \\r', () => {
    expect(headerValue(parseAll(wire('a\\cb\\nc\\\\d'), '1.1')[0] as StompFrame, 'x')).toBe('a:b\nc\\d');
    expect(parseError(wire('a\\rb'), '1.1').reason).toBe('bad-escape');
  });
  it('1.0 has no escaping: backslashes are literal', () => {
    expect(headerValue(parseAll(wire('a\\cb\\nc\\td'), '1.0')[0] as StompFrame, 'x')).toBe('a\\cb\\nc\\td');
  });
  it('1.0 and 1.1: later colons belong to the value', () => {
    expect(headerValue(parseAll(wire('a:b:c'), '1.0')[0] as StompFrame, 'x')).toBe('a:b:c');
  });
  it('header names are unescaped too', () => {
    expect(parseAll('SEND\nna\\cme:v\n\n\0', '1.2')[0]?.headers).toEqual([['na:me', 'v']]);
  });
  it('CONNECT and CONNECTED are never unescaped (STOMP 1.2 §Value Encoding)', () => {
    const c = parseAll('CONNECT\naccept-version:1.2\npasscode:a\\cb\\tc\n\n\0', '1.2')[0] as StompFrame;
    expect(headerValue(c, 'passcode')).toBe('a\\cb\\tc');
    const d = parseAll('CONNECTED\nserver:x\\ny\n\n\0', '1.2')[0] as StompFrame;
    expect(headerValue(d, 'server')).toBe('x\\ny');
  });
  it('the version can change between frames of one chunk (CONNECT, then escaped frames)', () => {
    const out: StompFrame[] = [];
    const p = new FrameParser((f) => {
      out.push(f);
      if (f.command === 'CONNECT') p.version = '1.2';
    });
    p.push(Buffer.from('CONNECT\naccept-version:1.2\n\n\0SEND\nx:a\\cb\n\n\0'));
    expect(headerValue(out[1] as StompFrame, 'x')).toBe('a:b');
  });
});

describe('FrameParser: bodies and headers', () => {
  it('a destination or content-type like the last frame\'s is its string again; another one is read as it is', () => {
    const frames = parseAll(
      'SEND\ndestination:/queue/long-destination-a\ncontent-type:application/octet-stream\n\n\0' +
        'SEND\ndestination:/queue/long-destination-a\ncontent-type:application/octet-stream\n\n\0' +
        'SEND\ndestination:/queue/long-destination-b\ncontent-type:application/octet-streamx\n\n\0' +
        'SEND\ndestination:/queue/long-destination-a\ncontent-type:text/plain\n\n\0',
      '1.2',
    );
    expect(frames.map((f) => [headerValue(f, 'destination'), headerValue(f, 'content-type')])).toEqual([
      ['/queue/long-destination-a', 'application/octet-stream'],
      ['/queue/long-destination-a', 'application/octet-stream'],
      ['/queue/long-destination-b', 'application/octet-streamx'],
      ['/queue/long-destination-a', 'text/plain'],
    ]);
  });

  it('reads content-length bodies that contain NULs', () => {
    const body = Buffer.from([0, 1, 0, 2, 0]);
    const wire = Buffer.concat([Buffer.from('SEND\ndestination:/queue/a\ncontent-length:5\n\n'), body, Buffer.from([0]), Buffer.from('SEND\n\nnext\0')]);
    const frames = parseAll(wire, '1.2');
    expect(frames[0]?.body.equals(body)).toBe(true);
    expect(frames[1]?.body.toString()).toBe('next');
  });
  it('content-length:0 and empty NUL-terminated bodies', () => {
    const frames = parseAll('SEND\ncontent-length:0\n\n\0SEND\n\n\0', '1.2');
    expect(frames.map((f) => f.body.length)).toEqual([0, 0]);
  });
  it('repeated headers: all kept in order, the first wins (STOMP 1.2 §Repeated Header Entries)', () => {
    const f = parseAll('MESSAGE\nfoo:World\nfoo:Hello\n\n\0', '1.2')[0] as StompFrame;
    expect(headerValue(f, 'foo')).toBe('World');
    expect(f.headers).toEqual([
      ['foo', 'World'],
      ['foo', 'Hello'],
    ]);
  });
  it('the first content-length wins too', () => {
    const f = parseAll('SEND\ncontent-length:2\ncontent-length:9\n\nab\0', '1.2')[0] as StompFrame;
    expect(f.body.toString()).toBe('ab');
  });
  it('values are not trimmed (STOMP 1.2 §Augmented BNF: whitespace is significant)', () => {
    const f = parseAll('SEND\nx: spaced \n\n\0', '1.2')[0] as StompFrame;
    expect(headerValue(f, 'x')).toBe(' spaced ');
  });
  it('protocol errors are typed', () => {
    const cases: [string, FrameErrorReason][] = [
      ['send\n\n\0', 'bad-command'],
      ['SEND\nnocolon\n\n\0', 'bad-header'],
      ['SEND\n:novalue\n\n\0', 'bad-header'],
      ['SEND\ncontent-length:abc\n\n\0', 'bad-content-length'],
      ['SEND\ncontent-length:-1\n\n\0', 'bad-content-length'],
      ['SEND\ncontent-length:2\n\nabc\0', 'missing-nul'],
    ];
    for (const [wire, reason] of cases) {
      const e = parseError(wire, '1.2');
      expect([wire, e.reason]).toEqual([wire, reason]);
      expect(e).toBeInstanceOf(FerryError);
      expect(e.code).toBe('PROTOCOL_ERROR');
    }
  });
});

describe('FrameParser: limits are checked while parsing', () => {
  const limits = { maxFrameBytes: 200, maxHeaders: 3, maxHeaderLineBytes: 50, maxBodyBytes: 100 };

  it('too many headers', () => {
    const e = parseError('SEND\na:1\nb:2\nc:3\nd:4\n\n\0', '1.2', limits);
    expect([e.reason, e.code]).toEqual(['limit-header-count', 'LIMIT_EXCEEDED']);
  });
  it('a header line too long, before its end arrives', () => {
    const p = new FrameParser(() => undefined, limits, '1.2');
    p.push(Buffer.from('SEND\nx:'));
    expect(() => p.push(Buffer.alloc(60, 0x61))).toThrow(StompFrameError);
    expect(p.stopped).toBe(true);
    expect(p.bufferedBytes).toBe(0);
  });
  it('a line of exactly the limit passes, with or without CR', () => {
    const line = 'x:' + 'a'.repeat(48);
    expect(parseAll(`SEND\n${line}\n\n\0`, '1.2', limits)).toHaveLength(1);
    expect(parseAll(`SEND\r\n${line}\r\n\r\n\0`, '1.2', limits)).toHaveLength(1);
    expect(parseError(`SEND\n${line}a\n\n\0`, '1.2', limits).reason).toBe('limit-header-line');
  });
  it('a content-length over the body limit fails before any body byte', () => {
    const p = new FrameParser(() => undefined, limits, '1.2');
    let err: unknown;
    try {
      p.push(Buffer.from('SEND\ncontent-length:101\n\n'));
    } catch (e) {
      err = e;
    }
    expect((err as StompFrameError).reason).toBe('limit-body-size');
  });
  it('a content-length over the frame limit fails at the end of the headers', () => {
    const e = parseError('SEND\ncontent-length:100\n' + 'h:' + 'v'.repeat(45) + '\n'.repeat(1) + 'i:' + 'v'.repeat(45) + '\n\n', '1.2', limits);
    expect(e.reason).toBe('limit-frame-size');
  });
  it('a NUL-terminated body over the limit fails as soon as it is too long', () => {
    const p = new FrameParser(() => undefined, limits, '1.2');
    p.push(Buffer.from('SEND\n\n'));
    p.push(Buffer.alloc(100, 0x61));
    expect(thrown(() => p.push(Buffer.alloc(1, 0x61)))).toMatchObject({ reason: 'limit-body-size' });
  });
  it('the frame limit counts headers and body together', () => {
    const big = { maxFrameBytes: 60, maxHeaders: 10, maxHeaderLineBytes: 50, maxBodyBytes: 100 };
    const e = parseError('SEND\nh:' + 'v'.repeat(30) + '\n\n' + 'b'.repeat(30) + '\0', '1.2', big);
    expect(e.reason).toBe('limit-frame-size');
  });
  it('a limit error names the receipt of the offending frame when it was read', () => {
    expect(parseError('SEND\nreceipt:r9\ncontent-length:101\n\n', '1.2', limits).receiptId).toBe('r9');
    expect(parseError('SEND\nreceipt:r9\na:1\nb:2\nc:3\n', '1.2', limits).receiptId).toBe('r9');
    expect(parseError('SEND\nx:a\\tb\n', '1.2', limits).receiptId).toBeUndefined();
  });
  it('after an error the parser stays stopped and holds nothing', () => {
    const got: StompFrame[] = [];
    const p = new FrameParser((f) => got.push(f), limits, '1.2');
    expect(() => p.push(Buffer.from('SEND\n\n\0bad\n\n\0SEND\n\n\0'))).toThrow(StompFrameError);
    expect(got).toHaveLength(1);
    p.push(Buffer.from('SEND\n\n\0'));
    expect(got).toHaveLength(1);
    expect(p.bufferedBytes).toBe(0);
  });
});

describe('encoder', () => {
  const nasty = 'a:b\nc\rd\\e\0f';

  it('round trips any value through 1.2 escaping', () => {
    const bytes = encodeFrame('MESSAGE', [['destination', '/queue/a'], ['x:y\nz', nasty]], Buffer.from('b'), '1.2');
    const f = parseAll(bytes, '1.2')[0] as StompFrame;
    expect(f.headers).toEqual([
      ['destination', '/queue/a'],
      ['x:y\nz', 'a:b\nc\rd\\ef'],
      ['content-length', '1'],
    ]);
  });
  it('1.1: CR is removed (no escape exists), the rest round trips', () => {
    const f = parseAll(encodeFrame('MESSAGE', [['x', nasty]], Buffer.alloc(0), '1.1'), '1.1')[0] as StompFrame;
    expect(headerValue(f, 'x')).toBe('a:b\ncd\\ef');
  });
  it('1.0: CR, LF and NUL are removed from values; names that cannot be written are dropped', () => {
    const r = encodeFrameDetailed('MESSAGE', [['x', nasty], ['bad:name', 'v'], ['bad\nname', 'v'], ['ok', 'v']], Buffer.alloc(0), '1.0');
    expect(r.dropped).toEqual(['bad:name', 'bad\nname']);
    const f = parseAll(r.bytes, '1.0')[0] as StompFrame;
    expect(f.headers).toEqual([
      ['x', 'a:bcd\\ef'],
      ['ok', 'v'],
      ['content-length', '0'],
    ]);
  });
  it('found by fuzzing: a header NAME that becomes content-length on the wire (a CR or NUL removed) is not written; the one content-length frames the body', () => {
    for (const v of ['1.0', '1.1', '1.2'] as const) {
      for (const name of ['content-length\r', 'content-length\0', 'content-\0length']) {
        const bytes = encodeFrame('MESSAGE', [['destination', '/queue/a'], [name, '1']], Buffer.from('hello world'), v);
        const frames = parseAll(bytes, v);
        // 1.2 can escape a CR in a name (`\r`): that header is then another name, kept
        const lengths = (frames[0] as StompFrame).headers.filter(([n]) => n === 'content-length');
        expect({ v, name: JSON.stringify(name), frames: frames.length, lengths, body: (frames[0] as StompFrame).body.toString() }).toEqual({
          v,
          name: JSON.stringify(name),
          frames: 1,
          lengths: [['content-length', '11']],
          body: 'hello world',
        });
      }
    }
  });
  it('a value can never inject a header or end the frame, in any version', () => {
    for (const v of ['1.0', '1.1', '1.2'] as const) {
      const bytes = encodeFrame('MESSAGE', [['x', 'v\ninjected:1\n\n\0MESSAGE\n\n\0']], Buffer.from('body'), v);
      const frames = parseAll(bytes, v);
      expect(frames).toHaveLength(1);
      expect(headerValue(frames[0] as StompFrame, 'injected')).toBeUndefined();
      expect(frames[0]?.body.toString()).toBe('body');
    }
  });
  it('always writes content-length for bodies, ignoring a given one; bodies may hold NULs', () => {
    const body = Buffer.from([0, 0, 7]);
    const bytes = encodeFrame('SEND', [['content-length', '99'], ['destination', '/queue/a']], body, '1.2');
    const f = parseAll(bytes, '1.2')[0] as StompFrame;
    expect(f.body.equals(body)).toBe(true);
    expect(f.headers.filter(([n]) => n === 'content-length')).toEqual([['content-length', '3']]);
  });
  it('CONNECTED is not escaped; CR/LF are removed from it instead', () => {
    const bytes = encodeFrame('CONNECTED', [['version', '1.2'], ['server', 'Ferry/1\nx:y']], undefined, '1.2');
    expect(bytes.toString()).toBe('CONNECTED\nversion:1.2\nserver:Ferry/1x:y\n\n\0');
  });
  it('escape and unescape are inverse for 1.2 on random strings (seeded)', () => {
    const rnd = prng(7);
    const alphabet = ['a', ':', '\n', '\r', '\\', 'é', ' ', 'c', 'n', 'r'];
    for (let i = 0; i < 2000; i++) {
      let s = '';
      const n = Math.floor(rnd() * 12);
      for (let j = 0; j < n; j++) s += alphabet[Math.floor(rnd() * alphabet.length)]!;
      const e = escapeHeader(s, '1.2', true, false) as string;
      expect(e).not.toMatch(/[\r\n:]/);
      expect(unescapeHeader(e, '1.2', true)).toEqual({ ok: true, value: s });
    }
  });
});
