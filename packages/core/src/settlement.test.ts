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

  it('a subclass holding what its outcome needs is told once, by the call that settled', () => {
    const told: string[] = [];
    class Held extends Settlement {
      readonly #name: string;
      constructor(name: string) {
        super();
        this.#name = name;
      }
      protected override onSettled(outcome: Outcome): void {
        told.push(`${this.#name}:${outcome.kind}`);
      }
    }
    const a = new Held('a');
    expect(a.accept()).toBe(true);
    expect(a.release(new FerryError('NOT_CONNECTED', 'late'))).toBe(false);
    const b = new Held('b');
    expect(b.fail(new FerryError('NOT_CONNECTED', 'down'))).toBe(true);
    expect(b.accept()).toBe(false);
    expect(told).toEqual(['a:accept', 'b:release']);
    expect([a.outcome?.kind, b.outcome?.kind]).toEqual(['accept', 'release']);
    // without a callback or a subclass, settling is only recorded
    const none = Settlement.none();
    expect(none.accept()).toBe(true);
    expect(none.settled).toBe(true);
  });
});
