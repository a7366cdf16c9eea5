// `element-info`: DIB-compatible element expansion, plus --json and --plan.
import yargs from 'yargs';
import { UsageError } from '../core/errors.js';
import { shellQuote } from '../core/text.js';
import type { Logger } from '../core/log.js';
import type { PreparedBuild } from '../build/prepare.js';
import { type FlagValues, makeConfig } from '../config/settings.js';
import { type ElementSelection, selectElements } from '../elements/select.js';

export async function runElementInfo(argv: string[], log: Logger): Promise<number> {
  const args = await yargs(argv)
    .scriptName('element-info')
    .usage(
      '$0 [options] ELEMENT...\n\nExpand ELEMENT... with their dependencies, searching ELEMENTS_PATH (first entry wins) and then the shipped elements.',
    )
    .option('env', {
      alias: 'e',
      type: 'boolean',
      default: false,
      describe: 'print IMAGE_ELEMENT, IMAGE_ELEMENT_YAML and get_image_element_array for eval (like DIB)',
    })
    .option('json', { type: 'boolean', default: false, describe: 'print the elements (or with --plan, the plan) as JSON' })
    .option('plan', {
      type: 'boolean',
      default: false,
      describe:
        'print the build plan disk-image-create would use: base added unless -n, hooks per phase with their element, environment files, packages',
    })
    .option('skip-base', { alias: 'n', type: 'boolean', default: false, describe: 'with --plan: do not add base' })
    .option('arch', { alias: 'a', type: 'string', describe: "with --plan: target architecture (default: ARCH or the host's)" })
    .option('strict', { type: 'boolean', default: false, describe: 'with --plan: what DIB ignores is an error (exit 2), not a warning' })
    .strictOptions()
    .version(false)
    .help()
    .fail((msg, err) => {
      throw err ?? new UsageError('usage', msg, { hint: 'see element-info --help' });
    })
    .parseAsync();
  const elements = args._.map(String);
  if (!elements.length) throw new UsageError('usage', 'at least one element is required', { hint: 'e.g. element-info debian-minimal vm' });

  const env = process.env;
  const defaultOsElement = env.DIB_DEFAULT_OS_ELEMENT ?? 'debian';
  if (args.plan) {
    // The same configuration and the same preparation disk-image-create executes.
    const flags: FlagValues = { skipBase: args.skipBase || undefined, arch: args.arch, strict: args.strict || undefined };
    const config = makeConfig(elements, flags, env);
    const { prepareBuild } = await import('../build/prepare.js');
    const prepared = prepareBuild(config, { argv: ['element-info', ...argv], env });
    prepared.plan.warnings.forEach((w) => log.warn(w));
    process.stdout.write(args.json ? JSON.stringify(planToJson(prepared), null, 2) + '\n' : renderPlan(prepared));
    return 0;
  }
  const selection = selectElements(elements, { elementsPath: env.ELEMENTS_PATH, defaultOsElement });
  selection.warnings.forEach((w) => log.warn(w));
  if (args.json) process.stdout.write(JSON.stringify(selectionToJson(selection), null, 2) + '\n');
  else if (args.env) process.stdout.write(await renderEnv(selection));
  else process.stdout.write(selection.elements.map((e) => e.name).join(' ') + '\n');
  return 0;
}

/** The three things DIB's `--env` prints for the engine to eval. */
export async function renderEnv(selection: ElementSelection): Promise<string> {
  const { stringify } = await import('yaml');
  const names = selection.elements.map((e) => e.name);
  const yamlMap: Record<string, string> = {};
  for (const e of [...selection.elements].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) yamlMap[e.name] = e.path;
  const yamlText = stringify(yamlMap, { lineWidth: 0 });
  const array = selection.elements.map((e) => `[${e.name}]=${e.path} `).join('');
  return [
    `export IMAGE_ELEMENT=${shellQuote(names.join(' '), { always: true })}`,
    `export IMAGE_ELEMENT_YAML=${shellQuote(yamlText, { always: true })}`,
    'function get_image_element_array {',
    `  echo "${array}"`,
    '};',
    'export -f get_image_element_array;',
    '',
  ].join('\n');
}

export function selectionToJson(selection: ElementSelection) {
  return {
    elements: selection.elements.map((e) => ({ name: e.name, path: e.path, deps: e.deps, provides: e.provides, pulledBy: e.pulledBy })),
    providedBy: Object.fromEntries([...selection.providedBy].sort()),
    warnings: selection.warnings,
  };
}

