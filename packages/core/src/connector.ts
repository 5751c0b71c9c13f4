import type { z } from 'zod';
import type { FerryError } from './errors.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { GatewayMessage, Protocol } from './message.js';
import type { Settlement } from './settlement.js';
import type { ListenerStore } from './listener-store.js';

/**
 * Address syntaxes the router understands (see packages/router):
 * - `mqtt`: levels separated by `/`; patterns use `+` (one level) and `#` (the rest, last only)
 * - `amqp`: AMQP 0-9-1 topic words separated by `.`; patterns use `*` (one word), `#` (zero or more)
 * - `stomp`: destinations `/topic/a.b`, `/queue/q`, `/exchange/x/rk`, `/amq/queue/q`;
 *   the part after the prefix is dot-separated and matched as `amqp`
 * - `amqp10`: AMQP 1.0 addresses, dot-separated words matched as `amqp`
 */
export type AddressSyntax = 'mqtt' | 'amqp' | 'stomp' | 'amqp10';

/** What a connector type is, where the gateway treats the two kinds differently. */
export interface Capabilities {
  /** an embedded server that clients connect to (vs. a client of a broker): started before the
   * clients, its sources opened first, its failure to bind fatal */
  readonly listener: boolean;
}

/** One `from` of a route, after its connector's schema validated it. */
export interface SourceSpec<F> {
  readonly route: string;
  readonly from: F;
}

export interface InboundDelivery {
  readonly message: GatewayMessage;
  /** settled by the engine once every destination confirmed (or failed) */
  readonly settlement: Settlement;
  /**
   * The routes this delivery belongs to, when the connector knows (a queue Ferry declared for
   * one route, MQTT 5 subscription identifiers). When absent, the engine matches the message's
   * source address against the patterns of every route whose `from` names this connector.
   */
  readonly routes?: readonly string[];
  /**
   * Called with true when this delivery has to wait for room on a full route (the route holds
   * `maxInFlight` messages), and with false once it is admitted. A source whose flow scope is
   * `delivery` (see {@link FlowScope}) stops taking from the one peer this delivery came from
   * while it waits (one device socket, one link), so a slow destination holds back only the
   * peers whose messages wait for it. It must not throw.
   */
  readonly onWait?: (waiting: boolean) => void;
}

export type DeliveryHandler = (delivery: InboundDelivery) => void;

/**
 * Flow control the engine drives and a source obeys (backpressure). `paused` turns true when a
 * route this source feeds holds its `maxInFlight` messages taken but not yet settled; the
 * source then stops taking new messages from its peers in its protocol's own way (stop reading
 * a device socket, let the broker's prefetch / in-flight window / link credit run out) instead
 * of buffering them. It turns false again when enough of them settled.
 *
 * While paused, a source must keep settling what it already handed over (acks, PUBACKs,
 * dispositions): settlements are what resume it. A few messages the peer had already sent
 * may still be delivered after the pause; the engine queues them (bounded by the protocol's
 * window) rather than refusing them.
 */
export interface SourceFlow {
  readonly paused: boolean;
  /** called with the new state on every change; returns a function that removes the listener */
  onChange(listener: (paused: boolean) => void): () => void;
}

/**
 * How far a full route pauses its source.
 * - `source`: the whole source connector stops taking (a broker consumer: one prefetch window,
 *   one link credit, shared by every route of the connector).
 * - `delivery`: the source stops taking only from the peer whose delivery waits, told through
 *   {@link InboundDelivery.onWait} (a listener: one device's socket). The whole source is paused
 *   only when as many messages wait for a route as it may have in flight (`maxInFlight`), the
 *   bound on what many peers each waiting with a message can hold in memory.
 */
export type FlowScope = 'source' | 'delivery';

