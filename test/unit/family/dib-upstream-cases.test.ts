// The cases of upstream diskimage-builder's own tests of its YAML front-end
// (openstack/diskimage-builder diskimage_builder/tests/test_diskimage_builder.py, testing
// diskimage_builder/diskimage_builder.py), ported as facts — inputs and expected results — to our loader.
// Upstream's argv is `bash disk-image-create -o NAME FLAGS... ELEMENTS...`; ours is ImageSpec.flags, with -o and the
// elements kept apart (family/plan.ts adds them). Deliberate differences (README, "diskimage-builder [options]
// FILE..."): `-t` is always given (qcow2 by default), long options with a value are one word `--flag=value`,
// ramdisk images are refused. Each `it` names the upstream test it comes from; the last group covers behaviour of
// upstream's code that its tests do not exercise.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { parseDiskImageCreateArgs } from '../../../src/cli/disk-image-create.js';
import { UsageError } from '../../../src/core/errors.js';
import { shellQuote } from '../../../src/core/text.js';
import { type ImageSpec, loadImageFiles, readImageFiles } from '../../../src/family/image-files.js';
import { tempDir, writeTree } from '../../helpers/tree.js';

const t = tempDir('dib-ts-dib-upstream-');
afterAll(() => t.remove());

let counter = 0;
function write(yaml: string): string {
  const dir = join(t.path, String(++counter));
  writeTree(dir, { 'images.yaml': yaml });
  return join(dir, 'images.yaml');
}

/** The images of one DIB-format file that loads without a problem. */
function load(yaml: string): ImageSpec[] {
  return loadImageFiles([write(yaml)]).images;
}

/** The one image of a file. */
function only(yaml: string): ImageSpec {
  const images = load(yaml);
  expect(images).toHaveLength(1);
  return images[0];
}

/** The problems the file is reported with (fails the test when it loads cleanly). */
function problemsOf(yaml: string): string[] {
  const { problem } = readImageFiles([write(yaml)]);
  expect(problem).toBeInstanceOf(UsageError);
  return problem!.details;
}

/** What disk-image-create's own parser (run on every image before any builds, family/plan.ts) says of an image. */
async function commandLineProblem(spec: ImageSpec): Promise<string> {
  try {
    await parseDiskImageCreateArgs([...spec.flags, '-o', spec.outputName, '--', ...spec.elements], {});
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as UsageError).message;
  }
  throw new Error('the command line was accepted');
}

