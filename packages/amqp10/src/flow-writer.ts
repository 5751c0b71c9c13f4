/**
 * rhea 3.0.5's `Session.prototype._write_flow` (lib/session.js) with the flow frame (AMQP 1.0
 * §2.7.4) written from bytes. rhea builds each flow as a composite (`frames.flow`: a typed wrapper
 * per field, then its generic writer); the listener's receiving links issue one per link per pass
 * as settlements give credit back, and the session one when its incoming window runs low. The same
 * fields are written with the same values: the session's next-incoming-id, incoming-window,
 * next-outgoing-id and outgoing-window, and for a link its handle, delivery-count and link-credit,
 * with drain (and available, null, before it) when the link drains. A value that is not a uint
 * goes through rhea's composite, as before.
 */
import { createRequire } from 'node:module';
import { EncodedFrame, frameWithList, isUint, putUint, uintSize } from './encoded-frame.js';

/** What _write_flow reads and writes of rhea's Session (lib/session.js). */
export interface FlowSession {
  readonly incoming: { readonly next_transfer_id: number; readonly window: number; max_transfer_id: number };
  readonly outgoing: { readonly next_transfer_id: number; readonly window: unknown };
  output(performative: object): void;
}

/** What _write_flow reads of rhea's Receiver or Sender (lib/link.js). */
export interface FlowLink {
  _get_drain(): unknown;
  readonly delivery_count: unknown;
  readonly local: { readonly handle: unknown };
  readonly credit: unknown;
}

interface FlowFrames {
  flow(fields: Record<string, unknown>): object;
}

const require = createRequire(import.meta.url);
const frames = require('rhea/lib/frames.js') as FlowFrames;

/** rhea's Session._write_flow, statement for statement, writing the frame from bytes. */
export function writeFlow(this: FlowSession, link?: FlowLink): void {
  const nextIncoming = this.incoming.next_transfer_id >>> 0;
  const incomingWindow = this.incoming.window;
  const nextOutgoing = this.outgoing.next_transfer_id >>> 0;
  const outgoingWindow = this.outgoing.window;
  this.incoming.max_transfer_id = nextIncoming + incomingWindow;
  const drain = link !== undefined && Boolean(link._get_drain());
  const deliveryCount = link?.delivery_count;
  const handle = link?.local.handle;
  const credit = link?.credit;
  if (!isUint(incomingWindow) || !isUint(outgoingWindow) || (link !== undefined && (!isUint(deliveryCount) || !isUint(handle) || !isUint(credit)))) {
    const fields: Record<string, unknown> = { next_incoming_id: nextIncoming, incoming_window: incomingWindow, next_outgoing_id: nextOutgoing, outgoing_window: outgoingWindow };
    if (link !== undefined) {
      if (drain) fields.drain = true;
      fields.delivery_count = deliveryCount;
      fields.handle = handle;
      fields.link_credit = credit;
    }
    this.output(frames.flow(fields));
    return;
  }
  let bytes = uintSize(nextIncoming) + uintSize(incomingWindow) + uintSize(nextOutgoing) + uintSize(outgoingWindow);
  let count = 4;
  if (link !== undefined) {
    bytes += uintSize(handle as number) + uintSize(deliveryCount as number) + uintSize(credit as number);
    count = 7;
    if (drain) {
      bytes += 2;
      count = 9;
    }
  }
  const b = frameWithList(0x13, count, bytes);
  let at = putUint(b, 14, nextIncoming);
  at = putUint(b, at, incomingWindow);
  at = putUint(b, at, nextOutgoing);
  at = putUint(b, at, outgoingWindow);
  if (link !== undefined) {
    at = putUint(b, at, handle as number);
    at = putUint(b, at, deliveryCount as number);
    at = putUint(b, at, credit as number);
    if (drain) {
      // available (§2.7.4 field 7) not given, then drain true
      b[at] = 0x40;
      b[at + 1] = 0x41;
    }
  }
  this.output(new EncodedFrame(b));
}
