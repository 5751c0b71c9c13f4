import { silentLogger, noopMetrics, type ConnectorContext, type InboundDelivery, type Metrics } from '@ferry/core';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { randomUUID } from 'node:crypto';

/** A unique topic prefix per test so tests never see each other's messages. */
export function prefix(name: string): string {
  return `ferry-test/${name}/${randomUUID().slice(0, 8)}`;
}

export function context(metrics: Metrics = noopMetrics): ConnectorContext {
  return { gatewayId: 'itest', logger: silentLogger, metrics, baseDir: process.cwd() };
}

/** Connect an mqtt.js client (a device or subscriber) and set TCP_NODELAY like Ferry does. */
export async function device(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  c.on('error', () => undefined);
  return c;
}

export async function end(...clients: (MqttClient | undefined)[]): Promise<void> {
  await Promise.all(clients.filter((c) => c !== undefined).map((c) => c.endAsync(true).catch(() => undefined)));
}

/** Collects deliveries from a source connector. */
export class Deliveries {
  readonly list: InboundDelivery[] = [];
  readonly handler = (d: InboundDelivery): void => {
    this.list.push(d);
  };
}

import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';

/** A TCP proxy the test can cut, to drop a connector's connection from outside. */
export class CuttableProxy {
  #server: Server | undefined;
  readonly #pairs = new Set<[Socket, Socket]>();
  port = 0;
  /**
   * The MQTT packets clients sent through the proxy, read as `protocolVersion` when one was given:
   * a packet here was handed on to the broker, so a cut after it does not take it back.
   */
  readonly sent: Packet[] = [];

  constructor(
    readonly targetPort: number,
    readonly protocolVersion?: 4 | 5,
  ) {}

  async start(port: number): Promise<void> {
    this.port = port;
    this.#server = createServer((client) => {
      const upstream = tcpConnect(this.targetPort, '127.0.0.1');
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      const pair: [Socket, Socket] = [client, upstream];
      this.#pairs.add(pair);
      const close = (): void => {
        this.#pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close);
      upstream.on('error', close);
      client.on('close', close);
      upstream.on('close', close);
      client.pipe(upstream);
      upstream.pipe(client);
      if (this.protocolVersion !== undefined) {
        const parser = mqttPacket.parser({ protocolVersion: this.protocolVersion });
        parser.on('packet', (packet: Packet) => this.sent.push(packet));
        client.on('data', (b: Buffer) => parser.parse(b));
      }
    });
    await new Promise<void>((r) => this.#server!.listen(port, '127.0.0.1', () => r()));
  }

  get connections(): number {
    return this.#pairs.size;
  }

  /** Drop every connection through the proxy (the listener stays up, so clients can reconnect). */
  cut(): void {
    for (const [a, b] of this.#pairs) {
      a.destroy();
      b.destroy();
    }
    this.#pairs.clear();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => (this.#server === undefined ? r() : this.#server.close(() => r())));
  }
}
