// Root-only: the private Keystone + Glance of test/helpers/openstack.ts, checked with the independent
// `openstack` CLI (python3-openstackclient): a direct upload and a glance-direct import both end active
// with the file's checksums, an ordinary user's application credential works, and stop() leaves no
// process and no directory behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type OpenStackStack, startOpenStack } from '../helpers/openstack.js';
import { sleep } from '../../src/core/retry.js';

/** What `openstack image show -f json` prints (the fields checked here). */
interface ShownImage {
  id: string;
  status: string;
  size: number;
  checksum: string;
  properties: { os_hash_algo: string; os_hash_value: string };
}

const digest = (algorithm: string, data: Buffer) => createHash(algorithm).update(data).digest('hex');

/** Processes whose command line mentions `text`. */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(text)) found.push(`${pid} ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(process.getuid?.() !== 0)('private Keystone + Glance', () => {
  let stack: OpenStackStack;
  let file: string;
  let data: Buffer;

  beforeAll(async () => {
    stack = await startOpenStack();
    console.log(`openstack stack started in ${stack.startSeconds.toFixed(1)} s (${stack.dir})`);
    data = randomBytes(3 * 1024 * 1024 + 17);
    file = join(stack.dir, 'upload.raw');
    writeFileSync(file, data);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('uploads an image with `openstack image create --file` that ends active with its checksums', () => {
    stack.openstack(['image', 'create', '--disk-format', 'raw', '--container-format', 'bare', '--file', file, 't1', '-f', 'json']);
    const image = JSON.parse(stack.openstack(['image', 'show', 't1', '-f', 'json'])) as ShownImage;
    expect(image.status).toBe('active');
    expect(image.size).toBe(data.length);
    expect(image.checksum).toBe(digest('md5', data));
    expect(image.properties.os_hash_algo).toBe('sha512');
    expect(image.properties.os_hash_value).toBe(digest('sha512', data));
    // The file store holds the same bytes.
    expect(readFileSync(join(stack.dir, 'images', image.id)).equals(data)).toBe(true);
  });

  it('advertises glance-direct and completes an import (`openstack image create --import`)', async () => {
    const response = await fetch(`${stack.glanceUrl}/v2/info/import`, { headers: { 'X-Auth-Token': await stack.token() } });
    const info = (await response.json()) as { 'import-methods': { value: string[] } };
    expect(info['import-methods'].value).toContain('glance-direct');

    stack.openstack([
      'image',
      'create',
      '--import',
      '--disk-format',
      'raw',
      '--container-format',
      'bare',
      '--file',
      file,
      't2',
      '-f',
      'json',
    ]);
    let image = JSON.parse(stack.openstack(['image', 'show', 't2', '-f', 'json'])) as ShownImage;
    for (let i = 0; i < 60 && image.status !== 'active'; i++) {
      expect(['uploading', 'importing']).toContain(image.status);
      await sleep(500);
      image = JSON.parse(stack.openstack(['image', 'show', 't2', '-f', 'json'])) as ShownImage;
    }
    expect(image.status).toBe('active');
    expect(image.checksum).toBe(digest('md5', data));
    expect(image.properties.os_hash_value).toBe(digest('sha512', data));
    expect(readdirSync(join(stack.dir, 'staging'))).toEqual([]);
  });

  it("lets the demo user's application credential list images", () => {
    const credential = JSON.parse(
      stack.openstack(['application', 'credential', 'create', '--secret', 's3cret', 'ac1', '-f', 'json'], stack.env(stack.demo)),
    ) as { id: string };
    const images = JSON.parse(stack.openstack(['image', 'list', '-f', 'json'], stack.appCredentialEnv(credential.id, 's3cret')));
    // The admin's images are private to project admin ("shared" visibility without members).
    expect(images).toEqual([]);
  });

  it('stops every process and removes its directory', async () => {
    const { dir, pids } = stack;
    expect(pids).toHaveLength(3);
    expect(pids.every(alive)).toBe(true);
    expect(processesMentioning(dir).length).toBeGreaterThanOrEqual(3);
    await stack.stop();
    expect(pids.filter(alive)).toEqual([]);
    expect(processesMentioning(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});
