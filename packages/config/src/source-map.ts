import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair, type YAMLMap, type YAMLSeq } from 'yaml';
import type { FieldPath } from '@ferry/core';

export interface Position {
  readonly line: number;
  readonly column: number;
}

/** What a path leads to in the YAML tree: the node itself when it exists, else the deepest one on the way. */
export interface Located {
  /** the node at the path, when every step of it exists in the file */
  readonly node: Node | undefined;
  /** the key node of the last step, when that step is a map key */
  readonly key: Node | undefined;
  /** the deepest node reached (the parent map of a missing field, the root at worst) */
  readonly deepest: Node | undefined;
  /** how many steps of the path exist in the file */
  readonly depth: number;
}

/**
 * Maps field paths (`['routes', 2, 'to', 0, 'routingKey']`) to lines and columns of the YAML
 * source, through the parsed document's nodes (`range[0]` is a node's first character) and
 * yaml's LineCounter (1-based lines and columns).
 */
export class SourceMap {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  position(offset: number): Position {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  /** the position of a node, or 1:1 when there is none (an empty file) */
  positionOf(node: Node | undefined): Position {
    const start = node?.range?.[0];
    return start === undefined ? { line: 1, column: 1 } : this.position(start);
  }

  private deref(node: unknown): Node | undefined {
    if (isAlias(node)) return node.resolve(this.doc) ?? undefined;
    return isMap(node) || isSeq(node) || isScalar(node) ? node : undefined;
  }

  locate(path: FieldPath, from: Node | undefined = this.root()): Located {
    let cur: Node | undefined = from;
    let key: Node | undefined;
    let depth = 0;
    for (const step of path) {
      const node: Node | undefined = cur;
      let next: Node | undefined;
      key = undefined;
      if (isMap(node)) {
        const pair = this.keyIndex(node).get(String(step));
        if (pair !== undefined) {
          next = this.deref(pair.value);
          key = isScalar(pair.key) ? pair.key : undefined;
        }
      } else if (isSeq(node) && typeof step === 'number') {
        next = this.deref(node.items[step]);
      }
      if (next === undefined) return { node: undefined, key, deepest: cur, depth };
      cur = next;
      depth++;
    }
    return { node: cur, key, deepest: cur, depth };
  }

  root(): Node | undefined {
    return this.deref(this.doc.contents);
  }

  /**
   * The first pair of each plain key of a map (a string, or a number or boolean for a key like
   * `8080:`), built once per map: a path step names a plain key, and a file with thousands of
   * keys looks one up per error.
   */
  private keyIndex(node: YAMLMap): Map<string, Pair> {
    let index = this.keys.get(node);
    if (index === undefined) {
      index = new Map();
      for (const p of node.items) {
        const k: unknown = isScalar(p.key) ? p.key.value : undefined;
        if ((typeof k === 'string' || typeof k === 'number' || typeof k === 'boolean') && !index.has(String(k))) index.set(String(k), p);
      }
      this.keys.set(node, index);
    }
    return index;
  }

  /** the path of the innermost key or value that holds `offset` (for yaml's own errors) */
  pathAt(offset: number): (string | number)[] {
    const path: (string | number)[] = [];
    let cur: unknown = this.doc.contents;
    for (let guard = 0; guard < 1000; guard++) {
      let next: unknown;
      if (isMap(cur)) {
        const hit = holder(this.spansOf(cur), offset);
        if (hit?.pair !== undefined) {
          path.push(String(isScalar(hit.pair.key) ? hit.pair.key.value : ''));
          if (hit.inKey) return path;
          next = hit.pair.value;
        }
      } else if (isSeq(cur)) {
        const hit = holder(this.spansOf(cur), offset);
        if (hit !== undefined) {
          path.push(hit.index);
          next = cur.items[hit.index];
        }
      }
      if (next === undefined || isScalar(next)) return path;
      cur = next;
    }
    return path;
  }

  /**
   * The stretches of source a map's keys and values (or a sequence's items) hold, in file order,
   * built once per node: yaml reports an error per duplicate key, and a scan of the map per error
   * made a file with thousands of keys take seconds.
   */
  private spansOf(node: YAMLMap | YAMLSeq): Spans {
    let spans = this.spans.get(node);
    if (spans !== undefined) return spans;
    const list: Span[] = [];
    node.items.forEach((item: unknown, index: number) => {
      if (isMap(node)) {
        const pair = item as Pair;
        const kr = isScalar(pair.key) ? pair.key.range : undefined;
        if (kr !== undefined && kr !== null) list.push({ start: kr[0], end: Math.max(kr[1], kr[0] + 1), pair, index, inKey: true, order: list.length });
        const v = pair.value;
        const vr = isMap(v) || isSeq(v) || isScalar(v) ? v.range : undefined;
        if (vr !== undefined && vr !== null) list.push({ start: vr[0], end: vr[2], pair, index, inKey: false, order: list.length });
      } else {
        const r = isMap(item) || isSeq(item) || isScalar(item) ? item.range : undefined;
        if (r !== undefined && r !== null) list.push({ start: r[0], end: r[2], pair: undefined, index, inKey: false, order: list.length });
      }
    });
    // by start; the sort is stable, so spans that start together stay in file order
    const sorted = list.sort((a, b) => a.start - b.start);
    const reach: number[] = [];
    let furthest = -1;
    for (const sp of sorted) reach.push((furthest = Math.max(furthest, sp.end)));
    spans = { sorted, reach };
    this.spans.set(node, spans);
    return spans;
  }

  private readonly keys = new WeakMap<YAMLMap, Map<string, Pair>>();
  private readonly spans = new WeakMap<YAMLMap | YAMLSeq, Spans>();
}

/** A stretch [start, end) of the source held by a map's key or value, or by a sequence item. */
interface Span {
  readonly start: number;
  readonly end: number;
  /** the map's pair (undefined for a sequence item) */
  readonly pair: Pair | undefined;
  /** the pair's or item's index in its node */
  readonly index: number;
  readonly inKey: boolean;
  /** its place in file order (key before value, pair after pair): between spans that overlap, the first wins */
  readonly order: number;
}

interface Spans {
  /** by start, then in file order */
  readonly sorted: readonly Span[];
  /** reach[i]: the furthest end of sorted[0..i] */
  readonly reach: readonly number[];
}

/**
 * The first span in file order that holds `offset`. The spans that start at or before it are
 * found by a binary search; walking back from the last of them stops where no earlier span
 * reaches past `offset`. In a well-formed node the spans follow one another and that is one step;
 * a broken file can leave spans that overlap, and then it is a few more.
 */
function holder(spans: Spans, offset: number): Span | undefined {
  const { sorted, reach } = spans;
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as Span).start <= offset) lo = mid + 1;
    else hi = mid;
  }
  let best: Span | undefined;
  for (let i = lo - 1; i >= 0 && (reach[i] as number) > offset; i--) {
    const sp = sorted[i] as Span;
    if (sp.end > offset && (best === undefined || sp.order < best.order)) best = sp;
  }
  return best;
}
