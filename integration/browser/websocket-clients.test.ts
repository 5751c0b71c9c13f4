/**
 * Browsers as real clients: headless Chromium (Debian's, through playwright-core) loads the
 * browser builds of mqtt.js and @stomp/stompjs exactly as published on npm, connects to Ferry's
 * mqtt-listener and stomp-listener over WebSocket, and sends messages through routes into real
 * RabbitMQ and back out to itself:
 *
 *   page (mqtt.js, MQTT 5 over ws) → mqtt-listener → amqp091 → RabbitMQ → amqp091 → mqtt-listener → page
 *   page (stompjs, STOMP 1.2 over ws) → stomp-listener → amqp091 → RabbitMQ → amqp091 → stomp-listener → page
 *
 * Every message is counted (sent, received, lost, duplicated), and a binary body of every byte
 * value comes back byte for byte both ways.
 */
import { jest } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import type { Gateway } from '@ferry/gateway';
import { createVhost, deleteVhost, freePort, launchChromium, pageLog, rabbitUrl, Tally, waitFor, ifAssigned } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';
import { clientsPageServer, openClientsPage, receivedTexts, type OutMessage } from './clients-page.js';

jest.setTimeout(120_000);

const N = 300;
const WINDOW = 20;
const ALL_BYTES = Array.from({ length: 256 }, (_, i) => i);

let vhost: string;
let gateway: Gateway;
let ports: { mqtt: number; mqttWs: number; stomp: number; stompWs: number };
let browser: Browser;
const server = clientsPageServer();
let base: string;

beforeAll(async () => {
  vhost = await createVhost('browser-ws');
  ports = { mqtt: await freePort(), mqttWs: await freePort(), stomp: await freePort(), stompWs: await freePort() };
  gateway = await startGateway(`
gateway: { id: browser-ws }
connectors:
  devices: { type: mqtt-listener, port: ${ports.mqtt}, host: 127.0.0.1, websocket: { port: ${ports.mqttWs}, path: /mqtt }, anonymous: true }
  web: { type: stomp-listener, port: ${ports.stomp}, host: 127.0.0.1, websocket: { port: ${ports.stompWs}, path: /ws }, anonymous: true }
  rabbit:
    type: amqp091
    url: "${rabbitUrl(vhost)}"
    topology:
      exchanges: [ { name: browser, type: topic } ]
routes:
  - name: mqtt-in
    from: { connector: devices, topic: "up/+" }
    to: { connector: rabbit, exchange: browser, routingKey: "mqtt.{1}" }
  - name: mqtt-out
    from: { connector: rabbit, exchange: browser, bindingKey: "mqtt.*" }
    to: { connector: devices, topic: "down/{1}" }
  - name: stomp-in
    from: { connector: web, destination: "/topic/up.*" }
    to: { connector: rabbit, exchange: browser, routingKey: "stomp.{1}" }
  - name: stomp-out
    from: { connector: rabbit, exchange: browser, bindingKey: "stomp.*" }
    to: { connector: web, destination: "/topic/down" }
`);
  await waitFor(() => gateway.ready(), 'gateway ready (RabbitMQ connected, queues bound)', 30_000);
  base = await server.start();
  browser = await launchChromium();
});

afterAll(async () => {
  await ifAssigned(browser)?.close();
  await server.stop();
  await ifAssigned(gateway)?.stop(2_000);
  if (vhost) await deleteVhost(vhost);
});

/** run `body` with a fresh page; the page's console is printed when it fails */
async function withPage(body: (page: Page) => Promise<void>): Promise<void> {
  const page = await browser.newPage();
  const log = pageLog(page);
  try {
    await openClientsPage(page, base);
    await body(page);
  } catch (err) {
    // the page may have failed before clients.js defined window.ferryClients
    const errors = await page.evaluate(() => (window as Partial<Window>).ferryClients?.errors ?? []).catch(() => []);
    console.log(`browser log:\n${[...log, ...errors].join('\n')}`);
    throw err;
  } finally {
    await page.close();
  }
}

