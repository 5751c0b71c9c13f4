import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { ConnectionStreams, type StreamOwner } from './connection-streams.js';

class Recorder implements StreamOwner {
  readonly events: string[] = [];
  received(chunk: Buffer): void {
    this.events.push(`data ${chunk.toString()}`);
  }
  streamError(err: Error): void {
    this.events.push(`error ${err.message}`);
  }
  streamDrained(): void {
    this.events.push('drain');
  }
  streamClosed(): void {
    this.events.push('close');
  }
}

describe('ConnectionStreams', () => {
  it('hands each stream its own connection\'s events through one shared listener per event, and lets go of it on close', async () => {
    const counts: number[] = [];
    const table = new ConnectionStreams<Recorder>((n) => counts.push(n));
    const [s1, s2] = [new PassThrough(), new PassThrough()];
    const [c1, c2] = [new Recorder(), new Recorder()];
    table.add(s1, c1);
    table.add(s2, c2);
    expect([table.size, [...table.values()]]).toEqual([2, [c1, c2]]);
    // one function per event for every stream, not a closure each
    for (const event of ['data', 'error', 'drain', 'close']) {
      expect(s1.listeners(event)).toHaveLength(1);
      expect(s1.listeners(event)).toEqual(s2.listeners(event));
    }

    s1.write('a');
    s2.write('b');
    s2.emit('drain');
    // events.once would reject on the 'error' that comes first
    const closed = new Promise((r) => s1.once('close', r));
    s1.destroy(new Error('boom'));
    await closed;
    expect(c1.events).toEqual(['data a', 'error boom', 'close']);
    expect(c2.events).toEqual(['data b', 'drain']);
    expect([table.size, [...table.values()], counts]).toEqual([1, [c2], [1]]);

    s2.destroy();
    await once(s2, 'close');
    expect(c2.events).toEqual(['data b', 'drain', 'close']);
    expect([table.size, counts]).toEqual([0, [1, 0]]);
  });
});
