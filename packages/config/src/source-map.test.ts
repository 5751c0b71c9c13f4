import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { SourceMap } from './source-map.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The plain scan SourceMap.pathAt must agree with: the first key or value in file order that holds the offset. */
function scanPathAt(doc: Document, offset: number): (string | number)[] {
  const path: (string | number)[] = [];
  let cur: unknown = doc.contents;
  for (let guard = 0; guard < 1000; guard++) {
    let next: unknown;
    if (isMap(cur)) {
      for (const pair of cur.items) {
        const k = pair.key;
        const kr = isScalar(k) ? k.range : undefined;
        if (kr !== undefined && kr !== null && offset >= kr[0] && offset < Math.max(kr[1], kr[0] + 1)) {
          path.push(String(isScalar(k) ? k.value : ''));
          return path;
        }
        const v = pair.value;
        const vr = isMap(v) || isSeq(v) || isScalar(v) ? v.range : undefined;
        if (vr !== undefined && vr !== null && offset >= vr[0] && offset < vr[2]) {
          path.push(String(isScalar(k) ? k.value : ''));
          next = v;
          break;
        }
      }
    } else if (isSeq(cur)) {
      const i = cur.items.findIndex((item) => {
        const r = isMap(item) || isSeq(item) || isScalar(item) ? item.range : undefined;
        return r !== undefined && r !== null && offset >= r[0] && offset < r[2];
      });
      if (i >= 0) {
        path.push(i);
        next = cur.items[i];
      }
    }
    if (next === undefined || isScalar(next)) return path;
    cur = next;
  }
  return path;
}

/** the offsets where pathAt and the plain scan differ, with both answers */
function disagreements(text: string, doc: Document, map: SourceMap): string[] {
  const out: string[] = [];
  for (let offset = 0; offset <= text.length; offset++) {
    const got = JSON.stringify(map.pathAt(offset));
    const want = JSON.stringify(scanPathAt(doc, offset));
    if (got !== want) out.push(`${JSON.stringify(text.slice(0, 40))}@${offset}: ${got}, scan ${want}`);
  }
  return out;
}

function read(text: string): { doc: Document; map: SourceMap } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, merge: true, uniqueKeys: true });
  return { doc, map: new SourceMap(doc, lines) };
}

const files = [
  ...readdirSync(join(here, '../fuzz/corpus')).map((f) => join(here, '../fuzz/corpus', f)),
  ...['valid', 'broken'].flatMap((d) => readdirSync(join(here, '../test/fixtures', d)).map((f) => join(here, '../test/fixtures', d, f))),
].filter((f) => f.endsWith('.yaml'));

describe('SourceMap', () => {
  it('has route files to check', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it.each(files)('pathAt agrees with a plain scan at every offset of %s', (file) => {
    const text = readFileSync(file, 'utf8');
    const { doc, map } = read(text);
    expect(disagreements(text, doc, map)).toEqual([]);
  });

  it('pathAt agrees with a plain scan in files yaml finds broken (keys out of order, overlaps, flow collections)', () => {
    const texts = ['a: 1\nb: {c: 2, c: 3}\nd: [1, {e: 4}]\n', 'x: [a, b\ny: 1\n', 'a:\n  - b: 1\n    b: 2\n  - c\n: lonely\n', '? [a, b]\n: 1\nk: v\n', 'a: &x {b: 1}\nc: *x\n<<: *x\n'];
    for (const text of texts) {
      const { doc, map } = read(text);
      expect(disagreements(text, doc, map)).toEqual([]);
    }
  });

  it('a duplicate key is located at its first occurrence', () => {
    const text = 'connectors:\n  a: 1\n  b: 2\n  a: 3\n  b: 4\n';
    const { map } = read(text);
    const first = map.locate(['connectors', 'b']);
    expect(first.key === undefined ? undefined : map.positionOf(first.key)).toEqual({ line: 3, column: 3 });
    expect(map.locate(['connectors', 'zz'])).toMatchObject({ node: undefined, depth: 1 });
  });

  it('a numeric or boolean key is found by its text', () => {
    const { map } = read('ports:\n  8080: web\n  true: yes\n');
    expect(map.locate(['ports', 8080]).node).toMatchObject({ value: 'web' });
    expect(map.locate(['ports', 'true']).node).toMatchObject({ value: 'yes' });
  });
});
