/**
 * Everything Ferry does with internals of rhea, in one place. rhea is pinned to the exact
 * version installed (packages/amqp10/package.json); rhea-seam.test.ts checks each reliance
 * against the installed copy (docs/architecture.md, "Library seams"). Ten seams:
 * - the exact bytes of each incoming message, from rhea's process-wide `message.decode`;
 * - links keyed by name and role, in rhea's Session prototype;
 * - the snd-settle-mode a sending link answers with, in rhea's local attach;
 * - the timers of a connection Ferry is done with, cleared;
 * - a transfer that arrives without link credit, marked instead of printed;
 * - a transfer frame read from its bytes instead of through rhea's generic reader;
 * - a session's incoming deliveries as instances of one class instead of six closures each;
 * - their dispositions written by Ferry, each delivery with its own outcome (rhea 3.0.5 merges
 *   the second outcome of a pass into the first), the common ones from bytes;
 * - flow frames written from bytes instead of through rhea's composite encoder;
 * - rhea's debug log, when off, not called on every frame (installQuietLog).
 * And one place rhea's typings say more than rhea does: a link's source and target as the peer
 * attached them, which may be absent (peerAddress).
 * The deliveries of the receivers Ferry reads from their bytes alone go from the session's receipt
 * straight to Ferry's handler, without rhea's decode or its `message` event (receiveDirect).
 */
import { createRequire } from 'node:module';
import rhea from 'rhea';
import { readTransferFrame, takeHanded, takeHandedTransfers, type RheaFrame } from './rhea-transfer-frame.js';
import { DIRECT, onTransfer, processIncoming, type DirectReceipt, type ReceiverInternals } from './rhea-incoming.js';
import { EncodedFrame } from './encoded-frame.js';
import { writeFlow } from './flow-writer.js';

/**
 * The exact bytes of each incoming message.
 *
 * rhea always decodes a transfer's payload (lib/session.js Incoming.on_transfer calls
 * `message.decode(data)` and then drops `data`), so the encoded message never reaches an
 * event handler. rhea calls `decode` through its exported `message` object, synchronously,
 * right before it dispatches the `message` event; wrapping that one function remembers the
 * buffer for the decoded object, which the handler then looks up. Nothing else changes for
 * other users of rhea, with one exception, on purpose: when rhea's decoder throws on a bad
 * message (it has thrown ERR_OUT_OF_RANGE), the wrapper returns an empty message instead of
 * letting the throw close the whole connection; Ferry's own decoder then rejects that one
 * delivery with amqp:decode-error.
 */

const encodedOf = new WeakMap<object, Buffer>();
const CAPTURE_MARK = Symbol.for('ferry.amqp10.capture');

type DecodeFn = (typeof rhea.message)['decode'];
type Decoded = ReturnType<DecodeFn>;
type Decode = DecodeFn & { [CAPTURE_MARK]?: true };

/** Install the wrapper once per process (idempotent). */
export function installCapture(): void {
  const util: { decode: Decode } = rhea.message;
  if (util.decode[CAPTURE_MARK] === true) return;
  const original = util.decode;
  const wrapped: Decode = (buffer: Buffer): Decoded => {
    let msg: Decoded;
    try {
      msg = original.call(util, buffer);
    } catch {
      msg = { toJSON: () => ({}), toString: () => '{}' };
    }
    encodedOf.set(msg, buffer);
    return msg;
  };
  wrapped[CAPTURE_MARK] = true;
  util.decode = wrapped;
}

/**
 * The address of a link's source or target as the peer attached it. rhea types `source` and
 * `target` as always present, but reads them from the peer's attach frame (lib/link.js
 * remote_property_shortcut), where either may be null (AMQP 1.0 §2.7.3), as may the address in
 * it (§3.5.3, §3.5.4: a dynamic node has none).
 */
export function peerAddress(link: rhea.Receiver | rhea.Sender, end: 'source' | 'target'): string | undefined {
  const terminus = link[end] as { readonly address?: unknown } | null | undefined;
  const address = terminus?.address;
  return typeof address === 'string' ? address : undefined;
}

