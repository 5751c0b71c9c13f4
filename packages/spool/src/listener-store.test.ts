import { silentLogger } from '@ferry/core';
import { RecordingMetrics, captureLogger, type LogLine } from '@ferry/testkit';
import { Spool } from './spool.js';
import { removeDir, tempDir } from './test-support.js';

const dirs: string[] = [];
const spools: Spool[] = [];

async function openSpool(dir: string, lines?: LogLine[]): Promise<Spool> {
  const s = new Spool({ dir, logger: lines === undefined ? silentLogger : captureLogger(lines), metrics: new RecordingMetrics() });
  spools.push(s);
  await s.open();
  return s;
}

function newDir(): string {
  const d = tempDir('lstore');
  dirs.push(d);
  return d;
}

afterEach(async () => {
  await Promise.all(spools.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) removeDir(d);
});

describe('the listener store in the spool directory', () => {
  it('keeps each listener in its own key space, beside the spool queues, across a reopen', async () => {
    const dir = newDir();
    const s = await openSpool(dir);
    await s.append('devices', Buffer.from('spooled'));
    const a = s.listenerStore('devices');
    const b = s.listenerStore('web');
    a.put('s\0one', Buffer.from('A1'));
    a.put('m\0one\x00000000000001', Buffer.from([0, 255]));
    b.put('s\0one', Buffer.from('B1'));
    await a.written();
    await s.close();

    const lines: LogLine[] = [];
    const again = await openSpool(dir, lines);
    // the spool counts only its own queue; listener records are not "unknown keys"
    const open = lines.find((l) => l.message === 'spool open');
    expect(open?.fields).toMatchObject({ queues: [{ queue: 'devices', messages: 1 }] });
    expect(open?.fields['unknownKeys']).toBeUndefined();
    expect(await again.listenerStore('devices').scan('s\0')).toEqual([{ key: 's\0one', value: Buffer.from('A1') }]);
    expect((await again.listenerStore('devices').scan('')).map((r) => r.key)).toEqual(['m\0one\x00000000000001', 's\0one']);
    expect(await again.listenerStore('web').scan('')).toEqual([{ key: 's\0one', value: Buffer.from('B1') }]);
    // a connector whose name extends another's sees nothing of it
    expect(await again.listenerStore('dev').scan('')).toEqual([]);
    expect((await again.take('devices', 10)).map((e) => e.value.toString())).toEqual(['spooled']);
  });

  it('one turn is one batch: the last put or del of a key wins, a function value is encoded at write time', async () => {
    const s = await openSpool(newDir());
    const st = s.listenerStore('l');
    let state = 'queued';
    let encoded = 0;
    st.put('k1', () => {
      encoded++;
      return Buffer.from(state);
    });
    state = 'sent';
    st.put('k2', Buffer.from('x'));
    st.del('k2');
    const first = st.written();
    // everything queued in the same turn resolves with the same batch
    expect(st.written()).toBe(first);
    await first;
    expect(encoded).toBe(1);
    expect(await st.scan('')).toEqual([{ key: 'k1', value: Buffer.from('sent') }]);
    st.del('k1');
    await st.written();
    expect(await st.scan('')).toEqual([]);
  });

  it('close writes what was queued', async () => {
    const dir = newDir();
    const s = await openSpool(dir);
    s.listenerStore('l').put('late', Buffer.from('v'));
    await s.close();
    const again = await openSpool(dir);
    expect(await again.listenerStore('l').scan('')).toEqual([{ key: 'late', value: Buffer.from('v') }]);
  });

  it('a write to a closed spool fails written() with a SPOOL_IO error, logged', async () => {
    const lines: LogLine[] = [];
    const s = await openSpool(newDir(), lines);
    await s.close();
    const st = s.listenerStore('l');
    st.put('k', Buffer.from('v'));
    await expect(st.written()).rejects.toMatchObject({ code: 'SPOOL_IO' });
    expect(lines.some((l) => l.level === 'error' && l.message === 'listener store write failed')).toBe(true);
  });
});
