import type { ConfirmChannel } from 'amqplib';
import { muxOf, type ChannelStream } from './channel-write.js';
import type { FramedOptions, PublishFrame, TrailingId } from './publish-frames.js';
import { TurnFrames } from './turn-frames.js';

export type { FramedOptions, TrailingId } from './publish-frames.js';

function hasKeys(o: Readonly<Record<string, unknown>>): boolean {
  for (const _ in o) return true;
  return false;
}

/**
 * What amqplib's `Args.publish` (lib/api_args.js) makes of the same options, without its two costs
 * per publish: it makes the header object the prototype of a fresh one (V8 then turns the header
 * object into a prototype, and the encoder walks the prototype chain key by key), and it always
 * sends a header table, an empty one when there are no headers. Here a message without headers
 * has no table at all: the `headers` flag of the content header stays clear (AMQP 0-9-1 §4.2.6.1,
 * property flags), which a receiver reads as no headers, as it would an empty table.
 */
export function publishFrame(exchange: string, routingKey: string, o: FramedOptions): PublishFrame {
  const h = o.headers;
  return {
    exchange,
    routingKey,
    mandatory: o.mandatory === true,
    // RabbitMQ refuses `immediate` (NOT_IMPLEMENTED); amqplib never sets it either
    immediate: false,
    ticket: undefined,
    contentType: o.contentType,
    contentEncoding: o.contentEncoding,
    headers: h !== undefined && hasKeys(h) ? h : undefined,
    // as amqplib reads `persistent`: 2 persistent, 1 not, and no property when it is not given
    deliveryMode: o.persistent === undefined ? undefined : o.persistent ? 2 : 1,
    priority: o.priority,
    correlationId: o.correlationId,
    replyTo: o.replyTo,
    expiration: o.expiration === undefined ? undefined : String(o.expiration),
    messageId: o.messageId,
    timestamp: o.timestamp,
    type: o.type,
    userId: o.userId,
    appId: o.appId,
    clusterId: undefined,
  };
}

/** amqplib's confirm channel below its `publish` (lib/channel.js): the call `publish` makes to send. */
interface ConfirmChannelInternals {
  sendMessage(fields: PublishFrame, properties: PublishFrame, content: Buffer): boolean;
  /** the channel number */
  readonly ch: number;
  /**
   * the connection: `sendMessage` writes the frames into `channels[ch].buffer`, the channel's
   * stream its muxer reads from (lib/connection.js), and marks `sentSinceLastCheck` for the heartbeat
   */
  readonly connection: { sentSinceLastCheck: boolean; readonly channels: readonly ({ readonly buffer?: ChannelStream } | undefined)[] };
}

function internalsOf(ch: ConfirmChannel): ConfirmChannelInternals | undefined {
  const c = ch as unknown as Partial<ConfirmChannelInternals>;
  if (typeof c.sendMessage !== 'function') return undefined;
  if (typeof c.ch !== 'number' || typeof c.connection !== 'object' || !Array.isArray(c.connection.channels)) return undefined;
  return c as ConfirmChannelInternals;
}

/** the function itself, only to compare: read, not called, so `this` does not matter */
function sendMessageOf(c: ConfirmChannelInternals): unknown {
  return (c as { readonly sendMessage: unknown }).sendMessage;
}

/**
 * The channel's stream, while the channel is open: amqplib replaces `sendMessage` with a function
 * that throws once the channel closes (lib/channel.js `invalidateSend`), and only that path says so.
 */
function openStream(c: ConfirmChannelInternals, send: unknown): ChannelStream | undefined {
  if (sendMessageOf(c) !== send) return undefined;
  const buffer = c.connection.channels[c.ch]?.buffer;
  return typeof buffer?.write === 'function' ? buffer : undefined;
}

/**
 * Publish one message on a confirm channel, encoded by amqplib. Its confirm is not tracked here:
 * the caller counts delivery tags and reads the channel's 'ack' and 'nack' events (publisher.ts), so
 * amqplib keeps no callback for it. With `serial`, the header `confirmedPublish` was given as its
 * {@link TrailingId} is added after the options' headers, its value the id's prefix and the
 * serial's digits; the options' headers must not hold that name.
 */
export type ConfirmedPublish = (exchange: string, routingKey: string, content: Buffer, options: FramedOptions, serial?: number) => boolean;

/** `options` with the trailing id as a header of its own, for amqplib's encoder */
function withId(options: FramedOptions, id: TrailingId | undefined, serial: number | undefined): FramedOptions {
  if (id === undefined || serial === undefined) return options;
  return { ...options, headers: { ...options.headers, [id.name]: id.prefix + String(serial) } };
}

/**
 * `publish` for `ch`: amqplib's ConfirmChannel `publish` is `sendMessage` of what `Args.publish`
 * built, then `pushConfirmCallback` (lib/channel_model.js); this makes the first call with
 * {@link publishFrame}'s fields and leaves the callback out. amqplib's confirm window without
 * callbacks is a plain channel's: its 'ack' and 'nack' handlers (lib/channel.js `handleConfirm`)
 * only move its low-water mark. When the installed amqplib has not that shape, amqplib's own
 * `publish` with no callback (a unit test checks the shape of the pinned version).
 */
export function confirmedPublish(ch: ConfirmChannel, id?: TrailingId): ConfirmedPublish {
  const c = internalsOf(ch);
  if (c === undefined) return (exchange, routingKey, content, options, serial) => ch.publish(exchange, routingKey, content, withId(options, id, serial));
  return (exchange, routingKey, content, options, serial) => {
    const frame = publishFrame(exchange, routingKey, withId(options, id, serial));
    return c.sendMessage(frame, frame, content);
  };
}

/**
 * The writer of encoded publishes for `ch` (turn-frames.ts), or undefined when the installed
 * amqplib has not the shape it relies on (then every publish goes through
 * {@link confirmedPublish}): it writes to the socket's writer past the channel's stream when the
 * stream is empty and the muxer not blocked, into that stream otherwise (channel-write.ts), and
 * marks the connection's `sentSinceLastCheck` for the heartbeat, as `sendMessage` does. `onFull`:
 * a write of the end of a turn found the channel's stream full.
 */
export function frameWriter(ch: ConfirmChannel, onFull: () => void): TurnFrames | undefined {
  const c = internalsOf(ch);
  if (c === undefined) return undefined;
  const send = sendMessageOf(c);
  const connection = c.connection;
  return new TurnFrames(
    {
      channel: c.ch,
      mux: muxOf(connection),
      stream: () => openStream(c, send),
      sent: () => {
        connection.sentSinceLastCheck = true;
      },
    },
    onFull,
  );
}
