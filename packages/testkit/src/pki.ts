import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One certificate and its key, as file paths and as PEM text. */
export interface TestCert {
  readonly cert: string;
  readonly key: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/**
 * A throw-away PKI for TLS tests, made with the `openssl` CLI in a temp folder: a CA, a server
 * certificate for 127.0.0.1 and localhost, a client certificate, expired server and client
 * certificates (valid in 2020 only), and a second CA with a client certificate of its own (a
 * "wrong CA" from either side).
 */
export interface TestPki {
  readonly dir: string;
  /** the CA's certificate file (PEM) */
  readonly ca: string;
  readonly caPem: string;
  readonly server: TestCert;
  /** CN=device-1 */
  readonly client: TestCert;
  readonly expiredServer: TestCert;
  /** CN=device-expired */
  readonly expiredClient: TestCert;
  /** a CA that signed none of the above */
  readonly otherCa: string;
  /** CN=intruder, signed by otherCa */
  readonly otherClient: TestCert;
  /** remove the folder */
  remove(): Promise<void>;
}

async function openssl(args: readonly string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const e = err as { code?: unknown; stderr?: unknown };
    if (e.code === 'ENOENT') throw new Error('the openssl CLI is missing: apt-get install -y openssl (integration/brokers/install.sh installs it)', { cause: err });
    throw new Error(`openssl ${args.slice(0, 2).join(' ')} failed: ${String(e.stderr ?? err)}`, { cause: err });
  }
}

async function makeCa(dir: string, name: string, cn: string): Promise<void> {
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.pem`), '-days', '30', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await writeFile(join(dir, `${name}.index`), '');
  await writeFile(
    join(dir, `${name}.cnf`),
    [
      '[ca]',
      'default_ca = ca_default',
      '[ca_default]',
      `database = ${join(dir, `${name}.index`)}`,
      `new_certs_dir = ${dir}`,
      `certificate = ${join(dir, `${name}.pem`)}`,
      `private_key = ${join(dir, `${name}.key`)}`,
      'rand_serial = yes',
      'default_md = sha256',
      'policy = policy_any',
      'unique_subject = no',
      'email_in_dn = no',
      '[policy_any]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
}

async function makeLeaf(dir: string, ca: string, name: string, cn: string, kind: 'server' | 'client', validity: { days: number } | { start: string; end: string }): Promise<TestCert> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`]);
  await writeFile(
    ext,
    kind === 'server'
      ? 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n'
      : 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
  );
  const dates = 'days' in validity ? ['-days', String(validity.days)] : ['-startdate', validity.start, '-enddate', validity.end];
  await openssl(['ca', '-batch', '-notext', '-config', join(dir, `${ca}.cnf`), '-extfile', ext, ...dates, '-in', csr, '-out', cert]);
  return { cert, key, certPem: await readFile(cert, 'utf8'), keyPem: await readFile(key, 'utf8') };
}

/** Make a fresh PKI (well under a second). Call `remove()` when done. */
export async function makeTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-pki-'));
  await Promise.all([makeCa(dir, 'ca', 'Ferry Test CA'), makeCa(dir, 'other-ca', 'Some Other CA')]);
  const past = { start: '20200101000000Z', end: '20200201000000Z' };
  // one at a time: `openssl ca` rewrites its CA's index file on every certificate
  const server = await makeLeaf(dir, 'ca', 'server', 'localhost', 'server', { days: 30 });
  const client = await makeLeaf(dir, 'ca', 'client', 'device-1', 'client', { days: 30 });
  const expiredServer = await makeLeaf(dir, 'ca', 'server-expired', 'localhost', 'server', past);
  const expiredClient = await makeLeaf(dir, 'ca', 'client-expired', 'device-expired', 'client', past);
  const otherClient = await makeLeaf(dir, 'other-ca', 'other-client', 'intruder', 'client', { days: 30 });
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    caPem: await readFile(join(dir, 'ca.pem'), 'utf8'),
    server,
    client,
    expiredServer,
    expiredClient,
    otherCa: join(dir, 'other-ca.pem'),
    otherClient,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
