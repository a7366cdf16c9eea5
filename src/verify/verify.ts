// image-verify: offline hygiene checks, then boot the image as Nova would feed it and check it over ssh.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Runner } from '../core/exec.js';
import { makeTempDir } from '../core/fs.js';
import { LEDGER_NAME, Ledger, removeWorkDir } from '../core/ledger.js';
import type { Logger } from '../core/log.js';
import { Resources } from '../core/resources.js';
import { poll } from '../core/retry.js';
import { TreeReader, UnsafeTreePath } from '../core/tree-read.js';
import { unmountTree } from '../target/mounts.js';
import { type CheckResult, OFFLINE_CHECKS, elementChecks, onlineChecks } from './checks.js';
import { startGuest } from './guest.js';
import { takeImage } from './image-file.js';
import { mountImageReadOnly } from './offline.js';
import { type SshTarget, sshRun } from './ssh.js';

export interface VerifyOptions {
  image: string;
  tmpDir: string;
  seed: 'config-drive' | 'nocloud';
  user: string;
  timeoutSeconds: number;
  memoryMiB: number;
  diskBytes: number;
  offlineOnly: boolean;
  uefi: boolean;
  /** Element name → directory, for element-declared checks. */
  elementDirs: Map<string, string>;
  only: string[];
}

export interface VerifyReport {
  results: CheckResult[];
  bootSeconds?: number;
  consoleLog?: string;
}

const USER_DATA = '#!/bin/sh\nmkdir -p /var/lib/image-verify\necho "ran at $(date -u +%FT%TZ)" > /var/lib/image-verify/user-data-ok\n';

