import { isScalar, type Node } from 'yaml';
import type { FieldPath } from '@ferry/core';
import { ConfigError } from './errors.js';
import type { SourceMap } from './source-map.js';

export interface Details {
  readonly expected?: string | undefined;
  readonly found?: string | undefined;
}

/**
 * Collects errors with their positions. Where an error points depends on its kind: a bad value
 * at the value, an unknown key at the key, a missing field at the map that should hold it.
 * Errors at a node whose `${...}` could not be filled are dropped: that node has its own error,
 * and a second one ("expected a number, found "${PORT}"") would only be noise.
 */
export class Reporter {
  readonly errors: ConfigError[] = [];

  constructor(
    readonly file: string,
    readonly map: SourceMap,
    private readonly silenced: ReadonlySet<Node>,
  ) {}

  private push(node: Node | undefined, path: FieldPath, message: string, details: Details): void {
    if (node !== undefined && this.silenced.has(node)) return;
    const { line, column } = this.map.positionOf(node);
    this.errors.push(new ConfigError({ file: this.file, line, column, path, message, expected: details.expected, found: details.found }));
  }

  /** a bad value: at the value (at its key when the value is empty, `port:` with nothing after it) */
  value(path: FieldPath, message: string, details: Details = {}): void {
    const at = this.map.locate(path);
    const empty = isScalar(at.node) && at.node.value === null && at.node.source === '';
    this.push(empty ? (at.key ?? at.node) : (at.node ?? at.deepest), path, message, details);
  }

  /** an unknown or misplaced key: at the key */
  key(path: FieldPath, message: string, details: Details = {}): void {
    const at = this.map.locate(path);
    this.push(at.key ?? at.node ?? at.deepest, path, message, details);
  }

  /** a missing field: at the map that should hold it */
  missing(path: FieldPath, message: string, details: Details = {}): void {
    const at = this.map.locate(path.slice(0, -1));
    this.push(at.node ?? at.deepest, path, message, details);
  }

  /** a problem at a known node */
  node(node: Node | undefined, path: FieldPath, message: string, details: Details = {}): void {
    this.push(node, path, message, details);
  }
}
