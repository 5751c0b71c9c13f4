// What one in-flight message retains, in bytes of V8 heap (the harnesses' RETAINED=1 mode; run
// under `node --expose-gc`): `hold()` puts K messages in flight, `release()` settles them; each
// of `rounds` rounds takes heapUsed after two gc() with them held, minus heapUsed after two gc()
// once they are released, divided by K. Returns each round's figure and their median.
function heapUsed() {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
}

export async function retainedBytes(k, rounds, hold, release) {
  const per = [];
  for (let r = 0; r < rounds; r++) {
    await hold();
    const holding = heapUsed();
    await release();
    per.push((holding - heapUsed()) / k);
  }
  const median = [...per].sort((a, b) => a - b)[Math.floor(rounds / 2)];
  return `${per.map((x) => x.toFixed(0)).join(' ')}, median ${median.toFixed(0)}`;
}
