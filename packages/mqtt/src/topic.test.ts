import { isValidTopicFilter, isValidTopicName, topicMatches } from './topic.js';

describe('topics (MQTT 5 §4.7)', () => {
  // a filter, the topic names it matches, and those it does not
  it.each<[string, string[], string[]]>([
    ['a/b/c', ['a/b/c'], []],
    ['a/+/c', ['a/b/c'], ['a/b/d']],
    ['a/#', ['a', 'a/b/c'], []],
    ['#', ['a/b'], ['$SYS/x']],
    ['+', [], ['a/b']],
    ['+/+', ['/a'], []],
    ['+/x', [], ['$SYS/x']],
    ['$SYS/#', ['$SYS/x'], []],
    ['a/b', [], ['a/b/c']],
  ])('%s matches %j and not %j', (filter, matching, other) => {
    for (const t of matching) expect({ t, matches: topicMatches(filter, t) }).toEqual({ t, matches: true });
    for (const t of other) expect({ t, matches: topicMatches(filter, t) }).toEqual({ t, matches: false });
  });

  it('validates filters and names', () => {
    for (const ok of ['a', '#', '+', 'a/+/b', 'a/#', '/', '+/+/#']) expect(isValidTopicFilter(ok)).toBe(true);
    for (const bad of ['', 'a#', 'a/#/b', 'a+/b', 'a/b+', '#/a']) expect(isValidTopicFilter(bad)).toBe(false);
    expect(isValidTopicName('a/b')).toBe(true);
    for (const bad of ['', 'a/+', 'a/#', 'x\u0000']) expect(isValidTopicName(bad)).toBe(false);
  });
});