/**
 * Receivers whose completed deliveries go to one handler of Ferry's, which reads each message from
 * its bytes alone (with its own codec, which keeps the AMQP types rhea's decode loses).
 *
 * rhea completes a delivery in `Incoming.prototype.on_transfer` (lib/session.js), which Ferry
 * replaces (installIncomingDeliveries, ./rhea-incoming.ts): after the same bookkeeping as rhea's
 * (the session's transfer and delivery ids, the deliveries buffer, the link's credit and delivery
 * count), a receiver marked here is handed the delivery and its encoded message, and rhea's
 * `message.decode`, its context object (link, session, connection, container) and its event
 * dispatch (`link.dispatch`: the observers' emit, a copy of the listeners) are not run. The
 * handler stands in for every `message` listener the receiver could have: rhea's own observers
 * of it (autoaccept, a credit window: lib/link.js Receiver) must be off, which is checked here.
 */
export function receiveDirect(receiver: rhea.Receiver, handler: (delivery: rhea.Delivery, data: Buffer | undefined) => void): void {
  if (!incomingInstalled()) throw new Error('receiveDirect needs installIncomingDeliveries: rhea would dispatch the deliveries as events');
  const r = receiver as unknown as ReceiverInternals & { readonly observers: { listenerCount(name: string): number } };
  if (r.observers.listenerCount('message') > 0) throw new Error('receiveDirect: the receiver has rhea observers of its messages (autoaccept or a credit window), which would be skipped');
  // an IncomingDelivery has every member of rhea's Delivery a receiver's handler uses (rhea-incoming.ts)
  r[DIRECT] = handler as unknown as DirectReceipt;
}

/** The encoded bytes rhea decoded `message` from, when it came through the wrapper. */
export function encodedMessage(message: unknown): Buffer | undefined {
  return typeof message === 'object' && message !== null ? encodedOf.get(message) : undefined;
}

/**
 * Links named by name AND role.
 *
 * AMQP 1.0 §2.6.1: "a link is uniquely identified by its name and its role", so a session may
 * hold a sending and a receiving link of the same name (Qpid Proton names both links of a
 * container to one address `<container>-<address>`). rhea keeps a session's links in one map
 * keyed by name only (lib/session.js `links`, used by create_link, on_attach and remove_link):
 * the second attach finds the first link and rhea throws "Attach already received", which
 * ends the connection. The three functions that key the map are replaced here, once per
 * process, with ones that key it by role and name; everything else in rhea only iterates the
 * map. Installed by the amqp10 connectors before they open any connection.
 */

/** The parts of rhea's Link (lib/link.js) the keyed map needs. */
interface LinkInternals {
  readonly name: string;
  is_sender(): boolean;
  on_attach(frame: AttachFrame): void;
  remote: { attach?: unknown };
}

interface AttachFrame {
  readonly performative: { readonly name: string; readonly handle: number; readonly role: boolean };
}

type LinkConstructor = new (session: SessionInternals, name: string, handle: number, opts: unknown) => LinkInternals;

/** The parts of rhea's Session (lib/session.js) the keyed map needs. */
interface SessionInternals {
  links: Record<string, LinkInternals>;
  local: { handles: Record<number, LinkInternals | undefined> };
  remote: { handles: Record<number, LinkInternals | undefined> };
  create_sender(name: string): LinkInternals;
  create_receiver(name: string): LinkInternals;
}

interface SessionPrototype {
  create_link(this: SessionInternals, name: string, constructor: LinkConstructor, opts: unknown): LinkInternals;
  on_attach(this: SessionInternals, frame: AttachFrame): void;
  remove_link(this: SessionInternals, link: LinkInternals & { local: { handle: number }; remote: { handle?: number } }): void;
  [LINK_KEYS_MARK]?: true;
}

const LINK_KEYS_MARK = Symbol.for('ferry.amqp10.link-keys');

