/**
 * Eclipse Paho's Python client, Debian's python3-paho-mqtt 1.6.1 (run with /usr/bin/python3),
 * against the mqtt-listener: connect with MQTT 3.1.1 and 5, keep alive 0 and not,
 * QoS 0/1/2 both ways, retained messages, wills, shared subscriptions, and MQTT 5 flow control
 * (Receive Maximum).
 * The listener's source routes what the client publishes and settles it (accept), so each QoS 1/2
 * acknowledgement the client gets was sent after its settlement. paho_conformance.py holds the
 * client side, one scenario per run.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMessage, type InboundDelivery } from '@ferry/core';
import { freePort, RecordingMetrics, Tally } from '@ferry/testkit';
import { MqttListenerConnector, mqttListenerOptions } from '@ferry/mqtt';
import { context, prefix } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const script = join(here, 'paho_conformance.py');
const python = '/usr/bin/python3';

function paho(...args: (string | number)[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(python, [script, ...args.map(String)], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`paho_conformance.py ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>);
      } catch {
        reject(new Error(`paho_conformance.py ${args.join(' ')}: no JSON on stdout:\n${stdout}\n${stderr}`));
      }
    });
  });
}

beforeAll(() => {
  if (!existsSync('/usr/lib/python3/dist-packages/paho/mqtt/client.py')) {
    throw new Error('python3-paho-mqtt (1.6.1, Debian) is missing: apt-get install -y python3-paho-mqtt, or run integration/brokers/install.sh');
  }
});

describe('Paho Python 1.6.1 against the mqtt-listener', () => {
  let listener: MqttListenerConnector;
  let port: number;
  let metrics: RecordingMetrics;
  const got: InboundDelivery[] = [];

  beforeEach(async () => {
    port = await freePort();
    metrics = new RecordingMetrics();
    got.length = 0;
    listener = new MqttListenerConnector(context(metrics), 'devices', mqttListenerOptions.parse({ port, host: '127.0.0.1', receiveMaximum: 5, anonymous: true }));
    await listener.start();
    await listener.openSources([{ route: 'r', from: { topic: '#' } }], (d) => {
      got.push(d);
      // the flow scenario: each publish to <p>/in/<i> comes back to <p>/back/<i> through the sink
      const m = /^(.*)\/in\/(\d+)$/.exec(d.message.source.address);
      if (m === null) {
        d.settlement.accept();
        return;
      }
      listener.sink
        .write(createMessage({ body: d.message.body, source: d.message.source }), { topic: `${m[1]}/back/${m[2]}`, qos: 1 })
        .then(() => d.settlement.accept())
        .catch((e: unknown) => d.settlement.release(e as never));
    });
  });

  afterEach(async () => {
    await listener.stop();
  });

  for (const version of [4, 5]) {
    const v = version === 5 ? 'MQTT 5' : 'MQTT 3.1.1';
    for (const keepalive of [0, 30]) {
      it(`${v}: connects with keep alive ${keepalive} and works`, async () => {
        const r = await paho('connect', port, version, keepalive);
        expect(r).toMatchObject({ rc: 0, usable: true });
      });
    }

    it(`${v}: QoS 0, 1 and 2 in both directions (PUBACK, PUBREC/PUBREL/PUBCOMP each way)`, async () => {
      const p = prefix(`paho-qos-${version}`);
      const r = await paho('qos', port, version, p);
      expect(r.rc).toBe(0);
      expect(r.received).toEqual([0, 1, 2].map((q) => ({ topic: `${p}/q${q}`, qos: q, payload: `m${q}` })));
      expect(r.acknowledged).toEqual([0, 1, 2]);
      expect(r.alive).toBe(true);
      expect(got.map((d) => d.message.body.toString()).sort()).toEqual(['m0', 'm1', 'm2']);
      expect(metrics.count('protocol_errors_total')).toBe(0);
    });

    it(`${v}: a retained message reaches a later subscriber with RETAIN set; an empty one clears it`, async () => {
      const p = prefix(`paho-ret-${version}`);
      const r = await paho('retained', port, version, p);
      expect(r.retained).toEqual([{ topic: `${p}/state`, payload: 'on', retain: true }]);
      expect(r.after_clear).toEqual([]);
    });

    it(`${v}: a shared subscription ($share/g/...) is granted, and each message reaches exactly one of its two members`, async () => {
      const p = prefix(`paho-share-${version}`);
      const n = 20;
      const r = await paho('shared', port, version, p, n);
      // granted QoS 1: neither 0x80 (3.1.1) nor 0x9E, Shared Subscriptions not supported (MQTT 5)
      expect(r.granted).toEqual([[1], [1]]);
      const [a, b] = r.received as [string[], string[]];
      const t = new Tally();
      for (let i = 0; i < n; i++) t.sent(`s${i}`);
      for (const m of [...a, ...b]) t.received(m);
      expect(t.counts).toMatchObject({ sent: n, received: n, lost: 0, duplicated: 0, unexpected: 0 });
      // round robin over the two members
      expect(a.length).toBeGreaterThan(0);
      expect(b.length).toBeGreaterThan(0);
    });

    it(`${v}: the will is published when the client vanishes, not after a clean DISCONNECT`, async () => {
      const p = prefix(`paho-will-${version}`);
      const r = await paho('will', port, version, p);
      expect(r.wills).toEqual([{ topic: `${p}/status`, payload: 'offline', qos: 1 }]);
    });
  }

  it('MQTT 5 flow control: the client keeps to Ferry\'s Receive Maximum, Ferry keeps to the client\'s', async () => {
    const p = prefix('paho-flow');
    const clientId = `paho-flow-${Date.now()}`;
    const n = 40;
    let maxInflight = 0;
    const sampler = setInterval(() => {
      maxInflight = Math.max(maxInflight, listener.broker?.sessionStats(clientId)?.inflight ?? 0);
    }, 1);
    let r: Record<string, unknown>;
    try {
      r = await paho('flow', port, p, n, clientId);
    } finally {
      clearInterval(sampler);
    }
    expect(r).toMatchObject({ rc: 0, server_receive_maximum: 5, all_acknowledged: true, alive: true });
    expect(r.received).toEqual(Array.from({ length: n }, (_, i) => `p${i}`));
    expect(maxInflight).toBeGreaterThan(0);
    expect(maxInflight).toBeLessThanOrEqual(2);
    expect(metrics.count('protocol_errors_total')).toBe(0);
  });
});
