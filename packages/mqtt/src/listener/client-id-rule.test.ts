import { ClientIdRule } from './client-id-rule.js';
import { mqttListenerOptions } from '../options.js';

describe('ClientIdRule (clientIdPattern)', () => {
  it('"{username}": the id is the user name, nothing else; never for anonymous clients', () => {
    const r = ClientIdRule.parse('{username}');
    expect(r.allows('dev1', 'dev1')).toBe(true);
    expect(r.allows('dev1', 'dev2')).toBe(false);
    expect(r.allows('dev1', 'dev1x')).toBe(false);
    expect(r.allows(undefined, 'dev1')).toBe(false);
    expect(r.allows('', '')).toBe(false);
    expect(r.assign('dev1', 'ferry-abc')).toBe('dev1');
  });

  it('"site/{username}-*": a fixed start, then any suffix; the assigned id fits', () => {
    const r = ClientIdRule.parse('site/{username}-*');
    expect(r.allows('dev1', 'site/dev1-')).toBe(true);
    expect(r.allows('dev1', 'site/dev1-kitchen')).toBe(true);
    expect(r.allows('dev1', 'site/dev10-kitchen')).toBe(false);
    expect(r.allows('dev1', 'dev1-kitchen')).toBe(false);
    // a user name that is a prefix of another cannot borrow its ids
    expect(r.allows('dev', 'site/dev1-x')).toBe(false);
    const id = r.assign('dev1', 'r4nd');
    expect(id).toBe('site/dev1-r4nd');
    expect(r.allows('dev1', id)).toBe(true);
  });

  it('the schema refuses patterns without {username}, with it twice, or with "*" before the end', () => {
    expect(mqttListenerOptions.safeParse({ port: 1, clientIdPattern: '{username}-*' }).success).toBe(true);
    for (const bad of ['dev-*', '{username}{username}', '*-{username}', '{username}*x']) {
      expect(mqttListenerOptions.safeParse({ port: 1, clientIdPattern: bad }).success).toBe(false);
    }
  });
});
