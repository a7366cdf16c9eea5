// Root-only: image-upload against a real Keystone and Glance from Debian's packages (started on
// 127.0.0.1 by test/helpers/openstack.ts and stopped afterwards); every result is read back with the
// independent `openstack` client. Also disk-image-create --upload of a real (tiny-os) build.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import { mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, spawnUntil } from '../helpers/cli.js';
import { type OpenStackStack, startOpenStack } from '../helpers/openstack.js';
import { ensureCachedBaseTree, tinyOsElement } from '../helpers/tiny-os.js';
import { writeTree } from '../helpers/tree.js';
import { NO_LEAKS, findLeaks } from '../helpers/leaks.js';
import { writeImageMetadata } from '../../src/upload/image-metadata.js';

const CACHE = process.env.DIB_TS_TEST_CACHE ?? '/var/tmp/dib-ts-test-cache';
const root = `/var/tmp/dib-ts-upload-${process.pid}`;
const files = join(root, 'files');
const SIZE_CAP = 1536 * 2 ** 20;
let stack: OpenStackStack;

const digest = (algo: string, file: string) => createHash(algo).update(readFileSync(file)).digest('hex');
type Shown = Record<string, unknown> & { id: string; status: string; checksum: string; os_hash_algo: string; os_hash_value: string };
const show = (idOrName: string): Shown => JSON.parse(stack.openstack(['image', 'show', '-f', 'json', idOrName])) as Shown;
const imagesNamed = (name: string) =>
  (JSON.parse(stack.openstack(['image', 'list', '--long', '-f', 'json', '--name', name])) as Array<{ ID: string; Status: string }>).map(
    (i) => ({
      id: i.ID,
      status: i.Status,
    }),
  );
/** The image's properties as the CLI shows them (a map of the fields it does not show itself). */
const propertiesOf = (s: Shown) => s.properties as Record<string, string>;
/** Glance's own hash: python3-openstackclient 6 shows os_hash_algo/os_hash_value among the properties. */
const glanceHash = (s: Shown) => ({
  algo: s.os_hash_algo ?? propertiesOf(s).os_hash_algo,
  value: s.os_hash_value ?? propertiesOf(s).os_hash_value,
});

/** A qcow2 of `mib` MiB holding some data, with build metadata beside it as disk-image-create writes it. */
function qcow2(name: string, mib: number, seed: string): string {
  const raw = join(files, `${name}.src`);
  writeFileSync(raw, '');
  truncateSync(raw, mib * 2 ** 20);
  writeFileSync(raw, Buffer.from(`${seed}\n`.repeat(4096)), { flag: 'r+' });
  const out = join(files, `${name}.qcow2`);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, out]);
  rmSync(raw);
  mkdirSync(join(files, `${name}.d`), { recursive: true });
  writeImageMetadata(join(files, `${name}.d`), {
    tool: 'dib-ts',
    version: '0.1.0',
    arch: 'amd64',
    distro: 'debian',
    release: 'bookworm',
    elements: ['vm'],
    expandedElements: ['debian', 'vm'],
    firmware: 'bios',
  });
  return out;
}

