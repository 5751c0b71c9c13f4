/**
 * The benchmark cases. Each names the path it measures; `ferry(ctx)` is the route file of the
 * Ferry process (absent for the baselines), `broker` names a broker the bench starts in its own
 * process for the run (aedes or Mosquitto, on `ctx.broker.port`), `clients(ctx)` connects the
 * receiving side first, then the publisher, and answers `{ send, closers, failed? }`.
 *
 * A Ferry case and its baselines share a `pair` (by default the letter before the first dot):
 * the ratio tables put them side by side. Optional per case: `n(options)`, `payloadBytes`,
 * `window(options)` and `copies(options)` (fan-out receivers) in place of the run's defaults;
 * `kind: 'connections'` for the many-devices case (run by run.mjs's own loop, not a publisher).
 *
 * Every RabbitMQ path ends the same way, so the baselines compare like with like: the topic
 * exchange amq.topic → an exclusive, non-durable queue bound `devices.#` → an amqplib consumer
 * (prefetch 1000, one ack per message) in the bench process.
 */
import {
  amqp10Close,
  amqp10Sender,
  amqpClose,
  amqpConsumer,
  amqpQueueSender,
  mqttClose,
  mqttConnect,
  mqttSender,
  mqttSubscriber,
  mqttSubscriberProcess,
  stompClose,
  stompSender,
  stompWsSender,
} from './clients.mjs';
import { swarm } from './swarm.mjs';

const MiB = 1024 * 1024;

/** stompjs over WebSocket with a receipt per SEND → (Ferry or Web-STOMP) → amq.topic → amqplib */
const stompWsToRabbit = (where) => async (ctx) => {
  const consumer = await amqpConsumer(ctx.amqpUrl, 'amq.topic', 'devices.#', ctx.counter);
  const { url, destination, headers } = where(ctx);
  const pub = await stompWsSender(url, destination, ctx.payload, ctx.counter, headers);
  return {
    send: pub.send,
    failed: pub.failed,
    closers: [() => stompClose(pub.client), () => amqpClose(consumer)],
    connections: [consumer],
  };
};

/** @stomp/stompjs (TCP, receipt per SEND) → (Ferry's stomp-listener | RabbitMQ's STOMP plugin) → amq.topic → amqplib */
function stompToRabbit(viaFerry) {
  return async (ctx) => {
    const consumer = await amqpConsumer(ctx.amqpUrl, 'amq.topic', 'devices.#', ctx.counter);
    // a /topic destination: a /queue one would also keep every SEND in the listener's own queue.
    // RabbitMQ's STOMP takes the vhost from CONNECT's host header; /topic/<key> publishes to amq.topic
    const pub = viaFerry
      ? await stompSender(ctx.ports.stomp, '/topic/telemetry', ctx.payload, ctx.counter)
      : await stompSender(ctx.brokers.rabbitStomp, '/topic/devices.stomp.telemetry', ctx.payload, ctx.counter, { login: 'guest', passcode: 'guest', host: ctx.vhost });
    return {
      send: pub.send,
      failed: pub.failed,
      closers: [() => stompClose(pub.client), () => amqpClose(consumer)],
      connections: [consumer],
    };
  };
}

/** mqtt.js QoS 1 publisher and QoS 1 subscriber of one MQTT server (Ferry's listener or the bench's own broker) */
function mqttEdge(portOf, subscriber = {}, ownProcess = false) {
  return async (ctx) => {
    const url = `mqtt://127.0.0.1:${portOf(ctx)}`;
    const opts = { clientId: `${ctx.id}-sub`, ...subscriber };
    if (ownProcess) {
      const sub = await mqttSubscriberProcess(url, 'devices/+/telemetry', 1, ctx.counter, opts);
      const pub = await mqttConnect(url, { clientId: `${ctx.id}-pub` });
      return {
        send: mqttSender(pub, 'devices/d1/telemetry', 1, ctx.payload, ctx.counter),
        closers: [() => mqttClose(pub), () => sub.close()],
        connections: [sub, pub],
        processes: { subscriber: sub.pid },
      };
    }
    const sub = await mqttSubscriber(url, 'devices/+/telemetry', 1, ctx.counter, opts);
    const pub = await mqttConnect(url, { clientId: `${ctx.id}-pub` });
    return {
      send: mqttSender(pub, 'devices/d1/telemetry', 1, ctx.payload, ctx.counter),
      closers: [() => mqttClose(pub), () => mqttClose(sub)],
      connections: [sub, pub],
    };
  };
}

