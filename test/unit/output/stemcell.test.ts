// -t stemcell checked as BOSH would read it: the gzipped tar's members, stemcell.MF parsed as YAML 1.1
// (Ruby's reading) with its sha1 recomputed, root.img inside `image` checked by qemu-img.
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { stemcellIdentity } from '../../../src/output/stemcell.js';
import { outputPath, outputType } from '../../../src/output/types.js';
import { writeOutputs } from '../../../src/output/write.js';
import { FACTS, OPTIONS, makeRawDisk, member, members, qemuInfo, realTools } from './fixtures.js';

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

const DPKG = 'base-files 12.4+deb12u5\nbash 5.2.15-2+b2\n';

async function buildStemcell(facts = FACTS, options: { dpkgManifest?: boolean } = {}) {
  const t = realTools();
  cleanup = () => t.fake.restore();
  const raw = makeRawDisk(t.dir, 20);
  const stem = join(t.out, 'image');
  if (options.dpkgManifest !== false) {
    mkdirSync(`${stem}.d/dib-manifests`, { recursive: true });
    writeFileSync(`${stem}.d/dib-manifests/dib-manifest-dpkg-image`, DPKG);
  }
  const { runner } = t.fake.runner();
  await writeOutputs(
    runner,
    [{ type: outputType('stemcell'), path: outputPath(stem, 'stemcell') }],
    { raw },
    { ...OPTIONS, image: facts },
    t.resources,
  );
  const file = `${stem}.stemcell.tgz`;
  const mf = parse(member(file, 'stemcell.MF', true).toString(), { version: '1.1' }) as Record<string, unknown>;
  return { t, raw, file, mf };
}

describe('-t stemcell', () => {
  it('NAME.stemcell.tgz: a gzipped tar of stemcell.MF, packages.txt (the dpkg manifest) and image; nothing else left in the output directory', async () => {
    const { t, file } = await buildStemcell();
    expect(members(file, true)).toEqual(['stemcell.MF', 'packages.txt', 'image']);
    expect(member(file, 'packages.txt', true).toString()).toBe(DPKG);
    expect(readdirSync(t.out).sort()).toEqual(['image.d', 'image.stemcell.tgz']);
  });

  it('stemcell.MF (read as YAML 1.1, as the Ruby director does): the fields the OpenStack CPI uses; sha1 is the sha1 of image', async () => {
    const { raw, file, mf } = await buildStemcell();
    expect(mf).toEqual({
      name: 'bosh-openstack-kvm-debian-bookworm-go_agent',
      version: '0.0.1',
      bosh_protocol: 1,
      api_version: 3,
      sha1: createHash('sha1')
        .update(member(file, 'image', true))
        .digest('hex'),
      operating_system: 'debian-bookworm',
      stemcell_formats: ['openstack-qcow2'],
      cloud_properties: {
        name: 'bosh-openstack-kvm-debian-bookworm-go_agent',
        version: '0.0.1',
        infrastructure: 'openstack',
        hypervisor: 'kvm',
        disk: statSync(raw).size / 2 ** 20,
        disk_format: 'qcow2',
        container_format: 'bare',
        os_type: 'linux',
        os_distro: 'debian',
        architecture: 'x86_64',
        auto_disk_config: true,
      },
    });
  });

  it('a version YAML 1.1 would read as a number (1_000) stays a string; the name and version come from the settings', async () => {
    const { mf } = await buildStemcell({ ...FACTS, stemcellName: 'my-stemcell', stemcellVersion: '1_000', arch: 'arm64' });
    expect([mf.name, mf.version, (mf.cloud_properties as Record<string, unknown>).architecture]).toEqual([
      'my-stemcell',
      '1_000',
      'aarch64',
    ]);
  });

  it('image is a tgz of root.img: qemu-img info says qcow2, compat 0.10, virtual size = the raw disk', async () => {
    const { t, raw, file } = await buildStemcell();
    const image = join(t.dir, 'image.tgz');
    writeFileSync(image, member(file, 'image', true));
    expect(members(image, true)).toEqual(['root.img']);
    const rootImg = join(t.dir, 'root.img');
    writeFileSync(rootImg, member(image, 'root.img', true));
    expect(qemuInfo(rootImg, 'qcow2')).toMatchObject({
      format: 'qcow2',
      'virtual-size': statSync(raw).size,
      'format-specific': { data: { compat: '0.10' } },
    });
  });

  it('without a dpkg manifest (no dpkg element), packages.txt is empty', async () => {
    const { file } = await buildStemcell(FACTS, { dpkgManifest: false });
    expect(member(file, 'packages.txt', true).toString()).toBe('');
  });

  it('no DISTRO_NAME/DIB_RELEASE: no operating system to name, the output fails with a hint', () => {
    expect(() => stemcellIdentity({ name: '', version: '0.0.1', distro: '', release: '' })).toThrow(/needs the operating system/);
    expect(stemcellIdentity({ name: '', version: '0.0.1', distro: 'ubuntu', release: 'noble' })).toEqual({
      name: 'bosh-openstack-kvm-ubuntu-noble-go_agent',
      os: 'ubuntu-noble',
    });
  });
});