/** count what the page received against what it sent, until all came (or the wait ends) */
async function tallyPage(page: Page, client: 'mqtt' | 'stomp', tally: Tally): Promise<void> {
  let seen = 0;
  await waitFor(
    async () => {
      const texts = await receivedTexts(page, client);
      for (const t of texts.slice(seen)) if (t.startsWith('id-')) tally.received(t);
      seen = texts.length;
      return tally.complete;
    },
    `${client}: every message back in the page`,
    60_000,
    50,
  );
}

it('mqtt.js in Chromium: MQTT 5 over WebSocket → Ferry → RabbitMQ → Ferry → back, every message once, bytes exact', async () => {
  await withPage(async (page) => {
    await page.evaluate((url) => window.ferryClients.mqttConnect(url, 'chromium-mqtt', 5), `ws://127.0.0.1:${ports.mqttWs}/mqtt`);
    expect(await page.evaluate(() => window.ferryClients.mqttSubscribe('down/#'))).toEqual([1]);
    const tally = new Tally();
    const messages: OutMessage[] = [];
    for (let i = 0; i < N; i++) {
      const id = `id-mqtt-${i}`;
      tally.sent(id);
      messages.push({ topic: `up/k${i % 5}`, body: id });
    }
    messages.push({ topic: 'up/bin', bytes: ALL_BYTES });
    expect(await page.evaluate(([m, w]) => window.ferryClients.mqttPublish(m, w), [messages, WINDOW] as const)).toBe(N + 1);
    await tallyPage(page, 'mqtt', tally);
    console.log(tally.summary('browser mqtt.js over WebSocket'));
    expect(tally.counts).toMatchObject({ sent: N, received: N, duplicated: 0, lost: 0, unexpected: 0 });
    const received = await page.evaluate(() => window.ferryClients.received.mqtt);
    // each came back on the topic its routing key gave it
    expect(received.filter((m) => m.at.startsWith('down/k')).length).toBe(N);
    await waitFor(async () => (await page.evaluate(() => window.ferryClients.received.mqtt.filter((m) => m.at === 'down/bin').length)) === 1, 'the binary message');
    const bin = await page.evaluate(() => window.ferryClients.received.mqtt.find((m) => m.at === 'down/bin')?.bytes);
    expect(bin).toEqual(ALL_BYTES);
    await page.evaluate(() => window.ferryClients.mqttEnd());
  });
});

it('@stomp/stompjs in Chromium: STOMP 1.2 over WebSocket → Ferry → RabbitMQ → Ferry → back, every message once, bytes exact', async () => {
  await withPage(async (page) => {
    const version = await page.evaluate((url) => window.ferryClients.stompConnect(url), `ws://127.0.0.1:${ports.stompWs}/ws`);
    expect(version).toBe('1.2');
    // stompjs offers v12.stomp, v11.stomp, v10.stomp; the newest wins
    expect(await page.evaluate(() => window.ferryClients.stompSubprotocol())).toBe('v12.stomp');
    await page.evaluate(() => window.ferryClients.stompSubscribe('/topic/down'));
    const tally = new Tally();
    const messages: OutMessage[] = [];
    for (let i = 0; i < N; i++) {
      const id = `id-stomp-${i}`;
      tally.sent(id);
      messages.push({ destination: `/topic/up.k${i % 5}`, body: id });
    }
    messages.push({ destination: '/topic/up.bin', bytes: ALL_BYTES });
    expect(await page.evaluate(([m, w]) => window.ferryClients.stompPublish(m, w), [messages, WINDOW] as const)).toBe(N + 1);
    await tallyPage(page, 'stomp', tally);
    console.log(tally.summary('browser stompjs over WebSocket'));
    expect(tally.counts).toMatchObject({ sent: N, received: N, duplicated: 0, lost: 0, unexpected: 0 });
    const isAllBytes = (b: readonly number[]): boolean => b.length === 256 && b.every((v, i) => v === i);
    await waitFor(async () => (await page.evaluate(() => window.ferryClients.received.stomp.map((m) => m.bytes))).some(isAllBytes), 'the binary message, byte for byte', 30_000);
    await page.evaluate(() => window.ferryClients.stompEnd());
  });
});
