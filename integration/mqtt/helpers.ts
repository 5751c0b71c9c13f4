import { silentLogger, noopMetrics, type ConnectorContext, type InboundDelivery, type Metrics, type Labels, type CounterName } from '@ferry/core';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { randomUUID } from 'node:crypto';

/** A unique topic prefix per test so tests never see each other's messages. */
export function prefix(name: string): string {
  return `ferry-test/${name}/${randomUUID().slice(0, 8)}`;
}

/** Metrics that remember counter values, to assert on drops and rejections. */
export class CountingMetrics implements Metrics {
  readonly counters = new Map<string, number>();
  inc(name: CounterName, labels: Labels, value = 1): void {
    const key = `${name}${JSON.stringify(labels)}`;
    this.counters.set(key, (this.counters.get(key) ?? 0) + value);
  }
  get(name: CounterName, labels: Labels): number {
    return this.counters.get(`${name}${JSON.stringify(labels)}`) ?? 0;
  }
  set = noopMetrics.set;
  add = noopMetrics.add;
  observe = noopMetrics.observe;
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
  await Promise.all(clients.map((c) => (c === undefined ? undefined : c.endAsync(true).catch(() => undefined))));
}

/** Collects deliveries from a source connector. */
export class Deliveries {
  readonly list: InboundDelivery[] = [];
  readonly handler = (d: InboundDelivery): void => {
    this.list.push(d);
  };
}
