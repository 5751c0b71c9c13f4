/**
 * The dashboard in real headless Chromium (Debian's, driven by playwright-core): a Runtime (the
 * `ferry start` path) with an MQTT listener and RabbitMQ (through a TCP proxy the test can cut)
 * in both directions. Messages flow and are counted at their far ends; the page's numbers move to
 * exactly the counts sent, without a reload; the RabbitMQ connector cut turns its row red and
 * says "down", messages devices publish meanwhile show as spooled for it, and it is back "up" (the
 * spool drained into RabbitMQ, counted) when RabbitMQ is reachable again. Screenshots are kept under
 * artifacts/ (git-ignored); their paths are printed. FERRY_WRITE_DOCS=1 copies the second one to
 * docs/img/dashboard.png. A second case serves the same page over HTTPS (gateway.http.tls), a third
 * behind the admin port's token (gateway.http.token).
 */
import { jest } from '@jest/globals';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConsumeMessage } from 'amqplib';
import type { Browser, Page } from 'playwright-core';
import type { MqttClient } from 'mqtt';
import { Runtime, defaultRegistry } from '@ferry/gateway';
import { REPO_ROOT, artifactPath, brokerPorts, captureLogger, createVhost, deleteVhost, freePort, launchChromium, makeTestPki, pageLog, Tally, TcpProxy, waitFor, ifAssigned } from '@ferry/testkit';
import { device, plainClient, publishConfirmed, type Plain } from '../scenarios/helpers.js';

jest.setTimeout(120_000);

const TELEMETRY = 120;
const COMMANDS = 40;
/** published while RabbitMQ is out of reach: the spool keeps them */
const SPOOLED = 30;

let dir: string;
let vhost: string;
let proxy: TcpProxy;
let runtime: Runtime;
let admin: number;
let mqttPort: number;
let plain: Plain;
let browser: Browser;
const clients: MqttClient[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-dashboard-'));
  vhost = await createVhost('dashboard');
  proxy = new TcpProxy(brokerPorts().rabbitAmqp);
  const via = await proxy.start();
  mqttPort = await freePort();
  const adminPort = await freePort();
  const file = join(dir, 'routes.yaml');
  await writeFile(
    file,
    `
gateway: { id: dashboard-demo, http: { port: ${adminPort}, host: 127.0.0.1 }, spool: { dir: spool } }
connectors:
  devices: { type: mqtt-listener, port: ${mqttPort}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "amqp://guest:guest@127.0.0.1:${via}/${encodeURIComponent(vhost)}"
    reconnect: { initialMs: 50, maxMs: 200 }
    topology:
      exchanges: [ { name: telemetry, type: topic } ]
      queues: [ { name: telemetry-all }, { name: device-commands } ]
      bindings: [ { queue: telemetry-all, source: telemetry, bindingKey: "sensors.#" } ]
routes:
  - name: telemetry
    from: { connector: devices, topic: "sensors/+" }
    to: { connector: rabbit, exchange: telemetry, routingKey: "sensors.{1}" }
  - name: commands
    from: { connector: rabbit, queue: device-commands }
    to: { connector: devices, topic: "cmd/all" }
`,
  );
  runtime = new Runtime({ file, registry: defaultRegistry(), logger: captureLogger(), drainTimeoutMs: 2_000 });
  expect(await runtime.start()).toBe(true);
  admin = runtime.adminPort ?? 0;
  await waitFor(() => runtime.gateway?.ready() === true, 'gateway ready (RabbitMQ connected, topology declared)', 30_000);
  plain = await plainClient(vhost);
  browser = await launchChromium();
});

afterAll(async () => {
  await ifAssigned(browser)?.close();
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await ifAssigned(runtime)?.stop();
  await ifAssigned(plain)?.close();
  await ifAssigned(proxy)?.stop();
  if (vhost) await deleteVhost(vhost);
  await rm(dir, { recursive: true, force: true });
});

/** what the page shows in a route's cell: the raw count the page rendered (data-value) */
async function cell(page: Page, route: string, field: string): Promise<number> {
  const v = await page.getAttribute(`tr[data-route="${route}"] td[data-field="${field}"]`, 'data-value');
  return v === null ? NaN : Number(v);
}

async function waitForCell(page: Page, route: string, field: string, value: number): Promise<void> {
  await page.waitForSelector(`tr[data-route="${route}"] td[data-field="${field}"][data-value="${value}"]`, { timeout: 30_000 });
}

