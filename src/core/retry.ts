// The one sleep, retry and poll helper: every wait in the tool goes through here, with one policy shape.

/** Sleep `ms`; resolves early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface RetryPolicy {
  /** Attempts in all (the first one included). */
  attempts: number;
  /** Delay before the second attempt, in ms. */
  delayMs: number;
  /** Added to the delay after each failed attempt (linear backoff), in ms. */
  backoffMs?: number;
  signal?: AbortSignal;
}

/** Run `fn` until it succeeds or the attempts are used up; the last error is thrown. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt + 1 >= policy.attempts || policy.signal?.aborted) throw error;
      await sleep(policy.delayMs + (policy.backoffMs ?? 0) * attempt, policy.signal);
    }
  }
}

export interface PollOptions {
  /** Give up after this many ms (the predicate is tried at least once). */
  timeoutMs: number;
  intervalMs: number;
  signal?: AbortSignal;
  /** Stop early (without success) when this returns true, e.g. the process being waited on died. */
  giveUp?: () => boolean;
}

/** Call `check` until it returns a value other than undefined/false, or time runs out (then undefined). */
export async function poll<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  options: PollOptions,
): Promise<T | undefined> {
  const start = Date.now();
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() - start >= options.timeoutMs || options.signal?.aborted || options.giveUp?.()) return undefined;
    await sleep(options.intervalMs, options.signal);
  }
}
