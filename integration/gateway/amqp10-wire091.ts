/**
 * What an AMQP 0-9-1 consumer receives, byte for byte: a TCP pass-through between the test's
 * amqplib consumer and RabbitMQ that also parses the frames RabbitMQ sends (AMQP 0-9-1 §4.2.3
 * frame layout, §4.2.6 content header) and keeps each message's header field table with the raw
 * bytes of its long-string values.
 *
 * Why: RabbitMQ 3.10 hands AMQP 1.0 application-properties to 0-9-1 consumers as the encoded
 * section in a long-string header (`x-amqp-1.0-app-properties`), and amqplib decodes every long
 * string as UTF-8 text (lib/codec.js, tag 'S'), which replaces bytes ≥ 0x80: what the broker
 * sent can only be read below amqplib. The proxy never changes a byte.
 */
import { TcpProxy } from '@ferry/testkit';

/** One field-table value as on the wire: its tag and, for long strings and byte arrays, the raw bytes. */
interface WireField {
  readonly tag: string;
  readonly raw?: Buffer;
}

/** One message's content header as RabbitMQ sent it. */
export interface WireMessage {
  readonly messageId?: string;
  readonly contentType?: string;
  readonly type?: string;
  readonly headers: Readonly<Record<string, WireField>>;
}

const FRAME_HEADER = 2; // content header frame (§4.2.3)
const FRAME_END = 0xce;

class Reader {
  pos = 0;
  constructor(readonly b: Buffer) {}
  u8(): number {
    return this.b.readUInt8(this.pos++);
  }
  u16(): number {
    const v = this.b.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    const v = this.b.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(n: number): Buffer {
    const v = this.b.subarray(this.pos, this.pos + n);
    if (v.length !== n) throw new Error('truncated 0-9-1 frame');
    this.pos += n;
    return v;
  }
  shortstr(): string {
    return this.bytes(this.u8()).toString('utf8');
  }
}

/** Skip (or keep) one field value (RabbitMQ's field types, AMQP 0-9-1 errata). */
function fieldValue(r: Reader): WireField {
  const tag = String.fromCharCode(r.u8());
  switch (tag) {
    case 't':
    case 'b':
    case 'B':
      r.pos += 1;
      return { tag };
    case 's':
    case 'u':
      r.pos += 2;
      return { tag };
    case 'I':
    case 'i':
    case 'f':
      r.pos += 4;
      return { tag };
    case 'l':
    case 'd':
    case 'T':
      r.pos += 8;
      return { tag };
    case 'D':
      r.pos += 5;
      return { tag };
    case 'V':
      return { tag };
    case 'S':
    case 'x':
      return { tag, raw: Buffer.from(r.bytes(r.u32())) };
    case 'A':
    case 'F':
      r.pos += r.u32();
      return { tag };
    default:
      throw new Error(`unknown 0-9-1 field type '${tag}'`);
  }
}

function fieldTable(r: Reader): Record<string, WireField> {
  const end = r.u32() + r.pos;
  const out: Record<string, WireField> = {};
  while (r.pos < end) {
    const name = r.shortstr();
    out[name] = fieldValue(r);
  }
  return out;
}

/** The basic class content header's properties (§4.2.6.1; flags from bit 15 down, AMQP 0-9-1 basic class). */
function contentHeader(payload: Buffer): WireMessage {
  const r = new Reader(payload);
  r.pos = 2 + 2 + 8; // class-id, weight, body size
  const flags = r.u16();
  const has = (bit: number): boolean => (flags & (1 << bit)) !== 0;
  let contentType: string | undefined;
  let headers: Record<string, WireField> = {};
  let messageId: string | undefined;
  let type: string | undefined;
  if (has(15)) contentType = r.shortstr();
  if (has(14)) r.shortstr(); // content-encoding
  if (has(13)) headers = fieldTable(r);
  if (has(12)) r.pos += 1; // delivery-mode
  if (has(11)) r.pos += 1; // priority
  if (has(10)) r.shortstr(); // correlation-id
  if (has(9)) r.shortstr(); // reply-to
  if (has(8)) r.shortstr(); // expiration
  if (has(7)) messageId = r.shortstr();
  if (has(6)) r.pos += 8; // timestamp
  if (has(5)) type = r.shortstr();
  return { headers, ...(messageId === undefined ? {} : { messageId }), ...(contentType === undefined ? {} : { contentType }), ...(type === undefined ? {} : { type }) };
}

/**
 * testkit's TcpProxy to RabbitMQ with an observer on what RabbitMQ sends: the frames are parsed
 * as they pass, the bytes forwarded unchanged.
 */
export class Wire091Tap {
  readonly messages: WireMessage[] = [];
  readonly #proxy: TcpProxy;
  #buf = Buffer.alloc(0);

  constructor(readonly targetPort: number) {
    this.#proxy = new TcpProxy(targetPort, { onDownstream: (chunk) => this.#parse(chunk) });
  }

  get port(): number {
    return this.#proxy.port;
  }

  start(): Promise<number> {
    return this.#proxy.start();
  }

  stop(): Promise<void> {
    return this.#proxy.stop();
  }

  /** Frames from the broker: type u8, channel u16, size u32, payload, 0xCE (§4.2.3). One connection at a time. */
  #parse(chunk: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    for (;;) {
      if (this.#buf.length < 7) return;
      const size = this.#buf.readUInt32BE(3);
      if (this.#buf.length < 7 + size + 1) return;
      const type = this.#buf.readUInt8(0);
      if (this.#buf[7 + size] !== FRAME_END) throw new Error('0-9-1 frame end missing: the tap lost its place');
      if (type === FRAME_HEADER) this.messages.push(contentHeader(this.#buf.subarray(7, 7 + size)));
      this.#buf = this.#buf.subarray(7 + size + 1);
    }
  }
}
