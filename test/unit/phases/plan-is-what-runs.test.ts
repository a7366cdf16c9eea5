// The build runs what the plan lists: for every shipped element and for DIB's own elements tree, the
// hooks tree written from the plan gives, phase by phase, exactly the plan's hooks (no amendment), each
// runnable at the path the runner is given, and the runner's environment list is the plan's.
import { describe, expect, it } from 'vitest';
import { accessSync, constants, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BuildContext } from '../../../src/build/context.js';
import type { PreparedBuild } from '../../../src/build/prepare.js';
import type { Runner } from '../../../src/core/exec.js';
import { type LogEvent, Logger } from '../../../src/core/log.js';
import { DEFAULT_RUN_PARTS_REGEX } from '../../../src/elements/hooks.js';
import { planBuild, selectElements } from '../../../src/elements/plan.js';
import { builtinElementsDir } from '../../../src/elements/search-path.js';
import { ENVIRONMENT_LIST, writeHooksTree } from '../../../src/phases/hook-runner.js';
import { PHASES } from '../../../src/phases/phase-table.js';
import { hookArgv, hooksToRun } from '../../../src/phases/run-phase.js';
import { dibElementsDir } from '../../helpers/dib.js';
import { tempDir } from '../../helpers/tree.js';

/** Compare what the run would execute with the plan; returns the number of hooks checked. */
function compareRunWithPlan(
  requested: string[],
  options: { elementsPath: string | undefined; builtinDir?: null; defaultOsElement: string },
): number {
  const selection = selectElements(requested, { ...options, defaultBlockDevice: 'block-device-mbr' });
  const plan = planBuild(selection, { env: { ARCH: 'amd64' }, runPartsRegex: DEFAULT_RUN_PARTS_REGEX, installType: 'source' });
  const t = tempDir();
  try {
    writeHooksTree(plan, join(t.path, 'hooks'));
    const events: LogEvent[] = [];
    const log = new Logger();
    log.addSink({ write: (e) => events.push(e) });
    const prepared = { plan, hookEnv: {}, secrets: [], config: { runPartsRegex: DEFAULT_RUN_PARTS_REGEX } } as unknown as PreparedBuild;
    const ctx = new BuildContext(prepared, log, {} as Runner, new AbortController().signal);
    ctx.workDir = t.path;
    let count = 0;
    for (const phase of PHASES) {
      const planned = plan.phases.find((p) => p.phase.name === phase.name)!.hooks;
      const run = hooksToRun(ctx, phase);
      expect({ phase: phase.name, run: run.map((h) => `${h.element}/${h.name}`) }).toEqual({
        phase: phase.name,
        run: planned.map((h) => `${h.element}/${h.name}`),
      });
      for (const h of run) {
        const argv = hookArgv(ctx, phase, h.name);
        const onHost = phase.inChroot ? join(ctx.hooksDir, argv[argv.length - 1].replace('/tmp/in_target.d/', '')) : argv[argv.length - 1];
        accessSync(onHost, constants.X_OK);
        expect(readFileSync(onHost).equals(readFileSync(h.path))).toBe(true);
      }
      count += run.length;
    }
    expect(events.filter((e) => e.type === 'plan-amendment')).toEqual([]);
    expect(readFileSync(join(ctx.hooksDir, ENVIRONMENT_LIST), 'utf8').split('\n').filter(Boolean)).toEqual(
      plan.environmentFiles.map((f) => f.name),
    );
    return count;
  } finally {
    t.remove();
  }
}

describe('the plan is what runs (hooks tree written from the plan)', () => {
  const shipped = readdirSync(builtinElementsDir()).sort();
  for (const name of shipped) {
    it(`shipped element ${name} (with base and the default OS): every phase runs exactly the planned hooks`, () => {
      expect(compareRunWithPlan(['base', name], { elementsPath: undefined, defaultOsElement: 'debian' })).toBeGreaterThan(0);
    });
  }

  it("DIB's own elements tree: every element whose plan can be made runs exactly its planned hooks", () => {
    const dib = dibElementsDir();
    let planned = 0;
    let hooks = 0;
    const unplannable: string[] = [];
    for (const name of readdirSync(dib).sort()) {
      try {
        const selection = selectElements([name], {
          elementsPath: dib,
          builtinDir: null,
          defaultOsElement: 'debian-minimal',
          defaultBlockDevice: 'block-device-mbr',
        });
        planBuild(selection, { env: {}, runPartsRegex: DEFAULT_RUN_PARTS_REGEX, installType: 'source' });
      } catch {
        unplannable.push(name); // conflicts, missing providers or duplicate hooks, which DIB rejects too
        continue;
      }
      hooks += compareRunWithPlan([name], { elementsPath: dib, builtinDir: null, defaultOsElement: 'debian-minimal' });
      planned++;
    }
    console.log(`DIB tree: ${planned} elements planned and compared (${hooks} hooks); not plannable: ${unplannable.join(' ')}`);
    expect(planned).toBeGreaterThan(80);
    expect(hooks).toBeGreaterThan(500);
  }, 180_000); // ~110 elements with their whole closures: seconds alone, more while other test files run
});
