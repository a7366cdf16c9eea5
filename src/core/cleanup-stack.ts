// A last-in-first-out stack of undo actions that owns every resource a build acquires.
import { BuildError } from './errors.js';

export interface CleanupFailure {
  label: string;
  error: unknown;
  /** The command a user can run by hand to release what was left behind. */
  manual?: string;
}

interface Entry {
  label: string;
  undo: () => Promise<void> | void;
  manual?: string;
}

/**
 * Register the undo on the line after the acquire succeeds. `unwind()` runs every undo,
 * last in first out, even when some fail; failures are returned, never thrown.
 */
export class CleanupStack {
  private entries: Entry[] = [];
  private unwinding = false;

  push(label: string, undo: () => Promise<void> | void, manual?: string): void {
    if (this.unwinding) throw new Error(`cleanup stack is unwinding; cannot register "${label}"`);
    this.entries.push({ label, undo, manual });
  }

  get size(): number {
    return this.entries.length;
  }

  get labels(): string[] {
    return this.entries.map((e) => e.label);
  }

  async unwind(onStep?: (label: string) => void): Promise<CleanupFailure[]> {
    this.unwinding = true;
    const failures: CleanupFailure[] = [];
    try {
      while (this.entries.length) {
        const entry = this.entries.pop()!;
        onStep?.(entry.label);
        try {
          await entry.undo();
        } catch (error) {
          failures.push({ label: entry.label, error, manual: entry.manual });
        }
      }
    } finally {
      this.unwinding = false;
    }
    return failures;
  }
}

/**
 * After a scope unwound: with a primary error, attach the failures to it (never replace it); without
 * one, a failed undo is itself the error (it is never dropped).
 */
export function settleCleanup(failures: CleanupFailure[], primary?: unknown): void {
  if (!failures.length) return;
  if (primary !== undefined) {
    attachCleanupFailures(primary, failures);
    return;
  }
  throw new BuildError(`cleanup failed: ${failures.map((f) => `${f.label}: ${errorMessage(f.error)}`).join('; ')}`, {
    hint:
      failures
        .map((f) => (f.manual ? `release by hand: ${f.manual}` : ''))
        .filter(Boolean)
        .join('\n') || undefined,
  });
}

/** Attach cleanup failures to the primary error without replacing it. */
export function attachCleanupFailures(error: unknown, failures: CleanupFailure[]): void {
  if (!failures.length) return;
  const list = (error as { cleanupFailures?: string[] })?.cleanupFailures;
  const lines = failures.map((f) => `${f.label}: ${errorMessage(f.error)}${f.manual ? ` (release by hand: ${f.manual})` : ''}`);
  if (Array.isArray(list)) list.push(...lines);
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
