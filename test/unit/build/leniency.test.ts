// prepareBuild where DIB is lenient (warnings; exit 2 under --strict / DIB_STRICT) and no-final-image
// (disk outputs withheld, tree outputs kept).
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { prepareBuild } from '../../../src/build/prepare.js';
import { renderPlan } from '../../../src/build/plan-report.js';
import { type FlagValues, makeConfig } from '../../../src/config/settings.js';
import { el, tempDir, writeTree } from '../../helpers/tree.js';

const dir = tempDir('dib-ts-lenient-');
afterAll(() => dir.remove());
const elements = join(dir.path, 'elements');
const apt = join(dir.path, 'apt');
writeTree(apt, { 'sources.list': 'deb http://deb.example.org/debian bookworm main\n' });
writeTree(elements, {
  'my-os': el([], ['operating-system']),
  'odd-packages': el([], [], { 'package-installs.yaml': 'curl:\n  colour: red\nwget:\n  phase: finalise.d\n' }),
});

function prepare(names: string[], env: Record<string, string> = {}, flags: FlagValues = {}) {
  const full = { ELEMENTS_PATH: elements, PATH: process.env.PATH, ...env };
  const config = makeConfig(names, { skipBase: true, ...flags }, full);
  return prepareBuild(config, { argv: names, env: full, aptRoot: apt });
}

describe('leniency where DIB is lenient; --strict / DIB_STRICT makes it exit 2', () => {
  it('unknown package-installs keys and phases are warnings of the plan', () => {
    const p = prepare(['my-os', 'odd-packages']);
    expect(p.plan.warnings).toEqual(
      expect.arrayContaining([expect.stringMatching(/'curl'\.colour: unknown key/), expect.stringMatching(/'wget'\.phase: 'finalise\.d'/)]),
    );
    expect(p.plan.packages.squashed['install.d'].install).toEqual([['curl', 'odd-packages']]);
  });
  for (const [how, env, flags] of [
    ['--strict', {}, { strict: true }],
    ['DIB_STRICT=1', { DIB_STRICT: '1' }, {}],
  ] as const) {
    it(`${how}: the same problems, all of them, as one exit-2 error`, () => {
      let error: unknown;
      try {
        prepare(['my-os', 'odd-packages'], env, flags);
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ exitCode: 2 });
      expect((error as Error).message).toMatch(/2 problems found[\s\S]*colour[\s\S]*finalise\.d/);
    });
  }
  it('--strict without such problems changes nothing', () => expect(prepare(['my-os'], {}, { strict: true }).plan.lenient).toEqual([]));
});

describe('no-final-image', () => {
  it('among the elements: the disk outputs are withheld (and the plan says so), tree outputs stay', () => {
    const p = prepare(['my-os', 'no-final-image'], {}, { imageTypes: ['qcow2,tar'] });
    expect(p.outputs.map((o) => o.type.name)).toEqual(['tar']);
    expect(p.withheldOutputs.map((o) => o.type.name)).toEqual(['qcow2']);
    expect(renderPlan(p)).toMatch(/\.qcow2 \(qcow2\): not written, no-final-image is among the elements/);
  });
  it('absent: every output is written', () => {
    const p = prepare(['my-os'], {}, { imageTypes: ['qcow2,tar'] });
    expect(p.outputs.map((o) => o.type.name)).toEqual(['qcow2', 'tar']);
    expect(p.withheldOutputs).toEqual([]);
  });
});
