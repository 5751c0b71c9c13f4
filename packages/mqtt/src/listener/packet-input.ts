import type { Packet } from 'mqtt-packet';
import { guardChunk, type GuardState } from '../packet-guard.js';
import { LastTopic, ackId, plainAckCommand, readAckFast, readPublishFast, releaseFastPublish, type AckCommand } from './packet-fast.js';
import { packetReader, type ParserSettings } from './packet-reader.js';
import { RC } from './reason-codes.js';
import { Unparsed } from './unparsed.js';

/** What {@link PacketInput} hands its connection, and asks of it. */
export interface PacketSink {
  /** no further input is taken (closed, or closing after a protocol error, §4.13) */
  inputDead(): boolean;
  /** parsing stops between two packets while true (a publish waits for a route, a login is decided) */
  inputHeld(): boolean;
  /** one parsed packet with the bytes it was parsed from, `raw[start, end)` */
  takePacket(raw: Buffer, packet: Packet, start?: number, end?: number): void;
  /** a 2-byte acknowledgement of packet `id` (non-zero), read without a packet object (packet-fast.ts) */
  takeAck(cmd: AckCommand, id: number): void;
  /** mqtt-packet could not parse a packet */
  parseError(message: string): void;
  /** close for a protocol violation: code for the metric, MQTT 5 reason code (§4.13.1) */
  inputViolation(code: string, detail: string, reason: number): void;
  /** handling a packet threw: a bug that must cost this connection, never the process */
  handlerFailed(err: unknown): void;
  /** the last whole packet held from earlier reads was taken: the socket may be read again */
  backlogTaken(): void;
}

/**
 * The bytes one client connection reads, made into packets: each packet's size checked as its
 * header arrives (packet-guard.ts), whole packets kept until they are parsed, and each parsed
 * only when the connection takes input. Parsing stops between two packets while the sink holds
 * input: one socket read can hold thousands of small publishes, which would otherwise all wait
 * in Ferry instead of in TCP.
 */
export class PacketInput implements GuardState {
  readonly #sink: PacketSink;
  readonly #maxPacketSize: number;
  /** what the shared parser needs to know of this connection (its CONNECT), see packet-reader.ts */
  #parserSettings: ParserSettings | undefined;
  /**
   * Bytes already read from the socket but not parsed yet, with the offsets where each whole
   * packet ends; a packet straddling reads is joined once, when it is parsed. Only while there is
   * such a rest: a read of whole packets that are all parsed at once (nearly every read) is
   * parsed where it arrived, and an idle device holds no buffer lists.
   */
  #unparsed: Unparsed | undefined;
  #feedScheduled = false;
  /** the topic this client last published on (packet-fast.ts); made on its first PUBLISH */
  #topics: LastTopic | undefined;
  /** the size guard's place in the stream (packet-guard.ts), in this object: no guard object per device */
  guardBodyLeft = 0;
  guardHeaderLen = 0;
  guardRemaining = 0;
  guardFailed = false;

  constructor(sink: PacketSink, maxPacketSize: number) {
    this.#sink = sink;
    this.#maxPacketSize = maxPacketSize;
  }

  /**
   * Whole packets read but not parsed yet (the sink held input): the connection reads no more
   * from its socket until they are taken, so what waits in Ferry is at most the rest of one read
   * and the rest waits in TCP.
   */
  get hasBacklog(): boolean {
    return this.#unparsed?.holdsPacket() === true;
  }

