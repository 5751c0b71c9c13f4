import type { Connector, ConnectorContext, ConnectorState } from '../connector.js';
import type { Logger } from '../logger.js';

/**
 * What every connector is made of before its protocol: its type and name, the gateway's
 * context, its validated options and a logger whose lines name the connector. The protocol
 * connectors extend it and add their own lifecycle (StartStop, ReconnectTimer, FlowWatch).
 * The constructor does no I/O, as {@link Connector} requires.
 */
export abstract class ConnectorBase<O, F, T> implements Connector<F, T> {
  readonly type: string;
  readonly name: string;
  protected readonly ctx: ConnectorContext;
  protected readonly options: O;
  /** every line it writes carries `connector` (the name) and `type` */
  protected readonly log: Logger;

  constructor(ctx: ConnectorContext, name: string, options: O, type: string) {
    this.type = type;
    this.name = name;
    this.ctx = ctx;
    this.options = options;
    this.log = ctx.logger.child({ connector: name, type });
  }

  abstract get state(): ConnectorState;
  abstract start(): Promise<void>;
  abstract stop(): Promise<void>;
}
