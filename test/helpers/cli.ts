// Run the compiled CLIs as a user would (requires `npm run build`).
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const REPO = join(import.meta.dirname, '..', '..');

/**
 * Run a CLI to completion. Asynchronous on purpose: a worker blocked in spawnSync for minutes misses
 * vitest's RPC heartbeats and the run reports "Timeout calling onTaskUpdate".
 */
export function runCli(
  command: string,
  args: string[],
  env: Record<string, string | undefined> = {},
  options: { cwd?: string; timeout?: number } = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(REPO, 'bin', command), args, {
      env: { ...process.env, NO_COLOR: '1', ...env },
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), options.timeout ?? 60_000);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Start a CLI in the background and resolve once its stderr shows `marker` (for signal tests). */
export async function spawnUntil(
  command: string,
  args: string[],
  env: Record<string, string | undefined>,
  marker: string,
  options: { detached?: boolean } = {},
) {
  const child = spawn(join(REPO, 'bin', command), args, {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: options.detached,
  });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes(marker)) resolve();
    });
    child.once('exit', () => reject(new Error(`${command} ended before printing ${marker}:\n${stderr.slice(-2000)}`)));
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, stderr: () => stderr };
}
