// `element-info`: DIB-compatible element expansion, plus --json and --plan.
import yargs from 'yargs';
import { UsageError } from '../core/errors.js';
import { shellQuote } from '../core/text.js';
import type { Logger } from '../core/log.js';
import { planToJson, renderPlan } from '../build/plan-report.js';
import { selectionToJson } from '../elements/select-json.js';
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
