import { isSecretName, redactText, redactValue } from './redact.js';

describe('redact', () => {
  it('takes the password out of URLs and secret query parameters, keeping the rest readable', () => {
    expect(redactText('connect to mqtt://ferry:hunter2@broker:1883 failed')).toBe('connect to mqtt://ferry:***@broker:1883 failed');
    expect(redactText('amqps://guest:p%40ss@rabbit/vhost and stomp+ssl://u:x@h:61614')).toBe('amqps://guest:***@rabbit/vhost and stomp+ssl://u:***@h:61614');
    expect(redactText('wss://h/mqtt?token=abc&x=1')).toBe('wss://h/mqtt?token=***&x=1');
    expect(redactText('mqtt://broker:1883 and a=b')).toBe('mqtt://broker:1883 and a=b');
    expect(redactText('amqp://user@host')).toBe('amqp://user@host');
  });

  it('replaces fields with secret names at any depth, and URL passwords in any string', () => {
    const v = redactValue({
      url: 'amqp://guest:guest@127.0.0.1:5672',
      password: 'p1',
      options: { passcode: 'p2', tls: { key: 'client.key', passphrase: 'p3' }, users: [{ username: 'u', password: 'p4' }] },
      plantPassword: 'p5',
      token: 'p6',
      count: 3,
      empty: '',
    });
    expect(v).toEqual({
      url: 'amqp://guest:***@127.0.0.1:5672',
      password: '***',
      options: { passcode: '***', tls: { key: 'client.key', passphrase: '***' }, users: [{ username: 'u', password: '***' }] },
      plantPassword: '***',
      token: '***',
      count: 3,
      empty: '',
    });
    expect(JSON.stringify(redactValue(new Error('dial amqp://a:b@c failed')))).toBe('"dial amqp://a:***@c failed"');
  });

  it('knows secret names in the spellings route files and env vars use', () => {
    for (const n of ['password', 'PASSWORD', 'passcode', 'PLANT_PASSWORD', 'api_key', 'token', 'http.token', 'clientSecret', 'passphrase']) expect(isSecretName(n)).toBe(true);
    for (const n of ['username', 'login', 'key', 'cert', 'url', 'topic', 'tokens_total']) expect(isSecretName(n)).toBe(false);
  });

  it('a cyclic structure is cut, not followed forever', () => {
    const a: Record<string, unknown> = { password: 'x' };
    a['self'] = a;
    expect(() => JSON.stringify(redactValue(a))).not.toThrow();
  });
});
