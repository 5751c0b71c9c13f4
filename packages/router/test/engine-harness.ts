/**
 * An Engine over the fake connectors (test/fakes.ts) with a ManualSink per destination
 * connector, and a way to hand it a message as a source connector would: what the engine's and
 * the route policies' unit tests share.
 */
import { Settlement, createMessage, silentLogger, type GatewayMessage, type HeaderValue, type Outcome, type Sink } from '@ferry/core';
import { RecordingMetrics } from '@ferry/testkit';
import { Engine, type EngineOptions } from '../src/engine.js';
import type { RouteTable } from '../src/table.js';
import { ManualSink } from './fakes.js';

export interface Harness {
  engine: Engine;
  metrics: RecordingMetrics;
  rabbit: ManualSink;
  web: ManualSink;
  devices: ManualSink;
}

/** The engine's options besides table, sinks, logger and metrics; `sinks` replaces the three ManualSinks. */
export type HarnessOptions = Partial<Omit<EngineOptions, 'table' | 'sinks' | 'logger' | 'metrics'>> & {
  readonly sinks?: Map<string, Sink<Record<string, unknown>>> | undefined;
};

export function engineHarness(table: RouteTable, opts: HarnessOptions = {}): Harness {
  const rabbit = new ManualSink();
  const web = new ManualSink();
  const devices = new ManualSink();
  const metrics = new RecordingMetrics();
  const { sinks, ...engineOpts } = opts;
  const engine = new Engine({
    ...engineOpts,
    table,
    sinks: sinks ?? new Map<string, Sink<Record<string, unknown>>>([['rabbit', rabbit], ['web', web], ['devices', devices]]),
    logger: silentLogger,
    metrics,
  });
  return { engine, metrics, rabbit, web, devices };
}

export interface Sent {
  message: GatewayMessage;
  settlement: Settlement;
  outcomes: Outcome[];
}

/** `address` arriving at source connector `connector` (plant: mqtt, artemis: amqp10, else amqp091) */
export function deliver(engine: Engine, connector: string, address: string, headers: [string, HeaderValue][] = [], routes?: string[]): Sent {
  const protocol = connector === 'plant' ? 'mqtt' : connector === 'artemis' ? 'amqp10' : 'amqp091';
  const message = createMessage({
    body: Buffer.from(`body of ${address}`),
    headers: new Map(headers),
    source: { connector, protocol, address },
  });
  const outcomes: Outcome[] = [];
  const settlement = new Settlement((o) => outcomes.push(o));
  engine.handler(connector)(routes === undefined ? { message, settlement } : { message, settlement, routes });
  return { message, settlement, outcomes };
}
