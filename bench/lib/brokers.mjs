/**
 * The bench's own brokers, one fresh process per run on a free port, beside Ferry's process:
 * aedes (bench/lib/aedes-broker.mjs) and Mosquitto (`/usr/sbin/mosquitto` with a generated
 * config). Their CPU and peak RSS are measured as Ferry's are.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { ServerChild } from './child.mjs';
import { ROOT } from './ferry.mjs';

const MOSQUITTO = process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto';

function accepts(port) {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** `command args` as the broker `what` of run `name`, ready when it accepts on `port`. */
async function startBroker(what, command, args, dir, name, port) {
  const b = new ServerChild({ what, log: join(dir, `${name}.${what}.log`), keepLines: 30 });
  await b.spawnUntil(command, args, ROOT, () => accepts(port), 30_000);
  return b;
}

/** aedes in its own Node process on `port`. */
async function startAedes(port, dir, name) {
  await mkdir(dir, { recursive: true });
  return startBroker('aedes', process.execPath, [join(ROOT, 'bench/lib/aedes-broker.mjs'), String(port)], dir, name, port);
}

/**
 * Mosquitto on `port` with a config of its own: loopback only, anonymous, no persistence, no
 * connection limit, TCP_NODELAY, and its queue limits raised so a fan-out run is limited by
 * the same things as Ferry's (Mosquitto's default max_queued_messages is 1000 per client).
 */
async function startMosquitto(port, dir, name) {
  if (!existsSync(MOSQUITTO)) {
    throw new Error(`${MOSQUITTO} is missing: apt-get install -y mosquitto (or MOSQUITTO_BIN=<path>)`);
  }
  await mkdir(dir, { recursive: true });
  const conf = join(dir, `${name}.mosquitto.conf`);
  await writeFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_connections -1',
      'set_tcp_nodelay true',
      'max_inflight_messages 1000',
      'max_queued_messages 10000',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'),
  );
  return startBroker('mosquitto', MOSQUITTO, ['-c', conf], dir, name, port);
}

export const ownBrokers = { aedes: startAedes, mosquitto: startMosquitto };