/** case J's sizes: FANOUT_N messages to FANOUT_SUBS devices, FANOUT_WINDOW unconfirmed */
const fanout = { n: (o) => o.fanoutN, copies: (o) => o.fanoutSubscribers, window: (o) => o.fanoutWindow };

/**
 * One mqtt.js QoS 1 publisher → `ctx.copies` devices subscribed at QoS 1 to its one topic
 * (bench/lib/swarm.mjs), on Ferry's listener or the bench's own broker: every device must get
 * every message once.
 */
function mqttFanout(portOf) {
  return async (ctx) => {
    const port = portOf(ctx);
    const devices = await swarm({
      port,
      count: ctx.copies,
      filter: 'devices/all/cmd',
      qos: 1,
      idPrefix: `${ctx.id}-dev`,
      onMessage: (i, payload) => ctx.counter.receive(payload, i),
    });
    if (devices.outcome.subscribed !== ctx.copies) {
      await devices.close();
      throw new Error(`fan-out: ${devices.outcome.subscribed} of ${ctx.copies} subscribers connected: ${JSON.stringify(devices.outcome)}`);
    }
    const pub = await mqttConnect(`mqtt://127.0.0.1:${port}`, { clientId: `${ctx.id}-pub` });
    return {
      send: mqttSender(pub, 'devices/all/cmd', 1, ctx.payload, ctx.counter),
      closers: [() => mqttClose(pub), () => devices.close()],
      connections: [pub],
    };
  };
}

const stompToRabbitYaml = (ctx) => `${header(ctx)}connectors:
  web: { type: stomp-listener, anonymous: true, port: ${ctx.ports.stomp}, host: 127.0.0.1${ctx.payloadBytes > MiB / 2 ? `, limits: { maxFrameBytes: ${roomFor(ctx.payloadBytes)} }` : ''} }
  rabbit: { type: amqp091, url: "${ctx.amqpUrl}" }
routes:
  - name: telemetry
    from: { connector: web, destination: "/topic/telemetry" }
    to: { connector: rabbit, exchange: amq.topic, routingKey: "devices.stomp.telemetry" }
`;

const amqp10ToRabbitYaml = (ctx) => `${header(ctx)}connectors:
  apps: { type: amqp10-listener, anonymous: true, port: ${ctx.ports.amqp10}, host: 127.0.0.1${ctx.payloadBytes > MiB / 2 ? `, maxMessageBytes: ${roomFor(ctx.payloadBytes)}` : ''} }
  rabbit: { type: amqp091, url: "${ctx.amqpUrl}" }
routes:
  - name: telemetry
    from: { connector: apps, address: "telemetry" }
    to: { connector: rabbit, exchange: amq.topic, routingKey: "devices.amqp10.telemetry" }
`;

const edgeYaml = (ctx) => `${header(ctx)}connectors:
  devices: { type: mqtt-listener, anonymous: true, port: ${ctx.ports.mqtt}, host: 127.0.0.1 }
routes: []
`;

/** case C with a data directory: the subscriber's persistent session is kept on disk, every message written before its PUBACK */
const edgeDurableYaml = (ctx) => `gateway: { id: ${ctx.id}, http: { port: ${ctx.ports.admin}, host: 127.0.0.1 }, spool: { dir: data-${ctx.id} } }
connectors:
  devices: { type: mqtt-listener, anonymous: true, port: ${ctx.ports.mqtt}, host: 127.0.0.1 }
routes: []
`;

const header = (ctx) => `gateway: { id: ${ctx.id}, http: { port: ${ctx.ports.admin}, host: 127.0.0.1 } }\n`;

/** listener limits for messages above the defaults (case I): the message plus room for its headers */
const roomFor = (bytes) => bytes + 64 * 1024;

const mqttToRabbitYaml = (ctx) => `${header(ctx)}connectors:
  devices: { type: mqtt-listener, anonymous: true, port: ${ctx.ports.mqtt}, host: 127.0.0.1${ctx.payloadBytes > MiB / 2 ? `, maxPacketSize: ${roomFor(ctx.payloadBytes)}` : ''} }
  rabbit: { type: amqp091, url: "${ctx.amqpUrl}" }
routes:
  - name: telemetry
    from: { connector: devices, topic: "devices/+/telemetry" }
    to: { connector: rabbit, exchange: amq.topic, routingKey: "devices.{1}.telemetry" }
`;

