/**
 * Secrets never printed, at the two roots every output goes through: the gateway's logger (every
 * connector's log lines) and route-file errors (`validate`, `explain`, `start`, a refused reload).
 */
import { Writable } from 'node:stream';
import { parseConfig } from '@ferry/config';
import { createLogger } from './logger.js';
import { defaultRegistry } from './registry.js';
import { waitFor } from '@ferry/testkit';

/** A logger writing into a string, as the gateway's logger writes to stderr. */
function captured(format: 'text' | 'json'): { logger: ReturnType<typeof createLogger>; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { logger: createLogger('info', format, stream), text: () => text };
}

describe('secrets in log lines', () => {
  it("the mqtt connector's retry warning (its URL as a field, the error quoting it) shows no password, in text and json", async () => {
    for (const format of ['text', 'json'] as const) {
      // the line packages/mqtt/src/client/connector.ts writes while its broker is away
      const url = 'mqtt://ferry:hunter2@127.0.0.1:1884';
      const c = captured(format);
      c.logger.child({ connector: 'plant' }).warn('MQTT connection failing; retrying with backoff', { url, error: `connect ECONNREFUSED ${url}` });
      await waitFor(() => c.text().includes('retrying'), 'the log line');
      const all = c.text();
      expect(all).toContain('mqtt://ferry:***@127.0.0.1:1884');
      expect(all).not.toContain('hunter2');
    }
  });

  it('fields named like secrets are replaced in every line, children included', async () => {
    const c = captured('json');
    c.logger.child({ connector: 'x', token: 'tok-1' }).error('reload refused: cannot connect amqp://guest:guest-pw@rabbit', { options: { password: 'pw-2', url: 'stomp://u:pw-3@h' } });
    await waitFor(() => c.text().includes('reload refused'), 'the log line');
    const line = c.text();
    for (const s of ['tok-1', 'guest-pw', 'pw-2', 'pw-3']) expect(line).not.toContain(s);
    expect(line).toContain('amqp://guest:***@rabbit');
  });
});

describe('secrets in route-file errors', () => {
  it('a wrong value of a password field, and a URL with a password, are not repeated back', () => {
    const yaml = [
      'connectors:',
      '  plant: { type: mqtt, url: "ftp://ferry:hunter2@broker:1883", password: 8675309 }',
      '  web: { type: stomp-listener, port: 61613, users: [{ login: a, passcode: "$scrypt$broken-hunter4" }] }',
      'routes:',
      '  - { name: r, from: { connector: plant, topic: "a/#" }, to: { connector: web, destination: "/topic/a" } }',
      '',
    ].join('\n');
    const r = parseConfig(yaml, 'secret.yaml', defaultRegistry(), { env: {} });
    expect(r.ok).toBe(false);
    const text = r.ok ? '' : r.errors.map((e) => e.format()).join('\n');
    expect(text).toContain('connectors.plant.url');
    expect(text).toContain('connectors.plant.password');
    expect(text).toContain('passcode');
    for (const s of ['hunter2', '8675309', 'hunter4']) expect(text).not.toContain(s);
  });
});