describe("upstream's test_diskimage_builder.py", () => {
  it('environment is a map of strings, passed as the environment, never as flags (test_env)', () => {
    const image = only('- imagename: x\n  elements: [vm]\n  environment: {DIB_RELEASE: bookworm, DIB_IMAGE_SIZE: 6}\n');
    expect(image.flags).toEqual(['-t', 'qcow2']);
    // Upstream's schema takes only strings; a number or boolean is taken here, as its text (lenient by design,
    // SCALAR_MAP_SCHEMA in dib-format.ts): files upstream accepts behave the same.
    expect(image.env).toEqual({ DIB_RELEASE: 'bookworm', DIB_IMAGE_SIZE: '6' });
    expect(problemsOf('- imagename: x\n  elements: [vm]\n  environment: [DIB_RELEASE=bookworm]\n')).toEqual([
      expect.stringMatching(/'environment' must be a map, not a list$/),
    ]);
    expect(problemsOf('- imagename: x\n  elements: [vm]\n  environment: {A: {B: c}}\n')).toEqual([
      expect.stringMatching(/'environment\.A' must be a string or a number or true or false, not a map$/),
    ]);
  });

  it('a key with a value is its flag and the value; an empty string gives no flag at all (test_arg)', () => {
    // Upstream: `--key VALUE`; ours one word, `--key=VALUE` (documented).
    expect(only('- imagename: x\n  elements: [vm]\n  root-label: the value\n').flags).toEqual(['-t', 'qcow2', '--root-label=the value']);
    const empty = only(
      "- imagename: x\n  elements: [vm]\n  logfile: ''\n  image-cache: ''\n  mkfs-options: ''\n  root-label: ''\n  docker-target: ''\n",
    );
    expect(empty.flags).toEqual(['-t', 'qcow2']);
  });

  it('a boolean key is its flag when true and nothing when false; a non-boolean is refused (test_arg_flag)', () => {
    expect(only('- imagename: x\n  elements: [vm]\n  checksum: false\n  uncompressed: false\n').flags).toEqual(['-t', 'qcow2']);
    expect(only('- imagename: x\n  elements: [vm]\n  checksum: true\n  uncompressed: true\n').flags).toEqual([
      '-t',
      'qcow2',
      '-u',
      '--checksum',
    ]);
    expect(problemsOf('- imagename: x\n  elements: [vm]\n  checksum: 1\n')).toEqual([
      expect.stringMatching(/'checksum' must be true or false, not 1$/),
    ]);
  });

  it('an enumerated key takes one of its values and refuses any other (test_arg_enum)', () => {
    expect(only('- imagename: x\n  elements: [vm]\n  install-type: package\n').flags).toEqual(['-t', 'qcow2', '--install-type=package']);
    expect(only('- imagename: x\n  elements: [vm]\n  install-type: source\n').flags).toContain('--install-type=source');
    expect(problemsOf('- imagename: x\n  elements: [vm]\n  install-type: binary\n  arch: sparc\n')).toEqual([
      expect.stringMatching(/'install-type' must be one of source, package, not 'binary'$/),
      expect.stringMatching(/'arch' must be one of aarch64, amd64, .*, not 'sparc'$/),
    ]);
  });

  it('debug-trace N is -x N times: 0 none, 1 one, 2 two; 3 and -1 are refused (test_arg_flag_repeating)', () => {
    const flagsFor = (n: number) => only(`- imagename: x\n  elements: [vm]\n  debug-trace: ${n}\n`).flags;
    expect(flagsFor(0)).toEqual(['-t', 'qcow2']);
    expect(flagsFor(1)).toEqual(['-t', 'qcow2', '-x']);
    expect(flagsFor(2)).toEqual(['-t', 'qcow2', '-x', '-x']);
    expect(problemsOf('- imagename: x\n  elements: [vm]\n  debug-trace: 3\n')).toEqual([
      expect.stringMatching(/'debug-trace' must be <= 2$/),
    ]);
    expect(problemsOf('- imagename: x\n  elements: [vm]\n  debug-trace: -1\n')).toEqual([
      expect.stringMatching(/'debug-trace' must be >= 0$/),
    ]);
  });

  it('a size is its flag and the number; a size below 1 is refused before anything builds (test_arg_int)', async () => {
    expect(only('- imagename: x\n  elements: [vm]\n  image-size: 10\n').flags).toEqual(['-t', 'qcow2', '--image-size=10']);
    // Upstream's schema refuses it (minimum 1); here disk-image-create's own parser does, in the checks every image
    // goes through before the family builds anything: the same exit 2, nothing built.
    expect(await commandLineProblem(only('- imagename: x\n  elements: [vm]\n  image-size: -1\n'))).toMatch(
      /--image-size must be a positive number/,
    );
    expect(await commandLineProblem(only('- imagename: x\n  elements: [vm]\n  image-size: 0\n'))).toMatch(
      /--image-size must be a positive number/,
    );
  });

  it('packages are one -p with the names comma-joined; an empty list gives no -p; a non-list is refused (test_arg_list)', () => {
    expect(only('- imagename: x\n  elements: [vm]\n  packages: [wget, vim-enhanced]\n').flags).toEqual([
      '-t',
      'qcow2',
      '-p',
      'wget,vim-enhanced',
    ]);
    expect(only('- imagename: x\n  elements: [vm]\n  packages: []\n').flags).toEqual(['-t', 'qcow2']);
    expect(problemsOf('- imagename: x\n  elements: [vm]\n  packages: wget\n')).toEqual([
      expect.stringMatching(/'packages' must be a list, not the string 'wget'$/),
    ]);
  });

  it('elements are positional arguments in their order, none of them a flag (test_arg_list_position)', () => {
    const image = only('- imagename: x\n  elements: [centos, vm, bootloader]\n');
    expect(image.elements).toEqual(['centos', 'vm', 'bootloader']);
    expect(image.flags).toEqual(['-t', 'qcow2']);
  });

  it('types are one -t with the types comma-joined; a type that is not a known output type is refused (test_arg_enum_list)', async () => {
    const image = only('- imagename: x\n  elements: [vm]\n  types: [qcow2, raw]\n');
    expect(image.flags).toEqual(['-t', 'qcow2,raw']);
    expect(image.expectedFiles).toEqual(['x.qcow2', 'x.raw']);
    expect(problemsOf('- imagename: x\n  elements: [vm]\n  types: [qcow2, 5]\n')).toEqual([
      expect.stringMatching(/'types' item 2 must be a string, not 5$/),
    ]);
    // Upstream's schema lists its types; ours has more (vmdk, ...), so disk-image-create's parser checks them,
    // before the family builds anything.
    expect(await commandLineProblem(only('- imagename: x\n  elements: [vm]\n  types: [qcow2, floppy]\n'))).toMatch(
      /unknown output type: floppy/,
    );
  });

  it('qemu-img-options is one --qemu-img-options with k=v pairs comma-joined in their order; a non-map is refused (test_arg_dict_to_string)', () => {
    expect(only('- imagename: x\n  elements: [vm]\n  qemu-img-options: {foo: bar, baz: ingo}\n').flags).toEqual([
      '-t',
      'qcow2',
      '--qemu-img-options=foo=bar,baz=ingo',
    ]);
    expect(problemsOf('- imagename: x\n  elements: [vm]\n  qemu-img-options: [foo=bar]\n')).toEqual([
      expect.stringMatching(/'qemu-img-options' must be a map, not a list$/),
    ]);
  });

  it("the image's environment holds ELEMENTS_PATH and DIB_CLOUD_IMAGES as given (test_command_merged_env)", () => {
    // Upstream adds them to the caller's environment; so does family/plan.ts (the caller's, then these).
    const image = only(
      '- imagename: x\n  elements: [vm]\n  environment:\n    ELEMENTS_PATH: /path/to/elements\n    DIB_CLOUD_IMAGES: /path/to/image.qcow2\n',
    );
    expect(image.env).toEqual({ ELEMENTS_PATH: '/path/to/elements', DIB_CLOUD_IMAGES: '/path/to/image.qcow2' });
  });

  it('a value, a flag, a repeated flag, a k=v map and elements make one command line; ~ stays literal and is quoted when shown (test_command)', () => {
    // Upstream's generic keys mapped onto real ones: the-key → root-label, doit → checksum, verbose → debug-trace
    // (at most 2 here, as upstream's debug-trace), options → qemu-img-options.
    const image = only(`
- imagename: x
  environment:
    ELEMENTS_PATH: /path/to/elements
    DIB_CLOUD_IMAGES: ~/image.qcow2
  root-label: the-value
  checksum: true
  debug-trace: 2
  qemu-img-options: {foo: bar}
  elements: [centos, vm]
`);
    expect(image.flags).toEqual(['-t', 'qcow2', '-x', '-x', '--checksum', '--root-label=the-value', '--qemu-img-options=foo=bar']);
    expect(image.elements).toEqual(['centos', 'vm']);
    expect(image.env).toEqual({ ELEMENTS_PATH: '/path/to/elements', DIB_CLOUD_IMAGES: '~/image.qcow2' });
    // --dry-run prints VAR=VALUE with the value shell-quoted (family/plan.ts), as upstream's str(command) does.
    expect(shellQuote(image.env.ELEMENTS_PATH)).toBe('/path/to/elements');
    expect(shellQuote(image.env.DIB_CLOUD_IMAGES)).toBe("'~/image.qcow2'");
  });

  it('merging the same imagename: a later scalar wins, a new key is added, lists are appended, maps updated (test_merge_entry)', () => {
    const scalars = only(`
- imagename: image1
  elements: [one, two, three]
  debug-trace: 1
- imagename: image1
  debug-trace: 2
  logfile: image1.log
`);
    expect(scalars.name).toBe('image1');
    expect(scalars.elements).toEqual(['one', 'two', 'three']);
    expect(scalars.flags).toEqual(['-t', 'qcow2', '-x', '-x', '--logfile=image1.log']);

    const collections = only(`
- imagename: image1
  elements: [one, two, three]
  environment: {DIB_ONE: '1', DIB_TWO: '2'}
- imagename: image1
  elements: [four, five]
  environment: {DIB_TWO: two, DIB_THREE: three}
`);
    expect(collections.elements).toEqual(['one', 'two', 'three', 'four', 'five']);
    expect(collections.env).toEqual({ DIB_ONE: '1', DIB_TWO: 'two', DIB_THREE: 'three' });
  });

  it('two images give two commands, -o NAME then the elements; a ramdisk image is refused (test_build_commands_simple)', () => {
    const { images, problem } = readImageFiles([
      write(`
- imagename: centos-minimal
  elements: [centos, vm]
- imagename: ironic-python-agent
  ramdisk: true
  elements: [ironic-python-agent-ramdisk, extra-hardware]
`),
    ]);
    // Upstream runs ramdisk-image-create for the second; there is none here (documented): it is refused.
    expect(problem?.details).toEqual([
      expect.stringMatching(/entry 2 \(imagename ironic-python-agent\): ramdisk images are not supported yet$/),
    ]);
    expect(images.map((i) => [i.name, i.outputName, i.elements, i.flags])).toEqual([
      ['centos-minimal', 'centos-minimal', ['centos', 'vm'], ['-t', 'qcow2']],
    ]);
  });

  it('an entry without imagename continues the previous image and one with the same imagename merges into it: one command (test_build_commands_merged)', () => {
    const images = load(`
- imagename: centos-minimal
  elements: [centos, vm]
  environment: {foo: bar, zip: zap}
- elements: [devuser]
  logfile: centos-minimal.log
- imagename: centos-minimal
  environment: {foo: baz, one: two}
`);
    expect(images).toHaveLength(1);
    expect(images[0].name).toBe('centos-minimal');
    expect(images[0].flags).toEqual(['-t', 'qcow2', '--logfile=centos-minimal.log']);
    expect(images[0].elements).toEqual(['centos', 'vm', 'devuser']);
    expect(images[0].env).toEqual({ foo: 'baz', zip: 'zap', one: 'two' });
  });

  it('every key becomes its flag (test_build_commands_all_arguments); ramdisk-element is refused', () => {
    const entry = `
- arch: amd64
  imagename: everyoption
  types: [qcow2]
  debug-trace: 2
  uncompressed: true
  clear: true
  logfile: ./logfile.log
  checksum: true
  image-size: 40
  image-extra-size: 1
  image-cache: ~/.cache/dib
  max-online-resize: 1000
  min-tmpfs: 7
  mkfs-journal-size: 1
  mkfs-options: -D
  no-tmpfs: true
  offline: true
  qemu-img-options: {size: '10'}
  install-type: package
  root-label: root
  docker-target: everyoption:latest
  packages: [wget, tmux]
  skip-base: true
  elements: [centos, vm]
`;
    const image = only(entry);
    // The same flags and values as upstream's command. The order differs (upstream puts -n last, and
    // --qemu-img-options before --root-label); disk-image-create's options do not depend on their order.
    expect(image.flags).toEqual([
      '-a',
      'amd64',
      '-t',
      'qcow2',
      '-x',
      '-x',
      '-u',
      '-c',
      '-n',
      '--logfile=./logfile.log',
      '--checksum',
      '--image-size=40',
      '--image-extra-size=1',
      '--image-cache=~/.cache/dib',
      '--max-online-resize=1000',
      '--min-tmpfs=7',
      '--mkfs-journal-size=1',
      '--mkfs-options=-D',
      '--no-tmpfs',
      '--offline',
      '--root-label=root',
      '--docker-target=everyoption:latest',
      '--install-type=package',
      '--qemu-img-options=size=10',
      '-p',
      'wget,tmux',
    ]);
    expect(image.elements).toEqual(['centos', 'vm']);
    expect(image.outputName).toBe('everyoption');
    // Upstream passes --ramdisk-element dracut-ramdisk; ramdisk builds do not exist here (documented).
    expect(problemsOf(`${entry}  ramdisk-element: dracut-ramdisk\n`)).toEqual([
      expect.stringMatching(/entry 1 \(imagename everyoption\): ramdisk images are not supported yet$/),
    ]);
  });

  it('reads a definition file as PyYAML yaml.dump writes it (keys sorted, list items at the key’s indentation) (test_main)', () => {
    // test_main writes its definitions with yaml.dump and expects one command per image; the ramdisk image is
    // refused here (documented), the other loads as written.
    const { images, problem } = readImageFiles([
      write(`- elements:
  - centos
  - vm
  imagename: centos-minimal
- elements:
  - ironic-python-agent-ramdisk
  - extra-hardware
  imagename: ironic-python-agent
  ramdisk: true
`),
    ]);
    expect(images.map((i) => [i.name, i.elements])).toEqual([['centos-minimal', ['centos', 'vm']]]);
    expect(problem?.details).toEqual([expect.stringMatching(/\(imagename ironic-python-agent\): ramdisk images are not supported yet$/)]);
  });
});