/** mqtt.js → (Ferry's listener | RabbitMQ's MQTT plugin) → amq.topic → amqplib */
function mqttToRabbit(qos, viaFerry) {
  return async (ctx) => {
    const consumer = await amqpConsumer(ctx.amqpUrl, 'amq.topic', 'devices.#', ctx.counter);
    // RabbitMQ's MQTT plugin takes the vhost from a `vhost:user` user name
    const pub = viaFerry
      ? await mqttConnect(`mqtt://127.0.0.1:${ctx.ports.mqtt}`, { clientId: `${ctx.id}-pub` })
      : await mqttConnect(`mqtt://127.0.0.1:${ctx.brokers.rabbitMqtt}`, { clientId: `${ctx.id}-pub`, username: `${ctx.vhost}:guest`, password: 'guest' });
    return {
      send: mqttSender(pub, 'devices/d1/telemetry', qos, ctx.payload, ctx.counter),
      closers: [() => mqttClose(pub), () => amqpClose(consumer)],
      connections: [consumer, pub],
    };
  };
}

/** rhea → (Ferry's amqp10-listener | RabbitMQ's AMQP 1.0 plugin) → amq.topic → amqplib */
function amqp10ToRabbit(viaFerry) {
  return async (ctx) => {
    const consumer = await amqpConsumer(ctx.amqpUrl, 'amq.topic', 'devices.#', ctx.counter);
    // RabbitMQ 3.10's plugin: the vhost in the open frame's hostname, an exchange as /exchange/NAME/KEY
    const pub = viaFerry
      ? await amqp10Sender(ctx.ports.amqp10, 'telemetry', ctx.payload, ctx.counter)
      : await amqp10Sender(ctx.brokers.rabbitAmqp, '/exchange/amq.topic/devices.amqp10.telemetry', ctx.payload, ctx.counter, {
          username: 'guest',
          password: 'guest',
          hostname: `vhost:${ctx.vhost}`,
        });
    return {
      send: pub.send,
      failed: pub.failed,
      closers: [() => amqp10Close(pub.conn), () => amqpClose(consumer)],
      connections: [consumer],
    };
  };
}

