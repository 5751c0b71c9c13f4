/**
 * The durable spool in front of sinks (docs/spool.md): with `gateway.spool`, every sink that a
 * listener's route writes to gets a SpooledSink in front, so messages Ferry accepted from its
 * own listeners are kept on disk while that sink is unreachable. Broker sources are left as
 * they are (their broker keeps the message).
 */
import path from 'node:path';
import { describeError, type Connector, type Logger, type Metrics, type Sink } from '@ferry/core';
import type { GatewayConfig } from '@ferry/config';
import { Spool, SpooledSink } from '@ferry/spool';

/** The spool of `config`, or undefined without `gateway.spool`. No I/O. */
export function newSpool(config: GatewayConfig, logger: Logger, metrics: Metrics): Spool | undefined {
  const section = config.gateway.spool;
  if (section === undefined) return undefined;
  return new Spool({
    dir: path.resolve(config.baseDir, section.dir),
    maxBytes: section.maxBytes,
    overflow: section.overflow,
    logger: logger.child({ component: 'spool' }),
    metrics,
  });
}

/** every sink connector a listener's route writes to: those the spool stands in front of */
export function spooledSinkNames(config: GatewayConfig, listeners: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const route of config.routes) {
    if (!listeners.has(route.from.connector)) continue;
    for (const to of route.to) out.add(to.connector);
  }
  return out;
}

/** The spooled sink in front of `connector`, spooling what comes from `spoolFrom` (the listeners). */
export function newSpooledSink(
  spool: Spool,
  name: string,
  connector: Connector<Record<string, unknown>, Record<string, unknown>>,
  spoolFrom: ReadonlySet<string>,
  opts: { readonly logger: Logger; readonly metrics: Metrics; readonly sinkTimeoutMs?: number },
): SpooledSink<Record<string, unknown>> {
  const sinkTimeoutMs = opts.sinkTimeoutMs ?? 30_000;
  return new SpooledSink({
    connector: name,
    sink: connector.sink as Sink<Record<string, unknown>>,
    spool,
    isUp: () => connector.state === 'up',
    spoolFrom,
    logger: opts.logger.child({ component: 'spool', connector: name }),
    metrics: opts.metrics,
    // spool before the engine's own timeout would release the message
    directTimeoutMs: Math.min(10_000, Math.max(1, Math.floor(sinkTimeoutMs / 2))),
  });
}

/** Open the store and start every drainer; a queue no listener route writes to stays on disk. */
export async function openSpool(spool: Spool | undefined, spooled: ReadonlyMap<string, SpooledSink<Record<string, unknown>>>, logger: Logger): Promise<void> {
  if (!spool) return;
  await spool.open();
  for (const q of spool.queues()) {
    if (!spooled.has(q.queue)) {
      logger.warn('the spool holds messages for a connector no listener route of this configuration writes to; they stay on disk', q);
    }
  }
  for (const s of spooled.values()) s.start();
}

/** Drainers stop taking while connectors stop (which fails their writes in flight), then the store closes. */
export async function closeSpool(
  spool: Spool | undefined,
  spooled: ReadonlyMap<string, SpooledSink<Record<string, unknown>>>,
  stopConnectors: () => Promise<void>,
  logger: Logger,
): Promise<void> {
  const drainers = Promise.all([...spooled.values()].map((s) => s.stop()));
  await stopConnectors();
  await drainers;
  try {
    await spool?.close();
  } catch (err) {
    logger.warn('closing the spool failed', { error: describeError(err) });
  }
}

/** messages and bytes waiting in the spool, per sink connector (empty without a spool) */
export function spoolDepth(spool: Spool | undefined, spooled: ReadonlyMap<string, unknown>): Record<string, { messages: number; bytes: number }> {
  const out: Record<string, { messages: number; bytes: number }> = {};
  for (const name of spooled.keys()) out[name] = spool?.depth(name) ?? { messages: 0, bytes: 0 };
  return out;
}
