import { runInNewContext } from 'node:vm';
import { Backoff, sleep } from './backoff.js';
import { FerryError, describeError } from './errors.js';
import { headerToString, TypedNumber } from './headers.js';

describe('Backoff', () => {
  it('grows exponentially up to the cap, with jitter drawn from [0, cap]', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 1 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000]);
    b.reset();
    expect(b.next()).toBe(100);
    const low = new Backoff({ initialMs: 100, maxMs: 1000, minMs: 50, random: () => 0 });
    expect(low.next()).toBe(50);
  });

  it('sleep rejects with a typed error caused by the abort reason, aborted before or during', async () => {
    const before = new AbortController();
    const reason = new Error('stopping');
    before.abort(reason);
    await expect(sleep(10_000, before.signal)).rejects.toMatchObject({ code: 'SHUTTING_DOWN', cause: reason });
    const during = new AbortController();
    const slept = sleep(10_000, during.signal);
    during.abort('bye');
    const err: unknown = await slept.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect(err).toMatchObject({ code: 'SHUTTING_DOWN', message: 'bye', cause: 'bye' });
  });
});

describe('errors', () => {
  it('describes an error with its causes', () => {
    const e = new FerryError('CONNECT_FAILED', 'rabbit: connect failed', { cause: Object.assign(new Error('ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) });
    expect(describeError(e)).toBe('rabbit: connect failed [CONNECT_FAILED]: caused by: ECONNREFUSED 127.0.0.1:1 [ECONNREFUSED]');
    expect(e.code).toBe('CONNECT_FAILED');
    expect(describeError(new FerryError('INTERNAL', 'odd', { cause: { status: 503 } }))).toBe('odd [INTERNAL]: caused by: { status: 503 }');
    expect(e.permanent).toBe(false);
  });

  it('describes an error from another realm by its message, not its stack', () => {
    const foreign: unknown = runInNewContext("Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' })");
    expect(foreign instanceof Error).toBe(false);
    expect(describeError(new FerryError('CONNECT_FAILED', 'cannot listen', { cause: foreign }))).toBe('cannot listen [CONNECT_FAILED]: caused by: listen EADDRINUSE [EADDRINUSE]');
  });
});

describe('headerToString', () => {
  it('converts typed values for string-only protocols', () => {
    expect(headerToString('a')).toBe('a');
    expect(headerToString(new TypedNumber('ubyte', 7))).toBe('7');
    expect(headerToString(12n)).toBe('12');
    expect(headerToString(Buffer.from([1, 2, 3]))).toBe('AQID');
    expect(headerToString(new Date(0))).toBe('1970-01-01T00:00:00.000Z');
    expect(headerToString({ a: 1, b: [true, null] })).toBe('{"a":1,"b":[true,null]}');
  });
});
