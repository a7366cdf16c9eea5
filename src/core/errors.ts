// The error model: every failure a user can cause carries an exit code, a hint and details.

export const EXIT_USAGE = 2;
export const EXIT_BUILD = 1;
export const EXIT_INTERRUPTED = 130;

export interface DibErrorOptions {
  hint?: string;
  details?: string[];
  cause?: unknown;
}

/** Base of every error the tool reports to users. `exitCode` decides the process status. */
export class DibError extends Error {
  readonly exitCode: number;
  readonly hint?: string;
  readonly details: string[];
  /** Problems found while cleaning up after this error; never replace the error itself. */
  readonly cleanupFailures: string[] = [];

  constructor(message: string, exitCode: number, options: DibErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = exitCode;
    this.hint = options.hint;
    this.details = options.details ?? [];
  }
}

/** Bad input found before any side effect: exit 2. `kind` lets tests and callers classify it. */
export class UsageError extends DibError {
  readonly kind: string;
  constructor(kind: string, message: string, options: DibErrorOptions = {}) {
    super(message, EXIT_USAGE, options);
    this.kind = kind;
  }
}

/** Several validation problems reported at once (exit 2). */
export class ValidationErrors extends DibError {
  readonly problems: UsageError[];
  constructor(problems: UsageError[]) {
    const first = problems[0];
    super(
      problems.length === 1 ? first.message : `${problems.length} problems found:\n  - ${problems.map((p) => p.message).join('\n  - ')}`,
      EXIT_USAGE,
      { hint: problems.length === 1 ? first.hint : uniqueHints(problems), details: problems.flatMap((p) => p.details) },
    );
    this.problems = problems;
  }
  get kinds(): string[] {
    return [...new Set(this.problems.map((p) => p.kind))];
  }
}

/** A build step failed after side effects started: exit 1. */
export class BuildError extends DibError {
  constructor(message: string, options: DibErrorOptions = {}) {
    super(message, EXIT_BUILD, options);
  }
}

/** The build was interrupted by SIGINT/SIGTERM: exit 130. */
export class InterruptedError extends DibError {
  constructor(signal = 'SIGINT') {
    super(`interrupted by ${signal}`, EXIT_INTERRUPTED);
  }
}

/** Throw collected problems once, if there are any. */
export function throwIfProblems(problems: UsageError[]): void {
  if (problems.length === 1) throw problems[0];
  if (problems.length > 1) throw new ValidationErrors(problems);
}

function uniqueHints(problems: UsageError[]): string | undefined {
  const hints = [...new Set(problems.map((p) => p.hint).filter((h): h is string => !!h))];
  return hints.length ? hints.join('\n') : undefined;
}

const SYSTEM_HINTS: Record<string, string> = {
  ENOSPC: 'the disk is full: free space where TMP_DIR, the image cache and the output live',
  EDQUOT: 'a disk quota is exhausted: free space or raise the quota',
  EACCES: 'permission denied: check the owner and mode of the path (builds run as root)',
  EPERM: 'the operation is not permitted here (a read-only or restricted filesystem?)',
  EROFS: 'the filesystem is read-only: choose a writable TMP_DIR, image cache or output directory',
  ENOENT: 'a file or directory is missing: check the paths given on the command line and in the environment',
};

/**
 * A failed system call (ENOSPC, EACCES, ...) is the host's answer, not a bug in the tool: it becomes a
 * build error (exit 1) naming the call and path with a hint, so cleanup failures can attach to it too.
 */
export function asDibError(error: unknown): unknown {
  const e = error as NodeJS.ErrnoException;
  if (error instanceof DibError || !(error instanceof Error) || typeof e.code !== 'string' || typeof e.syscall !== 'string') return error;
  return new BuildError(`${e.syscall} failed: ${e.message}`, {
    hint: SYSTEM_HINTS[e.code] ?? `the system answered ${e.code}`,
    cause: error,
  });
}
