import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import type { IClientOptions } from 'mqtt';
import type { MqttOptions } from '../options.js';

/**
 * mqtt.js's options for the `mqtt` connector: Ferry reconnects, resubscribes and bounds what is
 * in flight itself, so mqtt.js does none of it; TLS files are read relative to the route file.
 */
export async function mqttClientOptions(o: MqttOptions, defaultClientId: string, baseDir: string): Promise<IClientOptions> {
  const clientOptions: IClientOptions = {
    protocolVersion: o.protocolVersion,
    clientId: o.clientId ?? defaultClientId,
    clean: o.clean,
    keepalive: o.keepalive,
    connectTimeout: o.connectTimeoutMs,
    // Ferry reconnects itself with core's Backoff (jittered, growing), see MqttClientConnector
    reconnectPeriod: 0,
    // subscriptions are restored by Ferry, only when the broker lost the session
    resubscribe: false,
    // never queue while offline: a write fails fast with NOT_CONNECTED (see the connector's write)
    queueQoSZero: false,
    ...(o.username === undefined ? {} : { username: o.username }),
    ...(o.password === undefined ? {} : { password: o.password }),
    // Receive Maximum bounds what the broker sends ahead of Ferry's PUBACKs (MQTT 5 §3.1.2.11.3):
    // without it a broker may have up to 65,535 messages in flight to Ferry, all of which come
    // again (duplicates) when the connection is lost, and all of which Ferry must hold
    ...(o.protocolVersion === 5 ? { properties: { sessionExpiryInterval: o.clean ? 0 : o.sessionExpiryInterval, receiveMaximum: o.receiveMaximum } } : {}),
  };
  if (o.tls !== undefined) {
    const read = (p: string | undefined): Promise<Buffer | undefined> => (p === undefined ? Promise.resolve(undefined) : readFile(resolvePath(baseDir, p)));
    const [ca, cert, key] = await Promise.all([read(o.tls.ca), read(o.tls.cert), read(o.tls.key)]);
    if (ca !== undefined) clientOptions.ca = ca;
    if (cert !== undefined) clientOptions.cert = cert;
    if (key !== undefined) clientOptions.key = key;
    clientOptions.rejectUnauthorized = o.tls.rejectUnauthorized;
  }
  return clientOptions;
}
