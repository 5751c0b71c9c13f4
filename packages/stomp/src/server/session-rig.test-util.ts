import { silentLogger, type FerryError } from '@ferry/core';
import { headerValue, type StompFrame } from '../frame/frame.js';
import { StompBroker } from './broker.js';
import { MemorySocket } from './memory-socket.test-util.js';
import { StompServer } from './server.js';
import { DEFAULT_SESSION_OPTIONS, type InboundSend, type SessionHooks } from './session.js';

/**
 * A STOMP server on in-memory sockets for the session tests: an own broker, hooks that accept
 * every login and SEND (or hold each SEND's settlement for the test to decide), no heart-beats.
 */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
export async function settle(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await tick();
}

export interface Rig {
  server: StompServer;
  broker: StompBroker;
  sends: { send: InboundSend; resolve: () => void; reject: (e: FerryError) => void }[];
  connect(version?: string, extra?: string): Promise<MemorySocket>;
}

export function rig(hooks: Partial<SessionHooks> = {}, opts: { queueBufferMessages?: number; maxUnacked?: number; hold?: boolean } = {}): Rig {
  const broker = new StompBroker({ queueBufferMessages: opts.queueBufferMessages ?? 100, maxUnackedPerSubscription: opts.maxUnacked });
  const sends: Rig['sends'] = [];
  const server = new StompServer(
    { ...DEFAULT_SESSION_OPTIONS, heartBeat: { sendMs: 0, receiveMs: 0 }, host: '127.0.0.1', port: 0, serverName: 'Ferry/test' },
    broker,
    {
      authenticate: () => true,
      acceptingSends: () => true,
      onSend: (send) =>
        opts.hold === true
          ? new Promise<void>((resolve, reject) => {
              sends.push({ send, resolve, reject });
            })
          : undefined,
      ...hooks,
    },
    silentLogger,
  );
  return {
    server,
    broker,
    sends,
    async connect(version = '1.2', extra = '') {
      const s = new MemorySocket();
      server.attach(s.server);
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
