import { FerryError } from '@ferry/core';
import { FrameParser, headerValue, type StompFrame, type StompVersion } from '@ferry/stomp';
import { Tally, waitFor, delay } from '@ferry/testkit';
import type { StompListenerConnector } from '../../packages/stomp/src/server/listener-connector.js';
import { collect, deactivate, gatewayMessage, RawClient, receiptOf, startListener, stompit10or11, stompitClose, stompitSend, stompitSubscribe, stompjs } from './helpers.js';

type Started = Awaited<ReturnType<typeof startListener>>;
const running: Started[] = [];
async function listener(extra: Record<string, unknown> = {}, withSources = true): Promise<Started> {
  const l = await startListener(extra, withSources);
  running.push(l);
  return l;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((l) => l.conn.stop()));
});
const broker = (l: Started) => (l.conn as unknown as StompListenerConnector).broker;

describe('stomp-listener: versions and header escaping (real clients)', () => {
  it('STOMP 1.2 (@stomp/stompjs): a header value with ":" and a newline round trips', async () => {
    const l = await listener();
    const c = await stompjs(l.port, '1.2');
    const got = collect();
    c.client.subscribe('/queue/esc12', got.onMessage);
    c.client.publish({ destination: '/queue/esc12', body: 'hi', headers: { 'x-note': 'a:b\nc\\d' } });
    await waitFor(() => got.messages.length === 1, 'MESSAGE');
    expect(got.messages[0]?.headers['x-note']).toBe('a:b\nc\\d');
    expect(got.messages[0]?.body).toBe('hi');
    // and the routed copy carries the decoded value
    expect(l.deliveries[0]?.message.headers.get('x-note')).toBe('a:b\nc\\d');
    await deactivate(c);
  });

  it('STOMP 1.1 (raw bytes): \\c and \\n decode; the MESSAGE is escaped the 1.1 way', async () => {
    const l = await listener();
    const raw = await RawClient.open(l.port);
    raw.write('CONNECT\naccept-version:1.1\nhost:x\n\n\0');
    raw.write('SUBSCRIBE\nid:s\ndestination:/queue/esc11\n\n\0');
    raw.write('SEND\ndestination:/queue/esc11\nx-note:a\\cb\\nc\n\nhi\0');
    await raw.waitFor((t) => t.includes('MESSAGE'), 'MESSAGE');
    await raw.waitFor((t) => t.endsWith('\0'), 'end of MESSAGE');
    expect(raw.text).toContain('\nversion:1.1\n');
    expect(raw.text).toContain('\nx-note:a\\cb\\nc\n');
    expect(l.deliveries[0]?.message.headers.get('x-note')).toBe('a:b\nc');
    raw.close();
  });

  it('STOMP 1.1 (@stomp/stompjs): exchanges messages; note stompjs 1.1 neither escapes nor unescapes', async () => {
    const l = await listener();
    const c = await stompjs(l.port, '1.1');
    const got = collect();
    c.client.subscribe('/queue/plain11', got.onMessage);
    c.client.publish({ destination: '/queue/plain11', body: 'hello 1.1', headers: { 'x-plain': 'v' } });
    await waitFor(() => got.messages.length === 1, 'MESSAGE');
    expect(got.messages[0]?.headers['x-plain']).toBe('v');
    // a value with ":" from another protocol is escaped per STOMP 1.1 §Value Encoding; stompjs
    // 1.1 shows it still escaped (it only unescapes in 1.2) — documented in docs/mapping/stomp.md
    await l.conn.sink?.write(gatewayMessage('x', [['x-colon', 'a:b']]), { destination: '/queue/plain11' });
    await waitFor(() => got.messages.length === 2, 'second MESSAGE');
    expect(got.messages[1]?.headers['x-colon']).toBe('a\\cb');
    await deactivate(c);
  });

  it('STOMP 1.1 (stompit): a SEND with ":" and a newline in a header reaches a 1.1 subscriber intact, and is routed decoded', async () => {
    const l = await listener();
    const pub = await stompit10or11(l.port, '1.1');
    const sub = await stompit10or11(l.port, '1.1');
    const got = stompitSubscribe(sub, { destination: '/queue/esc11s', ack: 'client-individual' });
    const note = 'a:b\nc\\d';
    await stompitSend(pub, { destination: '/queue/esc11s', 'x-note': note }, 'from stompit 1.1');
    await waitFor(() => got.length === 1, 'MESSAGE at the 1.1 subscriber');
    expect(got[0]?.headers['x-note']).toBe(note);
    expect(got[0]?.body).toBe('from stompit 1.1');
    expect(l.deliveries[0]?.message.headers.get('x-note')).toBe(note);
    expect(l.deliveries[0]?.message.meta['stomp']).toMatchObject({ version: '1.1' });
    // stompit's 1.1 ACK (message-id + subscription) settles the delivery
    expect(broker(l).queueUnacked('/queue/esc11s')).toBe(1);
    sub.client.ack(got[0]?.message as (typeof got)[number]['message']);
    await waitFor(() => broker(l).queueUnacked('/queue/esc11s') === 0, '1.1 ACK applied');
    // and a value from another protocol arrives at the 1.1 client decoded the same way
    await l.conn.sink?.write(gatewayMessage('from mqtt', [['x-other', 'k:v\nw']]), { destination: '/queue/esc11s' });
    await waitFor(() => got.length === 2, 'second MESSAGE');
    expect(got[1]?.headers['x-other']).toBe('k:v\nw');
    expect(pub.errors).toEqual([]);
    expect(sub.errors).toEqual([]);
    await stompitClose(pub, sub);
  });

  it('STOMP 1.0 (stompit, accept-version:1.0): ":" in a value crosses; backslashes are literal; a newline from another protocol is removed', async () => {
    const l = await listener();
    const pub = await stompit10or11(l.port, '1.0');
    const sub = await stompit10or11(l.port, '1.0');
    const got = stompitSubscribe(sub, { destination: '/queue/esc10s' });
    await stompitSend(pub, { destination: '/queue/esc10s', 'x-note': 'a:b', 'x-typed': 'c\\nd' }, 'from stompit 1.0');
    await waitFor(() => got.length === 1, 'MESSAGE at the 1.0 subscriber');
    expect(got[0]?.headers['x-note']).toBe('a:b');
    // 1.0 has no escapes: the four characters c \ n d, not a newline
    expect(got[0]?.headers['x-typed']).toBe('c\\nd');
    expect(l.deliveries[0]?.message.headers.get('x-note')).toBe('a:b');
    expect(l.deliveries[0]?.message.headers.get('x-typed')).toBe('c\\nd');
    expect(l.deliveries[0]?.message.meta['stomp']).toMatchObject({ version: '1.0' });
    // a newline cannot be written in 1.0: a value that holds one (here from a 1.1 client) reaches
    // the 1.0 subscriber without it (docs/mapping/stomp.md, "Escaping per version")
    const v11 = await stompit10or11(l.port, '1.1');
    await stompitSend(v11, { destination: '/queue/esc10s', 'x-note': 'a:b\nc' }, 'from stompit 1.1');
    await waitFor(() => got.length === 2, 'second MESSAGE');
    expect(got[1]?.headers['x-note']).toBe('a:bc');
    expect(l.deliveries[1]?.message.headers.get('x-note')).toBe('a:b\nc');
    expect([...pub.errors, ...sub.errors, ...v11.errors]).toEqual([]);
    await stompitClose(pub, sub, v11);
  });

  it('STOMP 1.0 (stompit): a client that writes a raw newline into a value breaks its own frame: ERROR, close, nothing routed', async () => {
    const l = await listener();
    const pub = await stompit10or11(l.port, '1.0');
    // stompit 1.0 writes values as they are: the line ends after "a:b", and "c" is read as a
    // header line without a colon
    stompitSend(pub, { destination: '/queue/esc10n', 'x-note': 'a:b\nc' }, 'broken').catch(() => undefined);
    await waitFor(() => pub.closed(), 'the server closes the connection');
    const frames: StompFrame[] = [];
    new FrameParser((f) => frames.push(f), {}, '1.0').push(pub.received());
    expect(frames.map((f) => f.command)).toEqual(['CONNECTED', 'ERROR']);
    expect(headerValue(frames[1] as StompFrame, 'message')).toBe('frame SEND: header line without a name and colon: "c"');
    expect(pub.errors.map((e) => e.message)).toEqual(['frame SEND: header line without a name and colon: "c"']);
    expect(l.deliveries).toHaveLength(0);
    expect(broker(l).queueDepth('/queue/esc10n')).toBe(0);
  });

  it('STOMP 1.0 (raw bytes): no escaping; ":" passes, a newline from another protocol is removed', async () => {
    const l = await listener();
    const raw = await RawClient.open(l.port);
    raw.write('CONNECT\nlogin:\n\n\0');
    await raw.waitFor((t) => t.startsWith('CONNECTED'), 'CONNECTED');
    expect(raw.text).not.toContain('version:');
    raw.write('SUBSCRIBE\ndestination:/queue/esc10\n\n\0');
    // 1.0 cannot send a newline in a header at all; backslashes are literal
    raw.write('SEND\ndestination:/queue/esc10\nx-note:a:b\\nc\n\nfrom 1.0\0');
    await raw.waitFor((t) => t.includes('from 1.0\0'), 'MESSAGE');
    expect(raw.text).toContain('\nx-note:a:b\\nc\n');
    expect(l.deliveries[0]?.message.headers.get('x-note')).toBe('a:b\\nc');
    await l.conn.sink?.write(gatewayMessage('from mqtt', [['x-note', 'a:b\nc'], ['bad:name', 'dropped']]), { destination: '/queue/esc10' });
    await raw.waitFor((t) => t.includes('from mqtt\0'), 'second MESSAGE');
    const second = raw.frames().find((f) => f.endsWith('from mqtt')) as string;
    expect(second).toContain('\nx-note:a:bc\n');
    expect(second).not.toContain('bad');
    raw.close();
  });

  it('STOMP 1.2 (raw bytes): a value from another protocol with : \\n \\r \\ and NUL is escaped exactly', async () => {
    const l = await listener();
    const raw = await RawClient.open(l.port);
    raw.write('CONNECT\r\naccept-version:1.2\r\nhost:x\r\n\r\n\0SUBSCRIBE\r\nid:1\r\ndestination:/topic/esc\r\nreceipt:sub\r\n\r\n\0');
    await raw.waitFor((t) => t.includes('receipt-id:sub'), 'RECEIPT of the SUBSCRIBE');
    await l.conn.sink?.write(gatewayMessage('b', [['x:k', 'a:b\nc\rd\\e\0f']]), { destination: '/topic/esc' });
    await raw.waitFor((t) => t.includes('MESSAGE'), 'MESSAGE');
    expect(raw.text).toContain('\nx\\ck:a\\cb\\nc\\rd\\\\ef\n');
    raw.close();
  });
});

