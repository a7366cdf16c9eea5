// -t vhd checked by qemu-img itself: a dynamic VHD whose virtual size is exactly the raw disk's, where
// qemu-img's default (CHS geometry) would round it up.
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { outputPath, outputType } from '../../../src/output/types.js';
import { writeOutputs } from '../../../src/output/write.js';
import { OPTIONS, makeRawDisk, qemuInfo, realTools, run } from './fixtures.js';

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

describe('-t vhd', () => {
  it('qemu-img info: format vpc (detected), dynamic, virtual size equal to the 96 MiB raw disk to the byte (plain vpc would round it)', async () => {
    const t = realTools();
    cleanup = () => t.fake.restore();
    const raw = makeRawDisk(t.dir, 96);
    const stem = join(t.out, 'image');
    const { runner } = t.fake.runner();
    await writeOutputs(runner, [{ type: outputType('vhd'), path: outputPath(stem, 'vhd') }], { raw }, OPTIONS, t.resources);
    const info = qemuInfo(`${stem}.vhd`, 'vpc');
    expect(info['virtual-size']).toBe(statSync(raw).size);
    // Dynamic: qemu-img reports its block size (a fixed VHD has none), and detects the format without -f
    // (a fixed VHD is raw data plus a footer: qemu-img, and Glance's format inspector, take it for raw).
    expect(info).toMatchObject({ format: 'vpc', 'cluster-size': 2 * 2 ** 20 });
    expect(JSON.parse(run('qemu-img', ['info', '--output=json', `${stem}.vhd`])).format).toBe('vpc');
    const header = readFileSync(`${stem}.vhd`).subarray(0, 64);
    expect([header.toString('latin1', 0, 8), header.readUInt32BE(60)]).toEqual(['conectix', 3]); // disk type 3: dynamic
    // The contrast that makes force_size necessary: qemu-img's default for the same disk.
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', raw, join(t.dir, 'chs.vhd')]);
    expect(qemuInfo(join(t.dir, 'chs.vhd'), 'vpc')['virtual-size']).not.toBe(statSync(raw).size);
  });
});
