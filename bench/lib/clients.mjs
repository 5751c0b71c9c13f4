/**
 * The bench's clients: public libraries from node_modules, each with TCP_NODELAY on its socket
 * (mqtt.js and @stomp/tcp-wrapper never set it; amqplib only with `noDelay: true`; rhea sets it
 * unless told not to, and is told explicitly here).
 * Publishers are windowed: at most `window` messages sent but not yet confirmed.
 */
import mqtt from 'mqtt';
import amqp from 'amqplib';
import rhea from 'rhea';
import { Client as StompClient } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import { WebSocket } from 'ws';
import { fork } from 'node:child_process';
import { createConnection } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

/**
 * Send `n` messages with at most `window` unconfirmed; `send(seq, done)` calls `done(err?)`
 * on confirmation (possibly synchronously). Resolves with the time of the last confirmation.
 */
export function windowed(n, window, send) {
  return new Promise((resolve, reject) => {
    let next = 0;
    let confirmed = 0;
    let inflight = 0;
    let pumping = false;
    let failed = false;
    const done = (err) => {
      if (failed) return;
      if (err) {
        failed = true;
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      inflight--;
      if (++confirmed === n) resolve(performance.now());
      else pump();
    };
    // a flag, not recursion: a synchronous `done` inside `send` only lets the loop go on
    const pump = () => {
      if (pumping) return;
      pumping = true;
      while (inflight < window && next < n && !failed) {
        inflight++;
        send(next++, done);
      }
      pumping = false;
    };
    if (n === 0) resolve(performance.now());
    else pump();
  });
}

/**
 * Send `n` messages at `rate` per second (timer ticks, each sends what is due), never more
 * than `window` unconfirmed. Resolves with the time of the last confirmation.
 */
export function paced(n, rate, window, send) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let next = 0;
    let confirmed = 0;
    let inflight = 0;
    const done = (err) => {
      if (err) return reject(err instanceof Error ? err : new Error(String(err)));
      inflight--;
      if (++confirmed === n) resolve(performance.now());
    };
    const tick = () => {
      const due = Math.min(n, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
      while (next < due && inflight < window) {
        inflight++;
        send(next++, done);
      }
      if (next < n) setTimeout(tick, 1);
    };
    tick();
  });
}

export async function mqttConnect(url, opts = {}) {
  const client = mqtt.connect(url, {
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    keepalive: 60,
    ...opts,
  });
  client.on('connect', () => client.stream.setNoDelay(true));
  await new Promise((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
    client.once('close', () => reject(new Error(`mqtt ${url}: closed before CONNACK`)));
  });
  client.removeAllListeners('error');
  client.on('error', (err) => {
    client.benchError = err;
  });
  return client;
}

export async function mqttClose(client) {
  if (!client) return;
  await client.endAsync(true).catch(() => undefined);
}

/** mqtt.js publishes `n` (or paced) messages at `qos` on `topic`; done = PUBACK (QoS 1) or written (QoS 0). */
export function mqttSender(client, topic, qos, payload, counter) {
  return (seq, done) => {
    counter.markSent();
    client.publish(topic, payload(seq), { qos }, (err) => done(err));
  };
}

export async function mqttSubscriber(url, filter, qos, counter, opts = {}) {
  const client = await mqttConnect(url, opts);
  client.on('message', (_topic, body) => counter.receive(body));
  await client.subscribeAsync(filter, { qos });
  return client;
}

const SUBSCRIBER_CHILD = fileURLToPath(new URL('./subscriber-child.mjs', import.meta.url));

/**
 * `mqttSubscriber` in a process of its own (bench/lib/subscriber-child.mjs), its deliveries
 * counted here as they are reported, one batch per turn of the child. Resolves once it
 * subscribed; `pid` for its CPU, `benchError` set when it fails, `close()` ends it.
 */
