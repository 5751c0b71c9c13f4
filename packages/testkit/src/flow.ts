import { noopMetrics, silentLogger, type Connector, type ConnectorContext, type InboundDelivery, type SourceFlow } from '@ferry/core';
import { freePort } from './ports.js';

/** A SourceFlow a test pauses and resumes by hand, to drive a connector's backpressure. */
export class ManualFlow implements SourceFlow {
  paused: boolean;
  readonly #listeners = new Set<(paused: boolean) => void>();

  constructor(paused = false) {
    this.paused = paused;
  }

  onChange(listener: (paused: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** how many connectors listen (0 once they unsubscribed) */
  get listeners(): number {
    return this.#listeners.size;
  }

  set(paused: boolean): void {
    this.paused = paused;
    for (const l of this.#listeners) l(paused);
  }
}

/** A listener {@link listenerUnderFlow} started, what it delivered, and the flow that holds it back. */
export interface FlowedListener<C> {
  readonly listener: C;
  readonly port: number;
  readonly got: InboundDelivery[];
  readonly flow: ManualFlow;
}

/**
 * A listener on a free port of 127.0.0.1, started, with one route from `from` opened under a
 * {@link ManualFlow} (not paused): what a flow-control test of any listener starts from. `make`
 * builds it (no I/O) for the context and port given.
 */
export async function listenerUnderFlow<C extends Connector>(make: (ctx: ConnectorContext, port: number) => C, from: Record<string, unknown>): Promise<FlowedListener<C>> {
  const port = await freePort();
  const got: InboundDelivery[] = [];
  const flow = new ManualFlow();
  const listener = make({ gatewayId: 't', logger: silentLogger, metrics: noopMetrics, baseDir: '.' }, port);
  await listener.start();
  if (listener.openSources === undefined) throw new Error(`${listener.type} has no sources`);
  await listener.openSources([{ route: 'r', from }], (d) => got.push(d), flow);
  return { listener, port, got, flow };
}
