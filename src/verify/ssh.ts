// Run commands in the guest over ssh on the loopback port forward.
import type { Runner } from '../core/exec.js';
import { retry } from '../core/retry.js';

export interface SshTarget {
  port: number;
  user: string;
  key: string;
}

export function sshArgv(t: SshTarget): string[] {
  return [
    'ssh',
    '-p',
    String(t.port),
    '-i',
    t.key,
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'ConnectTimeout=10',
    '-o',
    'LogLevel=ERROR',
    `${t.user}@127.0.0.1`,
  ];
}

/** Run a shell script in the guest (as the login user; prefix with sudo inside the script). */
export async function sshRun(
  runner: Runner,
  t: SshTarget,
  script: string,
  timeoutSeconds = 120,
): Promise<{ status: number; output: string }> {
  // 255 is ssh's own failure (connection refused or dropped, e.g. while first boot restarts sshd): retry.
  const once = async () => {
    try {
      const r = await runner.run([...sshArgv(t), 'bash', '-s'], {
        input: script,
        capture: true,
        okStatus: Array.from({ length: 256 }, (_, i) => i),
        timeoutSeconds,
      });
      return { status: r.status, output: `${r.stdout}${r.stderr ? `\n${r.stderr}` : ''}`.trim() };
    } catch (error) {
      return { status: -1, output: (error as Error).message };
    }
  };
  let last = { status: -1, output: '' };
  try {
    return await retry(
      async () => {
        last = await once();
        if (last.status === 255) throw new Error('ssh failed');
        return last;
      },
      { attempts: 4, delayMs: 3000 },
    );
  } catch {
    return last;
  }
}
