/**
 * Counts one run's messages by sequence number: the same numbers as testkit's Tally (sent,
 * received, unique, duplicated, lost, unexpected), kept in typed arrays so that counting costs
 * the benchmark process next to nothing (it shares two cores with Ferry and RabbitMQ).
 *
 * A fan-out run has `copies` receivers that should each get every message once: a delivery is a
 * (receiver, sequence) pair, counted on its own, so a duplicate at one receiver never hides a
 * loss at another. `lost` is then the deliveries that never came (sent × copies − unique).
 *
 * Payload layout (big-endian): [0..4) sequence number, [4..12) send time (performance.now(),
 * ms, one clock: publisher and consumer live in this process, or a subscriber in another reports
 * its receipts on the absolute clock, `performance.timeOrigin + performance.now()`), the rest filler.
 */
import { performance } from 'node:perf_hooks';

export function payloadFactory(bytes) {
  if (bytes < 12) throw new Error('payloads need at least 12 bytes (sequence + timestamp)');
  const template = Buffer.alloc(bytes, 'x');
  return (seq) => {
    const b = Buffer.allocUnsafe(bytes);
    template.copy(b);
    b.writeUInt32BE(seq, 0);
    b.writeDoubleBE(performance.now(), 4);
    return b;
  };
}

export class Counter {
  /**
   * @param {number} n messages that will be sent; @param {number} measureFrom first sequence
   * counted in latencies; @param {number} copies receivers that each should get every message
   */
  constructor(n, measureFrom = 0, copies = 1) {
    this.n = n;
    this.measureFrom = measureFrom;
    this.copies = copies;
    this.expected = n * copies;
    this.sent = 0;
    this.seen = new Uint16Array(n * copies);
    this.latency = new Float64Array(n).fill(NaN);
    this.received = 0;
    this.unique = 0;
    this.duplicated = 0;
    this.unexpected = 0;
    this.firstSentAt = undefined;
    /** when the first measured message (`measureFrom`) was sent */
    this.measureSentAt = undefined;
    this.lastUniqueAt = undefined;
    this.onComplete = undefined;
  }

  markSent() {
    if (this.sent === 0) this.firstSentAt = performance.now();
    if (this.sent === this.measureFrom) this.measureSentAt = performance.now();
    this.sent++;
  }

  /**
   * Record a delivery; `body` is the payload bytes as received, `copy` the receiver (0 unless
   * fan-out). A message's latency is that of its last receiver: the time to deliver it to all.
   */
  receive(body, copy = 0) {
    const now = performance.now();
    if (body.length < 12) {
      this.received++;
      this.unexpected++;
      return;
    }
    this.receiveSeq(body.readUInt32BE(0), body.readDoubleBE(4), now, copy);
  }

  /**
   * A delivery read elsewhere (a subscriber in a process of its own, bench/lib/subscriber-child.mjs):
   * its sequence number, its send time from the payload, and when it arrived, on this process's clock.
   */
  receiveSeq(seq, sentAt, now, copy = 0) {
    this.received++;
    if (seq >= this.n) {
      this.unexpected++;
      return;
    }
    if (copy < 0 || copy >= this.copies) {
      this.unexpected++;
      return;
    }
    if (this.seen[seq * this.copies + copy]++ !== 0) {
      this.duplicated++;
      return;
    }
    this.unique++;
    this.lastUniqueAt = now;
    // NaN at first; then the latest receiver's (a NaN compares false)
    const took = now - sentAt;
    if (!(this.latency[seq] >= took)) this.latency[seq] = took;
    if (this.unique === this.expected) this.onComplete?.();
  }

  /** Resolves once `k` messages arrived at least once (the warm-up's, before the measured ones). */
  whenUnique(k) {
    return new Promise((resolve) => {
      const check = () => (this.unique >= k ? resolve() : setTimeout(check, 10));
      check();
    });
  }

  get complete() {
    return this.unique === this.expected;
  }

  /** Resolves when every message arrived at least once, or after `timeoutMs` (answers false). */
  whenComplete(timeoutMs) {
    if (this.complete) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.onComplete = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  counts() {
    return {
      sent: this.sent,
      received: this.received,
      unique: this.unique,
      duplicated: this.duplicated,
      lost: this.sent * this.copies - this.unique,
      unexpected: this.unexpected,
      ...(this.copies > 1 ? { receivers: this.copies, deliveries: this.sent * this.copies } : {}),
    };
  }

  /**
   * p50 / p90 / p99 / max (ms) of the messages from `measureFrom` on; with `perSecond` (the
   * rate of a paced run) also the p99 and max of each second's messages (`bySecond`), which
   * tell a tail spread over the run from one made in a few seconds of it (a process warming up,
   * a pause, the machine); and with `settleSeconds` the quantiles of the window without its first
   * seconds (`settled`).
   */
  latencyStats(perSecond, settleSeconds = 0) {
    const measured = this.latency.subarray(this.measureFrom);
    const stats = quantiles(measured);
    if (stats === undefined) return undefined;
    if (perSecond > 0 && settleSeconds > 0 && measured.length > perSecond * settleSeconds) {
      const settled = quantiles(measured.subarray(perSecond * settleSeconds));
      if (settled !== undefined) stats.settled = { fromSecond: settleSeconds, ...settled };
    }
    if (perSecond > 0 && measured.length > perSecond) {
      stats.bySecond = [];
      for (let i = 0; i < measured.length; i += perSecond) {
        const s = quantiles(measured.subarray(i, i + perSecond));
        stats.bySecond.push(s === undefined ? null : { p99: s.p99, max: s.max });
      }
    }
    return stats;
  }
}

function quantiles(latencies) {
  const xs = Array.from(latencies).filter((x) => !Number.isNaN(x));
  xs.sort((a, b) => a - b);
  if (xs.length === 0) return undefined;
  const q = (p) => xs[Math.min(xs.length - 1, Math.max(0, Math.ceil(p * xs.length) - 1))];
  const r = (x) => Math.round(x * 1000) / 1000;
  return { count: xs.length, p50: r(q(0.5)), p90: r(q(0.9)), p99: r(q(0.99)), max: r(xs[xs.length - 1]) };
}
