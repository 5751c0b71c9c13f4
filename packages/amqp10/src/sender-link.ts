/**
 * One unsettled sending link to one address (the amqp10 sink's link cache holds these).
 *
 * A write resolves only on the peer's `accepted` (AMQP 1.0 §3.4.2); other outcomes fail it
 * (./outcomes.ts). Messages go out only while the link has credit (§2.6.7) and fewer than
 * `maxInflight` are unsettled; the rest wait here, in order. When the link or its connection
 * goes away, every unsettled and waiting write fails at once (transient): the peer's state of
 * those deliveries is unknown, so the source gets them back for redelivery.
 *
 * Each link has its own session: RabbitMQ 3.10 maps a session to an AMQP 0-9-1 channel and
 * answers an unknown exchange by ENDING THE SESSION (amqp:not-found), which would take every
 * other link of a shared session with it (docs/mapping/amqp10.md, "RabbitMQ findings").
 */
import { FerryError, type Logger } from '@ferry/core';
import type rhea from 'rhea';
import { stampTtl, type Outgoing } from './mapping.js';
import { outcomeError, peerError } from './outcomes.js';

/** rhea keeps a link's credit in `credit` (lib/link.js); its typings do not declare it. */
type WithCredit = rhea.Sender & { readonly credit: number };

interface Waiting {
  readonly out: Outgoing;
  readonly resolve: () => void;
  readonly reject: (e: FerryError) => void;
}

export interface SenderLinkOptions {
  readonly address: string;
  readonly maxInflight: number;
  readonly logger: Logger;
  /** called once the link is gone (closed by the peer or by failure), to drop it from a cache */
  readonly onGone: (link: SenderLink) => void;
}

export class SenderLink {
  readonly address: string;
  readonly #sender: rhea.Sender;
  readonly #session: rhea.Session;
  readonly #opts: SenderLinkOptions;
  readonly #pending = new Map<rhea.Delivery, Waiting>();
  readonly #queue: Waiting[] = [];
  /**
   * Deliveries handed to rhea in this turn of the event loop. rhea lowers `credit` only when
   * it writes the transfer (on the next tick), so within one turn we count ourselves.
   */
  #burst = 0;
  #burstReset: NodeJS.Immediate | undefined;
  #open = false;
  #gone = false;

  constructor(connection: rhea.Connection, opts: SenderLinkOptions) {
    this.address = opts.address;
    this.#opts = opts;
    this.#session = connection.create_session();
    this.#session.begin();
    this.#sender = this.#session.attach_sender({
      target: { address: opts.address },
      // unsettled: the peer settles, we wait for its outcome (§2.7.3 snd-settle-mode unsettled)
      snd_settle_mode: 0,
      autosettle: true,
      // rhea would report `modified` as `released`; undeliverable-here matters to us
      treat_modified_as_released: false,
    });
    const s = this.#sender;
    this.#session.on('session_error', () => undefined);
    this.#session.on('session_close', () => {
      const err = peerError(this.#session.error);
      this.#lostTo(err, 'session ended by the peer');
    });
    s.on('sender_open', () => {
      this.#open = true;
      this.#pump();
    });
    s.on('sendable', () => this.#pump());
    s.on('accepted', (ctx: rhea.EventContext) => this.#settle(ctx.delivery, undefined));
    s.on('rejected', (ctx: rhea.EventContext) => this.#settle(ctx.delivery, outcomeError('rejected', ctx.delivery?.remote_state, this.address)));
    s.on('released', (ctx: rhea.EventContext) => this.#settle(ctx.delivery, outcomeError('released', ctx.delivery?.remote_state, this.address)));
    s.on('modified', (ctx: rhea.EventContext) => this.#settle(ctx.delivery, outcomeError('modified', ctx.delivery?.remote_state, this.address)));
    // settled without an outcome we know: its fate is unknown, so it is redelivered (transient)
    s.on('settled', (ctx: rhea.EventContext) =>
      this.#settle(ctx.delivery, new FerryError('SINK_REJECTED', `AMQP 1.0 peer settled a message for ${this.address} without an outcome`, { details: { outcome: 'none' } })),
    );
    // handling sender_error keeps rhea from raising it on the container as an 'error' event
    s.on('sender_error', () => undefined);
    s.on('sender_close', () => this.#lostTo(peerError(s.error), 'link closed by the peer'));
  }

  #lostTo(err: ReturnType<typeof peerError>, what: string): void {
    if (this.#gone) return;
    // §2.6.3 / RabbitMQ: a node that does not exist is refused with amqp:not-found; retrying
    // the same address cannot help, so those writes fail permanently
    const permanent = err?.condition === 'amqp:not-found' || err?.condition === 'amqp:unauthorized-access';
    const e = new FerryError(permanent ? 'SINK_UNROUTABLE' : 'SINK_CLOSED', `AMQP 1.0 ${what} for ${this.address}${err === undefined ? '' : ` (${err.condition}${err.description === undefined ? '' : `: ${err.description}`})`}`, {
      permanent,
      details: { ...(err ?? {}) },
    });
    this.#opts.logger.warn(`amqp10 ${what} for ${this.address}`, { error: e.message });
    this.fail(e);
  }

  get inflight(): number {
    return this.#pending.size;
  }

  get waiting(): number {
    return this.#queue.length;
  }

  write(out: Outgoing): Promise<void> {
    if (this.#gone) return Promise.reject(new FerryError('SINK_CLOSED', `AMQP 1.0 link to ${this.address} is closed`));
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ out, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    const s = this.#sender;
    while (this.#queue.length > 0 && this.#open && !this.#gone && s.sendable() && (s as WithCredit).credit - this.#burst > 0 && this.#pending.size < this.#opts.maxInflight) {
      const w = this.#queue.shift() as Waiting;
      // a pre-encoded payload with an explicit message-format is sent as is (rhea
      // lib/link.js Sender.send: `format === undefined ? message.encode(msg) : msg`), its ttl
      // the time left now that it leaves (§3.2.1), after any wait for credit
      const d = s.send(stampTtl(w.out, Date.now()), undefined, w.out.format);
      this.#pending.set(d, w);
      this.#burst++;
      this.#burstReset ??= setImmediate(() => {
        this.#burstReset = undefined;
        this.#burst = 0;
        this.#pump();
      });
    }
  }

  #settle(d: rhea.Delivery | undefined, err: FerryError | undefined): void {
    if (d === undefined) return;
    const w = this.#pending.get(d);
    if (w === undefined) return;
    this.#pending.delete(d);
    if (err === undefined) w.resolve();
    else w.reject(err);
    this.#pump();
  }

  /** Fail every unsettled and waiting write, and forget the link. */
  fail(err: FerryError): void {
    if (this.#gone) return;
    this.#gone = true;
    if (this.#burstReset !== undefined) clearImmediate(this.#burstReset);
    const all = [...this.#pending.values(), ...this.#queue.splice(0)];
    this.#pending.clear();
    for (const w of all) w.reject(err);
    this.#opts.onGone(this);
    try {
      // ending the session detaches its one link (§2.5.4)
      if (this.#session.is_open()) this.#session.close();
    } catch {
      // the connection may be gone already
    }
  }

  /** Detach (on stop); waiting writes fail. */
  close(): void {
    this.fail(new FerryError('SHUTTING_DOWN', `AMQP 1.0 link to ${this.address} closed by Ferry`));
  }
}
