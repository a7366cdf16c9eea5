// What the packaged outputs need to know about the image beyond its disk or tree: architecture and
// distribution. Made from the configuration and the variables the elements' environment.d exported
// (DISTRO_NAME, DIB_RELEASE).
import type { BuildConfig } from '../config/settings.js';

export interface ImageFacts {
  /** Debian architecture (ARCH, normalised). */
  arch: string;
  /** DISTRO_NAME and DIB_RELEASE ('' when no element set them). */
  distro: string;
  release: string;
}

export function imageFacts(config: BuildConfig, env: Readonly<Record<string, string | undefined>>): ImageFacts {
  return {
    arch: config.arch,
    distro: env.DISTRO_NAME ?? '',
    release: env.DIB_RELEASE ?? '',
  };
}
