import { createHmac, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { FerryError } from '../errors.js';

/**
 * Password hashes in a self-describing string, the PHC string format
 * (github.com/P-H-C/phc-string-format): `$scrypt$ln=15,r=8,p=1$<salt>$<hash>`, salt and hash in
 * unpadded base64. The cost travels with each hash, so raising the default later leaves the
 * hashes already in users files valid. scrypt (RFC 7914) from node:crypto: memory-hard, no
 * native dependency.
 */
export interface ScryptParams {
  /** log2 of the CPU/memory cost N (RFC 7914 §2) */
  readonly ln: number;
  /** block size r */
  readonly r: number;
  /** parallelisation p */
  readonly p: number;
}

/**
 * 2^14 × 8 × 128 B = 16 MiB and some 50 ms of one core per hash: the scrypt paper's setting for
 * interactive logins. Costly for whoever guesses against a leaked file; an edge gateway whose
 * devices reconnect after a restart pays it once per user (see Authenticator's login cache).
 */
export const DEFAULT_SCRYPT: ScryptParams = { ln: 14, r: 8, p: 1 };

const SALT_BYTES = 16;
const HASH_BYTES = 32;
/**
 * Bounds on the parameters a stored hash may ask for: a users file must not be able to make
 * one login cost gigabytes or minutes (2^20 × 8 × 128 B = 1 GiB is the ceiling).
 */
const LIMITS = { ln: [1, 20], r: [1, 32], p: [1, 16] } as const;
const PREFIX = '$scrypt$';
const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,88})\$([A-Za-z0-9+/]{16,88})$/;

export interface ParsedHash {
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** true when `stored` is meant to be a hash (a PHC string), false for a plain-text password */
export function isPasswordHash(stored: string): boolean {
  return stored.startsWith('$');
}

/** Parse a stored hash; undefined when it is not a valid scrypt PHC string within the limits. */
export function parsePasswordHash(stored: string): ParsedHash | undefined {
  const m = PHC.exec(stored);
  if (m === null) return undefined;
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  for (const k of ['ln', 'r', 'p'] as const) {
    const [lo, hi] = LIMITS[k];
    if (params[k] < lo || params[k] > hi) return undefined;
  }
  const salt = Buffer.from(m[4] as string, 'base64');
  const hash = Buffer.from(m[5] as string, 'base64');
  if (salt.length < 8 || hash.length < 16) return undefined;
  return { params, salt, hash };
}

/** Why a stored password string cannot be used, or undefined when it can (for config checks). */
export function passwordHashProblem(stored: string): string | undefined {
  if (!isPasswordHash(stored)) return undefined;
  if (!stored.startsWith(PREFIX)) return `unknown password hash scheme ${JSON.stringify(stored.split('$')[1] ?? '')}: expected $scrypt$ (make one with "ferry passwd")`;
  if (parsePasswordHash(stored) === undefined) {
    return `malformed scrypt hash: expected $scrypt$ln=<1-20>,r=<1-32>,p=<1-16>$<salt>$<hash> (make one with "ferry passwd")`;
  }
  return undefined;
}

function derive(password: Buffer, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  const N = 2 ** params.ln;
  // node's default maxmem (32 MiB) is exactly the default cost; leave room above it
  const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 128 * N * params.r * params.p + 64 * 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, options, (err, key) => (err === null ? resolve(key) : reject(new FerryError('INTERNAL', 'scrypt failed', { cause: err }))));
  });
}

const b64 = (b: Buffer): string => b.toString('base64').replace(/=+$/, '');

/** Hash a password into a PHC string with a fresh random salt. */
export async function hashPassword(password: string | Buffer, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(typeof password === 'string' ? Buffer.from(password, 'utf8') : password, salt, params, HASH_BYTES);
  return `${PREFIX}ln=${params.ln},r=${params.r},p=${params.p}$${b64(salt)}$${b64(key)}`;
}

/** A key that lives as long as the process, so plain-text comparisons compare equal-length MACs. */
const COMPARE_KEY = randomBytes(32);
const mac = (b: Buffer): Buffer => createHmac('sha256', COMPARE_KEY).update(b).digest();

/** A keyed MAC of a password under a key that lives only in this process (never stored or logged). */
export function passwordMac(password: Buffer): Buffer {
  return mac(password);
}

/**
 * Compare two byte strings in time that depends on neither their contents nor their lengths:
 * both go through an HMAC first, and the fixed-length MACs are compared with timingSafeEqual.
 */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return timingSafeEqual(mac(a), mac(b));
}

/**
 * Check `password` against a stored value: an scrypt PHC string, or (route files that predate
 * hashes) a plain-text password. Never throws for a wrong password; a malformed hash never
 * matches.
 */
export async function verifyPassword(stored: string, password: Buffer): Promise<boolean> {
  if (!isPasswordHash(stored)) return constantTimeEqual(Buffer.from(stored, 'utf8'), password);
  const parsed = parsePasswordHash(stored);
  if (parsed === undefined) return false;
  const key = await derive(password, parsed.salt, parsed.params, parsed.hash.length);
  return timingSafeEqual(key, parsed.hash);
}

let dummy: Promise<string> | undefined;

/**
 * The same work as checking a real user's password, for a user name that does not exist: the
 * answer then takes as long as for a wrong password, so timing does not tell which user names
 * exist.
 */
export async function burnVerify(password: Buffer): Promise<false> {
  dummy ??= hashPassword(randomBytes(16));
  await verifyPassword(await dummy, password);
  return false;
}
