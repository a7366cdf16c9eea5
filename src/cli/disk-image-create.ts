// `disk-image-create`: DIB's flags through the settings table; validate everything, then build.
import { accessSync, appendFileSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import yargs, { type Options } from 'yargs';
import { BuildContext } from '../build/context.js';
import { hookEnvironment } from '../build/environment.js';
import { lockOutput } from '../build/output-lock.js';
import { declaredSecretNames, secretValuesOf } from '../build/secrets.js';
import { cleanupStaleBuilds } from '../build/stale.js';
import { readHostMirrors } from '../config/host-apt.js';
import { type BuildConfig, SETTINGS, type SettingValue, settingDefaults } from '../config/settings.js';
import { attachCleanupFailures } from '../core/cleanup-stack.js';
import { DibError, InterruptedError, UsageError, throwIfProblems } from '../core/errors.js';
import { Runner, baseEnvironment } from '../core/exec.js';
import { HumanSink, type Logger, NdjsonSink, fileLineWriter } from '../core/log.js';
import { installSignalHandlers } from '../core/signals.js';
import { packageForTool, whichTool } from '../core/tools.js';
import { chooseLayoutSource, parseLayout } from '../disk/layout.js';
import { buildElementList, defaultBlockDeviceFor, planBuild, selectElements } from '../elements/plan.js';
import { runBuild } from '../phases/pipeline.js';
import { renderTimingTable } from './timing-table.js';
import { expandLongOptionPrefixes } from './parse-args.js';

const VERSION = '0.1.0';

export async function runDiskImageCreate(argv: string[], log: Logger): Promise<number> {
  const config = await parseDiskImageCreateArgs(argv, process.env);
  if (config === 'help' || config === 'version') return 0;
  if (config.cleanupStale) return cleanupStale(config, log);
  return build(config, argv, log);
}

/** --cleanup-stale: release what builds killed outright left behind, as their ledgers name it. */
async function cleanupStale(config: BuildConfig, log: Logger): Promise<number> {
  if (process.getuid?.() !== 0) throw new UsageError('not-root', 'disk-image-create --cleanup-stale must run as root', { hint: 'run it with sudo' });
  const released = await cleanupStaleBuilds(new Runner(log), log, String(config.tmpDir || '/tmp'));
  process.stdout.write(released.length ? `${released.map((r) => `released: ${r}`).join('\n')}\n` : 'nothing to release\n');
  return 0;
}

/** Parse flags over environment defaults; returns 'help'/'version' after printing them. */
export async function parseDiskImageCreateArgs(argv: string[], env: NodeJS.ProcessEnv): Promise<BuildConfig | 'help' | 'version'> {
  const longNames = [...SETTINGS.filter((s) => s.flag).map((s) => s.flag!), 'help', 'version'];
  const shortFlags = SETTINGS.filter((s) => s.short && (s.kind === 'boolean' || s.kind === 'count')).map((s) => s.short).join('') + 'h';
  const shortWithValue = SETTINGS.filter((s) => s.short && s.kind !== 'boolean' && s.kind !== 'count').map((s) => s.short).join('');
  const expanded = expandLongOptionPrefixes(argv, longNames, shortFlags, shortWithValue);
  let parser = yargs(expanded)
    .scriptName('disk-image-create')
    .usage('$0 [options] ELEMENT...\n\nBuild a disk image from ELEMENT... (base is added unless -n). Elements are searched on ELEMENTS_PATH, then the shipped elements.')
    .parserConfiguration({ 'short-option-groups': true, 'camel-case-expansion': false, 'duplicate-arguments-array': true, 'strip-aliased': true })
    .strictOptions()
    .version(false)
    .help(false)
    .option('help', { alias: 'h', type: 'boolean', describe: 'show this help' })
    .option('version', { type: 'boolean', describe: 'print the version' })
    .fail((msg, err) => {
      throw err ?? new UsageError('usage', msg, { hint: 'see disk-image-create --help' });
    })
    .wrap(Math.min(120, process.stdout.columns || 100));
  for (const s of SETTINGS) {
    if (!s.flag) continue;
    const opt: Options = {
      describe: `${s.help}${s.env ? ` [${s.env}]` : ''}`,
      hidden: s.hidden,
      requiresArg: s.kind !== 'boolean' && s.kind !== 'count',
      type: s.kind === 'boolean' ? 'boolean' : s.kind === 'count' ? 'count' : s.kind === 'list' ? 'array' : 'string',
    };
    if (s.short) opt.alias = s.short;
    if (s.meta) opt.nargs = s.kind === 'list' ? 1 : undefined;
    parser = parser.option(s.flag, opt);
  }
  parser = parser.epilog('Environment: ELEMENTS_PATH, DIB_BLOCK_DEVICE_CONFIG, FS_TYPE, TMP_DIR, DIB_DEFAULT_OS_ELEMENT, break=before-PHASE|after-PHASE|after-error, and every variable an element documents.');
  const args = await parser.parseAsync();
  if (args.help) {
    process.stdout.write(`${await parser.getHelp()}\n`);
    return 'help';
  }
  if (args.version) {
    process.stdout.write(`${VERSION}\n`);
    return 'version';
  }
  const values: Record<string, SettingValue> = settingDefaults(env);
  const problems: UsageError[] = [];
  for (const s of SETTINGS) {
    const raw = s.flag ? args[s.flag] : undefined;
    if (raw !== undefined && !(s.kind === 'count' && raw === 0) && !(s.kind === 'boolean' && raw === false)) {
      if (s.kind === 'count') values[s.key] = Number(values[s.key] || 0) + Number(raw);
      else if (s.kind === 'list') values[s.key] = (raw as unknown[]).map(String);
      else if (s.kind === 'boolean') values[s.key] = true;
      else values[s.key] = Array.isArray(raw) ? String(raw[raw.length - 1]) : String(raw);
    }
    const explicit = raw !== undefined && raw !== false && raw !== 0;
    const fromEnv = s.env !== undefined && env[s.env] !== undefined && env[s.env] !== '';
    if (s.parse && (explicit || fromEnv || s.key === 'imageTypes' || s.key === 'packages' || s.key === 'arch')) {
      try {
        values[s.key] = s.parse(values[s.key], env);
      } catch (error) {
        if (error instanceof UsageError) problems.push(error);
        else throw error;
      }
    }
  }
  throwIfProblems(problems);
  const elements = args._.map(String);
  let imageName = String(values.imageName);
  const types = values.imageTypes as string[];
  if (types.length === 1 && imageName.endsWith(`.${types[0]}`)) imageName = imageName.slice(0, -(types[0].length + 1));
  values.imageName = resolve(imageName);
  return Object.freeze({ ...values, elements }) as BuildConfig;
}

async function build(config: BuildConfig, argv: string[], log: Logger): Promise<number> {
  const env = process.env;
  if (!config.elements.length) throw new UsageError('usage', 'At least one distribution root element must be specified', { hint: 'e.g. disk-image-create vm (base and the default OS are added), or debian-minimal vm' });
  for (const file of [config.logfile, config.eventsFile]) if (file && file !== '-') assertAppendable(String(file));
  const quiet = env.DIB_QUIET ?? (config.logfile ? '1' : '0');
  if (config.logfile) {
    const console = log.console;
    log.addSink(new HumanSink(fileLineWriter(String(config.logfile)), { timestamps: true }));
    process.stderr.write(`Output logs going to: ${config.logfile}\n`);
    if (console) console.quiet = quiet === '1';
  } else if (quiet === '1' && log.console) log.console.quiet = true;
  if (config.eventsFile) log.addSink(new NdjsonSink(String(config.eventsFile)));
  log.debugEnabled = config.debugTrace > 0;

  // Everything that can be decided without root, before anything is created.
  const mirrors = readHostMirrors();
  const requested = buildElementList(config.elements, { skipBase: config.skipBase });
  log.info(`Building elements: ${requested.join(' ')}`);
  const selection = selectElements(requested, {
    elementsPath: env.ELEMENTS_PATH,
    defaultOsElement: String(config.defaultOsElement),
    defaultBlockDevice: defaultBlockDeviceFor(config.arch),
  });
  selection.warnings.forEach((w) => log.warn(w));
  log.info(`Expanded element dependencies to: ${selection.elements.map((e) => e.name).join(' ')}`);
  const extra: Record<string, string> = {};
  if (mirrors.mirror) extra.DIB_HOST_DEBIAN_MIRROR = mirrors.mirror;
  if (mirrors.securityMirror) extra.DIB_HOST_DEBIAN_SECURITY_MIRROR = mirrors.securityMirror;
  extra.DIB_TS_NODE = process.execPath;
  extra.DIB_TS_LIB = resolve(dirname(new URL(import.meta.url).pathname), '..');
  const elementsPath = [env.ELEMENTS_PATH, selection.index.entries[selection.index.entries.length - 1]].filter(Boolean).join(':');
  const secretNames = declaredSecretNames(selection.elements);
  const hookEnv = hookEnvironment({ config, elements: selection.elements, elementsPath, argv, callerEnv: env, extra, secretNames });
  const plan = planBuild(selection, hookEnv);
  const rootMkfsOptions = [
    config.fsType === 'ext4' ? `-i 4096 -J size=${config.mkfsJournalSize}` : '',
    Number(config.maxOnlineResize) > 0 ? `-E resize=${config.maxOnlineResize}` : '',
    String(config.mkfsOptions ?? ''),
  ].filter(Boolean).join(' ');
  const source = chooseLayoutSource({ config: String(config.blockDeviceConfig), elements: selection.elements, arch: config.arch });
  const layout = parseLayout(source.text, source.source, { fsType: String(config.fsType), rootLabel: String(config.rootLabel), mkfsOptions: rootMkfsOptions });
  preflight(config, plan.elements.map((e) => e.name), layout.filesystems.map((f) => f.type), mirrors.mirror ?? env.DIB_DISTRIBUTION_MIRROR ?? env.DIB_DEBIAN_DISTRIBUTION_MIRROR);

  const secrets = secretValuesOf(hookEnv, secretNames);
  for (const secret of secrets) log.redactor.add(secret);
  const guard = installSignalHandlers(log);
  const runner = new Runner(log, guard.signal, baseEnvironment());
  const ctx = new BuildContext(config, plan, layout, log, runner, guard.signal);
  Object.assign(ctx.env, hookEnv);
  ctx.secrets = secrets;
  const started = Date.now();
  let primary: unknown;
  try {
    await cleanupStaleBuilds(runner, log, String(config.tmpDir || '/tmp'));
    lockOutput(hookEnv.DIB_LOCKFILES, ctx.outputStem, ctx.stack);
    const result = await runBuild(ctx);
    for (const out of result.outputs) log.emit({ type: 'result', message: `Image file ${out} created...`, data: { path: out } });
  } catch (error) {
    primary = guard.received ? new InterruptedError(guard.received) : error;
  }
  const failures = await ctx.stack.unwind((label) => log.debug(`cleanup: ${label}`));
  guard.dispose();
  if (primary === undefined && failures.length) primary = new DibError(`cleanup failed after a successful build`, 1, { details: failures.map((f) => `${f.label}: ${String(f.error)}`) });
  else attachCleanupFailures(primary, failures);
  process.stderr.write(renderTimingTable(ctx.hookTimings));
  if (primary !== undefined) throw primary;
  log.info(`Build completed successfully in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  if (!config.verify) return 0;
  const image = config.imageTypes.includes('qcow2') ? `${config.imageName}.qcow2` : config.imageTypes.includes('raw') ? `${config.imageName}.raw` : undefined;
  if (!image) throw new UsageError('usage', '--verify needs a qcow2 or raw output', { hint: 'add qcow2 or raw to -t' });
  const { verifyAndReport } = await import('./image-verify.js');
  return verifyAndReport({
    image, tmpDir: String(config.tmpDir || '/tmp'), seed: 'config-drive', user: 'debian', timeoutSeconds: 900, memoryMiB: 1024,
    diskBytes: 4 * 1024 ** 3, offlineOnly: false, uefi: false, elementDirs: new Map(plan.elements.map((e) => [e.name, e.path])), only: [],
  }, log);
}

/** --logfile / --events must be writable before the build starts (not a crash on the first log line). */
function assertAppendable(file: string): void {
  try {
    appendFileSync(file, '');
  } catch (error) {
    throw new UsageError('invalid-output', `cannot write ${file} (${(error as NodeJS.ErrnoException).code ?? error})`, { hint: 'give --logfile/--events a path in an existing, writable directory' });
  }
}

/** Checks that need no side effects: root, host tools (with their Debian package), output path, mirror. */
function preflight(config: BuildConfig, elements: string[], fsTypes: string[], mirror: string | undefined): void {
  const problems: UsageError[] = [];
  if (process.getuid?.() !== 0) problems.push(new UsageError('not-root', 'disk-image-create must run as root (it uses chroot, mount and loop devices)', { hint: 'run it with sudo' }));
  const tools = new Set(['losetup', 'sfdisk', 'partx', 'mount', 'umount', 'chroot', 'fstrim', 'bash', 'cp', 'du']);
  for (const t of config.imageTypes) if (!['raw', 'tar', 'tgz', 'squashfs'].includes(t)) tools.add('qemu-img');
  if (config.imageTypes.includes('squashfs')) tools.add('mksquashfs');
  for (const fs of fsTypes) tools.add(fs === 'vfat' ? 'mkfs.vfat' : fs === 'swap' ? 'mkswap' : `mkfs.${fs}`);
  if (elements.includes('debootstrap')) tools.add('debootstrap');
  if (config.verify) for (const t of ['qemu-system-x86_64', 'xorriso', 'ssh', 'ssh-keygen', 'blkid']) tools.add(t);
  for (const tool of tools) {
    if (!whichTool(tool)) {
      const pkg = packageForTool(tool);
      problems.push(new UsageError('missing-tool', `${tool} is not installed`, { hint: pkg ? `apt-get install ${pkg}` : `install ${tool}` }));
    }
  }
  const stem = String(config.imageName);
  const dir = dirname(stem);
  if (stem === '/' || stem.endsWith('/')) problems.push(new UsageError('invalid-output', `output name '${stem}' is a directory, not a file stem`, { hint: 'use -o DIR/NAME' }));
  else if (!existsSync(dir)) problems.push(new UsageError('invalid-output', `output directory ${dir} does not exist`, { hint: `create it: mkdir -p ${dir}` }));
  else {
    try {
      accessSync(dir, constants.W_OK);
    } catch {
      problems.push(new UsageError('invalid-output', `output directory ${dir} is not writable`, { hint: 'choose another -o or fix the permissions' }));
    }
    for (const t of config.imageTypes) {
      const path = `${stem}.${t}`;
      if (existsSync(path) && !statSync(path).isFile()) problems.push(new UsageError('invalid-output', `output ${path} exists and is not a regular file`, { hint: 'choose another -o' }));
    }
  }
  if (elements.includes('debootstrap') && !mirror) {
    problems.push(new UsageError('no-mirror', 'no Debian mirror: the host apt configuration names none and DIB_DISTRIBUTION_MIRROR is not set', { hint: 'set DIB_DISTRIBUTION_MIRROR=http://your.mirror/debian' }));
  }
  throwIfProblems(problems);
}
