// What docker and BOSH accept, checked before the build: the validators, the settings rows that use
// them (exit 2 with a hint), the combination checks of preflight, and getfattr's dump format.
import { describe, expect, it } from 'vitest';
import { makeConfig } from '../../../src/config/settings.js';
import { UsageError, ValidationErrors } from '../../../src/core/errors.js';
import { outputProblems } from '../../../src/output/checks.js';
import { dockerReferenceProblem, stemcellNameProblem, stemcellVersionProblem, withTag } from '../../../src/output/names.js';
import { outputType } from '../../../src/output/types.js';
import { parseGetfattr } from '../../../src/output/xattrs.js';

describe('docker references', () => {
  it.each(['debian', 'debian:bookworm', 'cloud/debian-12:2024.05_1', 'localhost/img', 'registry.example:5000/a/b:v1', 'a__b', 'a---b'])(
    '%s is a tag docker loads under',
    (ref) => expect(dockerReferenceProblem(ref)).toBeUndefined(),
  );
  it.each(['Debian', 'my image', 'img:', 'img:-x', 'a/B/c', 'img@sha256:abc', 'img:' + 'x'.repeat(129), '-img', 'a_-b'])(
    '%s is refused',
    (ref) => expect(dockerReferenceProblem(ref)).toEqual(expect.any(String)),
  );
  it('no tag means :latest; a registry port is not a tag', () => {
    expect([withTag('img'), withTag('img:v1'), withTag('reg:5000/img')]).toEqual(['img:latest', 'img:v1', 'reg:5000/img:latest']);
  });
});

describe('BOSH stemcell names and versions', () => {
  it.each(['0.0.1', '1', '1.42', '621.5-rc.1', '1.0-alpha+dev.2', '1_000', '3586.100'])('version %s is semi-semantic', (v) =>
    expect(stemcellVersionProblem(v)).toBeUndefined(),
  );
  it.each(['', '1..2', '1.', 'v 1', '1.0-', '1+', '1/2', '1.0-a-b.'])('version "%s" is refused', (v) =>
    expect(stemcellVersionProblem(v)).toEqual(expect.any(String)),
  );
  it('names: no slash (the director keys name/version), no blanks', () => {
    expect(stemcellNameProblem('bosh-openstack-kvm-debian-bookworm-go_agent')).toBeUndefined();
    expect([stemcellNameProblem('a/b'), stemcellNameProblem('a b'), stemcellNameProblem('-a')]).toEqual([
      expect.any(String),
      expect.any(String),
      expect.any(String),
    ]);
  });
});

describe('the settings rows (exit 2 before the build)', () => {
  const problems = (env: Record<string, string>, flags = {}) => {
    try {
      makeConfig(['vm'], flags, env);
      return [];
    } catch (error) {
      if (error instanceof ValidationErrors) return error.problems.map((p) => `${p.message} | ${p.hint}`);
      if (error instanceof UsageError) return [`${error.message} | ${error.hint}`];
      throw error;
    }
  };
  it('a bad --docker-target, DIB_STEMCELL_NAME and DIB_STEMCELL_VERSION are all reported at once, each with a hint', () => {
    expect(problems({ DIB_STEMCELL_NAME: 'my/stemcell', DIB_STEMCELL_VERSION: '1..0' }, { dockerTarget: 'My Image' })).toEqual([
      expect.stringMatching(/^--docker-target 'My Image': .* \| e\.g\. --docker-target /),
      expect.stringMatching(/^DIB_STEMCELL_NAME 'my\/stemcell': .* \| e\.g\. DIB_STEMCELL_NAME=/),
      expect.stringMatching(/^DIB_STEMCELL_VERSION '1\.\.0': .* \| e\.g\. DIB_STEMCELL_VERSION=/),
    ]);
  });
  it('defaults: no docker target (NAME:latest later), stemcell version 0.0.1; DOCKER_TARGET from the environment', () => {
    const c = makeConfig(['vm'], {}, { DOCKER_TARGET: 'cloud/debian:12' });
    expect([c.dockerTarget, c.stemcellName, c.stemcellVersion]).toEqual(['cloud/debian:12', '', '0.0.1']);
  });
});

