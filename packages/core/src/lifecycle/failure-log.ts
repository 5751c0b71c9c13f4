/**
 * "One log line per change of failure, not one per retry": a connector retrying a broker that
 * is down fails the same way on every attempt, and a line per attempt would bury the one that
 * says what changed. The caller logs at warn when {@link report} says the failure is new, and
 * at debug (or not at all) when it is the same again.
 */
export class FailureLog {
  #last: string | undefined;

  /** the failure reported since the last recovery, if any */
  get last(): string | undefined {
    return this.#last;
  }

  /** Record `what` as the current failure; true when it differs from the one reported last. */
  report(what: string): boolean {
    if (what === this.#last) return false;
    this.#last = what;
    return true;
  }

  /** The connection is up again: the next failure is new whatever it is. Returns the failure it ends. */
  recovered(): string | undefined {
    const last = this.#last;
    this.#last = undefined;
    return last;
  }
}
