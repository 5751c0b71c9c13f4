import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { FerryError } from '@ferry/core';
import type { TlsSettings } from './options.js';

/**
 * Read a TLS endpoint's files into the options of a secure context, and check they make one
 * (a key that does not fit its certificate is refused here, at start or reload, not at the
 * first client). Called at listen and again on reload: a renewed certificate is served to new
 * connections while open ones keep theirs.
 */
export async function loadTlsOptions(s: TlsSettings, baseDir: string): Promise<SecureContextOptions> {
  const read = async (what: string, p: string): Promise<Buffer> => {
    const path = resolve(baseDir, p);
    try {
      return await readFile(path);
    } catch (err) {
      throw new FerryError('CONFIG_IO', `tls.${what}: cannot read ${path}`, { cause: err });
    }
  };
  const [cert, key, ca] = await Promise.all([read('cert', s.cert), read('key', s.key), s.ca === undefined ? undefined : read('ca', s.ca)]);
  const options: SecureContextOptions = {
    cert,
    key,
    ...(ca === undefined ? {} : { ca }),
    ...(s.passphrase === undefined ? {} : { passphrase: s.passphrase }),
    minVersion: s.minVersion,
    ...(s.ciphers === undefined ? {} : { ciphers: s.ciphers }),
  };
  try {
    createSecureContext(options);
  } catch (err) {
    throw new FerryError('CONFIG_INVALID', `tls: the certificate, key or CA is not usable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return options;
}
