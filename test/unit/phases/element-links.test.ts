// The ELEMENTS_PATH hooks see: one link per chosen element, so a shadowed copy is invisible to them.
import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_RUN_PARTS_REGEX } from '../../../src/elements/hooks.js';
import { planBuild, selectElements } from '../../../src/elements/plan.js';
import { writeElementLinks } from '../../../src/phases/hook-runner.js';
import { el, tempDir, writeTree } from '../../helpers/tree.js';

const dir = tempDir('dib-ts-links-');
afterAll(() => dir.remove());

describe('hooks get an ELEMENTS_PATH with each chosen element exactly once', () => {
  it('a user copy shadowing another: the links directory holds only the chosen copy of each element', () => {
    const user = join(dir.path, 'user');
    const team = join(dir.path, 'team');
    writeTree(user, { 'my-os': el(['shared'], ['operating-system'], { 'package-installs.yaml': 'user-pkg:\n' }) });
    writeTree(team, {
      'my-os': el([], ['operating-system'], { 'package-installs.yaml': 'shadowed-pkg:\n' }),
      shared: el([], [], { 'package-installs.yaml': 'shared-pkg:\n' }),
      unused: el(),
    });
    const selection = selectElements(['my-os'], { elementsPath: `${user}:${team}`, builtinDir: null });
    expect(selection.warnings.join('\n')).toContain(`Element ${join(user, 'my-os')} overrides ${join(team, 'my-os')}`);
    const plan = planBuild(selection, { env: {}, runPartsRegex: DEFAULT_RUN_PARTS_REGEX, installType: 'source' });
    const links = writeElementLinks(plan, join(dir.path, 'elements'));
    expect(readdirSync(links).sort()).toEqual(['my-os', 'shared']);
    expect(readlinkSync(join(links, 'my-os'))).toBe(join(user, 'my-os'));
    expect(readlinkSync(join(links, 'shared'))).toBe(join(team, 'shared'));
    // The plan's own packages never include the shadowed copy's either.
    expect(plan.packages.entries.map((e) => e.package).sort()).toEqual(['shared-pkg', 'user-pkg']);
  });
});
