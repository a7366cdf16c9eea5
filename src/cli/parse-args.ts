// getopt-compatible argument handling for disk-image-create: unambiguous long-option prefixes.
import { UsageError } from '../core/errors.js';

/**
 * Expand unambiguous prefixes of long options (`--off` → `--offline`), like GNU getopt.
 * Exact names win; an ambiguous prefix is a usage error naming the candidates.
 */
export function expandLongOptionPrefixes(argv: string[], longNames: string[], shortFlags = '', shortWithValue = ''): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (/^-[^-]/.test(arg) && arg.length > 2 && (shortFlags || shortWithValue)) {
      out.push(...splitShortGroup(arg, shortFlags, shortWithValue));
      continue;
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
    else if (candidates.length > 1)
      throw new UsageError('usage', `option '--${name}' is ambiguous; possibilities: ${candidates.map((c) => `--${c}`).join(' ')}`, {
        hint: 'type more of the option name',
      });
    else throw new UsageError('usage', `unrecognized option '--${name}'`, { hint: 'see disk-image-create --help' });
  }
  return out;
}

/** getopt short groups: `-xuofoo` is `-x -u -o foo`; a value-taking letter consumes the rest. */
function splitShortGroup(arg: string, flags: string, withValue: string): string[] {
  const out: string[] = [];
  for (let i = 1; i < arg.length; i++) {
    const c = arg[i];
    if (withValue.includes(c)) {
      out.push(`-${c}`);
      if (i + 1 < arg.length) out.push(arg.slice(i + 1));
      return out;
    }
    if (!flags.includes(c)) throw new UsageError('usage', `invalid option -- '${c}'`, { hint: 'see disk-image-create --help' });
    out.push(`-${c}`);
  }
  return out;
}
