// Boot an image the way image-verify does (src/verify/guest.ts: overlay, config drive, qemu) and log in
// over ssh as a user and key of the test's choosing (image-verify always uses its own fresh key and
// the cloud's default user).
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Runner } from '../../src/core/exec.js';
import { LEDGER_NAME, Ledger } from '../../src/core/ledger.js';
import { Logger } from '../../src/core/log.js';
import { Resources } from '../../src/core/resources.js';
import { takeImage } from '../../src/verify/image-file.js';
import { startGuest } from '../../src/verify/guest.js';
import { type SshTarget, sshRun } from '../../src/verify/ssh.js';

export interface GuestSession {
  /** Seconds from qemu start to the first successful ssh login. */
  bootSeconds: number;
  run(script: string): Promise<{ status: number; output: string }>;
  console(): string;
}

export async function withGuestSsh<T>(
  options: { image: string; dir: string; user: string; key: string; publicKey: string; timeoutSeconds: number },
  body: (guest: GuestSession) => Promise<T>,
): Promise<T> {
  mkdirSync(options.dir, { recursive: true });
  const runner = new Runner(new Logger());
  const resources = new Resources(new Ledger(join(options.dir, LEDGER_NAME), options.dir));
  try {
    // The same checked copy image-verify boots (format pinned, nothing else opened).
    const checked = await takeImage(runner, options.image, options.dir);
    const guest = await startGuest(
      runner,
      {
        image: checked.path,
        format: checked.format,
        virtualSize: checked.virtualSize,
        dir: options.dir,
        diskBytes: 4 * 1024 ** 3,
        seed: 'config-drive',
        publicKey: options.publicKey,
        hostname: `dib-elements-${randomUUID().slice(0, 8)}`,
        instanceId: randomUUID(),
        userData: '#!/bin/sh\ntrue\n',
        memoryMiB: 1024,
        uefi: false,
      },
      resources,
    );
    const target: SshTarget = { port: guest.sshPort, user: options.user, key: options.key };
    const start = Date.now();
    for (;;) {
      if (!guest.alive()) throw new Error(`the guest stopped: ${guest.errors()}\n${guest.readConsole().slice(-3000)}`);
      if ((await sshRun(runner, target, 'true', 20)).status === 0) break;
      if (Date.now() - start > options.timeoutSeconds * 1000)
        throw new Error(`no ssh login as ${options.user} after ${options.timeoutSeconds}s; console:\n${guest.readConsole().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 3000));
    }
    const bootSeconds = (Date.now() - start) / 1000;
    return await body({ bootSeconds, run: (script) => sshRun(runner, target, script, 120), console: () => guest.readConsole() });
  } finally {
    await resources.unwind();
  }
}
