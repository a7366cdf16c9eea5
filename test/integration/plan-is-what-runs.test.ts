// Root-only: a real build's events against `element-info --plan --json` for the same list — the hooks
// run per phase (order and owner) and the environment files the runner really sourced (seen in -xx output).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { NO_LEAKS, findLeaks } from '../helpers/leaks.js';

const CACHE = process.env.DIB_TS_TEST_CACHE ?? '/var/tmp/dib-ts-test-cache';
const root = `/var/tmp/dib-ts-plan-${process.pid}`;
const ELEMENTS = ['vm', 'heat-cfntools', 'stackuser', 'local-config', 'cloud-init', 'growroot'];

interface PlanJson {
  environmentFiles: Array<{ name: string }>;
  phases: Array<{ phase: string; inChroot: boolean; hooks: Array<{ name: string; element: string }> }>;
}
type Event = { type: string; phase?: string; element?: string; hook?: string; label?: string; line?: string };

beforeAll(() => mkdirSync(join(root, 'tmp'), { recursive: true }));
afterAll(() => {
  if (!findLeaks(root).mounts.length) rmSync(root, { recursive: true, force: true });
});

describe('the plan is what runs', () => {
  it('vm heat-cfntools stackuser local-config cloud-init growroot: hooks per phase (order, owner) and sourced environment files equal element-info --plan', async () => {
    const env = { TMP_DIR: join(root, 'tmp'), DIB_DEBUG_TRACE: '2' };
    const info = await runCli('element-info', ['--plan', '--json', ...ELEMENTS], env);
    expect(info.status).toBe(0);
    const plan = JSON.parse(info.stdout) as PlanJson;
    const events = join(root, 'events.ndjson');
    // --no-cache: every hook must run here (another build's shareable root.d in the shared cache would be reused).
    const r = await runCli(
      'disk-image-create',
      ['--image-cache', CACHE, '--no-cache', '--uncompressed', '--events', events, '-o', join(root, 'img'), ...ELEMENTS],
      env,
      {
        timeout: 1_800_000,
      },
    );
    expect(r.stderr.slice(-2000)).toContain('Build completed successfully');
    const list = readFileSync(events, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Event);
    expect(list.filter((e) => e.type === 'plan-amendment')).toEqual([]);
    const ran = new Map<string, string[]>();
    for (const e of list.filter((x) => x.type === 'hook-start'))
      ran.set(e.phase!, [...(ran.get(e.phase!) ?? []), `${e.element}/${e.hook}`]);
    const planned = new Map(plan.phases.filter((p) => p.hooks.length).map((p) => [p.phase, p.hooks.map((h) => `${h.element}/${h.name}`)]));
    expect(Object.fromEntries(ran)).toEqual(Object.fromEntries(planned));
    // Every hook's runner sourced exactly the plan's environment files, in order.
    const wanted = plan.environmentFiles.map((f) => f.name);
    const sourced = new Map<string, string[]>();
    for (const e of list.filter((x) => x.type === 'output' && /^dib-run-parts Sourcing environment file /.test(x.line ?? ''))) {
      sourced.set(e.label!, [...(sourced.get(e.label!) ?? []), e.line!.split('/').pop()!]);
    }
    const hooksRun = [...ran.values()].flat().length;
    expect(sourced.size).toBe(hooksRun);
    for (const [label, files] of sourced) expect({ label, files }).toEqual({ label, files: wanted });
    expect(findLeaks(root)).toEqual(NO_LEAKS);
  });
});
