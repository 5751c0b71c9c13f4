/**
 * Topic tries for the embedded broker (MQTT 5 §4.7, the same in 3.1.1): one level per node, so
 * matching a topic costs its number of levels (times the wildcards on the way), not the number
 * of subscriptions or retained messages. docs/benchmarks-log.md has the comparison with qlobber
 * and with the linear scan this replaces.
 */

/** One level of a trie: its children by level name, and what is stored at this level. */
class Node<P> {
  readonly children = new Map<string, Node<P>>();
  payload: P | undefined;
}

/** the node for `levels`, created on the way */
function nodeFor<P>(root: Node<P>, levels: readonly string[]): Node<P> {
  let node = root;
  for (const level of levels) {
    let next = node.children.get(level);
    if (next === undefined) {
      next = new Node<P>();
      node.children.set(level, next);
    }
    node = next;
  }
  return node;
}

/** the nodes from the root to `levels`, or undefined when the path does not exist */
function pathTo<P>(root: Node<P>, levels: readonly string[]): Node<P>[] | undefined {
  const path: Node<P>[] = [root];
  for (const level of levels) {
    const next = (path[path.length - 1] as Node<P>).children.get(level);
    if (next === undefined) return undefined;
    path.push(next);
  }
  return path;
}

/** remove the nodes left with neither payload nor children, leaf first */
function prune<P>(path: readonly Node<P>[], levels: readonly string[]): void {
  for (let i = levels.length; i > 0; i--) {
    const n = path[i] as Node<P>;
    if (n.payload !== undefined || n.children.size > 0) break;
    (path[i - 1] as Node<P>).children.delete(levels[i - 1] as string);
  }
}

/**
 * How many topics {@link FilterTrie.matches} remembers: a device usually publishes on one topic
 * again and again, and a gateway's devices on a few thousand; topics past the bound are matched
 * in the trie every time, as before.
 */
const MATCH_CACHE = 4096;

const NO_MATCH: readonly (readonly [string, never])[] = [];

/** Subscriptions by topic filter; each filter holds values by key (a client id). */
export class FilterTrie<V> {
  readonly #root = new Node<Map<string, V>>();
  #size = 0;
  /** what {@link matches} found for each topic, until the next set or delete */
  readonly #found = new Map<string, readonly (readonly [string, V])[]>();

  /** number of distinct filters */
  get size(): number {
    return this.#size;
  }

  set(filter: string, key: string, value: V): void {
    this.#found.clear();
    const node = nodeFor(this.#root, filter.split('/'));
    if (node.payload === undefined) {
      node.payload = new Map();
      this.#size++;
    }
    node.payload.set(key, value);
  }

  delete(filter: string, key: string): void {
    this.#found.clear();
    const levels = filter.split('/');
    const path = pathTo(this.#root, levels);
    const leaf = path?.[path.length - 1];
    if (path === undefined || !leaf?.payload?.delete(key)) return;
    if (leaf.payload.size > 0) return;
    leaf.payload = undefined;
    this.#size--;
    prune(path, levels);
  }

  /**
   * Calls `visit` with the values of every filter matching `topic`. `+` and `#` at the first
   * level do not match a topic starting with `$` (§4.7.2); `a/#` matches `a` too (§4.7.1.2).
   */
  match(topic: string, visit: (key: string, value: V) => void): void {
    // a listener that only feeds routes has no subscriptions: no need to split every topic
    if (this.#size === 0) return;
    this.#match(this.#root, topic.split('/'), 0, !topic.startsWith('$'), visit);
  }

  /**
   * The key and value of every filter matching `topic`, as {@link match} visits them. Remembered
   * per topic until the filters change: for a topic seen before, one lookup instead of splitting
   * the topic and walking the trie (this runs for every message). The list is shared: read only.
   */
  matches(topic: string): readonly (readonly [string, V])[] {
    if (this.#size === 0) return NO_MATCH;
    const known = this.#found.get(topic);
    if (known !== undefined) return known;
    const found: (readonly [string, V])[] = [];
    this.match(topic, (key, value) => found.push([key, value]));
    if (this.#found.size < MATCH_CACHE) this.#found.set(topic, found);
    return found;
  }

  #match(node: Node<Map<string, V>>, levels: readonly string[], i: number, wild: boolean, visit: (key: string, value: V) => void): void {
    if (wild) {
      const hash = node.children.get('#')?.payload;
      if (hash !== undefined) for (const [k, v] of hash) visit(k, v);
    }
    if (i === levels.length) {
      if (node.payload !== undefined) for (const [k, v] of node.payload) visit(k, v);
      return;
    }
    const exact = node.children.get(levels[i] as string);
    if (exact !== undefined) this.#match(exact, levels, i + 1, true, visit);
    if (wild) {
      const plus = node.children.get('+');
      if (plus !== undefined) this.#match(plus, levels, i + 1, true, visit);
    }
  }
}

/** Retained messages by topic name, looked up by topic filter. */
export class TopicTrie<V> {
  readonly #root = new Node<V>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(topic: string): V | undefined {
    const path = pathTo(this.#root, topic.split('/'));
    return path?.[path.length - 1]?.payload;
  }

  set(topic: string, value: V): void {
    const node = nodeFor(this.#root, topic.split('/'));
    if (node.payload === undefined) this.#size++;
    node.payload = value;
  }

  delete(topic: string): V | undefined {
    const levels = topic.split('/');
    const path = pathTo(this.#root, levels);
    const leaf = path?.[path.length - 1];
    const old = leaf?.payload;
    if (path === undefined || leaf === undefined || old === undefined) return undefined;
    leaf.payload = undefined;
    this.#size--;
    prune(path, levels);
    return old;
  }

  /** Calls `visit` for every topic matching `filter` (§4.7: the `$` rule and `a/#` matching `a` included). */
  match(filter: string, visit: (topic: string, value: V) => void): void {
    this.#match(this.#root, filter.split('/'), 0, [], visit);
  }

  #match(node: Node<V>, f: readonly string[], i: number, path: string[], visit: (topic: string, value: V) => void): void {
    if (i === f.length) {
      if (node.payload !== undefined) visit(path.join('/'), node.payload);
      return;
    }
    const level = f[i] as string;
    if (level === '#') {
      // §4.7.1.2: the parent level itself, then everything below it
      if (i > 0 && node.payload !== undefined) visit(path.join('/'), node.payload);
      this.#all(node, path, i === 0, visit);
      return;
    }
    if (level === '+') {
      for (const [name, child] of node.children) {
        // §4.7.2: a wildcard at the first level does not match `$` topics
        if (i === 0 && name.startsWith('$')) continue;
        path.push(name);
        this.#match(child, f, i + 1, path, visit);
        path.pop();
      }
      return;
    }
    const child = node.children.get(level);
    if (child === undefined) return;
    path.push(level);
    this.#match(child, f, i + 1, path, visit);
    path.pop();
  }

  #all(node: Node<V>, path: string[], root: boolean, visit: (topic: string, value: V) => void): void {
    for (const [name, child] of node.children) {
      if (root && name.startsWith('$')) continue;
      path.push(name);
      if (child.payload !== undefined) visit(path.join('/'), child.payload);
      this.#all(child, path, false, visit);
      path.pop();
    }
  }
}
