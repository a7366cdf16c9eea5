// DIB's size grammar (1024-based *iB, 1000-based KB/MB/GB/TB and bare letters, bytes, N%).

export type Size = { bytes: number } | { percent: number };

const UNITS: Record<string, number> = {
  TiB: 1024 ** 4,
  GiB: 1024 ** 3,
  MiB: 1024 ** 2,
  KiB: 1024,
  TB: 1000 ** 4,
  GB: 1000 ** 3,
  MB: 1000 ** 2,
  KB: 1000,
  T: 1000 ** 4,
  G: 1000 ** 3,
  M: 1000 ** 2,
  K: 1000,
  B: 1,
  '': 1,
};

/** Parse a size; returns null when the text is not a size (or is too big to count in bytes exactly). */
export function parseSize(value: unknown, allowPercent = true): Size | null {
  if (typeof value === 'number') return Number.isSafeInteger(Math.floor(value)) && value >= 0 ? { bytes: Math.floor(value) } : null;
  if (typeof value !== 'string') return null;
  const text = value.trim();
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(text);
  if (pct) return allowPercent && Number(pct[1]) > 0 && Number(pct[1]) <= 100 ? { percent: Number(pct[1]) } : null;
  const m = /^(\d+(?:\.\d+)?)?\s*(TiB|GiB|MiB|KiB|TB|GB|MB|KB|T|G|M|K|B|)$/.exec(text);
  if (!m || (m[1] === undefined && m[2] === '')) return null;
  const n = m[1] === undefined ? 1 : Number(m[1]);
  const bytes = Math.floor(n * UNITS[m[2]]);
  return Number.isSafeInteger(bytes) ? { bytes } : null;
}

export const MiB = 1024 * 1024;
export const KiB = 1024;
