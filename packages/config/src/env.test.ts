import { interpolate } from './env.js';
import { closest } from './words.js';

describe('interpolate', () => {
  const env = { HOST: 'rabbit.local', EMPTY: '', PORT: '5672' };
  it.each([
    ['amqp://${HOST}:${PORT}', 'amqp://rabbit.local:5672'],
    ['${MISSING:-fallback}', 'fallback'],
    ['${EMPTY:-fallback}', 'fallback'],
    ['${EMPTY}', ''],
    ['${MISSING:-}', ''],
    ['${HOST:-x}', 'rabbit.local'],
    ['${MISSING:-a:-b}', 'a:-b'],
    ['cost $$5 and $${HOST}', 'cost $$5 and ${HOST}'],
    ['$HOST {1} $', '$HOST {1} $'],
  ])('%s → %s', (text, out) => {
    expect(interpolate(text, env)).toEqual({ ok: true, value: out });
  });

  it.each([
    ['${MISSING}', 'environment variable MISSING is not set (write ${MISSING:-default} to give a default)'],
    ['a ${HOST', 'unclosed "${" (write "$${" for a literal "${")'],
    ['${1X}', '"${1X}" is not a variable: expected ${NAME} or ${NAME:-default}, NAME of letters, digits and _'],
    ['${A} ${B}', 'environment variable A is not set (write ${A:-default} to give a default); environment variable B is not set (write ${B:-default} to give a default)'],
  ])('%s is an error', (text, message) => {
    expect(interpolate(text, env)).toEqual({ ok: false, message });
  });
});

describe('closest (did you mean)', () => {
  it('finds case slips and small typos, not far-off words', () => {
    expect(closest('routingkey', ['routingKey', 'exchange'])).toBe('routingKey');
    expect(closest('rabit', ['rabbit', 'devices'])).toBe('rabbit');
    expect(closest('stomp-listner', ['stomp', 'stomp-listener'])).toBe('stomp-listener');
    expect(closest('warehouse', ['rabbit', 'devices'])).toBeUndefined();
    expect(closest('x', ['y'])).toBe('y');
    expect(closest('ab', ['xyz'])).toBeUndefined();
  });
});
