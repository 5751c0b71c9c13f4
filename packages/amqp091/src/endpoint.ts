import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Options, SocketOptions } from 'amqplib';
import { FerryError } from '@ferry/core';
import type { Amqp091Options } from './options.js';

/** What one connect attempt needs: amqplib's connect arguments and a password-free display name. */
export interface Endpoint {
  readonly connect: Options.Connect;
  readonly socket: SocketOptions;
  /** `amqp://user@host:port/vhost`, never the password: for logs */
  readonly display: string;
  readonly username: string;
}

/**
 * Options → amqplib's object form of connect. Parsing the URL here (rather than handing amqplib
 * the string) lets separate `username`/`password` override the URL's and keeps the password out
 * of every log line. TLS files are read here, at connect time, never in a constructor.
 */
export async function resolveEndpoint(options: Amqp091Options, baseDir: string, connectionName: string): Promise<Endpoint> {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch (err) {
    throw new FerryError('CONFIG_INVALID', `url is not a valid URL`, { cause: err, permanent: true });
  }
  const tls = url.protocol === 'amqps:';
  if (!tls && url.protocol !== 'amqp:') {
    throw new FerryError('CONFIG_INVALID', `url must start with amqp:// or amqps://, not ${url.protocol}//`, { permanent: true });
  }
  // amqplib's defaults when the URL has no credentials (lib/connect.js credentialsFromUrl).
  const urlUser = url.username !== '' || url.password !== '' ? decodeURIComponent(url.username) : 'guest';
  const urlPass = url.username !== '' || url.password !== '' ? decodeURIComponent(url.password) : 'guest';
  const username = options.username ?? urlUser;
  const password = options.password ?? urlPass;
  // The vhost is the whole path after the first '/', percent-decoded; none means '/'.
  const path = url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : '/';
  const port = url.port !== '' ? Number(url.port) : tls ? 5671 : 5672;
  const hostname = url.hostname.replace(/^\[|\]$/g, '');

  const socket: SocketOptions = {
    // Nagle off: small messages at low rates otherwise wait ~40 ms (Nagle's algorithm waiting on the peer's delayed ACK).
    noDelay: true,
    timeout: options.connectTimeoutMs,
    clientProperties: { connection_name: connectionName },
  };
  if (tls && options.tls !== undefined) {
    const t = options.tls;
    const file = async (f: string | undefined): Promise<Buffer | undefined> => (f === undefined ? undefined : readFile(resolve(baseDir, f)));
    try {
      const [ca, cert, key] = await Promise.all([file(t.ca), file(t.cert), file(t.key)]);
      if (ca !== undefined) socket.ca = ca;
      if (cert !== undefined) socket.cert = cert;
      if (key !== undefined) socket.key = key;
    } catch (err) {
      throw new FerryError('CONFIG_IO', `cannot read a TLS file`, { cause: err });
    }
    if (t.passphrase !== undefined) socket.passphrase = t.passphrase;
    if (t.servername !== undefined) socket.servername = t.servername;
    socket.rejectUnauthorized = t.rejectUnauthorized;
  }
  return {
    connect: {
      protocol: tls ? 'amqps' : 'amqp',
      hostname,
      port,
      username,
      password,
      // amqplib unescapes the vhost once more (lib/connect.js openFrames: QS.unescape)
      vhost: encodeURIComponent(path),
      heartbeat: options.heartbeat,
    },
    socket,
    display: `${tls ? 'amqps' : 'amqp'}://${username}@${url.host}/${encodeURIComponent(path)}`,
    username,
  };
}
