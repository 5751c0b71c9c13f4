/**
 * Shared pieces of the issue-3 scenarios: MQTT 5 device clients
 * (TCP_NODELAY on every connection), a plain amqplib side with error handlers everywhere, and
 * a windowed QoS 1 publisher. Everything here talks to the real brokers and a real gateway.
 */
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import mqtt, { type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import { rabbitUrl } from '@ferry/testkit';

/** TCP_NODELAY on the client's current socket: mqtt.js leaves Nagle on (it never calls setNoDelay). */
function noDelay(c: MqttClient): void {
  (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
}

/** An MQTT client (v5 unless told) with TCP_NODELAY on each (re)connection. */
export async function device(port: number, clientId: string, extra: IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clientId, reconnectPeriod: 0, ...extra });
  noDelay(c);
  c.on('connect', () => noDelay(c));
  c.on('error', () => undefined); // errors surface through the publish callbacks and 'close'
  return c;
}

/**
 * Publish `count` QoS 1 messages with at most `window` awaiting their PUBACK (mqtt.js has no
 * in-flight cap of its own). `make(i)` gives each message's topic, payload and options.
 */
export async function publishWindowed(
  client: MqttClient,
  count: number,
  window: number,
  make: (i: number) => { topic: string; payload: Buffer; opts: IClientPublishOptions },
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const m = make(i);
      await client.publishAsync(m.topic, m.payload, { qos: 1, ...m.opts });
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker));
}

/** The test's own amqplib client on a vhost. */
export interface Plain {
  readonly model: ChannelModel;
  readonly ch: Channel;
  readonly confirm: ConfirmChannel;
  close(): Promise<void>;
}

export async function plainClient(vhost: string): Promise<Plain> {
  const model = await amqp.connect(rabbitUrl(vhost), { noDelay: true });
  model.on('error', () => undefined);
  const ch = await model.createChannel();
  ch.on('error', () => undefined);
  const confirm = await model.createConfirmChannel();
  confirm.on('error', () => undefined);
  return {
    model,
    ch,
    confirm,
    close: async () => {
      await model.close().catch(() => undefined);
    },
  };
}

/** Consume `queue` with manual acks (acked at once), collecting every delivery. */
export async function collectQueue(ch: Channel, queue: string, prefetch = 500): Promise<ConsumeMessage[]> {
  const out: ConsumeMessage[] = [];
  await ch.prefetch(prefetch);
  await ch.consume(queue, (m) => {
    if (m === null) return;
    out.push(m);
    ch.ack(m);
  });
  return out;
}

/** Publish with a publisher confirm; resolves when the broker confirmed. */
export function publishConfirmed(ch: ConfirmChannel, exchange: string, routingKey: string, body: Buffer, options: amqp.Options.Publish = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    ch.publish(exchange, routingKey, body, options, (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()));
  });
}

/** A short unique name for this run's topics, ids and queues. */
export function runId(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
}