it('shows the counts the test sent, live, and a connector cut turns red and says down', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  const log = pageLog(page);
  try {
    let navigations = 0;
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations++;
    });
    await page.goto(`http://127.0.0.1:${admin}/`);
    await page.waitForSelector('tr[data-connector="rabbit"][data-state="up"]');
    await waitForCell(page, 'telemetry', 'received', 0);
    expect(await page.textContent('#gateway-id')).toBe('dashboard-demo');
    expect(await page.textContent('#ready')).toBe('ready');

    // ---- messages flow both ways, counted at their far ends ----
    const telemetry = new Tally();
    const commands = new Tally();
    const { consumerTag } = await plain.ch.consume('telemetry-all', (m: ConsumeMessage | null) => {
      if (m === null) return;
      telemetry.received(m.content.toString());
      plain.ch.ack(m);
    });
    const sub = await device(mqttPort, 'dash-sub');
    clients.push(sub);
    sub.on('message', (_t, payload) => commands.received(payload.toString()));
    await sub.subscribeAsync('cmd/#', { qos: 1 });
    const dev = await device(mqttPort, 'dash-dev');
    clients.push(dev);
    for (let i = 0; i < TELEMETRY; i++) {
      const id = `t-${i}`;
      telemetry.sent(id);
      await dev.publishAsync(`sensors/k${i % 4}`, id, { qos: 1 });
    }
    for (let i = 0; i < COMMANDS; i++) {
      const id = `c-${i}`;
      commands.sent(id);
      await publishConfirmed(plain.confirm, '', 'device-commands', Buffer.from(id));
    }
    await waitFor(() => telemetry.complete && commands.complete, 'every message at its far end', 30_000);
    console.log(telemetry.summary('telemetry'), commands.summary('commands'));
    expect(telemetry.counts).toMatchObject({ sent: TELEMETRY, received: TELEMETRY, duplicated: 0, lost: 0 });
    expect(commands.counts).toMatchObject({ sent: COMMANDS, received: COMMANDS, duplicated: 0, lost: 0 });
    await plain.ch.cancel(consumerTag);

    // ---- the page's numbers are exactly those counts ----
    await waitForCell(page, 'telemetry', 'sent', TELEMETRY);
    await waitForCell(page, 'commands', 'sent', COMMANDS);
    for (const [route, n] of [['telemetry', TELEMETRY], ['commands', COMMANDS]] as const) {
      expect(await cell(page, route, 'received')).toBe(n);
      expect(await cell(page, route, 'sent')).toBe(n);
      expect(await cell(page, route, 'failed')).toBe(0);
      expect(await cell(page, route, 'deadLettered')).toBe(0);
      await waitForCell(page, route, 'inFlight', 0);
    }
    expect(await page.textContent('tr[data-route="telemetry"] td[data-field="received"] .value')).toBe('120');
    // the listener counts both MQTT clients
    await page.waitForSelector(`tr[data-connector="devices"] td:nth-child(5):text-is("2")`);
    expect(await page.textContent('tr[data-connector="devices"] td:nth-child(4)')).toBe(`listening on 127.0.0.1:${mqttPort}`);
    // the peer carries no credentials
    expect(await page.textContent('tr[data-connector="rabbit"] td:nth-child(4)')).not.toContain('guest');
    const upShot = await artifactPath('dashboard.png');
    await page.screenshot({ path: upShot, fullPage: true });
    console.log(`dashboard screenshot: ${upShot}`);

    // ---- keyboard and screen readers ----
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    expect(await page.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle)).not.toBe('none');
    expect(await page.locator('table caption').count()).toBe(2);
    // what a screen reader gets, from Chromium's accessibility tree: named tables, header cells
    // for columns and rows, a polite status region
    expect(await page.getByRole('table', { name: 'Each connector, its state and what it talks to' }).count()).toBe(1);
    expect(await page.getByRole('table', { name: /^Messages per route/ }).count()).toBe(1);
    expect(await page.getByRole('columnheader', { name: 'Dead-lettered' }).count()).toBe(1);
    expect(await page.getByRole('rowheader', { name: 'telemetry' }).count()).toBe(1);
    expect(await page.getByRole('heading', { level: 2 }).allTextContents()).toEqual(['Connectors', 'Routes', expect.stringMatching(/^Recent errors/)]);
    expect(await page.getByRole('status').count()).toBe(1);
    expect(await page.locator('#announce[aria-live="polite"]').count()).toBe(1);
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());

    // ---- RabbitMQ out of reach: the connector turns red and says so ----
    proxy.refuse(true);
    proxy.cut('reset');
    const rabbitRow = 'tr[data-connector="rabbit"]';
    await page.waitForSelector(`${rabbitRow}[data-state="down"]`, { timeout: 30_000 });
    expect(await page.textContent(`${rabbitRow} .badge`)).toBe('down');
    const colours = await page.$eval(`${rabbitRow} .badge`, (b) => {
      const s = getComputedStyle(b);
      return { color: s.color, row: getComputedStyle(b.closest('tr') as Element).backgroundColor };
    });
    expect(reddish(colours.color, 40)).toBe(true);
    expect(reddish(colours.row, 15)).toBe(true);
    expect(await page.textContent('#ready')).toMatch(/^not ready: 1 connector down$/);
    await page.waitForFunction(() => document.getElementById('announce')?.textContent.includes('Connector rabbit is down'));
    // the connector's warning reaches "recent errors", its URL without the password
    await page.waitForSelector('#errors li');
    const errorsText = (await page.textContent('#errors')) ?? '';
    expect(errorsText).not.toContain('guest:guest');
    // devices go on publishing: the durable spool takes their messages for RabbitMQ (PUBACK at
    // once), and the page shows them waiting
    const spooled = new Tally();
    for (let i = 0; i < SPOOLED; i++) {
      const id = `s-${i}`;
      spooled.sent(id);
      await dev.publishAsync(`sensors/k${i % 4}`, id, { qos: 1 });
    }
    await page.waitForSelector(`${rabbitRow} td.spool[data-value="${SPOOLED}"]`, { timeout: 30_000 });
    expect(await page.textContent(`${rabbitRow} td.spool`)).toMatch(new RegExp(`^${SPOOLED} · \\d+(\\.\\d)? KiB$`));
    const downShot = await artifactPath('dashboard-down.png');
    await page.screenshot({ path: downShot, fullPage: true });
    console.log(`dashboard screenshot (RabbitMQ cut): ${downShot}`);
    // FERRY_WRITE_DOCS=1 also refreshes the picture docs/operations.md shows
    if (process.env['FERRY_WRITE_DOCS'] === '1') await copyFile(downShot, join(REPO_ROOT, 'docs/img/dashboard.png'));

    // ---- and back ----
    proxy.refuse(false);
    await page.waitForSelector(`${rabbitRow}[data-state="up"]`, { timeout: 30_000 });
    expect(await page.textContent(`${rabbitRow} .badge`)).toBe('up');
    // the spool drains into RabbitMQ: every spooled message arrives once
    const again = await plain.ch.consume('telemetry-all', (m: ConsumeMessage | null) => {
      if (m === null) return;
      spooled.received(m.content.toString());
      plain.ch.ack(m);
    });
    await page.waitForSelector(`${rabbitRow} td.spool[data-value="0"]`, { timeout: 30_000 });
    await waitFor(() => spooled.complete, 'every spooled message in RabbitMQ', 30_000);
    console.log(spooled.summary('spooled while RabbitMQ was cut'));
    expect(spooled.counts).toMatchObject({ sent: SPOOLED, received: SPOOLED, duplicated: 0, lost: 0, unexpected: 0 });
    await plain.ch.cancel(again.consumerTag);
    await waitForCell(page, 'telemetry', 'sent', TELEMETRY + SPOOLED);
    expect(navigations).toBe(1);
  } catch (err) {
    console.log(`browser log:\n${log.join('\n')}`);
    throw err;
  } finally {
    await page.close();
  }
});

