/**
 * Finds the publish a broker closes the connection on, so it is not sent again forever.
 *
 * A broker that cannot take a PUBLISH closes the connection (MQTT 5 §4.13; Mosquitto does so for
 * a topic beyond its level limit, in 3.1.1 and 5 alike), and mqtt.js keeps its stored copy and
 * sends it first on every new connection (§4.4), which closes that one too: one message keeps the
 * link down. Which of the publishes in flight was the cause cannot be read from the close: the
 * acknowledgements of the ones before it may be lost with it (a close with unread input is a
 * TCP reset).
 *
 * So Ferry resends its unacknowledged publishes itself instead of leaving them in mqtt.js's
 * store: after a close the broker caused, one at a time, each only after the one before was
 * acknowledged ("serial"), until all of them went through. A publish that is the only one in
 * flight when the broker closes the connection, twice in a row, is the cause: it is failed
 * permanently. A close Ferry asked for, or one the broker explains with a DISCONNECT saying it
 * is going away or busy, resends everything at once and counts for nothing.
 */
export interface Tracked {
  /** order of the publishes, oldest first */
  readonly seq: number;
  /** (re)send it on the current connection */
  readonly send: () => void;
  /** fail its write (the connector stops while it waits to be sent again) */
  readonly fail: (err: Error) => void;
  /** the connection (by number) it was last written on */
  sentOn: number;
  /** set while it is taken out of mqtt.js's store to be sent again by Ferry */
  requeue: boolean;
  /** set when it was found to be the cause: its callback fails it permanently */
  poison: boolean;
}

/** MQTT 5 DISCONNECT reasons that say nothing about the messages (§3.14.2.1) */
const INNOCENT_DISCONNECT = new Set([
  0x00, // normal
  0x89, // server busy
  0x8b, // server shutting down
  0x8d, // keep alive timeout
  0x8e, // session taken over
  0x9c, // use another server
  0x9d, // server moved
  0xa0, // maximum connect time
]);

export class PoisonWatch {
  readonly #strikes: number;
  #seq = 0;
  #connection = 0;
  #up = false;
  #innocent = false;
  /** one publish at a time until the ones waiting went through */
  #serial = false;
  /** the one publish in flight while serial */
  #probe: Tracked | undefined;
  #suspect: { t: Tracked; strikes: number } | undefined;
  /** waiting to be sent by Ferry, oldest first */
  #waiting: Tracked[] = [];

  constructor(strikes: number) {
    this.#strikes = strikes;
  }

  get serial(): boolean {
    return this.#serial;
  }

  /** a new publish; `send` publishes it (again) on the current connection */
  track(send: () => void, fail: (err: Error) => void): Tracked {
    return { seq: ++this.#seq, send, fail, sentOn: -1, requeue: false, poison: false };
  }

  /** the publishes waiting to be sent again, handed over (the connector stops) */
  drain(): Tracked[] {
    this.#probe = undefined;
    return this.#waiting.splice(0);
  }

  /** send now, or after the ones before it while serial */
  submit(t: Tracked): void {
    if (!this.#serial) {
      t.send();
      return;
    }
    this.#enqueue(t);
    this.#pump();
  }

  /** a new connection is up: send what waits */
  connected(): void {
    this.#connection++;
    this.#up = true;
    this.#innocent = false;
    this.#pump();
  }

  /** the publish was written on the current connection */
  sent(t: Tracked): void {
    t.sentOn = this.#connection;
  }

  /** the publish was acknowledged, refused by the broker or failed: the next one may go */
  settled(t: Tracked): void {
    if (this.#probe === t) {
      this.#probe = undefined;
      if (this.#suspect?.t === t) this.#suspect = undefined;
    }
    this.#waiting = this.#waiting.filter((w) => w !== t);
    this.#pump();
  }

  /** the close about to come is Ferry's own doing, or the broker said why (MQTT 5 DISCONNECT) */
  closingFor(reasonCode: number | 'ferry'): void {
    if (reasonCode === 'ferry' || INNOCENT_DISCONNECT.has(reasonCode)) this.#innocent = true;
  }

  /**
   * The connection closed with `unacked` still in mqtt.js's store. Each comes back through
   * {@link requeued} once the caller took it out of the store (marked `requeue`), except the one
   * found to be the cause (marked `poison`), which the caller fails.
   */
  closed(unacked: readonly Tracked[]): void {
    this.#up = false;
    const written = unacked.some((t) => t.sentOn === this.#connection);
    if (!this.#innocent && written) {
      const probe = this.#probe;
      if (this.#serial && probe?.sentOn === this.#connection && unacked.includes(probe)) {
        const strikes = this.#suspect?.t === probe ? this.#suspect.strikes + 1 : 1;
        this.#suspect = { t: probe, strikes };
        if (strikes >= this.#strikes) {
          this.#suspect = undefined;
          probe.poison = true;
        }
      }
      this.#serial = true;
    }
    this.#probe = undefined;
    for (const t of unacked) if (!t.poison) t.requeue = true;
  }

  /** a publish taken out of mqtt.js's store after a close: Ferry sends it again */
  requeued(t: Tracked): void {
    t.requeue = false;
    this.#enqueue(t);
    this.#pump();
  }

  #enqueue(t: Tracked): void {
    if (this.#waiting.includes(t)) return;
    this.#waiting.push(t);
    this.#waiting.sort((a, b) => a.seq - b.seq);
  }

  #pump(): void {
    if (!this.#up) return;
    if (!this.#serial) {
      for (const t of this.#waiting.splice(0)) t.send();
      return;
    }
    if (this.#probe !== undefined) return;
    const next = this.#waiting.shift();
    if (next === undefined) {
      // everything that waited went through: back to sending freely
      this.#serial = false;
      return;
    }
    this.#probe = next;
    next.send();
  }
}
