import { FerryError } from './errors.js';
import type { ConnectorContext } from './connector.js';

/** The import in progress, if any: see `importInTurn`. */
let importing: Promise<unknown> = Promise.resolve();

/**
 * Runs `importer` (a dynamic `import()`) once every import started through here before it has
 * settled. Every deferred import in Ferry goes through it: connector code, `ws`, LevelDB. Loading
 * them one after the other costs a start-up nothing measurable, and jest's VM-modules loader
 * (which runs the test suites) fails when two dynamic imports link a shared dependency at the same
 * time ("request for 'node:crypto' is not in cache"), so concurrent imports would make any test
 * that starts a gateway fail now and then.
 */
export function importInTurn<M>(importer: () => Promise<M>): Promise<M> {
  const next = importing.then(importer, importer);
  importing = next.catch(() => undefined);
  return next;
}

/**
 * A module loaded on first need, for a connector definition whose `create` is synchronous but
 * whose code (and protocol library) should not be loaded by a process that never creates one:
 * `load()` imports it once (a failed import is tried again on the next call), `get()` hands it
 * over, and throws if `load()` has not resolved yet. A package's main entry, which imports every
 * connector's code anyway, hands the module over with `provide()`, so whoever imports the whole
 * package creates connectors without awaiting `load()`.
 */
export class LazyModule<M> {
  readonly #what: string;
  readonly #importer: () => Promise<M>;
  #module: M | undefined;
  #loading: Promise<void> | undefined;

  constructor(what: string, importer: () => Promise<M>) {
    this.#what = what;
    this.#importer = importer;
  }

  get loaded(): boolean {
    return this.#module !== undefined;
  }

  /** the module, already imported by the caller */
  provide(m: M): void {
    this.#module = m;
    this.#loading ??= Promise.resolve();
  }

  load(): Promise<void> {
    this.#loading ??= importInTurn(this.#importer).then(
      (m) => {
        this.#module = m;
      },
      (err: unknown) => {
        this.#loading = undefined;
        throw new FerryError('INTERNAL', `cannot load the code of ${this.#what}`, { cause: err });
      },
    );
    return this.#loading;
  }

  /**
   * A definition's `load` and `create` for a connector class this module holds:
   * `defineConnector({ ...code.connector((m) => m.MyConnector), type, options, ... })`.
   */
  connector<O, C>(pick: (m: M) => new (ctx: ConnectorContext, name: string, options: O) => C): { load: () => Promise<void>; create: (ctx: ConnectorContext, name: string, options: O) => C } {
    return { load: () => this.load(), create: (ctx, name, options) => new (pick(this.get()))(ctx, name, options) };
  }

  get(): M {
    if (this.#module === undefined) throw new FerryError('INTERNAL', `${this.#what} is not loaded: await its definition's load() (loadConnectorTypes) before create`);
    return this.#module;
  }
}