/** A sink's destination after templates were filled: the connector's `to` type. */
export interface Sink<T> {
  /**
   * Send `message` to `to`. Resolves only when the far side confirmed it (publisher confirm,
   * PUBACK, disposition `accepted`, RECEIPT) or, for at-most-once messages, when it was
   * written. Rejects with a FerryError (`permanent` when retrying cannot help).
   */
  write(message: GatewayMessage, to: T): Promise<void>;
  /**
   * The same write, its outcome given to `done` (undefined once confirmed, else the error) exactly
   * once, in place of a promise: the engine calls it when a sink has it, so the message path makes
   * no promise and no reaction per write. Never throws; `done` may come before `send` returns.
   */
  send?(message: GatewayMessage, to: T, done: WriteDone): void;
}

/** How a sink reports one write: undefined once the far side confirmed it, or why it failed. */
export type WriteDone = (error: FerryError | undefined) => void;

/** A sink's write in its callback form ({@link Sink.send}). */
export type SinkSend<T> = (message: GatewayMessage, to: T, done: WriteDone) => void;

/** The outcome of one write through `send`, as the promise {@link Sink.write} returns. */
export function writeBySend<T>(send: SinkSend<T>, message: GatewayMessage, to: T): Promise<void> {
  return new Promise((resolve, reject) => send(message, to, (error) => (error === undefined ? resolve() : reject(error))));
}

/** A sink written in the callback form: `write` is the same write, as a promise. */
export function callbackSink<T>(send: SinkSend<T>): Sink<T> {
  return { send, write: (message, to) => writeBySend(send, message, to) };
}

export type ConnectorState = 'idle' | 'connecting' | 'up' | 'down' | 'stopping' | 'stopped';

/**
 * A live connector. The constructor does no I/O; `start` and `stop` are idempotent.
 * The gateway opens a LISTENER's sources before its `start` (it takes clients the moment it
 * listens, and nothing it accepts may go unrouted), so a listener's `openSources` does no I/O;
 * a client connector's sources are opened after its `start`. On shutdown the gateway calls
 * `closeSources` (stop taking new messages), waits for in-flight messages, then `stop`.
 */
export interface Connector<F = unknown, T = unknown> {
  readonly name: string;
  readonly type: string;
  readonly state: ConnectorState;
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Begin delivering messages for these sources (every route whose `from` names this connector).
   * `flow`, when given, says when to stop taking new messages and when to go on (see {@link SourceFlow}).
   */
  openSources?(specs: readonly SourceSpec<F>[], deliver: DeliveryHandler, flow?: SourceFlow): Promise<void>;
  /** Stop taking new messages; in-flight ones may still settle. Idempotent. */
  closeSources?(): Promise<void>;
  /**
   * A listener with TLS: read its certificate, key and CA files again and serve them to new
   * connections; open connections keep theirs. Called on reload for a connector whose settings
   * did not change (renewed files under the same names). Rejects, keeping the running
   * certificates, when a file cannot be read or used.
   */
  reloadTls?(): Promise<void>;
  readonly sink?: Sink<T>;
  /**
   * How far a full route pauses this connector as a source; default `source`. A connector that
   * says `delivery` calls each delivery's `onWait` peer by peer (see {@link FlowScope}).
   */
  readonly flowScope?: FlowScope;
}

export interface ConnectorContext {
  readonly gatewayId: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** resolved against the route file's folder (for TLS files, spool folders) */
  readonly baseDir: string;
  /**
   * Where a listener keeps what it holds for its clients across restarts (sessions, retained
   * messages, queued messages), scoped to this connector; absent: that state lives in memory.
   */
  readonly listenerStore?: ListenerStore | undefined;
}

/**
 * Everything Ferry knows about one connector type, in one place: its options, the fields of
 * its `from` and `to`, how its addresses are written, what it can do, and how to make one.
 * JSON Schema (config/schema.json) and the connector reference are generated from the schemas.
 */
export interface ConnectorDefinition<
  O extends Record<string, unknown> = Record<string, unknown>,
  F extends Record<string, unknown> = Record<string, unknown>,
  T extends Record<string, unknown> = Record<string, unknown>,
