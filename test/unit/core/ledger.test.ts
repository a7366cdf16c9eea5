// The resource ledger: what a dead build's ledger still names, and that live builds are left alone.
import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { LEDGER_NAME, Ledger, findStaleLedgers, processStartTime } from '../../../src/core/ledger.js';
import { tempDir } from '../../helpers/tree.js';

describe('ledger', () => {
  it('a live build is not stale; its released entries are not pending', () => {
    const t = tempDir();
    const work = join(t.path, 'dib_build.live');
    mkdirSync(work);
    const ledger = new Ledger(join(work, LEDGER_NAME), work);
    const mount = ledger.record({ kind: 'mount', path: `${work}/mnt/proc` });
    ledger.record({ kind: 'loop', file: `${work}/image/image0.raw` });
    ledger.released(mount);
    expect(findStaleLedgers(t.path)).toEqual([]);
    t.remove();
  });
  it('a dead owner (or a reused pid with another start time) makes the ledger stale; pending newest first', () => {
    const t = tempDir();
    const work = join(t.path, 'dib_build.dead');
    mkdirSync(work);
    const file = join(work, LEDGER_NAME);
    // our own pid, but a start time that is not ours: the owner is gone and the pid was reused
    writeFileSync(
      file,
      JSON.stringify({ owner: { pid: process.pid, start: 'not-' + processStartTime(process.pid) }, workDir: work, created: '' }) + '\n',
    );
    appendFileSync(
      file,
      [
        { id: 0, kind: 'dir', path: work },
        { id: 1, kind: 'mount', path: `${work}/mnt/proc` },
        { id: 2, kind: 'loop', file: `${work}/image/image0.raw` },
        { released: 1 },
      ]
        .map((o) => JSON.stringify(o))
        .join('\n') + '\n{"id": 3, "kind": "mou',
    ); // torn last line (power loss)
    const [stale] = findStaleLedgers(t.path);
    expect(stale.workDir).toBe(work);
    expect(stale.pending).toEqual([
      { kind: 'loop', file: `${work}/image/image0.raw` },
      { kind: 'dir', path: work },
    ]);
    t.remove();
  });
});
