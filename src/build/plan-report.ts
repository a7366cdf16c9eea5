// The plan as element-info --plan shows it: human text, or JSON for tools (the same PreparedBuild the build runs).
import type { PreparedBuild } from './prepare.js';
import { selectionToJson } from '../elements/select-json.js';

export function planToJson(prepared: PreparedBuild) {
  const { plan } = prepared;
  return {
    ...selectionToJson(plan),
    environmentFiles: plan.environmentFiles.map((f) => ({
      name: f.name,
      element: f.element,
      path: f.path || null,
      generated: f.content !== undefined,
    })),
    phases: plan.phases.map((p) => ({
      phase: p.phase.name,
      dir: p.phase.dir,
      inChroot: p.phase.inChroot,
      hooks: p.hooks.map((h) => ({ name: h.name, element: h.element, path: h.path, ...(h.link ? { link: h.link } : {}) })),
      ignored: p.ignored.map((i) => ({ name: i.entry.name, element: i.entry.element, reason: i.reason })),
    })),
    packages: {
      squashed: plan.packages.squashed,
      decidedAtRunTime: plan.packages.decidedAtRunTime.map((e) => ({
        package: e.package,
        element: e.element,
        phase: e.phase,
        when: e.when,
        installtype: e.installtype ?? null,
      })),
    },
    layout: {
      source: prepared.layout.source,
      filesystems: prepared.layout.filesystems.map((f) => ({ name: f.name, type: f.type, label: f.label })),
      mounts: prepared.layout.mounts.map((m) => m.mountPoint),
    },
    outputs: prepared.outputs.map((o) => ({ type: o.type.name, path: o.path, from: o.type.source, madeBy: o.type.madeBy ?? null })),
    withheldOutputs: prepared.withheldOutputs.map((o) => ({ type: o.type.name, path: o.path, reason: 'no-final-image' })),
  };
}

export function renderPlan(prepared: PreparedBuild): string {
  const { plan } = prepared;
  const lines: string[] = [];
  lines.push(`Elements (${plan.elements.length}, in order):`);
  for (const e of plan.elements)
    lines.push(
      `  ${e.name.padEnd(28)} ${e.pulledBy === '(command line)' ? 'requested' : `via ${e.pulledBy}`}${e.provides.length ? `  provides ${e.provides.join(', ')}` : ''}`,
    );
  lines.push('', 'Environment files (sourced before every hook, in this order):');
  for (const f of plan.environmentFiles) lines.push(`  ${f.name.padEnd(40)} ${f.element}`);
  for (const p of plan.phases) {
    lines.push(
      '',
      `Phase ${p.phase.name} (${p.phase.dir}, ${p.phase.inChroot ? 'in chroot' : 'outside the image'}): ${p.hooks.length} hook${p.hooks.length === 1 ? '' : 's'}`,
    );
    for (const h of p.hooks) lines.push(`  ${h.name.padEnd(40)} ${h.element}${h.link ? ` (install type: ${h.link})` : ''}`);
    for (const i of p.ignored) lines.push(`  (${i.entry.name}: not run, ${i.reason.replace(/-/g, ' ')}; ${i.entry.element})`);
    const pk = plan.packages.squashed[p.phase.dir];
    if (pk?.install.length) lines.push(`  packages installed: ${pk.install.map(([n, e]) => `${n} (${e})`).join(', ')}`);
    if (pk?.uninstall.length) lines.push(`  packages removed at the end: ${pk.uninstall.map(([n, e]) => `${n} (${e})`).join(', ')}`);
  }
  if (plan.packages.decidedAtRunTime.length) {
    lines.push('', 'Packages decided again after environment.d is sourced (conditions on variables):');
    for (const e of plan.packages.decidedAtRunTime)
      lines.push(
        `  ${e.package} (${e.element}, ${e.phase}): ${[...e.when, ...(e.installtype ? [`installtype ${e.installtype}`] : [])].join(', ') || 'dib_python_version'}`,
      );
  }
  lines.push('', `Disk layout (${prepared.layout.source}):`);
  for (const f of prepared.layout.filesystems)
    lines.push(
      `  ${f.type} ${f.label}${prepared.layout.mounts
        .filter((m) => m.base === f.name)
        .map((m) => ` on ${m.mountPoint}`)
        .join('')}`,
    );
  lines.push('', 'Outputs:');
  for (const o of prepared.outputs)
    lines.push(`  ${o.path} (${o.type.name}, from the ${o.type.source}${o.type.madeBy ? `, for the ${o.type.madeBy} element` : ''})`);
  for (const o of prepared.withheldOutputs) lines.push(`  ${o.path} (${o.type.name}): not written, no-final-image is among the elements`);
  return lines.join('\n') + '\n';
}
