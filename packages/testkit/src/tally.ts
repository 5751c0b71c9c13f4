/**
 * Counts a message stream by id: sent, received, duplicated, lost. Tests print the summary
 * and assert on it, so "nothing lost" is a number, not a hope.
 */
export class Tally {
  readonly #sent = new Set<string>();
  readonly #received = new Map<string, number>();
  #unexpected = 0;

  sent(id: string): void {
    this.#sent.add(id);
  }

  received(id: string): void {
    if (!this.#sent.has(id)) this.#unexpected++;
    this.#received.set(id, (this.#received.get(id) ?? 0) + 1);
  }

  get counts(): { sent: number; received: number; unique: number; duplicated: number; lost: number; unexpected: number } {
    let received = 0;
    let duplicated = 0;
    for (const n of this.#received.values()) {
      received += n;
      duplicated += n - 1;
    }
    let lost = 0;
    for (const id of this.#sent) if (!this.#received.has(id)) lost++;
    return { sent: this.#sent.size, received, unique: this.#received.size, duplicated, lost, unexpected: this.#unexpected };
  }

  /** Received more than once, per group (`groupOf` an id, e.g. its prefix): where duplicates came from. */
  duplicatesBy(groupOf: (id: string) => string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, n] of this.#received) if (n > 1) out[groupOf(id)] = (out[groupOf(id)] ?? 0) + n - 1;
    return out;
  }

  /** true once every sent id was received at least once */
  get complete(): boolean {
    return this.counts.lost === 0;
  }

  summary(label: string): string {
    const c = this.counts;
    return `${label}: sent=${c.sent} received=${c.received} unique=${c.unique} duplicated=${c.duplicated} lost=${c.lost} unexpected=${c.unexpected}`;
  }
}
