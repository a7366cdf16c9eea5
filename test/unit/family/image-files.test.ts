// Image-family files: DIB's list format and TripleO's disk_images format, merged by their rules, and every bad
// input reported (all at once, with file, entry, key and line:column) as one exit-2 error.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { SETTINGS } from '../../../src/config/settings.js';
import { UsageError } from '../../../src/core/errors.js';
import { type ImageSpec, loadImageFiles } from '../../../src/family/image-files.js';
import { tempDir, writeTree } from '../../helpers/tree.js';

const t = tempDir('dib-ts-image-files-');
afterAll(() => t.remove());

let counter = 0;
/** Write each file (in order) under a fresh directory; return their paths. */
function write(files: Record<string, string>): string[] {
  const dir = join(t.path, String(++counter));
  writeTree(dir, files);
  return Object.keys(files).map((name) => join(dir, name));
}

function load(files: Record<string, string>) {
  return loadImageFiles(write(files));
}

function image(images: ImageSpec[], name: string): ImageSpec {
  const found = images.find((i) => i.name === name);
  if (!found) throw new Error(`no image ${name} in ${images.map((i) => i.name).join(', ')}`);
  return found;
}

/** The UsageError the files cause (fails the test when they load). */
function failure(paths: string[]): UsageError {
  try {
    loadImageFiles(paths);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error('the files loaded without a problem');
}

const failureOf = (files: Record<string, string>) => failure(write(files));

describe('DIB format', () => {
  it('turns one entry into our disk-image-create flags, positional elements and one expected file per type', () => {
    const { images, warnings } = load({
      'images.yaml': `
- imagename: web
  arch: amd64
  types: [qcow2, tar]
  elements: [debian-minimal, vm]
  uncompressed: true
  clear: true
  skip-base: true
  checksum: true
  image-size: 3
  mkfs-options: -s size=4096
  no-tmpfs: false
  install-type: package
  environment:
    DIB_RELEASE: bookworm
    DIB_IMAGE_SIZE: 6
    DIB_FLAG: true
`,
    });
    expect(warnings).toEqual([]);
    expect(images).toHaveLength(1);
    const web = images[0];
    expect(web.format).toBe('dib');
    expect(web.elements).toEqual(['debian-minimal', 'vm']);
    expect(web.flags).toEqual([
      '-a',
      'amd64',
      '-t',
      'qcow2,tar',
      '-u',
      '-c',
      '-n',
      '--checksum',
      '--image-size=3',
      '--mkfs-options=-s size=4096',
      '--install-type=package',
    ]);
    expect(web.env).toEqual({ DIB_RELEASE: 'bookworm', DIB_IMAGE_SIZE: '6', DIB_FLAG: 'true' });
    expect(web.types).toEqual(['qcow2', 'tar']);
    expect(web.outputName).toBe('web');
    expect(web.expectedFiles).toEqual(['web.qcow2', 'web.tar']);
    expect(web.origin).toMatch(/images\.yaml entry 1$/);
  });

  it('defaults to -t qcow2 and names squashfs outputs .squash like disk-image-create', () => {
    const { images } = load({ 'a.yaml': '- imagename: a\n  elements: [vm]\n- imagename: b\n  types: [squashfs, raw]\n  elements: [vm]\n' });
    expect(image(images, 'a').flags).toEqual(['-t', 'qcow2']);
    expect(image(images, 'a').types).toEqual(['qcow2']);
    expect(image(images, 'a').expectedFiles).toEqual(['a.qcow2']);
    expect(image(images, 'b').expectedFiles).toEqual(['b.squash', 'b.raw']);
  });

  it('merges entries without imagename into the previous one: lists appended, maps updated, scalars last wins, first-appearance order', () => {
    const { images } = load({
      'a.yaml': `
- imagename: one
  elements: [debian-minimal]
  packages: [curl]
  environment: {A: '1', B: '1'}
  image-size: 2
- imagename: two
  elements: [ubuntu-minimal]
- elements: [vm]
  packages: [vim]
  environment: {B: '2', C: '2'}
- imagename: one
  elements: [cloud-init]
  image-size: 5
`,
    });
    expect(images.map((i) => i.name)).toEqual(['one', 'two']);
    const one = image(images, 'one');
    expect(one.elements).toEqual(['debian-minimal', 'cloud-init']);
    expect(one.flags).toContain('--image-size=5');
    expect(one.flags).not.toContain('--image-size=2');
    expect(one.flags.slice(-2)).toEqual(['-p', 'curl']);
    expect(one.env).toEqual({ A: '1', B: '1' });
    expect(one.origin).toMatch(/a\.yaml entries 1, 4$/);
    const two = image(images, 'two');
    expect(two.elements).toEqual(['ubuntu-minimal', 'vm']);
    expect(two.env).toEqual({ B: '2', C: '2' });
    expect(two.flags.slice(-2)).toEqual(['-p', 'vim']);
  });

  it("names the image 'image' when the first entry has no imagename", () => {
    const { images } = load({ 'a.yaml': '- elements: [vm]\n- elements: [debian-minimal]\n' });
    expect(images.map((i) => [i.name, i.elements, i.expectedFiles])).toEqual([['image', ['vm', 'debian-minimal'], ['image.qcow2']]]);
  });

  it('concatenates files in argument order: an entry without imagename at the top of the second file continues the first file’s last image', () => {
    const { images } = load({ 'a.yaml': '- imagename: x\n  elements: [vm]\n', 'b.yaml': '- elements: [cloud-init]\n' });
    expect(images).toHaveLength(1);
    expect(images[0].elements).toEqual(['vm', 'cloud-init']);
    expect(images[0].origin).toMatch(/a\.yaml entry 1; .*b\.yaml entry 1$/);
  });

  it('writes debug-trace 2 as -x -x, qemu-img-options as one k=v list in the given order, packages as -p a,b', () => {
    const { images } = load({
      'a.yaml': `
- imagename: x
  elements: [vm]
  debug-trace: 2
  qemu-img-options: {compat: '0.10', cluster_size: 65536}
  packages: [curl, vim]
  docker-target: 'x:1'
`,
    });
    expect(images[0].flags).toEqual([
      '-t',
      'qcow2',
      '-x',
      '-x',
      '--docker-target=x:1',
      '--qemu-img-options=compat=0.10,cluster_size=65536',
      '-p',
      'curl,vim',
    ]);
  });

  it("emits only flags our disk-image-create declares (config/settings.ts), for every key of DIB's format", () => {
    const { images } = load({
      'a.yaml': `
- imagename: x
  elements: [vm]
  arch: arm64
  types: [qcow2]
  debug-trace: 1
  uncompressed: true
  clear: true
  logfile: /tmp/x.log
  checksum: true
  image-size: 3
  image-extra-size: 100
  image-cache: /tmp/cache
  max-online-resize: 1000
  min-tmpfs: 2
  mkfs-journal-size: 32
  mkfs-options: -O ^has_journal
  no-tmpfs: true
  offline: true
  root-label: root
  docker-target: x
  qemu-img-options: {compat: '1.1'}
  install-type: source
  packages: [vim]
  skip-base: true
`,
    });
    const flags = images[0].flags.filter((f) => f.startsWith('-')).map((f) => f.replace(/=.*/, ''));
    expect(flags).toHaveLength(22);
    const declared = new Set(SETTINGS.flatMap((s) => [s.flag && `--${s.flag}`, s.short && `-${s.short}`]).filter(Boolean));
    expect(flags.filter((f) => !declared.has(f))).toEqual([]);
  });
});

describe('TripleO format', () => {
  it('puts the distro first, writes -t TYPE, skip_base, docker_target and packages, then the shell-split options; other top-level keys are ignored', () => {
    const { images, warnings } = load({
      'overcloud.yaml': `
container_images: [whatever]
disk_images:
  - imagename: overcloud-full
    distro: centos
    arch: x86_64
    skip_base: true
    docker_target: oc:latest
    elements: [baremetal, dhcp-all-interfaces]
    packages: [python3, sudo]
    options:
      - "--min-tmpfs=7"
      - "--mkfs-options '-s size=4096' --image-size \\"3\\""
      - "--root-label $ROOT_LABEL"
    environment:
      FS_TYPE: xfs
      DIB_IMAGE_SIZE: '6'
`,
    });
    expect(warnings).toEqual([]);
    const oc = images[0];
    expect(oc.format).toBe('tripleo');
    expect(oc.elements).toEqual(['centos', 'baremetal', 'dhcp-all-interfaces']);
    expect(oc.flags).toEqual([
      '-a',
      'x86_64',
      '-t',
      'qcow2',
      '-n',
      '--docker-target=oc:latest',
      '-p',
      'python3,sudo',
      '--min-tmpfs=7',
      '--mkfs-options',
      '-s size=4096',
      '--image-size',
      '3',
      '--root-label',
      '$ROOT_LABEL',
    ]);
    expect(oc.env).toEqual({ FS_TYPE: 'xfs', DIB_IMAGE_SIZE: '6' });
    expect(oc.types).toEqual(['qcow2']);
    expect(oc.outputName).toBe('overcloud-full');
    expect(oc.expectedFiles).toEqual(['overcloud-full.qcow2']);
  });

  it('names the expected file NAME.IMAGEEXT, the extension defaulting to the type', () => {
    const { images } = load({
      'a.yaml': `
disk_images:
  - {imagename: ipa, distro: centos, type: raw, imageext: initramfs, elements: [ironic-python-agent-ramdisk]}
  - {imagename: plain, distro: centos, type: raw}
`,
    });
    expect(image(images, 'ipa').expectedFiles).toEqual(['ipa.initramfs']);
    expect(image(images, 'ipa').flags).toEqual(['-t', 'raw']);
    expect(image(images, 'plain').expectedFiles).toEqual(['plain.raw']);
  });

  it('merges two files by imagename: elements, options, packages appended, environment updated, a later scalar wins with a warning', () => {
    const [a, b] = write({
      'base.yaml': `
disk_images:
  - imagename: overcloud-full
    distro: centos
    type: qcow2
    elements: [baremetal]
    options: ["--min-tmpfs=7"]
    packages: [python3]
    environment: {FS_TYPE: ext4, KEEP: '1'}
`,
      'centos9.yaml': `
disk_images:
  - imagename: overcloud-full
    distro: centos9
    type: qcow2
    elements: [interface-names]
    options: ["--mkfs-options '-s size=4096'"]
    packages: [sudo]
    environment: {FS_TYPE: xfs}
`,
    });
    const { images, warnings } = loadImageFiles([a, b]);
    expect(images).toHaveLength(1);
    const oc = images[0];
    expect(oc.elements).toEqual(['centos9', 'baremetal', 'interface-names']);
    expect(oc.flags).toEqual(['-t', 'qcow2', '-p', 'python3,sudo', '--min-tmpfs=7', '--mkfs-options', '-s size=4096']);
    expect(oc.env).toEqual({ FS_TYPE: 'xfs', KEEP: '1' });
    expect(oc.origin).toBe(`${a}, ${b}`);
    // Same value twice (type) is no override; a different one is, naming image, key, both values and both files.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("image 'overcloud-full'");
    expect(warnings[0]).toContain("'distro' is 'centos' in");
    expect(warnings[0]).toContain(`${a}:4:13`);
    expect(warnings[0]).toContain(`'centos9' in ${b}:4:13`);
    expect(warnings[0]).toContain('later file wins');
  });

  it('takes the distro from another file of the same image', () => {
    const { images } = load({
      'a.yaml': 'disk_images:\n  - {imagename: x, elements: [vm]}\n',
      'b.yaml': 'disk_images:\n  - {imagename: x, distro: debian}\n',
    });
    expect(images[0].elements).toEqual(['debian', 'vm']);
  });
});

describe('files in both formats', () => {
  it('loads each format’s images, the format of the earlier file first', () => {
    const { images } = load({
      'tripleo.yaml': 'disk_images:\n  - {imagename: t, distro: debian}\n',
      'dib.yaml': '- imagename: d\n  elements: [vm]\n',
    });
    expect(images.map((i) => [i.name, i.format])).toEqual([
      ['t', 'tripleo'],
      ['d', 'dib'],
    ]);
  });

  it('reports an imagename defined in both formats', () => {
    const e = failureOf({
      'dib.yaml': '- imagename: same\n  elements: [vm]\n',
      'tripleo.yaml': 'disk_images:\n  - {imagename: same, distro: debian}\n',
    });
    expect(e.details).toHaveLength(1);
    expect(e.details[0]).toMatch(/image 'same' is defined in both formats \(DIB: .*dib\.yaml entry 1; TripleO: .*tripleo\.yaml\)/);
  });
});

describe('bad image files: one exit-2 error naming every problem', () => {
  it('names a missing file', () => {
    const missing = join(t.path, 'nope.yaml');
    const e = failure([missing]);
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe('1 problem in image files');
    expect(e.details).toEqual([`${missing}: no such file`]);
  });

  it('gives the line and column of a YAML syntax error', () => {
    const [path] = write({ 'bad.yaml': '- imagename: x\n  elements: [vm\n- imagename: y\n' });
    const e = failure([path]);
    expect(e.details).toHaveLength(1);
    expect(e.details[0]).toMatch(new RegExp(`^${path}:\\d+:\\d+: YAML syntax error: `));
    const other = failure(write({ 'dup.yaml': '- imagename: x\n  imagename: y\n' }));
    expect(other.details[0]).toMatch(/dup\.yaml:2:3: YAML syntax error: .*unique/i);
  });

  it('reports an empty file', () => {
    const e = failureOf({ 'empty.yaml': '# nothing here\n' });
    expect(e.details[0]).toMatch(/empty\.yaml: the file is empty$/);
  });

  it('reports a list entry that is not a map, with its entry number and position', () => {
    const e = failureOf({ 'a.yaml': '- imagename: x\n  elements: [vm]\n- just-a-string\n' });
    expect(e.details).toHaveLength(1);
    expect(e.details[0]).toMatch(/a\.yaml:3:3: entry 2: the entry must be a map, not the string 'just-a-string'$/);
  });

  it('names file, entry, imagename, key and line:column of an unknown key, and lists the known keys in the hint', () => {
    const e = failureOf({ 'a.yaml': '- imagename: x\n  elements: [vm]\n- imagename: web\n  elements: [vm]\n  foo: 1\n' });
    expect(e.details).toHaveLength(1);
    expect(e.details[0]).toMatch(/a\.yaml:5:3: entry 2 \(imagename web\): unknown key 'foo'$/);
    expect(e.hint).toContain('imagename, arch, types');
    const tripleo = failureOf({ 'b.yaml': 'disk_images:\n  - imagename: oc\n    distro: centos\n    image_type: qcow2\n' });
    expect(tripleo.details[0]).toMatch(/b\.yaml:4:5: disk_images entry 1 \(imagename oc\): unknown key 'image_type'$/);
    expect(tripleo.hint).toContain('skip_base');
  });

  it('reports wrong value types and values in words, at the value', () => {
    const e = failureOf({
      'a.yaml': `
- imagename: x
  elements: vm
  arch: sparc
  debug-trace: 3
  environment: {A: [1]}
  packages: [curl, 5]
`,
    });
    expect(e.details).toEqual([
      expect.stringMatching(/a\.yaml:3:13: entry 1 \(imagename x\): 'elements' must be a list, not the string 'vm'$/),
      expect.stringMatching(/a\.yaml:4:9: entry 1 \(imagename x\): 'arch' must be one of aarch64, amd64, .*, not 'sparc'$/),
      expect.stringMatching(/a\.yaml:5:16: entry 1 \(imagename x\): 'debug-trace' must be <= 2$/),
      expect.stringMatching(
        /a\.yaml:6:20: entry 1 \(imagename x\): 'environment.A' must be a string or a number or true or false, not a list$/,
      ),
      expect.stringMatching(/a\.yaml:7:20: entry 1 \(imagename x\): 'packages' item 2 must be a string, not 5$/),
    ]);
    expect(e.message).toBe('5 problems in image files');
  });

  it('rejects an imagename that is not a plain file name', () => {
    const e = failureOf({ 'a.yaml': '- imagename: ../escape\n  elements: [vm]\n' });
    expect(e.details[0]).toMatch(/a\.yaml:1:14: entry 1 \(imagename \.\.\/escape\): 'imagename' '\.\.\/escape' must be a file name/);
  });

  it('reports a file in neither format, saying what its top level is', () => {
    const e = failureOf({ 'a.yaml': 'images:\n  - imagename: x\n', 'b.yaml': 'just text\n' });
    expect(e.details).toEqual([
      expect.stringMatching(
        /a\.yaml: neither DIB's format \(a list of image maps\) nor TripleO's \(a map with disk_images:\); the top level is a map with keys images$/,
      ),
      expect.stringMatching(/b\.yaml: neither .*; the top level is the string 'just text'$/),
    ]);
    expect(e.hint).toContain('disk_images:');
  });

  it('rejects ramdisk images with a hint to build a disk image instead', () => {
    const e = failureOf({ 'a.yaml': '- imagename: ipa\n  elements: [ironic-python-agent-ramdisk]\n  ramdisk: true\n' });
    expect(e.details).toEqual([expect.stringMatching(/a\.yaml:3:12: entry 1 \(imagename ipa\): ramdisk images are not supported yet$/)]);
    expect(e.hint).toMatch(/ramdisk-image-create does not exist here.*vm or baremetal/);
    const element = failureOf({ 'b.yaml': '- imagename: ipa\n  elements: [vm]\n  ramdisk-element: dracut-ramdisk\n' });
    expect(element.details[0]).toMatch(/ramdisk images are not supported yet/);
  });

  it('reports a DIB image without elements', () => {
    const e = failureOf({ 'a.yaml': '- imagename: bare\n  types: [raw]\n' });
    expect(e.details).toEqual([expect.stringMatching(/a\.yaml entry 1: image 'bare' has no elements$/)]);
    expect(e.hint).toContain('elements: [debian-minimal, vm]');
  });

  it('reports a TripleO entry without imagename', () => {
    const e = failureOf({ 'a.yaml': 'disk_images:\n  - distro: centos\n    elements: [vm]\n' });
    expect(e.details).toEqual([expect.stringMatching(/a\.yaml:2:5: disk_images entry 1: missing 'imagename'$/)]);
  });

  it('reports a TripleO image without distro after merging all files', () => {
    const [a, b] = write({
      'a.yaml': 'disk_images:\n  - {imagename: x, elements: [vm]}\n',
      'b.yaml': 'disk_images:\n  - {imagename: x, packages: [vim]}\n',
    });
    const e = failure([a, b]);
    expect(e.details).toEqual([`${a}, ${b}: image 'x' has no distro`]);
    expect(e.hint).toContain('distro: debian');
  });

  it('rejects a builder other than dib', () => {
    const e = failureOf({ 'a.yaml': 'disk_images:\n  - imagename: x\n    distro: centos\n    builder: kiwi\n' });
    expect(e.details).toEqual([
      expect.stringMatching(/a\.yaml:4:14: disk_images entry 1 \(imagename x\): builder 'kiwi' is not supported$/),
    ]);
    expect(e.hint).toContain("set it to 'dib'");
  });

  it('rejects options holding a shell operator, a glob or a comment, naming the option and its position', () => {
    const e = failureOf({
      'a.yaml': `
disk_images:
  - imagename: x
    distro: centos
    options:
      - "--min-tmpfs=7"
      - "--image-size 3 && rm -rf /"
      - "--logfile *.log"
      - "--offline # fast"
`,
    });
    expect(e.details).toEqual([
      expect.stringMatching(
        /a\.yaml:7:9: disk_images entry 1 \(imagename x\): option '--image-size 3 && rm -rf \/' contains a shell operator '&&'$/,
      ),
      expect.stringMatching(/a\.yaml:8:9: .*option '--logfile \*\.log' contains a glob \(\*\.log\)$/),
      expect.stringMatching(/a\.yaml:9:9: .*option '--offline # fast' contains a comment \(# fast\)$/),
    ]);
    expect(e.hint).toContain('never run by one');
  });

  it('reports disk_images that is not a list', () => {
    const e = failureOf({ 'a.yaml': 'disk_images:\n  imagename: x\n' });
    expect(e.details).toEqual([expect.stringMatching(/a\.yaml:2:3: 'disk_images' must be a list, not a map$/)]);
  });

  it('reports the problems of several files at once in one error, with their count', () => {
    const [good, unknownKey, syntax, neither] = write({
      'good.yaml': '- imagename: fine\n  elements: [vm]\n',
      'unknown.yaml': '- imagename: a\n  elements: [vm]\n  colour: red\n',
      'syntax.yaml': 'disk_images:\n  - imagename: [x\n',
      'neither.yaml': '42\n',
    });
    const missing = join(t.path, 'missing.yaml');
    const e = failure([good, unknownKey, missing, syntax, neither]);
    expect(e.message).toBe('4 problems in image files');
    expect(e.details).toHaveLength(4);
    expect(e.details[0]).toMatch(/unknown\.yaml:3:3: entry 1 \(imagename a\): unknown key 'colour'/);
    expect(e.details[1]).toBe(`${missing}: no such file`);
    expect(e.details[2]).toMatch(/syntax\.yaml:\d+:\d+: YAML syntax error/);
    expect(e.details[3]).toMatch(/neither\.yaml: neither .*the top level is 42$/);
  });
});