export const cases = [
  {
    name: 'A.ferry.mqtt-qos1.rabbit',
    path: 'mqtt.js QoS 1 → Ferry mqtt-listener → amqp091 sink → RabbitMQ amq.topic → amqplib',
    ferry: mqttToRabbitYaml,
    clients: mqttToRabbit(1, true),
  },
  {
    name: 'A.base.mqtt-qos1.rabbit-plugin',
    path: 'baseline: mqtt.js QoS 1 → RabbitMQ MQTT plugin → amq.topic → amqplib',
    clients: mqttToRabbit(1, false),
  },
  {
    name: 'B.ferry.mqtt-qos0.rabbit',
    path: 'mqtt.js QoS 0 → Ferry mqtt-listener → amqp091 sink → RabbitMQ amq.topic → amqplib',
    ferry: mqttToRabbitYaml,
    clients: mqttToRabbit(0, true),
  },
  {
    name: 'B.base.mqtt-qos0.rabbit-plugin',
    path: 'baseline: mqtt.js QoS 0 → RabbitMQ MQTT plugin → amq.topic → amqplib',
    clients: mqttToRabbit(0, false),
  },
  {
    name: 'C.ferry.mqtt-qos1.edge',
    path: 'mqtt.js QoS 1 → Ferry mqtt-listener → mqtt.js QoS 1 subscriber of the same listener (no external broker)',
    ferry: edgeYaml,
    clients: mqttEdge((ctx) => ctx.ports.mqtt),
  },
  {
    name: 'C3.ferry.mqtt-qos1.edge-durable',
    pair: 'C',
    path: 'as C, with gateway.spool (a data directory) and a persistent-session subscriber (clean session 0): each message stored in the session before the PUBACK',
    ferry: edgeDurableYaml,
    clients: mqttEdge((ctx) => ctx.ports.mqtt, { clean: false }),
  },
  {
    name: 'C2.base.mqtt-qos1.aedes',
    pair: 'C',
    path: 'baseline: the same mqtt.js QoS 1 publisher and subscriber → aedes (in-memory, in its own Node process) ',
    broker: 'aedes',
    clients: mqttEdge((ctx) => ctx.broker.port),
  },
  {
    name: 'C4.ferry.mqtt-qos1.edge-two-clients',
    path: 'as C, with the subscriber in a process of its own: the publisher, the subscriber and Ferry each on their own thread, so the rate is set by what all three spend per message and not by one client thread doing both',
    ferry: edgeYaml,
    clients: mqttEdge((ctx) => ctx.ports.mqtt, {}, true),
  },
  {
    name: 'C4.base.mqtt-qos1.aedes-two-clients',
    path: 'baseline: as C2, with the subscriber in a process of its own',
    broker: 'aedes',
    clients: mqttEdge((ctx) => ctx.broker.port, {}, true),
  },
  {
    name: 'D.ferry.stomp-receipt.rabbit',
    path: '@stomp/stompjs SEND with receipt → Ferry stomp-listener → amqp091 sink → RabbitMQ amq.topic → amqplib',
    ferry: stompToRabbitYaml,
    clients: stompToRabbit(true),
  },
  {
    name: 'D.base.stomp-receipt.rabbit-stomp',
    path: "baseline: the same stompjs sender (TCP, receipt per SEND) → RabbitMQ's STOMP plugin (/topic/devices.stomp.telemetry = amq.topic) → amqplib",
    clients: stompToRabbit(false),
  },
  {
    name: 'H.ferry.stomp-ws-receipt.rabbit',
    path: '@stomp/stompjs over WebSocket (ws), SEND with receipt → Ferry stomp-listener (websocket) → amqp091 sink → RabbitMQ amq.topic → amqplib',
    ferry: (ctx) => `${header(ctx)}connectors:
  web: { type: stomp-listener, anonymous: true, port: ${ctx.ports.stomp}, host: 127.0.0.1, websocket: { port: ${ctx.ports.stompWs}, path: /ws } }
  rabbit: { type: amqp091, url: "${ctx.amqpUrl}" }
routes:
  - name: telemetry
    from: { connector: web, destination: "/topic/telemetry" }
    to: { connector: rabbit, exchange: amq.topic, routingKey: "devices.stomp.telemetry" }
`,
    clients: stompWsToRabbit((ctx) => ({ url: `ws://127.0.0.1:${ctx.ports.stompWs}/ws`, destination: '/topic/telemetry', headers: {} })),
  },
  {
    name: 'H.base.stomp-ws-receipt.rabbit-web-stomp',
    path: "baseline: the same stompjs sender over WebSocket → RabbitMQ's Web-STOMP plugin (/topic/devices.stomp.telemetry = amq.topic) → amqplib",
    needs: 'rabbitWebStomp',
    clients: stompWsToRabbit((ctx) => ({
      url: `ws://127.0.0.1:${ctx.brokers.rabbitWebStomp}/ws`,
      // RabbitMQ's STOMP takes the vhost from CONNECT's host header; /topic/<key> publishes to amq.topic
      destination: '/topic/devices.stomp.telemetry',
      headers: { login: 'guest', passcode: 'guest', host: ctx.vhost },
    })),
  },
  {
    name: 'E.ferry.rabbit-queue.mqtt-qos1',
    path: 'amqplib confirm channel → RabbitMQ queue → Ferry amqp091 source → mqtt-listener sink QoS 1 → mqtt.js QoS 1 subscriber',
    ferry: (ctx) => `${header(ctx)}connectors:
  devices: { type: mqtt-listener, anonymous: true, port: ${ctx.ports.mqtt}, host: 127.0.0.1 }
  rabbit:
    type: amqp091
    url: "${ctx.amqpUrl}"
    topology: { queues: [ { name: bench.commands, durable: false } ] }
routes:
  - name: commands
    from: { connector: rabbit, queue: bench.commands }
    to: { connector: devices, topic: "devices/d1/cmd", qos: 1 }
`,
    clients: async (ctx) => {
      const sub = await mqttSubscriber(`mqtt://127.0.0.1:${ctx.ports.mqtt}`, 'devices/+/cmd', 1, ctx.counter, { clientId: `${ctx.id}-sub` });
      const pub = await amqpQueueSender(ctx.amqpUrl, 'bench.commands', ctx.payload, ctx.counter);
      return {
        send: pub.send,
        closers: [() => amqpClose(pub.conn), () => mqttClose(sub)],
        connections: [sub, pub.conn],
      };
    },
  },
  {
    name: 'G.ferry.amqp10-unsettled.rabbit',
    path: 'rhea AMQP 1.0 sender, unsettled → Ferry amqp10-listener → amqp091 sink → RabbitMQ amq.topic → amqplib',
    ferry: amqp10ToRabbitYaml,
    clients: amqp10ToRabbit(true),
  },
  {
    name: 'G.base.amqp10-unsettled.rabbit-plugin',
    path: 'baseline: rhea AMQP 1.0 sender, unsettled → RabbitMQ AMQP 1.0 plugin /exchange/amq.topic → amqplib',
    clients: amqp10ToRabbit(false),
  },
  {
    name: 'F.ferry.latency-qos1.rabbit',
    path: 'latency of case A at a fixed rate: mqtt.js QoS 1 → Ferry → RabbitMQ → amqplib',
    latency: true,
    ferry: mqttToRabbitYaml,
    clients: mqttToRabbit(1, true),
  },
  {
    name: 'F.base.latency-qos1.rabbit-plugin',
    path: 'latency of the baseline at the same rate: mqtt.js QoS 1 → RabbitMQ MQTT plugin → amqplib',
    latency: true,
    clients: mqttToRabbit(1, false),
  },
  ...largeMessageCases(),
  {
    name: 'J.ferry.fanout.edge',
    path: 'one mqtt.js QoS 1 publisher → Ferry mqtt-listener → FANOUT_SUBS devices (default 1,000) subscribed at QoS 1 to the same topic',
    ferry: edgeYaml,
    ...fanout,
    clients: mqttFanout((ctx) => ctx.ports.mqtt),
  },
  {
    name: 'J.base.fanout.aedes',
    path: 'baseline: the same publisher and devices → aedes in its own process',
    broker: 'aedes',
    ...fanout,
    clients: mqttFanout((ctx) => ctx.broker.port),
  },
  {
    name: 'J.base.fanout.mosquitto',
    path: 'baseline: the same publisher and devices → Mosquitto (the bench\'s own, max_queued_messages 10000)',
    broker: 'mosquitto',
    ...fanout,
    clients: mqttFanout((ctx) => ctx.broker.port),
  },
  {
    name: 'K.ferry.devices.edge',
    path: 'DEVICES MQTT connections (default 10,000; keep alive 60 s, one QoS 1 subscription each) opened at once and held on Ferry\'s mqtt-listener; then one QoS 1 message to all',
    kind: 'connections',
    ferry: edgeYaml,
    port: (ctx) => ctx.ports.mqtt,
  },
  {
    name: 'K.base.devices.mosquitto',
    path: 'baseline: the same devices and message → Mosquitto (the bench\'s own, on a free port)',
    kind: 'connections',
    broker: 'mosquitto',
    port: (ctx) => ctx.broker.port,
  },
];

