/**
 * The four ends of the mapping matrix and where each pair's message goes. Every ordered pair
 * (source, sink) has its own route, with a source address and a sink address that name the
 * other end, so each arrival says which pair it belongs to.
 */
export const ENDS = ['mqtt', 'stomp', 'amqp10', 'amqp091'] as const;
export type End = (typeof ENDS)[number];

export interface Pair {
  readonly source: End;
  readonly sink: End;
}

/** All 16 ordered pairs, same-protocol pairs included, sources in ENDS order. */
export const PAIRS: readonly Pair[] = ENDS.flatMap((source) => ENDS.map((sink) => ({ source, sink })));

export const pairId = (p: Pair): string => `${p.source}>${p.sink}`;

/** Ferry's connector names in the route file. */
export const CONNECTOR: Record<End, string> = { mqtt: 'devices', stomp: 'web', amqp10: 'apps10', amqp091: 'rabbit' };

/** The 0-9-1 exchange the amqp091 sink publishes to, and the one queue bound to it. */
export const EXCHANGE = 'matrix';
export const SINK_QUEUE = 'to-amqp091';

/** Addresses of one run (`run` has no `.` or `/`, so it is one topic level and one word). */
export class Addresses {
  constructor(readonly run: string) {}

  /** where the test sends for this pair, in the source's own address syntax */
  source(p: Pair): string {
    switch (p.source) {
      case 'mqtt':
        return `${this.run}/in/${p.sink}`;
      case 'stomp':
        return `/topic/${this.run}.in.${p.sink}`;
      case 'amqp10':
        return `${this.run}.in.${p.sink}`;
      case 'amqp091':
        return `${this.run}.in.${p.sink}`; // a queue, published to through the default exchange
    }
  }

  /** where the sink writes for this pair (the amqp091 sink: a routing key on EXCHANGE) */
  sink(p: Pair): string {
    switch (p.sink) {
      case 'mqtt':
        return `${this.run}/out/${p.source}`;
      case 'stomp':
        return `/queue/${this.run}.out.${p.source}`;
      case 'amqp10':
        return `${this.run}.out.${p.source}`;
      case 'amqp091':
        return `out.${p.source}`;
    }
  }

  /** the route's `from` and `to`, as YAML flow mappings */
  route(p: Pair): string {
    const src = this.source(p);
    const dst = this.sink(p);
    const from = { mqtt: `topic: "${src}"`, stomp: `destination: "${src}"`, amqp10: `address: "${src}"`, amqp091: `queue: "${src}"` }[p.source];
    const to = { mqtt: `topic: "${dst}"`, stomp: `destination: "${dst}"`, amqp10: `address: "${dst}"`, amqp091: `exchange: ${EXCHANGE}, routingKey: "${dst}"` }[p.sink];
    return [
      `  - name: ${p.source}-to-${p.sink}`,
      `    from: { connector: ${CONNECTOR[p.source]}, ${from} }`,
      `    to: { connector: ${CONNECTOR[p.sink]}, ${to} }`,
    ].join('\n');
  }
}
