/**
 * An MQTT subscriber in a process of its own (bench/lib/clients.mjs `mqttSubscriberProcess`):
 * cases whose publisher and subscriber must not share the bench's one thread (C4). It reads the
 * sequence number and send time of every message and hands them to the bench in one IPC message
 * per event-loop turn, with the time each arrived on the absolute clock
 * (`performance.timeOrigin + performance.now()`), which the bench turns into its own.
 *
 *   node bench/lib/subscriber-child.mjs <url> <filter> <qos> <client options as JSON>
 */
import { performance } from 'node:perf_hooks';
import { mqttConnect } from './clients.mjs';

const [url, filter, qos, opts] = process.argv.slice(2);
/** seq, sent, at for each message of this turn */
let batch = [];
let flushing = false;
const flush = () => {
  flushing = false;
  const data = Float64Array.from(batch);
  batch = [];
  process.send?.({ kind: 'batch', data });
};
const client = await mqttConnect(url, JSON.parse(opts ?? '{}'));
client.on('message', (_topic, body) => {
  const at = performance.timeOrigin + performance.now();
  // a payload too short for the layout is counted as unexpected by the bench (seq past any run)
  if (body.length < 12) batch.push(2 ** 32, 0, at);
  else batch.push(body.readUInt32BE(0), body.readDoubleBE(4), at);
  if (!flushing) {
    flushing = true;
    setImmediate(flush);
  }
});
client.on('error', (err) => process.send?.({ kind: 'error', message: String(err) }));
await client.subscribeAsync(filter, { qos: Number(qos) });
process.on('message', (m) => {
  if (m !== 'stop') return;
  if (batch.length > 0) flush();
  client.end(true, () => process.exit(0));
});
process.send?.({ kind: 'ready' });
