import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { describeError, type Logger } from '@ferry/core';

/**
 * Calls `onChange` when the content of `file` changes. The file's directory is watched, not the
 * file: editors replace a file by renaming a new one over it, and a Kubernetes ConfigMap volume
 * swaps a `..data` symlink in the directory, neither of which a watch on the old file would see.
 * Events come in bursts, so they are gathered for `debounceMs`; then the content is read and
 * compared with what was last seen, so a touch or a swap to identical content is no change.
 */
export class FileWatch {
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #last: string | undefined;
  #checking: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly onChange: () => void,
    private readonly logger: Logger,
    private readonly debounceMs = 200,
  ) {}

  /** Start watching (idempotent); the content read now is the baseline. */
  async start(): Promise<void> {
    if (this.#watcher) return;
    this.#last = await this.#digest();
    const watcher = watch(path.dirname(path.resolve(this.file)), { persistent: false }, () => this.#schedule());
    watcher.on('error', (err) => this.logger.warn('watching the route file failed; SIGHUP still reloads', { file: this.file, error: describeError(err) }));
    this.#watcher = watcher;
  }

  stop(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#checking = this.#checking.then(() => this.#check());
    }, this.debounceMs);
  }

  async #check(): Promise<void> {
    if (!this.#watcher) return;
    const now = await this.#digest();
    // a file that is missing for a moment (between an unlink and a rename) is no change yet
    if (now === undefined || now === this.#last) return;
    this.#last = now;
    this.onChange();
  }

  async #digest(): Promise<string | undefined> {
    try {
      return createHash('sha256').update(await readFile(this.file)).digest('hex');
    } catch {
      return undefined;
    }
  }
}
