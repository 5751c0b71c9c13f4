/**
 * rhea 3.0.5's read of a connection's bytes (lib/connection.js `Connection.prototype.input`),
 * statement for statement, with its idle watchdog kept armed instead of made again on every read.
 *
 * rhea clears `heartbeat_in` (the watchdog of the idle time-out this side announced, §2.4.5) when
 * bytes arrive and arms a new one with `setTimeout(this.idle.bind(this), …)` once they are read:
 * on every read, a bound function, a timer and, the watchdog being the only timer of its
 * duration, Node's list for that duration removed and made again, with the event loop's timer
 * moved each time. It also reads `local.open.idle_time_out` and `remote.open.idle_time_out` on
 * every read through rhea's getters, which unwrap the typed fields (lib/types.js). Here the
 * watchdog this function armed is pushed back with `refresh()` (the same deadline: twice the
 * idle time-out after this read), and the two time-outs are read once per open frame. Whatever
 * rhea's own code does to the watchdog is kept: a watchdog it cleared (lib/connection.js
 * `_disconnected` sets it undefined) or armed itself (`output`) is replaced as rhea replaces it;
 * on the paths where rhea's read returns with the watchdog cleared and not armed again (a frame
 * still incomplete, an error before it is armed) it is cleared here too. One difference: a
 * watchdog `output` armed during the read (when there was none) is cleared before the new one is
 * armed, where rhea overwrites it armed and it later fires `idle()` on a connection that is not
 * idle. rhea-input.test.ts runs rhea's own function and this one over the same inputs and
 * compares what they leave.
 */
import { createRequire } from 'node:module';

/** The parts of rhea's Connection its read uses (lib/connection.js). */
export interface ConnectionInternals {
  heartbeat_in: ReturnType<typeof setTimeout> | undefined;
  heartbeat_out: ReturnType<typeof setTimeout> | undefined;
  frame_size: number | undefined;
  received_bytes: number;
  chunks: Buffer[] | null;
  previous_input: Buffer | null | undefined;
  saved_error: unknown;
  readonly options: { readonly id?: unknown };
  readonly local: { readonly open: { readonly idle_time_out?: unknown } };
  readonly remote: { readonly open?: { readonly idle_time_out?: unknown } };
  readonly transport: { read(buffer: Buffer, connection: unknown): number; peek_size(buffer: Buffer): number | undefined; has_writes_pending(): boolean };
  readonly state: { has_settled(): boolean };
  readonly socket: { end(): void };
  is_open(): boolean;
  is_closed(): boolean;
  idle(): void;
  output(): void;
  _write_frame(): void;
  _get_peer_details(): string;
  dispatch(name: string, arg: unknown): boolean;
  /** the watchdog this function armed, while it is the one in heartbeat_in and armed */
  [ARMED]?: ReturnType<typeof setTimeout> | undefined;
  /** the open frames the two time-outs below were read from */
  [OPENS]?: readonly [unknown, unknown];
  [LOCAL_IDLE]?: unknown;
  [REMOTE_IDLE]?: unknown;
}

const ARMED = Symbol('ferry.amqp10.idle-armed');
const OPENS = Symbol('ferry.amqp10.idle-opens');
const LOCAL_IDLE = Symbol('ferry.amqp10.local-idle');
const REMOTE_IDLE = Symbol('ferry.amqp10.remote-idle');

/** rhea's log (lib/log.js), looked up at each call as rhea does: installQuietLog replaces its functions */
const log = createRequire(import.meta.url)('rhea/lib/log.js') as { io(...args: unknown[]): void };

function byteToHex(value: number): string {
  return value < 16 ? `0x0${value.toString(16)}` : `0x${value.toString(16)}`;
}

/** rhea's buffer_to_hex (lib/connection.js), for its error text */
function bufferToHex(buffer: Buffer | undefined): string {
  const bytes: string[] = [];
  if (buffer !== undefined) for (const b of buffer) bytes.push(byteToHex(b));
  return bytes.join(',');
}

/** The two idle time-outs, read again only when an open frame changed (rhea's reconnect makes new ones). */
function readIdle(c: ConnectionInternals): void {
  const local = c.local.open;
  const remote = c.remote.open;
  const opens = c[OPENS];
  if (opens?.[0] === local && opens[1] === remote) return;
  c[OPENS] = [local, remote];
  c[LOCAL_IDLE] = local.idle_time_out;
  c[REMOTE_IDLE] = remote?.idle_time_out;
}

/** the watchdog, as rhea leaves it once it cleared it at the start of a read and did not arm it again */
function clearWatchdog(c: ConnectionInternals): void {
  if (c.heartbeat_in) clearTimeout(c.heartbeat_in);
  c[ARMED] = undefined;
}

/** rhea's Connection.input with the watchdog refreshed. */
export function input(this: ConnectionInternals, buff: Buffer): void {
  let buffer: Buffer | undefined;
  /** past the point where rhea arms its watchdog again: an error after it leaves that one armed */
  let rearmed = false;
  try {
    log.io('[%s] read %d bytes', this.options.id, buff.length);
    if (this.frame_size) {
      this.received_bytes += buff.length;
      (this.chunks as Buffer[]).push(buff);
      if (this.frame_size <= this.received_bytes) {
        buffer = Buffer.concat(this.chunks as Buffer[], this.received_bytes);
        this.chunks = null;
        this.frame_size = undefined;
      } else {
        log.io('[%s] pushed %d bytes', this.options.id, buff.length);
        clearWatchdog(this);
        return;
      }
    } else if (this.previous_input) {
      buffer = Buffer.concat([this.previous_input, buff]);
      this.previous_input = null;
    } else {
      buffer = buff;
    }
    const read = this.transport.read(buffer, this);
    if (read < buffer.length) {
      const previous = buffer.subarray(read);
      this.frame_size = this.transport.peek_size(previous);
      if (this.frame_size) {
        this.chunks = [previous];
        this.received_bytes = previous.length;
        log.io('[%s] waiting frame_size %s', this.options.id, this.frame_size);
      } else {
        this.previous_input = previous;
      }
    }
    readIdle(this);
    const localIdle = this[LOCAL_IDLE] as number | undefined;
    if (localIdle) {
      const armed = this[ARMED];
      if (armed !== undefined && this.heartbeat_in === armed) armed.refresh();
      else {
        clearWatchdog(this);
        this.heartbeat_in = this[ARMED] = setTimeout(this.idle.bind(this), localIdle * 2);
      }
    } else clearWatchdog(this);
    rearmed = true;
    const remoteIdle = this[REMOTE_IDLE] as number | undefined;
    if (this.transport.has_writes_pending()) {
      this.output();
    } else if (this.is_closed() && this.state.has_settled()) {
      this.socket.end();
    } else if (this.is_open() && remoteIdle && !this.heartbeat_out) {
      this.heartbeat_out = setTimeout(this._write_frame.bind(this), remoteIdle / 2);
    }
  } catch (e) {
    if (!rearmed) clearWatchdog(this);
    this.saved_error = e;
    if ((e as { name?: unknown } | null)?.name === 'ProtocolError') {
      if (!this.dispatch('protocol_error', e)) console.error(`[${String(this.options.id)}] error on read: ${String(e)} ${this._get_peer_details()} (buffer:${bufferToHex(buffer)})`);
    } else {
      this.dispatch('error', e);
    }
    this.socket.end();
  }
}
