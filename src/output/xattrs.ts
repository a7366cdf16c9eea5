// Extended attributes of a tree, read with one `getfattr` run (Node has no xattr API): which ones a
// container layer carries, and the parser for getfattr's `-d -e hex` dump.
import type { Runner } from '../core/exec.js';

/**
 * Carried: user.* (application data), security.capability (file capabilities: ping and friends work
 * without setuid) and POSIX ACLs. Not carried: security.selinux/ima/evm (labels and signatures belong
 * to the host's policy and keys; the container runtime labels the files it unpacks) and trusted.*
 * (needs CAP_SYS_ADMIN to restore; overlayfs keeps its own state there).
 */
export const CARRIED_XATTRS = '^(user\\..*|security\\.capability|system\\.posix_acl_access|system\\.posix_acl_default)$';

/** Attributes by path relative to `root` (as the walk names them: `etc/shadow`, no leading `./`). */
export type XattrMap = Map<string, Array<[string, Buffer]>>;

/** The carried attributes of `paths` (relative to `root`, recursively, never through a link). */
export async function readXattrs(runner: Runner, root: string, paths: string[]): Promise<XattrMap> {
  if (paths.length === 0) return new Map();
  const out = await runner.run(
    [
      'getfattr',
      '--absolute-names',
      '--recursive',
      '--physical',
      '--no-dereference',
      '--dump',
      '--encoding=hex',
      '--match',
      CARRIED_XATTRS,
      ...paths.map((p) => `${root}/${p}`),
    ],
    { capture: true },
  );
  const prefix = `${root}/`;
  const map: XattrMap = new Map();
  for (const [file, attrs] of parseGetfattr(out.stdout)) {
    if (!file.startsWith(prefix)) continue;
    map.set(file.slice(prefix.length), attrs);
  }
  return map;
}

/**
 * getfattr's dump: `# file: NAME` then `attr=0xHEX` lines, a blank line between files. Names escape
 * backslash, newline, `=` and other unsafe bytes as `\ooo`; an empty value prints as `0x` (or nothing).
 */
export function parseGetfattr(text: string): Array<[string, Array<[string, Buffer]>]> {
  const files: Array<[string, Array<[string, Buffer]>]> = [];
  let current: Array<[string, Buffer]> | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = [];
      files.push([unescapeOctal(line.slice('# file: '.length)), current]);
    } else if (line !== '' && current) {
      const eq = line.indexOf('=');
      const name = unescapeOctal(eq < 0 ? line : line.slice(0, eq));
      const raw = eq < 0 ? '' : line.slice(eq + 1);
      current.push([name, decodeValue(raw)]);
    }
  }
  return files;
}

function decodeValue(raw: string): Buffer {
  if (raw === '' || raw === '""') return Buffer.alloc(0);
  if (/^0x([0-9a-fA-F]{2})*$/.test(raw)) return Buffer.from(raw.slice(2), 'hex');
  throw new Error(`getfattr printed a value that is not hex: ${raw.slice(0, 40)}`);
}

/** `\ooo` escapes back to bytes, then UTF-8 (file names were checked to be UTF-8 by the walk). */
function unescapeOctal(s: string): string {
  if (!s.includes('\\')) return s;
  const bytes: number[] = [];
  const raw = Buffer.from(s, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const octal = raw[i] === 0x5c ? /^[0-7]{3}/.exec(raw.subarray(i + 1, i + 4).toString('latin1')) : null;
    if (octal) {
      bytes.push(parseInt(octal[0], 8));
      i += 3;
    } else bytes.push(raw[i]);
  }
  return Buffer.from(bytes).toString('utf8');
}
