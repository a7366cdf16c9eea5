// `disk-image-create`: DIB's flags (yargs, from the settings table) → the typed configuration → the build.
import yargs, { type Options } from 'yargs';
import { type BuildConfig, type FlagValues, SETTINGS, makeConfig } from '../config/settings.js';
import { UsageError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { expandLongOptionPrefixes } from './parse-args.js';

export const VERSION = '0.1.0';

export async function runDiskImageCreateCommand(argv: string[], log: Logger): Promise<number> {
  const config = await parseDiskImageCreateArgs(argv, process.env);
  if (config === 'help' || config === 'version') return 0;
  const { runDiskImageCreate } = await import('../build/run.js');
  return runDiskImageCreate(config, argv, log);
}

/** Parse flags over environment defaults; returns 'help'/'version' after printing them. */
export async function parseDiskImageCreateArgs(argv: string[], env: NodeJS.ProcessEnv): Promise<BuildConfig | 'help' | 'version'> {
  const flagged = SETTINGS.filter((s) => s.flag);
  const isSwitch = (kind: string) => kind === 'boolean' || kind === 'count';
  const expanded = expandLongOptionPrefixes(
    argv,
    [
      ...flagged.map((s) => s.flag!),
      ...flagged.filter((s) => s.kind === 'boolean' && s.default === true).map((s) => `no-${s.flag}`),
      'help',
      'version',
    ],
    flagged
      .filter((s) => s.short && isSwitch(s.kind))
      .map((s) => s.short)
      .join('') + 'h',
    flagged
      .filter((s) => s.short && !isSwitch(s.kind))
      .map((s) => s.short)
      .join(''),
    flagged.filter((s) => !isSwitch(s.kind)).map((s) => s.flag!),
    Object.fromEntries(flagged.filter((s) => s.short && !isSwitch(s.kind)).map((s) => [s.short!, s.flag!])),
  );
  let parser = yargs(expanded)
    .scriptName('disk-image-create')
    .usage(
      '$0 [options] ELEMENT...\n\nBuild a disk image from ELEMENT... (base is added unless -n). Elements are searched on ELEMENTS_PATH, then the shipped elements.',
    )
    .parserConfiguration({
      'short-option-groups': true,
      'camel-case-expansion': false,
      'duplicate-arguments-array': true,
      'strip-aliased': true,
    })
    .strictOptions()
    .version(false)
    .help(false)
    .option('help', { alias: 'h', type: 'boolean', describe: 'show this help' })
    .option('version', { type: 'boolean', describe: 'print the version' })
    .fail((msg, err) => {
      throw err ?? new UsageError('usage', msg, { hint: 'see disk-image-create --help' });
    })
    .wrap(Math.min(120, process.stdout.columns || 100));
  for (const s of flagged) {
    const opt: Options = {
      describe: `${s.help}${s.env ? ` [${s.env}]` : ''}`,
      hidden: s.hidden,
      requiresArg: !isSwitch(s.kind),
      type: s.kind === 'boolean' ? 'boolean' : s.kind === 'count' ? 'count' : s.kind === 'list' ? 'array' : 'string',
    };
    if (s.short) opt.alias = s.short;
    if (s.kind === 'list') opt.nargs = 1;
    parser = parser.option(s.flag!, opt);
  }
  const environmentOnly = SETTINGS.filter((s) => !s.flag && s.env).map((s) => `  ${s.env!.padEnd(24)} ${s.help}`);
  parser = parser.epilog(`Environment variables (also every variable an element documents):\n${environmentOnly.join('\n')}`);
  const args = await parser.parseAsync();
  if (args.help) {
    process.stdout.write(`${await parser.getHelp()}\n`);
    return 'help';
  }
  if (args.version) {
    process.stdout.write(`${VERSION}\n`);
    return 'version';
  }
  const flags: FlagValues = {};
  for (const s of flagged) {
    const raw = args[s.flag!];
    // A boolean that is on by default is turned off with --no-FLAG (yargs' negation: false).
    const negated = raw === false && s.default === true && expanded.includes(`--no-${s.flag}`);
    if (!negated && (raw === undefined || raw === false || (s.kind === 'count' && raw === 0))) continue;
    if (s.kind === 'list') flags[s.key] = (raw as unknown[]).map(String);
    else if (s.kind === 'boolean' || s.kind === 'count') flags[s.key] = raw as boolean | number;
    else flags[s.key] = String(Array.isArray(raw) ? raw[raw.length - 1] : raw);
  }
  return makeConfig(args._.map(String), flags, env);
}
