// DIB_INSTALLTYPE_* set by environment.d files: the plan made the install-type links from the variables
// known before the build; once environment.d can be sourced, the same rule runs again on the variables
// hooks really see, and any difference is applied to the hooks tree (reported as a plan amendment at install).
import { existsSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildContext } from '../build/context.js';
import { installTypeLinks } from '../elements/plan.js';

export function relinkInstallTypes(ctx: BuildContext, env: Record<string, string>): void {
  if (!ctx.plan.elements.some((e) => e.name === 'install-types')) return;
  const entries = [...(ctx.plan.tree.dirs.get('install.d')?.values() ?? [])];
  const wanted = installTypeLinks(entries, { env, installType: env.DIB_DEFAULT_INSTALLTYPE || ctx.config.installType });
  const planned = ctx.plan.phases.find((p) => p.phase.dir === 'install.d')!.hooks.filter((h) => h.link);
  const key = (h: { name: string; link?: string }) => `${h.name}\0${h.link}`;
  const wantedKeys = new Set(wanted.map(key));
  const plannedKeys = new Set(planned.map(key));
  const dir = join(ctx.hooksDir, 'install.d');
  for (const h of planned) if (!wantedKeys.has(key(h))) rmSync(join(dir, h.name), { force: true });
  for (const h of wanted) {
    if (plannedKeys.has(key(h))) continue;
    if (existsSync(join(dir, h.name))) rmSync(join(dir, h.name));
    symlinkSync(h.link!, join(dir, h.name));
  }
}
