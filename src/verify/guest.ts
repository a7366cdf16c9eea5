// A throwaway guest: copy-on-write overlay, config drive or NoCloud seed, qemu with the serial console in a file.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { BuildError } from '../core/errors.js';
import type { Runner } from '../core/exec.js';
import type { Resources } from '../core/resources.js';
import { sleep } from '../core/retry.js';
import { qemuAccelArgs } from './accel.js';
import type { ImageFormat } from './image-file.js';

export interface GuestOptions {
  /** The checked copy of the image (takeImage): its format pinned, nothing but itself to open. */
  image: string;
  format: ImageFormat;
  virtualSize: number;
  dir: string;
  /** Overlay virtual size in bytes (bigger than the image, to exercise growroot). */
  diskBytes: number;
  seed: 'config-drive' | 'nocloud';
  publicKey: string;
  hostname: string;
  instanceId: string;
  userData: string;
  memoryMiB: number;
  uefi: boolean;
}

export interface Guest {
  sshPort: number;
  consoleLog: string;
  readConsole(): string;
  alive(): boolean;
  /** qemu's own error output (why it exited). */
  errors(): string;
}

export async function startGuest(runner: Runner, options: GuestOptions, resources: Resources): Promise<Guest> {
  const overlay = join(options.dir, 'overlay.qcow2');
  const size = Math.max(options.diskBytes, options.virtualSize);
  // The overlay records the pinned backing format: qemu never probes the image.
  await runner.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', options.format, '-b', options.image, '--', overlay, String(size)]);
  const seed = join(options.dir, 'seed.iso');
  await writeSeed(runner, options, seed);
  const consoleLog = join(options.dir, 'console.log');
  const sshPort = await freePort();
  const args = [
    ...qemuAccelArgs(),
    '-m',
    String(options.memoryMiB),
    '-smp',
    '2',
    '-display',
    'none',
    '-no-reboot',
    '-nodefaults',
    '-smbios',
    'type=1,manufacturer=OpenStack Foundation,product=OpenStack Nova',
    '-serial',
    `file:${consoleLog}`,
    '-drive',
    `file=${drivePath(overlay)},if=virtio,format=qcow2`,
    '-drive',
    `file=${drivePath(seed)},if=virtio,format=raw,readonly=on`,
    '-netdev',
    `user,id=n0,hostfwd=tcp:127.0.0.1:${sshPort}-:22`,
    '-device',
    'virtio-net-pci,netdev=n0',
  ];
  if (options.uefi) args.push('-bios', '/usr/share/ovmf/OVMF.fd');
  const qemu = runner.start(['qemu-system-x86_64', ...args]);
  resources.defer('stop the guest', () => qemu.stop(), `pkill -f ${overlay}`);
  await sleep(500);
  if (!qemu.alive())
    throw new BuildError(`qemu exited at once: ${qemu.errors()}`, {
      hint: 'check that qemu-system-x86 is installed and the image is a disk image (qcow2 or raw)',
    });
  return {
    sshPort,
    consoleLog,
    readConsole: () => (existsSync(consoleLog) ? readFileSync(consoleLog, 'utf8') : ''),
    alive: () => qemu.alive(),
    errors: () => qemu.errors(),
  };
}

/** An OpenStack config drive (label config-2) or a NoCloud seed (label cidata), written with xorriso. */
async function writeSeed(runner: Runner, o: GuestOptions, iso: string): Promise<void> {
  const root = join(o.dir, 'seed');
  let label: string;
  if (o.seed === 'config-drive') {
    label = 'config-2';
    const latest = join(root, 'openstack', 'latest');
    mkdirSync(latest, { recursive: true });
    writeFileSync(
      join(latest, 'meta_data.json'),
      JSON.stringify({
        uuid: o.instanceId,
        name: o.hostname,
        hostname: o.hostname,
        availability_zone: 'nova',
        launch_index: 0,
        public_keys: { 'image-verify': o.publicKey },
        keys: [{ name: 'image-verify', type: 'ssh', data: o.publicKey }],
      }),
    );
    writeFileSync(join(latest, 'user_data'), o.userData);
  } else {
    label = 'cidata';
    mkdirSync(root, { recursive: true });
    writeFileSync(
      join(root, 'meta-data'),
      `instance-id: ${o.instanceId}\nlocal-hostname: ${o.hostname}\npublic-keys:\n  - ${o.publicKey}\n`,
    );
    writeFileSync(join(root, 'user-data'), o.userData);
  }
  await runner.run(['xorriso', '-as', 'mkisofs', '-quiet', '-V', label, '-J', '-R', '-o', iso, root]);
}

/** A path inside a -drive option: commas doubled (qemu's option syntax), so a TMP_DIR with one cannot add options. */
function drivePath(path: string): string {
  return path.replace(/,/g, ',,');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
