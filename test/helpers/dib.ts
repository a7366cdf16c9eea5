// Helpers for comparing with upstream diskimage-builder (Debian's python3-diskimage-builder).
import { execFileSync } from 'node:child_process';

export function dibElementsDir(): string {
  try {
    return execFileSync('/usr/bin/python3', [
      '-c',
      'import diskimage_builder, os; print(os.path.join(os.path.dirname(diskimage_builder.__file__), "elements"))',
    ])
      .toString()
      .trim();
  } catch {
    return '/usr/lib/python3/dist-packages/diskimage_builder/elements';
  }
}

/** Small seeded PRNG so "random" element lists are the same on every run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
