import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { ConfigError } from './errors.js';
import { SourceMap } from './source-map.js';

/** A YAML file read with positions: the document, its source map, and what was wrong with its syntax. */
export interface YamlFile {
  readonly doc: Document;
  readonly map: SourceMap;
  /** syntax errors, duplicate keys, keys that are maps or lists; each with its position */
  readonly errors: ConfigError[];
  /** true when the file does not parse: nothing in it can be checked reliably */
  readonly fatal: boolean;
}

/**
 * Parses one YAML document for a file Ferry reads (a route file, a route test file). yaml's own
 * errors come one per line, with no echoes of an earlier error; the first of duplicate keys
 * wins (its error says where it is) so every later check and position refers to one entry;
 * keys that are maps or lists are dropped with an error. `what` names the file's kind in the
 * message about a second document.
 */
export function readYaml(text: string, file: string, what: string): YamlFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, merge: true, uniqueKeys: true });
  const map = new SourceMap(doc, lines);
  const errors: ConfigError[] = [];
  let fatal = false;
  const linesWithError = new Set<number>();
  for (const e of [...doc.errors, ...doc.warnings]) {
    const at = map.position(e.pos[0]);
    const where = map.pathAt(e.pos[0]);
    if (e.code === 'DUPLICATE_KEY') {
      const name = where[where.length - 1];
      const first = map.locate(where);
      const line = first.key !== undefined ? map.positionOf(first.key).line : undefined;
      const message = `duplicate key ${JSON.stringify(String(name ?? text.slice(e.pos[0], e.pos[1])))}` + (line !== undefined ? ` (first on line ${line})` : '');
      errors.push(new ConfigError({ file, line: at.line, column: at.column, path: where, message }));
      continue;
    }
    // after the first real syntax error the parser reports every following token of the
    // broken construct ("Unexpected scalar token in YAML stream"): one error per line, and
    // no such echoes of an earlier error, keep the report readable
    if (linesWithError.has(at.line) || (fatal && e.message.includes('in YAML stream'))) continue;
    linesWithError.add(at.line);
    fatal = true;
    let message =
      e.code === 'MULTIPLE_DOCS'
        ? `YAML syntax: a ${what} holds one document, found a second one (after "---")`
        : `YAML syntax: ${(e.message.split('\n')[0] ?? e.message).trim()}`;
    if (/flow-(map|seq)-start/.test(e.message)) {
      message += ' (inside { } or [ ], quote values that hold {, }, [, ] or ",", e.g. topic: "b/{1}")';
    }
    errors.push(new ConfigError({ file, line: at.line, column: at.column, path: [], message }));
  }
  if (!fatal) {
    for (const key of cleanMaps(doc.contents)) {
      const { line, column } = map.positionOf(key);
      const where = key.range ? map.pathAt(key.range[0]) : [];
      errors.push(new ConfigError({ file, line, column, path: where, message: 'a key must be a name, found a map or list' }));
    }
  }
  return { doc, map, errors, fatal };
}

/** An empty document (nothing, or only comments). */
export function isEmptyDocument(doc: Document): boolean {
  return doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null);
}

/** The document as plain data, with a bound on alias expansion: a "billion laughs" file must not eat the gateway's memory. */
export function toData(doc: Document): unknown {
  return doc.toJS({ maxAliasCount: 1000 });
}

/** Drops the later of duplicate keys and keys that are maps or lists, in place; returns the latter. */
function cleanMaps(node: unknown, depth = 0, bad: Node[] = []): Node[] {
  if (depth > 200) return bad;
  if (isMap(node)) {
    const seen = new Set<string>();
    node.items = node.items.filter((pair) => {
      if (isMap(pair.key) || isSeq(pair.key)) {
        bad.push(pair.key);
        return false;
      }
      const k = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (k === undefined) return true;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    for (const pair of node.items) cleanMaps(pair.value, depth + 1, bad);
  } else if (isSeq(node)) {
    for (const item of node.items) cleanMaps(item, depth + 1, bad);
  }
  return bad;
}