/** "S:" for a link this side sends on, "R:" for one it receives on, then the name. */
const key = (sender: boolean, name: string): string => `${sender ? 'S' : 'R'}:${name}`;

/** Install the keyed map once per process (idempotent). */
export function installLinkKeys(): void {
  const require = createRequire(import.meta.url);
  const Session = require('rhea/lib/session.js') as { prototype: SessionPrototype };
  const proto = Session.prototype;
  if (proto[LINK_KEYS_MARK] === true) return;
  proto.create_link = function (name, constructor, opts) {
    let i = 0;
    while (this.local.handles[i] !== undefined) i++;
    const l = new constructor(this, name, i, opts);
    this.links[key(l.is_sender(), name)] = l;
    this.local.handles[i] = l;
    return l;
  };
  proto.on_attach = function (frame) {
    const { name, handle, role } = frame.performative;
    // the peer's role true: it is the receiver, so this side's link is the sender (§2.7.3)
    const link = this.links[key(role, name)] ?? (role ? this.create_sender(name) : this.create_receiver(name));
    this.remote.handles[handle] = link;
    link.on_attach(frame);
    link.remote.attach = frame.performative;
  };
  proto.remove_link = function (link) {
    /* eslint-disable @typescript-eslint/no-dynamic-delete -- these are rhea's own maps, plain objects keyed by handle and name: a key goes as rhea's remove_link removes it */
    if (link.remote.handle !== undefined) delete this.remote.handles[link.remote.handle];
    delete this.local.handles[link.local.handle];
    delete this.links[key(link.is_sender(), link.name)];
    /* eslint-enable @typescript-eslint/no-dynamic-delete */
  };
  proto[LINK_KEYS_MARK] = true;
}

/** The part of a rhea link's state that rhea's typings do not declare (lib/link.js `local.attach`). */
interface LocalAttach {
  local?: { attach?: { snd_settle_mode?: number } };
}

/**
 * Make `sender` answer its attach with snd-settle-mode settled (1) or unsettled (0). rhea has no
 * option for it once the peer's attach arrived; it reads the mode from its local attach when
 * it sends (lib/link.js Sender.send), so the local attach is written here.
 */
export function answerSndSettleMode(sender: rhea.Sender, presettled: boolean): void {
  const local = (sender as unknown as LocalAttach).local?.attach;
  if (local !== undefined) local.snd_settle_mode = presettled ? 1 : 0;
}

/** A rhea connection's timers (lib/connection.js), which its typings do not declare. */
interface ConnectionTimers {
  /** the local idle time-out's watchdog: idle() closes the connection, then arms abort_idle */
  heartbeat_in?: ReturnType<typeof setTimeout>;
  /** the empty frame owed to the peer's idle time-out (§2.4.5) */
  heartbeat_out?: ReturnType<typeof setTimeout>;
  /** abort_socket, a second after idle() closed the connection */
  abort_idle?: ReturnType<typeof setTimeout>;
  /** a client connection's reconnect */
  scheduled_reconnect?: ReturnType<typeof setTimeout>;
}

const TIMERS = ['heartbeat_in', 'heartbeat_out', 'abort_idle', 'scheduled_reconnect'] as const;

/**
 * Clear every timer of a connection Ferry is done with. rhea arms `heartbeat_in` on every read
 * and `heartbeat_out` on every write, and clears them only in its own `_disconnected`; a timer
 * armed after that (a read handed over late, a write after a close) holds the connection, its
 * sessions and its buffers for twice the idle time-out, then runs idle() and abort_socket on a
 * connection nobody listens to any more. Ferry calls this once it has let go of a connection.
 */
export function disarmConnection(conn: rhea.Connection): void {
  const t = conn as unknown as ConnectionTimers;
  for (const k of TIMERS) {
    const timer = t[k];
    if (timer !== undefined) clearTimeout(timer);
    t[k] = undefined;
  }
}

