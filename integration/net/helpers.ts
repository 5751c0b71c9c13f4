import { connect as tcpConnect, type Socket } from 'node:net';
import type { InboundDelivery } from '@ferry/core';
import { Tally } from '@ferry/testkit';

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
export function lastJson<T>(what: string, r: { stdout: string; stderr: string; code: number }): T {
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (!last.startsWith('{')) throw new Error(`${what} printed no result (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(last) as T;
}
