// What hooks really see: the variables after the hook runner sources the plan's environment files. Read
// once before root.d (on the host, as extra-data.d hooks would see them, untraced) for the run-time
// decisions DIB makes after sourcing: secrets that environment.d exports, DIB_INSTALLTYPE_* links.
import { join } from 'node:path';
import type { BuildContext } from '../build/context.js';
import { throwIfProblems } from '../core/errors.js';
import { HOOK_RUNNER } from './hook-runner.js';

const MARK = '__DIB_TS_ENVIRONMENT__';

export async function sourcedEnvironment(ctx: BuildContext): Promise<Record<string, string>> {
  const argv = ['bash', join(ctx.hooksDir, HOOK_RUNNER), ctx.hooksDir, 'bash', '-c', `printf '\\0${MARK}\\0'; exec env -0`];
  const r = await ctx.runner.run(argv, { env: { ...ctx.env, DIB_DEBUG_TRACE: '0' }, capture: true, cwd: ctx.workDir });
  const env: Record<string, string> = {};
  const body = r.stdout.slice(r.stdout.lastIndexOf(`\0${MARK}\0`) + MARK.length + 2);
  for (const pair of body.split('\0')) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

/**
 * Secrets exported by environment.d files: redacted in every sink (traces included) and scanned for
 * at the end; weak values are refused now, before any hook ran.
 */
export function adoptEnvironmentSecrets(ctx: BuildContext, sourced: Record<string, string>): void {
  const added = Object.fromEntries(Object.entries(sourced).filter(([k, v]) => ctx.env[k] !== v));
  throwIfProblems(ctx.prepared.secretPolicy.weakValueProblems(added, 'exported by environment.d'));
  for (const value of ctx.prepared.secretPolicy.values(added)) {
    ctx.log.redactor.add(value);
    if (!ctx.secrets.includes(value)) ctx.secrets.push(value);
  }
}
