/**
 * stomp.py and Qpid Proton logins (clients.py): all of a test's attempts in one Python process.
 */
import { fileURLToPath } from 'node:url';
import { runPythonFile } from '../support/third-party.js';

const SCRIPT = fileURLToPath(new URL('./clients.py', import.meta.url));

/** TLS files of an attempt: TLS when `ca` is given, a client certificate when `cert`/`key` are */
interface TlsFiles {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

export interface StompAttempt extends TlsFiles {
  /** CONNECT with this login (and a passcode); none: CONNECT without */
  readonly login?: string;
  /** a SEND with a receipt to each, in order */
  readonly dests?: readonly string[];
}

export interface StompResult {
  readonly connected: boolean;
  readonly exception?: string;
  /** the ERROR frames' messages */
  readonly errors: string[];
  readonly receipts: string[];
}

export interface AmqpAttempt extends TlsFiles {
  /** SASL PLAIN as this user; none: EXTERNAL over TLS, ANONYMOUS without */
  readonly user?: string;
  /** a sender and one message to each, in order */
  readonly addresses?: readonly string[];
}

export interface AmqpResult {
  readonly connected: boolean;
  readonly error?: string;
  readonly sent: string[];
  /** `<address> <error>` for each sender refused */
  readonly refused: string[];
}

async function run<T>(mode: 'stomp' | 'amqp', port: number, attempts: readonly object[]): Promise<T[]> {
  const r = await runPythonFile(SCRIPT, [mode, String(port), JSON.stringify(attempts)], 60_000);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (!last.startsWith('[')) throw new Error(`clients.py ${mode} printed no result (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(last) as T[];
}

export const stompLogins = (port: number, ...attempts: StompAttempt[]): Promise<StompResult[]> => run('stomp', port, attempts);
export const amqpLogins = (port: number, ...attempts: AmqpAttempt[]): Promise<AmqpResult[]> => run('amqp', port, attempts);
