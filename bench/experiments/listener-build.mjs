import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

/**
 * The build an mqtt-listener experiment runs (BUILD=<a built checkout>, default this one): a
 * loader of its files, its core, and its MqttListenerConnector started on an ephemeral port with
 * the listener's defaults and `options` (anonymous clients), its devices connected through
 * `listener.broker.accept` on in-memory streams (wire.mjs).
 */
export async function startListener(options = {}) {
  const dir = resolve(process.env.BUILD ?? resolve(import.meta.dirname, '../..'));
  const load = (p) => import(pathToFileURL(`${dir}/${p}`).href);
  const { MqttListenerConnector } = await load('packages/mqtt/dist/listener/connector.js');
  const { mqttListenerOptions } = await load('packages/mqtt/dist/options.js');
  const core = await load('node_modules/@ferry/core/dist/index.js');
  const { RecordingMetrics } = await load('node_modules/@ferry/testkit/dist/index.js');
  const parsed = mqttListenerOptions.parse({ port: 0, host: '127.0.0.1', anonymous: true, ...options });
  const listener = new MqttListenerConnector({ gatewayId: 'bench', logger: core.silentLogger, metrics: new RecordingMetrics(), baseDir: '.' }, 'devices', parsed);
  await listener.start();
  return { dir, load, core, listener };
}
