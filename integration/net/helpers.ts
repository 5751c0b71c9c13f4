import { connect as tcpConnect, type Socket } from 'node:net';
import type { InboundDelivery } from '@ferry/core';
import { makeTestPki, Tally, type TestPki } from '@ferry/testkit';

/** A listener source that accepts every delivery and keeps its body. */
export class Taken {
  readonly bodies: string[] = [];
  readonly handler = (d: InboundDelivery): void => {
    this.bodies.push(d.message.body.toString());
    d.settlement.accept();
  };
}

/** sent vs received, counted (lost, duplicated) */
export function tally(sent: readonly string[], received: readonly string[]): Tally {
  const t = new Tally();
  for (const id of sent) t.sent(id);
  for (const id of received) t.received(id);
  return t;
}

/** A TCP connection that says nothing: what a handshake deadline is for. */
export function silentSocket(port: number): Promise<{ socket: Socket; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ port, host: '127.0.0.1', noDelay: true }, () => {
      const t0 = Date.now();
      resolve({ socket, closed: new Promise((r) => socket.once('close', () => r(Date.now() - t0))) });
    });
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}

/** Parse the JSON object a python client prints last. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the shape its python client prints: the one unchecked step is JSON.parse's, said once here
export function lastJson<T>(what: string, r: { stdout: string; stderr: string; code: number }): T {
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (!last.startsWith('{')) throw new Error(`${what} printed no result (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(last) as T;
}

/** A fresh PKI for the file's tests: made before them, removed after. */
export function testPki(): { readonly get: () => TestPki } {
  let pki: TestPki | undefined;
  beforeAll(async () => {
    pki = await makeTestPki();
  });
  afterAll(async () => {
    await pki?.remove();
  });
  return {
    get: () => {
      if (pki === undefined) throw new Error('the PKI is made in beforeAll');
      return pki;
    },
  };
}

/** A client's TLS files: whom it trusts, and the certificate it presents. */
export interface ClientTlsFiles {
  readonly ca: string;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
}

/**
 * The TLS handshakes every listener must refuse when it asks for client certificates
 * (requestCert with the test CA). `server`: the listener itself refuses (and counts it); a
 * client that distrusts the server's certificate fails on its own side.
 */
export const TLS_REFUSALS: readonly { readonly what: string; readonly files: (p: TestPki) => ClientTlsFiles; readonly server: boolean }[] = [
  { what: 'a server certificate checked against the wrong CA', files: (p) => ({ ca: p.otherCa, cert: p.client.cert, key: p.client.key }), server: false },
  { what: 'an expired client certificate', files: (p) => ({ ca: p.ca, cert: p.expiredClient.cert, key: p.expiredClient.key }), server: true },
  { what: 'no client certificate', files: (p) => ({ ca: p.ca }), server: true },
  { what: 'a client certificate of another CA', files: (p) => ({ ca: p.ca, cert: p.otherClient.cert, key: p.otherClient.key }), server: true },
];

/** The right CA and the client certificate it signed. */
export const goodTls = (p: TestPki): ClientTlsFiles => ({ ca: p.ca, cert: p.client.cert, key: p.client.key });

/** CA, certificate and key as the python clients take them: positional, the present ones. */
export function pyTlsArgs(f: ClientTlsFiles): string[] {
  return [f.ca, ...(f.cert === undefined ? [] : [f.cert, f.key ?? f.cert])];
}

/** A listener's mutual TLS with the test PKI's server certificate and CA. */
export const mutualTls = (p: TestPki) => ({ tls: { cert: p.server.cert, key: p.server.key, ca: p.ca, requestCert: true } });
