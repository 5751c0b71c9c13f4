/**
 * rhea 3.0.5's session-level receipt of a transfer (lib/session.js `Incoming.prototype.on_transfer`),
 * with each delivery an instance of one class instead of an object literal with six closures.
 *
 * rhea makes, for every delivery, an object and six functions (`update`, `accept`, `release`,
 * `reject`, `modified`, and the one `update` calls through), then removes `frames` with `delete`,
 * which turns the object into a dictionary. Here the same state goes into an `IncomingDelivery`
 * whose methods live on its prototype and do what rhea's closures do, in the same order: the
 * session's counters (next transfer id, next delivery id), the deliveries buffer (what the incoming
 * window and the disposition writer read), the link's credit and delivery count, the checks and
 * their error texts, and the `message` event with rhea's context, or, for a receiver of
 * receiveDirect (./rhea-seam.ts), its one handler with the delivery and its bytes. Three differences a user can
 * see, none used by rhea or Ferry: `frames` is set to undefined instead of deleted, the session's
 * Incoming is a private field of the delivery, and accepted deliveries share one state object;
 * and a delivery on a receiver of receiveDirect has no `tag`. rhea-incoming.test.ts runs rhea's own function and
 * this one over the same transfers and compares the state they leave.
 */
import { createRequire } from 'node:module';
import { writeDispositions, type DispositionFrames, type SettledDelivery } from './disposition-writer.js';

/** rhea's delivery state objects (lib/message.js), as `update` gets them */
type State = unknown;

/** The parts of rhea's message module the receipt uses, looked up at each call (installCapture replaces decode). */
interface MessageModule {
  decode(buffer: Buffer): unknown;
  accepted(): { described(): State };
  released(): { described(): State };
  rejected(fields: { error: unknown }): { described(): State };
  modified(params: unknown): { described(): State };
}

/** What rhea's Incoming keeps (lib/session.js Incoming). */
export interface IncomingInternals {
  next_transfer_id: number;
  /** null when a peer sent a null delivery-id first: rhea keeps it */
  next_delivery_id: number | null | undefined;
  deliveries: { push(d: IncomingDelivery): void };
  update(delivery: IncomingDelivery, settled: boolean | null, state: State): void;
}

/** What rhea's Receiver keeps (lib/link.js). */
export interface ReceiverInternals {
  is_remote_open(): boolean;
  _incomplete: IncomingDelivery | undefined;
  credit: number;
  delivery_count: number;
  local: { attach: { rcv_settle_mode?: number } };
  _context(c: Record<string, unknown>): unknown;
  dispatch(name: string, context: unknown): unknown;
  /** set by receiveDirect (./rhea-seam.ts): the one handler of its completed deliveries */
  [DIRECT]?: DirectReceipt;
  /** whether a settlement without its own `settled` settles (not rcv-settle-mode second): read once per link */
  [SETTLES]?: boolean;
}

/**
 * What a receiver of receiveDirect (./rhea-seam.ts) is handed for each delivery it completes:
 * the delivery and its encoded message (undefined when its transfers carried no payload), as the
 * `message` event would carry them for a message-format other than 0.
 */
export type DirectReceipt = (delivery: IncomingDelivery, data: Buffer | undefined) => void;

/** The key of a receiver's DirectReceipt: on the receiver itself, read once per delivery. */
export const DIRECT = Symbol('ferry.amqp10.direct-receipt');

/**
 * The key of a receiver's settle mode as update reads it. rhea reads `local.attach.rcv_settle_mode`
 * on every settlement, through a getter that unwraps its typed field (lib/types.js); the local
 * attach is written once when the link is made (lib/link.js) and sent in the attach, which
 * comes before any delivery of the link (§2.6.3), so the first settlement's reading holds for the rest.
 */
const SETTLES = Symbol('ferry.amqp10.settles');

/** A transfer's fields as rhea's reader gives them (./rhea-transfer-frame.ts, or rhea's composite). */
export interface TransferFrameIn {
  readonly performative: {
    readonly delivery_id?: unknown;
    readonly delivery_tag?: unknown;
    readonly message_format?: unknown;
    readonly settled?: unknown;
    readonly state?: unknown;
    readonly more?: unknown;
  };
  readonly payload?: Buffer;
}

const require = createRequire(import.meta.url);
const message = require('rhea/lib/message.js') as MessageModule;
const frames = require('rhea/lib/frames.js') as DispositionFrames;

/** An incoming delivery with rhea's fields and methods (lib/session.js Incoming.on_transfer). */
export class IncomingDelivery {
  readonly id: unknown;
  readonly tag: unknown;
  readonly format: unknown;
  readonly link: ReceiverInternals;
  settled = false;
  state: State = undefined;
  remote_settled: unknown;
  remote_state: unknown;
  frames: (Buffer | undefined)[] | undefined;
  incomplete: unknown = undefined;
  readonly #incoming: IncomingInternals;

