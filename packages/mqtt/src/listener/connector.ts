import { Authenticator, authConfigFrom, callbackSink, ConnectorCounters, FerryError, FlowWatch, Settlement, StartStop, toFerryError, type ConnectorContext, type ConnectorState, type DeliveryHandler, type GatewayMessage, type Outcome, type Sink, type SourceFlow, type SourceSpec, type WriteDone, ConnectorBase } from '@ferry/core';
import { Listener, listeningLine, type BoundPorts } from '@ferry/net';
import { expiryIntervalOf, fromMqttPublish, publishProperties, type DeviceOrigin } from '../mapping.js';
import type { MqttListenerFrom, MqttListenerOptions, MqttListenerTo } from '../options.js';
import { MqttBroker } from './broker.js';
import { brokerConfig } from './config.js';
import { RoomTicket } from './room-wait.js';
import { whenTaken } from './sink-wait.js';
import type { BrokerMessage } from './types.js';

/** WebSocket subprotocols of MQTT: 3.1.1 and 5 say `mqtt` (MQTT 5 §6), 3.1 said `mqttv3.1` */
const WS_SUBPROTOCOLS = ['mqtt', 'mqttv3.1'] as const;
/** room in one WebSocket message beyond one largest packet, for clients that batch small ones */
const WS_BATCH_SLACK = 64 * 1024;

/**
 * The `mqtt-listener` connector: Ferry's embedded MQTT broker that devices connect to.
 *
 * As a source, every client PUBLISH is dispatched to the listener's own subscribers (it is a
 * broker) and handed to the engine; a QoS 1/2 publish is acknowledged to the device (PUBACK /
 * PUBREC) only once its settlement is accepted. As a sink, `write` publishes into the listener.
 */
export class MqttListenerConnector extends ConnectorBase<MqttListenerOptions, MqttListenerFrom, MqttListenerTo> {
  /** a full route holds back only the devices whose publishes wait for it (Connection.routeWait) */
  readonly flowScope = 'delivery';
  readonly sink: Sink<MqttListenerTo>;
  readonly #counters: ConnectorCounters;
  #state: ConnectorState = 'idle';
  #broker: MqttBroker | undefined;
  #listener: Listener | undefined;
  #ports: BoundPorts | undefined;
  readonly #life = new StartStop();
  #deliver: DeliveryHandler | undefined;
  readonly #flow = new FlowWatch();

