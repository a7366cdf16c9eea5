// Boot an image under qemu (TCG) on a copy-on-write overlay and wait for a serial-console pattern. qemu
// runs through the project's Runner.start, so it dies with the test process even when that is killed.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Runner } from '../../src/core/exec.js';
import { Logger } from '../../src/core/log.js';
import { sleep } from '../../src/core/retry.js';
import { qemuAccelArgs } from '../../src/verify/accel.js';

export interface BootResult {
  matched: boolean;
  seconds: number;
  console: string;
}

/** Boot with this kernel and initrd (qemu -kernel/-initrd/-append) instead of the disk's bootloader. */
export interface DirectKernelBoot {
  kernel: string;
  initrd: string;
  append: string;
}

export async function bootUntil(
  image: string,
  workDir: string,
  pattern: RegExp,
  timeoutSeconds = 300,
  direct?: DirectKernelBoot,
): Promise<BootResult> {
  const format = image.endsWith('.raw') ? 'raw' : 'qcow2';
  const overlay = join(workDir, `overlay-${process.pid}.qcow2`);
  const consoleLog = join(workDir, `console-${process.pid}.log`);
  rmSync(consoleLog, { force: true });
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', format, '-b', image, overlay]);
  const qemu = new Runner(new Logger()).start([
    'qemu-system-x86_64',
    ...qemuAccelArgs(),
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
    ...(direct ? ['-kernel', direct.kernel, '-initrd', direct.initrd, '-append', direct.append] : []),
  ]);
  const start = Date.now();
  let text = '';
  try {
    while ((Date.now() - start) / 1000 < timeoutSeconds && qemu.alive()) {
      await sleep(1000);
      text = existsSync(consoleLog) ? readFileSync(consoleLog, 'utf8') : '';
      if (pattern.test(text)) return { matched: true, seconds: (Date.now() - start) / 1000, console: text };
    }
    return { matched: false, seconds: (Date.now() - start) / 1000, console: text };
  } finally {
    await qemu.stop();
    rmSync(overlay, { force: true });
  }
}
