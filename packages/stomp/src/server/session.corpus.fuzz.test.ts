/**
 * Mutational fuzzing of the STOMP server session from a corpus: STOMP 1.0, 1.1 and 1.2 streams
 * captured from stomp.py against RabbitMQ (packages/stomp/fuzz/corpus, see its README), mutated
 * by fast-check and fed over in-memory sockets in reads of varying size. It complements
 * session.fuzz.test.ts (frames generated from a grammar): here every input starts as what a real
 * client sent. For every input: nothing throws, no internal error, at most one ERROR and the
 * connection closed right after it (STOMP 1.2 §ERROR), the session gone once the client hangs
 * up, the partial-frame buffer bounded by the limits, the heap back where it was after all.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FerryError, type Logger } from '@ferry/core';
import { applyMutations, catchUncaught, errorCountingLogger, fuzz, fuzzBudgetMs, fuzzInputs, gcOrFail, loadCorpus, splitReads, waitFor } from '@ferry/testkit';
import { headerValue } from '../frame/frame.js';
import { StompBroker } from './broker.js';
import { MemorySocket } from './memory-socket.test-util.js';
import { StompServer } from './server.js';
import { DEFAULT_SESSION_OPTIONS } from './session.js';

const here = dirname(fileURLToPath(import.meta.url));
const corpus = loadCorpus(join(here, '../../fuzz/corpus'));
const tokens = [
  'content-length:4294967296\n',
  'content-length:-1\n',
  'content-length:99999999999999999999\n',
  'heart-beat:1,1\n',
  'heart-beat:0,0\n',
  'accept-version:9.9\n',
  'transaction:tx1\n',
  'receipt:r\n',
  'ack:client\n',
  'id:s1\n',
  'destination:/queue/a\\cb\n',
  'destination:/exchange/\n',
  '\\x\n',
  ':\n',
  '\r\n',
  '\0',
  '\n\n',
  'BEGIN\ntransaction:tx1\n\n\0',
  'SUBSCRIBE\nid:z\ndestination:/topic/#\n\n\0',
  '\xc0\x80',
].map((t) => Buffer.from(t, 'latin1'));

const LIMITS = { maxFrameBytes: 8192, maxHeaders: 16, maxHeaderLineBytes: 512, maxBodyBytes: 4096 };
const CLOSE_WITHIN_MS = 5_000;


function newServer(logger: Logger): { server: StompServer; broker: StompBroker } {
  const broker = new StompBroker({ queueBufferMessages: 50, maxUnackedPerSubscription: 5 });
  let n = 0;
  const server = new StompServer(
    { ...DEFAULT_SESSION_OPTIONS, limits: LIMITS, heartBeat: { sendMs: 0, receiveMs: 0 }, lingerMs: 50, host: '127.0.0.1', port: 0, serverName: 'Ferry/fuzz' },
    broker,
    {
      authenticate: () => true,
      acceptingSends: () => true,
      // sends settle in turn: at once, a little later, refused
      onSend: (_send, settlement) => {
        const k = n++ % 3;
        if (k === 0) return false;
        if (k === 1) setImmediate(() => settlement.accept());
        else queueMicrotask(() => settlement.reject(new FerryError('SINK_REJECTED', 'fuzz says no', { permanent: true })));
        return true;
      },
    },
    logger,
  );
  return { server, broker };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('stomp server session fuzz from a corpus', () => {
  it('the corpus is valid: every seed, as captured, gets CONNECTED and no ERROR', async () => {
    const { logger, errors } = errorCountingLogger();
    const { server } = newServer(logger);
    for (const seed of corpus) {
      const sock = new MemorySocket();
      server.attach(sock.server);
      sock.send(seed.bytes);
      for (let i = 0; i < 10; i++) await tick();
      expect({ seed: seed.name, first: sock.commands()[0], errors: sock.frames.filter((f) => f.command === 'ERROR').map((f) => headerValue(f, 'message')) }).toEqual({
        seed: seed.name,
        first: 'CONNECTED',
        errors: [],
      });
      sock.hangUp();
    }
    await waitFor(() => server.sessionCount === 0, 'every session closed', 5_000);
    expect(server.sessionCount).toBe(0);
    expect(errors).toEqual([]);
  });

  it('mutated client streams (1.0, 1.1, 1.2): no throw, no internal error, ERROR then close, sessions gone after the hang-up, buffers and heap bounded', async () => {
    const budget = fuzzBudgetMs(4);
    const gc = gcOrFail();
    const { uncaught, stop: stopCatching } = catchUncaught();
    const { logger, errors } = errorCountingLogger();
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    let { server } = newServer(logger);
    let cases = 0;
    let maxBuffered = 0;
    let answeredWithError = 0;
    try {
      const run = await fuzz(fuzzInputs(corpus, { tokens }), budget, async (input) => {
        const bytes = applyMutations(corpus, input, tokens);
        if (++cases % 400 === 0) ({ server } = newServer(logger));
        const sock = new MemorySocket();
        const session = server.attach(sock.server);
        sock.server.on('data', () => {
          maxBuffered = Math.max(maxBuffered, session.bufferedBytes);
        });
        for (const chunk of splitReads(bytes, input.reads)) sock.send(chunk);
        await tick();
        const errs = sock.frames.filter((f) => f.command === 'ERROR');
        const what = (): string => `input ${JSON.stringify(bytes.toString('latin1'))}; server wrote ${sock.commands().join(' ')}`;
        if (errs.length > 0) {
          answeredWithError++;
          // STOMP 1.2 §ERROR: the server MUST close the connection after an ERROR
          if (errs.length > 1) throw new Error(`more than one ERROR; ${what()}`);
          if (sock.frames[sock.frames.length - 1]?.command !== 'ERROR') throw new Error(`a frame after the ERROR; ${what()}`);
          if (!sock.ended) throw new Error(`ERROR sent, connection still open; ${what()}`);
        }
        sock.hangUp();
        // the deadline's timer is cleared once the session closed: a pending 5 s timer per input
        // would keep every input's session, server and broker alive for 5 s and pass for a leak
        let deadline: NodeJS.Timeout | undefined;
        const closing = await Promise.race([
          session.closed.then(() => true),
          new Promise<boolean>((r) => {
            deadline = setTimeout(() => r(false), CLOSE_WITHIN_MS);
          }),
        ]);
        clearTimeout(deadline);
        if (!closing) throw new Error(`session still open ${CLOSE_WITHIN_MS} ms after the client hung up; ${what()}`);
        if (sock.parseErrors > 0) throw new Error(`the server wrote bytes that are not STOMP; ${what()}`);
        if (errs.some((f) => headerValue(f, 'message') === 'internal server error') || errors.length > 0) throw new Error(`internal error ${errors.join('; ')}; ${what()}`);
        if (uncaught.length > 0) throw new Error(`uncaught ${String(uncaught[0])}; ${what()}`);
      });
      await tick();
      gc();
      const heapAfter = process.memoryUsage().heapUsed;
      console.log(
        `stomp corpus fuzz: ${run.runs} inputs in ${(run.ms / 1000).toFixed(1)} s from ${corpus.length} seeds, ${answeredWithError} answered with ERROR; ` +
          `max partial-frame buffer ${maxBuffered} B; heap ${(heapBefore / 1e6).toFixed(1)} -> ${(heapAfter / 1e6).toFixed(1)} MB`,
      );
      expect(run.runs).toBeGreaterThan(30);
      expect(uncaught).toEqual([]);
      expect(errors).toEqual([]);
      expect(maxBuffered).toBeLessThanOrEqual(LIMITS.maxFrameBytes);
      expect(heapAfter - heapBefore).toBeLessThan(32 * 1024 * 1024);
    } finally {
      stopCatching();
    }
  }, 60_000);
});
