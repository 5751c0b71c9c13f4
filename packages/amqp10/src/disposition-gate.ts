/**
 * Works around a rhea 3.0.5 bug that changes outcomes.
 *
 * rhea collects a session's settled incoming deliveries and writes them in one pass
 * (lib/session.js write_dispositions), merging deliveries with consecutive ids into one
 * disposition frame with the FIRST delivery's state. The check that two outcomes are the same
 * is skipped while the range holds one delivery (`first !== last && ...`), so the second
 * delivery of a pass is always merged into the first: accept #0 then reject #1 in the same
 * tick sends "accepted" for both; reject #0 then release #1 sends "rejected" for both (seen
 * against RabbitMQ: a released message was dead-lettered).
 *
 * The gate lets only one kind of outcome reach rhea per pass: outcomes of another kind wait
 * until rhea has written the pass (its write runs on process.nextTick, queued by the first
 * update; ours is queued after it). Merging outcomes of the same kind is harmless.
 */
export class DispositionGate {
  #kind: string | undefined;
  readonly #waiting: { readonly kind: string; readonly apply: () => void }[] = [];

  /** Apply `apply` (which updates one delivery with an outcome of `kind`) as soon as it is safe. */
  settle(kind: string, apply: () => void): void {
    if (this.#kind === undefined) {
      apply();
      this.#open(kind);
    } else if (this.#kind === kind && this.#waiting.length === 0) {
      apply();
    } else {
      this.#waiting.push({ kind, apply });
    }
  }

  /** Mark a pass of `kind` as open until rhea has written it. */
  #open(kind: string): void {
    this.#kind = kind;
    process.nextTick(() => this.#next());
  }

  #next(): void {
    this.#kind = undefined;
    const head = this.#waiting[0];
    if (head === undefined) return;
    const rest = this.#waiting.splice(0).filter((w) => {
      if (w.kind !== head.kind) return true;
      w.apply();
      return false;
    });
    this.#waiting.push(...rest);
    // queued after the updates above, so after the write rhea queued for them
    this.#open(head.kind);
  }
}
