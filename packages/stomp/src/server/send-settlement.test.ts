import { ConnectorCounters, FerryError } from '@ferry/core';
import { RecordingMetrics } from '@ferry/testkit';
import type { InboundSend } from './session-options.js';
import { SendSettlement } from './send-settlement.js';

/** a SEND that records how it was answered */
function recordingSend(answers: string[], name: string): InboundSend {
  return {
    destination: '/topic/a',
    headers: [],
    body: Buffer.alloc(0),
    confirmed: true,
    sessionId: 's',
    login: undefined,
    version: '1.2',
    accepted: () => answers.push(`${name} accepted`),
    refused: (reason) => answers.push(`${name} refused: ${reason.code} ${reason.message}`),
  };
}

describe('SendSettlement', () => {
  it('answers its SEND and counts the outcome once, whatever settles it next', () => {
    const metrics = new RecordingMetrics();
    const counters = new ConnectorCounters(metrics, 'web');
    const answers: string[] = [];
    const a = new SendSettlement(recordingSend(answers, 'a'), counters);
    const b = new SendSettlement(recordingSend(answers, 'b'), counters);
    const c = new SendSettlement(recordingSend(answers, 'c'), counters);
    expect(b.release(new FerryError('SINK_CLOSED', 'down'))).toBe(true);
    expect(a.accept()).toBe(true);
    expect(c.fail(new FerryError('SINK_REJECTED', 'no', { permanent: true }))).toBe(true);
    expect(a.reject(new FerryError('SINK_REJECTED', 'late', { permanent: true }))).toBe(false);
    expect(b.accept()).toBe(false);
    expect(c.settle({ kind: 'accept' })).toBe(false);
    expect(answers).toEqual(['b refused: SINK_CLOSED down', 'a accepted', 'c refused: SINK_REJECTED no']);
    expect(metrics.count('messages_accepted_total', { connector: 'web' })).toBe(1);
    expect(metrics.count('messages_released_total', { connector: 'web' })).toBe(1);
    expect(metrics.count('messages_rejected_total', { connector: 'web' })).toBe(1);
    expect(a.outcome?.kind).toBe('accept');
  });
});
