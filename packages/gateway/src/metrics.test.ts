import { Histogram, Registry } from 'prom-client';
import { PromMetrics } from './metrics.js';

/** the lines of one metric in an exposition text */
function linesOf(text: string, metric: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(metric) || l.startsWith(`# HELP ${metric} `) || l.startsWith(`# TYPE ${metric} `));
}

describe('PromMetrics', () => {
  it('keeps one series per label set, ignores undocumented labels and never throws', async () => {
    const m = new PromMetrics('edge-1');
    m.inc('messages_routed_total', { route: 'a' });
    m.inc('messages_routed_total', { route: 'a' }, 2);
    m.inc('messages_routed_total', { route: 'b', bogus: 'x' });
    m.set('connector_up', { connector: 'rabbit' }, 1);
    m.add('messages_in_flight', { route: 'a' }, 3);
    m.add('messages_in_flight', { route: 'a' }, -1);
    m.observe('sink_confirm_seconds', { connector: 'rabbit' }, 0.002);
    m.inc('sink_failures_total', { connector: 'rabbit' }); // missing labels are empty, not an error
    const text = await m.registry.metrics();
    expect(text).toContain('ferry_messages_routed_total{route="a",gateway="edge-1"} 3');
    expect(text).toContain('ferry_messages_routed_total{route="b",gateway="edge-1"} 1');
    expect(text).toContain('ferry_connector_up{connector="rabbit",gateway="edge-1"} 1');
    expect(text).toContain('ferry_messages_in_flight{route="a",gateway="edge-1"} 2');
    expect(text).toContain('ferry_sink_confirm_seconds_count{gateway="edge-1",connector="rabbit"} 1');
    expect(text).toContain('ferry_sink_failures_total{connector="rabbit",route="",code="",gateway="edge-1"} 1');
    expect(text).not.toContain('bogus');
    expect(text).toContain('ferry_process_cpu_seconds_total{gateway="edge-1"}');
    expect(text).not.toContain('ferry_process_process_');
  });

  it('a bound handle counts into the same series as the plain calls, and is made once per label set', async () => {
    const m = new PromMetrics('edge-1');
    const routed = m.bindCounter('messages_routed_total', { route: 'a' });
    expect(m.bindCounter('messages_routed_total', { route: 'a' })).toBe(routed);
    routed.inc();
    m.inc('messages_routed_total', { route: 'a' }, 2);
    const inFlight = m.bindGauge('messages_in_flight', { route: 'a' });
    inFlight.inc(3);
    inFlight.inc(-1);
    m.bindHistogram('sink_confirm_seconds', { connector: 'rabbit' }).observe(0.002);
    m.observe('sink_confirm_seconds', { connector: 'rabbit' }, 0.004);
    const text = await m.registry.metrics();
    expect(text).toContain('ferry_messages_routed_total{route="a",gateway="edge-1"} 3');
    expect(text).toContain('ferry_messages_in_flight{route="a",gateway="edge-1"} 2');
    expect(text).toContain('ferry_sink_confirm_seconds_count{gateway="edge-1",connector="rabbit"} 2');
  });

  it('counts waiting for a collect reach every read once, and a gauge set drops the increments before it', async () => {
    const m = new PromMetrics('edge-1');
    const sent = m.bindCounter('messages_sent_total', { connector: 'rabbit' });
    const inFlight = m.bindGauge('messages_in_flight', { route: 'a' });
    for (let i = 0; i < 5; i++) sent.inc();
    inFlight.inc(4);
    expect(await m.series('messages_sent_total')).toEqual([{ labels: { connector: 'rabbit' }, value: 5 }]);
    sent.inc(2);
    const text = await m.registry.metrics();
    expect(text).toContain('ferry_messages_sent_total{connector="rabbit",gateway="edge-1"} 7');
    expect(text).toContain('ferry_messages_in_flight{route="a",gateway="edge-1"} 4');
    expect(await m.registry.metrics()).toContain('ferry_messages_sent_total{connector="rabbit",gateway="edge-1"} 7');
    inFlight.inc(-1);
    inFlight.set(10);
    inFlight.inc(-2);
    expect(await m.registry.metrics()).toContain('ferry_messages_in_flight{route="a",gateway="edge-1"} 8');
  });

  it('refuses a negative count as prom-client does', () => {
    const m = new PromMetrics('edge-1');
    expect(() => m.bindCounter('messages_sent_total', { connector: 'rabbit' }).inc(-1)).toThrow('It is not possible to decrease a counter');
  });

  // The guard of pending-histogram.ts's reliance on prom-client's internals (its series in
  // `hashMap`): a failure after an upgrade means the seam no longer holds; read
  // docs/architecture.md, "Library seams", before touching the pin.
  it('a histogram series reads in /metrics exactly as the Histogram of prom-client given the same observations', async () => {
    const m = new PromMetrics('edge-1');
    const reference = new Registry();
    reference.setDefaultLabels({ gateway: 'edge-1' });
    const own = new Histogram({
      name: 'ferry_sink_confirm_seconds',
      help: 'Time from sink write to confirmation',
      labelNames: ['connector'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [reference],
    });
    const bound = m.bindHistogram('sink_confirm_seconds', { connector: 'rabbit' });
    // on a bound, between bounds, above the last one, zero, and sums whose last digits depend on the order
    const rounds = [
      [0.0005, 0.0001, 0.1, 0.3, 0.7, 12, 0, 0.0025000001],
      [1e-7, 0.1, 0.2, 0.30000000000000004, 10, 10.5],
      [],
      [0.001, 0.001, 0.004],
    ];
    const texts: string[][] = [];
    for (const [i, round] of rounds.entries()) {
      for (const v of round) {
        if (i % 2 === 0) bound.observe(v);
        else m.observe('sink_confirm_seconds', { connector: 'rabbit' }, v);
        own.labels('rabbit').observe(v);
        m.bindHistogram('sink_confirm_seconds', { connector: 'mqtt' }).observe(v / 3);
        own.labels('mqtt').observe(v / 3);
      }
      const mine = linesOf(await m.registry.metrics(), 'ferry_sink_confirm_seconds');
      expect(mine).toEqual(linesOf(await reference.metrics(), 'ferry_sink_confirm_seconds'));
      texts.push(mine);
    }
    expect(texts[3]).toContain('ferry_sink_confirm_seconds_count{gateway="edge-1",connector="rabbit"} 17');
    expect(texts[3]).toContain('ferry_sink_confirm_seconds_bucket{le="+Inf",gateway="edge-1",connector="rabbit"} 17');
  });

  it('shows no histogram series before its first observation, and refuses what prom-client refuses', async () => {
    const m = new PromMetrics('edge-1');
    const bound = m.bindHistogram('sink_confirm_seconds', { connector: 'rabbit' });
    expect(await m.registry.metrics()).not.toContain('ferry_sink_confirm_seconds_count');
    expect(() => bound.observe(Number.NaN)).toThrow(TypeError);
    expect(() => bound.observe(Infinity)).toThrow(TypeError);
    expect(await m.registry.metrics()).not.toContain('ferry_sink_confirm_seconds_count');
  });
});