/**
 * Case I: 1 MiB and 16 MiB messages through paths A, D and G, each beside its RabbitMQ plugin
 * baseline. Ferry's listeners get limits that admit the message (their defaults stop at 1 MiB
 * for MQTT and STOMP); the window keeps at most LARGE_WINDOW_BYTES (32 MiB) of messages
 * unconfirmed per publisher, so the client side holds the same bytes on every path.
 */
function largeMessageCases() {
  const sizes = [
    { label: '1MiB', bytes: MiB, n: (o) => o.largeN1 },
    { label: '16MiB', bytes: 16 * MiB, n: (o) => o.largeN16 },
  ];
  const paths = [
    { key: 'mqtt-qos1', ferry: mqttToRabbitYaml, viaFerry: mqttToRabbit(1, true), base: mqttToRabbit(1, false), baseName: 'rabbit-plugin', what: 'mqtt.js QoS 1 → (Ferry mqtt-listener | RabbitMQ MQTT plugin)' },
    { key: 'stomp-receipt', ferry: stompToRabbitYaml, viaFerry: stompToRabbit(true), base: stompToRabbit(false), baseName: 'rabbit-stomp', what: 'stompjs SEND with receipt → (Ferry stomp-listener | RabbitMQ STOMP plugin)' },
    { key: 'amqp10-unsettled', ferry: amqp10ToRabbitYaml, viaFerry: amqp10ToRabbit(true), base: amqp10ToRabbit(false), baseName: 'rabbit-plugin', what: 'rhea unsettled → (Ferry amqp10-listener | RabbitMQ AMQP 1.0 plugin)' },
  ];
  const out = [];
  for (const size of sizes) {
    for (const p of paths) {
      const common = { pair: `I.${p.key}-${size.label}`, payloadBytes: size.bytes, n: size.n, window: (o) => Math.max(1, Math.floor(o.largeWindowBytes / size.bytes)) };
      out.push(
        { ...common, name: `I.ferry.${p.key}-${size.label}.rabbit`, path: `${size.label} messages: ${p.what.replace(/\(([^|]+) \| [^)]+\)/, '$1')} → amq.topic → amqplib`, ferry: p.ferry, clients: p.viaFerry },
        { ...common, name: `I.base.${p.key}-${size.label}.${p.baseName}`, path: `baseline, ${size.label} messages: ${p.what.replace(/\([^|]+ \| ([^)]+)\)/, '$1')} → amq.topic → amqplib`, clients: p.base },
      );
    }
  }
  return out;
}
