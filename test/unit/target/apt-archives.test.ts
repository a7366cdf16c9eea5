// The per-build apt archive: seeded from the shared pool by hard links, new downloads returned; links,
// hidden and partial files in either directory never cross.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { returnArchives, seedArchives } from '../../../src/target/apt-archives.js';
import { tempDir } from '../../helpers/tree.js';

function dirs() {
  const base = tempDir('dib-ts-apt-').path;
  const pool = join(base, 'pool');
  const own = join(base, 'own');
  mkdirSync(join(pool, 'partial'), { recursive: true });
  return { base, pool, own };
}

describe('private apt archives', () => {
  it('seeding hard-links the pool .deb files and nothing else (no lock, no partial, no links)', () => {
    const { base, pool, own } = dirs();
    writeFileSync(join(pool, 'a_1_amd64.deb'), 'A');
    writeFileSync(join(pool, 'lock'), '');
    writeFileSync(join(pool, 'partial', 'b_1_amd64.deb'), 'half');
    writeFileSync(join(pool, '.c_1_amd64.deb.tmp'), 'tmp');
    writeFileSync(join(base, 'host-secret'), 'secret');
    symlinkSync(join(base, 'host-secret'), join(pool, 'evil_1_amd64.deb'));
    expect(seedArchives(pool, own)).toBe(1);
    expect(readdirSync(own).sort()).toEqual(['a_1_amd64.deb', 'partial']);
    expect(readdirSync(join(own, 'partial'))).toEqual([]);
    expect(statSync(join(own, 'a_1_amd64.deb')).ino).toBe(statSync(join(pool, 'a_1_amd64.deb')).ino);
  });

  it('returning gives the pool only new complete .deb files and keeps what it has', () => {
    const { pool, own } = dirs();
    writeFileSync(join(pool, 'a_1_amd64.deb'), 'A');
    seedArchives(pool, own);
    writeFileSync(join(own, 'n_2_amd64.deb'), 'N');
    writeFileSync(join(own, 'partial', 'p_1_amd64.deb'), 'half');
    writeFileSync(join(own, 'lock'), '');
    expect(returnArchives(own, pool)).toBe(1);
    expect(readdirSync(pool).sort()).toEqual(['a_1_amd64.deb', 'n_2_amd64.deb', 'partial']);
    expect(existsSync(join(pool, 'partial', 'p_1_amd64.deb'))).toBe(false);
  });

  it('a pool that does not exist yet seeds nothing and is created on return', () => {
    const { base, own } = dirs();
    const pool = join(base, 'new-pool');
    expect(seedArchives(pool, own)).toBe(0);
    writeFileSync(join(own, 'x_1_all.deb'), 'X');
    expect(returnArchives(own, pool)).toBe(1);
    expect(readdirSync(pool)).toEqual(['x_1_all.deb']);
  });
});
