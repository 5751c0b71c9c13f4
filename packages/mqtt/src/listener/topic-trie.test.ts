import fc from 'fast-check';
import { topicMatches } from '../topic.js';
import { FilterTrie, TopicTrie } from './topic-trie.js';

const level = fc.constantFrom('a', 'b', 'c', '', '$s', 'x1');
const topic = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
const filter = fc
  .array(fc.constantFrom('a', 'b', '', '$s', '+', '#'), { minLength: 1, maxLength: 4 })
  .filter((l) => l.every((x, i) => x !== '#' || i === l.length - 1))
  .map((l) => l.join('/'));

describe('topic tries agree with topicMatches (§4.7)', () => {
  it('FilterTrie: the filters matching a topic', () => {
    fc.assert(
      fc.property(fc.uniqueArray(filter, { maxLength: 30 }), fc.array(topic, { maxLength: 20 }), fc.uniqueArray(filter, { maxLength: 10 }), (filters, topics, removed) => {
        const trie = new FilterTrie<string>();
        for (const f of filters) trie.set(f, 'k', f);
        for (const f of removed) trie.delete(f, 'k');
        const kept = filters.filter((f) => !removed.includes(f));
        expect(trie.size).toBe(kept.length);
        for (const t of topics) {
          const got: string[] = [];
          trie.match(t, (_k, v) => got.push(v));
          expect(got.sort()).toEqual(kept.filter((f) => topicMatches(f, t)).sort());
        }
      }),
      { numRuns: 300 },
    );
  });

  it('FilterTrie.matches: what it remembers per topic follows every set and delete in between', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), filter, key: fc.constantFrom('k1', 'k2'), value: fc.nat(5) }),
      fc.record({ kind: fc.constant('delete' as const), filter, key: fc.constantFrom('k1', 'k2') }),
      fc.record({ kind: fc.constant('matches' as const), topic }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const trie = new FilterTrie<number>();
        for (const o of ops) {
          if (o.kind === 'set') trie.set(o.filter, o.key, o.value);
          else if (o.kind === 'delete') trie.delete(o.filter, o.key);
          else {
            const walked: [string, number][] = [];
            trie.match(o.topic, (k, v) => walked.push([k, v]));
            // asked twice: the second answer is the remembered one
            expect(trie.matches(o.topic)).toEqual(walked);
            expect(trie.matches(o.topic)).toEqual(walked);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('TopicTrie: the retained topics a filter matches', () => {
    fc.assert(
      fc.property(fc.uniqueArray(topic, { maxLength: 30 }), fc.array(filter, { maxLength: 20 }), fc.uniqueArray(topic, { maxLength: 10 }), (topics, filters, removed) => {
        const trie = new TopicTrie<string>();
        for (const t of topics) trie.set(t, t);
        for (const t of removed) trie.delete(t);
        const kept = topics.filter((t) => !removed.includes(t));
        expect(trie.size).toBe(kept.length);
        for (const f of filters) {
          const got: string[] = [];
          trie.match(f, (t, v) => {
            expect(t).toBe(v);
            got.push(t);
          });
          expect(got.sort()).toEqual(kept.filter((t) => topicMatches(f, t)).sort());
        }
      }),
      { numRuns: 300 },
    );
  });
});
