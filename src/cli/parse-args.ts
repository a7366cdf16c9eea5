// getopt-compatible argument handling for disk-image-create: unambiguous long-option prefixes.
import { UsageError } from '../core/errors.js';

/**
 * Expand unambiguous prefixes of long options (`--off` → `--offline`), like GNU getopt.
 * Exact names win; an ambiguous prefix is a usage error naming the candidates.
 */
export function expandLongOptionPrefixes(argv: string[], longNames: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (!arg.startsWith('--') || arg.length === 2) {
      out.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const rest = eq < 0 ? '' : arg.slice(eq);
    if (longNames.includes(name)) {
      out.push(arg);
      continue;
    }
    const candidates = longNames.filter((n) => n.startsWith(name));
    if (candidates.length === 1) out.push(`--${candidates[0]}${rest}`);
    else if (candidates.length > 1) throw new UsageError('usage', `option '--${name}' is ambiguous; possibilities: ${candidates.map((c) => `--${c}`).join(' ')}`, { hint: 'type more of the option name' });
    else throw new UsageError('usage', `unrecognized option '--${name}'`, { hint: 'see disk-image-create --help' });
  }
  return out;
}
