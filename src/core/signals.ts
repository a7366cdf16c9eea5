// SIGINT/SIGTERM: the first aborts the build (which unwinds its cleanup stack); later ones are ignored.
import type { Logger } from './log.js';

export interface SignalGuard {
  signal: AbortSignal;
  /** The signal that interrupted the build, if any. */
  readonly received: NodeJS.Signals | undefined;
  dispose(): void;
}

export function installSignalHandlers(log: Logger): SignalGuard {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const handler = (sig: NodeJS.Signals) => {
    if (received) {
      log.warn(`${sig} received again; still cleaning up (cleanup is not cut short)`);
      return;
    }
    received = sig;
    log.warn(`interrupted by ${sig}, cleaning up`);
    controller.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  process.on('SIGHUP', handler);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      process.off('SIGHUP', handler);
    },
  };
}