export async function verifyImage(o: VerifyOptions, log: Logger, runner: Runner): Promise<VerifyReport> {
  const results: CheckResult[] = [];
  const wanted = (name: string) => !o.only.length || o.only.some((w) => name === w || name.startsWith(`${w}/`));
  // Its own work directory and ledger (found by --cleanup-stale like a build's, if verify is killed).
  const dir = makeTempDir(o.tmpDir, 'dib_build.verify-');
  const resources = new Resources(new Ledger(join(dir, LEDGER_NAME), dir));
  await resources.acquire({ kind: 'dir', path: dir }, () => Promise.resolve(dir), {
    label: `remove ${dir}`,
    undo: async () => {
      await unmountTree(runner, dir);
      removeWorkDir(dir);
    },
    manual: `umount -R ${dir}; rm -rf ${dir}`,
  });
  const report: VerifyReport = { results };
  try {
    // Untrusted input: a private copy, its format pinned, refused if it names any file but itself.
    const image = await log.step('check the image file', () => takeImage(runner, o.image, dir));
    let elements: string[] = [];
    await log.step(`inspect the image (${image.format}, read-only)`, async () => {
      await resources.using(async (inspect) => {
        const { root } = await mountImageReadOnly(runner, image, dir, inspect);
        const tree = new TreeReader(root);
        for (const check of OFFLINE_CHECKS.filter((c) => wanted(c.name))) {
          const t = Date.now();
          let problem: string | null;
          try {
            problem = check.run(tree);
          } catch (error) {
            // A link out of the image, a FIFO or a device where a file should be: the finding itself.
            problem = error instanceof UnsafeTreePath ? error.message : `could not check: ${(error as Error).message}`;
          }
          results.push({
            name: check.name,
            group: 'offline',
            ok: problem === null,
            detail: problem ?? 'ok',
            seconds: (Date.now() - t) / 1000,
          });
        }
        try {
          elements = (tree.readText('etc/dib-manifests/dib-element-manifest') ?? '').split(/\s+/).filter(Boolean);
        } catch (error) {
          if (!(error instanceof UnsafeTreePath)) throw error;
          log.warn(`not reading the element manifest: ${error.message}`);
        }
      });
      // The raw conversion is no longer needed (the guest boots an overlay on the checked copy).
      rmSync(join(dir, 'inspect.raw'), { force: true });
    });
    if (o.offlineOnly) return report;

    await runner.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'image-verify', '-f', join(dir, 'key')]);
    const hostname = `verify-${randomUUID().slice(0, 8)}`;
    const guest = await log.step(`boot the image (${o.seed}, ${Math.round(o.diskBytes / 1024 ** 3)} GiB disk)`, () =>
      startGuest(
        runner,
        {
          image: image.path,
          format: image.format,
          virtualSize: image.virtualSize,
          dir,
          diskBytes: o.diskBytes,
          seed: o.seed,
          publicKey: readFileSync(join(dir, 'key.pub'), 'utf8').trim(),
          hostname,
          instanceId: randomUUID(),
          userData: USER_DATA,
          memoryMiB: o.memoryMiB,
          uefi: o.uefi,
        },
        resources,
      ),
    );
    report.consoleLog = guest.consoleLog;
    const target: SshTarget = { port: guest.sshPort, user: o.user, key: join(dir, 'key') };
    const start = Date.now();
    let up = false;
    await log.step('wait for ssh', async () => {
      let lastNote = 0;
      const answered = await poll(
        async () => {
          if ((await sshRun(runner, target, 'true', 20)).status === 0) return true;
          if (Date.now() - lastNote > 30_000) {
            lastNote = Date.now();
            const tail = guest.readConsole().trim().split('\n').pop() ?? '';
            log.info(`  still waiting after ${Math.round((Date.now() - start) / 1000)}s; console: ${tail.slice(0, 100)}`);
          }
          return undefined;
        },
        { timeoutMs: o.timeoutSeconds * 1000, intervalMs: 3000, giveUp: () => !guest.alive() },
      );
      up = answered === true;
    });
    report.bootSeconds = (Date.now() - start) / 1000;
    if (up) {
      // First boot goes on after sshd answers (cloud-init's config and final stages): wait for it to
      // settle, polling over fresh connections, so the checks see the finished instance.
      await log.step('wait for cloud-init to finish', async () => {
        const left = Math.max(0, o.timeoutSeconds * 1000 - (Date.now() - start));
        await poll(
          async () => {
            const r = await sshRun(
              runner,
              target,
              'command -v cloud-init >/dev/null || { echo none; exit 0; }; sudo -n cloud-init status 2>/dev/null',
              30,
            );
            return r.status !== 255 && /status: (done|error|disabled)|^none$/m.test(r.output);
          },
          { timeoutMs: left, intervalMs: 3000 },
        );
      });
    }
    const checks = [
      ...onlineChecks({ hostname, diskBytes: o.diskBytes }).map((c) => ({ ...c, group: 'online' as const })),
      ...elementChecks(new Map([...o.elementDirs].filter(([e]) => elements.includes(e)))).map((c) => ({
        ...c,
        script: `sudo bash -s <<'IMAGE_VERIFY_EOF'\n${c.script}\nIMAGE_VERIFY_EOF\n`,
        group: 'element' as const,
      })),
    ];
    for (const c of checks.filter((x) => wanted(x.name))) {
      if (!up) {
        const tail = guest.readConsole().trim().split('\n').slice(-5).join('\n');
        results.push({
          name: c.name,
          group: c.group,
          ok: false,
          detail: `the guest did not answer ssh as ${o.user} within ${o.timeoutSeconds}s${guest.alive() ? '' : ` (qemu exited: ${guest.errors() || 'no message'})`}; console tail:\n${tail}`,
          seconds: 0,
        });
        continue;
      }
      const t = Date.now();
      const r = await sshRun(runner, target, c.script);
      results.push({
        name: c.name,
        group: c.group,
        ok: r.status === 0,
        detail: r.output || `exit ${r.status}`,
        seconds: (Date.now() - t) / 1000,
      });
    }
    return report;
  } finally {
    const failures = await resources.unwind();
    for (const f of failures) log.warn(`cleanup: ${f.label}: ${(f.error as Error).message}${f.manual ? ` (by hand: ${f.manual})` : ''}`);
  }
}