export async function mqttSubscriberProcess(url, filter, qos, counter, opts = {}) {
  const child = fork(SUBSCRIBER_CHILD, [url, filter, String(qos), JSON.stringify(opts)], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const sub = { pid: child.pid, benchError: undefined, close: undefined };
  const origin = performance.timeOrigin;
  child.on('message', (m) => {
    if (m?.kind === 'batch') {
      const d = m.data;
      for (let i = 0; i < d.length; i += 3) counter.receiveSeq(d[i], d[i + 1], d[i + 2] - origin);
    } else if (m?.kind === 'error') sub.benchError = new Error(`subscriber process: ${m.message}`);
  });
  // the exit code, or the signal that ended it
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  await new Promise((resolve, reject) => {
    child.on('message', (m) => m?.kind === 'ready' && resolve());
    void exited.then((code) => reject(new Error(`subscriber process exited (${code}) before it subscribed`)));
  });
  let stopping = false;
  // an exit the bench did not ask for fails the run (its messages also count as lost)
  void exited.then((code) => {
    if (!stopping) sub.benchError ??= new Error(`subscriber process exited (${code}) during the run`);
  });
  sub.close = async () => {
    stopping = true;
    if (child.connected) child.send('stop');
    await exited;
  };
  return sub;
}

async function amqpConnect(url) {
  const conn = await amqp.connect(url, { noDelay: true });
  conn.on('error', (err) => {
    conn.benchError = err;
  });
  return conn;
}

/**
 * An amqplib consumer on its own exclusive, non-durable queue bound to `exchange` with
 * `bindingKey`: prefetch 1000, one basic.ack per message.
 */
export async function amqpConsumer(url, exchange, bindingKey, counter) {
  const conn = await amqpConnect(url);
  const ch = await conn.createChannel();
  ch.on('error', (err) => {
    conn.benchError = err;
  });
  await ch.prefetch(1000);
  const { queue } = await ch.assertQueue('', { exclusive: true, durable: false, autoDelete: true });
  await ch.bindQueue(queue, exchange, bindingKey);
  await ch.consume(queue, (msg) => {
    if (msg === null) return;
    counter.receive(msg.content);
    ch.ack(msg);
  });
  return conn;
}

/** A confirm channel that sends to `queue`; done = publisher confirm. */
export async function amqpQueueSender(url, queue, payload, counter) {
  const conn = await amqpConnect(url);
  const ch = await conn.createConfirmChannel();
  ch.on('error', (err) => {
    conn.benchError = err;
  });
  const send = (seq, done) => {
    counter.markSent();
    ch.sendToQueue(queue, payload(seq), { persistent: false }, (err) => done(err ?? undefined));
  };
  return { conn, send };
}

export async function amqpClose(conn) {
  if (!conn) return;
  await conn.close().catch(() => undefined);
}

/** @stomp/tcp-wrapper's documented extension point for socket options: TCP_NODELAY. */
class NoDelayTCPWrapper extends TCPWrapper {
  getSocket(port, host) {
    return createConnection({ port, host, noDelay: true });
  }
}

/**
 * @stomp/stompjs over TCP. `publish()` has no callback: confirmation is a `receipt` header
 * and `watchForReceipt`. done = RECEIPT; an ERROR frame fails the run.
 * `connectHeaders` e.g. login and the vhost (`host`) for RabbitMQ's STOMP plugin.
 */
export async function stompSender(port, destination, payload, counter, connectHeaders = {}) {
  return stompSenderOver(() => new NoDelayTCPWrapper('127.0.0.1', port), `127.0.0.1:${port}`, destination, payload, counter, connectHeaders);
}

/**
 * @stomp/stompjs over WebSocket, as a web app uses it, with `ws` standing in for the browser's
 * WebSocket (ws sets TCP_NODELAY on its socket). Subprotocols as stompjs offers them
 * (v12.stomp, v11.stomp, v10.stomp); `connectHeaders` e.g. login and the vhost (`host`).
 */
export async function stompWsSender(url, destination, payload, counter, connectHeaders = {}) {
  return stompSenderOver(
    () => new WebSocket(url, ['v12.stomp', 'v11.stomp', 'v10.stomp']),
    url,
    destination,
    payload,
    counter,
    connectHeaders,
  );
}

async function stompSenderOver(webSocketFactory, where, destination, payload, counter, connectHeaders = {}) {
  let failRun;
  const failed = new Promise((_, reject) => {
    failRun = reject;
  });
  failed.catch(() => undefined);
  const client = new StompClient({
    webSocketFactory,
    connectHeaders,
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    connectionTimeout: 10_000,
    debug: () => undefined,
  });
  const pending = new Map();
  client.onStompError = (frame) => {
    const err = new Error(`STOMP ERROR: ${frame.headers.message ?? ''} ${frame.body ?? ''}`);
    failRun(err);
    for (const done of pending.values()) done(err);
    pending.clear();
  };
  await new Promise((resolve, reject) => {
    client.onConnect = () => resolve();
    client.onWebSocketError = () => reject(new Error(`STOMP: cannot connect to ${where}`));
    client.activate();
  });
  const send = (seq, done) => {
    counter.markSent();
    const receipt = `r${seq}`;
    pending.set(receipt, done);
    client.watchForReceipt(receipt, () => {
      pending.delete(receipt);
      done();
    });
    client.publish({ destination, binaryBody: payload(seq), headers: { receipt, 'content-type': 'application/octet-stream' } });
  };
  return { client, send, failed };
}

export async function stompClose(client) {
  if (!client) return;
  await client.deactivate().catch(() => undefined);
}

/**
 * An AMQP 1.0 sender (rhea) with unsettled deliveries: done = the peer's `accepted`; `rejected`,
 * `released` or `modified` fail the run. Sends wait for link credit (a send without credit
 * would be queued by rhea, unbounded); `opts` are rhea connection options (SASL, hostname).
 */
export async function amqp10Sender(port, address, payload, counter, opts = {}) {
  const container = rhea.create_container({ id: `bench-${process.pid}` });
  const conn = container.connect({ host: '127.0.0.1', port, reconnect: false, tcp_no_delay: true, ...opts });
  let failRun;
  const failed = new Promise((_, reject) => {
    failRun = reject;
  });
  failed.catch(() => undefined);
  conn.on('error', (ctx) => failRun(new Error(`AMQP 1.0 connection error: ${ctx.connection.error?.description ?? ctx.error?.message ?? 'unknown'}`)));
  conn.on('disconnected', (ctx) => failRun(new Error(`AMQP 1.0 disconnected: ${ctx.error?.message ?? ''}`)));
  const sender = conn.open_sender({ target: { address }, snd_settle_mode: 0 });
  await new Promise((resolve, reject) => {
    sender.once('sendable', resolve);
    sender.once('sender_error', (ctx) => reject(new Error(`AMQP 1.0 link refused: ${ctx.sender.error?.description ?? ''}`)));
    failed.catch(reject);
  });
  const waiting = [];
  const flush = () => {
    while (waiting.length > 0 && sender.sendable()) {
      const { body, done } = waiting.shift();
      const delivery = sender.send({ body: rhea.message.data_section(body) });
      delivery.benchDone = done;
    }
  };
  sender.on('sendable', flush);
  sender.on('accepted', (ctx) => ctx.delivery.benchDone?.());
  for (const outcome of ['rejected', 'released', 'modified']) {
    sender.on(outcome, (ctx) => ctx.delivery.benchDone?.(new Error(`AMQP 1.0 delivery ${outcome}: ${ctx.delivery.remote_state?.error?.description ?? ''}`)));
  }
  const send = (seq, done) => {
    counter.markSent();
    waiting.push({ body: payload(seq), done });
    flush();
  };
  return { conn, send, failed };
}

export async function amqp10Close(conn) {
  if (!conn || !conn.is_open()) return;
  await new Promise((resolve) => {
    conn.once('connection_close', resolve);
    conn.once('disconnected', resolve);
    conn.close();
    setTimeout(resolve, 2000).unref();
  });
}
