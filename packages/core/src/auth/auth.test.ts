import { jest } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger, type LogFields, type Logger } from '../logger.js';
import type { Labels, Metrics } from '../metrics.js';
import { Authenticator, authWarnings, type AuthConfig } from './authenticator.js';
import { GrantPattern } from './grant-pattern.js';
import { constantTimeEqual, hashPassword, parsePasswordHash, passwordHashProblem, verifyPassword } from './password-hash.js';
import { FailureSlowDown } from './slow-down.js';
import { parseUsersFile } from './users.js';
import type { AddressSyntax } from '../connector.js';

/** cheap parameters so the suite stays fast; the format and code path are the real ones */
const FAST = { ln: 4, r: 8, p: 1 };

class CountingMetrics implements Metrics {
  readonly counts = new Map<string, number>();
  inc(name: string, labels: Labels, value = 1): void {
    const key = `${name}${JSON.stringify(labels)}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + value);
  }
  set(): void {
    // only counters are read here
  }
  add(): void {
    // only counters are read here
  }
  observe(): void {
    // only counters are read here
  }
}

function recordingLogger(): Logger & { lines: { level: string; message: string; fields?: LogFields }[] } {
  const lines: { level: string; message: string; fields?: LogFields }[] = [];
  const l = {
    lines,
    debug: (message: string, fields?: LogFields) => lines.push({ level: 'debug', message, fields }),
    info: (message: string, fields?: LogFields) => lines.push({ level: 'info', message, fields }),
    warn: (message: string, fields?: LogFields) => lines.push({ level: 'warn', message, fields }),
    error: (message: string, fields?: LogFields) => lines.push({ level: 'error', message, fields }),
    child: () => l,
  };
  return l;
}

describe('password hashes', () => {
  it('hash to a self-describing PHC string and verify only the right password', async () => {
    const h = await hashPassword('s3cret', FAST);
    expect(h).toMatch(/^\$scrypt\$ln=4,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(parsePasswordHash(h)?.params).toEqual(FAST);
    expect(await verifyPassword(h, Buffer.from('s3cret'))).toBe(true);
    expect(await verifyPassword(h, Buffer.from('s3cret '))).toBe(false);
    expect(await verifyPassword(h, Buffer.alloc(0))).toBe(false);
    // a fresh salt every time
    expect(await hashPassword('s3cret', FAST)).not.toBe(h);
  });

  it('uses the default cost (ln=14) when none is given', async () => {
    const h = await hashPassword('x');
    expect(h.startsWith('$scrypt$ln=14,r=8,p=1$')).toBe(true);
  });

  it('refuses malformed hashes and parameters beyond the limits, never matching them', async () => {
    expect(passwordHashProblem('$2y$10$abcdefghijklmnopqrstuv')).toMatch(/unknown password hash scheme "2y"/);
    expect(passwordHashProblem('$scrypt$ln=25,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).toMatch(/malformed/);
    expect(passwordHashProblem('$scrypt$ln=4,r=8,p=1$short$AAAA')).toMatch(/malformed/);
    expect(passwordHashProblem('plain text')).toBeUndefined();
    expect(await verifyPassword('$scrypt$ln=25,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', Buffer.from('x'))).toBe(false);
  });

  it('compares plain-text passwords in constant time, whatever their lengths', async () => {
    expect(await verifyPassword('pw', Buffer.from('pw'))).toBe(true);
    expect(await verifyPassword('pw', Buffer.from('pw2'))).toBe(false);
    expect(await verifyPassword('', Buffer.alloc(0))).toBe(true);
    expect(constantTimeEqual(Buffer.from('a'), Buffer.from('a'.repeat(1000)))).toBe(false);
  });
});

describe('grant patterns', () => {
  const bind = (syntax: AddressSyntax, p: string, v: { username?: string; clientId?: string } = { username: 'dev1', clientId: 'c1' }) => {
    const g = GrantPattern.parse(syntax, p);
    if (typeof g === 'string') throw new Error(g);
    return g.bind(v);
  };
  /** Whether the bound grant covers each address (or filter): the map of each to the answer expected. */
  const expectCoverage = (g: ReturnType<typeof bind>, check: 'coversAddress' | 'coversFilter', expected: Record<string, boolean>): void => {
    expect(g).toBeDefined();
    expect(Object.fromEntries(Object.keys(expected).map((a) => [a, g![check](a)]))).toEqual(expected);
  };

  it('MQTT: publishes match like topic filters, with {username} and {clientId} filled in', () => {
    // §4.7.1.2: "#" includes the parent level
    expectCoverage(bind('mqtt', 'sensors/{username}/#'), 'coversAddress', { 'sensors/dev1/temp': true, 'sensors/dev1': true, 'sensors/dev2/temp': false, sensors: false });
    expectCoverage(bind('mqtt', 'clients/{clientId}/+'), 'coversAddress', { 'clients/c1/x': true, 'clients/c1/x/y': false });
  });

  it('MQTT: a subscription wider than the grant is not covered', () => {
    expectCoverage(bind('mqtt', 'cmd/{username}/#'), 'coversFilter', {
      'cmd/dev1/#': true,
      'cmd/dev1/+/x': true,
      'cmd/dev1/unlock': true,
      '#': false,
      'cmd/#': false,
      'cmd/+/unlock': false,
      '+/dev1/#': false,
    });
    expectCoverage(bind('mqtt', 'a/+/c'), 'coversFilter', { 'a/+/c': true, 'a/b/c': true, 'a/#': false, 'a/+/+': false });
  });

  it('MQTT: $share/ is taken off before the check; $SYS-like topics are not matched by a leading wildcard', () => {
    // the share name is not part of the filter
    expectCoverage(bind('mqtt', 'cmd/{username}/#'), 'coversFilter', { '$share/grp/cmd/dev1/#': true, '$share/grp/#': false, '$share/cmd/dev1/#': false });
    const all = bind('mqtt', '#')!;
    expect(all.coversFilter('$SYS/#')).toBe(false);
    expect(all.coversAddress('$SYS/broker/load')).toBe(false);
    expect(bind('mqtt', '$SYS/#')!.coversFilter('$SYS/broker/#')).toBe(true);
  });

  it('hostile user names and client ids with wildcards or separators void the grant instead of widening it', () => {
    for (const username of ['a/#', '+', '#', 'a/b', '$SYS', '']) {
      expect(bind('mqtt', 'sensors/{username}/#', { username })).toBeUndefined();
    }
    expect(bind('mqtt', 'clients/{clientId}', { username: 'u', clientId: '+' })).toBeUndefined();
    expect(bind('mqtt', 'clients/{clientId}', { username: 'u' })).toBeUndefined();
    for (const username of ['a.#', '*', 'x.y', 'a/b']) {
      expect(bind('amqp10', 'sensors.{username}.#', { username })).toBeUndefined();
      expect(bind('stomp', '/topic/sensors.{username}', { username })).toBeUndefined();
    }
    // a placeholder in part of a level is still one literal
    expect(bind('mqtt', 'dev-{username}/x')!.coversAddress('dev-dev1/x')).toBe(true);
  });

  it('STOMP and AMQP 1.0: words split on ".", "*" one word, "#" any number; the destination kind is literal', () => {
    const s = bind('stomp', '/topic/sensors.{username}.#');
    expectCoverage(s, 'coversAddress', { '/topic/sensors.dev1': true, '/topic/sensors.dev1.temp.max': true, '/queue/sensors.dev1.temp': false, '/topic/sensors.dev2.temp': false });
    expect(s!.coversFilter('/topic/sensors.#')).toBe(false); // literal destination "#", not the grant's
    expectCoverage(bind('stomp', '/queue/*'), 'coversAddress', { '/queue/jobs': true, '/queue/jobs.x': false });
    expectCoverage(bind('amqp10', 'orders.#.eu'), 'coversAddress', { 'orders.eu': true, 'orders.a.b.eu': true, 'orders.a.b.us': false });
  });

  it('refuses malformed patterns and unknown placeholders', () => {
    expect(GrantPattern.parse('mqtt', 'a/#/b')).toMatch(/last level/);
    expect(GrantPattern.parse('mqtt', 'a/b+')).toMatch(/whole level/);
    expect(GrantPattern.parse('mqtt', 'a/{user}')).toMatch(/unknown placeholder \{user\}/);
    expect(GrantPattern.parse('mqtt', '')).toMatch(/empty/);
  });

  it('a topic of thousands of levels is checked without exhausting the stack', () => {
    const deep = Array.from({ length: 30_000 }, () => 'a').join('/');
    expect(bind('mqtt', '#')!.coversAddress(deep)).toBe(true);
    expect(bind('mqtt', 'a/+/b')!.coversAddress(deep)).toBe(false);
  });
});

describe('FailureSlowDown', () => {
  it('doubles the delay per failure in a row, up to the maximum, and forgets after a success or a quiet period', () => {
    let now = 0;
    const s = new FailureSlowDown({ initialMs: 100, maxMs: 1000, forgetMs: 60_000, maxAddresses: 10 }, () => now);
    const serial = (): number => {
      const wait = s.fail('10.0.0.1');
      now += wait; // the next attempt comes once this one was refused
      return wait;
    };
    expect([serial(), serial(), serial(), serial(), serial()]).toEqual([100, 200, 400, 800, 1000]);
    expect(s.fail('10.0.0.2')).toBe(100); // per address
    s.succeed('10.0.0.1');
    expect(serial()).toBe(100);
    now += 60_001;
    expect(s.fail('10.0.0.1')).toBe(100);
  });

  it('spaces refusals to one address one after the other, so parallel guesses go no faster than serial ones', () => {
    let now = 0;
    const s = new FailureSlowDown({ initialMs: 100, maxMs: 1000, forgetMs: 60_000, maxAddresses: 10 }, () => now);
    // three failures at the same moment (three connections): answered at 100, 300 and 700 ms
    expect([s.fail('10.0.0.1'), s.fail('10.0.0.1'), s.fail('10.0.0.1')]).toEqual([100, 300, 700]);
    now = 700;
    expect(s.fail('10.0.0.1')).toBe(800);
    // another address is not queued behind them
    expect(s.fail('10.0.0.2')).toBe(100);
  });

  it('keeps at most maxAddresses entries, dropping the one that failed longest ago', () => {
    const s = new FailureSlowDown({ initialMs: 1, maxMs: 1000, forgetMs: 60_000, maxAddresses: 3 });
    s.fail('a');
    s.fail('a');
    s.fail('b');
    s.fail('c');
    s.fail('a'); // a moves to the end
    s.fail('d'); // evicts b
    expect(s.size).toBe(3);
    expect(s.failures('b')).toBe(0);
    expect(s.failures('a')).toBe(3);
    for (let i = 0; i < 10_000; i++) s.fail(`x${i}`);
    expect(s.size).toBe(3);
  });
});

describe('users files', () => {
  it('reads username:hash[:groups] lines and reports every bad line', async () => {
    const h = await hashPassword('pw', FAST);
    const { users, problems } = parseUsersFile(`# devices\n\ndev1:${h}:devices, lab\ndev2:${h}\nbad\ndev1:${h}\nplain:secret\nx:$md5$abc\n`);
    expect(users).toEqual([
      { username: 'dev1', password: h, groups: ['devices', 'lab'] },
      { username: 'dev2', password: h, groups: undefined },
    ]);
    expect(problems.map((p) => p.line)).toEqual([5, 6, 7, 8]);
    expect(problems[2]?.message).toMatch(/hashes only/);
  });
});

