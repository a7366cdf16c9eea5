// Text helpers: values read from user YAML/JSON for messages, and shell words for commands we print.

export function scalarText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === undefined) return '';
  return JSON.stringify(value);
}

/** One shell word: unquoted when it is safe as is (unless `always`), else single-quoted. */
export function shellQuote(arg: string, options: { always?: boolean } = {}): string {
  if (!options.always && /^[A-Za-z0-9_./:=@%+,-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}