/** The timers {@link disarmConnection} clears that are armed on `conn` now (for the seam test). */
export function armedTimers(conn: rhea.Connection): string[] {
  const t = conn as unknown as ConnectionTimers;
  return TIMERS.filter((k) => t[k] !== undefined);
}

/**
 * A transfer that arrives on a receiving link with no credit.
 *
 * AMQP 1.0 §2.6.7: a sender may not send while its link credit is zero. rhea takes such a
 * transfer anyway and prints "Received transfer when credit was 0" with console.error for each
 * (lib/session.js Incoming.on_transfer, when the delivery's last frame arrives), so a client
 * ignoring credit could fill Ferry's standard error at line rate. The wrapper of rhea's
 * Session.on_transfer lends the link one credit for the frame that completes such a delivery,
 * which rhea then takes back, so rhea's accounting (delivery ids, delivery count) stays as it
 * was and nothing is printed, and marks the link: `overranCredit(receiver)` is true while that
 * delivery is handed to the link's handler (its `message` event, or receiveDirect's), and the
 * link's owner refuses it (the listener detaches the link with amqp:link:transfer-limit-exceeded,
 * §2.8.15).
 */

interface TransferFrame {
  readonly performative: { readonly handle: number; readonly more?: boolean };
}

interface CreditSessionPrototype {
  on_transfer: (this: SessionInternals & { readonly incoming: IncomingReceipt }, frame: TransferFrame) => void;
  [CREDIT_GUARD_MARK]?: true;
}

/** rhea's Incoming, as Session.on_transfer calls it (lib/session.js) */
interface IncomingReceipt {
  on_transfer(frame: TransferFrame, link: object): void;
}

interface ReceiverCredit {
  credit: number;
  is_receiver(): boolean;
}

const CREDIT_GUARD_MARK = Symbol.for('ferry.amqp10.credit-guard');
/** rhea's own Session.on_transfer, kept by the guard for the seam test */
const RHEA_ON_TRANSFER = Symbol.for('ferry.amqp10.rhea-on-transfer');
/** links whose delivery being dispatched now arrived without credit */
const overrunLinks = new WeakSet<object>();

/** Install the wrapper once per process (idempotent). */
export function installCreditGuard(): void {
  const require = createRequire(import.meta.url);
  const Session = require('rhea/lib/session.js') as { prototype: CreditSessionPrototype };
  const proto = Session.prototype;
  if (proto[CREDIT_GUARD_MARK] === true) return;
  const original = proto.on_transfer;
  proto.on_transfer = function (frame) {
    const link = this.remote.handles[frame.performative.handle] as unknown as ReceiverCredit | undefined;
    // no link for the handle: rhea's own throws its error (lib/session.js _get_link)
    if (link === undefined) {
      original.call(this, frame);
      return;
    }
    // what rhea's Session.on_transfer does with the link it looks up, called here with the link
    // this looked up; the role (a getter that unwraps rhea's typed field) asked only when the
    // credit is gone, the test that is false for almost every transfer asked first
    if (frame.performative.more === true || link.credit > 0 || !link.is_receiver()) {
      this.incoming.on_transfer(frame, link);
      return;
    }
    link.credit = 1;
    overrunLinks.add(link);
    try {
      this.incoming.on_transfer(frame, link);
    } finally {
      overrunLinks.delete(link);
      // rhea decremented the lent credit; should it not have (the link was not open to it), take it back
      if (link.credit > 0) link.credit = 0;
    }
  };
  proto[CREDIT_GUARD_MARK] = true;
  (proto as unknown as Record<symbol, unknown>)[RHEA_ON_TRANSFER] = original;
}

/** rhea's own Session.on_transfer, guarded or not (for the seam test). */
export function rheaSessionOnTransfer(): CreditSessionPrototype['on_transfer'] {
  const require = createRequire(import.meta.url);
  const proto = (require('rhea/lib/session.js') as { prototype: CreditSessionPrototype & Record<symbol, unknown> }).prototype;
  return (proto[RHEA_ON_TRANSFER] ?? proto.on_transfer) as CreditSessionPrototype['on_transfer'];
}

