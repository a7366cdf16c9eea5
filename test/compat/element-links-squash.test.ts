// Upstream's package-installs-squash (used when a user's tree supplies DIB's package-installs) reads every
// copy of an element on the --path it is given. With the ELEMENTS_PATH our hooks get (one link per chosen
// element) it sees only the chosen copy; with the search path itself it mixes in the shadowed one.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_RUN_PARTS_REGEX } from '../../src/elements/hooks.js';
import { planBuild, selectElements } from '../../src/elements/plan.js';
import { writeElementLinks } from '../../src/phases/hook-runner.js';
import { dibElementsDir } from '../helpers/dib.js';
import { el, tempDir, writeTree } from '../helpers/tree.js';

const dir = tempDir('dib-ts-squash-');
afterAll(() => dir.remove());

function upstreamSquash(elements: string, path: string): string[] {
  const outFile = join(dir.path, `squash-${Math.random().toString(36).slice(2)}.json`);
  execFileSync(
    '/usr/bin/python3',
    [join(dibElementsDir(), 'package-installs', 'bin', 'package-installs-squash'), `--elements=${elements}`, `--path=${path}`, outFile],
    { env: { PATH: process.env.PATH, ARCH: 'amd64' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const squashed = JSON.parse(readFileSync(outFile, 'utf8')) as Record<string, { install: Array<[string, string]> }>;
  return (squashed['install.d']?.install ?? []).map(([p]) => p).sort();
}

describe("upstream package-installs-squash over the hooks' ELEMENTS_PATH", () => {
  it('sees only the chosen copy of a shadowed element', () => {
    const user = join(dir.path, 'user');
    const team = join(dir.path, 'team');
    writeTree(user, { 'my-os': el(['shared'], ['operating-system'], { 'package-installs.yaml': 'user-pkg:\n' }) });
    writeTree(team, {
      'my-os': el([], ['operating-system'], { 'package-installs.yaml': 'shadowed-pkg:\n' }),
      shared: el([], [], { 'package-installs.yaml': 'shared-pkg:\n' }),
    });
    const selection = selectElements(['my-os'], { elementsPath: `${user}:${team}`, builtinDir: null });
    const plan = planBuild(selection, { env: {}, runPartsRegex: DEFAULT_RUN_PARTS_REGEX, installType: 'source' });
    const links = writeElementLinks(plan, join(dir.path, 'elements'));
    const names = plan.elements.map((e) => e.name).join(' ');
    expect(upstreamSquash(names, `${user}:${team}`)).toEqual(['shadowed-pkg', 'shared-pkg', 'user-pkg']);
    expect(upstreamSquash(names, links)).toEqual(['shared-pkg', 'user-pkg']);
  });
});
