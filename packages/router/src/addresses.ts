import type { AddressSyntax } from '@ferry/core';

/**
 * The address model: every address is a list of levels (MQTT topic levels, AMQP topic words),
 * written with its syntax's separator. Translating an address between syntaxes splits it into
 * levels in the source syntax, translates each level, and joins them in the target syntax:
 *
 *   MQTT `a/b/c`  ⇄  AMQP 0-9-1 routing key `a.b.c`  ⇄  STOMP `/topic/a.b.c`  ⇄  AMQP 1.0 `a.b.c`
 *
 * A level that holds the target's separator would otherwise become two levels, and the way
 * back would give a different address (`v1.2/temp` → `v1.2.temp` → `v1/2/temp`). So between
 * MQTT and the dot-separated syntaxes the two separators swap inside each level: an MQTT level
 * `v1.2` is the AMQP word `v1/2`, an AMQP word `a/b` is the MQTT level `a.b`. The swap is its
 * own inverse, so every address comes back exactly, and it is the rule RabbitMQ's MQTT plugin
 * applies between MQTT topics and `amq.topic` routing keys ('/' ⇄ '.', each the other), so a
 * binding written for the plugin (`sensors.v1/2.temp`, `sensors.*.temp`) takes the same
 * messages from Ferry. docs/mapping.md "Addresses" has the table.
 */

/** The swap of {@link translateLevel}: '/' becomes '.', '.' becomes '/', nothing else changes. */
function swapSeparators(level: string): string {
  if (!level.includes('/') && !level.includes('.')) return level;
  let out = '';
  for (const ch of level) out += ch === '/' ? '.' : ch === '.' ? '/' : ch;
  return out;
}

/**
 * One level of a `from` address as a level of a `to` address: unchanged between syntaxes with
 * the same separator, the separators swapped between MQTT and the others, so the level stays
 * one level and comes back as it was.
 */
export function translateLevel(level: string, from: AddressSyntax, to: AddressSyntax): string {
  return separatorOf(from) === separatorOf(to) ? level : swapSeparators(level);
}

/** The level separator of a syntax: MQTT '/' (MQTT 5 §4.7.1.1), every other syntax '.'. */
export function separatorOf(syntax: AddressSyntax): '/' | '.' {
  return syntax === 'mqtt' ? '/' : '.';
}

/**
 * A STOMP destination as RabbitMQ's STOMP plugin reads it (rabbitmq.com/stomp.html,
 * "Destinations"): `/topic/<routing key>` (amq.topic), `/exchange/<name>[/<routing key>]`,
 * `/queue/<name>` (a queue the plugin declares) and `/amq/queue/<name>` (an existing queue).
 * `rest` is the routing key (topic, exchange) or the queue name (queue, amq-queue).
 */
export type StompDestination =
  | { readonly kind: 'topic'; readonly rest: string }
  | { readonly kind: 'exchange'; readonly exchange: string; readonly rest: string }
  | { readonly kind: 'queue'; readonly rest: string }
  | { readonly kind: 'amq-queue'; readonly rest: string };

const STOMP_TOPIC_PREFIX = '/topic/';
const STOMP_QUEUE_PREFIX = '/queue/';
const STOMP_AMQ_QUEUE_PREFIX = '/amq/queue/';
const STOMP_EXCHANGE_PREFIX = '/exchange/';

/** Parse a STOMP destination; undefined when it has none of the known prefixes. */
export function parseStompDestination(destination: string): StompDestination | undefined {
  if (destination.startsWith(STOMP_TOPIC_PREFIX)) {
    return { kind: 'topic', rest: destination.slice(STOMP_TOPIC_PREFIX.length) };
  }
  if (destination.startsWith(STOMP_QUEUE_PREFIX)) {
    return { kind: 'queue', rest: destination.slice(STOMP_QUEUE_PREFIX.length) };
  }
  if (destination.startsWith(STOMP_AMQ_QUEUE_PREFIX)) {
    return { kind: 'amq-queue', rest: destination.slice(STOMP_AMQ_QUEUE_PREFIX.length) };
  }
  if (destination.startsWith(STOMP_EXCHANGE_PREFIX)) {
    const after = destination.slice(STOMP_EXCHANGE_PREFIX.length);
    const slash = after.indexOf('/');
    // `/exchange/x` without a routing key publishes with the empty routing key
    if (slash < 0) return { kind: 'exchange', exchange: after, rest: '' };
    return { kind: 'exchange', exchange: after.slice(0, slash), rest: after.slice(slash + 1) };
  }
  return undefined;
}

/**
 * AMQP topic words. The empty routing key has no words (RabbitMQ's topic exchange splits `""`
 * into `[]`, which `#` matches and `*` does not); `a..b` has an empty middle word.
 */
export function splitWords(key: string): string[] {
  return key === '' ? [] : key.split('.');
}

/**
 * The levels of an address written in `syntax`.
 * - mqtt: split on '/'; empty levels are levels (`/a` is ['', 'a'], MQTT 5 §4.7.1.1)
 * - amqp, amqp10: split on '.' ({@link splitWords})
 * - stomp: `/topic/a.b` and `/exchange/x/a.b` → the routing key's words ([a, b]);
 *   `/queue/q` and `/amq/queue/q` → the queue name as one level ([q]: a queue name is a name,
 *   not a hierarchy, even when it holds dots); any other destination → itself without its
 *   leading '/', as one level.
 */
export function splitAddress(syntax: AddressSyntax, address: string): string[] {
  switch (syntax) {
    case 'mqtt':
      return address.split('/');
    case 'amqp':
    case 'amqp10':
      return splitWords(address);
    case 'stomp': {
      const d = parseStompDestination(address);
      if (d === undefined) return [address.startsWith('/') ? address.slice(1) : address];
      if (d.kind === 'queue' || d.kind === 'amq-queue') return [d.rest];
      return splitWords(d.rest);
    }
  }
}

/** Write `levels` as an address in `syntax`; a STOMP address is a `/topic/` destination. */
export function renderAddress(syntax: AddressSyntax, levels: readonly string[]): string {
  const joined = levels.join(separatorOf(syntax));
  return syntax === 'stomp' ? STOMP_TOPIC_PREFIX + joined : joined;
}

/**
 * Translate an address from one syntax to another. Within one syntax the address is kept as it
 * is (a STOMP `/queue/q` stays `/queue/q` rather than becoming `/topic/q`).
 */
export function translateAddress(from: AddressSyntax, address: string, to: AddressSyntax): string {
  if (from === to) return address;
  // amqp and amqp10 share the dot-separated word form
  if ((from === 'amqp' || from === 'amqp10') && (to === 'amqp' || to === 'amqp10')) return address;
  return renderAddress(
    to,
    splitAddress(from, address).map((level) => translateLevel(level, from, to)),
  );
}

/**
 * A reply-to address written for `from` as the reply-to of a message going to `to`. Between MQTT
 * and the dot-separated syntaxes it is translated like an address (the separators swap), so an
 * MQTT Response Topic `devices/d1/v1.2/resp` becomes the AMQP reply-to `devices.d1.v1/2.resp`: a
 * service replies with that routing key, and a route with `topic: "{address}"` brings the reply
 * back to the very topic the device subscribed to. A STOMP reply-to is a destination and is kept
 * as it is both ways, as it is between AMQP 0-9-1 and AMQP 1.0.
 */
export function translateReplyTo(from: AddressSyntax, replyTo: string, to: AddressSyntax): string {
  if (from === 'stomp' || to === 'stomp') return replyTo;
  return translateLevel(replyTo, from, to);
}