  constructor(ctx: ConnectorContext, name: string, options: MqttListenerOptions) {
    super(ctx, name, options, 'mqtt-listener');
    this.#counters = new ConnectorCounters(ctx.metrics, name);
    this.sink = callbackSink((message, to, done) => this.#send(message, to, done));
  }

  /** the embedded broker while started (diagnostics, tests) */
  get broker(): MqttBroker | undefined {
    return this.#broker;
  }

  get state(): ConnectorState {
    return this.#state;
  }

  /** the bound TCP port once started (useful with `port: 0`) */
  get port(): number | undefined {
    return this.#ports?.port;
  }

  /** every bound port once started: main, tls (when separate) and websocket */
  get ports(): BoundPorts | undefined {
    return this.#ports;
  }

  /** Serve renewed TLS certificates to new connections; open ones keep theirs. */
  async reloadTls(): Promise<void> {
    await this.#listener?.reloadTls();
  }

  start(): Promise<void> {
    return this.#life.start(() => this.#doStart());
  }

  async #doStart(): Promise<void> {
    const o = this.options;
    const logger = this.ctx.logger.child({ connector: this.name });
    this.#state = 'connecting';
    let auth: Authenticator;
    try {
      auth = new Authenticator(authConfigFrom(o, this.ctx.baseDir), { logger, metrics: this.ctx.metrics, connector: this.name, syntax: 'mqtt' });
      await auth.start(`${o.host}:${o.port}`);
    } catch (err) {
      this.#state = 'down';
      throw err;
    }
    const broker = new MqttBroker(brokerConfig(o, auth), { logger, metrics: this.ctx.metrics, connectorName: this.name, store: this.ctx.listenerStore });
    try {
      // persistent sessions and retained messages are back before the first client connects
      await broker.restore();
    } catch (err) {
      this.#state = 'down';
      throw err;
    }
    if (this.#deliver !== undefined) this.#take(broker);
    if (this.#flow.following) broker.setFlowPaused(this.#flow.paused);
    const listener = new Listener(
      {
        type: this.type,
        name: this.name,
        protocol: 'MQTT',
        host: o.host,
        port: o.port,
        transport: o,
        baseDir: this.ctx.baseDir,
        subprotocols: WS_SUBPROTOCOLS,
        maxWebSocketMessageBytes: o.maxPacketSize + WS_BATCH_SLACK,
      },
      { logger, metrics: this.ctx.metrics },
      (c) => broker.accept(c),
    );
    try {
      this.#ports = await listener.listen();
    } catch (err) {
      this.#state = 'down';
      throw err instanceof FerryError ? err : new FerryError('CONNECT_FAILED', `mqtt-listener ${this.name}: cannot listen on ${o.host}:${o.port}`, { cause: err });
    }
    this.#broker = broker;
    this.#listener = listener;
    this.#state = 'up';
    this.ctx.metrics.set('connector_up', { connector: this.name }, 1);
    logger.info(listeningLine('mqtt-listener', o.host, this.#ports));
  }

  stop(): Promise<void> {
    return this.#life.stop(async () => {
      await this.#life.starting?.catch(() => undefined);
      this.#state = 'stopping';
      const broker = this.#broker;
      const listener = this.#listener;
      this.#broker = undefined;
      this.#listener = undefined;
      // stop accepting, then say goodbye to every client; the listener is closed once they left
      const stopped = listener?.close();
      await broker?.close();
      await stopped;
      this.#state = 'stopped';
      this.ctx.metrics.set('connector_up', { connector: this.name }, 0);
    });
  }

  openSources(_specs: readonly SourceSpec<MqttListenerFrom>[], deliver: DeliveryHandler, flow?: SourceFlow): Promise<void> {
    // The engine matches each publish's topic against the routes' filters: a device publish is
    // not a subscription, so there is nothing per route to register here.
    this.#deliver = deliver;
    // backpressure: while paused, device sockets are not read (see MqttBroker.setFlowPaused);
    // each device's own window is receiveMaximum
    if (flow !== undefined && this.#flow.follow(flow, (paused) => this.#broker?.setFlowPaused(paused))) this.#broker?.setFlowPaused(flow.paused);
    if (this.#broker !== undefined) {
      this.#take(this.#broker);
      this.#broker.accepting = true;
    }
    return Promise.resolve();
  }

  closeSources(): Promise<void> {
    // New client publishes are neither routed nor acknowledged from now on; their clients resend
    // them on their next connection. Settlements in flight still answer their clients.
    if (this.#broker !== undefined) this.#broker.accepting = false;
    // no longer taking: stop obeying the flow (a paused socket must not keep a closing client waiting)
    this.#flow.drop();
    this.#broker?.setFlowPaused(false);
    return Promise.resolve();
  }

  /** the engine takes the broker's client publishes, and their outcomes are counted here */
  #take(broker: MqttBroker): void {
    broker.onPublish = (m, origin, held, onWait) => this.#onPublish(m, origin, held, onWait);
    broker.onOutcome = (outcome) => this.#count(outcome);
  }

  #onPublish(m: BrokerMessage, origin: DeviceOrigin, held: Settlement | undefined, onWait: ((waiting: boolean) => void) | undefined): void {
    const deliver = this.#deliver;
    if (deliver === undefined) {
      held?.accept();
      return;
    }
    // built once, with the device's part of meta.mqtt: this runs for every message. The clock
    // is not read: a device's message comes with the expiry the broker computed on receipt
    const message = fromMqttPublish(m, this.name, 0, origin);
    this.#counters.received();
    // a QoS 1/2 publish comes with its own settlement (held-publish.ts), counted in #count
    const settlement = held ?? Settlement.none();
    try {
      deliver(onWait === undefined ? { message, settlement } : { message, settlement, onWait });
    } catch (err) {
      settlement.release(new FerryError('INTERNAL', 'delivery handler threw', { cause: err }));
    }
  }

  #count(outcome: Outcome): void {
    this.#counters.outcome(outcome);
    if (outcome.kind === 'reject') this.ctx.logger.warn('device message rejected', { connector: this.name, error: outcome.reason.message });
  }

  /**
   * The sink's write, its outcome given to `done` (Sink.send): a write that waits for nothing
   * (no full subscriber queue, no store) confirms without a promise or closure of its own.
   */
  #send(message: GatewayMessage, to: MqttListenerTo, done: WriteDone): void {
    const broker = this.#broker;
    if (broker === undefined || this.#state !== 'up') {
      done(new FerryError('NOT_CONNECTED', `mqtt-listener ${this.name} is not running`));
      return;
    }
    // the clock is read only for a message that expires
    const expiry = message.expiresAt === undefined ? undefined : expiryIntervalOf(message, Date.now());
    if (expiry === 0) {
      this.#counters.dropped('expired');
      done(undefined);
      return;
    }
    // the broker keeps the absolute expiry and computes the remaining interval per subscriber:
    // the properties are the PUBLISH's without its expiry interval
    const properties = publishProperties(message, undefined);
    // a copy for a connected subscriber with a full queue waits for room, and the write with it
    const ticket = new RoomTicket();
    const r = broker.publish({ topic: to.topic, payload: message.body, qos: to.qos, retain: to.retain ?? message.retain, properties, expiresAt: message.expiresAt }, ticket);
    if (r === 'retained-full') {
      done(new FerryError('LIMIT_EXCEEDED', `mqtt-listener ${this.name}: retained messages full (retainedBytesLimit ${this.options.retainedBytesLimit} bytes)`, { permanent: true }));
      return;
    }
    // checked first: nothing held for the common write that waited for nothing
    if (ticket.settled) this.#afterWritten(broker, done);
    else
      whenTaken(ticket, this.name, to.topic, (error) => {
        if (error === undefined) this.#afterWritten(broker, done);
        else {
          this.#counters.rejected('queue-full');
          done(error);
        }
      });
  }

  /**
   * Confirm once its copies in persistent sessions (and its retained copy) are on disk; the
   * barrier is taken once the copies are in their queues, not before.
   */
  #afterWritten(broker: MqttBroker, done: WriteDone): void {
    const written = broker.pendingWrites();
    if (written === undefined) {
      this.#counters.sent();
      done(undefined);
      return;
    }
    written.then(
      () => {
        this.#counters.sent();
        done(undefined);
      },
      (err: unknown) => done(toFerryError(err)),
    );
  }
}

