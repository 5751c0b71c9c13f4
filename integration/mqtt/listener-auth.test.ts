/**
 * mqtt-listener authentication and authorization, proven with clients Ferry does not use itself
 * (mosquitto_pub / mosquitto_sub, paho-mqtt through Debian's python3) and with mqtt.js. Every
 * refusal happens while a witness device (dev1) publishes a counted stream that must arrive
 * whole: one client's refusal never costs another client its service.
 */
import { hashPassword, type InboundDelivery } from '@ferry/core';
import { freePort, RecordingMetrics, Tally, testContext, waitFor, type LogLine } from '@ferry/testkit';
import { MqttListenerConnector, mqttListenerOptions } from '@ferry/mqtt';
import mqtt, { type MqttClient, type Packet } from 'mqtt';
import type { ISubackPacket } from 'mqtt-packet';
import { runClient, runPython } from '../support/third-party.js';
import { device, end } from './helpers.js';

const PASSWORDS = { dev1: 'pw-dev1', dev2: 'pw-dev2', ops: 'pw-ops' } as const;
/** a cheap cost keeps the suite quick; the hash format and check are the production ones */
const cheap = (pw: string): Promise<string> => hashPassword(pw, { ln: 10, r: 8, p: 1 });

describe('mqtt-listener: authentication and grants', () => {
  let listener: MqttListenerConnector;
  let port: number;
  let url: string;
  let metrics: RecordingMetrics;
  let lines: LogLine[];
  /** what reached the routes (the engine's view), by topic */
  let routed: InboundDelivery[];
  const clients: MqttClient[] = [];
  let witness: { client: MqttClient; tally: Tally; stop: () => Promise<void> } | undefined;

  beforeEach(async () => {
    port = await freePort();
    metrics = new RecordingMetrics();
    lines = [];
    routed = [];
    const options = mqttListenerOptions.parse({
      port,
      host: '127.0.0.1',
      users: [
        { username: 'dev1', password: await cheap(PASSWORDS.dev1), groups: ['devices'] },
        { username: 'dev2', password: await cheap(PASSWORDS.dev2), groups: ['devices'] },
        // a plain-text password from an older route file still works (and is warned about)
        { username: 'ops', password: PASSWORDS.ops, subscribe: ['sensors/#', 'cmd/#'], publish: ['cmd/#'] },
      ],
      groups: { devices: { publish: ['sensors/{username}/#'], subscribe: ['cmd/{username}/#', 'clients/{clientId}/#'] } },
      loginFailureDelay: { initialMs: 100, maxMs: 800 },
    });
    listener = new MqttListenerConnector(testContext(lines, metrics), 'devices', options);
    await listener.openSources([{ route: 'telemetry', from: { topic: '#' } }], (d) => {
      routed.push(d);
      const id = d.message.body.toString();
      if (id.startsWith('w-')) witness?.tally.received(id);
      d.settlement.accept();
    });
    await listener.start();
    url = `mqtt://127.0.0.1:${port}`;
    // the witness: dev1 publishing its own readings all along
    const client = await device(url, { protocolVersion: 5, username: 'dev1', password: PASSWORDS.dev1, clientId: 'witness' });
    const tally = new Tally();
    let running = true;
    let n = 0;
    // a named function, not an IIFE: the compiler reads an IIFE's body in line and takes
    // `running` to be true throughout, though stop() sets it false
    const publishUntilStopped = async (): Promise<void> => {
      while (running) {
        const id = `w-${n++}`;
        tally.sent(id);
        await client.publishAsync('sensors/dev1/witness', id, { qos: 1 });
        // pacing, not a wait for an event: the witness keeps a steady stream beside the refusals
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const loop = publishUntilStopped();
    witness = {
      client,
      tally,
      stop: async () => {
        running = false;
        await loop;
      },
    };
  });

  afterEach(async () => {
    const w = witness;
    if (w !== undefined) {
      await w.stop();
      witness = undefined;
      await waitFor(() => w.tally.complete, 'every witness message routed').catch((err: unknown) => {
        throw new Error(`${String(err)}: ${w.tally.summary('witness')}, routed ${routed.length}`);
      });
      const c = w.tally.counts;
      // the witness was served throughout: every message once, none lost
      expect({ lost: c.lost, duplicated: c.duplicated, unexpected: c.unexpected }).toEqual({ lost: 0, duplicated: 0, unexpected: 0 });
      expect(c.sent).toBeGreaterThan(0);
      await end(w.client);
    }
    await end(...clients.splice(0));
    await listener.stop();
  });

  const connect = async (opts: Parameters<typeof device>[1]): Promise<MqttClient> => {
    const c = await device(url, opts);
    clients.push(c);
    return c;
  };
  const connackOf = async (opts: Parameters<typeof device>[1]): Promise<number> => {
    try {
      await connect(opts);
      return 0;
    } catch (err) {
      return (err as { code?: number }).code ?? -1;
    }
  };
  const mosq = (bin: 'mosquitto_pub' | 'mosquitto_sub', ...args: string[]) => runClient(bin, ['-h', '127.0.0.1', '-p', String(port), ...args]);

  it('no credentials: CONNACK 0x05 (3.1.1) / 0x87 (5) to mosquitto_pub, paho-mqtt and mqtt.js', async () => {
    const v3 = await mosq('mosquitto_pub', '-V', 'mqttv311', '-t', 'sensors/x/y', '-m', 'hi');
    expect(v3.stderr).toContain('Connection Refused: not authorised');
    expect(v3.code).toBe(5);
    const v5 = await mosq('mosquitto_pub', '-V', 'mqttv5', '-t', 'sensors/x/y', '-m', 'hi');
    expect(v5.stderr).toContain('Not authorized');
    expect(v5.code).toBe(0x87);
    const paho = await runPython(
      `import sys, paho.mqtt.client as m
c = m.Client(client_id="paho-anon", protocol=m.MQTTv311)
rc = []
c.on_connect = lambda c, u, f, r: (rc.append(r), c.disconnect())
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_forever()
print(rc[0])`,
      [String(port)],
    );
    expect(paho.stdout.trim()).toBe('5');
    expect(await connackOf({ protocolVersion: 5 })).toBe(0x87);
    expect(metrics.count('auth_failures_total', { connector: 'devices', reason: 'no-credentials' })).toBe(4);
  });

  it('a wrong password: CONNACK 0x04 (3.1.1) / 0x86 (5), each refusal from the same address later than the one before', async () => {
    const first = await mosq('mosquitto_pub', '-V', 'mqttv311', '-u', 'dev1', '-P', 'wrong', '-t', 'sensors/dev1/x', '-m', 'hi');
    expect(first.stderr).toContain('Connection Refused: bad user name or password');
    expect(first.code).toBe(4);
    const second = await mosq('mosquitto_pub', '-V', 'mqttv5', '-u', 'dev1', '-P', 'wrong', '-t', 'sensors/dev1/x', '-m', 'hi');
    expect(second.stderr).toContain('Bad User Name or Password');
    expect(second.code).toBe(0x86);
    // unknown user: the same answer, so user names cannot be probed
    expect(await connackOf({ protocolVersion: 5, username: 'nobody', password: 'x' })).toBe(0x86);
    const t0 = performance.now();
    expect(await connackOf({ protocolVersion: 4, username: 'dev2', password: 'wrong' })).toBe(0x04);
    // fourth failure in a row from 127.0.0.1: 100 × 2^3 = 800 ms before the refusal
    expect(performance.now() - t0).toBeGreaterThanOrEqual(790);
    expect(second.ms).toBeGreaterThanOrEqual(190);
    expect(metrics.count('auth_failures_total', { connector: 'devices', reason: 'bad-credentials' })).toBe(4);
    // the right password is still accepted (and clears the address's count)
    expect(await connackOf({ protocolVersion: 5, username: 'dev2', password: PASSWORDS.dev2 })).toBe(0);
  });

  it('a publish outside the grant: PUBACK 0x87 in MQTT 5, acknowledged and dropped in 3.1.1; it reaches no route and no subscriber', async () => {
    const ops = await connect({ protocolVersion: 5, username: 'ops', password: PASSWORDS.ops });
    const seen: string[] = [];
    ops.on('message', (topic) => seen.push(topic));
    await ops.subscribeAsync('sensors/#', { qos: 1 });
    const dev2 = await connect({ protocolVersion: 5, username: 'dev2', password: PASSWORDS.dev2 });
    const refused = await dev2.publishAsync('sensors/dev1/temp', 'forged', { qos: 1 }).then(
      () => undefined,
      (err: unknown) => (err as { code?: number }).code,
    );
    expect(refused).toBe(0x87);
    // 3.1.1 at QoS 1 and 2: mosquitto_pub and paho complete their flows (PUBACK, PUBREC/PUBREL/PUBCOMP) like Mosquitto answers them
    const q1 = await mosq('mosquitto_pub', '-V', 'mqttv311', '-u', 'dev2', '-P', PASSWORDS.dev2, '-q', '1', '-t', 'sensors/dev1/temp', '-m', 'forged');
    expect(q1.code).toBe(0);
    const v5 = await mosq('mosquitto_pub', '-V', 'mqttv5', '-u', 'dev2', '-P', PASSWORDS.dev2, '-q', '1', '-t', 'sensors/dev1/temp', '-m', 'forged');
    expect(v5.stderr).toContain('Publish 1 failed: Not authorized');
    const paho = await runPython(
      `import sys, paho.mqtt.client as m
c = m.Client(client_id="paho-q2", protocol=m.MQTTv311)
c.username_pw_set("dev2", "${PASSWORDS.dev2}")
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_start()
i = c.publish("sensors/dev1/temp", b"forged", qos=2)
i.wait_for_publish(10)
print("done" if i.is_published() else "stuck")
c.loop_stop()`,
      [String(port)],
    );
    expect(paho.stdout.trim()).toBe('done');
    // dev2's own topic is granted: it arrives, and marks the point by which anything forged would have too
    await dev2.publishAsync('sensors/dev2/temp', 'real', { qos: 1 });
    await waitFor(() => seen.includes('sensors/dev2/temp') && routed.some((d) => d.message.source.address === 'sensors/dev2/temp'), 'the granted publish');
    expect(routed.filter((d) => d.message.body.toString() === 'forged')).toHaveLength(0);
    expect(seen.filter((t) => t === 'sensors/dev1/temp')).toHaveLength(0);
    expect(metrics.count('access_denied_total', { connector: 'devices', action: 'publish' })).toBe(4);
    // logged once per client, not per message
    expect(lines.filter((l) => l.message.includes('publish to "sensors/dev1/temp" refused'))).toHaveLength(4);
    // a will outside the grant is a publish outside the grant: CONNACK 0x87
    expect(await connackOf({ protocolVersion: 5, username: 'dev2', password: PASSWORDS.dev2, will: { topic: 'cmd/dev1/unlock', payload: Buffer.from('x'), qos: 1, retain: false } })).toBe(0x87);
  });

  it('a subscription wider than the grant: SUBACK 0x87 (5) / 0x80 (3.1.1) for that filter; granted filters in the same SUBSCRIBE work', async () => {
    const subacks: ISubackPacket[] = [];
    const dev1 = await connect({ protocolVersion: 5, username: 'dev1', password: PASSWORDS.dev1, clientId: 'dev1-a' });
    dev1.on('packetreceive', (p: Packet) => {
      if (p.cmd === 'suback') subacks.push(p);
    });
    const got: string[] = [];
    dev1.on('message', (topic: string) => got.push(topic));
    await dev1.subscribeAsync({ '#': { qos: 1 }, 'cmd/#': { qos: 1 }, 'cmd/+/unlock': { qos: 1 }, 'cmd/dev1/#': { qos: 1 }, 'clients/dev1-a/+': { qos: 1 } }).catch(() => undefined);
    await waitFor(() => subacks.length === 1, 'SUBACK');
    expect(subacks[0]!.granted).toEqual([0x87, 0x87, 0x87, 1, 1]);
    const sub311 = await mosq('mosquitto_sub', '-V', 'mqttv311', '-u', 'dev1', '-P', PASSWORDS.dev1, '-t', '#', '-C', '1', '-W', '5');
    expect(sub311.stderr).toContain('All subscription requests were denied');
    const paho = await runPython(
      `import sys, paho.mqtt.client as m
c = m.Client(client_id="paho-sub", protocol=m.MQTTv311)
c.username_pw_set("dev2", "${PASSWORDS.dev2}")
out = []
c.on_connect = lambda c, u, f, r: c.subscribe([("cmd/#", 1), ("cmd/dev2/#", 1), ("$share/g/cmd/dev1/#", 1), ("$share/g/cmd/dev2/#", 1)])
c.on_subscribe = lambda c, u, mid, granted: (out.append(granted), c.disconnect())
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_forever()
print(list(out[0]))`,
      [String(port)],
    );
    // `$share/g/` is taken off before the grants are checked (§4.8.2): dev2 may share its own commands only
    expect(paho.stdout.trim()).toBe('[128, 1, 128, 1]');
    // a client id with wildcards cannot widen a {clientId} grant
    const hostile = await connect({ protocolVersion: 5, username: 'dev2', password: PASSWORDS.dev2, clientId: '+' });
    const hostileAcks: ISubackPacket[] = [];
    hostile.on('packetreceive', (p: Packet) => p.cmd === 'suback' && hostileAcks.push(p));
    await hostile.subscribeAsync('clients/+/#', { qos: 1 }).catch(() => undefined);
    await waitFor(() => hostileAcks.length === 1, 'SUBACK');
    expect(hostileAcks[0]!.granted).toEqual([0x87]);
    // what dev1 may read still arrives; dev2's command does not
    const ops = await connect({ protocolVersion: 5, username: 'ops', password: PASSWORDS.ops });
    await ops.publishAsync('cmd/dev2/unlock', 'secret', { qos: 1 });
    await ops.publishAsync('cmd/dev1/reboot', 'ok', { qos: 1 });
    await waitFor(() => got.includes('cmd/dev1/reboot'), "dev1's own command");
    expect(got).toEqual(['cmd/dev1/reboot']);
  });

  it("a user taking over another user's client id: CONNACK 0x02 (3.1.1) / 0x85 (5); the owner keeps its session and its queued messages", async () => {
    const owner = await connect({ protocolVersion: 4, username: 'dev1', password: PASSWORDS.dev1, clientId: 'dev1-phone', clean: false });
    await owner.subscribeAsync('cmd/dev1/#', { qos: 1 });
    // while the owner is connected
    const live = await mosq('mosquitto_sub', '-V', 'mqttv311', '-u', 'dev2', '-P', PASSWORDS.dev2, '-i', 'dev1-phone', '-c', '-t', 'cmd/dev2/#', '-W', '3');
    expect(live.stderr).toContain('Connection Refused: identifier rejected');
    expect(live.code).toBe(2);
    expect(owner.connected).toBe(true);
    await end(owner);
    clients.splice(clients.indexOf(owner), 1);
    // while the owner is away, with a message waiting in its session
    const ops = await connect({ protocolVersion: 5, username: 'ops', password: PASSWORDS.ops });
    await ops.publishAsync('cmd/dev1/firmware', 'https://fw.example/dev1?token=abc', { qos: 1 });
    expect(await connackOf({ protocolVersion: 5, username: 'dev2', password: PASSWORDS.dev2, clientId: 'dev1-phone', clean: false, properties: { sessionExpiryInterval: 60 } })).toBe(0x85);
    expect(await connackOf({ protocolVersion: 4, username: 'dev2', password: PASSWORDS.dev2, clientId: 'dev1-phone', clean: true })).toBe(0x02);
    const anon = await mosq('mosquitto_sub', '-V', 'mqttv5', '-i', 'dev1-phone', '-t', 'x', '-W', '3');
    expect(anon.code).not.toBe(0);
    // the owner comes back and gets what was queued for it
    const back = mqtt.connect(url, { protocolVersion: 4, username: 'dev1', password: PASSWORDS.dev1, clientId: 'dev1-phone', clean: false, reconnectPeriod: 0 });
    clients.push(back);
    const got: string[] = [];
    // listening before CONNACK: the queued message comes right after it
    back.on('message', (_t: string, body: Buffer) => got.push(body.toString()));
    await waitFor(() => got.length === 1, 'the queued command');
    expect(got).toEqual(['https://fw.example/dev1?token=abc']);
    expect(metrics.count('auth_failures_total', { connector: 'devices', reason: 'client-id-taken' })).toBe(3);
  });

  it('warns at start about the plain-text password in the route file', () => {
    expect(lines.filter((l) => l.level === 'warn' && l.message.includes('users ops have plain-text passwords'))).toHaveLength(1);
    expect(JSON.stringify(lines)).not.toContain(PASSWORDS.ops);
  });
});