export function planToJson(prepared: PreparedBuild) {
  const { plan } = prepared;
  return {
    ...selectionToJson(plan),
    environmentFiles: plan.environmentFiles.map((f) => ({
      name: f.name,
      element: f.element,
      path: f.path || null,
      generated: f.content !== undefined,
    })),
    phases: plan.phases.map((p) => ({
      phase: p.phase.name,
      dir: p.phase.dir,
      inChroot: p.phase.inChroot,
      hooks: p.hooks.map((h) => ({ name: h.name, element: h.element, path: h.path, ...(h.link ? { link: h.link } : {}) })),
      ignored: p.ignored.map((i) => ({ name: i.entry.name, element: i.entry.element, reason: i.reason })),
    })),
    packages: {
      squashed: plan.packages.squashed,
      decidedAtRunTime: plan.packages.decidedAtRunTime.map((e) => ({
        package: e.package,
        element: e.element,
        phase: e.phase,
        when: e.when,
        installtype: e.installtype ?? null,
      })),
    },
    layout: {
      source: prepared.layout.source,
      filesystems: prepared.layout.filesystems.map((f) => ({ name: f.name, type: f.type, label: f.label })),
      mounts: prepared.layout.mounts.map((m) => m.mountPoint),
    },
    outputs: prepared.outputs.map((o) => ({ type: o.type.name, path: o.path, from: o.type.source })),
    withheldOutputs: prepared.withheldOutputs.map((o) => ({ type: o.type.name, path: o.path, reason: 'no-final-image' })),
  };
}

export function renderPlan(prepared: PreparedBuild): string {
  const { plan } = prepared;
  const lines: string[] = [];
  lines.push(`Elements (${plan.elements.length}, in order):`);
  for (const e of plan.elements)
    lines.push(
      `  ${e.name.padEnd(28)} ${e.pulledBy === '(command line)' ? 'requested' : `via ${e.pulledBy}`}${e.provides.length ? `  provides ${e.provides.join(', ')}` : ''}`,
    );
  lines.push('', 'Environment files (sourced before every hook, in this order):');
  for (const f of plan.environmentFiles) lines.push(`  ${f.name.padEnd(40)} ${f.element}`);
  for (const p of plan.phases) {
    lines.push(
      '',
      `Phase ${p.phase.name} (${p.phase.dir}, ${p.phase.inChroot ? 'in chroot' : 'outside the image'}): ${p.hooks.length} hook${p.hooks.length === 1 ? '' : 's'}`,
    );
    for (const h of p.hooks) lines.push(`  ${h.name.padEnd(40)} ${h.element}${h.link ? ` (install type: ${h.link})` : ''}`);
    for (const i of p.ignored) lines.push(`  (${i.entry.name}: not run, ${i.reason.replace(/-/g, ' ')}; ${i.entry.element})`);
    const pk = plan.packages.squashed[p.phase.dir];
    if (pk?.install.length) lines.push(`  packages installed: ${pk.install.map(([n, e]) => `${n} (${e})`).join(', ')}`);
    if (pk?.uninstall.length) lines.push(`  packages removed at the end: ${pk.uninstall.map(([n, e]) => `${n} (${e})`).join(', ')}`);
  }
  if (plan.packages.decidedAtRunTime.length) {
    lines.push('', 'Packages decided again after environment.d is sourced (conditions on variables):');
    for (const e of plan.packages.decidedAtRunTime)
      lines.push(
        `  ${e.package} (${e.element}, ${e.phase}): ${[...e.when, ...(e.installtype ? [`installtype ${e.installtype}`] : [])].join(', ') || 'dib_python_version'}`,
      );
  }
  lines.push('', `Disk layout (${prepared.layout.source}):`);
  for (const f of prepared.layout.filesystems)
    lines.push(
      `  ${f.type} ${f.label}${prepared.layout.mounts
        .filter((m) => m.base === f.name)
        .map((m) => ` on ${m.mountPoint}`)
        .join('')}`,
    );
  lines.push('', 'Outputs:');
  for (const o of prepared.outputs) lines.push(`  ${o.path} (${o.type.name}, from the ${o.type.source})`);
  for (const o of prepared.withheldOutputs) lines.push(`  ${o.path} (${o.type.name}): not written, no-final-image is among the elements`);
  return lines.join('\n') + '\n';
}
