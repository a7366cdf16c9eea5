// `-t docker`: the tree as an image archive that `docker load` and `podman load` take (docker-archive:
// manifest.json, the image config, one layer tar), tagged with --docker-target. DIB pipes a tar into
// `docker import` instead, which needs a docker daemon on the build host; this needs none.
import { createHash } from 'node:crypto';
import type { Runner } from '../core/exec.js';
import { addBuffer, addStream, writeArchive } from './archive.js';
import { layerBytes, planLayer } from './layer.js';
import { archNames, withTag } from './names.js';

export interface DockerOptions {
  /** Debian architecture of the image (ARCH). */
  arch: string;
  /** REPOSITORY[:TAG]; `:latest` when no tag is given. */
  target: string;
  /** When the image was made (config `created`, member times). */
  created?: Date;
}

/** The layer's name in the archive (any path will do: the manifest points at it). */
export const LAYER_MEMBER = 'layer.tar';
/** What a container runs when none is given. DIB images have bash; docker import sets no command at all. */
export const DEFAULT_COMMAND = ['/bin/bash'];
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export async function writeDockerArchive(runner: Runner, tree: string, file: string, options: DockerOptions): Promise<void> {
  const created = options.created ?? new Date();
  const plan = await planLayer(runner, tree);
  const arch = archNames(options.arch);
  const member = { mode: 0o644, mtime: created };
  await writeArchive(file, async (pack) => {
    const layerHash = createHash('sha256');
    await addStream(pack, { ...member, name: LAYER_MEMBER, size: plan.size }, layerBytes(plan, layerHash));
    const config = JSON.stringify({
      architecture: arch.oci,
      ...(arch.ociVariant ? { variant: arch.ociVariant } : {}),
      os: 'linux',
      created: created.toISOString(),
      config: { Env: [DEFAULT_PATH], Cmd: DEFAULT_COMMAND },
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerHash.digest('hex')}`] },
      history: [{ created: created.toISOString(), created_by: 'disk-image-create -t docker (dib-ts)' }],
    });
    const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
    await addBuffer(pack, { ...member, name: configName }, config);
    const manifest = [{ Config: configName, RepoTags: [withTag(options.target)], Layers: [LAYER_MEMBER] }];
    await addBuffer(pack, { ...member, name: 'manifest.json' }, JSON.stringify(manifest));
  });
}
