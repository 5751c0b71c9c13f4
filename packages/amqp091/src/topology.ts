import type { Channel } from 'amqplib';
import { FerryError } from '@ferry/core';
import type { Amqp091Options, FieldTable } from './options.js';

type Topology = Amqp091Options['topology'];

/** A queue Ferry owns for a route whose `from` is { exchange, bindingKey, queue? }. */
export interface RouteQueue {
  readonly queue: string;
  readonly exchange: string;
  readonly bindingKey: string;
  readonly bindingArguments?: FieldTable | undefined;
  /** replicas consuming this queue take turns: one active consumer at a time, order kept */
  readonly singleActiveConsumer?: boolean | undefined;
}

/** The broker's own words from an amqplib channel error: `NOT_FOUND - no exchange 'x' in vhost 'v'`. */
export function brokerReason(err: unknown): string {
  const msg = (err instanceof Error ? err.message : String(err)).replace(/^Error: /, '');
  const m = /with message "(.*)"/.exec(msg);
  return m?.[1] ?? msg;
}

async function step(what: string, op: () => Promise<unknown>): Promise<void> {
  try {
    await op();
  } catch (err) {
    throw new FerryError('CONNECT_FAILED', `topology: ${what}: ${brokerReason(err)}`, { cause: err, details: { step: what } });
  }
}

/**
 * Declare (or, with `declare: false`, passively check) the connector's topology: exchanges,
 * then queues, then bindings, so each binding finds both ends. A failure closes the channel
 * (AMQP 0-9-1 §1.8: a failed declare is a channel exception), so the first failure ends it.
 */
export async function applyTopology(ch: Channel, topology: Topology, declare: boolean): Promise<void> {
  for (const x of topology.exchanges) {
    if (declare) {
      await step(`declare exchange '${x.name}'`, () =>
        ch.assertExchange(x.name, x.type, { durable: x.durable, autoDelete: x.autoDelete, arguments: x.arguments }),
      );
    } else {
      await step(`check exchange '${x.name}' (declare: false)`, () => ch.checkExchange(x.name));
    }
  }
  for (const q of topology.queues) {
    if (declare) {
      await step(`declare queue '${q.name}'`, () =>
        ch.assertQueue(q.name, { durable: q.durable, exclusive: q.exclusive, autoDelete: q.autoDelete, arguments: q.arguments }),
      );
    } else {
      await step(`check queue '${q.name}' (declare: false)`, () => ch.checkQueue(q.name));
    }
  }
  if (!declare) return; // the schema refuses bindings with declare: false
  for (const b of topology.bindings) {
    if (b.queue !== undefined) {
      const queue = b.queue;
      await step(`bind queue '${queue}' to exchange '${b.source}' with '${b.bindingKey}'`, () =>
        ch.bindQueue(queue, b.source, b.bindingKey, b.arguments),
      );
    } else if (b.exchange !== undefined) {
      const dest = b.exchange;
      await step(`bind exchange '${dest}' to exchange '${b.source}' with '${b.bindingKey}'`, () =>
        ch.bindExchange(dest, b.source, b.bindingKey, b.arguments),
      );
    }
  }
}

/**
 * Declare and bind the queues Ferry owns for exchange sources. Such a queue is durable (so
 * messages survive a Ferry restart) unless the topology declares it with other settings, in
 * which case that declaration (already made) is its shape. These are made even with
 * `declare: false`: the route file asks for them explicitly.
 */
export async function declareRouteQueues(ch: Channel, queues: readonly RouteQueue[], topology: Topology): Promise<void> {
  const declared = new Set(topology.queues.map((q) => q.name));
  for (const rq of queues) {
    if (!declared.has(rq.queue)) {
      const args = rq.singleActiveConsumer === true ? { 'x-single-active-consumer': true } : undefined;
      await step(`declare queue '${rq.queue}'`, () => ch.assertQueue(rq.queue, { durable: true, exclusive: false, autoDelete: false, arguments: args }));
      declared.add(rq.queue);
    }
    await step(`bind queue '${rq.queue}' to exchange '${rq.exchange}' with '${rq.bindingKey}'`, () =>
      ch.bindQueue(rq.queue, rq.exchange, rq.bindingKey, rq.bindingArguments),
    );
  }
}
