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

/** Start a CLI in the background and resolve once its stderr shows `marker` (for signal tests). */
export async function spawnUntil(command: string, args: string[], env: Record<string, string | undefined>, marker: string, options: { detached?: boolean } = {}) {
  const { spawn } = await import('node:child_process');
  const child = spawn(join(REPO, 'bin', command), args, { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: options.detached });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes(marker)) resolve();
    });
    child.once('exit', () => reject(new Error(`${command} ended before printing ${marker}:\n${stderr.slice(-2000)}`)));
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, stderr: () => stderr };
}
