import { connect, type Channel, type ChannelModel } from 'amqplib';
import { FerryError, type Logger } from '@ferry/core';
import { batchWrites } from './batched-writes.js';
import { brokerReason } from './topology.js';

/**
 * One live AMQP connection and what hangs off it. It ends once (`lost`), for whatever reason
 * comes first: the connection or one of its channels closing without Ferry asking, a consumer
 * cancelled by the broker, or Ferry closing it.
 */
export class Session {
  readonly model: ChannelModel;
  readonly lost: Promise<string>;
  #resolveLost!: (reason: string) => void;
  #ended = false;
  #closing = false;

  private constructor(model: ChannelModel, logger: Logger) {
    this.model = model;
    this.lost = new Promise((resolve) => (this.#resolveLost = resolve));
    // Every handler is attached before anything can fail: an 'error' without a listener would
    // be thrown and end the process (amqplib's connection and channels are EventEmitters).
    model.on('error', (err: Error) => this.lose(`connection error: ${brokerReason(err)}`));
    model.on('close', (err?: Error) => this.lose(err === undefined ? 'connection closed' : `connection closed: ${brokerReason(err)}`));
    model.on('blocked', (reason: string) => logger.warn('broker blocked publishing on this connection (resource alarm)', { reason }));
    model.on('unblocked', () => logger.info('broker unblocked publishing'));
    model.on('handler-error', (err: Error, event: string) => logger.error('error in an amqplib event handler', { event, error: err.message }));
  }

  static async open(url: Parameters<typeof connect>[0], socket: Parameters<typeof connect>[1], logger: Logger): Promise<Session> {
    const model = await connect(url, socket);
    if (!batchWrites(model)) logger.debug('amqplib internals not as expected: publishes are written one system call each');
    return new Session(model, logger);
  }

  get ended(): boolean {
    return this.#ended;
  }

  get closing(): boolean {
    return this.#closing;
  }

  lose(reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#resolveLost(reason);
  }

  /** A channel with its handlers attached; for the topology and for passive checks. */
  async channel(logger: Logger): Promise<Channel> {
    const ch = await this.model.createChannel();
    ch.on('error', (err: Error) => logger.debug('channel error', { error: err.message }));
    ch.on('close', () => undefined);
    ch.on('handler-error', (err: Error, event: string) => logger.error('error in a channel event handler', { event, error: err.message }));
    return ch;
  }

  /** Passive exchange.declare on a throw-away channel: a 404 closes that channel, not the publisher's. */
  async checkExchange(name: string, logger: Logger): Promise<void> {
    let ch: Channel;
    try {
      ch = await this.channel(logger);
    } catch (err) {
      throw new FerryError('NOT_CONNECTED', `cannot open a channel to check exchange '${name}'`, { cause: err });
    }
    try {
      await ch.checkExchange(name);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 404) {
        throw new FerryError('SINK_UNROUTABLE', `exchange '${name}' does not exist: ${brokerReason(err)}`, { cause: err, permanent: true });
      }
      throw new FerryError('NOT_CONNECTED', `cannot check exchange '${name}': ${brokerReason(err)}`, { cause: err });
    }
    await ch.close().catch(() => undefined);
  }

  /** Close the connection (channels close with it); bounded, since a dead peer never answers. */
  async close(timeoutMs = 5000): Promise<void> {
    this.#closing = true;
    this.lose('closed by Ferry');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    try {
      const r = await Promise.race([this.model.close().then(() => 'closed' as const), timedOut]);
      if (r === 'timeout') this.#destroySocket();
    } catch {
      // already closed
    } finally {
      clearTimeout(timer);
    }
  }

  #destroySocket(): void {
    // amqplib's typings do not expose the socket; a connection whose peer stopped answering has
    // to be torn down at the socket.
    const conn: unknown = this.model.connection;
    const stream = typeof conn === 'object' && conn !== null ? (conn as { stream?: unknown }).stream : undefined;
    if (typeof stream === 'object' && stream !== null && typeof (stream as { destroy?: unknown }).destroy === 'function') {
      (stream as { destroy: () => void }).destroy();
    }
  }
}
