import type { HeaderValue, Headers, ReadonlyHeaders } from './headers.js';
import { sharedHeaders, TypedNumber } from './headers.js';

/**
 * Loop protection: every message Ferry writes carries the number of times it has passed through
 * a Ferry (this one or another) in the header `x-ferry-hops`, an integer (MQTT 5 and STOMP carry
 * it as its decimal text). A route whose destinations would take a message past the gateway's
 * `maxHops` does not write it (docs/route-files.md "gateway"), so two routes that feed each other
 * through two brokers stop instead of looping for ever.
 */
export const HOPS_HEADER = 'x-ferry-hops';

/** The default of `gateway.maxHops`. */
export const DEFAULT_MAX_HOPS = 8;

/** The hop count a message arrived with: 0 when absent or not a whole number ≥ 0. */
export function hopsOf(headers: ReadonlyHeaders): number {
  return hopValue(headers.get(HOPS_HEADER));
}

function hopValue(v: HeaderValue | undefined): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'bigint') n = Number(v);
  else if (v instanceof TypedNumber) n = Number(v.value);
  else if (typeof v === 'string' && /^\s*\d{1,9}\s*$/.test(v)) n = Number(v);
  else return 0;
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/**
 * `headers` with the hop count set to `hops`, as a new map the caller may change further (the
 * input is not changed).
 */
export function withHops(headers: ReadonlyHeaders, hops: number): Headers {
  const out: Headers = new Map(headers);
  out.set(HOPS_HEADER, hops);
  return out;
}

/** shared hop-only header maps by hop count, made when first needed */
const hopsOnly: ReadonlyHeaders[] = [];

/**
 * {@link withHops} for headers nothing will change: a message without headers (most of them)
 * gets one shared map per hop count instead of a map of its own, which it would keep for as long
 * as it is in flight.
 */
export function withHopsShared(headers: ReadonlyHeaders, hops: number): ReadonlyHeaders {
  if (headers.size !== 0 || !Number.isSafeInteger(hops) || hops < 0 || hops > 255) return withHops(headers, hops);
  return (hopsOnly[hops] ??= sharedHeaders([[HOPS_HEADER, hops]]));
}
