// ONE preparation, pure (no side effects, no root): typed configuration in, the build plan out.
// `element-info --plan` prints it; `disk-image-create` executes it.
import { dirname, resolve } from 'node:path';
import type { BuildConfig } from '../config/settings.js';
import { type HostMirrors, readHostMirrors } from '../config/host-apt.js';
import { type Layout, chooseLayoutSource, parseLayout } from '../disk/layout.js';
import { needsEfiPad, requestedImageBytes } from '../disk/sizing.js';
import { validateLayout } from '../disk/validate.js';
import { type BuildPlan, buildElementList, defaultBlockDeviceFor, planBuild, selectElements } from '../elements/plan.js';
import { throwIfProblems } from '../core/errors.js';
import { whichTool } from '../core/tools.js';
import { type OutputType, elementOutputTypes, outputPath, outputType } from '../output/types.js';
import { layoutVariables } from './dib-contract.js';
import { hookEnvironment } from './environment.js';
import { SecretPolicy } from './secrets.js';
import { type CacheInputs, readCacheInputs } from '../cache/inputs.js';

export interface PlannedOutput {
  type: OutputType;
  path: string;
}

export interface PreparedBuild {
  config: BuildConfig;
  /** The element list after disk-image-create's pre-processing (base added unless skipped). */
  requested: string[];
  plan: BuildPlan;
  layout: Layout;
  /** The block-device YAML the layout was read from (written to the work directory, as DIB does). */
  layoutText: string;
  /** Root mkfs options the layout was made with. */
  rootMkfsOptions: string;
  outputs: PlannedOutput[];
  /** Disk outputs not written because `no-final-image` is among the elements (DIB's rule). */
  withheldOutputs: PlannedOutput[];
  /** The variables every hook sees (before environment.d), in a stable order. */
  hookEnv: Record<string, string>;
  /** Values redacted from every sink and scanned for in the image (environment.d adds more at run time). */
  secrets: string[];
  secretPolicy: SecretPolicy;
  mirrors: HostMirrors;
  /** What the phase cache keys beyond the hooks: element files, declared inputs (cache-inputs). */
  cacheInputs: CacheInputs;
}

export interface PrepareOptions {
  /** The command line, as DIB_ARGS shows it to hooks. */
  argv: string[];
  /** The caller's environment (hooks inherit it unless -c). */
  env: NodeJS.ProcessEnv;
  /** Host apt configuration root (tests). */
  aptRoot?: string;
}

export function prepareBuild(config: BuildConfig, options: PrepareOptions): PreparedBuild {
  const mirrors = readHostMirrors(options.aptRoot);
  const requested = buildElementList([...config.elements], { skipBase: config.skipBase });
  const selection = selectElements(requested, {
    elementsPath: config.elementsPath || undefined,
    defaultOsElement: config.defaultOsElement,
    defaultBlockDevice: defaultBlockDeviceFor(config.arch),
  });
  const extra: Record<string, string> = {};
  if (mirrors.mirror) extra.DIB_HOST_DEBIAN_MIRROR = mirrors.mirror;
  if (mirrors.securityMirror) extra.DIB_HOST_DEBIAN_SECURITY_MIRROR = mirrors.securityMirror;
  extra.DIB_TS_NODE = process.execPath;
  extra.DIB_TS_LIB = resolve(dirname(new URL(import.meta.url).pathname), '..');
  // DIB's engine contract: the shell library elements source ($_LIB/die, img-functions, ...) and the
  // host's python for hooks that run outside the image.
  extra._LIB = resolve(dirname(new URL(import.meta.url).pathname), '..', '..', 'lib');
  const python = options.env.DIB_PYTHON_EXEC || whichTool('python3', '/usr/bin:/bin');
  if (python) extra.DIB_PYTHON_EXEC = python;
  const elementsPath = selection.index.entries.join(':');
  const secretPolicy = SecretPolicy.forElements(selection.elements, config.notSecrets);
  const hookEnv = hookEnvironment({
    config,
    elements: selection.elements,
    elementsPath,
    argv: options.argv,
    callerEnv: options.env,
    extra,
    secrets: secretPolicy,
  });
  throwIfProblems(secretPolicy.weakValueProblems(hookEnv, 'from the environment'));
  const plan = planBuild(selection, { env: hookEnv, runPartsRegex: config.runPartsRegex, installType: config.installType });
  // What DIB ignores is a warning (in plan.warnings), or with --strict / DIB_STRICT an exit-2 error.
  if (config.strict) throwIfProblems(plan.lenient);
  const rootMkfsOptions = [
    config.fsType === 'ext4' ? `-i 4096 -J size=${config.mkfsJournalSize}` : '',
    config.maxOnlineResize > 0 ? `-E resize=${config.maxOnlineResize}` : '',
    config.mkfsOptions,
  ]
    .filter(Boolean)
    .join(' ');
  const source = chooseLayoutSource({ config: config.blockDeviceConfig, elements: selection.elements, arch: config.arch });
  const layout = parseLayout(source.text, source.source, {
    fsType: config.fsType,
    rootLabel: config.rootLabel,
    mkfsOptions: rootMkfsOptions,
  });
  // Every layout problem that can end in exit 2, --image-size against the fixed partitions included.
  validateLayout(layout, {
    imageSizeBytes: requestedImageBytes({ imageSizeGiB: config.imageSize, hasEfi: needsEfiPad(plan.elements.map((e) => e.name)) }),
  });
  // DIB exports these right after choosing the layout, before root.d: hooks of every phase see them.
  Object.assign(hookEnv, layoutVariables(layout));
  const planned = [
    ...config.imageTypes.map((t) => ({ type: outputType(t), path: outputPath(config.imageName, t) })),
    // The files elements ask for (baremetal's NAME.vmlinuz and NAME.initrd): outputs like the others.
    ...elementOutputTypes(plan.elements.map((e) => e.name)).map((type) => ({ type, path: outputPath(config.imageName, type.name) })),
  ];
  // DIB: with no-final-image every phase runs and the tree outputs are written, the disk is not converted.
  const noFinalImage = plan.elements.some((e) => e.name === 'no-final-image');
  const outputs = planned.filter((o) => !noFinalImage || o.type.source === 'tree');
  const withheldOutputs = planned.filter((o) => !outputs.includes(o));
  return {
    config,
    requested,
    plan,
    layout,
    layoutText: source.text,
    rootMkfsOptions,
    outputs,
    withheldOutputs,
    hookEnv,
    secrets: secretPolicy.values(hookEnv),
    secretPolicy,
    mirrors,
    cacheInputs: readCacheInputs(plan),
  };
}
