// Boot an image under qemu (TCG) on a copy-on-write overlay and wait for a serial-console pattern.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { qemuAccelArgs } from '../../src/verify/accel.js';

export interface BootResult {
  matched: boolean;
  seconds: number;
  console: string;
}

export async function bootUntil(image: string, workDir: string, pattern: RegExp, timeoutSeconds = 300): Promise<BootResult> {
  const format = image.endsWith('.raw') ? 'raw' : 'qcow2';
  const overlay = join(workDir, `overlay-${process.pid}.qcow2`);
  const consoleLog = join(workDir, `console-${process.pid}.log`);
  rmSync(consoleLog, { force: true });
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', format, '-b', image, overlay]);
  const accel = qemuAccelArgs();
  const qemu = spawn(
    'qemu-system-x86_64',
    [
      ...accel,
      '-m',
      '1024',
      '-smp',
      '2',
      '-display',
      'none',
      '-no-reboot',
      '-serial',
      `file:${consoleLog}`,
      '-drive',
      `file=${overlay},if=virtio`,
      '-nic',
      'user,model=virtio-net-pci',
    ],
    { stdio: 'ignore' },
  );
  const start = Date.now();
  let text = '';
  try {
    while ((Date.now() - start) / 1000 < timeoutSeconds && qemu.exitCode === null) {
      await new Promise((r) => setTimeout(r, 1000));
      text = existsSync(consoleLog) ? readFileSync(consoleLog, 'utf8') : '';
      if (pattern.test(text)) return { matched: true, seconds: (Date.now() - start) / 1000, console: text };
    }
    return { matched: false, seconds: (Date.now() - start) / 1000, console: text };
  } finally {
    qemu.kill('SIGKILL');
    await new Promise((r) => (qemu.exitCode !== null || qemu.signalCode !== null ? r(null) : qemu.once('exit', r)));
    rmSync(overlay, { force: true });
  }
}
