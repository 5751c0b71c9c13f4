import { silentLogger, type FerryError, type ListenerStore } from '@ferry/core';
import { headerValue, type StompFrame } from '../frame/frame.js';
import { StompBroker } from './broker.js';
import { MemorySocket } from './memory-socket.test-util.js';
import { StompQueueStore } from './queue-store.js';
import { StompServer } from './server.js';
import { DEFAULT_SESSION_OPTIONS, type InboundSendContent, type SessionHooks } from './session.js';

/**
 * A STOMP server on in-memory sockets for the session tests: an own broker, hooks that accept
 * every login and SEND (or hold each SEND's settlement for the test to decide), no heart-beats.
 */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
export async function settle(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await tick();
}
/** The client sends `frames`, then the session has had its turns to answer them. */
export async function sent(client: MemorySocket, frames: string): Promise<void> {
  client.send(frames);
  await settle();
}

export interface Rig {
  server: StompServer;
  broker: StompBroker;
  sends: { send: InboundSendContent; resolve: () => void; reject: (e: FerryError) => void }[];
  connect(version?: string, extra?: string): Promise<MemorySocket>;
  /** a socket handed to the server that has sent nothing yet */
  attach(): MemorySocket;
}

export function rig(hooks: Partial<SessionHooks> = {}, opts: { queueBufferMessages?: number; maxUnacked?: number; hold?: boolean; store?: ListenerStore } = {}): Rig {
  const broker = new StompBroker({
    queueBufferMessages: opts.queueBufferMessages ?? 100,
    maxUnackedPerSubscription: opts.maxUnacked,
    store: opts.store === undefined ? undefined : new StompQueueStore(opts.store),
  });
  const sends: Rig['sends'] = [];
  const server = new StompServer(
    { ...DEFAULT_SESSION_OPTIONS, heartBeat: { sendMs: 0, receiveMs: 0 }, host: '127.0.0.1', port: 0, serverName: 'Ferry/test' },
    broker,
    {
      authenticate: () => true,
      acceptingSends: () => true,
      onSend: (send, settlement) => {
        if (opts.hold !== true) return false;
        sends.push({ send, resolve: () => settlement.accept(), reject: (e) => settlement.reject(e) });
        return true;
      },
      ...hooks,
    },
    silentLogger,
  );
  return {
    server,
    broker,
    sends,
    attach() {
      const s = new MemorySocket();
      server.attach(s.server);
      return s;
    },
    async connect(version = '1.2', extra = '') {
      const s = this.attach();
      s.send(`CONNECT\naccept-version:${version}\nhost:x\n${extra}\n\0`);
      await settle();
      return s;
    },
  };
}

export const last = (s: MemorySocket): StompFrame => s.frames[s.frames.length - 1] as StompFrame;

export const messages = (s: MemorySocket): StompFrame[] => s.frames.filter((f) => f.command === 'MESSAGE');
export const bodyOf = (f: StompFrame): string => f.body.toString();
export const ackId = (f: StompFrame): string => headerValue(f, 'ack') ?? '';

/** SEND frames of the bodies m1 … m`n`, in order, to `destination`. */
export const sends = (destination: string, n: number): string => Array.from({ length: n }, (_, i) => `SEND\ndestination:${destination}\n\nm${i + 1}\0`).join('');

/** The held SEND `i` is accepted, and the session has had its turns to answer. */
export async function accepted(r: Rig, i: number): Promise<void> {
  r.sends[i]?.resolve();
  await settle();
}

/**
 * Session `a` subscribes with `subscribe` (SUBSCRIBE frames), then session `p` sends m1 … m`n` to
 * `destination`; each has had its turns to answer.
 */
export async function subscribedThenSent(r: Rig, subscribe: string, destination: string, n: number): Promise<{ a: MemorySocket; p: MemorySocket }> {
  const a = await r.connect();
  await sent(a, subscribe);
  const p = await r.connect();
  await sent(p, sends(destination, n));
  return { a, p };
}
