// Process entry: signals, run the command, map errors to exit codes (the only process.exit).
import { DibError, EXIT_BUILD, EXIT_INTERRUPTED, asDibError } from './core/errors.js';
import { HumanSink, Logger, stderrLineWriter, useColor } from './core/log.js';
import { debugRequested } from './config/settings.js';

export type CommandName = 'element-info' | 'disk-image-create' | 'image-verify' | 'diskimage-builder' | 'image-upload';

export async function main(command: CommandName, argv: string[]): Promise<never> {
  // Whoever reads our output may be gone (the family command died): a build still unwinds to the end.
  process.stderr.on('error', () => undefined);
  process.stdout.on('error', () => undefined);
  const log = new Logger();
  log.addSink(new HumanSink(stderrLineWriter, { color: useColor() }));
  const debug = debugRequested(argv);
  const end = argv.indexOf('--');
  const args = command === 'disk-image-create' ? argv : argv.filter((a, i) => a !== '--debug' || (end >= 0 && i > end));
  let code: number;
  try {
    code = await dispatch(command, args, log);
  } catch (error) {
    code = reportError(error, debug, (s) => log.redactor.apply(s));
  }
  log.close();
  process.exit(code);
}

async function dispatch(command: CommandName, argv: string[], log: Logger): Promise<number> {
  switch (command) {
    case 'element-info':
      return (await import('./cli/element-info.js')).runElementInfo(argv, log);
    case 'disk-image-create':
      return (await import('./cli/disk-image-create.js')).runDiskImageCreateCommand(argv, log);
    case 'image-verify':
      return (await import('./cli/image-verify.js')).runImageVerify(argv, log);
    case 'diskimage-builder':
      return (await import('./cli/diskimage-builder.js')).runDiskimageBuilder(argv, log);
    case 'image-upload':
      return (await import('./cli/image-upload.js')).runImageUpload(argv, log);
  }
}

/** Print `error: ...`, the hint on its own line, details; a stack only with --debug. */
export function reportError(thrown: unknown, debug: boolean, redact: (s: string) => string = (s) => s): number {
  const write = (s: string) => process.stderr.write(redact(s) + '\n');
  const error = asDibError(thrown);
  if (error instanceof DibError) {
    write(`error: ${error.message}`);
    for (const d of error.details) write(`  ${d}`);
    if (error.hint) for (const h of error.hint.split('\n')) write(`hint: ${h}`);
    for (const c of error.cleanupFailures) write(`cleanup: ${c}`);
    if (debug && error.stack) write(error.stack);
    return error.exitCode;
  }
  write(`error: ${error instanceof Error ? error.message : String(error)}`);
  write('hint: this is a bug in the tool; please report it with the output of --debug');
  if (debug && error instanceof Error && error.stack) write(error.stack);
  return error && (error as { name?: string }).name === 'AbortError' ? EXIT_INTERRUPTED : EXIT_BUILD;
}
