// The AMQP 1.0 codec (packages/amqp10/src/encoder.ts, decoder.ts) on what every AMQP 1.0 message
// costs it: a transfer performative and the sections of a message with properties, application
// properties and a 256-byte body, plus one value of every other type. Encodes them and decodes
// the bytes back, ITER times a round, ROUNDS rounds, and reports the CPU time per message; with FERRY_BEFORE=<another built checkout>
// the two builds take turns round by round in this one process (the same machine load for both)
// and must write the same bytes. Run after `npx tsc -b`:
//   FERRY_BEFORE=/path/to/main-before node bench/experiments/amqp10-codec.mjs
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { loadavg } from 'node:os';

const ITER = Number(process.env.ITER ?? 5_000);
const ROUNDS = Number(process.env.ROUNDS ?? 21);

const here = resolve(import.meta.dirname, '../..');
const builds = [{ name: 'this', dir: here }];
if (process.env.FERRY_BEFORE) builds.unshift({ name: 'before', dir: resolve(process.env.FERRY_BEFORE) });
for (const b of builds) b.codec = await import(pathToFileURL(`${b.dir}/packages/amqp10/dist/codec.js`).href);

const ulong = (n) => ({ type: 'ulong', value: BigInt(n) });
const uint = (value) => ({ type: 'uint', value });
const str = (value) => ({ type: 'string', value });
const sym = (value) => ({ type: 'symbol', value });
const described = (code, value) => ({ type: 'described', descriptor: ulong(code), value });
const list = (...value) => ({ type: 'list', value });
const NULL = { type: 'null' };

/** §2.7.5 transfer, §3.2 sections: what a message on the wire holds */
const values = [
  described(0x14, list(uint(1), uint(70_000), { type: 'binary', value: Buffer.from([0, 0, 0, 7]) }, uint(0), { type: 'boolean', value: false }, { type: 'boolean', value: false })),
  described(0x70, list({ type: 'boolean', value: true }, { type: 'ubyte', value: 4 }, uint(60_000))),
  described(0x72, { type: 'map', value: [[sym('x-opt-routing-key'), str('devices.amqp10.telemetry')]] }),
  described(0x73, list(str('msg-000001'), NULL, NULL, str('/exchange/amq.topic/devices'), str('telemetry'), NULL, sym('application/octet-stream'), NULL, { type: 'timestamp', value: 1_764_600_000_000n })),
  described(0x74, { type: 'map', value: [[str('device'), str('sensor-17')], [str('seq'), { type: 'int', value: 123_456 }], [str('t'), { type: 'long', value: -5n }], [str('ok'), { type: 'boolean', value: true }], [str('n'), { type: 'short', value: -2 }]] }),
  described(0x75, { type: 'binary', value: Buffer.alloc(256, 7) }),
  list(
    { type: 'byte', value: -3 }, { type: 'ushort', value: 65_000 }, { type: 'ulong', value: 2n ** 40n }, { type: 'long', value: -(2n ** 40n) },
    { type: 'float', value: 1.5 }, { type: 'double', value: Math.PI }, { type: 'char', value: 0x1f600 }, { type: 'uuid', value: Buffer.alloc(16, 1) },
    { type: 'decimal32', value: Buffer.alloc(4, 2) }, { type: 'decimal64', value: Buffer.alloc(8, 3) }, { type: 'decimal128', value: Buffer.alloc(16, 4) },
    { type: 'array', value: [sym('a'), sym('bb'), sym('ccc')] }, { type: 'array', value: [uint(1), uint(300)] }, str('x'.repeat(300)),
  ),
];

const encoded = new Map();
for (const b of builds) {
  encoded.set(b, values.map((v) => b.codec.encode(v)));
  for (const [i, bytes] of encoded.get(b).entries()) {
    if (!isDeepStrictEqual(b.codec.decodeOne(bytes), b.codec.decodeOne(encoded.get(builds[0])[i]))) throw new Error(`${b.name}: value ${i} decodes differently`);
  }
}
if (builds.length === 2) {
  encoded.get(builds[0]).forEach((bytes, i) => {
    if (!bytes.equals(encoded.get(builds[1])[i])) throw new Error(`value ${i}: the two builds write different bytes`);
  });
}

// CPU time (user + system) of this process, µs: on a shared machine it counts only the time the
// codec ran, where wall time also counts the time other processes had the core
function cpu() {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function run(codec, bytes) {
  let n = 0;
  const t0 = cpu();
  for (let i = 0; i < ITER; i++) for (const v of values) n += codec.encode(v).length;
  const t1 = cpu();
  for (let i = 0; i < ITER; i++) for (const x of bytes) n += codec.decodeOne(x).type.length;
  const t2 = cpu();
  if (n === 0) throw new Error('nothing done');
  // CPU ns per message (one set of the values above)
  return { encode: ((t1 - t0) * 1000) / ITER, decode: ((t2 - t1) * 1000) / ITER };
}

// warm-up: both builds optimised before the first timed round
for (const b of builds) run(b.codec, encoded.get(b));
const results = new Map(builds.map((b) => [b, []]));
for (let r = 0; r < ROUNDS; r++) for (const b of builds) results.get(b).push(run(b.codec, encoded.get(b)));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${ITER} messages a round, ${ROUNDS} rounds; CPU ns per message, median (min–max)`);
for (const b of builds) {
  const rs = results.get(b);
  const cell = (k) => `${median(rs.map((x) => x[k])).toFixed(0)} (${Math.min(...rs.map((x) => x[k])).toFixed(0)}–${Math.max(...rs.map((x) => x[k])).toFixed(0)})`;
  console.log(`${b.name.padEnd(7)} encode ${cell('encode')}  decode ${cell('decode')}`);
}
