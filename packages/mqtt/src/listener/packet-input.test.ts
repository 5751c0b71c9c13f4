/**
 * PacketInput makes a client's reads into whole packets, however the stream is cut: every packet
 * arrives once, in order, with exactly its bytes; a packet inside one read is a view of that read
 * (its payload pins no other read), and while the sink holds input the whole packets left wait,
 * with the backlog reported, until a feed takes the last of them.
 */
import mqttPacket, { type Packet } from 'mqtt-packet';
import { ACK_HEADER, type AckCommand } from './packet-fast.js';
import { PacketInput, type PacketSink } from './packet-input.js';

const v4 = (p: Packet): Buffer => mqttPacket.generate(p, { protocolVersion: 4 });

/** CONNECT, then publishes of several sizes (one past 127 bytes: a 2-byte Remaining Length), acks and a ping */
function stream(): { readonly bytes: Buffer; readonly packets: Buffer[] } {
  const packets = [
    v4({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'c', clean: true, keepalive: 30 }),
    v4({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('one'), qos: 1, messageId: 1, retain: false, dup: false }),
    v4({ cmd: 'puback', messageId: 7 }),
    v4({ cmd: 'publish', topic: 'a/c', payload: Buffer.alloc(300, 0x41), qos: 0, retain: false, dup: false }),
    v4({ cmd: 'pingreq' }),
    v4({ cmd: 'publish', topic: 'a/d', payload: Buffer.alloc(0), qos: 1, messageId: 2, retain: true, dup: false }),
  ];
  return { bytes: Buffer.concat(packets), packets };
}

class Sink implements PacketSink {
  readonly raws: Buffer[] = [];
  readonly cmds: string[] = [];
  held = false;
  /** hold input after each packet taken while true */
  holdAfterEach = false;
  drained = 0;
  failures: string[] = [];
  inputDead(): boolean {
    return this.failures.length > 0;
  }
  inputHeld(): boolean {
    return this.held || this.inputDead();
  }
  takePacket(raw: Buffer, packet: Packet, start = 0, end = raw.length): void {
    // a copy: the test checks the bytes after later reads arrived
    this.raws.push(Buffer.from(raw.subarray(start, end)));
    this.cmds.push(packet.cmd);
    if (this.holdAfterEach) this.held = true;
  }
  takeAck(cmd: AckCommand, id: number): void {
    // an acknowledgement arrives as its command and id: kept as the bytes they are, for the same checks
    this.raws.push(Buffer.from([ACK_HEADER[cmd], 2, id >> 8, id & 0xff]));
    this.cmds.push(cmd);
    if (this.holdAfterEach) this.held = true;
  }
  parseError(message: string): void {
    this.failures.push(`parse: ${message}`);
  }
  inputViolation(code: string): void {
    this.failures.push(code);
  }
  handlerFailed(err: unknown): void {
    this.failures.push(String(err));
  }
  backlogTaken(): void {
    this.drained++;
  }
}

function feedAll(cuts: readonly number[], bytes: Buffer, maxPacketSize = 1024): Sink {
  const sink = new Sink();
  const input = new PacketInput(sink, maxPacketSize);
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    input.push(bytes.subarray(at, cut));
    at = cut;
  }
  return sink;
}

/** whether the sink took exactly `packets`, in order, and nothing failed */
function tookAll(sink: Sink, packets: readonly Buffer[]): boolean {
  return sink.failures.length === 0 && sink.raws.length === packets.length && sink.raws.every((raw, i) => raw.equals(packets[i] as Buffer));
}

function expectAll(sink: Sink, packets: readonly Buffer[]): void {
  expect(sink.failures).toEqual([]);
  expect(sink.raws.length).toBe(packets.length);
  sink.raws.forEach((raw, i) => expect(raw.equals(packets[i] as Buffer)).toBe(true));
}

