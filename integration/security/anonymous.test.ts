/**
 * A listener with no users that does not say `anonymous: true` accepts nobody (as Mosquitto 2
 * without allow_anonymous), each protocol refusing in its own words, proven with clients Ferry
 * does not use itself: mosquitto_pub and paho-mqtt (CONNACK 0x05 / 0x87, with a user name 0x04 /
 * 0x86), stomp.py (ERROR frame), Qpid Proton (SASL ANONYMOUS not offered, PLAIN refused). The
 * listeners say at start that they accept nobody. One listener of each kind for the whole file;
 * no login delay, so the refusals cost no waiting.
 */
import type { Connector } from '@ferry/core';
import { amqp10ListenerDefinition } from '@ferry/amqp10';
import { mqttListenerDefinition } from '@ferry/mqtt';
import { stompListenerDefinition } from '@ferry/stomp';
import { freePort, RecordingMetrics, testContext, type LogLine } from '@ferry/testkit';
import { runClient, runPython } from '../support/third-party.js';
import { amqpLogins, stompLogins } from './clients.js';

const noDelay = { loginFailureDelay: { initialMs: 0, maxMs: 0 } };

describe('listeners without users and without anonymous: true accept nobody', () => {
  const lines: LogLine[] = [];
  const metrics = new RecordingMetrics();
  const ports = { mqtt: 0, stomp: 0, amqp10: 0 };
  const running: Connector[] = [];

  beforeAll(async () => {
    ports.mqtt = await freePort();
    ports.stomp = await freePort();
    ports.amqp10 = await freePort();
    const ctx = testContext(lines, metrics);
    running.push(
      mqttListenerDefinition.create(ctx, 'devices', mqttListenerDefinition.options.parse({ port: ports.mqtt, host: '127.0.0.1', ...noDelay })),
      stompListenerDefinition.create(ctx, 'web', stompListenerDefinition.options.parse({ port: ports.stomp, host: '127.0.0.1', ...noDelay })),
      amqp10ListenerDefinition.create(ctx, 'apps', amqp10ListenerDefinition.options.parse({ port: ports.amqp10, host: '127.0.0.1', ...noDelay })),
    );
    for (const c of running) await c.start();
  });

  afterAll(async () => {
    for (const c of running) await c.stop();
  });

  it('each says at start that it accepts nobody', () => {
    const warned = lines.filter((l) => l.level === 'warn' && /accepts nobody: .*anonymous: true/.test(l.message)).map((l) => l.message.split(' ')[0]);
    expect(warned.sort()).toEqual(['apps', 'devices', 'web']);
  });

  it('mqtt-listener: CONNACK 0x05 (3.1.1) / 0x87 (5) without credentials, 0x04 / 0x86 with a user name (mosquitto_pub, paho-mqtt)', async () => {
    const mosq = (...args: string[]) => runClient('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(ports.mqtt), '-t', 'sensors/x', '-m', 'hi', ...args]);
    const v3 = await mosq('-V', 'mqttv311');
    expect(v3.stderr).toContain('Connection Refused: not authorised');
    expect(v3.code).toBe(5);
    const v5 = await mosq('-V', 'mqttv5');
    expect(v5.stderr).toContain('Not authorized');
    expect(v5.code).toBe(0x87);
    const named = await mosq('-V', 'mqttv5', '-u', 'someone', '-P', 'pw');
    expect(named.code).toBe(0x86);
    const paho = await runPython(
      `import sys, paho.mqtt.client as m
rcs = []
for user in (None, "someone"):
    c = m.Client(client_id="paho-%s" % user, protocol=m.MQTTv311)
    if user: c.username_pw_set(user, "pw")
    c.on_connect = lambda c, u, f, r: (rcs.append(r), c.disconnect())
    c.connect("127.0.0.1", int(sys.argv[1]))
    c.loop_forever()
print(" ".join(map(str, rcs)))`,
      [String(ports.mqtt)],
    );
    expect(paho.stdout.trim()).toBe('5 4');
    expect(metrics.count('auth_failures_total', { connector: 'devices', reason: 'no-credentials' })).toBe(3);
    expect(metrics.count('auth_failures_total', { connector: 'devices', reason: 'bad-credentials' })).toBe(2);
  });

  it('stomp-listener: an ERROR frame with or without a login (stomp.py)', async () => {
    const refused = { connected: false, exception: expect.any(String) as unknown, errors: ['authentication failed'], receipts: [] };
    expect(await stompLogins(ports.stomp, {}, { login: 'someone' })).toEqual([refused, refused]);
    expect(metrics.count('auth_failures_total', { connector: 'web', reason: 'no-credentials' })).toBe(1);
    expect(metrics.count('auth_failures_total', { connector: 'web', reason: 'bad-credentials' })).toBe(1);
  });

  it('amqp10-listener: SASL ANONYMOUS not offered, PLAIN refused (Qpid Proton)', async () => {
    const [anon, plain] = await amqpLogins(ports.amqp10, {}, { user: 'someone' });
    expect(anon?.connected).toBe(false);
    expect(anon?.error).toMatch(/mechanism|SASL|unauthorized/i);
    expect(plain?.connected).toBe(false);
    expect(plain?.error).toMatch(/amqp:unauthorized-access|Authentication failed|SASL/i);
    expect(metrics.count('auth_failures_total', { connector: 'apps', reason: 'bad-credentials' })).toBe(1);
  });
});
