// Read /proc/self/mountinfo: which mounts exist at or below a path (the guard for every removal).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
}

/** Octal escapes in mountinfo (\040 for space, ...). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function readMounts(file = '/proc/self/mountinfo'): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    out.push({ mountPoint: unescape(fields[4]), fsType: fields[sep + 1], source: unescape(fields[sep + 2] ?? '') });
  }
  return out;
}

/** Mounts at `path` or below it, deepest first (the order to unmount them in). */
export function mountsBelow(path: string, includeSelf = true, mountinfo?: string): MountEntry[] {
  const base = resolve(path);
  const prefix = base.endsWith('/') ? base : `${base}/`;
  return readMounts(mountinfo)
    .filter((m) => (includeSelf && m.mountPoint === base) || m.mountPoint.startsWith(prefix))
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length || (a.mountPoint < b.mountPoint ? 1 : -1));
}

export function isMountPoint(path: string, mountinfo?: string): boolean {
  const base = resolve(path);
  return readMounts(mountinfo).some((m) => m.mountPoint === base);
}
