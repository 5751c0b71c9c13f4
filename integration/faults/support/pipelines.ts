/**
 * The two paths most scenarios run, each as its route file with the parts a scenario varies as
 * parameters, plus the counting consumer at the RabbitMQ end, opened in a Workspace:
 *
 * - `devicesToRabbit`: devices → Ferry's mqtt-listener → amqp091 `rabbit` → topic exchange
 *   `telemetry` (routing key `device.<device>`) → durable queue `telemetry-count`.
 * - `plantToRabbit`: publishers → a Mosquitto of the scenario's own (persistent) → Ferry's `mqtt`
 *   connector (clean = false, fixed client id) → amqp091 `rabbit` → topic exchange `plant`
 *   (routing key `plant.<line>.temp`) → durable queue `plant-count`.
 *
 * Extra keys are written one a line under their parent as `key: value` (the value as YAML).
 */
import type { QueueCounter } from './counter.js';
import type { FerryProcess } from './ferry-process.js';
import { Fleet } from './fleet.js';
import type { PersistentMosquitto } from './mosquitto.js';
import { until, within } from './scenario.js';
import type { Workspace } from './workspace.js';

/** More keys of a mapping in a route file, e.g. `{ heartbeat: 5 }`; values are written as they are. */
type YamlKeys = Readonly<Record<string, string | number>>;

function keys(more: YamlKeys | undefined, indent: string): string {
  return Object.entries(more ?? {})
    .map(([k, v]) => `${indent}${k}: ${String(v)}\n`)
    .join('');
}

interface ToRabbitOptions {
  /** the gateway id and the topics' first level */
  readonly run: string;
  /** the rabbit connector's URL: `ws.rabbitUrl()`, or `ws.rabbitUrl(proxy)` through a proxy */
  readonly rabbitUrl: string;
}

interface ToRabbit {
  /** started, on the path's durable queue, counting into `ws.tally` */
  readonly counter: QueueCounter;
  /** not started yet */
  readonly ferry: FerryProcess;
}

/** Devices publish under `<run>/<device>/telemetry`. */
export interface DevicesToRabbitOptions extends ToRabbitOptions {
  /** more keys under `gateway:` */
  readonly gateway?: YamlKeys;
  /** more keys of the `rabbit` connector */
  readonly rabbit?: YamlKeys;
  /** more `ferry start` options */
  readonly args?: readonly string[];
  /** the counter keeps every arrival in order (`counter.arrivals`) */
  readonly keepArrivals?: boolean;
}

export interface DevicesToRabbit extends ToRabbit {
  /** the mqtt-listener's port, for the devices */
  readonly listenerPort: number;
}

/** The listener's port, the started counter and the route file's Ferry (not started). */
export async function devicesToRabbit(ws: Workspace, opts: DevicesToRabbitOptions): Promise<DevicesToRabbit> {
  const { run } = opts;
  const listenerPort = await ws.port();
  const counter = await ws.counter({ exchange: 'telemetry', queue: 'telemetry-count', bindingKey: 'device.#', keepArrivals: opts.keepArrivals });
  const yaml = `
gateway:
  id: ${run}
  http: { port: ${ws.adminPort}, host: 127.0.0.1 }
${keys(opts.gateway, '  ')}connectors:
  devices: { type: mqtt-listener, port: ${listenerPort}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "${opts.rabbitUrl}"
    reconnect: { initialMs: 100, maxMs: 1000 }
${keys(opts.rabbit, '    ')}    topology:
      exchanges: [ { name: telemetry, type: topic } ]
routes:
  - name: telemetry
    from: { connector: devices, topic: "${run}/+/telemetry" }
    to: { connector: rabbit, exchange: telemetry, routingKey: "device.{1}" }
`;
  const ferry = ws.ferry(yaml, { args: opts.args });
  return { listenerPort, counter, ferry };
}

/** Publishers publish under `<run>/line/<line>/temp`; Ferry's client id is `<run>-ferry`. */
export interface PlantToRabbitOptions extends ToRabbitOptions {
  readonly routeName: string;
  /** more keys of the route */
  readonly route?: YamlKeys;
}

export interface PlantToRabbit extends ToRabbit {
  /** the Mosquitto's port, for the publishers */
  readonly mqttPort: number;
  /** started */
  readonly mosquitto: PersistentMosquitto;
  /**
   * Once Ferry runs: one message through the whole path (`<run>-probe`, counted in `ws.tally`
   * like the rest), PUBACKed within 10 s and at the consumer within 15 s. Ferry subscribes when
   * its sources open; this shows the subscription is in place before the stream starts.
   */
  readonly probe: (diag: () => string) => Promise<void>;
}

/** The started Mosquitto on its port, the started counter and the route file's Ferry (not started). */
export async function plantToRabbit(ws: Workspace, opts: PlantToRabbitOptions): Promise<PlantToRabbit> {
  const { run } = opts;
  const mqttPort = await ws.port();
  const mosquitto = await ws.mosquitto(mqttPort);
  const counter = await ws.counter({ exchange: 'plant', queue: 'plant-count', bindingKey: 'plant.#' });
  const yaml = `
gateway:
  id: ${run}
  http: { port: ${ws.adminPort}, host: 127.0.0.1 }
connectors:
  plant:
    type: mqtt
    url: mqtt://127.0.0.1:${mqttPort}
    protocolVersion: 5
    clientId: ${run}-ferry
    clean: false
    sessionExpiryInterval: 600
    reconnect: { initialMs: 100, maxMs: 1000 }
  rabbit:
    type: amqp091
    url: "${opts.rabbitUrl}"
    reconnect: { initialMs: 100, maxMs: 1000 }
    topology:
      exchanges: [ { name: plant, type: topic } ]
routes:
  - name: ${opts.routeName}
    from: { connector: plant, topic: "${run}/line/+/temp", qos: 1 }
    to: { connector: rabbit, exchange: plant, routingKey: "plant.{1}.temp" }
${keys(opts.route, '    ')}`;
  const ferry = ws.ferry(yaml);
  const probe = async (diag: () => string): Promise<void> => {
    const { tally } = ws;
    const probe = new Fleet({ port: mqttPort, prefix: `${run}-probe`, devices: 1, perDevice: 1, window: 1, tally, topic: () => `${run}/line/probe/temp` });
    await probe.start();
    await within(probe.done(), 'the probe PUBACK', 10_000, diag);
    await until(() => tally.complete, 'the probe at the consumer', 15_000, diag);
    await probe.close();
  };
  return { mqttPort, mosquitto, counter, ferry, probe };
}
