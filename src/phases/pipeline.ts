// The build as a flat list of steps: runBuild(ctx) reads top to bottom.
import { appendFileSync, existsSync, mkdirSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { BuildContext } from '../build/context.js';
import { BuildError, UsageError } from '../core/errors.js';
import { lstatIfExists, makeTempDir, safeRemoveTree } from '../core/fs.js';
import { LEDGER_NAME, Ledger, removeWorkDir } from '../core/ledger.js';
import { isMountPoint } from '../core/mountinfo.js';
import { pathInTree, regularFilesInTree } from '../core/tree-read.js';
import { type AttachedDisk, createDisk, finishDisk } from '../disk/disk.js';
import { renderFstab } from '../disk/layout.js';
import { type ImageFacts, imageFacts } from '../output/facts.js';
import { selectBootFiles } from '../output/boot-files.js';
import { toolVersion, writeImageMetadata } from '../upload/image-metadata.js';
import { type WriteOptions, writeOutputs } from '../output/write.js';
import { writeElementLinks, writeHooksTree } from './hook-runner.js';
import { blockDeviceOverride, blockDeviceParams, blockDeviceParamsTail } from '../build/dib-contract.js';
import { PHASES, phaseByName } from './phase-table.js';
import { relinkInstallTypes } from './install-types.js';
import { adoptEnvironmentSecrets, sourcedEnvironment } from './sourced-environment.js';
import { CHROOT_PATH, runPhase } from './run-phase.js';
import { openBuildTree } from '../cache/build-tree.js';
import type { OutputsEntry } from '../cache/store.js';
import { mountKernelFilesystems, unmountTree } from '../target/mounts.js';
import { killProcessesRootedIn } from '../target/processes.js';
import { restoreResolvConf, swapInResolvConf } from '../target/resolv-conf.js';
import { makePrivateArchive, returnArchives, seedArchives } from '../target/apt-archives.js';
import { partialOutput } from '../output/partial.js';
import { errorMessage } from '../core/cleanup-stack.js';
import { imageSizeBytes } from '../disk/sizing.js';
import { validateLayout } from '../disk/validate.js';
import { scanForSecrets } from '../build/secrets.js';

export interface BuildResult {
  outputs: string[];
}

export async function runBuild(ctx: BuildContext): Promise<BuildResult> {
  const { log, runner } = ctx;
  await log.step('prepare the work directory', async () => prepareWorkDir(ctx));
  const total = PHASES.length;
  const phase = (name: string) => phaseByName(name)!;
  const index = (name: string) => PHASES.findIndex((p) => p.name === name) + 1;
  const run = (name: string, root = ctx.mountDir) => runPhase(ctx, phase(name), { root, index: index(name), total });

  // 1. The tree, step by step (the phase cache reuses stored steps; see cache/build-tree.ts): root.d
  //    fills it; kernel filesystems are mounted for every later phase.
  const sourced = await log.step('source environment.d', () => sourcedEnvironment(ctx));
  adoptEnvironmentSecrets(ctx, sourced);
  relinkInstallTypes(ctx, sourced);
  privateAptArchives(ctx, sourced);
  const tree = openBuildTree(ctx);
  await tree.begin(sourced);
  const treePhase = (name: string, check?: () => void) => {
    const p = phase(name);
    return runPhase(ctx, p, {
      root: ctx.mountDir,
      index: index(name),
      total,
      steps: async (hooks, runGroup) => {
        const mounted = p.name !== 'root';
        // A phase outside the image is one step; in the chroot, each hook is one.
        if (!p.inChroot)
          return tree.step({ id: p.dir, phase: p, hooks, mounted }, async () => {
            const out = await runGroup(hooks);
            check?.();
            return out;
          });
        let out = '';
        for (const h of hooks) out += await tree.step({ id: `${p.dir}/${h.name}`, phase: p, hooks: [h], mounted }, () => runGroup([h]));
        return out;
      },
    });
  };
  await treePhase('root', () => assertRootPopulated(ctx.mountDir));
  await treePhase('extra-data');
  await treePhase('pre-install');
  await treePhase('install');
  if (ctx.config.packages.length) {
    await tree.step(
      { id: 'packages', phase: phase('install'), hooks: [], mounted: true, extra: { packages: ctx.config.packages.join(' ') } },
      async () => {
        await installExtraPackages(ctx);
        return '';
      },
    );
  }
  await treePhase('post-install');
  await treePhase('post-root');

  // 2. Everything below the tree unmounted (kernel filesystems, element mounts); the finished tree set
  //    aside at $TMP_BUILD_DIR/built. TMP_MOUNT_PATH stays exported, naming a path that does not exist
  //    until the disk is mounted (DIB).
  const writeOptions = {
    compress: !ctx.config.uncompressed,
    qemuImgOptions: ctx.config.qemuImgOptions,
    checksum: ctx.config.checksum,
    overwrite: ctx.config.overwriteOldImage,
    image: imageFacts(ctx.config, sourced),
  };
  const reusable = await tree.reusableOutputs(outputInputs(ctx, writeOptions));
  if (reusable) return reuseOutputs(ctx, reusable, writeOptions);
  await tree.finish();
  checkBootFiles(ctx, writeOptions.image);

  // 3. The disk: size, block-device.d (which may hand over a device of its own), partitions and
  //    filesystems, the tree copied in.
  const sizeBytes = await log.step('calculate the image size', async () => imageSizeBytes(ctx));
  validateLayout(ctx.layout, { imageSizeBytes: sizeBytes }); // the partitions fit, checked before any disk file exists
  ctx.env.DIB_IMAGE_SIZE = String(Math.round(sizeBytes / 1024));
  const override = blockDeviceDevice(await run('block-device', ctx.builtDir));
  const diskScope = ctx.resources.nested();
  ctx.resources.defer('release the disk', () => diskScope.release());
  let disk: AttachedDisk | undefined;
  if (override) {
    useBlockDeviceOverride(ctx, override);
  } else {
    appendFileSync(ctx.env.DIB_BLOCK_DEVICE_PARAMS_YAML, blockDeviceParamsTail(Math.round(sizeBytes / 1024), ctx.prepared.rootMkfsOptions));
    disk = await log.step(`create the disk (${Math.round(sizeBytes / 1024 / 1024)} MiB)`, () =>
      createDisk(
        runner,
        { layout: ctx.layout, sizeBytes, imageDir: ctx.imageDir, mountBase: ctx.mountDir, sectorSize: ctx.config.blockSize },
        diskScope,
      ),
    );
    exportDiskVariables(ctx, disk);
    writeFstab(ctx.builtDir, renderFstab(ctx.layout));
  }
  await log.step('copy the tree into the image', async () => {
    await runner.run(['cp', '-a', '--sparse=always', `${ctx.builtDir}/.`, `${ctx.mountDir}/`]);
    await tree.releaseBuilt();
    safeRemoveTree(ctx.builtDir);
  });
  swapInResolvConf(ctx.mountDir);

  // 4. Finalise on the real filesystems.
  const finalMounts = diskScope.nested();
  const releaseFinalMounts = async () => {
    await killProcessesRootedIn(ctx.mountDir, log);
    await finalMounts.release();
  };
  diskScope.defer('unmount kernel filesystems from the image', releaseFinalMounts);
  await mountKernelFilesystems(runner, ctx.mountDir, finalMounts);
  await run('pre-finalise');
  await run('finalise');
  await run('cleanup');
  restoreResolvConf(ctx.mountDir);
  await scrubTree(ctx);
  await log.step('scan the image for secret values', () => scanForSecrets(runner, [ctx.mountDir, `${ctx.outputStem}.d`], ctx.secrets));
  // 5. The tree outputs, from the image's filesystems with the kernel filesystems gone (a mounted sysfs
  //    changes under tar); then release the disk (fstrim keeps the raw file sparse) and convert.
  await releaseFinalMounts();
  writeBuildMetadata(ctx, writeOptions.image); // before any output is committed: a failure here leaves none
  const outputs: string[] = [];
  if (ctx.prepared.outputs.some((o) => o.type.source === 'tree')) {
    await log.step('write the tree outputs', async () => {
      outputs.push(...(await writeOutputs(runner, ctx.prepared.outputs, { tree: ctx.mountDir }, writeOptions, ctx.resources)));
    });
  }
  if (disk) {
    const attached = disk;
    await log.step('unmount the image', () => finishDisk(runner, attached));
  } else await log.step('unmount the image', () => unmountTree(runner, ctx.mountDir));
  await diskScope.release();
  const raw = disk?.imagePath ?? override!;
  if (ctx.prepared.withheldOutputs.length) {
    log.info(
      `no-final-image is among the elements: not writing ${ctx.prepared.withheldOutputs.map((o) => o.path).join(', ')} (every phase ran; the disk is discarded)`,
    );
  }
  if (ctx.prepared.outputs.some((o) => o.type.source === 'disk')) {
    await log.step('write the outputs', async () => {
      outputs.push(...(await writeOutputs(runner, ctx.prepared.outputs, { raw }, writeOptions, ctx.resources)));
    });
  }
  await log.step('store the outputs in the phase cache', async () => {
    try {
      await tree.storeOutputs(new Map(ctx.prepared.outputs.map((o) => [o.type.name, o.path])), `${ctx.outputStem}.d`);
    } catch (error) {
      // The image is built; only its reuse is lost.
      log.warn(`phase cache: the outputs could not be stored for reuse: ${errorMessage(error)}`);
    }
  });
  return { outputs };
}

/** NAME.d/image-metadata.json: what image-upload tells Glance about the image (architecture, distribution, firmware). */
function writeBuildMetadata(ctx: BuildContext, image: ImageFacts): void {
  const dir = `${ctx.outputStem}.d`;
  if (!lstatIfExists(dir)) mkdirSync(dir, { mode: 0o755 });
  const { layout } = ctx.prepared;
  writeImageMetadata(dir, {
    tool: 'dib-ts',
    version: toolVersion(),
    arch: image.arch,
    distro: image.distro,
    release: image.release,
    elements: [...ctx.prepared.requested],
    expandedElements: ctx.prepared.plan.elements.map((e) => e.name),
    firmware: !layout.partitionings.length ? null : layout.mounts.some((m) => m.mountPoint === '/boot/efi') ? 'uefi' : 'bios',
  });
}

/**
 * The baremetal element's kernel and initrd must be in the finished tree: checked before the disk is
 * made (exit 2 with a hint), written with the other tree outputs after the cleanup phase.
 */
function checkBootFiles(ctx: BuildContext, image: ImageFacts): void {
  const files = ctx.prepared.outputs.filter((o) => o.type.writer === 'boot-file');
  if (!files.length) return;
  const choice = selectBootFiles(ctx.builtDir, image.bootFiles);
  if ('problem' in choice)
    throw new UsageError(
      'missing-kernel',
      `the baremetal element writes ${files.map((o) => o.path).join(' and ')}, and ${choice.problem}`,
      {
        hint: 'install a kernel in the image (the debian-minimal element installs linux-image-ARCH), or name the files with both DIB_BAREMETAL_KERNEL_PATTERN and DIB_BAREMETAL_INITRD_PATTERN',
      },
    );
  ctx.log.info(`baremetal: kernel ${choice.files.kernel} and initrd ${choice.files.initrd} will be written beside the image`);
}

/** What, besides the tree and the later phases' hooks, decides the outputs (whole-image reuse). */
function outputInputs(ctx: BuildContext, options: WriteOptions): Record<string, string> {
  const c = ctx.config;
  return {
    layout: ctx.prepared.layoutText,
    'mkfs options': ctx.prepared.rootMkfsOptions,
    outputs: ctx.prepared.outputs.map((o) => o.type.name).join(','),
    'withheld outputs': ctx.prepared.withheldOutputs.map((o) => o.type.name).join(','),
    'write options': JSON.stringify({ ...options, overwrite: undefined }),
    // Files the late phases name after the image (dib-manifest-dpkg-NAME, NAME.d/).
    'image name': basename(c.imageName),
    'image size': JSON.stringify([
      c.imageSize,
      c.imageExtraSize,
      c.fsType,
      c.rootLabel,
      c.blockSize,
      c.mkfsOptions,
      c.mkfsJournalSize,
      c.maxOnlineResize,
    ]),
  };
}

/** Whole-image reuse: every input unchanged, the stored outputs are copied into place (rotation, checksums as usual). */
async function reuseOutputs(ctx: BuildContext, stored: OutputsEntry, options: WriteOptions): Promise<BuildResult> {
  ctx.log.info(`phase cache: nothing that decides the image changed; reusing its stored outputs (${stored.key.slice(0, 12)})`);
  const outputs = await ctx.log.step('write the outputs (reused)', () =>
    writeOutputs(ctx.runner, ctx.prepared.outputs, { reused: stored.files }, options, ctx.resources),
  );
  if (stored.manifestsTar) {
    // Unpacked in a private directory beside NAME.d, then renamed into place (replacing an old NAME.d).
    const manifests = `${ctx.outputStem}.d`;
    const partial = await partialOutput(manifests, ctx.resources);
    await ctx.runner.run(['tar', '-C', dirname(partial.temp), '--no-same-owner', '-xf', stored.manifestsTar]);
    // The archive holds NAME.d itself (its name is part of the key): it unpacks to partial.temp.
    if (lstatIfExists(manifests)?.isDirectory()) safeRemoveTree(manifests);
    partial.commit([]);
  }
  return { outputs };
}

/** A device block-device.d printed as `IMAGE_BLOCK_DEVICE=...` (DIB evals those lines), or undefined. */
function blockDeviceDevice(stdout: string): string | undefined {
  const { device, bad } = blockDeviceOverride(stdout);
  if (bad.length) {
    throw new BuildError('block-device.d printed an IMAGE_BLOCK_DEVICE= line this engine cannot read', {
      details: bad.map((l) => `  ${l}`),
      hint: 'DIB evals such lines with bash; print exactly IMAGE_BLOCK_DEVICE=/dev/DEVICE (optionally with export, or quoted)',
    });
  }
  return device || undefined;
}

/**
 * DIB's legacy path: a block-device.d hook made the disk itself and printed its device. The engine then
 * makes no disk and writes no fstab; the hook must have mounted the root filesystem at TMP_MOUNT_PATH.
 * Disk outputs are converted from that device; detaching it stays the element's job.
 */
function useBlockDeviceOverride(ctx: BuildContext, device: string): void {
  if (!isMountPoint(ctx.mountDir)) {
    throw new BuildError(`block-device.d printed IMAGE_BLOCK_DEVICE=${device} but mounted nothing at ${ctx.mountDir}`, {
      hint: 'a block-device.d hook that supplies the device must also mount its root filesystem at $TMP_MOUNT_PATH (DIB copies the tree there)',
    });
  }
  ctx.log.info(`block-device.d supplied the disk: IMAGE_BLOCK_DEVICE=${device}; the engine makes no disk and writes no fstab`);
  Object.assign(ctx.env, { IMAGE_BLOCK_DEVICE: device, IMAGE_BLOCK_DEVICES: `[image0]=${device}` });
}

async function prepareWorkDir(ctx: BuildContext): Promise<void> {
  const workDir = makeTempDir(ctx.config.tmpDir, 'dib_build.');
  ctx.workDir = workDir;
  const ledger = new Ledger(join(workDir, LEDGER_NAME), workDir);
  ctx.own(ledger);
  // mkdtemp made it already: the ledger lives inside it, so it cannot be recorded first.
  await ctx.resources.acquire({ kind: 'dir', path: workDir }, () => Promise.resolve(workDir), {
    label: `remove ${workDir}`,
    undo: async () => {
      await killProcessesRootedIn(workDir, ctx.log);
      await unmountTree(ctx.runner, workDir);
      removeWorkDir(workDir);
    },
    manual: `umount -R ${workDir}; rm -rf ${workDir}`,
  });
  mkdirSync(ctx.imageDir);
  writeHooksTree(ctx.plan, ctx.hooksDir);
  // DIB's block-device files: the chosen YAML and the parameters its block-device layer reads.
  const blockDir = join(workDir, 'block-device');
  mkdirSync(blockDir);
  writeFileSync(join(blockDir, 'config.yaml'), ctx.prepared.layoutText, { flag: 'wx' });
  const params = join(blockDir, 'params.yaml');
  const paramsText = blockDeviceParams({
    configFile: join(blockDir, 'config.yaml'),
    imageDir: ctx.imageDir,
    fsType: ctx.config.fsType,
    rootLabel: ctx.config.rootLabel,
    mountBase: ctx.mountDir,
    buildDir: workDir,
  });
  writeFileSync(params, paramsText, { flag: 'wx' });
  Object.assign(ctx.env, {
    TMP_BUILD_DIR: workDir,
    TMP_IMAGE_DIR: ctx.imageDir,
    TMP_HOOKS_PATH: ctx.hooksDir,
    OUT_IMAGE_PATH: dirname(ctx.outputStem),
    // Each chosen element exactly once: shadowed copies stay invisible to hooks (see writeElementLinks).
    ELEMENTS_PATH: writeElementLinks(ctx.plan, join(workDir, 'elements')),
    DIB_BLOCK_DEVICE_PARAMS_YAML: params,
    TMP_MOUNT_PATH: ctx.mountDir,
  });
  mkdirSync(ctx.config.imageCache, { recursive: true });
  ctx.log.info(`Building in ${workDir}`);
}

/**
 * DIB_APT_LOCAL_CACHE: the build's own apt archive directory (dpkg's root.d binds $DIB_APT_ARCHIVES on the
 * image's /var/cache/apt/archives), seeded from the shared pool; what it downloaded goes back to the pool
 * when the build ends, failed or not. Two builds never share apt's archive lock.
 */
function privateAptArchives(ctx: BuildContext, sourced: Record<string, string>): void {
  if (sourced.DIB_APT_LOCAL_CACHE !== '1') return;
  const pool = join(ctx.config.imageCache, 'apt', sourced.DISTRO_NAME || 'debian');
  // Beside the pool (hard links, never a copy of the whole pool into TMP_DIR on another filesystem).
  const dir = makePrivateArchive(join(ctx.config.imageCache, 'apt'));
  ctx.resources.defer('return downloaded packages to the shared apt cache', () => {
    const returned = returnArchives(dir, pool);
    if (returned) ctx.log.info(`apt archive: ${returned} new package files kept in ${pool}`);
    rmSync(dir, { recursive: true, force: true });
  });
  const seeded = seedArchives(pool, dir);
  ctx.log.info(`apt archive: ${seeded} cached package files from ${pool}`);
  ctx.env.DIB_APT_ARCHIVES = dir;
}

/** /etc/fstab in the tree, never through the image's links (an /etc that is a link stops the build). */
function writeFstab(root: string, content: string): void {
  const etc = pathInTree(root, 'etc');
  if (!etc) {
    if (lstatIfExists(join(root, 'etc')))
      throw new BuildError("the image's /etc is a symbolic link; /etc/fstab cannot be written", {
        hint: 'keep /etc a directory in the image',
      });
    mkdirSync(join(root, 'etc'), { mode: 0o755 });
  }
  const fstab = join(root, 'etc', 'fstab');
  rmSync(fstab, { force: true }); // a link there is replaced, not written through
  writeFileSync(fstab, content, { flag: 'wx', mode: 0o644 });
}

function assertRootPopulated(root: string): void {
  const entries = readdirSync(root).filter((n) => n !== 'lost+found' && !n.endsWith('tmp'));
  if (!entries.length) {
    throw new BuildError('Failed to deploy the root element: root.d left the image tree empty', {
      hint: 'the build needs an operating-system element whose root.d fills $TARGET_ROOT (e.g. debian-minimal)',
    });
  }
}

/** `-p` packages: installed in the chroot after install.d, with install-packages (no pkg-map, like DIB). */
async function installExtraPackages(ctx: BuildContext): Promise<void> {
  const packages = ctx.config.packages;
  if (!packages.length) return;
  if (!existsSync(join(ctx.mountDir, 'usr/local/bin/install-packages'))) {
    throw new BuildError('-p needs install-packages in the image, and no element installed it', {
      hint: 'include an OS element that provides install-packages (debian-minimal does, through dpkg)',
    });
  }
  const env = { ...ctx.env, PATH: CHROOT_PATH, HOME: '/root' };
  await ctx.log.step(`install extra packages: ${packages.join(' ')}`, () =>
    ctx.runner.run(['chroot', ctx.mountDir, '/usr/local/bin/install-packages', ...packages], { env, label: 'packages' }),
  );
}

/** IMAGE_BLOCK_DEVICE(S) from pre-finalise on; DIB_ROOT_LABEL and the other layout variables are set from the start (prepare). */
function exportDiskVariables(ctx: BuildContext, disk: AttachedDisk): void {
  Object.assign(ctx.env, {
    IMAGE_BLOCK_DEVICE: disk.device,
    IMAGE_BLOCK_DEVICES: [...disk.devices].map(([n, d]) => `[${n}]=${d}`).join(' '),
  });
}

/** DIB's finalise_base: empty /tmp, truncate logs under /var/log, drop *.log under /root — never through the tree's symlinks. */
async function scrubTree(ctx: BuildContext): Promise<void> {
  const root = ctx.mountDir;
  const tmp = pathInTree(root, 'tmp');
  if (tmp) {
    await unmountTree(ctx.runner, tmp);
    for (const name of readdirSync(tmp)) safeRemoveTree(join(tmp, name));
  }
  for (const log of regularFilesInTree(root, 'var/log')) truncateSync(log, 0);
  for (const file of regularFilesInTree(root, 'root')) if (file.endsWith('.log')) rmSync(file);
}
