/**
 * The dispositions of a session's settled incoming deliveries (AMQP 1.0 §2.7.6), written by Ferry
 * in place of rhea 3.0.5's `write_dispositions` (lib/session.js), which `Incoming.prototype.process`
 * calls once per pass with the deliveries updated since the last.
 *
 * rhea merges deliveries with consecutive ids into one disposition carrying the FIRST delivery's
 * state, and skips the check that two outcomes are the same while the range holds one delivery
 * (`first !== last && ...`): the second delivery of a pass always takes the first one's outcome
 * (accept #0 then reject #1 in one tick sends "accepted" for both). Here a run of deliveries is
 * written as one disposition (first..last, §2.7.6) only when their ids are consecutive, they are
 * settled alike and their outcomes are the same: accepted (§3.4.2) or released (§3.4.4), which
 * carry no fields, or no state at all. Any other state (rejected with its error, modified) is
 * written for its delivery alone, through rhea's own encoder, as rhea writes it. The fieldless
 * outcomes are written from bytes, as one frame (`EncodedFrame`, which the wrapper of rhea's
 * `frames.write_frame` writes as it is).
 */

import { EncodedFrame, frameWithList, isUint, putUint, uintSize } from './encoded-frame.js';

/** What the writer reads of an incoming delivery (rhea's, or ./rhea-incoming.ts IncomingDelivery). */
export interface SettledDelivery {
  readonly id: unknown;
  readonly settled: unknown;
  readonly state: unknown;
}

/** The parts of rhea's frames module the writer uses (lib/frames.js). */
export interface DispositionFrames {
  disposition(fields: { role: boolean; first: unknown; last: unknown; state: unknown; settled: unknown }): object;
}

/** Where a disposition goes: rhea's Session, whose `output` queues and writes it in order with the session's other frames. */
export interface Output {
  output(performative: object): void;
}


const NO_STATE = 0;
const ACCEPTED = 0x24;
const RELEASED = 0x26;
/** a state written for its delivery alone */
const OTHER = -1;

/** The outcome a state is, for merging: the descriptor of a fieldless accepted or released, NO_STATE, or OTHER. */
function outcomeOf(state: unknown): number {
  if (state === undefined) return NO_STATE;
  if (typeof state !== 'object' || state === null) return OTHER;
  // rhea's described value (lib/types.js Typed): descriptor 0x24 / 0x26 and an empty list
  const s = state as { readonly descriptor?: { readonly value?: unknown }; readonly value?: unknown };
  const code = s.descriptor?.value;
  if ((code !== ACCEPTED && code !== RELEASED) || !Array.isArray(s.value) || s.value.length !== 0) return OTHER;
  return code;
}

/**
 * Write `deliveries` (in the order rhea collected them) as dispositions, role receiver (true:
 * they are incoming, §2.7.6). A delivery listed twice in a row is written once (its state is
 * the last one it was given).
 */
export function writeDispositions(deliveries: readonly SettledDelivery[], output: Output, frames: DispositionFrames): void {
  const n = deliveries.length;
  let i = 0;
  while (i < n) {
    const first = deliveries[i] as SettledDelivery;
    const outcome = outcomeOf(first.state);
    let last = first;
    i++;
    if (outcome !== OTHER && isUint(first.id)) {
      let next = first.id + 1;
      while (i < n) {
        const d = deliveries[i] as SettledDelivery;
        if (d === last) {
          i++;
          continue;
        }
        if (d.id !== next || d.settled !== first.settled || outcomeOf(d.state) !== outcome || next > 0xffffffff) break;
        last = d;
        next++;
        i++;
      }
      output.output(new EncodedFrame(disposition(first.id, last.id as number, first.settled === true, outcome)));
    } else {
      while (i < n && deliveries[i] === first) i++;
      output.output(frames.disposition({ role: true, first: first.id, last: first.id, state: first.state, settled: first.settled }));
    }
  }
}

/**
 * A whole disposition frame (§2.3.1 header with doff 2, channel 0 until the wrapper sets it;
 * §2.7.6 fields role true, first, last, settled, state): the state's descriptor with an empty list
 * (accepted, released), or no state field at all.
 */
function disposition(first: number, last: number, settled: boolean, outcome: number): Buffer {
  const b = frameWithList(0x15, outcome === NO_STATE ? 4 : 5, 1 + uintSize(first) + uintSize(last) + 1 + (outcome === NO_STATE ? 0 : 4));
  b[14] = 0x41;
  let at = putUint(b, 15, first);
  at = putUint(b, at, last);
  b[at++] = settled ? 0x41 : 0x42;
  if (outcome !== NO_STATE) {
    b[at++] = 0x00;
    b[at++] = 0x53;
    b[at++] = outcome;
    b[at] = 0x45;
  }
  return b;
}
