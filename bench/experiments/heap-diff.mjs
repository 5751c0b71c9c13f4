// What k held messages keep alive, from two heap snapshots of one process (one before they were
// taken, one while they are held; engine-path.mjs HOLD=<k> HOLD_SNAPSHOT=<prefix> writes both):
//   node bench/experiments/heap-diff.mjs <prefix>-empty.heapsnapshot <prefix>-held.heapsnapshot <k>
// Prints bytes and objects per held message by V8 node type and constructor name, largest first,
// and the total: exact where heapUsed after gc() moves by a few hundred bytes per message.
import { readFileSync } from 'node:fs';

function aggregate(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const { node_fields: fields, node_types: nodeTypes } = snap.snapshot.meta;
  const types = nodeTypes[0];
  const width = fields.length;
  const [type, name, size] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const out = new Map();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const key = `${types[snap.nodes[i + type]]} ${snap.strings[snap.nodes[i + name]].slice(0, 60)}`;
    const a = out.get(key) ?? { count: 0, bytes: 0 };
    a.count++;
    a.bytes += snap.nodes[i + size];
    out.set(key, a);
  }
  return out;
}

const [emptyFile, heldFile, kText] = process.argv.slice(2);
if (heldFile === undefined) throw new Error('usage: heap-diff.mjs <empty.heapsnapshot> <held.heapsnapshot> [k=1000]');
const k = Number(kText ?? 1000);
const before = aggregate(emptyFile);
const rows = [];
for (const [key, { count, bytes }] of aggregate(heldFile)) {
  const b = before.get(key) ?? { count: 0, bytes: 0 };
  // below 4 bytes per message is code, feedback and caches, not what a message keeps
  if (bytes - b.bytes >= 4 * k) rows.push({ key, objects: (count - b.count) / k, bytes: (bytes - b.bytes) / k });
}
rows.sort((x, y) => y.bytes - x.bytes);
for (const r of rows) console.log(`${r.bytes.toFixed(1).padStart(8)} B ${r.objects.toFixed(2).padStart(6)}  ${r.key}`);
console.log(`${rows.reduce((t, r) => t + r.bytes, 0).toFixed(0).padStart(8)} B per held message`);
