import { Settlement, type Outcome } from '@ferry/core';
import type { RoomTicket } from './room-wait.js';
import type { PublishDecision } from './types.js';

/** what a held publish is answered through: the intake of the connection it came on */
export interface HeldPublishOwner {
  /** the engine's outcome */
  settled(p: HeldPublish, outcome: Outcome): void;
  /** a decision of the listener's own, for a publish never handed to the engine */
  decided(p: HeldPublish, d: PublishDecision): void;
}

/**
 * A client's QoS 1/2 PUBLISH while the engine settles it, and its settlement: the one object the
 * listener keeps per publish in flight (path A holds a window of them while its destination
 * confirms), holding only what the PUBACK / PUBREC needs: the packet identifier, the QoS and the
 * connection's intake. Settle-once is Settlement's own; the outcome goes to the intake, which
 * answers the client (publish-intake.ts).
 */
export class HeldPublish extends Settlement {
  readonly #owner: HeldPublishOwner;
  readonly id: number;
  readonly qos: 1 | 2;
  /**
   * what the answer waits for beyond the settlement: the room its copies wait for in full
   * session queues (room-wait.ts), or, with a listener store, the durability of what routing it
   * wrote; undefined for nearly every publish
   */
  after: RoomTicket | Promise<void> | undefined;

  constructor(owner: HeldPublishOwner, id: number, qos: 1 | 2) {
    super();
    this.#owner = owner;
    this.id = id;
    this.qos = qos;
  }

  /** answer with the listener's own decision (the publish was not handed to the engine) */
  decide(d: PublishDecision): void {
    this.#owner.decided(this, d);
  }

  protected override onSettled(outcome: Outcome): void {
    this.#owner.settled(this, outcome);
  }
}
