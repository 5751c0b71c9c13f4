/**
 * A STOMP frame as it travels on the wire, after decoding (STOMP 1.2 §STOMP Frames):
 * a command, an ordered list of headers (repeats kept, see {@link headerValue}) and a body of
 * bytes. Header names and values are the decoded (unescaped) strings.
 */
export type StompVersion = '1.0' | '1.1' | '1.2';

export const STOMP_VERSIONS: readonly StompVersion[] = ['1.0', '1.1', '1.2'];

/** the frames a client sends (STOMP 1.2 §Client Frames) */
export const CLIENT_COMMANDS: ReadonlySet<string> = new Set(['CONNECT', 'STOMP', 'SEND', 'SUBSCRIBE', 'UNSUBSCRIBE', 'ACK', 'NACK', 'BEGIN', 'COMMIT', 'ABORT', 'DISCONNECT']);

export type HeaderEntry = readonly [name: string, value: string];

export interface StompFrame {
  readonly command: string;
  readonly headers: readonly HeaderEntry[];
  readonly body: Buffer;
}

/**
 * The value of a header. STOMP 1.2 §Repeated Header Entries: "If a client or a server receives
 * repeated frame header entries, only the first header entry SHOULD be used as the value of
 * header entry." The first occurrence therefore wins, in every version.
 */
export function headerValue(frame: Pick<StompFrame, 'headers'>, name: string): string | undefined {
  for (const [n, v] of frame.headers) if (n === name) return v;
  return undefined;
}

export const EMPTY = Buffer.alloc(0);
