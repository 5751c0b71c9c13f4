import { stat, readFile } from 'node:fs/promises';
import type { AddressSyntax } from '../connector.js';
import { describeError, FerryError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { GrantPattern, type BoundGrant } from './grant-pattern.js';
import { burnVerify, constantTimeEqual, isPasswordHash, passwordHashProblem, passwordMac, verifyPassword } from './password-hash.js';
import { DEFAULT_SLOW_DOWN, FailureSlowDown, type SlowDownOptions } from './slow-down.js';
import { ANONYMOUS_GROUP, EVERYONE_GROUP, MAX_USERS_FILE_BYTES, parseUsersFile, type AuthGroup, type AuthUser } from './users.js';

/** What one listener accepts: its users, groups with their grants, anonymous clients, certificates. */
export interface AuthConfig {
  readonly users?: readonly AuthUser[] | undefined;
  /** absolute path of a users file (./users.ts); read at start, re-read when it changes */
  readonly usersFile?: string | undefined;
  readonly groups?: Readonly<Record<string, AuthGroup>> | undefined;
  /**
   * accept clients without credentials; only `true` does. A listener with no users and without
   * it accepts nobody (as Mosquitto 2 refuses anonymous clients unless allow_anonymous is set),
   * and says so at start
   */
  readonly anonymous?: boolean | undefined;
  /** the verified client certificate's subject CN is the user name (Mosquitto's use_identity_as_username) */
  readonly useIdentityAsUsername?: boolean | undefined;
  readonly slowDown?: SlowDownOptions | undefined;
}

export interface AuthEnv {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly connector: string;
  /** the listener's address syntax: how grant patterns are read */
  readonly syntax: AddressSyntax;
}

/** A verified client certificate, as node's TLSSocket.getPeerCertificate gives it (the listener's transport passes it). */
interface PeerCertificate {
  readonly subject?: { readonly CN?: string | readonly string[] | undefined } | undefined;
}

export interface LoginAttempt {
  readonly username?: string | undefined;
  readonly password?: Buffer | string | undefined;
  /** the client's IP address (no port): failures slow down per address */
  readonly address: string;
  /** MQTT client id (for `{clientId}` in grants) */
  readonly clientId?: string | undefined;
  /** the verified peer certificate on a TLS connection, when there is one */
  readonly certificate?: PeerCertificate | undefined;
}

/**
 * - `no-credentials`: none given and anonymous clients are not accepted
 * - `bad-credentials`: unknown user, wrong password, or a certificate without a usable name
 */
type LoginFailure = 'no-credentials' | 'bad-credentials';

export type LoginResult = { readonly ok: true; readonly client: AuthorizedClient } | { readonly ok: false; readonly reason: LoginFailure };

export type AccessAction = 'publish' | 'subscribe';

/**
 * What is weak or unusable in a listener's authentication settings, as `ferry validate` and the
 * listener's start both say it: users with plain-text passwords in the route file (named, the
 * passwords never shown), and a listener that accepts nobody (no users, no users file, no
 * certificate identities, and no `anonymous: true`). No I/O: a users file is judged apart.
 */
export function authWarnings(cfg: AuthConfig): string[] {
  const warnings: string[] = [];
  const plain = (cfg.users ?? []).filter((u) => u.password !== undefined && !isPasswordHash(u.password)).map((u) => u.username);
  if (plain.length > 0) {
    warnings.push(`users ${plain.join(', ')} have plain-text passwords in the route file; store scrypt hashes made by "ferry passwd" instead`);
  }
  const hasUsers = (cfg.users ?? []).length > 0 || cfg.usersFile !== undefined || cfg.useIdentityAsUsername === true;
  if (!hasUsers && cfg.anonymous !== true) {
    warnings.push('accepts nobody: it has no users, and clients without credentials are refused unless it says "anonymous: true" (add users, a usersFile or useIdentityAsUsername, or say anonymous: true)');
  }
  return warnings;
}

/** The users file is looked at again at most this often (on logins), to see whether it changed. */
const USERS_FILE_CHECK_MS = 1000;

interface Grants {
  readonly publish: readonly GrantPattern[];
  readonly subscribe: readonly GrantPattern[];
}

interface Table {
  readonly users: ReadonlyMap<string, AuthUser>;
}

/**
 * The one authentication and authorization function of every listener (MQTT, STOMP, AMQP 1.0):
 * checks credentials against hashed (or, from older route files, plain) passwords in constant
 * time, slows failures down per client address, and hands out an {@link AuthorizedClient} that
 * answers, for each publish and subscribe, whether its grants allow it.
 *
 * Authorization applies once any user or group of the listener has a `publish` or `subscribe`
 * list: from then on, what is not granted is refused. A listener without any grant lets every
 * authenticated client publish and subscribe everywhere, as before grants existed.
 */
export class Authenticator {
  readonly #cfg: AuthConfig;
  readonly #env: AuthEnv;
  readonly #slow: FailureSlowDown;
  readonly #groups: ReadonlyMap<string, Grants>;
  readonly #userGrants = new Map<string, Grants>();
  readonly #inline: ReadonlyMap<string, AuthUser>;
  readonly #enforce: boolean;
  readonly #anonymous: boolean;
  #table: Table;
  #fileStamp: string | undefined;
  #lastCheck = 0;
  #checking: Promise<void> | undefined;
  /**
   * Logins already verified, per user: the stored hash and a keyed MAC of the password that
   * matched it. The same password against the same stored hash is then accepted without running
   * scrypt again, so a fleet reconnecting after a restart costs one hash per user, not one per
   * connection. A wrong password never matches the MAC and goes through scrypt (and the
   * slow-down). Bounded by the number of users.
   */
  readonly #verified = new Map<string, { readonly stored: string; readonly mac: Buffer }>();
  /** the login in progress from an address that failed before: its next one waits for it */
  readonly #queues = new Map<string, Promise<unknown>>();

  /** Parses and checks the configuration; throws CONFIG_INVALID naming every problem. No I/O. */
  constructor(cfg: AuthConfig, env: AuthEnv) {
    this.#cfg = cfg;
    this.#env = env;
    this.#slow = new FailureSlowDown(cfg.slowDown ?? DEFAULT_SLOW_DOWN);
    const problems: string[] = [];
    const parse = (where: string, patterns: readonly string[] | undefined): GrantPattern[] =>
      (patterns ?? []).flatMap((p) => {
        const g = GrantPattern.parse(env.syntax, p);
        if (typeof g === 'string') {
          problems.push(`${where}: ${JSON.stringify(p)}: ${g}`);
          return [];
        }
        return [g];
      });
    const groups = new Map<string, Grants>();
    for (const [name, g] of Object.entries(cfg.groups ?? {})) {
      groups.set(name, { publish: parse(`group ${name} publish`, g.publish), subscribe: parse(`group ${name} subscribe`, g.subscribe) });
    }
    this.#groups = groups;
    const inline = new Map<string, AuthUser>();
    for (const u of cfg.users ?? []) {
      if (inline.has(u.username)) problems.push(`user ${JSON.stringify(u.username)} appears twice`);
      inline.set(u.username, u);
      if (u.password !== undefined) {
        const p = passwordHashProblem(u.password);
        if (p !== undefined) problems.push(`user ${JSON.stringify(u.username)}: ${p}`);
      }
      this.#userGrants.set(u.username, { publish: parse(`user ${u.username} publish`, u.publish), subscribe: parse(`user ${u.username} subscribe`, u.subscribe) });
      for (const g of u.groups ?? []) if (!groups.has(g)) problems.push(`user ${JSON.stringify(u.username)}: no group named ${JSON.stringify(g)}`);
    }
    this.#inline = inline;
    this.#table = { users: inline };
    this.#enforce =
      groups.size > 0 || (cfg.users ?? []).some((u) => u.publish !== undefined || u.subscribe !== undefined);
    this.#anonymous = cfg.anonymous === true;
    if (problems.length > 0) {
      throw new FerryError('CONFIG_INVALID', `${env.connector}: ${problems.join('; ')}`, { permanent: true, details: { problems } });
    }
  }

  /** true when grants are enforced (some user or group has a publish or subscribe list) */
  get enforcing(): boolean {
    return this.#enforce;
  }

  get anonymousAllowed(): boolean {
    return this.#anonymous;
  }

  /**
   * Read the users file (if any) and say, once, what is weak or unusable about this listener's
   * settings: plain-text passwords, and a listener nobody can log in to.
   */
  async start(where: string): Promise<void> {
    const log = this.#env.logger;
    if (this.#cfg.usersFile !== undefined) await this.#loadFile(true);
    for (const w of authWarnings(this.#cfg)) log.warn(`${this.#env.connector} on ${where}: ${w}`, { connector: this.#env.connector });
    if (this.#anonymous) {
      const loopback = /^(127\.|localhost:|\[?::1\]?:)/.test(where);
      log.info(`${this.#env.connector} on ${where} accepts anonymous clients (anonymous: true)${loopback ? ': loopback only, so only programs on this machine can connect' : ''}`, { connector: this.#env.connector });
    }
    if (!this.#enforce) log.info(`${this.#env.connector}: no grants configured: every client that logs in may publish and subscribe to every address`, { connector: this.#env.connector });
  }

  /**
   * The anonymous client, without a login exchange (an AMQP 1.0 connection that skipped SASL, or
   * chose ANONYMOUS); undefined when anonymous clients are not accepted.
   */
  anonymousClient(clientId?: string): AuthorizedClient | undefined {
    return this.#anonymous ? this.#client(undefined, true, clientId) : undefined;
  }

  /**
   * Check one login. A failure resolves only after the address's slow-down delay. Logins from an
   * address that failed before are checked one at a time, each after the previous one's refusal:
   * parallel connections neither guess faster nor make Ferry hash more than one password at a
   * time for that address.
   */
  login(a: LoginAttempt): Promise<LoginResult> {
    if (this.#slow.failures(a.address) === 0 && !this.#queues.has(a.address)) return this.#attempt(a);
    const previous = this.#queues.get(a.address) ?? Promise.resolve();
    const mine = previous.then(
      () => this.#attempt(a),
      () => this.#attempt(a),
    );
    this.#queues.set(a.address, mine);
    void mine.finally(() => {
      if (this.#queues.get(a.address) === mine) this.#queues.delete(a.address);
    });
    return mine;
  }

  async #attempt(a: LoginAttempt): Promise<LoginResult> {
    const r = await this.#check(a);
    if (r.ok) {
      this.#slow.succeed(a.address);
      return r;
    }
    this.#env.metrics.inc('auth_failures_total', { connector: this.#env.connector, reason: r.reason });
    const delay = this.#slow.fail(a.address);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay).unref());
    return r;
  }

  async #check(a: LoginAttempt): Promise<LoginResult> {
    await this.#refresh();
    if (this.#cfg.useIdentityAsUsername === true) {
      const cn = a.certificate?.subject?.CN;
      const name = typeof cn === 'string' ? cn : Array.isArray(cn) && cn.length === 1 ? (cn[0] as string) : undefined;
      // without a verified certificate there is no identity: the client is refused, whatever it sent
      if (a.certificate === undefined) return { ok: false, reason: 'no-credentials' };
      if (name === undefined || name === '') return { ok: false, reason: 'bad-credentials' };
      return { ok: true, client: this.#client(name, false, a.clientId) };
    }
    if (a.username === undefined || a.username === '') {
      if (!this.#anonymous) return { ok: false, reason: 'no-credentials' };
      return { ok: true, client: this.#client(undefined, true, a.clientId) };
    }
    const password = a.password === undefined ? Buffer.alloc(0) : typeof a.password === 'string' ? Buffer.from(a.password, 'utf8') : a.password;
    const user = this.#table.users.get(a.username);
    if (user?.password === undefined) {
      if (!this.#hasAnyUser() && this.#anonymous) {
        // an anonymous listener without users ignores user names: many clients always send one
        return { ok: true, client: this.#client(undefined, true, a.clientId) };
      }
      await burnVerify(password);
      return { ok: false, reason: 'bad-credentials' };
    }
    const mac = passwordMac(password);
    const known = this.#verified.get(user.username);
    if (known?.stored !== user.password || !constantTimeEqual(known.mac, mac)) {
      if (!(await verifyPassword(user.password, password))) return { ok: false, reason: 'bad-credentials' };
      this.#verified.set(user.username, { stored: user.password, mac });
    }
    return { ok: true, client: this.#client(user.username, false, a.clientId) };
  }

  #hasAnyUser(): boolean {
    return this.#table.users.size > 0 || this.#cfg.usersFile !== undefined;
  }

  #client(username: string | undefined, anonymous: boolean, clientId: string | undefined): AuthorizedClient {
    if (!this.#enforce) return new AuthorizedClient(this.#env, username, anonymous, undefined);
    const patterns: GrantPattern[][] = [[], []];
    const addGrants = (g: Grants | undefined): void => {
      if (g === undefined) return;
      patterns[0]!.push(...g.publish);
      patterns[1]!.push(...g.subscribe);
    };
    addGrants(this.#groups.get(EVERYONE_GROUP));
    if (anonymous) addGrants(this.#groups.get(ANONYMOUS_GROUP));
    if (username !== undefined) {
      addGrants(this.#userGrants.get(username));
      const user = this.#table.users.get(username);
      for (const g of user?.groups ?? []) addGrants(this.#groups.get(g));
    }
    const values = { username, clientId };
    const bind = (ps: readonly GrantPattern[]): BoundGrant[] => ps.flatMap((p) => p.bind(values) ?? []);
    return new AuthorizedClient(this.#env, username, anonymous, { publish: bind(patterns[0]!), subscribe: bind(patterns[1]!) });
  }

  /** Re-read the users file when it changed; checked at most once a second, on logins. */
  #refresh(): Promise<void> {
    if (this.#cfg.usersFile === undefined) return Promise.resolve();
    const now = Date.now();
    if (this.#checking !== undefined) return this.#checking;
    if (now - this.#lastCheck < USERS_FILE_CHECK_MS) return Promise.resolve();
    this.#lastCheck = now;
    this.#checking = this.#loadFile(false).finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #loadFile(first: boolean): Promise<void> {
    const file = this.#cfg.usersFile as string;
    const log = this.#env.logger;
    try {
      const s = await stat(file);
      const stamp = `${s.mtimeMs}:${s.size}:${s.ino}`;
      if (stamp === this.#fileStamp) return;
      if (s.size > MAX_USERS_FILE_BYTES) throw new FerryError('CONFIG_INVALID', `users file ${file} is larger than ${MAX_USERS_FILE_BYTES} bytes`, { permanent: true });
      const { users, problems } = parseUsersFile(await readFile(file, 'utf8'));
      const unknownGroups = users.flatMap((u) => (u.groups ?? []).filter((g) => !this.#groups.has(g)).map((g) => `user ${JSON.stringify(u.username)}: no group named ${JSON.stringify(g)}`));
      const clash = users.filter((u) => this.#inline.has(u.username)).map((u) => `user ${JSON.stringify(u.username)} is also in the route file`);
      const all = [...problems.map((p) => `line ${p.line}: ${p.message}`), ...unknownGroups, ...clash];
      if (all.length > 0) throw new FerryError('CONFIG_INVALID', `users file ${file}: ${all.join('; ')}`, { permanent: true });
      const table = new Map(this.#inline);
      for (const u of users) table.set(u.username, u);
      this.#table = { users: table };
      this.#fileStamp = stamp;
      log.info(`${this.#env.connector}: ${first ? 'read' : 're-read'} users file`, { connector: this.#env.connector, file, users: users.length });
    } catch (err) {
      const e = FerryError.is(err) ? err : new FerryError('CONFIG_IO', `cannot read users file ${file}`, { cause: err, permanent: true });
      // at start a broken users file stops the listener; later the users already known stay
      if (first) throw e;
      log.error(`${this.#env.connector}: users file not re-read, the users read before stay: ${describeError(e)}`, { connector: this.#env.connector });
      this.#fileStamp = undefined;
    }
  }
}

/**
 * One logged-in client: who it is, and what it may do. Each refusal is counted
 * (`access_denied_total`); the first one of a client is logged, later ones only counted, so a
 * client that retries a forbidden publish in a loop cannot flood the log.
 */
export class AuthorizedClient {
  readonly username: string | undefined;
  readonly anonymous: boolean;
  readonly #env: AuthEnv;
  /** undefined: no grants configured, everything is allowed */
  readonly #grants: { readonly publish: readonly BoundGrant[]; readonly subscribe: readonly BoundGrant[] } | undefined;
  #logged = false;

  constructor(env: AuthEnv, username: string | undefined, anonymous: boolean, grants: AuthorizedClient['grants']) {
    this.#env = env;
    this.username = username;
    this.anonymous = anonymous;
    this.#grants = grants;
  }

  get grants(): { readonly publish: readonly BoundGrant[]; readonly subscribe: readonly BoundGrant[] } | undefined {
    return this.#grants;
  }

  /** May this client publish to the address `address`? Counts and logs a refusal. */
  mayPublish(address: string, client?: string): boolean {
    const ok = this.#grants === undefined || this.#grants.publish.some((g) => g.coversAddress(address));
    if (!ok) this.#deny('publish', address, client);
    return ok;
  }

  /** May this client subscribe to `filter` (every address it can receive inside its grants)? */
  maySubscribe(filter: string, client?: string): boolean {
    const ok = this.#grants === undefined || this.#grants.subscribe.some((g) => g.coversFilter(filter));
    if (!ok) this.#deny('subscribe', filter, client);
    return ok;
  }

  #deny(action: AccessAction, address: string, client: string | undefined): void {
    this.#env.metrics.inc('access_denied_total', { connector: this.#env.connector, action });
    if (this.#logged) return;
    this.#logged = true;
    this.#env.logger.warn(`${this.#env.connector}: ${action} to ${JSON.stringify(address)} refused: not in the grants of ${this.username === undefined ? 'anonymous clients' : `user ${JSON.stringify(this.username)}`} (further refusals of this client are counted, not logged)`, {
      connector: this.#env.connector,
      action,
      address,
      ...(this.username === undefined ? {} : { username: this.username }),
      ...(client === undefined ? {} : { client }),
    });
  }
}
