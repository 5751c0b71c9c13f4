/**
 * Shared pieces of the amqp091 integration tests: a connector built through its definition (the
 * way the gateway builds it), a logger and metrics that record what they are given, a plain
 * amqplib client for the test's own side, and the management API calls the tests need.
 */
import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { amqp091Definition, type Amqp091Options } from '@ferry/amqp091';
import type { Connector } from '@ferry/core';
import type { Amqp091From, Amqp091To } from '@ferry/amqp091';
import { RecordingMetrics, brokerPorts, captureLogger, rabbitUrl } from '@ferry/testkit';

type TestConnector = Connector<Amqp091From, Amqp091To> & { sink: NonNullable<Connector<Amqp091From, Amqp091To>['sink']> };

export interface Built {
  readonly connector: TestConnector;
  readonly logger: ReturnType<typeof captureLogger>;
  readonly metrics: RecordingMetrics;
  readonly connectionName: string;
}

let seq = 0;

/** Build a connector from route-file-shaped options, validated by the connector's own schema. */
export function buildConnector(vhost: string, options: Record<string, unknown> = {}, gatewayId = 'itest'): Built {
  const connectionName = `ferry-itest-${process.pid}-${++seq}-${Date.now().toString(36)}`;
  const parsed: Amqp091Options = amqp091Definition.options.parse({
    url: rabbitUrl(vhost),
    connectionName,
    reconnect: { initialMs: 50, maxMs: 300 },
    ...options,
  });
  const logger = captureLogger();
  const metrics = new RecordingMetrics();
  const connector = amqp091Definition.create({ gatewayId, logger, metrics, baseDir: process.cwd() }, `rabbit${seq}`, parsed);
  if (connector.sink === undefined) throw new Error('amqp091 connector has no sink');
  return { connector: connector as TestConnector, logger, metrics, connectionName };
}

export function parseFrom(from: Record<string, unknown>): Amqp091From {
  return amqp091Definition.from!.parse(from);
}

export function parseTo(to: Record<string, unknown>): Amqp091To {
  return amqp091Definition.to!.parse(to);
}

/** The test's own plain amqplib client (error handlers on everything). */
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

/** Publish `n` messages with ids `${prefix}-${i}` and wait for every confirm. */
export async function publishMany(confirm: ConfirmChannel, queue: string, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    if (!confirm.sendToQueue(queue, Buffer.from(id), { messageId: id, persistent: true })) {
      await new Promise<void>((r) => confirm.once('drain', () => r()));
    }
  }
  await confirm.waitForConfirms();
}

const auth = 'Basic ' + Buffer.from('guest:guest').toString('base64');

async function mgmt(method: string, path: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${brokerPorts().rabbitManagement}/api${path}`, { method, headers: { authorization: auth } });
}

/** Close, from the server side, every connection whose client-provided name is `connectionName`. */
export async function killConnection(vhost: string, connectionName: string): Promise<number> {
  const res = await mgmt('GET', `/vhosts/${encodeURIComponent(vhost)}/connections`);
  if (!res.ok) throw new Error(`list connections: ${res.status}`);
  const list = (await res.json()) as { name: string; user_provided_name?: string; client_properties?: { connection_name?: string } }[];
  let killed = 0;
  for (const c of list) {
    if (c.user_provided_name === connectionName || c.client_properties?.connection_name === connectionName) {
      const del = await mgmt('DELETE', `/connections/${encodeURIComponent(c.name)}`);
      if (del.status < 300) killed++;
    }
  }
  return killed;
}

/** queue.declare passive on a throw-away channel: undefined when the queue does not exist (a 404 closes only that channel). */
export async function checkQueueSafe(model: ChannelModel, queue: string): Promise<{ messageCount: number; consumerCount: number } | undefined> {
  const ch = await model.createChannel();
  ch.on('error', () => undefined);
  try {
    const q = await ch.checkQueue(queue);
    await ch.close();
    return q;
  } catch {
    return undefined;
  }
}
