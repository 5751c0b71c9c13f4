import type { Logger } from '@ferry/core';
import { DEAD_PEER_FACTOR, type AgreedHeartBeat } from './heartbeat.js';

/** What the monitor does to its session. */
export interface HeartBeatActions {
  /** whether Ferry itself stopped reading the socket (flow control, pending SENDs) */
  readPaused(): boolean;
  /** write one heart-beat (an EOL) */
  beat(): void;
  /** the client went over the idle time-out (the option's name) */
  limitExceeded?(limit: string, details: Record<string, unknown>): void;
  /** the peer is dead: ERROR with `message`, then destroy the socket at once */
  dead(message: string): void;
}

/**
 * The heart-beats of one connected session (STOMP 1.2 §Heart-beating), once negotiated: an EOL
 * whenever the server wrote nothing for the interval it agreed to send at, and the peer judged
 * dead when it sent nothing within twice the interval it agreed to (DEAD_PEER_FACTOR), or,
 * without client heart-beats, within the idle time-out.
 */
export class HeartBeatMonitor {
  #lastRead = Date.now();
  #lastWrite = Date.now();
  #sendTimer: NodeJS.Timeout | undefined;
  #checkTimer: NodeJS.Timeout | undefined;

  /** something arrived from the peer */
  read(): void {
    this.#lastRead = Date.now();
  }

  /** something was written to the peer */
  wrote(): void {
    this.#lastWrite = Date.now();
  }

  /** `idleTimeoutMs`: the silence allowed a client that sends no heart-beats (0: any) */
  start(agreed: AgreedHeartBeat, idleTimeoutMs: number, log: Logger, actions: HeartBeatActions): void {
    const { serverSendsMs, clientSendsMs } = agreed;
    if (serverSendsMs > 0) {
      // Tick at half the interval and send an EOL when nothing was written for half of it:
      // the gap between two writes then never exceeds the interval.
      const half = Math.max(1, Math.floor(serverSendsMs / 2));
      this.#sendTimer = setInterval(() => {
        if (Date.now() - this.#lastWrite >= half) actions.beat();
      }, half);
    }
    // with client heart-beats: twice the agreed interval; without: the idle time-out
    const limit = clientSendsMs > 0 ? clientSendsMs * DEAD_PEER_FACTOR : idleTimeoutMs;
    if (limit <= 0) return;
    this.#checkTimer = setInterval(
      () => {
        // while Ferry itself stops reading (flow control, pending SENDs), the silence is ours
        if (actions.readPaused()) this.#lastRead = Date.now();
        const silent = Date.now() - this.#lastRead;
        if (silent <= limit) return;
        if (clientSendsMs > 0) {
          log.info('stomp peer sent nothing within twice the heart-beat interval: closing', { silentMs: silent, intervalMs: clientSendsMs });
          actions.dead(`no heart-beat for ${silent} ms (agreed interval ${clientSendsMs} ms)`);
        } else {
          actions.limitExceeded?.('heartBeat.idleTimeoutMs', { silentMs: silent });
          log.info('stomp client without heart-beats sent nothing within the idle time-out: closing', { silentMs: silent, idleTimeoutMs });
          actions.dead(`idle for ${silent} ms without heart-beats (the server closes silent connections after ${idleTimeoutMs} ms: offer heart-beat cx > 0 to stay connected while idle)`);
        }
      },
      Math.max(1, Math.floor((clientSendsMs > 0 ? clientSendsMs : Math.min(idleTimeoutMs, 60_000)) / 2)),
    );
  }

  stop(): void {
    if (this.#sendTimer !== undefined) clearInterval(this.#sendTimer);
    if (this.#checkTimer !== undefined) clearInterval(this.#checkTimer);
    this.#sendTimer = undefined;
    this.#checkTimer = undefined;
  }
}
