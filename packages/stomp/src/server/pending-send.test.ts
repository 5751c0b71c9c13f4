import { FerryError, type Outcome } from '@ferry/core';
import { PendingSend, type SendFinish } from './pending-send.js';

/** a SendFinish that records what it was told */
function recordingFinish(): SendFinish & { told: string[] } {
  const told: string[] = [];
  return {
    told,
    settledByOwner: (outcome: Outcome) => told.push(`owner ${outcome.kind}`),
    finished: (send, accepted, reason, counted) => told.push(`${send.receipt ?? '-'} ${accepted ? 'accepted' : `refused: ${String(reason)}`}${counted ? ' (counted)' : ''}`),
  };
}

describe('PendingSend', () => {
  it('the owner settles once: its first outcome is counted and answers the SEND, a later one changes nothing', () => {
    const finish = recordingFinish();
    const a = new PendingSend(finish, '/topic/a', 1, 'a1', undefined);
    const b = new PendingSend(finish, '/topic/a', 1, 'b1', undefined);
    b.count();
    expect(b.release(new FerryError('SINK_CLOSED', 'down'))).toBe(true);
    expect(a.accept()).toBe(true);
    expect(a.reject(new FerryError('SINK_REJECTED', 'late', { permanent: true }))).toBe(false);
    expect(b.accept()).toBe(false);
    expect(finish.told).toEqual(['owner release', 'b1 refused: FerryError: down (counted)', 'owner accept', 'a1 accepted']);
    expect(a.done && b.done).toBe(true);
  });

  it('with the store part: answered once both accepted, in either order; a store failure refuses it', () => {
    const finish = recordingFinish();
    const first = new PendingSend(finish, '/queue/q', 2, 'q1', undefined);
    first.partAccepted();
    expect(first.done).toBe(false);
    first.accept();
    const second = new PendingSend(finish, '/queue/q', 2, 'q2', undefined);
    second.accept();
    second.partAccepted();
    const failed = new PendingSend(finish, '/queue/q', 2, 'q3', undefined);
    failed.partRefused('disk full');
    failed.accept();
    expect(finish.told).toEqual(['owner accept', 'q1 accepted', 'owner accept', 'q2 accepted', 'q3 refused: disk full', 'owner accept']);
  });

  it('an owner with nothing to wait for: its part is accepted, and no outcome is counted for it', () => {
    const finish = recordingFinish();
    const s = new PendingSend(finish, '/topic/a', 1, undefined, undefined);
    s.unwatched();
    expect(s.done).toBe(true);
    expect(finish.told).toEqual(['- accepted']);
  });
});
