/**
 * MQTT topic names and filters (MQTT 5 §4.7, identical in 3.1.1 §4.7).
 */

/** A topic name a PUBLISH may carry: non-empty, no wildcards, no NUL (§4.7.3, §1.5.4). */
export function isValidTopicName(topic: string): boolean {
  return topic.length > 0 && !/[+#]/.test(topic) && !topic.includes('\u0000');
}

/**
 * A valid topic filter: `#` only as the whole last level, `+` only as a whole level (§4.7.1.2,
 * §4.7.1.3), non-empty, no NUL.
 */
export function isValidTopicFilter(filter: string): boolean {
  if (filter.length === 0 || filter.includes('\u0000')) return false;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i] as string;
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return false;
    if (l.includes('+') && l !== '+') return false;
  }
  return true;
}

/** `$share/<group>/<filter>` (MQTT 5 §4.8.2). */
export function isSharedSubscription(filter: string): boolean {
  return filter.startsWith('$share/');
}

/**
 * Split `$share/<ShareName>/<filter>` (MQTT 5 §4.8.2): undefined when the share name is empty or
 * holds `+` or `#` [MQTT-4.8.2-1, -2], or no valid topic filter follows it.
 */
export function parseSharedSubscription(shared: string): { readonly group: string; readonly filter: string } | undefined {
  if (!isSharedSubscription(shared)) return undefined;
  const rest = shared.slice('$share/'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const group = rest.slice(0, slash);
  const filter = rest.slice(slash + 1);
  if (group.includes('+') || group.includes('#') || filter.length === 0 || !isValidTopicFilter(filter)) return undefined;
  return { group, filter };
}

/**
 * Does `topic` match `filter`? Wildcards at the first level do not match topics starting with
 * `$` (§4.7.2); `a/#` also matches `a` (§4.7.1.2).
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const fl = f[i] as string;
    if (fl === '#') return true;
    if (i >= t.length) return false;
    if (fl !== '+' && fl !== t[i]) return false;
  }
  return f.length === t.length;
}