describe('stomp-listener: settlement', () => {
  it('a SEND with receipt gets its RECEIPT only after the settlement is accepted', async () => {
    const l = await listener();
    l.ctl.autoAccept = false;
    const c = await stompjs(l.port, '1.2');
    let receipt = false;
    c.client.watchForReceipt('r-1', () => {
      receipt = true;
    });
    c.client.publish({ destination: '/queue/settle', body: 'held', headers: { receipt: 'r-1' } });
    await waitFor(() => l.deliveries.length === 1, 'delivery');
    expect(l.deliveries[0]?.message.guarantee).toBe('at-least-once');
    expect(l.deliveries[0]?.message.source).toEqual({ connector: 'web', protocol: 'stomp', address: '/queue/settle' });
    // the listener writes to a connection in order: a RECEIPT sent before the accept would come
    // before the receipt of a SUBSCRIBE sent now
    const fenced = receiptOf(c, 'fence');
    c.client.subscribe('/topic/settle-fence', () => undefined, { receipt: 'fence' });
    await fenced;
    expect(receipt).toBe(false);
    l.deliveries[0]?.settlement.accept();
    await waitFor(() => receipt, 'RECEIPT after accept');
    await deactivate(c);
  });

  it('a rejected settlement becomes an ERROR with receipt-id and the reason', async () => {
    const l = await listener();
    l.ctl.autoAccept = false;
    const c = await stompjs(l.port, '1.2');
    c.client.publish({ destination: '/topic/reject', body: 'no', headers: { receipt: 'r-2' } });
    await waitFor(() => l.deliveries.length === 1, 'delivery');
    l.deliveries[0]?.settlement.reject(new FerryError('SINK_REJECTED', 'exchange missing', { permanent: true }));
    await waitFor(() => c.errors.length === 1, 'ERROR');
    expect(c.errors[0]?.headers['receipt-id']).toBe('r-2');
    expect(c.errors[0]?.headers['message']).toContain('exchange missing');
    await waitFor(() => c.closed(), 'connection closed');
    await deactivate(c);
  });

  it('a SEND without receipt is at-most-once', async () => {
    const l = await listener();
    const c = await stompjs(l.port, '1.2');
    c.client.publish({ destination: '/topic/amo', body: 'x', headers: { 'content-type': 'text/plain', priority: '4', expires: '99999999999999' } });
    await waitFor(() => l.deliveries.length === 1, 'delivery');
    const m = l.deliveries[0]?.message;
    expect(m?.guarantee).toBe('at-most-once');
    expect([m?.contentType, m?.priority, m?.expiresAt]).toEqual(['text/plain', 4, 99999999999999]);
    await deactivate(c);
  });
});