/** True while a delivery that arrived without link credit is handed to its receiver's handler. */
export function overranCredit(receiver: object): boolean {
  return overrunLinks.has(receiver);
}

/**
 * Transfer frames read from their bytes (./rhea-transfer-frame.ts).
 *
 * rhea's transport reads each frame through `frames.read_frame`, called through the module's
 * exported object (lib/transport.js Transport.read), and dispatches its performative. A transfer
 * frame in the encodings senders write is read here into plain fields with the values rhea's
 * reader gives, or taken as the frame guard read it (`handOn`); every other frame, and a transfer
 * in any other encoding, goes to rhea's reader as before.
 */
interface FramesModule {
  read_frame: ((buffer: Buffer) => RheaFrame | object | null) & { [TRANSFER_READ_MARK]?: true };
}

const TRANSFER_READ_MARK = Symbol.for('ferry.amqp10.transfer-read');

/** Install the reader once per process (idempotent). */
export function installTransferRead(): void {
  const require = createRequire(import.meta.url);
  const frames = require('rhea/lib/frames.js') as FramesModule;
  if (frames.read_frame[TRANSFER_READ_MARK] === true) return;
  const original = frames.read_frame;
  const read: FramesModule['read_frame'] = (buffer: Buffer) => takeHanded(buffer) ?? readTransferFrame(buffer) ?? original(buffer);
  read[TRANSFER_READ_MARK] = true;
  frames.read_frame = read;
  takeHandedTransfers();
}

/**
 * Incoming deliveries without closures (./rhea-incoming.ts): rhea's `Incoming.prototype.on_transfer`
 * replaced by the same steps with one class for the deliveries. rhea's session module exports only
 * Session, so the Incoming prototype is reached through a session made for it (its constructor
 * only stores what it is given).
 */
interface IncomingPrototype {
  on_transfer: typeof onTransfer;
  [INCOMING_MARK]?: true;
}

const INCOMING_MARK = Symbol.for('ferry.amqp10.incoming-deliveries');

/** The prototype of rhea's Incoming (lib/session.js), through a session made for it. */
export function rheaIncomingPrototype(): IncomingPrototype {
  const require = createRequire(import.meta.url);
  const Session = require('rhea/lib/session.js') as new (connection: object, channel: number) => { incoming: object };
  return Object.getPrototypeOf(new Session({}, 0).incoming) as IncomingPrototype;
}

/** Install the replacement once per process (idempotent). */
export function installIncomingDeliveries(): void {
  const proto = rheaIncomingPrototype();
  if (proto[INCOMING_MARK] === true) return;
  proto.on_transfer = onTransfer;
  proto[INCOMING_MARK] = true;
}

const incomingInstalled = (): boolean => rheaIncomingPrototype()[INCOMING_MARK] === true;

/**
 * Frames Ferry encodes itself (./encoded-frame.ts): rhea's transport writes every frame through
 * `frames.write_frame`, called through the module's object (lib/transport.js write); the wrapper
 * writes an EncodedFrame as it is, on the channel of the frame rhea puts it in, and any other
 * frame through rhea's writer.
 */
interface WriteFramesModule {
  write_frame: ((frame: { readonly channel: number; readonly performative?: unknown }) => Buffer) & { [ENCODED_MARK]?: true };
}

const ENCODED_MARK = Symbol.for('ferry.amqp10.encoded-frames');

function installEncodedFrames(): void {
  const require = createRequire(import.meta.url);
  const frames = require('rhea/lib/frames.js') as WriteFramesModule;
  if (frames.write_frame[ENCODED_MARK] === true) return;
  const original = frames.write_frame;
  const write: WriteFramesModule['write_frame'] = (frame) => {
    const p = frame.performative;
    if (!(p instanceof EncodedFrame)) return original(frame);
    p.bytes.writeUInt16BE(frame.channel, 6);
    return p.bytes;
  };
  write[ENCODED_MARK] = true;
  frames.write_frame = write;
}