  /** One read from the socket. */
  push(chunk: Buffer): void {
    const sink = this.#sink;
    if (sink.inputDead()) return;
    const r = guardChunk(this, this.#maxPacketSize, chunk);
    if (r.kind === 'ok') {
      if (this.#unparsed === undefined) this.#parseRead(r.bytes, r.ends);
      else {
        this.#unparsed.push(r.bytes, r.ends);
        this.feed();
      }
      return;
    }
    // a refused packet: what came before it is parsed, then the connection is closed
    const held = this.#unparsed ?? new Unparsed();
    held.push(r.bytes, r.ends);
    this.#unparsed = undefined;
    for (let raw = held.take(); raw !== undefined; raw = held.take()) {
      if (sink.inputDead()) return;
      if (!this.#parse(raw)) return;
    }
    if (r.kind === 'oversize') {
      // MQTT 5 §3.1.2.11.4 / §4.13: a packet above the Maximum Packet Size is a protocol error,
      // answered with DISCONNECT 0x95; 3.1.1 has no code, the connection is closed
      sink.inputViolation('packet-too-large', `packet of ${r.size} bytes exceeds maxPacketSize ${this.#maxPacketSize}`, RC.packetTooLarge);
    } else {
      sink.inputViolation('malformed-packet', r.reason, RC.malformedPacket);
    }
  }

  /**
   * Parse what was read, packet by packet, stopping between two packets while the sink holds
   * input; the rest is parsed on the next call.
   */
  feed(): void {
    const u = this.#unparsed;
    const sink = this.#sink;
    // the start of a packet whose end has not arrived yet waits (unjoined), whole packets only go
    // to the parser: each is checked on its own bytes (packet-rules.ts)
    if (u === undefined || !u.holdsPacket() || sink.inputHeld()) return;
    while (!sink.inputHeld()) {
      const raw = u.take();
      if (raw === undefined) break;
      if (!this.#parse(raw)) return;
    }
    if (sink.inputDead() || u.empty) this.#unparsed = undefined;
    if (!u.holdsPacket() && !sink.inputDead()) sink.backlogTaken();
  }

  /**
   * A read while nothing is held from earlier ones: its whole packets are parsed from the read
   * itself, and only what is left (the start of a packet, or packets after the sink held input)
   * is kept. `ends` as the size guard gives them, offsets in `bytes`.
   */
  #parseRead(bytes: Buffer, ends: readonly number[]): void {
    const sink = this.#sink;
    let start = 0;
    let i = 0;
    for (; i < ends.length; i++) {
      if (sink.inputHeld()) break;
      const end = ends[i] as number;
      if (!this.#parse(bytes, start, end)) return;
      start = end;
    }
    if (start === bytes.length || sink.inputDead()) return;
    const rest = new Unparsed();
    rest.push(bytes, ends, i, start);
    this.#unparsed = rest;
  }

  /**
   * Parse the rest on the next turn of the event loop, when there is a rest: called from inside
   * the engine (a settlement elsewhere let the sink take input again), whose work must not be
   * interrupted by this client's next packets.
   */
  feedSoon(): void {
    if (this.#unparsed?.holdsPacket() !== true || this.#feedScheduled) return;
    this.#feedScheduled = true;
    setImmediate(() => {
      this.#feedScheduled = false;
      this.feed();
    });
  }

  /**
   * Parse one whole packet and hand it to the sink; false when handling it threw (the
   * connection is then closed).
   */
  #parse(bytes: Buffer, start = 0, end = bytes.length): boolean {
    if (end === start) return true;
    const sink = this.#sink;
    try {
      const known = this.#parserSettings;
      // a PUBLISH without properties and an acknowledgement (the two packets a client sends for
      // each QoS 1 message) need no parser and no result object; before CONNECT nothing is read this way
      if (known !== undefined) {
        // an acknowledgement is read where it lies, without a view of its four bytes
        const ack = plainAckCommand(bytes, start, end);
        if (ack !== undefined) {
          if (!sink.inputDead()) sink.takeAck(ack, ackId(bytes, start));
          return true;
        }
      }
      if (known !== undefined && (bytes[start] as number) >> 4 === 3) {
        // a PUBLISH is read where it lies too, into one record (packet-fast.ts)
        const publish = readPublishFast(bytes, known.protocolVersion, (this.#topics ??= new LastTopic()), start, end);
        if (publish !== undefined) {
          if (!sink.inputDead()) sink.takePacket(bytes, publish, start, end);
          releaseFastPublish();
          return true;
        }
      }
      const raw = start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
      if (known !== undefined && (raw[0] as number) >> 4 !== 3) {
        const fast = readAckFast(raw, known.protocolVersion);
        if (fast !== undefined) {
          if (!sink.inputDead()) sink.takePacket(raw, fast);
          return true;
        }
      }
      const { result, settings } = packetReader.read(raw, known);
      this.#parserSettings = settings;
      if (result.kind === 'error') sink.parseError(result.message);
      else if (result.kind === 'packet' && !sink.inputDead()) sink.takePacket(raw, result.packet);
      return true;
    } catch (err) {
      this.#unparsed = undefined;
      sink.handlerFailed(err);
      return false;
    }
  }
}
