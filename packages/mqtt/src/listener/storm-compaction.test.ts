import { afterEach, beforeEach, jest } from '@jest/globals';
import { getHeapSpaceStatistics } from 'node:v8';
import { StormCompaction, compactHeap } from './storm-compaction.js';

/** a watch of storms of 3 arrivals and 1,000 ms of quiet, counting its compactions */
function watch(): { storm: StormCompaction; compactions: () => number } {
  let n = 0;
  const storm = new StormCompaction({ stormArrivals: 3, quietMs: 1000, compact: () => n++ });
  return { storm, compactions: () => n };
}

describe('StormCompaction', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  test('compacts once, after a quiet period that follows a storm', () => {
    const { storm, compactions } = watch();
    for (let i = 0; i < 5; i++) storm.arrived();
    jest.advanceTimersByTime(1000);
    expect(compactions()).toBe(0);
    // the look at 2,000 ms finds no new arrival; its confirmation runs right after
    jest.advanceTimersByTime(1001);
    expect(compactions()).toBe(1);
    jest.advanceTimersByTime(10_000);
    expect(compactions()).toBe(1);
  });

  test('waits while arrivals continue', () => {
    const { storm, compactions } = watch();
    for (let i = 0; i < 10; i++) {
      storm.arrived();
      jest.advanceTimersByTime(900);
    }
    expect(compactions()).toBe(0);
    jest.advanceTimersByTime(2000);
    expect(compactions()).toBe(1);
  });

  test('leaves fewer arrivals than a storm alone, and counts the next storm from zero', () => {
    const { storm, compactions } = watch();
    storm.arrived();
    storm.arrived();
    jest.advanceTimersByTime(5000);
    expect(compactions()).toBe(0);
    storm.arrived();
    jest.advanceTimersByTime(5000);
    expect(compactions()).toBe(0);
    for (let i = 0; i < 3; i++) storm.arrived();
    jest.advanceTimersByTime(5000);
    expect(compactions()).toBe(1);
  });

  test('an arrival after the quiet timer fired, before its confirmation, restarts the wait', () => {
    const { storm, compactions } = watch();
    for (let i = 0; i < 5; i++) storm.arrived();
    jest.advanceTimersByTime(1000);
    // the second look finds no new arrival and leaves its confirmation to an immediate
    jest.advanceTimersToNextTimer();
    storm.arrived();
    jest.runOnlyPendingTimers();
    expect(compactions()).toBe(0);
    jest.advanceTimersByTime(3000);
    expect(compactions()).toBe(1);
  });

  test('stop cancels a pending compaction', () => {
    const { storm, compactions } = watch();
    for (let i = 0; i < 5; i++) storm.arrived();
    storm.stop();
    jest.advanceTimersByTime(10_000);
    expect(compactions()).toBe(0);
  });
});

describe('compactHeap', () => {
  test('gives back the young generation, and the process runs on after it', async () => {
    const newSpace = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? NaN;
    // survivors grow the young generation, as a storm's devices do
    const kept: { i: number; a: number[] }[] = [];
    for (let i = 0; i < 200_000; i++) kept.push({ i, a: [i] });
    const grown = newSpace();
    await new Promise<void>((resolve) => compactHeap(resolve));
    // the event loop still turns once the session is closed
    await new Promise((resolve) => setImmediate(resolve));
    expect(kept).toHaveLength(200_000);
    expect(newSpace()).toBeLessThan(grown);
  });
});
