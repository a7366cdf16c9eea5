// Resources owned by a build (or a verify): one call records the resource in the ledger, acquires it,
// and registers its undo on the next line, so a failure, a signal or a kill never leaves it unowned.
import { CleanupStack, type CleanupFailure, settleCleanup } from './cleanup-stack.js';
import type { Ledger, LedgerEntry } from './ledger.js';

export interface Release<T> {
  /** Shown while unwinding and in cleanup failures. */
  label: string | ((value: T) => string);
  undo: (value: T) => Promise<void> | void;
  /** The command a user can run to release it by hand, printed when the undo fails. */
  manual?: string | ((value: T) => string);
}

export class Resources {
  constructor(
    readonly ledger: Ledger,
    readonly stack: CleanupStack = new CleanupStack(),
  ) {}

  /** A nested scope (its own undo stack, the same ledger), e.g. for one phase's mounts. */
  nested(): Resources {
    return new Resources(this.ledger);
  }

  /**
   * Record `entry` in the ledger, run `acquire`, then register the undo at once; the ledger entry is
   * marked released when the undo succeeds. Checks on the acquired value belong after this call.
   */
  async acquire<T>(entry: LedgerEntry, acquire: () => Promise<T>, release: Release<T>): Promise<T> {
    const id = this.ledger.record(entry);
    const value = await acquire();
    const text = (v: string | ((value: T) => string) | undefined) => (typeof v === 'function' ? v(value) : v);
    this.stack.push(
      text(release.label)!,
      async () => {
        await release.undo(value);
        this.ledger.released(id);
      },
      text(release.manual),
    );
    return value;
  }

  /** An undo for something that needs no ledger entry (it lives inside a recorded directory). */
  defer(label: string, undo: () => Promise<void> | void, manual?: string): void {
    this.stack.push(label, undo, manual);
  }

  unwind(onStep?: (label: string) => void): Promise<CleanupFailure[]> {
    return this.stack.unwind(onStep);
  }

  /**
   * Run `body` with a nested scope that is always unwound afterwards. Undo failures are attached to the
   * body's error, or thrown when the body succeeded (see settleCleanup).
   */
  async using<T>(body: (scope: Resources) => Promise<T>): Promise<T> {
    const scope = this.nested();
    let result: T;
    try {
      result = await body(scope);
    } catch (error) {
      settleCleanup(await scope.unwind(), error);
      throw error;
    }
    settleCleanup(await scope.unwind());
    return result;
  }

  /** Unwind now (the success path of a nested scope); failures are thrown. */
  async release(): Promise<void> {
    settleCleanup(await this.unwind());
  }
}
