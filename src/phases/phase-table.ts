// DIB's build phases as data: order, where each runs, and what the hooks see.

export interface Phase {
  /** Name used in break points and logs (`install`). */
  name: string;
  /** Hook directory inside an element (`install.d`). */
  dir: string;
  /** Runs inside the chroot of the image tree. */
  inChroot: boolean;
  /** `TARGET_ROOT` is exported (DIB: root.d and cleanup.d only). */
  hasTargetRoot: boolean;
}

export const PHASES: readonly Phase[] = [
  { name: 'root', dir: 'root.d', inChroot: false, hasTargetRoot: true },
  { name: 'extra-data', dir: 'extra-data.d', inChroot: false, hasTargetRoot: false },
  { name: 'pre-install', dir: 'pre-install.d', inChroot: true, hasTargetRoot: false },
  { name: 'install', dir: 'install.d', inChroot: true, hasTargetRoot: false },
  { name: 'post-install', dir: 'post-install.d', inChroot: true, hasTargetRoot: false },
  { name: 'post-root', dir: 'post-root.d', inChroot: false, hasTargetRoot: false },
  { name: 'block-device', dir: 'block-device.d', inChroot: false, hasTargetRoot: false },
  { name: 'pre-finalise', dir: 'pre-finalise.d', inChroot: false, hasTargetRoot: false },
  { name: 'finalise', dir: 'finalise.d', inChroot: true, hasTargetRoot: false },
  { name: 'cleanup', dir: 'cleanup.d', inChroot: false, hasTargetRoot: true },
];

export const PACKAGE_PHASES = ['pre-install.d', 'install.d', 'post-install.d'] as const;

export function phaseByName(name: string): Phase | undefined {
  return PHASES.find((p) => p.name === name || p.dir === name);
}
