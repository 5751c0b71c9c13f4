import type { ReadStream } from 'node:tty';
import { FerryError } from '@ferry/core';

/** The longest password read: far above any real one, and a bound on what a pipe can make us hold. */
const MAX_PASSWORD_BYTES = 4096;

/**
 * A password for `ferry passwd`. From a pipe or file: its first line (a final newline is not
 * part of the password). From a terminal: asked twice without echo, and the two must agree.
 */
export async function readPassword(input: NodeJS.ReadStream, prompt: NodeJS.WritableStream): Promise<string> {
  if (!input.isTTY) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of input) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      size += b.length;
      if (size > MAX_PASSWORD_BYTES) throw new FerryError('LIMIT_EXCEEDED', `password longer than ${MAX_PASSWORD_BYTES} bytes`);
      chunks.push(b);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const line = text.split(/\r?\n/)[0] ?? '';
    if (line === '') throw new FerryError('CONFIG_INVALID', 'empty password on stdin');
    return line;
  }
  const first = await askHidden(input, prompt, 'Password: ');
  if (first === '') throw new FerryError('CONFIG_INVALID', 'empty password');
  const second = await askHidden(input, prompt, 'Again: ');
  if (first !== second) throw new FerryError('CONFIG_INVALID', 'the two passwords differ');
  return first;
}

function askHidden(tty: ReadStream, out: NodeJS.WritableStream, question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    out.write(question);
    tty.setRawMode(true);
    tty.resume();
    let value = '';
    const done = (err?: Error): void => {
      tty.setRawMode(false);
      tty.pause();
      tty.off('data', onData);
      out.write('\n');
      if (err === undefined) resolve(value);
      else reject(err);
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new FerryError('SHUTTING_DOWN', 'interrupted'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (value.length < MAX_PASSWORD_BYTES) value += ch;
      }
    };
    tty.on('data', onData);
  });
}
