/**
 * Topic tries for the embedded broker (MQTT 5 §4.7, the same in 3.1.1): one level per node, so
 * matching a topic costs its number of levels (times the wildcards on the way), not the number
 * of subscriptions or retained messages. docs/benchmarks.md has the comparison with qlobber
 * and with the linear scan this replaces.
 */

/** Subscriptions by topic filter; each filter holds values by key (a client id). */
export class FilterTrie<V> {
  readonly #root = new FilterNode<V>();
  #size = 0;

  /** number of distinct filters */
  get size(): number {
    return this.#size;
  }

  set(filter: string, key: string, value: V): void {
    let node = this.#root;
    for (const level of filter.split('/')) {
      let next = node.children.get(level);
      if (next === undefined) {
        next = new FilterNode<V>();
        node.children.set(level, next);
      }
      node = next;
    }
    if (node.values === undefined) {
      node.values = new Map();
      this.#size++;
    }
    node.values.set(key, value);
  }

  delete(filter: string, key: string): void {
    const path: FilterNode<V>[] = [this.#root];
    const levels = filter.split('/');
    for (const level of levels) {
      const next = (path[path.length - 1] as FilterNode<V>).children.get(level);
      if (next === undefined) return;
      path.push(next);
    }
    const leaf = path[path.length - 1] as FilterNode<V>;
    if (leaf.values === undefined || !leaf.values.delete(key)) return;
    if (leaf.values.size === 0) {
      leaf.values = undefined;
      this.#size--;
    }
    // prune empty nodes, leaf first
    for (let i = levels.length; i > 0; i--) {
      const n = path[i] as FilterNode<V>;
      if (n.values !== undefined || n.children.size > 0) break;
      (path[i - 1] as FilterNode<V>).children.delete(levels[i - 1] as string);
    }
  }

  /**
   * Calls `visit` with the values of every filter matching `topic`. `+` and `#` at the first
   * level do not match a topic starting with `$` (§4.7.2); `a/#` matches `a` too (§4.7.1.2).
   */
  match(topic: string, visit: (key: string, value: V) => void): void {
    const levels = topic.split('/');
    this.#match(this.#root, levels, 0, !topic.startsWith('$'), visit);
  }

  #match(node: FilterNode<V>, levels: readonly string[], i: number, wild: boolean, visit: (key: string, value: V) => void): void {
    if (wild) {
      const hash = node.children.get('#');
      if (hash?.values !== undefined) for (const [k, v] of hash.values) visit(k, v);
    }
    if (i === levels.length) {
      if (node.values !== undefined) for (const [k, v] of node.values) visit(k, v);
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

class FilterNode<V> {
  readonly children = new Map<string, FilterNode<V>>();
  values: Map<string, V> | undefined;
}

/** Retained messages by topic name, looked up by topic filter. */
export class TopicTrie<V> {
  readonly #root = new TopicNode<V>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(topic: string): V | undefined {
    let node: TopicNode<V> | undefined = this.#root;
    for (const level of topic.split('/')) {
      node = node.children.get(level);
      if (node === undefined) return undefined;
    }
    return node.value;
  }

  set(topic: string, value: V): void {
    let node = this.#root;
    for (const level of topic.split('/')) {
      let next = node.children.get(level);
      if (next === undefined) {
        next = new TopicNode<V>();
        node.children.set(level, next);
      }
      node = next;
    }
    if (node.value === undefined) this.#size++;
    node.value = value;
  }

  delete(topic: string): V | undefined {
    const levels = topic.split('/');
    const path: TopicNode<V>[] = [this.#root];
    for (const level of levels) {
      const next = (path[path.length - 1] as TopicNode<V>).children.get(level);
      if (next === undefined) return undefined;
      path.push(next);
    }
    const leaf = path[path.length - 1] as TopicNode<V>;
    const old = leaf.value;
    if (old === undefined) return undefined;
    leaf.value = undefined;
    this.#size--;
    for (let i = levels.length; i > 0; i--) {
      const n = path[i] as TopicNode<V>;
      if (n.value !== undefined || n.children.size > 0) break;
      (path[i - 1] as TopicNode<V>).children.delete(levels[i - 1] as string);
    }
    return old;
  }

  /** Calls `visit` for every topic matching `filter` (§4.7: the `$` rule and `a/#` matching `a` included). */
  match(filter: string, visit: (topic: string, value: V) => void): void {
    this.#match(this.#root, filter.split('/'), 0, [], visit);
  }

  #match(node: TopicNode<V>, f: readonly string[], i: number, path: string[], visit: (topic: string, value: V) => void): void {
    if (i === f.length) {
      if (node.value !== undefined) visit(path.join('/'), node.value);
      return;
    }
    const level = f[i] as string;
    if (level === '#') {
      // §4.7.1.2: the parent level itself, then everything below it
      if (i > 0 && node.value !== undefined) visit(path.join('/'), node.value);
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

  #all(node: TopicNode<V>, path: string[], root: boolean, visit: (topic: string, value: V) => void): void {
    for (const [name, child] of node.children) {
      if (root && name.startsWith('$')) continue;
      path.push(name);
      if (child.value !== undefined) visit(path.join('/'), child.value);
      this.#all(child, path, false, visit);
      path.pop();
    }
  }
}

class TopicNode<V> {
  readonly children = new Map<string, TopicNode<V>>();
  value: V | undefined;
}