it('over HTTPS (gateway.http.tls) the page, its files and its event stream work the same', async () => {
  const pki = await makeTestPki();
  const { runtime: tlsRuntime, port, adminPort, dir: tlsDir } = await copyGateway('dashboard-tls', `tls: { cert: "${pki.server.cert}", key: "${pki.server.key}" }`);
  // the test CA is not the browser's: this context accepts the server certificate Ferry shows
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const log = pageLog(page);
  try {
    expect(await tlsRuntime.start()).toBe(true);
    await page.goto(`https://127.0.0.1:${adminPort}/`);
    await page.waitForSelector('tr[data-connector="devices"][data-state="up"]');
    const dev = await device(port, 'tls-dash-dev');
    clients.push(dev);
    for (let i = 0; i < 25; i++) await dev.publishAsync(`in/${i}`, String(i), { qos: 1 });
    await waitForCell(page, 'copy', 'received', 25);
    await waitForCell(page, 'copy', 'sent', 25);
    expect(await page.evaluate(() => location.protocol)).toBe('https:');
    // Ferry goes away: the page says so instead of showing stale numbers as live
    await tlsRuntime.stop();
    await page.waitForFunction(() => document.getElementById('stream')?.textContent === 'connection lost · reconnecting…');
    expect(await page.getAttribute('#ready', 'data-state')).toBe('unknown');
    expect(await page.textContent('#ready')).toBe('state unknown');
  } catch (err) {
    console.log(`browser log:\n${log.join('\n')}`);
    throw err;
  } finally {
    await context.close();
    await tlsRuntime.stop();
    await pki.remove();
    await rm(tlsDir, { recursive: true, force: true });
  }
});

