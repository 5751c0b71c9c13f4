/**
 * The page of the browser-client tests: a test page served from a tiny local HTTP server with
 * the real browser builds of mqtt.js and @stomp/stompjs from node_modules, and the typed handle
 * the tests drive them through (integration/browser/page/clients.js runs in the page).
 */
import type { Page } from 'playwright-core';
import { StaticServer } from '@ferry/testkit';

/** one message to publish: a text body, or bytes */
export type OutMessage = ({ readonly body: string } | { readonly bytes: readonly number[] }) & ({ readonly topic: string } | { readonly destination: string });

interface InMessage {
  /** topic (MQTT) or destination (STOMP) it arrived on */
  readonly at: string;
  readonly bytes: readonly number[];
}

/** window.ferryClients, as page/clients.js defines it */
interface FerryClients {
  readonly received: { readonly mqtt: InMessage[]; readonly stomp: InMessage[] };
  readonly errors: string[];
  libraries(): { mqtt: string; stomp: string };
  mqttConnect(url: string, clientId: string, protocolVersion: 4 | 5): Promise<boolean>;
  mqttSubscribe(filter: string): Promise<number[]>;
  mqttPublish(messages: readonly OutMessage[], window: number): Promise<number>;
  mqttEnd(): Promise<void> | undefined;
  stompConnect(url: string, login?: string, passcode?: string): Promise<string>;
  stompSubscribe(destination: string): Promise<boolean>;
  stompPublish(messages: readonly OutMessage[], window: number): Promise<number>;
  stompSubprotocol(): string;
  stompEnd(): Promise<void> | undefined;
}

declare global {
  interface Window {
    ferryClients: FerryClients;
  }
}

/** The test page with the libraries' browser bundles, exactly as published on npm. */
export function clientsPageServer(): StaticServer {
  return new StaticServer({
    '/': { file: 'integration/browser/page/index.html', type: 'text/html; charset=utf-8' },
    '/clients.js': { file: 'integration/browser/page/clients.js', type: 'text/javascript; charset=utf-8' },
    '/mqtt.min.js': { file: 'node_modules/mqtt/dist/mqtt.min.js', type: 'text/javascript; charset=utf-8' },
    '/stomp.umd.min.js': { file: 'node_modules/@stomp/stompjs/bundles/stomp.umd.min.js', type: 'text/javascript; charset=utf-8' },
  });
}

/** Open the page and wait until both libraries loaded. */
export async function openClientsPage(page: Page, base: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
  const libs = await page.evaluate(() => window.ferryClients.libraries());
  if (libs.mqtt !== 'object' || libs.stomp !== 'object') throw new Error(`the browser builds did not load: ${JSON.stringify(libs)}`);
}

/** what a client in the page received so far, decoded as text where the test sent text */
export function receivedTexts(page: Page, client: 'mqtt' | 'stomp'): Promise<string[]> {
  return page.evaluate((c) => window.ferryClients.received[c].map((m) => new TextDecoder().decode(new Uint8Array(m.bytes))), client);
}
