/**
 * Many MQTT devices in the bench process: one plain socket per device (TCP_NODELAY) with
 * mqtt-packet's parser and generator, so 10,000 of them cost the bench a few hundred bytes of
 * state each instead of an mqtt.js client (timers, stores, queues) each. A device sends CONNECT
 * (MQTT 3.1.1, clean session, keep alive as given), then one SUBSCRIBE, acknowledges every QoS 1
 * PUBLISH with PUBACK (MQTT 3.1.1 §4.3.2), and sends PINGREQ within its keep alive (§3.1.2.10)
 * for as long as it is held.
 *
 * Every connection ends in exactly one outcome: subscribed, refused (ECONNREFUSED), reset
 * (ECONNRESET or EPIPE), rejected (a CONNACK return code other than 0, or SUBACK 0x80), closed
 * (the server closed it before SUBACK), timed out, or another error (by code).
 */
import { createConnection } from 'node:net';
import { performance } from 'node:perf_hooks';
import mqttPacket from 'mqtt-packet';

const OPTS = { protocolVersion: 4 };
const PINGREQ = mqttPacket.generate({ cmd: 'pingreq' }, OPTS);
const DISCONNECT = mqttPacket.generate({ cmd: 'disconnect' }, OPTS);

/**
 * Open `count` devices against 127.0.0.1:`port` at once (`batch` connects per event-loop turn,
 * so the bench reads CONNACKs while it is still opening), each subscribing to `filter` at `qos`.
 * `onMessage(index, payload)` gets every PUBLISH. Resolves when every device has its outcome,
 * or after `timeoutMs` (the rest count as timed out).
 */
export async function swarm({ port, count, filter, qos = 1, idPrefix, keepalive = 60, batch = 500, timeoutMs = 120_000, onMessage }) {
  const sockets = new Array(count);
  const outcome = { subscribed: 0, refused: 0, reset: 0, rejected: 0, closed: 0, timedOut: 0, otherErrors: {} };
  /** devices that lost their connection after SUBACK, while held */
  const dropped = { count: 0 };
  let pending = count;
  let resolveAll;
  const all = new Promise((r) => {
    resolveAll = r;
  });
  const t0 = performance.now();
  let lastSubscribedAt = t0;
  const settle = (s, what, code) => {
    if (s.benchOutcome !== undefined) return;
    s.benchOutcome = what;
    if (what === 'other') outcome.otherErrors[code] = (outcome.otherErrors[code] ?? 0) + 1;
    else outcome[what]++;
    if (what === 'subscribed') lastSubscribedAt = performance.now();
    if (--pending === 0) resolveAll();
  };
  const subscribe = mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] }, OPTS);

  const open = (i) => {
    const s = createConnection({ port, host: '127.0.0.1', noDelay: true });
    sockets[i] = s;
    const parser = mqttPacket.parser(OPTS);
    parser.on('packet', (p) => {
      switch (p.cmd) {
        case 'connack':
          if (p.returnCode !== 0) {
            settle(s, 'rejected');
            s.destroy();
          } else s.write(subscribe);
          break;
        case 'suback':
          if (p.granted[0] === 0x80) {
            settle(s, 'rejected');
            s.destroy();
          } else settle(s, 'subscribed');
          break;
        case 'publish':
          onMessage?.(i, p.payload);
          if (p.qos === 1) s.write(mqttPacket.generate({ cmd: 'puback', messageId: p.messageId }, OPTS));
          break;
        default:
          break;
      }
    });
    parser.on('error', (err) => {
      settle(s, 'other', `parse: ${err.message}`);
      s.destroy();
    });
    s.on('connect', () => {
      s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive, clientId: `${idPrefix}-${i}` }, OPTS));
    });
    s.on('data', (d) => parser.parse(d));
    s.on('error', (err) => {
      const code = err.code ?? err.message;
      if (code === 'ECONNREFUSED') settle(s, 'refused');
      else if (code === 'ECONNRESET' || code === 'EPIPE') settle(s, 'reset');
      else settle(s, 'other', code);
    });
    s.on('close', () => {
      if (s.benchOutcome === 'subscribed' && !s.benchClosing) dropped.count++;
      settle(s, 'closed');
    });
  };

  for (let i = 0; i < count; i += batch) {
    for (let j = i; j < Math.min(count, i + batch); j++) open(j);
    await new Promise((r) => setImmediate(r));
  }
  const timer = setTimeout(() => {
    for (const s of sockets) {
      if (s.benchOutcome === undefined) {
        settle(s, 'timedOut');
        s.destroy();
      }
    }
  }, timeoutMs);
  await all;
  clearTimeout(timer);
  const connectMs = lastSubscribedAt - t0;

  // one timer for every device: a PINGREQ at half the keep alive keeps them all within it
  const ping = setInterval(() => {
    for (const s of sockets) if (s.benchOutcome === 'subscribed' && !s.destroyed) s.write(PINGREQ);
  }, (keepalive * 1000) / 2);
  ping.unref();

  return {
    outcome,
    dropped,
    connectMs,
    /** `f(index, k)` for every device that subscribed, k counting them from 0 */
    forEachSubscribed(f) {
      let k = 0;
      for (let i = 0; i < count; i++) if (sockets[i]?.benchOutcome === 'subscribed') f(i, k++);
    },
    /** DISCONNECT and close every device; resolves when all sockets closed (10 s at most). */
    async close() {
      clearInterval(ping);
      const closing = [];
      for (const s of sockets) {
        if (!s || s.destroyed) continue;
        s.benchClosing = true;
        closing.push(new Promise((r) => s.once('close', r)));
        s.end(DISCONNECT);
      }
      const timer = setTimeout(() => {
        for (const s of sockets) s?.destroy();
      }, 10_000);
      await Promise.all(closing);
      clearTimeout(timer);
    },
  };
}