it('with gateway.http.token: the page opened with ?access_token loads its files and goes live; nothing of what flows without the token', async () => {
  const token = 'dashboard-token-0123456789abcdef';
  const { runtime: tokenRuntime, port, adminPort, dir: tokenDir } = await copyGateway('dashboard-token', `token: "${token}"`);
  const page = await browser.newPage();
  const log = pageLog(page);
  const base = `http://127.0.0.1:${adminPort}`;
  try {
    expect(await tokenRuntime.start()).toBe(true);
    expect((await page.goto(`${base}/`))?.status()).toBe(401);
    await page.goto(`${base}/?access_token=${token}`);
    await page.waitForSelector('tr[data-connector="devices"][data-state="up"]');
    const dev = await device(port, 'token-dash-dev');
    clients.push(dev);
    for (let i = 0; i < 10; i++) await dev.publishAsync(`in/${i}`, String(i), { qos: 1 });
    await waitForCell(page, 'copy', 'received', 10);
    await waitForCell(page, 'copy', 'sent', 10);
    // the page's links to its data carry the token it was opened with
    expect(await page.getAttribute('footer a[data-token]:first-child', 'href')).toBe(`api/status?access_token=${token}`);
    // its static files show nothing of what flows; the status, the stream and the metrics need the token
    for (const f of ['dashboard.js', 'dashboard.css', 'favicon.svg']) expect((await fetch(`${base}/${f}`)).status).toBe(200);
    for (const p of ['index.html', 'api/status', 'events', 'metrics']) expect((await fetch(`${base}/${p}`)).status).toBe(401);
  } catch (err) {
    console.log(`browser log:\n${log.join('\n')}`);
    throw err;
  } finally {
    await page.close();
    await tokenRuntime.stop();
    await rm(tokenDir, { recursive: true, force: true });
  }
});

/**
 * A gateway of its own for one test: an mqtt-listener that copies in/+ to out/{1}, its admin
 * server with `http` added to its settings (TLS, a token), in a temporary folder. Not started.
 */
async function copyGateway(id: string, http: string): Promise<{ runtime: Runtime; port: number; adminPort: number; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), `ferry-${id}-`));
  const port = await freePort();
  const adminPort = await freePort();
  const file = join(dir, 'routes.yaml');
  await writeFile(
    file,
    `
gateway: { id: ${id}, http: { port: ${adminPort}, host: 127.0.0.1, ${http} } }
connectors:
  devices: { type: mqtt-listener, port: ${port}, host: 127.0.0.1, anonymous: true }
routes:
  - name: copy
    from: { connector: devices, topic: "in/+" }
    to: { connector: devices, topic: "out/{1}" }
`,
  );
  return { runtime: new Runtime({ file, registry: defaultRegistry(), logger: captureLogger(), drainTimeoutMs: 1_000 }), port, adminPort, dir };
}

/** an rgb()/rgba() colour whose red exceeds its green and blue by `margin` (a red text, a pink tint) */
function reddish(css: string, margin: number): boolean {
  const m = /rgba?\((\d+), (\d+), (\d+)/.exec(css);
  if (!m) return false;
  const [r, g, b] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return r > g + margin && r > b + margin;
}
