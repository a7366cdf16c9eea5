// Output requests that cannot be met, found before the build (exit 2): a docker tag docker would
// refuse, disk outputs from a build that writes no disk, a whole-disk package (ova, stemcell) of a
// partition image, a container image of a vm build.
import { UsageError } from '../core/errors.js';
import { effectiveDockerTarget } from './facts.js';
import { dockerReferenceProblem } from './names.js';
import type { OutputType } from './types.js';

export interface OutputRequest {
  outputs: Array<{ type: OutputType; path: string }>;
  /** --docker-target as configured ('' for the default). */
  dockerTarget: string;
  /** The output stem (-o). */
  imageName: string;
  /** Names of the resolved elements. */
  elements: string[];
  /** The layout has a partition table (false: a partition image, one filesystem on the whole disk). */
  partitionTable: boolean;
}

export function outputProblems(r: OutputRequest): UsageError[] {
  const problems: UsageError[] = [];
  const types = r.outputs.map((o) => o.type);
  if (types.some((t) => t.name === 'docker')) {
    // A given --docker-target was checked with the settings; the default comes from -o and may not be a valid tag.
    const target = effectiveDockerTarget(r.dockerTarget, r.imageName);
    const problem = r.dockerTarget ? undefined : dockerReferenceProblem(target);
    if (problem)
      problems.push(
        new UsageError('invalid-setting', `-t docker would tag the image '${target}' (from -o): ${problem}`, {
          hint: 'give the tag: --docker-target REPOSITORY[:TAG]',
        }),
      );
  }
  // no-final-image: the elements make their own artefact and no disk is written. The default -t qcow2 is
  // dropped quietly, as DIB does; a disk type asked for by name cannot be made.
  const diskTypes = types.filter((t) => t.source === 'disk').map((t) => t.name);
  const isDefault = types.length === 1 && types[0].name === 'qcow2';
  if (r.elements.includes('no-final-image') && diskTypes.length && !isDefault)
    problems.push(
      new UsageError('usage', `-t ${diskTypes.join(',')} needs the disk image, and the element no-final-image says none is made`, {
        hint: 'ask only for tree outputs (tar, tgz, squashfs, docker), or build without the element that needs no-final-image',
      }),
    );
  const wholeDisk = types.filter((t) => t.wholeDisk).map((t) => t.name);
  if (wholeDisk.length && !r.partitionTable)
    problems.push(
      new UsageError(
        'usage',
        `-t ${wholeDisk.join(',')} packages a disk that boots by itself, and this build makes a partition image (one filesystem, no partition table or bootloader: the layout without vm)`,
        { hint: 'add the vm element (or a block-device-* layout) for a whole disk, or ask for raw or qcow2 of the partition image' },
      ),
    );
  const containers = types.filter((t) => t.container).map((t) => t.name);
  if (containers.length && r.elements.includes('vm'))
    problems.push(
      new UsageError(
        'usage',
        `-t ${containers.join(',')} makes a container image, and the vm element makes a bootable disk (kernel, bootloader, partitions)`,
        {
          hint: 'build the container from the same elements without vm, or drop docker from -t',
        },
      ),
    );
  return problems;
}