  constructor(incoming: IncomingInternals, receiver: ReceiverInternals, frame: TransferFrameIn) {
    const p = frame.performative;
    this.id = p.delivery_id;
    // a direct receiver's handler settles by delivery-id (§2.7.6) and never reads the tag: not
    // kept, the tag's view of the frame is not held for as long as the delivery is unsettled
    this.tag = receiver[DIRECT] === undefined ? p.delivery_tag : undefined;
    this.format = p.message_format;
    this.link = receiver;
    this.remote_settled = p.settled === undefined ? false : p.settled;
    this.remote_state = p.state;
    // a delivery in one frame (no `more`, §2.7.5) needs no list of its frames: rhea's is emptied before its handler sees it
    this.frames = p.more ? [frame.payload] : undefined;
    this.#incoming = incoming;
  }

  update(settled: boolean | null | undefined, state: State): void {
    // rhea: unsettled by default only in rcv-settle-mode second (§2.8.3); a null is kept, as rhea keeps it
    const r = this.link;
    this.#incoming.update(this, settled === undefined ? (r[SETTLES] ??= r.local.attach.rcv_settle_mode !== 1) : settled, state);
  }

  accept(): void {
    this.update(undefined, accepted());
  }

  release(params?: unknown): void {
    if (params) this.update(undefined, message.modified(params).described());
    else this.update(undefined, message.released().described());
  }

  reject(error?: unknown): void {
    this.update(undefined, message.rejected({ error }).described());
  }

  modified(params?: unknown): void {
    this.update(undefined, message.modified(params).described());
  }
}

/**
 * The accepted outcome (§3.4.2), made once: it has no fields, rhea only reads it (to compare
 * outcomes and to write the disposition), so every accepted delivery can share it.
 */
let acceptedState: { readonly state: State } | undefined;
function accepted(): State {
  acceptedState ??= { state: message.accepted().described() };
  return acceptedState.state;
}

const isDefined = (v: unknown): boolean => v !== undefined && v !== null;

/** rhea's Incoming.on_transfer, statement for statement, with IncomingDelivery. */
export function onTransfer(this: IncomingInternals, frame: TransferFrameIn, receiver: ReceiverInternals): void {
  this.next_transfer_id++;
  if (!receiver.is_remote_open()) throw Error('transfer after detach');
  const p = frame.performative;
  if (this.next_delivery_id === undefined) this.next_delivery_id = p.delivery_id as number | null | undefined;
  let current: IncomingDelivery;
  const incomplete = receiver._incomplete;
  if (incomplete !== undefined) {
    current = incomplete;
    if (isDefined(p.delivery_id) && current.id !== p.delivery_id) throw Error(`frame sequence error: delivery ${String(current.id)} not complete, got ${String(p.delivery_id)}`);
    if (frame.payload) current.frames?.push(frame.payload);
  } else if (this.next_delivery_id === p.delivery_id) {
    current = new IncomingDelivery(this, receiver, frame);
    this.deliveries.push(current);
    // as rhea's ++: NaN when both ids were undefined
    this.next_delivery_id = (this.next_delivery_id as number) + 1;
  } else {
    throw Error(`frame sequence error: expected ${String(this.next_delivery_id)}, got ${String(p.delivery_id)}`);
  }
  current.incomplete = p.more;
  if (current.incomplete) {
    receiver._incomplete = current;
    return;
  }
  receiver._incomplete = undefined;
  const parts = current.frames;
  const data = parts === undefined ? frame.payload : parts.length === 1 ? parts[0] : Buffer.concat(parts as Buffer[]);
  current.frames = undefined;
  if (receiver.credit > 0) receiver.credit--;
  else console.error('Received transfer when credit was %d', receiver.credit);
  receiver.delivery_count++;
  const direct = receiver[DIRECT];
  if (direct !== undefined) {
    // a receiver of receiveDirect: its one handler takes the bytes; no decode, no event, no context
    direct(current, data);
    return;
  }
  const ctx = current.format === 0 ? { message: message.decode(data as Buffer), delivery: current } : { message: data, delivery: current, format: current.format };
  receiver.dispatch('message', receiver._context(ctx));
}

/** What rhea's Incoming keeps for its pass (lib/session.js Incoming). */
export interface IncomingPass {
  updated: SettledDelivery[];
  deliveries: { pop_if(f: (d: SettledDelivery) => unknown): number };
  readonly window: number;
  max_transfer_id: number;
  next_transfer_id: number;
}

/** The parts of rhea's Session the pass writes to (lib/session.js). */
export interface SessionOut {
  output(performative: object): void;
  _write_flow(): void;
}

const isSettled = (d: SettledDelivery): unknown => d.settled;

/**
 * rhea's Incoming.process (lib/session.js), statement for statement, with the dispositions
 * written by ./disposition-writer.ts: each delivery keeps its own outcome.
 */
export function processIncoming(this: IncomingPass, session: SessionOut): void {
  if (this.updated.length > 0) {
    writeDispositions(this.updated, session, frames);
    this.updated = [];
  }
  // remove any fully settled deliveries (the incoming window is what the buffer has free)
  this.deliveries.pop_if(isSettled);
  if (this.max_transfer_id - this.next_transfer_id < this.window / 2) session._write_flow();
}
