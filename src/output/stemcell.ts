// `-t stemcell`: a BOSH stemcell for the OpenStack CPI. A gzipped tar of stemcell.MF (YAML: name,
// version, sha1 of `image`, the Glance properties the CPI creates the image with), packages.txt and
// `image`, a tgz of root.img (the qcow2, compat 0.10 as bosh-linux-stemcell-builder makes it).
import { createHash } from 'node:crypto';
import { constants, closeSync, fstatSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { BuildError } from '../core/errors.js';
import type { Runner } from '../core/exec.js';
import { addBuffer, addFile, writeArchive } from './archive.js';
import { archNames, stemcellNameProblem, stemcellVersionProblem } from './names.js';

export interface StemcellOptions {
  /** Stemcell name ('' → bosh-openstack-kvm-<operating system>-go_agent). */
  name: string;
  version: string;
  /** Debian architecture of the image. */
  arch: string;
  /** DISTRO_NAME and DIB_RELEASE of the image: the operating system is `<distro>-<release>`. */
  distro: string;
  release: string;
  /** The dpkg manifest the dpkg element writes (NAME.d/dib-manifests/dib-manifest-dpkg-NAME). */
  packagesFile?: string;
}

/** What BOSH reads from stemcell.MF (`api_version` 3: the agent takes settings from the CPI's metadata). */
export interface StemcellManifest {
  name: string;
  version: string;
  bosh_protocol: number;
  api_version: number;
  sha1: string;
  operating_system: string;
  stemcell_formats: string[];
  cloud_properties: Record<string, string | number | boolean>;
}

/** The image's qcow2 options: compat 0.10 reads on every qemu a cloud still runs. */
export const STEMCELL_QCOW2_OPTIONS = 'compat=0.10';

/** The stemcell's operating system and name (the defaults made from the distribution), validated. */
export function stemcellIdentity(o: Pick<StemcellOptions, 'name' | 'version' | 'distro' | 'release'>): { name: string; os: string } {
  if (!o.distro || !o.release)
    throw new BuildError('a stemcell needs the operating system: DISTRO_NAME or DIB_RELEASE is not set', {
      hint: 'build with a distribution element (debian, ...) or set DIB_RELEASE',
    });
  const os = `${o.distro}-${o.release}`;
  const name = o.name || `bosh-openstack-kvm-${os}-go_agent`;
  const problem = stemcellNameProblem(name) ?? stemcellVersionProblem(o.version);
  if (problem) throw new BuildError(`stemcell ${name}/${o.version}: ${problem}`, { hint: 'set DIB_STEMCELL_NAME / DIB_STEMCELL_VERSION' });
  return { name, os };
}

export async function writeStemcell(runner: Runner, raw: string, file: string, options: StemcellOptions): Promise<void> {
  const { name, os } = stemcellIdentity(options);
  const dir = dirname(file);
  const rootImg = join(dir, 'root.img');
  const image = join(dir, 'image');
  try {
    await runner.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', '-o', STEMCELL_QCOW2_OPTIONS, raw, rootImg]);
    const sha1 = createHash('sha1');
    const member = { mode: 0o644, mtime: new Date() };
    await writeArchive(image, (pack) => addFile(pack, { ...member, name: 'root.img', size: statSync(rootImg).size }, rootImg), {
      gzip: true,
      hash: sha1,
    });
    rmSync(rootImg);
    const manifest: StemcellManifest = {
      name,
      version: options.version,
      bosh_protocol: 1,
      api_version: 3,
      sha1: sha1.digest('hex'),
      operating_system: os,
      stemcell_formats: ['openstack-qcow2'],
      cloud_properties: {
        name,
        version: options.version,
        infrastructure: 'openstack',
        hypervisor: 'kvm',
        disk: Math.ceil(statSync(raw).size / 2 ** 20),
        disk_format: 'qcow2',
        container_format: 'bare',
        os_type: 'linux',
        os_distro: options.distro,
        architecture: archNames(options.arch).glance,
        auto_disk_config: true,
      },
    };
    // Strings quoted: Ruby's YAML 1.1 would read a bare 1_000 or 1.5 as a number, and BOSH wants strings.
    const mf = stringify(manifest, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' });
    await writeArchive(
      file,
      async (pack) => {
        await addBuffer(pack, { ...member, name: 'stemcell.MF' }, mf);
        await addBuffer(pack, { ...member, name: 'packages.txt' }, readPackages(options.packagesFile));
        await addFile(pack, { ...member, name: 'image', size: statSync(image).size }, image);
      },
      { gzip: true },
    );
  } finally {
    rmSync(rootImg, { force: true });
    rmSync(image, { force: true });
  }
}

/** The dpkg manifest's text, or empty when the build wrote none (no dpkg element): BOSH only shows it. */
function readPackages(file: string | undefined): string {
  if (!file) return '';
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new BuildError(`cannot read the package list ${file}: ${(error as Error).message}`);
  }
  try {
    return fstatSync(fd).isFile() ? readFileSync(fd, 'utf8') : '';
  } finally {
    closeSync(fd);
  }
}

/** Where the dpkg element leaves the package list of the image written at `stem`. */
export function dpkgManifestPath(stem: string): string {
  return join(`${stem}.d`, 'dib-manifests', `dib-manifest-dpkg-${basename(stem)}`);
}
