import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
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
        const pair = node.items.find((p) => {
          // a path step names a plain key (a string, or a number for a key like `8080:`)
          const k: unknown = isScalar(p.key) ? p.key.value : undefined;
          return (typeof k === 'string' || typeof k === 'number' || typeof k === 'boolean') && String(k) === String(step);
        });
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

  /** the path of the innermost key or value that holds `offset` (for yaml's own errors) */
  pathAt(offset: number): (string | number)[] {
    const path: (string | number)[] = [];
    let cur: unknown = this.doc.contents;
    for (let guard = 0; guard < 1000; guard++) {
      let next: unknown;
      if (isMap(cur)) {
        for (const pair of cur.items) {
          const k = pair.key;
          const v = pair.value;
          const kr = isScalar(k) ? k.range : undefined;
          if (kr !== undefined && kr !== null && offset >= kr[0] && offset < Math.max(kr[1], kr[0] + 1)) {
            path.push(String(k && isScalar(k) ? k.value : ''));
            return path;
          }
          const vr = isMap(v) || isSeq(v) || isScalar(v) ? v.range : undefined;
          if (vr !== undefined && vr !== null && offset >= vr[0] && offset < vr[2]) {
            path.push(String(isScalar(k) ? k.value : ''));
            next = v;
            break;
          }
        }
      } else if (isSeq(cur)) {
        cur.items.forEach((item, i) => {
          const r = isMap(item) || isSeq(item) || isScalar(item) ? item.range : undefined;
          if (next === undefined && r !== undefined && r !== null && offset >= r[0] && offset < r[2]) {
            path.push(i);
            next = item;
          }
        });
      }
      if (next === undefined || isScalar(next)) return path;
      cur = next;
    }
    return path;
  }
}