describe('Authenticator', () => {
  const env = (metrics: Metrics = new CountingMetrics(), logger: Logger = silentLogger) => ({ logger, metrics, connector: 'devices', syntax: 'mqtt' as const });
  const fast = { initialMs: 20, maxMs: 80, forgetMs: 60_000, maxAddresses: 100 };

  it('accepts a hashed and a plain password, refuses wrong ones and unknown users, anonymous only when allowed', async () => {
    const h = await hashPassword('pw1', FAST);
    const cfg: AuthConfig = { users: [{ username: 'dev1', password: h }, { username: 'old', password: 'plain' }], slowDown: fast };
    const auth = new Authenticator(cfg, env());
    const ok = await auth.login({ username: 'dev1', password: Buffer.from('pw1'), address: '1.1.1.1' });
    expect(ok.ok && ok.client.username).toBe('dev1');
    expect((await auth.login({ username: 'old', password: 'plain', address: '1.1.1.1' })).ok).toBe(true);
    expect(await auth.login({ username: 'dev1', password: 'nope', address: '1.1.1.2' })).toEqual({ ok: false, reason: 'bad-credentials' });
    expect(await auth.login({ username: 'ghost', password: 'pw1', address: '1.1.1.3' })).toEqual({ ok: false, reason: 'bad-credentials' });
    expect(await auth.login({ address: '1.1.1.4' })).toEqual({ ok: false, reason: 'no-credentials' });
    const open = new Authenticator({ ...cfg, anonymous: true }, env());
    const anon = await open.login({ address: '1.1.1.5' });
    expect(anon.ok && anon.client.anonymous).toBe(true);
    // no users at all: closed unless it says anonymous: true
    expect((await new Authenticator({}, env()).login({ username: 'any', password: 'x', address: '1.1.1.6' })).ok).toBe(false);
    expect((await new Authenticator({ anonymous: true }, env()).login({ username: 'any', password: 'x', address: '1.1.1.7' })).ok).toBe(true);
    expect((await new Authenticator({ anonymous: false, usersFile: '/nonexistent' }, env()).login({ address: '1.1.1.6' })).ok).toBe(false);
  });

  it('answers a failure only after the growing per-address delay, and counts it', async () => {
    const metrics = new CountingMetrics();
    const auth = new Authenticator({ users: [{ username: 'u', password: 'p' }], slowDown: { initialMs: 100, maxMs: 400, forgetMs: 60_000, maxAddresses: 10 } }, env(metrics));
    const took: number[] = [];
    for (let i = 0; i < 4; i++) {
      const t0 = performance.now();
      await auth.login({ username: 'u', password: 'wrong', address: '9.9.9.9' });
      took.push(performance.now() - t0);
    }
    expect(took[0]).toBeGreaterThanOrEqual(95);
    expect(took[1]).toBeGreaterThanOrEqual(195);
    expect(took[2]).toBeGreaterThanOrEqual(395);
    expect(took[3]).toBeGreaterThanOrEqual(395);
    // another address is not slowed by this one's failures
    const t0 = performance.now();
    expect((await auth.login({ username: 'u', password: 'p', address: '8.8.8.8' })).ok).toBe(true);
    expect(performance.now() - t0).toBeLessThan(95);
    expect(metrics.counts.get('auth_failures_total{"connector":"devices","reason":"bad-credentials"}')).toBe(4);
  });

  it('checks parallel logins from an address that failed before one at a time, each refused after the one before', async () => {
    const auth = new Authenticator({ users: [{ username: 'u', password: 'p' }], slowDown: { initialMs: 100, maxMs: 10_000, forgetMs: 60_000, maxAddresses: 10 } }, env());
    await auth.login({ username: 'u', password: 'wrong', address: '7.7.7.7' });
    const t0 = performance.now();
    const done: number[] = [];
    await Promise.all(
      [1, 2, 3].map(async () => {
        await auth.login({ username: 'u', password: 'wrong', address: '7.7.7.7' });
        done.push(performance.now() - t0);
      }),
    );
    // failures 2, 3, 4 in a row: 200, then 400 after it, then 800 after that
    expect(done[0]).toBeGreaterThanOrEqual(195);
    expect(done[1]).toBeGreaterThanOrEqual(595);
    expect(done[2]).toBeGreaterThanOrEqual(1395);
    // the right password from that address still gets in, after the queue
    expect((await auth.login({ username: 'u', password: 'p', address: '7.7.7.7' })).ok).toBe(true);
  });

  it('remembers a verified login: the same password is accepted again without another scrypt run', async () => {
    const h = await hashPassword('pw', { ln: 14, r: 8, p: 1 });
    const auth = new Authenticator({ users: [{ username: 'u', password: h }] }, env());
    const t0 = performance.now();
    expect((await auth.login({ username: 'u', password: 'pw', address: '1' })).ok).toBe(true);
    const first = performance.now() - t0;
    const t1 = performance.now();
    for (let i = 0; i < 10; i++) expect((await auth.login({ username: 'u', password: 'pw', address: '1' })).ok).toBe(true);
    // ten remembered logins take less than the one that ran scrypt
    expect(performance.now() - t1).toBeLessThan(first);
    expect((await auth.login({ username: 'u', password: 'pw2', address: '2' })).ok).toBe(false);
  });

  it('authorizes by the grants of the user, its groups, "everyone" and "anonymous", logging the first refusal of a client only', async () => {
    const metrics = new CountingMetrics();
    const logger = recordingLogger();
    const auth = new Authenticator(
      {
        users: [
          { username: 'dev1', password: 'a', groups: ['devices'] },
          { username: 'ops', password: 'b', subscribe: ['#'] },
        ],
        groups: { devices: { publish: ['sensors/{username}/#'], subscribe: ['cmd/{username}/#'] }, everyone: { subscribe: ['public/#'] }, anonymous: { publish: ['hello'] } },
        anonymous: true,
        slowDown: fast,
      },
      env(metrics, logger),
    );
    expect(auth.enforcing).toBe(true);
    const r = await auth.login({ username: 'dev1', password: 'a', address: '1.2.3.4', clientId: 'c' });
    if (!r.ok) throw new Error('login failed');
    const dev1 = r.client;
    expect(dev1.mayPublish('sensors/dev1/temp')).toBe(true);
    expect(dev1.mayPublish('sensors/dev2/temp')).toBe(false);
    expect(dev1.mayPublish('sensors/dev2/temp')).toBe(false);
    expect(dev1.maySubscribe('cmd/dev1/#')).toBe(true);
    expect(dev1.maySubscribe('public/news')).toBe(true);
    expect(dev1.maySubscribe('#')).toBe(false);
    expect(dev1.mayPublish('hello')).toBe(false);
    expect(metrics.counts.get('access_denied_total{"connector":"devices","action":"publish"}')).toBe(3);
    expect(metrics.counts.get('access_denied_total{"connector":"devices","action":"subscribe"}')).toBe(1);
    expect(logger.lines.filter((l) => l.level === 'warn' && l.message.includes('refused'))).toHaveLength(1);
    const a = await auth.login({ address: '1.2.3.4' });
    if (!a.ok) throw new Error('anonymous refused');
    expect(a.client.mayPublish('hello')).toBe(true);
    expect(a.client.mayPublish('sensors/anonymous/x')).toBe(false);
    const ops = await auth.login({ username: 'ops', password: 'b', address: '1.2.3.4' });
    expect(ops.ok && ops.client.maySubscribe('#') && !ops.client.mayPublish('x')).toBe(true);
  });

  it('without any grant configured, every client may do everything', async () => {
    const auth = new Authenticator({ users: [{ username: 'u', password: 'p' }] }, env());
    const r = await auth.login({ username: 'u', password: 'p', address: '1' });
    expect(auth.enforcing).toBe(false);
    expect(r.ok && r.client.mayPublish('x/y') && r.client.maySubscribe('#')).toBe(true);
  });

  it('takes the user name from a verified certificate with useIdentityAsUsername, and refuses without one', async () => {
    const auth = new Authenticator({ useIdentityAsUsername: true, users: [{ username: 'dev7', groups: ['d'] }], groups: { d: { publish: ['t/{username}'] } }, slowDown: fast }, env());
    const r = await auth.login({ address: '1', certificate: { subject: { CN: 'dev7' } }, username: 'ignored', password: 'ignored' });
    expect(r.ok && r.client.username).toBe('dev7');
    expect(r.ok && r.client.mayPublish('t/dev7')).toBe(true);
    expect(await auth.login({ address: '1', username: 'dev7', password: '' })).toEqual({ ok: false, reason: 'no-credentials' });
    expect(await auth.login({ address: '1', certificate: { subject: {} } })).toEqual({ ok: false, reason: 'bad-credentials' });
  });

  it('reads a users file at start and again when it changes; a broken new version keeps the users known before', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-users-'));
    const file = join(dir, 'users');
    writeFileSync(file, `dev1:${await hashPassword('one', FAST)}:devices\n`);
    const logger = recordingLogger();
    const auth = new Authenticator({ usersFile: file, groups: { devices: { publish: ['d/{username}'] } }, slowDown: fast }, env(new CountingMetrics(), logger));
    // the file is looked at again at most once a second by the clock: the test moves the clock
    // on by that second instead of waiting it out
    const realNow = Date.now.bind(Date);
    let ahead = 0;
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + ahead);
    try {
      await auth.start('127.0.0.1:1883');
      const r = await auth.login({ username: 'dev1', password: 'one', address: '1' });
      expect(r.ok && r.client.mayPublish('d/dev1')).toBe(true);
      writeFileSync(file, `dev1:${await hashPassword('two', FAST)}:devices\ndev2:${await hashPassword('x', FAST)}\n`);
      ahead += 1100;
      expect((await auth.login({ username: 'dev1', password: 'two', address: '2' })).ok).toBe(true);
      // the login verified before (and remembered) does not outlive the hash it was checked against
      expect((await auth.login({ username: 'dev1', password: 'one', address: '2b' })).ok).toBe(false);
      expect((await auth.login({ username: 'dev2', password: 'x', address: '2' })).ok).toBe(true);
      writeFileSync(file, 'dev1:plain\n');
      ahead += 1100;
      expect((await auth.login({ username: 'dev1', password: 'two', address: '3' })).ok).toBe(true);
    } finally {
      clock.mockRestore();
    }
    expect(logger.lines.some((l) => l.level === 'error' && l.message.includes('line 1: a plain-text password'))).toBe(true);
    await expect(new Authenticator({ usersFile: join(dir, 'missing') }, env()).start('x')).rejects.toMatchObject({ code: 'CONFIG_IO' });
  });

  it('refuses a configuration with unknown groups, bad patterns or bad hashes, naming each', () => {
    expect(
      () =>
        new Authenticator(
          { users: [{ username: 'a', password: '$scrypt$bad', groups: ['nope'] }], groups: { g: { publish: ['a/#/b'] } } },
          env(),
        ),
    ).toThrow(/group g publish: "a\/#\/b": "#" must be the last level; user "a": malformed scrypt hash.*; user "a": no group named "nope"/);
  });

  it('warns at start about plain-text passwords and about a listener that accepts nobody', async () => {
    const logger = recordingLogger();
    await new Authenticator({ users: [{ username: 'old', password: 'plain' }] }, env(new CountingMetrics(), logger)).start('0.0.0.0:1883');
    await new Authenticator({}, env(new CountingMetrics(), logger)).start('0.0.0.0:1884');
    await new Authenticator({ anonymous: true }, env(new CountingMetrics(), logger)).start('127.0.0.1:1885');
    const warns = logger.lines.filter((l) => l.level === 'warn').map((l) => l.message);
    expect(warns).toEqual([expect.stringMatching(/users old have plain-text passwords/), expect.stringMatching(/0\.0\.0\.0:1884: accepts nobody: .*anonymous: true/)]);
    expect(JSON.stringify(logger.lines)).not.toContain('plain"');
  });

  it('refuses clients without credentials when the listener has no users and does not say anonymous: true, as Mosquitto 2 does', async () => {
    const closed = new Authenticator({}, env());
    expect(closed.anonymousAllowed).toBe(false);
    expect(closed.anonymousClient()).toBeUndefined();
    expect(await closed.login({ address: '2.2.2.1' })).toEqual({ ok: false, reason: 'no-credentials' });
    // a user name it does not know is refused too: there is nobody to log in as
    expect(await closed.login({ address: '2.2.2.2', username: 'someone', password: 'x' })).toEqual({ ok: false, reason: 'bad-credentials' });
    const open = new Authenticator({ anonymous: true }, env());
    const a = await open.login({ address: '2.2.2.3' });
    expect(a.ok && a.client.anonymous).toBe(true);
    // with anonymous: true and no users, a user name is ignored (stomp.py always sends one)
    const named = await open.login({ address: '2.2.2.4', username: 'someone', password: 'x' });
    expect(named.ok && named.client.anonymous).toBe(true);
  });

  it('authWarnings names plain-text users and the listener that accepts nobody, never a password', () => {
    expect(authWarnings({ anonymous: true })).toEqual([]);
    expect(authWarnings({ usersFile: '/x' })).toEqual([]);
    expect(authWarnings({ useIdentityAsUsername: true })).toEqual([]);
    expect(authWarnings({})).toEqual([expect.stringMatching(/^accepts nobody/)]);
    expect(authWarnings({ anonymous: false })).toEqual([expect.stringMatching(/^accepts nobody/)]);
    const w = authWarnings({ users: [{ username: 'dev1', password: 's3cret-pw' }, { username: 'dev2', password: '$scrypt$ln=14,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g' }] });
    expect(w).toEqual([expect.stringMatching(/users dev1 have plain-text passwords.*ferry passwd/)]);
    expect(w.join()).not.toContain('s3cret-pw');
  });
});
