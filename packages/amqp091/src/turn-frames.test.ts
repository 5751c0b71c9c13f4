import type { ChannelStream, MuxInternals } from './channel-write.js';
import { PUBLISH_ROOM } from './publish-frames.js';
import { TurnFrames, type ChannelOut } from './turn-frames.js';

/** A channel's stream and the muxer's output, their writes recorded as text. */
class Channel implements ChannelStream {
  readonly written: string[] = [];
  readonly socket: string[] = [];
  readableLength = 0;
  writableLength = 0;
  /** what the stream's write returns */
  accepts = true;
  open = true;
  sent = 0;
  readonly mux: MuxInternals = {
    blocked: false,
    out: {
      write: (chunk: Buffer): boolean => {
        this.socket.push(chunk.toString());
        return true;
      },
    },
  };

  write(chunk: Buffer): boolean {
    this.written.push(chunk.toString());
    return this.accepts;
  }

  out(): ChannelOut {
    return {
      channel: 1,
      mux: this.mux,
      stream: () => (this.open ? this : undefined),
      sent: () => {
        this.sent++;
      },
    };
  }
}

/** encode `text` as a publish's frames would be, and commit it */
function publish(frames: TurnFrames, text: string): boolean | undefined {
  const buf = frames.buffer();
  const at = frames.at;
  return frames.commit(at + buf.write(text, at));
}

const endOfTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('TurnFrames', () => {
  it('writes a turn’s publishes past the empty stream in one write at the end of the turn, and the next turn’s in another', async () => {
    const ch = new Channel();
    const frames = new TurnFrames(ch.out(), () => undefined);
    expect([publish(frames, 'a'), publish(frames, 'b')]).toEqual([true, true]);
    expect(ch.socket).toEqual([]);
    await endOfTurn();
    expect(ch.socket).toEqual(['ab']);
    expect(ch.sent).toBe(1);
    publish(frames, 'c');
    await endOfTurn();
    expect(ch.socket).toEqual(['ab', 'c']);
    expect(ch.written).toEqual([]);
  });

  it('writes what waits, then the publish, into a stream that holds frames, and returns the stream’s answer', async () => {
    const ch = new Channel();
    const frames = new TurnFrames(ch.out(), () => undefined);
    publish(frames, 'a');
    ch.readableLength = 1;
    ch.accepts = false;
    expect(publish(frames, 'b')).toBe(false);
    expect(ch.written).toEqual(['ab']);
    await endOfTurn();
    expect(ch.socket).toEqual([]);
  });

  it('writes into the stream once the muxer is blocked, and calls onFull when the end of the turn’s write finds the stream full', async () => {
    const ch = new Channel();
    let full = 0;
    const frames = new TurnFrames(ch.out(), () => {
      full++;
    });
    publish(frames, 'a');
    // another write blocked the muxer before the end of the turn
    ch.mux.blocked = true;
    ch.accepts = false;
    await endOfTurn();
    expect(ch.written).toEqual(['a']);
    expect(full).toBe(1);
  });

  it('writes nothing once the channel is closed', async () => {
    const ch = new Channel();
    const frames = new TurnFrames(ch.out(), () => undefined);
    publish(frames, 'a');
    ch.open = false;
    expect(publish(frames, 'b')).toBeUndefined();
    await endOfTurn();
    expect([...ch.socket, ...ch.written]).toEqual([]);
  });

  it('writes a full buffer’s publishes before it takes the next buffer, in order', async () => {
    const ch = new Channel();
    const frames = new TurnFrames(ch.out(), () => undefined);
    const one = 'x'.repeat(PUBLISH_ROOM - 1);
    const n = 100;
    for (let i = 0; i < n; i++) publish(frames, `${i % 10}${one}`);
    await endOfTurn();
    expect(ch.socket.length).toBeGreaterThan(1);
    expect(ch.socket.join('')).toBe(Array.from({ length: n }, (_, i) => `${i % 10}${one}`).join(''));
  });
});