describe('stomp-listener: acknowledgements and queues', () => {
  it('auto, client and client-individual ack modes', async () => {
    const l = await listener({}, false);
    const c = await stompjs(l.port, '1.2');
    const auto = collect();
    const client = collect();
    const indiv = collect();
    const subscribed = Promise.all([receiptOf(c, 'sub-auto'), receiptOf(c, 'sub-client'), receiptOf(c, 'sub-indiv')]);
    c.client.subscribe('/queue/auto', auto.onMessage, { receipt: 'sub-auto' });
    c.client.subscribe('/queue/client', client.onMessage, { ack: 'client', receipt: 'sub-client' });
    c.client.subscribe('/queue/indiv', indiv.onMessage, { ack: 'client-individual', receipt: 'sub-indiv' });
    await subscribed;
    for (let i = 0; i < 3; i++) for (const q of ['auto', 'client', 'indiv']) c.client.publish({ destination: `/queue/${q}`, body: `${q}${i}` });
    await waitFor(() => auto.messages.length === 3 && client.messages.length === 3 && indiv.messages.length === 3, 'all messages');
    const b = broker(l);
    expect([b.queueUnacked('/queue/auto'), b.queueUnacked('/queue/client'), b.queueUnacked('/queue/indiv')]).toEqual([0, 3, 3]);
    client.messages[1]?.ack(); // cumulative: the first two
    indiv.messages[1]?.ack(); // just the second
    await waitFor(() => b.queueUnacked('/queue/client') === 1 && b.queueUnacked('/queue/indiv') === 2, 'acks applied');
    await deactivate(c);
    // the unacked ones went back to their queues
    await waitFor(() => b.queueDepth('/queue/client') === 1 && b.queueDepth('/queue/indiv') === 2, 'requeued on disconnect');
  });

  it('NACK redelivers to another subscriber, marked redelivered', async () => {
    const l = await listener({}, false);
    const a = await stompjs(l.port, '1.2');
    const b = await stompjs(l.port, '1.2');
    const ga = collect();
    const gb = collect();
    const subscribed = Promise.all([receiptOf(a, 'sub-a'), receiptOf(b, 'sub-b')]);
    a.client.subscribe('/queue/nack', ga.onMessage, { ack: 'client-individual', receipt: 'sub-a' });
    b.client.subscribe('/queue/nack', gb.onMessage, { ack: 'client-individual', receipt: 'sub-b' });
    await subscribed;
    await l.conn.sink?.write(gatewayMessage('n1'), { destination: '/queue/nack' });
    await waitFor(() => ga.messages.length + gb.messages.length === 1, 'first delivery');
    const [first, other] = ga.messages.length === 1 ? [ga, gb] : [gb, ga];
    first.messages[0]?.nack();
    await waitFor(() => other.messages.length === 1, 'redelivery to the other subscriber');
    expect(other.messages[0]?.body).toBe('n1');
    expect(other.messages[0]?.headers['redelivered']).toBe('true');
    other.messages[0]?.ack();
    await waitFor(() => broker(l).queueUnacked('/queue/nack') === 0, 'acked');
    await deactivate(a, b);
  });

  it('a queue holds messages while no one subscribes, then delivers every one (counted)', async () => {
    const l = await listener({ queueBufferMessages: 100 }, false);
    const tally = new Tally();
    for (let i = 0; i < 50; i++) {
      await l.conn.sink?.write(gatewayMessage(`m${i}`), { destination: '/queue/hold' });
      tally.sent(`m${i}`);
    }
    expect(broker(l).queueDepth('/queue/hold')).toBe(50);
    const c = await stompjs(l.port, '1.2');
    const got = collect();
    c.client.subscribe('/queue/hold', (m) => {
      tally.received(m.body);
      got.onMessage(m);
    });
    await waitFor(() => tally.complete, 'every held message');
    console.log(tally.summary('queue hold'));
    expect(tally.counts).toMatchObject({ sent: 50, received: 50, duplicated: 0, lost: 0, unexpected: 0 });
    expect(got.messages.map((m) => m.body)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    await deactivate(c);
  });

  it('over the queue bound, the SEND fails with ERROR and the sink write rejects', async () => {
    const l = await listener({ queueBufferMessages: 2 }, false);
    await l.conn.sink?.write(gatewayMessage('1'), { destination: '/queue/bound' });
    await l.conn.sink?.write(gatewayMessage('2'), { destination: '/queue/bound' });
    await expect(l.conn.sink?.write(gatewayMessage('3'), { destination: '/queue/bound' })).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
    const c = await stompjs(l.port, '1.2');
    c.client.publish({ destination: '/queue/bound', body: '4', headers: { receipt: 'x' } });
    await waitFor(() => c.errors.length === 1, 'ERROR');
    expect(c.errors[0]?.headers['receipt-id']).toBe('x');
    expect(broker(l).queueDepth('/queue/bound')).toBe(2);
    await deactivate(c);
  });
});

describe('stomp-listener: transactions', () => {
  it('SENDs take effect on COMMIT and are discarded on ABORT', async () => {
    const l = await listener();
    const c = await stompjs(l.port, '1.2');
    const got = collect();
    c.client.subscribe('/queue/tx', got.onMessage);
    const t1 = c.client.begin('t1');
    c.client.publish({ destination: '/queue/tx', body: 'committed', headers: { transaction: t1.id } });
    const t2 = c.client.begin('t2');
    c.client.publish({ destination: '/queue/tx', body: 'aborted', headers: { transaction: t2.id } });
    // a frame after the SENDs, with a receipt: once it is back, the SENDs were processed (and held)
    const fenced = receiptOf(c, 'fence');
    c.client.subscribe('/queue/tx-fence', () => undefined, { receipt: 'fence' });
    await fenced;
    expect(got.messages).toHaveLength(0);
    expect(l.deliveries).toHaveLength(0);
    t2.abort();
    t1.commit();
    // the abort came first on the connection: had it routed its SEND, that would have come first
    await waitFor(() => got.messages.length === 1, 'committed message');
    expect(got.messages.map((m) => m.body)).toEqual(['committed']);
    expect(l.deliveries.map((d) => d.message.body.toString())).toEqual(['committed']);
    await deactivate(c);
  });
});

describe('stomp-listener: COMMIT with a receipt', () => {
  it("the COMMIT's RECEIPT comes only once every SEND of the transaction was settled by the routes", async () => {
    const l = await listener();
    l.ctl.autoAccept = false;
    const raw = await RawClient.open(l.port);
    raw.write('CONNECT\naccept-version:1.2\nhost:x\n\n\0');
    await raw.waitFor((t) => t.startsWith('CONNECTED'), 'CONNECTED');
    // the SUBSCRIBE's RECEIPT says the SENDs before it were processed (and held for the COMMIT)
    raw.write('BEGIN\ntransaction:t1\n\n\0SEND\ndestination:/topic/txr\ntransaction:t1\n\none\0SEND\ndestination:/topic/txr\ntransaction:t1\n\ntwo\0SUBSCRIBE\nid:f\ndestination:/topic/txr-fence\nreceipt:fence\n\n\0');
    await raw.waitFor((t) => t.includes('receipt-id:fence'), 'RECEIPT of the fence');
    expect(l.deliveries).toHaveLength(0);
    raw.write('COMMIT\ntransaction:t1\nreceipt:commit-1\n\n\0');
    await waitFor(() => l.deliveries.length === 2, 'both SENDs routed on COMMIT');
    expect(l.deliveries.map((d) => [d.message.body.toString(), d.message.guarantee])).toEqual([
      ['one', 'at-least-once'],
      ['two', 'at-least-once'],
    ]);
    l.deliveries[1]?.settlement.accept();
    // a RECEIPT for the COMMIT sent now would come before the receipt of a SUBSCRIBE sent after
    raw.write('SUBSCRIBE\nid:g\ndestination:/topic/txr-fence2\nreceipt:fence2\n\n\0');
    await raw.waitFor((t) => t.includes('receipt-id:fence2'), 'RECEIPT of the second fence');
    expect(raw.text).not.toContain('receipt-id:commit-1');
    l.deliveries[0]?.settlement.accept();
    await raw.waitFor((t) => t.includes('receipt-id:commit-1'), 'RECEIPT after both settlements');
    expect(raw.frames().map((f) => f.split('\n')[0])).toEqual(['CONNECTED', 'RECEIPT', 'RECEIPT', 'RECEIPT']);
    raw.close();
  });
});

describe('stomp-listener: heart-beating, login, limits', () => {
  it('negotiates heart-beats, sends EOLs, and closes a peer that goes silent', async () => {
    const l = await listener({ heartBeat: { sendMs: 100, receiveMs: 100 } });
    const raw = await RawClient.open(l.port);
    raw.write('CONNECT\naccept-version:1.2\nhost:x\nheart-beat:50,150\n\n\0');
    await raw.waitFor((t) => t.includes('\0'), 'CONNECTED');
    expect(raw.text).toContain('\nheart-beat:100,100\n');
    // server → client every max(100,150) = 150 ms: EOLs arrive
    await raw.waitFor((t) => /\0\n+$/.test(t) || (t.split('\0')[1] ?? '').includes('\n'), 'heart-beat EOLs');
    // client → server promised every max(50,100) = 100 ms; send nothing: closed after ~200 ms
    await waitFor(() => raw.closed, 'dead peer closed', 5000);
    expect(l.conn.state).toBe('up');
  });

  it('a client that keeps heart-beating stays connected (stompjs, 1.2)', async () => {
    const l = await listener({ heartBeat: { sendMs: 100, receiveMs: 100 } });
    const c = await stompjs(l.port, '1.2', {}, 100);
    // no event to wait for: staying connected is the absence of a close; 800 ms spans four of the
    // listener's 200 ms receive deadlines
    await delay(800);
    expect(c.closed()).toBe(false);
    expect(c.errors).toEqual([]);
    await deactivate(c);
  });

  it('bad login gets ERROR "authentication failed" and is closed; a good one connects', async () => {
    const l = await listener({ users: [{ login: 'alice', passcode: 's3cret' }], anonymous: false });
    const bad = await stompjs(l.port, '1.2', { login: 'alice', passcode: 'nope' });
    await waitFor(() => bad.errors.length === 1 && bad.closed(), 'ERROR then close');
    expect(bad.errors[0]?.headers['message']).toBe('authentication failed');
    const anon = await stompjs(l.port, '1.2');
    await waitFor(() => anon.errors.length === 1, 'anonymous refused when users are configured');
    const good = await stompjs(l.port, '1.2', { login: 'alice', passcode: 's3cret' });
    expect(good.errors).toEqual([]);
    expect(good.client.connected).toBe(true);
    await deactivate(bad, anon, good);
  });

  it('an oversized frame gets ERROR and close, while other sessions keep working', async () => {
    const l = await listener({ limits: { maxFrameBytes: 1024 } });
    const other = await stompjs(l.port, '1.2');
    const got = collect();
    other.client.subscribe('/topic/ok', got.onMessage);
    const raw = await RawClient.open(l.port);
    raw.write('CONNECT\naccept-version:1.2\nhost:x\n\n\0');
    await raw.waitFor((t) => t.startsWith('CONNECTED'), 'CONNECTED');
    raw.write(`SEND\ndestination:/topic/ok\ncontent-length:5000\nreceipt:big\n\n${'x'.repeat(5000)}\0`);
    await waitFor(() => raw.closed, 'oversized sender closed');
    const err = raw.frames().find((f) => f.startsWith('ERROR')) as string;
    // the ":" of the message is escaped (STOMP 1.2), and the frame's receipt is named
    expect(err).toContain('\nmessage:frame SEND\\c content-length 5000 is larger than 1024 bytes\n');
    expect(err).toContain('\nreceipt-id:big\n');
    other.client.publish({ destination: '/topic/ok', body: 'still fine' });
    await waitFor(() => got.messages.length === 1, 'other session still works');
    expect(got.messages[0]?.body).toBe('still fine');
    expect(l.deliveries.map((d) => d.message.body.toString())).toEqual(['still fine']);
    await deactivate(other);
  });
});

describe('stomp-listener: each limit and a bad escape over TCP get ERROR, then the server closes', () => {
  /** a raw client, connected with `connect` (default STOMP 1.2) */
  async function connected(l: Started, connect = 'CONNECT\naccept-version:1.2\nhost:x\n\n\0'): Promise<RawClient> {
    const raw = await RawClient.open(l.port);
    raw.write(connect);
    await raw.waitFor((t) => t.startsWith('CONNECTED') && t.includes('\0'), 'CONNECTED');
    return raw;
  }

  /**
   * The server, not the client, ends the connection (the client never closes by itself), and
   * the ERROR is the last frame it wrote (STOMP 1.2 §ERROR: the server MUST close the
   * connection after sending ERROR). Returns the ERROR frame as raw text.
   */
  async function errorThenClose(raw: RawClient, what: string, before: string[] = ['CONNECTED']): Promise<string> {
    await waitFor(() => raw.closed, `${what}: the server closes the connection`, 5000);
    const frames = raw.frames();
    expect(frames.map((f) => f.split('\n')[0])).toEqual([...before, 'ERROR']);
    return frames[frames.length - 1] as string;
  }

  /** the `message` header of an ERROR frame, decoded the way a client of `version` reads it */
  function errorMessage(raw: RawClient, version: StompVersion): string | undefined {
    const frames: StompFrame[] = [];
    new FrameParser((f) => frames.push(f), {}, version).push(raw.received);
    const err = frames.find((f) => f.command === 'ERROR');
    return err === undefined ? undefined : headerValue(err, 'message');
  }

  it('too many headers: at the limit the frame passes, one more gets ERROR naming the limit and its receipt', async () => {
    const l = await listener({ limits: { maxHeaders: 8 } });
    const raw = await connected(l);
    const headers = (n: number): string => Array.from({ length: n }, (_, i) => `h${i}:v\n`).join('');
    // destination + receipt + 6 = 8 headers: allowed
    raw.write(`SEND\ndestination:/topic/hc\nreceipt:ok\n${headers(6)}\nfits\0`);
    await raw.waitFor((t) => t.includes('receipt-id:ok'), 'RECEIPT for 8 headers');
    raw.write(`SEND\nreceipt:too-many\ndestination:/topic/hc\n${headers(7)}\nover\0`);
    const err = await errorThenClose(raw, 'header count', ['CONNECTED', 'RECEIPT']);
    expect(errorMessage(raw, '1.2')).toBe('frame SEND: more than 8 headers');
    expect(err).toContain('\nreceipt-id:too-many\n');
    expect(raw.frames()).not.toContain('over');
    expect(l.deliveries.map((d) => d.message.body.toString())).toEqual(['fits']);
  });

  it('a header line too long: at the limit it passes, one byte more gets ERROR naming the limit', async () => {
    const l = await listener({ limits: { maxHeaderLineBytes: 64 } });
    const raw = await connected(l);
    const line = (n: number): string => `x-long:${'y'.repeat(n - 'x-long:'.length)}`;
    raw.write(`SEND\ndestination:/topic/hl\nreceipt:ok\n${line(64)}\n\nfits\0`);
    await raw.waitFor((t) => t.includes('receipt-id:ok'), 'RECEIPT for a 64-byte line');
    raw.write(`SEND\ndestination:/topic/hl\nreceipt:long\n${line(65)}\n\nover\0`);
    const err = await errorThenClose(raw, 'header line', ['CONNECTED', 'RECEIPT']);
    expect(errorMessage(raw, '1.2')).toBe('header line longer than 64 bytes (65 so far)');
    expect(err).toContain('\nreceipt-id:long\n');
    expect(l.deliveries.map((d) => d.message.body.toString())).toEqual(['fits']);
  });

  it('a header line that never ends is refused once it passes the limit, before the rest is buffered', async () => {
    const l = await listener({ limits: { maxHeaderLineBytes: 64 } });
    const raw = await connected(l);
    // no LF at all: the server must not wait for one
    raw.write(`SEND\ndestination:/topic/hl\nx-endless:${'z'.repeat(500)}`);
    await errorThenClose(raw, 'endless header line');
    expect(errorMessage(raw, '1.2')).toMatch(/^header line longer than 64 bytes/);
  });

  it('STOMP 1.2: the undefined escape \\t in a header is a fatal protocol error (STOMP 1.2 §Value Encoding)', async () => {
    const l = await listener();
    const raw = await connected(l);
    raw.write('SEND\ndestination:/topic/esc\nreceipt:tab\nx-bad:a\\tb\n\nbad\0');
    const err = await errorThenClose(raw, 'bad escape');
    expect(errorMessage(raw, '1.2')).toBe('frame SEND: undefined escape sequence "\\\\t" in a header (STOMP 1.2)');
    // on the wire the message is itself escaped for 1.2 (":" as \c, "\" as \\), so it reads back exactly
    expect(err).toContain('\nmessage:frame SEND\\c undefined escape sequence');
    expect(err).toContain('\nreceipt-id:tab\n');
    expect(l.deliveries).toHaveLength(0);
  });

  it('STOMP 1.1: \\r is undefined too (1.1 has only \\n \\c \\\\); STOMP 1.0 has no escapes, so \\t is two plain characters', async () => {
    const l = await listener();
    const v11 = await connected(l, 'CONNECT\naccept-version:1.1\nhost:x\n\n\0');
    v11.write('SEND\ndestination:/topic/esc\nx-bad:a\\rb\n\nbad\0');
    await errorThenClose(v11, '1.1 bad escape');
    expect(errorMessage(v11, '1.1')).toBe('frame SEND: undefined escape sequence "\\\\r" in a header (STOMP 1.1)');
    const v10 = await connected(l, 'CONNECT\n\n\0');
    v10.write('SEND\ndestination:/topic/esc\nreceipt:r10\nx-tab:a\\tb\n\nok\0');
    await v10.waitFor((t) => t.includes('receipt-id:r10'), 'RECEIPT');
    expect(l.deliveries.map((d) => d.message.headers.get('x-tab'))).toEqual(['a\\tb']);
    expect(v10.closed).toBe(false);
    v10.close();
  });
});

describe('stomp-listener: lifecycle', () => {
  it('start and stop are idempotent; closeSources refuses new SENDs with "shutting down"', async () => {
    const l = await listener();
    await l.conn.start();
    const c = await stompjs(l.port, '1.2');
    await l.conn.closeSources?.();
    c.client.publish({ destination: '/topic/late', body: 'x', headers: { receipt: 'late' } });
    await waitFor(() => c.errors.length === 1, 'ERROR');
    expect(c.errors[0]?.headers['message']).toBe('shutting down');
    await Promise.all([l.conn.stop(), l.conn.stop()]);
    expect(l.conn.state).toBe('stopped');
    await deactivate(c);
  });

  it('stop keeps unacked queue messages in the buffer', async () => {
    const l = await listener({}, false);
    const c = await stompjs(l.port, '1.2');
    const got = collect();
    const subscribed = receiptOf(c, 'sub-keep');
    c.client.subscribe('/queue/keep', got.onMessage, { ack: 'client', receipt: 'sub-keep' });
    await subscribed;
    await l.conn.sink?.write(gatewayMessage('kept'), { destination: '/queue/keep' });
    await waitFor(() => got.messages.length === 1, 'delivered, not acked');
    await l.conn.stop();
    expect(broker(l).queueDepth('/queue/keep')).toBe(1);
    await deactivate(c);
  });
});
