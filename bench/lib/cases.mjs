/**
 * The benchmark cases. Each names the path it measures; `ferry(ctx)` is the route file of the
 * Ferry process (absent for the RabbitMQ baselines), `clients(ctx)` connects the receiving side
 * first, then the publisher, and answers `{ send, closers, failed? }`.
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
  stompClose,
  stompSender,
  stompWsSender,
} from './clients.mjs';

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

const header = (ctx) => `gateway: { id: ${ctx.id}, http: { port: ${ctx.ports.admin}, host: 127.0.0.1 } }\n`;

const mqttToRabbitYaml = (ctx) => `${header(ctx)}connectors:
  devices: { type: mqtt-listener, port: ${ctx.ports.mqtt}, host: 127.0.0.1 }
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
    path: 'baseline (RECIPES case d): mqtt.js QoS 1 → RabbitMQ MQTT plugin → amq.topic → amqplib',
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
    path: 'baseline (RECIPES case d): mqtt.js QoS 0 → RabbitMQ MQTT plugin → amq.topic → amqplib',
    clients: mqttToRabbit(0, false),
  },
  {
    name: 'C.ferry.mqtt-qos1.edge',
    path: 'mqtt.js QoS 1 → Ferry mqtt-listener → mqtt.js QoS 1 subscriber of the same listener (no external broker)',
    ferry: (ctx) => `${header(ctx)}connectors:
  devices: { type: mqtt-listener, port: ${ctx.ports.mqtt}, host: 127.0.0.1 }
routes: []
`,
    clients: async (ctx) => {
      const url = `mqtt://127.0.0.1:${ctx.ports.mqtt}`;
      const sub = await mqttSubscriber(url, 'devices/+/telemetry', 1, ctx.counter, { clientId: `${ctx.id}-sub` });
      const pub = await mqttConnect(url, { clientId: `${ctx.id}-pub` });
      return {
        send: mqttSender(pub, 'devices/d1/telemetry', 1, ctx.payload, ctx.counter),
        closers: [() => mqttClose(pub), () => mqttClose(sub)],
        connections: [sub, pub],
      };
    },
  },
  {
    name: 'D.ferry.stomp-receipt.rabbit',
    path: '@stomp/stompjs SEND with receipt → Ferry stomp-listener → amqp091 sink → RabbitMQ amq.topic → amqplib',
    ferry: (ctx) => `${header(ctx)}connectors:
  web: { type: stomp-listener, port: ${ctx.ports.stomp}, host: 127.0.0.1 }
  rabbit: { type: amqp091, url: "${ctx.amqpUrl}" }
routes:
  - name: telemetry
    from: { connector: web, destination: "/topic/telemetry" }
    to: { connector: rabbit, exchange: amq.topic, routingKey: "devices.stomp.telemetry" }
`,
    clients: async (ctx) => {
      const consumer = await amqpConsumer(ctx.amqpUrl, 'amq.topic', 'devices.#', ctx.counter);
      // a /topic destination: a /queue one would also keep every SEND in the listener's own queue
      const pub = await stompSender(ctx.ports.stomp, '/topic/telemetry', ctx.payload, ctx.counter);
      return {
        send: pub.send,
        failed: pub.failed,
        closers: [() => stompClose(pub.client), () => amqpClose(consumer)],
        connections: [consumer],
      };
    },
  },
  {
    name: 'H.ferry.stomp-ws-receipt.rabbit',
    path: '@stomp/stompjs over WebSocket (ws), SEND with receipt → Ferry stomp-listener (websocket) → amqp091 sink → RabbitMQ amq.topic → amqplib',
    ferry: (ctx) => `${header(ctx)}connectors:
  web: { type: stomp-listener, port: ${ctx.ports.stomp}, host: 127.0.0.1, websocket: { port: ${ctx.ports.stompWs}, path: /ws } }
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
  devices: { type: mqtt-listener, port: ${ctx.ports.mqtt}, host: 127.0.0.1 }
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
    ferry: (ctx) => `${header(ctx)}connectors:
  apps: { type: amqp10-listener, port: ${ctx.ports.amqp10}, host: 127.0.0.1 }
  rabbit: { type: amqp091, url: "${ctx.amqpUrl}" }
routes:
  - name: telemetry
    from: { connector: apps, address: "telemetry" }
    to: { connector: rabbit, exchange: amq.topic, routingKey: "devices.amqp10.telemetry" }
`,
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
];