describe('PacketInput: reads cut anywhere', () => {
  const { bytes, packets } = stream();

  it('takes every packet of a stream cut at every byte into two reads', () => {
    const wrong: number[] = [];
    for (let a = 1; a < bytes.length; a++) if (!tookAll(feedAll([a], bytes), packets)) wrong.push(a);
    expect(wrong).toEqual([]);
  });

  it('takes every packet of a stream cut at every pair of bytes into three reads', () => {
    // the stream without its 300-byte publish (a 2-byte Remaining Length still, at 130): every
    // pair of cuts, tens of thousands of streams
    const small = [packets[0], packets[1], packets[2], v4({ cmd: 'publish', topic: 'a/c', payload: Buffer.alloc(130, 0x41), qos: 0, retain: false, dup: false }), packets[4]] as Buffer[];
    const joined = Buffer.concat(small);
    const wrong: string[] = [];
    for (let a = 1; a < joined.length; a++) for (let b = a + 1; b < joined.length; b++) if (!tookAll(feedAll([a, b], joined), small)) wrong.push(`${a},${b}`);
    expect(wrong).toEqual([]);
  });

  it('takes every packet of a stream read one byte at a time', () => {
    const cuts = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
    expectAll(feedAll(cuts, bytes), packets);
  });

  it('joins a packet spanning many reads, with reads also carrying the packets around it', () => {
    const big = v4({ cmd: 'publish', topic: 'big', payload: Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251)), qos: 1, messageId: 3, retain: false, dup: false });
    const all = [...packets, big, ...packets.slice(1)];
    const joined = Buffer.concat(all);
    const cuts: number[] = [];
    for (let at = 37; at < joined.length; at += 97) cuts.push(at);
    expectAll(feedAll(cuts, joined, 8192), all);
  });

  it('takes a packet of exactly the maximum size, and refuses one a byte larger after the packets before it', () => {
    const publish = (n: number): Buffer => v4({ cmd: 'publish', topic: 't', payload: Buffer.alloc(n, 0x42), qos: 0, retain: false, dup: false });
    const exact = publish(600);
    expectAll(feedAll([3, 300], Buffer.concat([packets[0] as Buffer, exact]), exact.length), [packets[0] as Buffer, exact]);
    const over = publish(601);
    const sink = feedAll([3, 300], Buffer.concat([packets[0] as Buffer, exact, over]), exact.length);
    expect(sink.raws.length).toBe(2);
    expect(sink.failures).toEqual(['packet-too-large']);
  });
});

describe('PacketInput: held input', () => {
  const { bytes, packets } = stream();

  it('keeps the whole packets left while held, reports the backlog, and takes them on feed', () => {
    for (let a = 1; a < bytes.length; a++) {
      const sink = new Sink();
      const input = new PacketInput(sink, 1024);
      sink.holdAfterEach = true;
      input.push(bytes.subarray(0, a));
      // one packet at a time: every feed takes one, and the backlog goes once none is whole
      for (let guard = 0; guard < 20 && (input.hasBacklog || sink.held); guard++) {
        sink.held = false;
        input.feed();
      }
      expect(input.hasBacklog).toBe(false);
      sink.holdAfterEach = false;
      sink.held = false;
      input.push(bytes.subarray(a));
      expectAll(sink, packets);
    }
  });

  it('reports the backlog taken once its last whole packet is parsed, and not before', () => {
    const sink = new Sink();
    const input = new PacketInput(sink, 1024);
    sink.holdAfterEach = true;
    input.push(bytes);
    expect(sink.raws.length).toBe(1);
    expect(input.hasBacklog).toBe(true);
    for (let i = 2; i <= packets.length; i++) {
      expect(sink.drained).toBe(0);
      sink.held = false;
      input.feed();
      expect(sink.raws.length).toBe(i);
    }
    // the last packet taken held input again, with nothing whole left
    expect(input.hasBacklog).toBe(false);
    expect(sink.drained).toBe(1);
    expectAll(sink, packets);
  });

  it('gives a packet inside one read as a view of that read, not of a join of the held reads', () => {
    const sink = new Sink();
    const input = new PacketInput(sink, 1024);
    const seen: Buffer[] = [];
    const take = sink.takePacket.bind(sink);
    sink.takePacket = (raw, packet, start, end) => {
      seen.push(raw);
      take(raw, packet, start, end);
    };
    sink.held = true;
    const first = bytes.subarray(0, (packets[0] as Buffer).length + 5);
    // a buffer of its own (not from Node's shared pool), so its memory is this read's alone
    const second = Buffer.alloc(bytes.length - first.length);
    bytes.copy(second, 0, first.length);
    input.push(first);
    input.push(second);
    sink.held = false;
    input.feed();
    expectAll(sink, packets);
    // every packet after the one straddling the two reads lies in the second read's memory (the
    // acknowledgements, taken as their command and id, are not among them)
    expect(seen.length).toBeGreaterThan(3);
    for (const raw of seen.slice(2)) expect(raw.buffer).toBe(second.buffer);
  });
});
