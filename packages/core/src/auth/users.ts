import { passwordHashProblem } from './password-hash.js';

/** One user as the listener knows it: from the route file or from a users file. */
export interface AuthUser {
  readonly username: string;
  /** an scrypt PHC string, or a plain-text password; absent: the user logs in only by certificate */
  readonly password?: string | undefined;
  readonly groups?: readonly string[] | undefined;
  readonly publish?: readonly string[] | undefined;
  readonly subscribe?: readonly string[] | undefined;
}

export interface AuthGroup {
  readonly publish?: readonly string[] | undefined;
  readonly subscribe?: readonly string[] | undefined;
}

/** Group every client belongs to, authenticated or not (Mosquitto's `pattern` lines). */
export const EVERYONE_GROUP = 'everyone';
/** Group a client that connected without credentials belongs to. */
export const ANONYMOUS_GROUP = 'anonymous';

/** The largest users file read, so a wrong path (a log file, a device) cannot exhaust memory. */
export const MAX_USERS_FILE_BYTES = 16 * 1024 * 1024;

export interface UsersFileProblem {
  readonly line: number;
  readonly message: string;
}

/**
 * Parse a users file: one user a line, `username:hash` as in a Mosquitto password file, with
 * an optional third field of comma-separated groups (`dev1:$scrypt$…:devices,lab`). Blank
 * lines and lines starting with `#` are skipped. Every problem is reported, with its line.
 */
export function parseUsersFile(text: string): { readonly users: AuthUser[]; readonly problems: UsersFileProblem[] } {
  const users: AuthUser[] = [];
  const problems: UsersFileProblem[] = [];
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] as string).trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const line = i + 1;
    const fields = raw.split(':');
    if (fields.length < 2 || fields.length > 3) {
      problems.push({ line, message: 'expected username:hash or username:hash:group,group' });
      continue;
    }
    const [username, password, groupList] = fields as [string, string, string | undefined];
    if (username === '') {
      problems.push({ line, message: 'empty user name' });
      continue;
    }
    if (seen.has(username)) {
      problems.push({ line, message: `user ${JSON.stringify(username)} appears twice` });
      continue;
    }
    const hashProblem = password === '' ? 'empty password hash' : passwordHashProblem(password);
    if (hashProblem !== undefined || !password.startsWith('$')) {
      // a users file holds hashes only: it exists to keep secrets out of the route file
      problems.push({ line, message: hashProblem ?? 'a plain-text password: users files hold hashes only (make one with "ferry passwd")' });
      continue;
    }
    seen.add(username);
    const groups = groupList === undefined ? undefined : groupList.split(',').map((g) => g.trim()).filter((g) => g !== '');
    users.push({ username, password, groups });
  }
  return { users, problems };
}
