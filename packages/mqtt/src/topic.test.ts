import { isValidTopicFilter, isValidTopicName, topicMatches } from './topic.js';

describe('topics (MQTT 5 §4.7)', () => {
  it.each([
    ['a/b/c', 'a/b/c', true],
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a/b/d', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['#', 'a/b', true],
    ['+', 'a/b', false],
    ['+/+', '/a', true],
    ['#', '$SYS/x', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['a/b', 'a/b/c', false],
  ])('%s matches %s: %s', (f, t, want) => expect(topicMatches(f, t)).toBe(want));

  it('validates filters and names', () => {
    for (const ok of ['a', '#', '+', 'a/+/b', 'a/#', '/', '+/+/#']) expect(isValidTopicFilter(ok)).toBe(true);
    for (const bad of ['', 'a#', 'a/#/b', 'a+/b', 'a/b+', '#/a']) expect(isValidTopicFilter(bad)).toBe(false);
    expect(isValidTopicName('a/b')).toBe(true);
    for (const bad of ['', 'a/+', 'a/#', 'x\u0000']) expect(isValidTopicName(bad)).toBe(false);
  });
});
