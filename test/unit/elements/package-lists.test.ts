// The lists the package-installs hooks hand to install-packages: pkg-map applied, one apt name per entry.
import { describe, expect, it } from 'vitest';
import type { PackageEntry } from '../../../src/elements/packages.js';
import { packageLists } from '../../../src/elements/package-lists.js';
import type { PkgMap } from '../../../src/elements/pkg-map.js';

const entry = (pkg: string, element: string, extra: Partial<PackageEntry> = {}): PackageEntry => ({
  package: pkg,
  element,
  phase: 'install.d',
  uninstall: false,
  buildOnly: false,
  when: [],
  ...extra,
});
// The shape of DIB's own bootloader pkg-map: Debian EFI maps to two packages.
const bootloader: PkgMap = {
  default: { 'grub-efi-amd64': 'grub-efi grub-pc-bin', 'grub-pc': 'grub-pc', dkms_package: 'dkms' },
  family: { redhat: { 'grub-pc': 'grub2-tools grub2' } },
  distro: { debian: { dkms_package: '' } },
};
const env = { DISTRO_NAME: 'debian', DIB_RELEASE: 'bookworm', ARCH: 'amd64' };

describe('package lists', () => {
  it('a pkg-map value naming several packages becomes several names (each its own apt argument)', () => {
    const { lists, notes } = packageLists(
      [entry('grub-efi-amd64', 'bootloader'), entry('grub-pc', 'bootloader'), entry('curl', 'other')],
      env,
      new Map([['bootloader', bootloader]]),
    );
    expect(lists['install.d.install']).toEqual(['grub-efi', 'grub-pc-bin', 'grub-pc', 'curl']);
    expect(notes).toContain('install.d install: grub-efi-amd64 -> grub-efi grub-pc-bin (bootloader)');
  });
  it('"" drops a package; names are not repeated; uninstall lists are mapped the same way', () => {
    const { lists } = packageLists(
      [
        entry('dkms_package', 'bootloader'),
        entry('grub-efi-amd64', 'bootloader', { buildOnly: true, phase: 'post-install.d' }),
        entry('grub-efi', 'other', { phase: 'post-install.d' }),
      ],
      env,
      new Map([['bootloader', bootloader]]),
    );
    expect(lists['install.d.install']).toEqual([]);
    expect(lists['post-install.d.install']).toEqual(['grub-efi', 'grub-pc-bin']);
    expect(lists['post-install.d.uninstall']).toEqual(['grub-efi', 'grub-pc-bin']);
  });
});
