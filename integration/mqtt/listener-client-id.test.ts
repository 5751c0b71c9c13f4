/**
 * mqtt-listener `clientIdPattern`: a client id follows the user name (Mosquitto's
 * use_username_as_clientid, RabbitMQ's per-user client ids). Proven with mosquitto_pub and
 * paho-mqtt (clients Ferry does not use itself): an id that does not fit the user is refused
 * with CONNACK 0x85 (5) / 0x02 (3.1.1), even before its rightful user ever connected, while a
 * device holding its own id keeps publishing, counted. One listener per pattern for the file.
 */
import { hashPassword, type Connector, type InboundDelivery } from '@ferry/core';
import { MqttListenerConnector, mqttListenerOptions } from '@ferry/mqtt';
import { freePort, RecordingMetrics, Tally, testContext, waitFor } from '@ferry/testkit';
import { runClient, runPython } from '../support/third-party.js';
import { device, end } from './helpers.js';

const PASS = { dev1: 'pw-dev1', dev2: 'pw-dev2' } as const;

describe('mqtt-listener clientIdPattern', () => {
  const metrics = new RecordingMetrics();
  const routed: InboundDelivery[] = [];
  const ports = { exact: 0, prefix: 0 };
  const running: Connector[] = [];

  beforeAll(async () => {
    // a cheap scrypt cost keeps the file quick; the format and check are the production ones
    const users = [
      { username: 'dev1', password: await hashPassword(PASS.dev1, { ln: 10, r: 8, p: 1 }) },
      { username: 'dev2', password: await hashPassword(PASS.dev2, { ln: 10, r: 8, p: 1 }) },
    ];
    for (const [kind, clientIdPattern] of [
      ['exact', '{username}'],
      ['prefix', '{username}-*'],
    ] as const) {
      ports[kind] = await freePort();
      const l = new MqttListenerConnector(
        testContext([], metrics),
        kind,
        mqttListenerOptions.parse({ port: ports[kind], host: '127.0.0.1', users, clientIdPattern, loginFailureDelay: { initialMs: 0, maxMs: 0 } }),
      );
      await l.openSources([{ route: 'r', from: { topic: '#' } }], (d) => {
        routed.push(d);
        d.settlement.accept();
      });
      await l.start();
      running.push(l);
    }
  });

  afterAll(async () => {
    for (const l of running) await l.stop();
  });

  const pub = (port: number, ...args: string[]) => runClient('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', 'sensors/x', '-m', 'hi', ...args]);

  it('"{username}": the own id is taken; another user\'s id gets 0x85 (5) / 0x02 (3.1.1) from mosquitto_pub and paho, while the owner publishes on', async () => {
    // the owner of "dev1" connected and publishing all along
    const owner = await device(`mqtt://127.0.0.1:${ports.exact}`, { protocolVersion: 5, clientId: 'dev1', username: 'dev1', password: PASS.dev1, clean: false });
    const tally = new Tally();
    let next = 0;
    const publish = async (n: number): Promise<void> => {
      for (let i = next; i < next + n; i++) {
        tally.sent(`o-${i}`);
        await owner.publishAsync('sensors/dev1', `o-${i}`, { qos: 1 });
      }
      next += n;
    };
    await publish(10);
    const v5 = await pub(ports.exact, '-V', 'mqttv5', '-i', 'dev1', '-u', 'dev2', '-P', PASS.dev2);
    expect(v5.stderr).toContain('Client Identifier not valid');
    expect(v5.code).toBe(0x85);
    const v3 = await pub(ports.exact, '-V', 'mqttv311', '-i', 'dev1', '-u', 'dev2', '-P', PASS.dev2);
    expect(v3.stderr).toContain('identifier rejected');
    expect(v3.code).toBe(2);
    const paho = await runPython(
      `import sys, paho.mqtt.client as m
c = m.Client(client_id="dev1", clean_session=False, protocol=m.MQTTv311)
c.username_pw_set("dev2", sys.argv[2])
rc = []
c.on_connect = lambda c, u, f, r: (rc.append(r), c.disconnect())
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_forever()
print(rc[0])`,
      [String(ports.exact), PASS.dev2],
    );
    expect(paho.stdout.trim()).toBe('2');
    // an id nobody holds yet, but that is not the user's own, is refused too
    expect((await pub(ports.exact, '-V', 'mqttv5', '-i', 'someone-else', '-u', 'dev2', '-P', PASS.dev2)).code).toBe(0x85);
    // the right id is taken
    expect((await pub(ports.exact, '-V', 'mqttv5', '-i', 'dev2', '-u', 'dev2', '-P', PASS.dev2, '-q', '1')).code).toBe(0);
    await publish(10);
    const own = (): InboundDelivery[] => routed.filter((d) => d.message.body.toString().startsWith('o-'));
    await waitFor(() => own().length >= 20, "the owner's 20 messages routed");
    for (const d of own()) tally.received(d.message.body.toString());
    expect(tally.counts).toMatchObject({ sent: 20, received: 20, lost: 0, duplicated: 0 });
    expect(owner.connected).toBe(true);
    expect(metrics.count('auth_failures_total', { connector: 'exact', reason: 'client-id-not-allowed' })).toBe(4);
    await end(owner);
  });

  it('"{username}-*": any suffix after the user\'s own prefix; a prefix of another user is refused; an empty id gets one that fits (paho MQTT 5)', async () => {
    expect((await pub(ports.prefix, '-V', 'mqttv5', '-i', 'dev1-kitchen', '-u', 'dev1', '-P', PASS.dev1)).code).toBe(0);
    expect((await pub(ports.prefix, '-V', 'mqttv5', '-i', 'dev1-kitchen', '-u', 'dev2', '-P', PASS.dev2)).code).toBe(0x85);
    expect((await pub(ports.prefix, '-V', 'mqttv311', '-i', 'dev1', '-u', 'dev1', '-P', PASS.dev1)).code).toBe(2);
    const paho = await runPython(
      `import sys, paho.mqtt.client as m
c = m.Client(client_id="", protocol=m.MQTTv5)
c.username_pw_set("dev2", sys.argv[2])
out = []
def on_connect(c, u, f, rc, props=None):
    out.append("%s %s" % (rc.value if hasattr(rc, "value") else rc, getattr(props, "AssignedClientIdentifier", "")))
    c.disconnect()
c.on_connect = on_connect
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_forever()
print(out[0])`,
      [String(ports.prefix), PASS.dev2],
    );
    expect(paho.stdout.trim()).toMatch(/^0 dev2-\S+$/);
  });
});