> {
  /** the `type` in the route file, e.g. `mqtt-listener` */
  readonly type: string;
  readonly protocol: Protocol;
  readonly description: string;
  /** the connector's options, without `type` (unknown keys are errors: use z.strictObject) */
  readonly options: z.ZodType<O>;
  /** the fields of a route's `from` besides `connector`; undefined when it cannot be a source */
  readonly from?: z.ZodType<F>;
  /** the fields of a route's `to` besides `connector`; undefined when it cannot be a sink */
  readonly to?: z.ZodType<T>;
  readonly syntax: AddressSyntax;
  /**
   * The pattern a `from` matches messages with, in `syntax`; wildcards in it are what `{1}`…`{n}`
   * capture. undefined when the source names no pattern (an AMQP queue): the route takes every
   * message delivered for it.
   */
  sourcePattern(from: NoInfer<F>): string | undefined;
  /** the fields of `to` that may hold templates (`{1}`, `{address}`, `{header.NAME}`) */
  readonly templateFields: readonly (keyof T & string)[];
  /**
   * The template fields that hold one name (an exchange), not a hierarchical address: a
   * `{header.NAME}` value in them may hold the syntax's separator. Every other template field
   * is an address, whose header values must not add levels. Default: none.
   */
  readonly nameFields?: readonly (keyof T & string)[];
  /**
   * TCP ports the connector listens on, for the "port used twice" check. `O` is taken from
   * `options` alone (NoInfer here, in `audit` and `F` in `sourcePattern`): a part shared by
   * several definitions (clientRole, net's listenerRole, a protocol's addressing) accepts a
   * wider type than any one connector's.
   */
  listenPorts(options: NoInfer<O>): readonly number[];
  readonly capabilities: Capabilities;
  /**
   * Load the code `create` needs (the connector and its protocol library). A registry holds
   * definitions without their drivers, so parsing a route file, `ferry validate` and the schema
   * never load a protocol library, and a gateway loads only the types its configuration uses:
   * {@link loadConnectorTypes} before `create`. Absent: `create` needs nothing loaded.
   */
  load?(): Promise<void>;
  /** build a connector; no I/O here (after `load` resolved, when the definition has one) */
  create(ctx: ConnectorContext, name: string, options: O): Connector<F, T>;
  /**
   * What `ferry validate` says about valid options beyond the schema: `warnings` for settings
   * that work but are weak or unusable (plain-text passwords, a listener that accepts nobody),
   * `errors` for what would stop the connector's start (a users file it cannot use). May read
   * files named by the options (relative to `baseDir`); never prints a secret.
   */
  audit?(options: NoInfer<O>, baseDir: string): Promise<ConnectorAudit>;
}

/** The findings of {@link ConnectorDefinition.audit}. */
export interface ConnectorAudit {
  readonly warnings: readonly string[];
  readonly errors: readonly string[];
}

/** A definition with its generic types erased, as held in a registry. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- variance: a registry holds definitions of different option types
export type AnyConnectorDefinition = ConnectorDefinition<any, any, any>;

/** Identity helper that keeps the generic types of a definition literal. */
export function defineConnector<
  O extends Record<string, unknown>,
  F extends Record<string, unknown>,
  T extends Record<string, unknown>,
>(def: ConnectorDefinition<O, F, T>): ConnectorDefinition<O, F, T> {
  return def;
}

/**
 * Load the drivers of every connector type in `types` that `registry` knows (an unknown type is
 * left to the configuration's validation to report). Loading a type twice costs nothing.
 */
export async function loadConnectorTypes(registry: ReadonlyMap<string, AnyConnectorDefinition>, types: Iterable<string>): Promise<void> {
  const loads: Promise<void>[] = [];
  for (const type of new Set(types)) {
    const definition = registry.get(type);
    if (definition?.load !== undefined) loads.push(definition.load());
  }
  await Promise.all(loads);
}
