import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { FerryError } from '@ferry/core';
import { z } from 'zod';

/** TLS of a client connector (stomp+ssl://, wss://): whom to trust, and who Ferry is. */
export const clientTlsSettings = z.strictObject({
  ca: z.string().min(1).optional().describe("PEM file of the CA(s) the broker's certificate must chain to; default: the system's CAs. Relative to the route file"),
  cert: z.string().min(1).optional().describe('PEM client certificate file, for brokers that ask for one (mutual TLS)'),
  key: z.string().min(1).optional().describe('PEM private key file of `cert`'),
  passphrase: z.string().optional().describe('passphrase of an encrypted `key`'),
  servername: z.string().min(1).optional().describe("the name the broker's certificate must carry (and SNI), when it differs from the URL's host"),
  rejectUnauthorized: z.boolean().default(true).describe("refuse a broker whose certificate does not verify; false only for tests"),
});

export type ClientTlsSettings = z.infer<typeof clientTlsSettings>;

/** Read a client's TLS files into node:tls connection options. */
export async function loadClientTls(s: ClientTlsSettings, baseDir: string): Promise<ConnectionOptions> {
  const read = async (what: string, p: string | undefined): Promise<Buffer | undefined> => {
    if (p === undefined) return undefined;
    const path = resolve(baseDir, p);
    try {
      return await readFile(path);
    } catch (err) {
      throw new FerryError('CONFIG_IO', `tls.${what}: cannot read ${path}`, { cause: err });
    }
  };
  const [ca, cert, key] = await Promise.all([read('ca', s.ca), read('cert', s.cert), read('key', s.key)]);
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(s.passphrase === undefined ? {} : { passphrase: s.passphrase }),
    ...(s.servername === undefined ? {} : { servername: s.servername }),
    rejectUnauthorized: s.rejectUnauthorized,
  };
}
