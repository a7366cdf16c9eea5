// getopt-compatible argument handling for disk-image-create: unambiguous long-option prefixes.
import { UsageError } from '../core/errors.js';

/**
 * Expand unambiguous prefixes of long options (`--off` → `--offline`), like GNU getopt.
 * Exact names win; an ambiguous prefix is a usage error naming the candidates. The word after a
 * value-taking option (`longWithValue`, `shortWithValue`) is its value, whatever it looks like
 * (`--mkfs-options '-s size=4096'`).
 */
export function expandLongOptionPrefixes(
  argv: string[],
  longNames: string[],
  shortFlags = '',
  shortWithValue = '',
  longWithValue: string[] = [],
  /** Value-taking short letters → their long names. */
  shortNames: Record<string, string> = {},
): string[] {
  const out: string[] = [];
  const takesValue = (word: string | undefined) =>
    !!word &&
    ((word.startsWith('--') && !word.includes('=') && longWithValue.includes(word.slice(2))) ||
      (/^-[^-]$/.test(word) && shortWithValue.includes(word[1])));
  let isValue = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--' && !isValue) {
      out.push(...argv.slice(i));
      break;
    }
    if (isValue) {
      // One word, `--name=value`: yargs would take a value that starts with '-' for an option.
      const option = out.pop()!;
      out.push(`${option.startsWith('--') ? option : `--${shortNames[option[1]] ?? option[1]}`}=${arg}`);
      isValue = false;
      continue;
    }
    const words = expandOne(arg, longNames, shortFlags, shortWithValue);
    out.push(...words);
    isValue = takesValue(words[words.length - 1]);
  }
  return out;
}

function expandOne(arg: string, longNames: string[], shortFlags: string, shortWithValue: string): string[] {
  if (/^-[^-]/.test(arg) && arg.length > 2 && (shortFlags || shortWithValue)) return splitShortGroup(arg, shortFlags, shortWithValue);
  if (!arg.startsWith('--') || arg.length === 2) return [arg];
  const eq = arg.indexOf('=');
  const name = arg.slice(2, eq < 0 ? undefined : eq);
  const rest = eq < 0 ? '' : arg.slice(eq);
  if (longNames.includes(name)) return [arg];
  const candidates = longNames.filter((n) => n.startsWith(name));
  if (candidates.length === 1) return [`--${candidates[0]}${rest}`];
  if (candidates.length > 1)
    throw new UsageError('usage', `option '--${name}' is ambiguous; possibilities: ${candidates.map((c) => `--${c}`).join(' ')}`, {
      hint: 'type more of the option name',
    });
  throw new UsageError('usage', `unrecognized option '--${name}'`, { hint: 'see disk-image-create --help' });
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