describe("behaviour of upstream's diskimage_builder.py its tests do not exercise", () => {
  it('types: [] is the default type, as upstream gives no -t for an empty list (ArgList.to_argument)', () => {
    const image = only('- imagename: x\n  elements: [vm]\n  types: []\n');
    expect(image.flags).toEqual(['-t', 'qcow2']);
    expect(image.expectedFiles).toEqual(['x.qcow2']);
  });

  it('ramdisk: false builds a disk image and adds no flag (Flag contributes no argument; build_commands picks disk-image-create)', () => {
    const image = only('- imagename: x\n  ramdisk: false\n  elements: [vm]\n');
    expect(image.flags).toEqual(['-t', 'qcow2']);
    expect(image.elements).toEqual(['vm']);
  });

  it("an entry naming 'image' joins the unnamed entries before it: the first image's name is 'image' (build_commands)", () => {
    const images = load('- elements: [vm]\n- imagename: other\n  elements: [debian-minimal]\n- imagename: image\n  packages: [jq]\n');
    expect(images.map((i) => [i.name, i.elements, i.flags])).toEqual([
      ['image', ['vm'], ['-t', 'qcow2', '-p', 'jq']],
      ['other', ['debian-minimal'], ['-t', 'qcow2']],
    ]);
  });

  it('a key given no value (null) is refused: the schema takes a string (Arg schema_type)', () => {
    expect(problemsOf('- imagename: x\n  elements: [vm]\n  logfile:\n')).toEqual([
      expect.stringMatching(/'logfile' must be a string, not empty$/),
    ]);
  });
});

describe('read as PyYAML reads it (YAML 1.1)', () => {
  it('yes/no/on/off are booleans, as upstream DIB and TripleO read them: uncompressed: yes gives -u, checksum: off gives no flag', () => {
    const [image] = loadImageFiles([write('- imagename: a\n  uncompressed: yes\n  checksum: off\n  elements: [vm]\n')]).images;
    expect(image.flags).toContain('-u');
    expect(image.flags).not.toContain('--checksum');
  });
});
