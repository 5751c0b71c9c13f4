import { FerryError } from './errors.js';
import { Settlement, type Outcome } from './settlement.js';

describe('Settlement', () => {
  it('settles exactly once: the first outcome wins', () => {
    const seen: Outcome[] = [];
    const s = new Settlement((o) => seen.push(o));
    expect(s.settled).toBe(false);
    expect(s.accept()).toBe(true);
    expect(s.release(new FerryError('SINK_TIMEOUT', 'late'))).toBe(false);
    expect(s.reject(new FerryError('SINK_REJECTED', 'late'))).toBe(false);
    expect(seen).toEqual([{ kind: 'accept' }]);
    expect(s.outcome).toEqual({ kind: 'accept' });
  });

  it('fail() rejects permanent errors and releases transient ones', () => {
    const outcomes: string[] = [];
    const a = new Settlement((o) => outcomes.push(o.kind));
    const b = new Settlement((o) => outcomes.push(o.kind));
    a.fail(new FerryError('TEMPLATE_MISSING_VALUE', 'x', { permanent: true }));
    b.fail(new FerryError('NOT_CONNECTED', 'y'));
    expect(outcomes).toEqual(['reject', 'release']);
  });
});
