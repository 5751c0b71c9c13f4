import { resolve } from 'node:path';

/**
 * The builds a listener-path experiment compares: this checkout (`this`), and the built checkout
 * FERRY_BEFORE names (`before`), first; ONLY=this or ONLY=before keeps one (one build per process
 * under callgrind).
 */
export function comparedBuilds() {
  let builds = [{ name: 'this', dir: resolve(import.meta.dirname, '../..') }];
  if (process.env.FERRY_BEFORE) builds.unshift({ name: 'before', dir: resolve(process.env.FERRY_BEFORE) });
  if (process.env.ONLY) builds = builds.filter((b) => b.name === process.env.ONLY);
  return builds;
}

/** the median of a list of figures */
export const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
