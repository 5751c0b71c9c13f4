/**
 * Which client ids a user may connect with, from the listener's `clientIdPattern`:
 * `{username}` (the id is the user name, Mosquitto's use_username_as_clientid and RabbitMQ's
 * per-user client ids in their strictest form) or a pattern with `{username}` in it and,
 * optionally, a trailing `*` for any suffix (`{username}-*`, `site1/{username}*`).
 *
 * A client id then belongs to its user by construction: no other user can take it, even before
 * the first connection. Clients without a user name (anonymous) have no id they may use.
 */
export class ClientIdRule {
  readonly #prefix: string;
  readonly #suffix: string;
  readonly #open: boolean;

  private constructor(prefix: string, suffix: string, open: boolean) {
    this.#prefix = prefix;
    this.#suffix = suffix;
    this.#open = open;
  }

  /** Why `pattern` is not a usable rule, or undefined when it is. */
  static problem(pattern: string): string | undefined {
    const at = pattern.indexOf(USERNAME);
    if (at < 0) return `must contain ${USERNAME}`;
    if (pattern.includes(USERNAME, at + 1)) return `may contain ${USERNAME} only once`;
    const star = pattern.indexOf('*');
    if (star >= 0 && star !== pattern.length - 1) return '"*" may only end the pattern';
    return undefined;
  }

  /** A rule from a pattern {@link problem} accepted (the schema checked it). */
  static parse(pattern: string): ClientIdRule {
    const open = pattern.endsWith('*');
    const body = open ? pattern.slice(0, -1) : pattern;
    const at = body.indexOf(USERNAME);
    return new ClientIdRule(body.slice(0, at), body.slice(at + USERNAME.length), open);
  }

  /** May `username` connect with `clientId`? Never for a client without a user name. */
  allows(username: string | undefined, clientId: string): boolean {
    if (username === undefined || username === '') return false;
    const fixed = this.#prefix + username + this.#suffix;
    return this.#open ? clientId.startsWith(fixed) : clientId === fixed;
  }

  /**
   * The id to give a client that sent an empty one (MQTT 5 §3.1.3.1, 3.1.1 §3.1.3.1: the server
   * assigns it): the pattern filled in, `random` making up the open suffix.
   */
  assign(username: string, random: string): string {
    return this.#prefix + username + this.#suffix + (this.#open ? random : '');
  }
}

const USERNAME = '{username}';
