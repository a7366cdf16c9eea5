// What the consumers of the packaged outputs call things: each one's name for the target architecture
// (from DIB's Debian ARCH).

interface ArchNames {
  /** OCI image config `architecture` (Go's GOARCH) and `variant`. */
  oci: string;
  ociVariant?: string;
  /** Glance's `architecture` property (libosinfo / uname -m names). */
  glance: string;
  is64Bit: boolean;
}

const ARCH_NAMES: Record<string, ArchNames> = {
  amd64: { oci: 'amd64', glance: 'x86_64', is64Bit: true },
  i386: { oci: '386', glance: 'i686', is64Bit: false },
  arm64: { oci: 'arm64', ociVariant: 'v8', glance: 'aarch64', is64Bit: true },
  armhf: { oci: 'arm', ociVariant: 'v7', glance: 'armv7l', is64Bit: false },
  ppc64el: { oci: 'ppc64le', glance: 'ppc64le', is64Bit: true },
  s390x: { oci: 's390x', glance: 's390x', is64Bit: true },
};

/** The names of a Debian architecture (the settings normalise ARCH to one of these). */
export function archNames(debianArch: string): ArchNames {
  const names = ARCH_NAMES[debianArch];
  if (!names) throw new Error(`no output names for architecture ${debianArch}`); // settings reject others first
  return names;
}
