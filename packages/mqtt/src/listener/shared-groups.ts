import { FilterTrie } from './topic-trie.js';
import type { Subscription } from './types.js';

/** The members of one `$share/<group>/<filter>` (MQTT 5 §4.8.2), in the order they subscribed. */
interface Group {
  readonly members: Map<string, Subscription>;
  /** where the round robin goes on from */
  next: number;
}

/**
 * Shared subscriptions by their inner topic filter: each message matching a group's filter goes
 * to one member of the group (MQTT 5 §4.8.2), picked round robin among the connected members,
 * or among all of them when none is connected (a persistent session queues it).
 */
export class SharedGroups {
  /** inner filter → the whole `$share/...` string → its group */
  readonly #index = new FilterTrie<Group>();
  readonly #groups = new Map<string, Group>();

  add(clientId: string, sub: Subscription & { readonly share: { readonly filter: string } }): void {
    let g = this.#groups.get(sub.filter);
    if (g === undefined) {
      g = { members: new Map(), next: 0 };
      this.#groups.set(sub.filter, g);
      this.#index.set(sub.share.filter, sub.filter, g);
    }
    g.members.set(clientId, sub);
  }

  remove(clientId: string, sub: Subscription & { readonly share: { readonly filter: string } }): void {
    const g = this.#groups.get(sub.filter);
    if (g === undefined || !g.members.delete(clientId) || g.members.size > 0) return;
    this.#groups.delete(sub.filter);
    this.#index.delete(sub.share.filter, sub.filter);
  }

  /** no shared subscription exists (most listeners): nothing to match */
  get empty(): boolean {
    return this.#groups.size === 0;
  }

  /** one member of every group whose filter matches `topic`, with its subscription */
  match(topic: string, connected: (clientId: string) => boolean, visit: (clientId: string, sub: Subscription) => void): void {
    this.#index.match(topic, (_, g) => {
      const picked = pick(g, connected, true);
      if (picked !== undefined) visit(picked[0], picked[1]);
    });
  }

  /** a connected member of `share` other than `except`, to hand a message over to */
  other(share: string, except: string, connected: (clientId: string) => boolean): [string, Subscription] | undefined {
    const g = this.#groups.get(share);
    if (g === undefined) return undefined;
    return pick(g, (id) => id !== except && connected(id), false);
  }
}

/** the next member in round robin order that is connected; without one, with `fallback`, the next member at all */
function pick(g: Group, connected: (clientId: string) => boolean, fallback: boolean): [string, Subscription] | undefined {
  const members = [...g.members];
  const n = members.length;
  if (n === 0) return undefined;
  for (let i = 0; i < n; i++) {
    const idx = (g.next + i) % n;
    const m = members[idx] as [string, Subscription];
    if (connected(m[0])) {
      g.next = idx + 1;
      return m;
    }
  }
  if (!fallback) return undefined;
  const idx = g.next % n;
  g.next = idx + 1;
  return members[idx];
}
