import { FerryError } from '@ferry/core';
import { captureLogger, type LogLine } from '@ferry/testkit';
import { SinkFailureLog } from './failure-log.js';

const down = new FerryError('NOT_CONNECTED', 'plant: not connected');
const refused = new FerryError('SINK_UNROUTABLE', 'no route', { permanent: true });
const w = { connector: 'plant', route: 'outbox', to: 0 };

describe('SinkFailureLog', () => {
  it('one line when a (connector, code) starts failing, one summary per period with the count, one when it succeeds again', () => {
    const lines: LogLine[] = [];
    let now = 0;
    const log = new SinkFailureLog(captureLogger(lines), { summaryEveryMs: 10_000, now: () => now });
    // 6,000 failures a second for 25 s: the storm of the release loop
    for (let t = 0; t < 25_000; t += 1) {
      now = t;
      for (let k = 0; k < 6; k++) log.failed(w, down);
    }
    expect(lines.map((l) => `${l.level} ${l.message}`)).toEqual(['warn sink write failed', 'warn sink writes still failing', 'warn sink writes still failing']);
    expect(lines[0]?.fields).toMatchObject({ connector: 'plant', route: 'outbox', code: 'NOT_CONNECTED', permanent: false });
    expect(lines[1]?.fields).toMatchObject({ connector: 'plant', code: 'NOT_CONNECTED', failures: 60_000 });
    expect(lines[2]?.fields).toMatchObject({ failures: 60_000, failingForMs: 20_000 });

    now = 26_000;
    log.succeeded('plant');
    expect(lines.at(-1)).toMatchObject({ level: 'info', message: 'sink writes succeed again', fields: { connector: 'plant', code: 'NOT_CONNECTED', failures: 150_000 } });
    // a success with nothing failing says nothing; a new failure is a new state: one line again
    log.succeeded('plant');
    log.failed(w, down);
    expect(lines.map((l) => l.message).slice(3)).toEqual(['sink writes succeed again', 'sink write failed']);
  });

  it('each code and each connector has its own state; a success does not end permanent (per-message) failures', () => {
    const lines: LogLine[] = [];
    let now = 0;
    const log = new SinkFailureLog(captureLogger(lines), { summaryEveryMs: 10_000, now: () => now });
    log.failed(w, down);
    log.failed(w, refused);
    log.failed({ ...w, connector: 'rabbit' }, down);
    expect(lines.filter((l) => l.message === 'sink write failed')).toHaveLength(3);
    log.succeeded('plant');
    expect(lines.filter((l) => l.message === 'sink writes succeed again').map((l) => l.fields['code'])).toEqual(['NOT_CONNECTED']);
    // poison messages among good ones: no line per message, a summary when the period is over
    for (let i = 0; i < 100; i++) {
      log.failed(w, refused);
      log.succeeded('plant');
    }
    expect(lines).toHaveLength(4);
    now = 10_000;
    log.failed(w, refused);
    expect(lines.at(-1)).toMatchObject({ message: 'sink writes still failing', fields: { code: 'SINK_UNROUTABLE', failures: 101 } });
  });
});
