// Text for values read from user YAML/JSON: scalars as written, anything else as JSON (never "[object Object]").

export function scalarText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === undefined) return '';
  return JSON.stringify(value);
}
