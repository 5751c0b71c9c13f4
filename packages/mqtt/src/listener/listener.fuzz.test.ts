/**
 * Fuzzing the mqtt-listener: MQTT 3.1.1 and 5 byte streams captured from real clients
 * (packages/mqtt/fuzz/corpus, see its README), mutated, fed to the embedded broker over in-memory
 * connections in reads of varying size. For every input: nothing throws out of the listener, no
 * internal error is logged, the connection closes within a bound once the client hangs up, and
 * the heap does not balloon; after all of them, with every broker closed, the heap is back
 * where it was.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Authenticator, FerryError, noopMetrics, type Logger } from '@ferry/core';
import { MemoryConnection, type FuzzedListener, errorCountingLogger, openMemoryConnection, fuzzConnections, connectionFuzzFailures, connectionFuzzSummary, loadCorpus } from '@ferry/testkit';
import { mqttListenerOptions } from '../options.js';
import { MqttBroker } from './broker.js';
import { brokerConfig } from './config.js';

const here = dirname(fileURLToPath(import.meta.url));
const corpus = loadCorpus(join(here, '../../fuzz/corpus'));
/** byte sequences worth inserting whole: extreme Variable Byte Integers, properties, bad UTF-8, odd packet types */
const tokens = [
  [0xff, 0xff, 0xff, 0x7f], // the largest Remaining Length (§1.5.5)
  [0x80, 0x80, 0x80, 0x80, 0x01], // a five-byte Variable Byte Integer: malformed
  [0x0b, 0xff, 0xff, 0xff, 0x7f], // Subscription Identifier 268,435,455
  [0x11, 0xff, 0xff, 0xff, 0xff], // Session Expiry Interval "never"
  [0x21, 0x00, 0x00], // Receive Maximum 0: a protocol error (§3.1.2.11.3)
  [0x23, 0x00, 0x01], // Topic Alias 1
  [0x26, 0x00, 0x01, 0x6b, 0xff, 0xff], // User Property with a value length past the end
  [0x27, 0x00, 0x00, 0x00, 0x00], // Maximum Packet Size 0
  [0x00, 0x02, 0xc0, 0x80], // an overlong NUL in a string (§1.5.4)
  [0x00, 0x03, 0xed, 0xa0, 0x80], // a UTF-16 surrogate in UTF-8
  [0x00, 0x02, 0x23, 0x2b], // "#+" as a topic
  [0x3e], // PUBLISH with QoS 3 and DUP (malformed)
  [0x39], // PUBLISH QoS 0 with DUP 1 (§3.3.1.1)
  [0xf0, 0x00], // AUTH
  [0x00, 0x00], // reserved packet type 0
  [0xe0, 0x00], // DISCONNECT
  [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x23, 0x01], // SUBSCRIBE "#"
].map((b) => Buffer.from(b));

// a closing connection is destroyed within 1 s at the latest; the rest is room for a loaded machine
const CLOSE_WITHIN_MS = 5_000;

function newBroker(logger: Logger): MqttBroker {
  // the listener's defaults, with a small packet size so oversize paths are reached
  const o = mqttListenerOptions.parse({ port: 0, maxPacketSize: 64 * 1024, anonymous: true });
  const broker = new MqttBroker(
    brokerConfig(o, new Authenticator({ anonymous: true }, { logger, metrics: noopMetrics, connector: 'fuzz', syntax: 'mqtt' })),
    { logger, metrics: noopMetrics, connectorName: 'fuzz' },
  );
  // the owner answers QoS 1/2 publishes in turn: accept, later accept, reject, release
  let n = 0;
  broker.onPublish = (_message, _origin, settlement) => {
    if (settlement === undefined) return;
    const decisions = [() => settlement.accept(), () => settlement.reject(new FerryError('SINK_REJECTED', 'fuzz says no', { permanent: true })), () => settlement.release(new FerryError('INTERNAL', 'fuzz gives it back'))];
    const settle = decisions[n++ % 3] as () => boolean;
    if (n % 2 === 0) settle();
    else setImmediate(settle);
  };
  return broker;
}

function open(broker: MqttBroker): MemoryConnection {
  return openMemoryConnection((a) => broker.accept(a));
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

const closed = (c: MemoryConnection, ms: number): Promise<boolean> => c.closedWithin(ms);

/** A fresh broker for the connection fuzzer, its connections in memory. */
function fuzzedListener(logger: Logger): Promise<FuzzedListener> {
  const broker = newBroker(logger);
  return Promise.resolve({ open: () => open(broker), close: () => broker.close() });
}

describe('mqtt-listener fuzz', () => {
  it('the corpus is valid: every seed, as captured, gets CONNACK success and no protocol error', async () => {
    const { logger, errors } = errorCountingLogger();
    const broker = newBroker(logger);
    for (const seed of corpus) {
      const c = open(broker);
      c.send(seed.bytes);
      for (let i = 0; i < 5; i++) await tick();
      const out = c.output();
      // CONNACK: 0x20; 3.1.1 return code / MQTT 5 reason code 0 in its second variable byte
      expect({ seed: seed.name, connack: out[0], code: out[3] }).toEqual({ seed: seed.name, connack: 0x20, code: 0 });
      c.hangUp();
      expect(await closed(c, CLOSE_WITHIN_MS)).toBe(true);
    }
    await broker.close();
    expect(errors).toEqual([]);
  });

  it('mutated client streams (3.1.1 and 5): no throw, no internal error, closed within 5 s of the hang-up, heap bounded', async () => {
    const r = await fuzzConnections({ corpus, tokens, listener: fuzzedListener });
    console.log(connectionFuzzSummary('mqtt-listener', corpus.length, r));
    // a closed broker holds none of its connections, and the heap is back within 32 MiB
    expect(connectionFuzzFailures(r, 32 * 1024 * 1024)).toEqual([]);
  }, 120_000);
});
