/**
 * Per-publisher order at the far end: MQTT 5 §4.6 asks a server to forward a client's QoS 1
 * messages on one topic in the order it received them, and the spool promises that order through
 * an outage (docs/spool.md, "Order"). With at-least-once, a message may come again later, so the
 * order that counts is that of each message's FIRST arrival.
 */

/** The ids the fleet gives its messages: `${prefix}:d${device}:${index}` (support/fleet.ts). */
function parse(id: string): { device: string; index: number } | undefined {
  const m = /^(.*):d(\d+):(\d+)$/.exec(id);
  return m ? { device: m[2] as string, index: Number(m[3]) } : undefined;
}

/**
 * First arrivals that came after a later message of the same device, as
 * `d<device>: <index> after <index>` (empty when every device's order held).
 */
export function orderViolations(arrivals: readonly string[]): string[] {
  const seen = new Set<string>();
  const highest = new Map<string, number>();
  const out: string[] = [];
  for (const id of arrivals) {
    if (seen.has(id)) continue; // a duplicate: counted by Tally, not an order question
    seen.add(id);
    const p = parse(id);
    if (p === undefined) continue; // not a fleet id: Tally counts it as unexpected
    const top = highest.get(p.device) ?? -1;
    if (p.index < top) out.push(`d${p.device}: ${p.index} after ${top}`);
    else highest.set(p.device, p.index);
  }
  return out;
}
