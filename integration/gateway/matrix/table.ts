/**
 * The observed table of the mapping matrix, and the section of docs/mapping.md that holds it
 * ("Every pair, observed"). Cells are rendered from what the clients saw; values that change
 * from run to run (times) are shown by what they mean, within the bounds the test checked.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Pair } from './ends.js';
import { BODY, CONTENT_TYPE, EXPIRY_MS, XN_AS_SENT } from './sent.js';
import type { Observed } from './observed.js';

const DOC = fileURLToPath(new URL('../../../docs/mapping.md', import.meta.url));
const SECTION = '## Every pair, observed';
/** the section goes before this one when it is written the first time */
const NEXT_SECTION = "## MQTT → AMQP 0-9-1: RabbitMQ's MQTT plugin vs Ferry";

/** tolerance for "1 h" in the table: the test itself checks the exact bounds */
const SLACK_MS = 60_000;

function expiryCell(o: Observed): string {
  if (o.expiry.length === 0) return '—';
  return o.expiry
    .map((e) => {
      const near = (x: number): boolean => x <= EXPIRY_MS && x >= EXPIRY_MS - SLACK_MS;
      if (e.kind === 'left') return near(e.ms) ? `${e.field} 1 h left` : `${e.field} ${e.ms} ms left`;
      return near(e.ms - o.at) ? `${e.field} 1 h ahead` : `${e.field} ${e.ms - o.at} ms ahead`;
    })
    .join('; ');
}

const cell = (v: string | undefined): string => (v === undefined ? '—' : v.replace(/\|/g, '\\|'));

function row(p: Pair, o: Observed): string {
  const body = o.body.equals(BODY) ? `same ${o.body.length} B` : `DIFFERENT ${o.body.toString('hex')}`;
  const other = o.other.length === 0 ? '—' : o.other.join(', ');
  // the content type is one long text, the same in every row: "as sent" when it arrived so
  const contentType = o.contentType === JSON.stringify(CONTENT_TYPE) ? 'as sent' : o.contentType;
  const cells = [o.xk, o.xn, contentType, o.correlationId, o.replyTo, o.messageId, o.priority].map(cell);
  return `| ${p.source} → ${p.sink} | ${body} | ${cells.join(' | ')} | ${expiryCell(o)} | ${cell(other)} |`;
}

export function renderSection(pairs: readonly Pair[], observed: readonly Observed[]): string {
  return [
    SECTION,
    '',
    'One message from each of the four ends to each of the four ends (16 routes through one Gateway:',
    "MQTT 5 through `mqtt-listener`, STOMP 1.2 through `stomp-listener`, AMQP 1.0 through `amqp10-listener`,",
    'AMQP 0-9-1 through the `amqp091` connector and RabbitMQ 3.10), read by mqtt.js, @stomp/stompjs, rhea and',
    'amqplib. Every cell is what integration/gateway/mapping-matrix.test.ts observed; the test also checks',
    'each field against the rules above and the per-protocol pages, and fails when this table and what it',
    'sees differ (`FERRY_WRITE_DOCS=1` rewrites it).',
    '',
    `Sent: a ${BODY.length}-byte body with NUL, 0xff and CR LF; headers \`x-k: "v:1"\` and \`x-n\` (MQTT: ${XN_AS_SENT.mqtt};`,
    `STOMP: ${XN_AS_SENT.stomp}; AMQP 1.0: ${XN_AS_SENT.amqp10}; AMQP 0-9-1: ${XN_AS_SENT.amqp091});`,
    `content type \`${CONTENT_TYPE}\`; correlation id \`corr-<source>\` (MQTT: Correlation Data, binary); reply-to \`reply-<source>\`;`,
    'message id `mid-<source>` (not MQTT: it has none); an expiry of 1 h (MQTT Message Expiry Interval 3600,',
    'STOMP `expires` now + 1 h, AMQP 1.0 `ttl`, AMQP 0-9-1 `expiration`); priority 7 (not MQTT: it has none).',
    '',
    'How to read a cell: `"v:1"` is a string, `int 42` / `byte 42` an AMQP 1.0 typed value, `42` a number as',
    'amqplib decodes any field-table integer, `bytes "…"` binary; `—` the field did not arrive.',
    '"1 h left" is a time to live of at most 1 h and at least 1 h minus the time the message took (the',
    'test checks those bounds); "1 h ahead" is an absolute time about 1 h after arrival. The STOMP',
    'listener writes the message id as `ferry-message-id` (its `message-id` is the delivery id).',
    '',
    '| source → sink | body | x-k | x-n | content type | correlation id | reply-to | message id | priority | expiry | other fields |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...pairs.map((p, i) => row(p, observed[i]!)),
    '',
    'What cannot cross, and why:',
    '- **MQTT sinks get no message id and no priority**: MQTT 5 has no such properties, and Ferry does not',
    '  invent user properties for them (docs/mapping/mqtt.md). An MQTT source has none to give.',
    '- **Typed numbers become text** towards MQTT and STOMP (`headerToString`); towards AMQP they stay',
    '  numbers, but a 0-9-1 source cannot tell Ferry the integer\'s width (amqplib), so AMQP 1.0 gets the',
    '  smallest type that holds it (`byte 42`), and only AMQP 1.0 → AMQP 1.0 keeps `int 42` end to end.',
    '- **Correlation data** (MQTT) that is valid UTF-8 (`corr-mqtt`) is a text id and arrives everywhere as',
    '  text; binary correlation data reaches AMQP 1.0 as binary, AMQP 0-9-1 in the header `x-correlation-id`',
    '  and STOMP as base64 (see Request/reply above).',
    '- **Every message Ferry writes carries `x-ferry-hops`** (Loop protection above), in each protocol\'s',
    '  header form.',
    '- **AMQP 1.0 → AMQP 1.0** forwards the encoded message untouched but for the header\'s `ttl`, which',
    '  is the time left (AMQP 1.0 §3.2.1: an intermediary sends the reduced ttl), and the',
    '  application-properties section, written again with the hop count; so there is no `to` or',
    '  `absolute-expiry-time` unless the sender set them; every other pair into AMQP 1.0 is encoded again,',
    '  with both.',
    '- `x-ferry-publish-id` is the amqp091 sink\'s own header (an amqp091 source drops it again);',
    '  `durable`, `delivery-mode` and `qos` come from the message\'s guarantee (all 16 are at-least-once).',
    '',
  ].join('\n');
}

/** the section as docs/mapping.md has it now ('' when missing) */
export async function documentedSection(): Promise<string> {
  const doc = await readFile(DOC, 'utf8');
  const start = doc.indexOf(SECTION);
  if (start < 0) return '';
  const next = doc.indexOf('\n## ', start + SECTION.length);
  return doc.slice(start, next < 0 ? undefined : next + 1);
}

/** FERRY_WRITE_DOCS=1: put `section` into docs/mapping.md (replacing the old one, or before NEXT_SECTION) */
export async function writeSection(section: string): Promise<void> {
  let doc = await readFile(DOC, 'utf8');
  const start = doc.indexOf(SECTION);
  if (start >= 0) {
    const next = doc.indexOf('\n## ', start + SECTION.length);
    doc = doc.slice(0, start) + section + (next < 0 ? '' : doc.slice(next + 1));
  } else {
    const before = doc.indexOf(NEXT_SECTION);
    doc = before < 0 ? `${doc.trimEnd()}\n\n${section}` : `${doc.slice(0, before)}${section}\n${doc.slice(before)}`;
  }
  await writeFile(DOC, doc);
}
