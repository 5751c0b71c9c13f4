import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { z } from 'zod';
import { authWarnings, type AuthConfig } from './authenticator.js';
import type { ConnectorAudit } from '../connector.js';
import { MAX_USERS_FILE_BYTES, parseUsersFile, type AuthUser } from './users.js';
import { DEFAULT_SLOW_DOWN } from './slow-down.js';
import type { AddressSyntax } from '../connector.js';
import { GrantPattern } from './grant-pattern.js';
import { passwordHashProblem } from './password-hash.js';

/**
 * The route-file options every listener shares for authentication and authorization. Each
 * listener spreads {@link listenerAuthOptions} into its own options schema (so config/schema.json
 * and the docs describe them per listener) and turns them into an AuthConfig.
 */
function grantList(syntax: AddressSyntax, what: string): z.ZodType<string[]> {
  return z
    .array(
      z.string().superRefine((p, ctx) => {
        const g = GrantPattern.parse(syntax, p);
        if (typeof g === 'string') ctx.addIssue({ code: 'custom', message: g });
      }),
    )
    .describe(what);
}

/** A stored password: an scrypt hash from `ferry passwd`, or plain text (warned about at start). */
const storedPassword = z
  .string()
  .superRefine((p, ctx) => {
    const problem = passwordHashProblem(p);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('an scrypt hash made by "ferry passwd" ($scrypt$ln=…), or a plain-text password (accepted, warned about at start)');

const syntaxHelp: Record<AddressSyntax, string> = {
  mqtt: 'MQTT topic filters ("+" one level, "#" the rest)',
  stomp: 'STOMP destinations (/topic/… or /queue/…, then words split on "."; "*" one word, "#" any number)',
  amqp10: 'AMQP 1.0 addresses (words split on "."; "*" one word, "#" any number)',
  amqp: 'AMQP 0-9-1 topic patterns',
};

/** `publish` and `subscribe` grant lists, as a user or a group holds them. */
function grantFields(syntax: AddressSyntax) {
  const kind = syntaxHelp[syntax];
  return {
    publish: grantList(syntax, `addresses the holder may publish to: ${kind}; {username} and {clientId} are filled in per client`).optional(),
    subscribe: grantList(syntax, `addresses the holder may subscribe to (a subscription wider than these is refused): ${kind}; {username} and {clientId} are filled in per client`).optional(),
  };
}

export function listenerAuthOptions(syntax: AddressSyntax) {
  return {
    usersFile: z
      .string()
      .min(1)
      .optional()
      .describe('a users file, relative to the route file: one "username:hash[:group,group]" a line (hashes from "ferry passwd"); re-read when it changes'),
    groups: z
      .record(z.string().min(1), z.strictObject(grantFields(syntax)))
      .optional()
      .describe('named grant sets; a user lists the groups it belongs to. "everyone" applies to every client, "anonymous" to clients without credentials'),
    anonymous: z
      .boolean()
      .optional()
      .describe('accept clients without credentials (they get the grants of the groups "anonymous" and "everyone"). Default false: a listener with no users and no "anonymous: true" accepts nobody (a warning at start and from "ferry validate" says so)'),
    useIdentityAsUsername: z
      .boolean()
      .optional()
      .describe("on TLS connections with a verified client certificate, the certificate subject's CN is the user name and no password is asked (Mosquitto's use_identity_as_username); clients without one are refused"),
    loginFailureDelay: z
      .strictObject({
        initialMs: z.number().int().min(0).default(200).describe('delay before the first refusal from an address, ms'),
        maxMs: z.number().int().min(0).default(10_000).describe('longest delay, ms; each further failure in a row doubles it up to this'),
      })
      .optional()
      .describe('failed logins are answered after a delay that doubles with each failure in a row from the same client address (default 200 ms up to 10 s)'),
  };
}

/** The `groups` list a user entry may carry. */
const userGroups = z.array(z.string().min(1)).optional().describe('groups the user belongs to (their grants add to its own)');

/**
 * One entry of a listener's `users` list: a name and a stored password, under the names the
 * protocol's login gives them (MQTT 3.1.1 §3.1.3.4/§3.1.3.5 username/password, SASL PLAIN's
 * authcid/passwd as username/password, STOMP 1.2 CONNECT's login/passcode), its groups, and
 * its own grants.
 */
export function listenerUser<Name extends string, Secret extends string>(syntax: AddressSyntax, name: Name, nameMeans: string, secret: Secret) {
  const keys = { [name]: z.string().min(1).describe(nameMeans) } as Record<Name, z.ZodString>;
  const password = { [secret]: storedPassword.optional() } as Record<Secret, z.ZodOptional<typeof storedPassword>>;
  return z.strictObject({ ...keys, ...password, groups: userGroups, ...grantFields(syntax) });
}

/** The auth options of a listener as its schema outputs them (user entries already in core's shape). */
export interface ListenerAuthInput {
  readonly users?: readonly AuthUserInput[] | undefined;
  readonly usersFile?: string | undefined;
  readonly groups?: Readonly<Record<string, { readonly publish?: readonly string[] | undefined; readonly subscribe?: readonly string[] | undefined }>> | undefined;
  readonly anonymous?: boolean | undefined;
  /** the older name of `anonymous` */
  readonly allowAnonymous?: boolean | undefined;
  readonly useIdentityAsUsername?: boolean | undefined;
  readonly loginFailureDelay?: { readonly initialMs: number; readonly maxMs: number } | undefined;
}

/** a user as a listener's options list it: the same fields core's authenticator keeps */
type AuthUserInput = AuthUser;

/** A listener's options → the Authenticator's configuration; `usersFile` resolves against `baseDir`. */
export function authConfigFrom(o: ListenerAuthInput, baseDir: string): AuthConfig {
  const d = o.loginFailureDelay;
  return {
    users: o.users,
    usersFile: o.usersFile === undefined ? undefined : isAbsolute(o.usersFile) ? o.usersFile : resolvePath(baseDir, o.usersFile),
    groups: o.groups,
    anonymous: o.anonymous ?? o.allowAnonymous,
    useIdentityAsUsername: o.useIdentityAsUsername,
    slowDown: d === undefined ? undefined : { ...DEFAULT_SLOW_DOWN, initialMs: d.initialMs, maxMs: d.maxMs },
  };
}

/** zod check for a listener schema: `anonymous` and its older name `allowAnonymous` must agree. */
export function anonymousAgrees(o: { readonly anonymous?: boolean | undefined; readonly allowAnonymous?: boolean | undefined }): boolean {
  return o.anonymous === undefined || o.allowAnonymous === undefined || o.anonymous === o.allowAnonymous;
}

/**
 * zod check for a listener schema: every user has a password, except with
 * useIdentityAsUsername, where a user listed without one logs in by certificate only.
 */
export function passwordsPresent(o: { readonly users?: readonly { readonly password?: string | undefined; readonly passcode?: string | undefined }[] | undefined; readonly useIdentityAsUsername?: boolean | undefined }): boolean {
  return o.useIdentityAsUsername === true || (o.users ?? []).every((u) => u.password !== undefined || u.passcode !== undefined);
}

/**
 * A listener's authentication settings as `ferry validate` judges them: the warnings its start
 * would log ({@link authWarnings}), and the problems of its users file that would stop its start
 * (plain-text passwords among them), each with its line and never the secret. A users file not
 * there yet is not a finding: like TLS files, it may be put in place where Ferry is deployed.
 */
export async function auditListenerAuth(o: ListenerAuthInput, baseDir: string): Promise<ConnectorAudit> {
  const cfg = authConfigFrom(o, baseDir);
  const errors: string[] = [];
  const file = cfg.usersFile;
  if (file !== undefined) {
    try {
      if ((await stat(file)).size > MAX_USERS_FILE_BYTES) errors.push(`usersFile ${file}: larger than ${MAX_USERS_FILE_BYTES} bytes`);
      else for (const p of parseUsersFile(await readFile(file, 'utf8')).problems) errors.push(`usersFile ${file} line ${p.line}: ${p.message}`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') errors.push(`usersFile ${file}: cannot be read (${code ?? 'error'})`);
    }
  }
  return { warnings: authWarnings(cfg), errors };
}
