import { PromMetrics } from './metrics.js';

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
});
