// What the packaged outputs need to know about the image beyond its disk or tree: architecture,
// distribution, docker tag, stemcell name and version. Made from the configuration and the variables
// the elements' environment.d exported (DISTRO_NAME, DIB_RELEASE).
import { basename } from 'node:path';
import type { BuildConfig } from '../config/settings.js';
import type { BootFilePatterns } from './boot-files.js';

export interface ImageFacts {
  /** Debian architecture (ARCH, normalised). */
  arch: string;
  /** --docker-target / DOCKER_TARGET ('' → `<NAME>:latest`). */
  dockerTarget: string;
  /** DIB_STEMCELL_NAME ('' → `bosh-openstack-kvm-<distro>-<release>-go_agent`). */
  stemcellName: string;
  stemcellVersion: string;
  /** DISTRO_NAME and DIB_RELEASE ('' when no element set them). */
  distro: string;
  release: string;
  /** DIB_BAREMETAL_KERNEL_PATTERN and DIB_BAREMETAL_INITRD_PATTERN (the baremetal element's files). */
  bootFiles: BootFilePatterns;
}

export function imageFacts(config: BuildConfig, env: Readonly<Record<string, string | undefined>>): ImageFacts {
  return {
    arch: config.arch,
    dockerTarget: config.dockerTarget,
    stemcellName: config.stemcellName,
    stemcellVersion: config.stemcellVersion,
    distro: env.DISTRO_NAME ?? '',
    release: env.DIB_RELEASE ?? '',
    bootFiles: { kernel: env.DIB_BAREMETAL_KERNEL_PATTERN ?? '', initrd: env.DIB_BAREMETAL_INITRD_PATTERN ?? '' },
  };
}

/** The docker tag when --docker-target is not given: the output name, as DIB's users pass it. */
export function effectiveDockerTarget(dockerTarget: string, stem: string): string {
  return dockerTarget || `${basename(stem)}:latest`;
}
