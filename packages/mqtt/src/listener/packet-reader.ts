import mqttPacket, { type Packet, type Parser } from 'mqtt-packet';

/**
 * What mqtt-packet's parser remembers about a connection between packets: the protocol level
 * (and bridge mode) of its CONNECT, which decide how later packets read (MQTT 5 properties,
 * reason codes). The parser keeps it in its `settings` (parser.js: `this.settings = packet` on CONNECT).
 */
export interface ParserSettings {
  readonly protocolVersion?: number;
  readonly bridgeMode?: boolean;
}

interface SettledParser extends Parser {
  settings: ParserSettings;
}

type ReadResult = { readonly kind: 'packet'; readonly packet: Packet } | { readonly kind: 'error'; readonly message: string } | { readonly kind: 'none' };

/**
 * One mqtt-packet parser for every connection of the process, instead of one per connection.
 *
 * A parser is an EventEmitter with a BufferList stream (a Duplex, with its readable and writable
 * states), a packet under construction and its listeners: about 1.5 KiB of heap for every
 * connected device, most of its life idle. The listener only ever hands it one whole packet
 * (the size guard finds the boundaries, Unparsed holds the rest), so nothing of a connection
 * stays in the parser between two calls except its settings, which the connection keeps and
 * passes in. Parsing is synchronous and the packet is handled after `read` returns, so one
 * parser serves every connection, one packet at a time.
 */
class PacketReader {
  #parser: SettledParser = this.#fresh();
  /** what the parser's events reported during the current read (an object of its own per read:
   *  the events set it inside parse(), where the compiler does not see it change) */
  #got: { packet?: Packet; error?: string } = {};

  #fresh(): SettledParser {
    const p = mqttPacket.parser() as SettledParser;
    p.on('packet', (packet: Packet) => {
      this.#got.packet = packet;
    });
    p.on('error', (err: unknown) => {
      this.#got.error ??= err instanceof Error ? err.message : String(err);
    });
    return p;
  }

  /**
   * Parses `raw`, one whole packet, read with `settings` (undefined before CONNECT). Returns the
   * result and the settings to keep for the connection's next packet.
   */
  read(raw: Buffer, settings: ParserSettings | undefined): { readonly result: ReadResult; readonly settings: ParserSettings | undefined } {
    const parser = this.#parser;
    const got: { packet?: Packet; error?: string } = {};
    this.#got = got;
    parser.settings = settings ?? {};
    let left = 0;
    try {
      left = parser.parse(raw);
    } finally {
      // a packet the parser did not finish (an error, or bytes it did not consume) must not
      // reach the next connection's packet: start again with a fresh parser
      if (got.error !== undefined || left > 0 || got.packet === undefined) this.#parser = this.#fresh();
    }
    // on CONNECT the parser takes the whole packet as its settings (credentials and will
    // included): keep only the two fields it reads
    const now = parser.settings;
    const kept = now === settings ? settings : sharedSettings(now);
    if (got.error !== undefined) return { result: { kind: 'error', message: got.error }, settings: kept };
    if (got.packet === undefined) return { result: { kind: 'none' }, settings: kept };
    return { result: { kind: 'packet', packet: got.packet }, settings: kept };
  }
}

/**
 * The settings objects connections keep, one per combination: every connection of the same
 * protocol level shares one (the parser only reads them; on CONNECT it replaces its own).
 */
const SETTINGS = new Map<string, ParserSettings>();

function sharedSettings(s: ParserSettings): ParserSettings {
  const key = `${s.protocolVersion}/${s.bridgeMode}`;
  let kept = SETTINGS.get(key);
  if (kept === undefined) {
    kept = Object.freeze({ protocolVersion: s.protocolVersion, bridgeMode: s.bridgeMode });
    SETTINGS.set(key, kept);
  }
  return kept;
}

/** the process's one reader (see PacketReader) */
export const packetReader = new PacketReader();