describe('combination checks (preflight)', () => {
  const request = (
    types: string[],
    more: { dockerTarget?: string; imageName?: string; elements?: string[]; partitionTable?: boolean } = {},
  ) =>
    outputProblems({
      outputs: types.map((t) => ({ type: outputType(t), path: `/out/x.${t}` })),
      dockerTarget: more.dockerTarget ?? '',
      imageName: more.imageName ?? '/out/debian-cloud',
      elements: more.elements ?? (types.includes('docker') ? ['debian'] : ['debian', 'vm']),
      partitionTable: more.partitionTable ?? !types.includes('docker'),
    }).map((p) => `${p.message} | ${p.hint}`);

  it('-t docker with -o "/out/My Image" and no --docker-target: the tag it would get is refused, the hint names the flag', () => {
    expect(request(['docker'], { imageName: '/out/My Image' })).toEqual([
      expect.stringMatching(/^-t docker would tag the image 'My Image:latest' \(from -o\): .*\| give the tag: --docker-target/),
    ]);
    expect(request(['docker'], { imageName: '/out/My Image', dockerTarget: 'my-image' })).toEqual([]);
    expect(request(['docker'])).toEqual([]);
  });

  it('no-final-image (no disk is made): ova, stemcell and vhd asked for are refused; tree types pass; the default qcow2 is dropped quietly as in DIB', () => {
    const elements = ['no-final-image', 'vm'];
    expect(request(['ova', 'stemcell', 'tar'], { elements })).toEqual([
      expect.stringMatching(/^-t ova,stemcell needs the disk image, .*no-final-image.* \| ask only for tree outputs/),
    ]);
    expect(request(['vhd'], { elements })).toHaveLength(1);
    expect(request(['docker', 'tar'], { elements: ['no-final-image'] })).toEqual([]);
    expect(request(['qcow2'], { elements })).toEqual([]);
    expect(request(['ova', 'stemcell', 'vhd'])).toEqual([]);
  });

  it('a partition image (no partition table): ova and stemcell are refused with a hint naming vm; raw, qcow2, vhd and vmdk of it pass', () => {
    expect(request(['ova', 'stemcell', 'raw'], { elements: ['debian', 'baremetal'], partitionTable: false })).toEqual([
      expect.stringMatching(
        /^-t ova,stemcell packages a disk that boots by itself, and this build makes a partition image .*\| add the vm element/,
      ),
    ]);
    expect(request(['raw', 'qcow2', 'vhd', 'vmdk'], { elements: ['debian', 'baremetal'], partitionTable: false })).toEqual([]);
  });

  it('docker with the vm element is refused (a container has no bootloader); docker without vm passes', () => {
    expect(request(['docker', 'qcow2'], { elements: ['debian', 'vm'], partitionTable: true })).toEqual([
      expect.stringMatching(
        /^-t docker makes a container image, and the vm element makes a bootable disk .*\| build the container from the same elements without vm/,
      ),
    ]);
    expect(request(['docker', 'tar'], { elements: ['debian'], partitionTable: false })).toEqual([]);
  });
});

describe('getfattr dump parsing', () => {
  it('octal escapes in file and attribute names, hex values, empty values', () => {
    const dump = [
      '# file: /t/a\\040b/nl\\012x',
      'user.k=0x76',
      '',
      '# file: /t/caf\u00e9',
      'security.capability=0x0100000280200000000000000000000000000000',
      'user.eq\\075x=0x31',
      'user.empty=0x',
      'user.bare',
      '',
    ].join('\n');
    expect(parseGetfattr(dump)).toEqual([
      ['/t/a b/nl\nx', [['user.k', Buffer.from('v')]]],
      [
        '/t/caf\u00e9',
        [
          ['security.capability', Buffer.from('0100000280200000000000000000000000000000', 'hex')],
          ['user.eq=x', Buffer.from('1')],
          ['user.empty', Buffer.alloc(0)],
          ['user.bare', Buffer.alloc(0)],
        ],
      ],
    ]);
  });
});