beforeAll(async () => {
  mkdirSync(files, { recursive: true });
  stack = await startOpenStack({
    glanceOptions: { image_format: { disk_formats: 'raw,qcow2,aki,ari' }, DEFAULT: { image_size_cap: String(SIZE_CAP) } },
  });
  console.log(`Keystone and Glance started in ${stack.startSeconds.toFixed(0)}s`);
}, 300_000);
afterAll(async () => {
  await stack?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('image-upload against a real Keystone and Glance', () => {
  it('OS_* password auth: prints the id; the openstack client sees it active with our md5 and sha512, qcow2/bare, private, min_disk and the image guide properties; a second run reuses it', async () => {
    const file = qcow2('cloud', 1100, 'first');
    const r = await runCli('image-upload', [file], stack.env(), { timeout: 300_000 });
    expect(r.stderr).not.toContain(stack.admin.password);
    expect(r.status).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const s = show(id);
    expect(s).toMatchObject({
      name: 'cloud',
      status: 'active',
      disk_format: 'qcow2',
      container_format: 'bare',
      visibility: 'private',
      min_disk: 2,
      checksum: digest('md5', file),
    });
    expect(glanceHash(s)).toEqual({ algo: 'sha512', value: digest('sha512', file) });
    expect(propertiesOf(s)).toMatchObject({
      architecture: 'x86_64',
      os_distro: 'debian',
      os_version: '12',
      os_type: 'linux',
      hw_firmware_type: 'bios',
      hw_disk_bus: 'virtio',
      'owner_specified.openstack.sha256': digest('sha256', file),
      'owner_specified.openstack.md5': digest('md5', file),
      'owner_specified.dib_ts.elements': 'vm',
    });
    expect(r.stderr).toMatch(/cloud: [0-9a-f-]{36} active, checksum and sha512 verified; [\d.]+\/[\d.]+ MiB \(100%\), [\d.]+ MiB\/s/);

    const again = await runCli('image-upload', ['--json', file], stack.env(), { timeout: 300_000 });
    expect(again.status).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ id, reused: true, status: 'active' });
    expect(again.stderr).toContain(`an identical image is in Glance already (${id}); not uploading it again`);
    expect(imagesNamed('cloud')).toEqual([{ id, status: 'active' }]);
  });

  it('other content under the same name: exit 1 with a hint; --replace uploads it and renames the old image NAME-<date>', async () => {
    const old = imagesNamed('cloud')[0].id;
    const file = qcow2('cloud', 64, 'second');
    const refused = await runCli('image-upload', [file], stack.env(), { timeout: 300_000 });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`error: an image named cloud is in Glance already with other content (${old})`);
    expect(refused.stderr).toMatch(/hint: --replace uploads the new one/);
    const r = await runCli('image-upload', ['--replace', '--json', '--tag', 'ci', '--property', 'hw_vif_model=virtio', file], stack.env(), {
      timeout: 300_000,
    });
    expect(r.status).toBe(0);
    const result = JSON.parse(r.stdout) as { id: string; replaced: Array<{ id: string; name: string }> };
    expect(result.replaced).toEqual([{ id: old, name: expect.stringMatching(/^cloud-\d{8}-\d{6}$/) as string }]);
    expect(show(result.id)).toMatchObject({ name: 'cloud', status: 'active', tags: ['ci'] });
    expect(propertiesOf(show(result.id)).hw_vif_model).toBe('virtio');
    expect(show(old)).toMatchObject({ name: result.replaced[0].name, status: 'active' });
  });

  it('clouds.yaml with an application credential (its secret in secure.yaml): uploaded as the demo user, the secret nowhere in the output', async () => {
    const ac = JSON.parse(
      stack.openstack(['application', 'credential', 'create', '--secret', 'ac-secret-71', 'uploader', '-f', 'json'], stack.env(stack.demo)),
    ) as { id: string };
    const dir = join(root, 'cloudcfg');
    writeTree(dir, {
      'clouds.yaml': `clouds:\n  lab:\n    auth_type: v3applicationcredential\n    region_name: ${stack.region}\n    auth:\n      auth_url: ${stack.authUrl}\n      application_credential_id: ${ac.id}\n`,
      'secure.yaml': 'clouds:\n  lab:\n    auth:\n      application_credential_secret: ac-secret-71\n',
    });
    const file = qcow2('demo-image', 32, 'demo');
    const r = await runCli(
      'image-upload',
      ['--os-cloud', 'lab', file],
      { HOME: dir, OS_CLOUD: '', OS_AUTH_URL: '' },
      { cwd: dir, timeout: 300_000 },
    );
    expect(`${r.stdout}${r.stderr}`).not.toContain('ac-secret-71');
    expect(r.status).toBe(0);
    const s = show(r.stdout.trim());
    expect(s.status).toBe('active');
    const demoProject = JSON.parse(stack.openstack(['project', 'show', 'demo', '-f', 'json'])) as { id: string };
    expect(s.owner).toBe(demoProject.id);

    const unknown = await runCli('image-upload', ['--os-cloud', 'prod', file], { HOME: dir }, { cwd: dir });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("error: no cloud named 'prod'");
    expect(unknown.stderr).toContain('hint: known clouds: lab');
  });

  it('--import: staged, imported with glance-direct, active and verified; with a wait too short for the import the half-made image is deleted', async () => {
    const file = qcow2('imported', 48, 'import');
    const r = await runCli('image-upload', ['--import', '--json', file], stack.env(), { timeout: 300_000 });
    expect(r.status).toBe(0);
    const id = (JSON.parse(r.stdout) as { id: string }).id;
    expect(show(id)).toMatchObject({ status: 'active', checksum: digest('md5', file) });
    expect(glanceHash(show(id)).value).toBe(digest('sha512', file));
    const token = await stack.token();
    const info = JSON.parse(
      execFileSync('curl', ['-s', '-H', `X-Auth-Token: ${token}`, `${stack.glanceUrl}/v2/info/import`]).toString(),
    ) as {
      'import-methods': { value: string[] };
    };
    expect(info['import-methods'].value).toContain('glance-direct');

    const slow = qcow2('never-active', 48, 'timeout');
    const t = await runCli('image-upload', ['--import', '--wait-timeout', '0.001', slow], stack.env(), { timeout: 300_000 });
    expect(t.status).toBe(1);
    expect(t.stderr).toMatch(/error: image [0-9a-f-]{36} did not become active within 0.001s/);
    expect(t.stderr).toMatch(/deleted the unfinished image/);
    expect(imagesNamed('never-active')).toEqual([]);
  });

  it('bad input and refusals, each a clear message without a stack trace or a secret, and no image left in Glance', async () => {
    const file = qcow2('refusals', 16, 'refusals');
    // Wrong password: 401 naming the auth URL and the user.
    const wrong = await runCli('image-upload', [file], { ...stack.env(), OS_PASSWORD: 'not-the-password-42' });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain(`error: Keystone refused the credentials (401) for user admin at ${stack.authUrl}`);
    expect(wrong.stderr).not.toContain('not-the-password-42');
    expect(wrong.stderr).not.toMatch(/\n\s+at /);
    // No image endpoint in that region: the catalog's endpoints listed.
    const region = await runCli('image-upload', [file], { ...stack.env(), OS_REGION_NAME: 'RegionX' });
    expect(region.status).toBe(1);
    expect(region.stderr).toContain('no image (Glance) endpoint for interface public in region RegionX');
    expect(region.stderr).toMatch(/hint: the catalog has image endpoints: .*public in RegionOne/);
    // Nothing listening: connection refused, naming the URL.
    const refused = await runCli('image-upload', [file], { ...stack.env(), OS_AUTH_URL: 'http://127.0.0.1:9/v3' });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('error: cannot connect to http://127.0.0.1:9: connection refused');
    // A raw file named .qcow2: exit 2 before any request.
    const fake = join(files, 'liar.qcow2');
    writeFileSync(fake, Buffer.alloc(1 << 20, 1));
    const liar = await runCli('image-upload', [fake], stack.env());
    expect(liar.status).toBe(2);
    expect(liar.stderr).toContain(`error: ${fake} is not qcow2: its header says raw`);
    // A disk format this Glance does not accept (disk_formats = raw,qcow2,aki,ari): Glance's refusal quoted.
    const vhdx = join(files, 'other.vhdx');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vhdx', vhdx, '16M']);
    const format = await runCli('image-upload', [vhdx], stack.env());
    expect(format.status).toBe(1);
    expect(format.stderr).toMatch(/error: Glance refused to create the image \(400\): .*vhdx/i);
    // Larger than image_size_cap (1.5 GiB): 413, and the queued image deleted.
    const big = join(files, 'too-big.raw');
    writeFileSync(big, '');
    truncateSync(big, SIZE_CAP + 64 * 2 ** 20);
    const cap = await runCli('image-upload', [big], stack.env(), { timeout: 300_000 });
    expect(cap.status).toBe(1);
    expect(cap.stderr).toMatch(/error: Glance refused to upload the image data \(413\)/);
    expect(cap.stderr).toMatch(/deleted the unfinished image/);
    for (const name of ['refusals', 'liar', 'other', 'too-big']) expect(imagesNamed(name)).toEqual([]);
  });

  it('TLS: a self-signed endpoint fails naming OS_CACERT and OS_INSECURE; with OS_CACERT the same endpoint is trusted', async () => {
    const dir = join(root, 'tls');
    mkdirSync(dir, { recursive: true });
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    // A stand-in Keystone that refuses everyone: reaching its 401 proves the TLS handshake succeeded.
    const server: Server = createServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      (_req, res) => {
        res
          .writeHead(401, { 'content-type': 'application/json' })
          .end('{"error":{"message":"The request you have made requires authentication."}}');
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const file = qcow2('tls', 16, 'tls');
      const env = { ...stack.env(), OS_AUTH_URL: `https://127.0.0.1:${port}/v3` };
      const untrusted = await runCli('image-upload', [file], env);
      expect(untrusted.status).toBe(1);
      expect(untrusted.stderr).toContain(`error: TLS verification of https://127.0.0.1:${port} failed`);
      expect(untrusted.stderr).toMatch(/hint: give the CA bundle with OS_CACERT .* OS_INSECURE=true/);
      const trusted = await runCli('image-upload', [file], { ...env, OS_CACERT: join(dir, 'cert.pem') });
      expect(trusted.stderr).toContain('error: Keystone refused the credentials (401)');
    } finally {
      server.close();
    }
  });

  it('SIGINT during the upload: exit 130 and the half-made image is deleted from Glance', async () => {
    const file = join(files, 'interrupted.raw');
    writeFileSync(file, '');
    truncateSync(file, 1200 * 2 ** 20);
    const run = await spawnUntil('image-upload', [file], stack.env(), 'uploading ');
    run.child.kill('SIGINT');
    expect(await run.exited, run.stderr()).toBe(130);
    expect(run.stderr()).toMatch(/deleted the unfinished image [0-9a-f-]{36}/);
    expect(imagesNamed('interrupted')).toEqual([]);
  });

  it('disk-image-create --upload: a real build uploaded after it finishes, with the properties of its metadata', async () => {
    const elements = join(root, 'elements');
    writeTree(elements, { 'tiny-os': tinyOsElement() });
    const env = { TMP_DIR: join(root, 'tmp'), ELEMENTS_PATH: elements };
    mkdirSync(env.TMP_DIR, { recursive: true });
    await ensureCachedBaseTree(CACHE, env, files);
    const stem = join(files, 'built');
    const r = await runCli(
      'disk-image-create',
      ['--image-cache', CACHE, '--upload', '-n', '-t', 'raw', '-o', stem, 'tiny-os'],
      { ...env, ...stack.env() },
      {
        timeout: 900_000,
      },
    );
    expect(r.stderr.slice(-2000)).toMatch(/built: [0-9a-f-]{36} active, checksum and sha512 verified/);
    expect(r.status).toBe(0);
    const s = show('built');
    expect(s).toMatchObject({ status: 'active', disk_format: 'raw', checksum: digest('md5', `${stem}.raw`) });
    expect(propertiesOf(s)).toMatchObject({
      os_distro: 'debian',
      os_version: '12',
      architecture: 'x86_64',
      'owner_specified.dib_ts.elements': 'tiny-os',
    });
    expect(propertiesOf(s)).not.toHaveProperty('hw_firmware_type'); // a partition image (no vm)
    expect(findLeaks(root)).toEqual(NO_LEAKS);
  });
});
