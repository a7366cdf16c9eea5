// Run the compiled CLIs as a user would (requires `npm run build`).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const REPO = join(import.meta.dirname, '..', '..');

export function runCli(command: string, args: string[], env: Record<string, string | undefined> = {}, options: { cwd?: string; timeout?: number } = {}) {
  const r = spawnSync(join(REPO, 'bin', command), args, {
    env: { ...process.env, NO_COLOR: '1', ...env },
    cwd: options.cwd,
    encoding: 'utf8',
    timeout: options.timeout ?? 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
