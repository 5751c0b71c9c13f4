/**
 * Where the test brokers listen. integration/brokers/*.sh start them on private loopback ports
 * (integration/brokers/ports.env); the same variables override both.
 */
function port(name: string, fallback: number): number {
  const v = process.env[name];
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isInteger(n) || n <= 0 || n > 65535) throw new Error(`${name}=${String(v)} is not a port`);
  return n;
}

export interface BrokerPorts {
  readonly rabbitAmqp: number;
  readonly rabbitMqtt: number;
  readonly rabbitStomp: number;
  readonly rabbitManagement: number;
  /** Web-STOMP and Web-MQTT (STOMP and MQTT over WebSocket, path /ws): on once integration/brokers/rabbit-web.sh ran */
  readonly rabbitWebStomp: number;
  readonly rabbitWebMqtt: number;
  readonly mosquitto: number;
  readonly activemqStomp: number;
  readonly activemqMqtt: number;
  readonly activemqOpenwire: number;
}

export function brokerPorts(): BrokerPorts {
  return {
    rabbitAmqp: port('RMQ_AMQP_PORT', 27672),
    rabbitMqtt: port('RMQ_MQTT_PORT', 27883),
    rabbitStomp: port('RMQ_STOMP_PORT', 27613),
    rabbitManagement: port('RMQ_MGMT_PORT', 27673),
    rabbitWebStomp: port('RMQ_WEB_STOMP_PORT', 27675),
    rabbitWebMqtt: port('RMQ_WEB_MQTT_PORT', 27676),
    mosquitto: port('MOSQ_PORT', 27884),
    activemqStomp: port('AMQ_STOMP_PORT', 27614),
    activemqMqtt: port('AMQ_MQTT_PORT', 27885),
    activemqOpenwire: port('AMQ_OPENWIRE_PORT', 27616),
  };
}

const auth = 'Basic ' + Buffer.from('guest:guest').toString('base64');

async function management(method: string, path: string, body?: unknown): Promise<Response> {
  const url = `http://127.0.0.1:${brokerPorts().rabbitManagement}/api${path}`;
  const res = await fetch(url, {
    method,
    headers: { authorization: auth, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (res.status >= 400 && res.status !== 404) {
    throw new Error(`RabbitMQ management ${method} ${path}: ${res.status} ${await res.text()}`);
  }
  return res;
}

/**
 * A throw-away RabbitMQ virtual host for one test (about 20 ms, where a reset takes 11 s).
 * Returns its name; call `deleteVhost` after.
 */
export async function createVhost(prefix = 't'): Promise<string> {
  const name = `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
  await management('PUT', `/vhosts/${encodeURIComponent(name)}`);
  await management('PUT', `/permissions/${encodeURIComponent(name)}/guest`, { configure: '.*', write: '.*', read: '.*' });
  return name;
}

export async function deleteVhost(name: string): Promise<void> {
  await management('DELETE', `/vhosts/${encodeURIComponent(name)}`);
}

/** AMQP 0-9-1 URL of the test RabbitMQ for a vhost. */
export function rabbitUrl(vhost = '/'): string {
  return `amqp://guest:guest@127.0.0.1:${brokerPorts().rabbitAmqp}/${encodeURIComponent(vhost)}`;
}

/** Queue facts from the management API (messages ready / unacked), for counting in tests. */
export async function queueInfo(vhost: string, queue: string): Promise<{ messages: number; ready: number; unacked: number } | undefined> {
  const res = await management('GET', `/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}`);
  if (res.status === 404) return undefined;
  const j = (await res.json()) as { messages?: number; messages_ready?: number; messages_unacknowledged?: number };
  return { messages: j.messages ?? 0, ready: j.messages_ready ?? 0, unacked: j.messages_unacknowledged ?? 0 };
}
