import { Writable } from 'node:stream';
import { createLogger } from './logger.js';
import { waitFor } from '@ferry/testkit';

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

describe('gateway logger levels', () => {
  it('a line below the level is not formatted (its fields are not even read), in the logger and its children', async () => {
    const out = sink();
    const logger = createLogger('warn', 'text', out.stream);
    let reads = 0;
    const fields = {
      get remote(): string {
        reads++;
        return '127.0.0.1:1';
      },
    };
    logger.debug('client connected', fields);
    logger.info('client connected', fields);
    logger.child({ connector: 'devices' }).debug('client connected', fields);
    expect(reads).toBe(0);
    logger.warn('printed', fields);
    await waitFor(() => out.text().includes('printed'), 'the warn line');
    expect(reads).toBeGreaterThan(0);
    expect(out.text()).not.toContain('client connected');
  });

  it('prints debug and info lines at level debug', async () => {
    const out = sink();
    const logger = createLogger('debug', 'text', out.stream);
    logger.debug('a debug line', { n: 1 });
    logger.child({ connector: 'devices' }).info('an info line');
    await waitFor(() => out.text().includes('an info line'), 'the info line');
    expect(out.text()).toContain('a debug line n=1');
    expect(out.text()).toContain('connector=devices');
  });
});
