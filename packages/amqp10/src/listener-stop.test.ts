/**
 * Stopping the amqp10-listener lets go of every connection it accepted: open ones, half-open
 * ones, ones in the middle of SASL and ones a client already hung up on. After stop resolved,
 * nothing of theirs may run (no log line, no console line from rhea, no timer) and nothing may
 * hold them: the in-memory connections are collected by a full gc. A timer left behind (rhea's
 * idle watchdog, a delayed destroy) holds its connection and, once it fires, makes rhea print
 * "[connection-N] disconnected" to the console, which fails a jest run after its tests are done.
 */
import { dirname, join } from 'node:path';
import { jest } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { noopMetrics, type Logger } from '@ferry/core';
import { MemoryConnection, gcOrFail, loadCorpus, openMemoryConnection, waitFor } from '@ferry/testkit';
import { Amqp10Listener } from './listener.js';
import { amqp10ListenerOptions } from './options.js';

const here = dirname(fileURLToPath(import.meta.url));
const corpus = loadCorpus(join(here, '../fuzz/corpus'));
const seed = (name: string): Buffer => (corpus.find((s) => s.name === name) as { bytes: Buffer }).bytes;
const OPEN = Buffer.from([0x00, 0x53, 0x10]);
const SASL_HEADER = Buffer.from('AMQP\x03\x01\x00\x00', 'latin1');

/** A logger that keeps every line, and the lines that came after `stopped` was set. */
function recordingLogger(): { logger: Logger; late: string[]; stopped: () => void } {
  let after = false;
  const late: string[] = [];
  const line =
    (level: string) =>
    (message: string): void => {
      if (after) late.push(`${level} ${message}`);
    };
  const logger: Logger = { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error'), child: () => logger };
  return { logger, late, stopped: () => void (after = true) };
}

const until = (what: string, ok: () => boolean): Promise<void> => waitFor(ok, what, 2_000, 5);

describe('amqp10-listener stop', () => {
  it('lets go of open, half-open, mid-SASL and hung-up connections: nothing logs or prints after stop, every connection is collected', async () => {
    const gc = gcOrFail();
    const printed: string[] = [];
    const warn = jest.spyOn(console, 'warn').mockImplementation((...a: unknown[]) => void printed.push(a.map(String).join(' ')));
    const error = jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void printed.push(a.map(String).join(' ')));
    const { logger, late, stopped } = recordingLogger();
    const l = new Amqp10Listener(
      { gatewayId: 'stop', logger, metrics: noopMetrics, baseDir: '.' },
      'stop10',
      amqp10ListenerOptions.parse({ port: 0, host: '127.0.0.1', users: [{ username: 'guest', password: 'guest' }], allowAnonymous: true }),
    );
    await l.openSources([{ route: 'r', from: { address: '/exchange/amq.fanout' } }], (d) => d.settlement.accept());
    await l.start();
    // only WeakRefs escape this function: whatever still holds a connection after stop is the listener's
    const refs = await (async (): Promise<WeakRef<MemoryConnection>[]> => {
      const open = (): MemoryConnection => openMemoryConnection((a) => l.accept(a));
      const full = seed('proton-sasl-anonymous-send.bin');
      // open, SASL done, a sending link attached
      const opened = open();
      opened.send(full);
      // half-open: the SASL header and nothing more
      const header = open();
      header.send(SASL_HEADER);
      // the sasl-init sent, with the rest of the stream behind it held for the SASL answer,
      // then the client hangs up in the same turn
      const midSasl = open();
      midSasl.send(full);
      midSasl.hangUp();
      // a connection the guard closed for a bad frame header
      const bad = open();
      bad.send(Buffer.concat([SASL_HEADER, Buffer.from([0xff, 0xff, 0xff, 0xff, 2, 1, 0, 0])]));
      // a polite client, gone before the stop
      const gone = open();
      gone.send(full);
      await until('the opens', () => opened.output().includes(OPEN) && gone.output().includes(OPEN));
      gone.hangUp();
      expect(await gone.closedWithin(5_000)).toBe(true);
      return [opened, header, midSasl, bad, gone].map((c) => new WeakRef(c));
    })();
    await l.stop();
    stopped();
    try {
      // a turn for anything still queued; then nothing may hold a connection
      await new Promise((r) => setImmediate(r));
      gc();
      expect(refs.map((r) => r.deref() === undefined)).toEqual([true, true, true, true, true]);
      expect(late).toEqual([]);
      expect(printed).toEqual([]);
    } finally {
      warn.mockRestore();
      error.mockRestore();
    }
  });
});
