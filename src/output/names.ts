// What the consumers of the packaged outputs accept: docker image references, BOSH stemcell names and
// versions, and each one's name for the target architecture (from DIB's Debian ARCH).

/** Docker reference grammar (docker/distribution): `[DOMAIN/]PATH[:TAG]`; no digest, since a load tags. */
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/** Why `target` is not a docker image reference docker and podman load under, or undefined when it is. */
export function dockerReferenceProblem(target: string): string | undefined {
  if (target.includes('@')) return 'a digest names an image, it cannot tag one';
  const colon = target.lastIndexOf(':');
  const hasTag = colon > target.lastIndexOf('/');
  const name = hasTag ? target.slice(0, colon) : target;
  if (hasTag && !TAG.test(target.slice(colon + 1))) return 'the tag is not 1-128 letters, digits, _ . - (not starting with . or -)';
  if (name.length > 255) return 'the repository name is longer than 255 characters';
  const [first, ...rest] = name.split('/');
  // As docker decides: the first component is a registry host only if it looks like one.
  const hasDomain = rest.length > 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasDomain && !DOMAIN.test(first)) return `'${first}' is not a registry host[:port]`;
  const path = hasDomain ? rest : [first, ...rest];
  const bad = path.find((c) => !PATH_COMPONENT.test(c));
  if (bad !== undefined) return `'${bad}' is not a repository path component (lower-case letters and digits, separated by . _ __ or -)`;
  return undefined;
}

/** `repo` → `repo:latest`; a reference that has a tag is kept (a `:` before the last `/` is a port). */
export function withTag(target: string): string {
  return target.lastIndexOf(':') > target.lastIndexOf('/') ? target : `${target}:latest`;
}

/**
 * BOSH stemcell versions are semi-semantic (the director sorts them with bosh's semi_semantic gem):
 * dot-separated release components of letters, digits and `_`, then an optional `-pre` and `+post`
 * segment whose components may also hold `-`. No empty component.
 */
const RELEASE = '[0-9A-Za-z_]+(?:\\.[0-9A-Za-z_]+)*';
const SEGMENT = '[0-9A-Za-z_-]+(?:\\.[0-9A-Za-z_-]+)*';
const STEMCELL_VERSION = new RegExp(`^${RELEASE}(?:-${SEGMENT})?(?:\\+${SEGMENT})?$`);

export function stemcellVersionProblem(version: string): string | undefined {
  return STEMCELL_VERSION.test(version) ? undefined : 'not a BOSH version (e.g. 0.0.1, 1.42, 621.5-rc.1)';
}

/**
 * Stemcell names: the director keys stemcells by `name/version` and the OpenStack CPI names the Glance
 * image the same way, so no `/`, no blanks; the character set of the director's other identifiers.
 */
const STEMCELL_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$/;

export function stemcellNameProblem(name: string): string | undefined {
  return STEMCELL_NAME.test(name) ? undefined : 'not a BOSH stemcell name (letters, digits and . _ + -, starting with a letter or digit)';
}

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
