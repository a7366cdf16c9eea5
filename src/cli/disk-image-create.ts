// `disk-image-create`: placeholder until the build pipeline lands.
import type { Logger } from '../core/log.js';
export async function runDiskImageCreate(_argv: string[], _log: Logger): Promise<number> {
  return 1;
}