/** Put `fn` in place of rhea's `proto[name]` once per process, keeping rhea's own under `mark` (for the tests that compare the two). */
function replaceOnce(proto: object, name: string, mark: symbol, fn: unknown): void {
  const p = proto as Record<string | symbol, unknown>;
  if (p[mark] !== undefined) return;
  p[mark] = p[name];
  p[name] = fn;
}

/** rhea's own `proto[name]`, replaced or not. */
function rheaOwn(proto: object, name: string, mark: symbol): unknown {
  const p = proto as Record<string | symbol, unknown>;
  return p[mark] ?? p[name];
}

const sessionPrototype = (): object => (createRequire(import.meta.url)('rhea/lib/session.js') as { prototype: object }).prototype;

/**
 * Dispositions of incoming deliveries written by Ferry (./disposition-writer.ts): rhea's
 * `Incoming.prototype.process` replaced by the same pass with a writer that never gives a
 * delivery another's outcome.
 */
const DISPOSITIONS_MARK = Symbol.for('ferry.amqp10.dispositions');

/** Install the writer once per process (idempotent). */
export function installDispositionWriter(): void {
  installEncodedFrames();
  replaceOnce(rheaIncomingPrototype(), 'process', DISPOSITIONS_MARK, processIncoming);
}

/** rhea's own Incoming.process, installed or not (for the seam test). */
export function rheaIncomingProcess(): typeof processIncoming {
  return rheaOwn(rheaIncomingPrototype(), 'process', DISPOSITIONS_MARK) as typeof processIncoming;
}

/** Flow frames written from bytes (./flow-writer.ts): rhea's `Session.prototype._write_flow` replaced. */
const FLOWS_MARK = Symbol.for('ferry.amqp10.flows');

/** Install the writer once per process (idempotent). */
export function installFlowWriter(): void {
  installEncodedFrames();
  replaceOnce(sessionPrototype(), '_write_flow', FLOWS_MARK, writeFlow);
}

/** rhea's own Session._write_flow, installed or not (for the flow writer's test). */
export function rheaWriteFlow(): typeof writeFlow {
  return rheaOwn(sessionPrototype(), '_write_flow', FLOWS_MARK) as typeof writeFlow;
}

/**
 * rhea's debug log, off: rhea calls `log.frames`, `log.raw`, `log.io` and `log.events` on every
 * frame it reads or writes and every event it raises (lib/transport.js, lib/connection.js,
 * lib/link.js, lib/session.js), through the object lib/log.js exports, whether or not the
 * namespace is enabled; each call gathers its arguments into an array before the debug module
 * finds it is off. A namespace that is off when this is installed is replaced on that object by
 * a function that does nothing; one enabled (DEBUG=rhea:* when the process started, which is
 * when the debug module reads it) keeps logging.
 */
type DebugLog = ((...args: unknown[]) => void) & { readonly enabled?: boolean; [QUIET_MARK]?: true };

const QUIET_MARK = Symbol.for('ferry.amqp10.quiet-log');

const quiet: DebugLog = () => undefined;
quiet[QUIET_MARK] = true;

/** rhea's log module: one debug function per namespace (lib/log.js). */
export function rheaLog(): Record<string, DebugLog> {
  return createRequire(import.meta.url)('rhea/lib/log.js') as Record<string, DebugLog>;
}

/** Replace every namespace that is off (once per process; idempotent). */
export function installQuietLog(): void {
  const log = rheaLog();
  for (const name of Object.keys(log)) {
    const f = log[name];
    if (typeof f === 'function' && f.enabled !== true) log[name] = quiet;
  }
}

/** Whether `f` is the function installQuietLog put in place of a namespace that was off. */
export function isQuiet(f: unknown): boolean {
  return typeof f === 'function' && (f as DebugLog)[QUIET_MARK] === true;
}
