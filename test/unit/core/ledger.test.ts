// The resource ledger: what a dead build's ledger still names, and that live builds are left alone.
import { describe, expect, it } from 'vitest';
import { appendFileSync, chmodSync, mkdirSync, writeFileSync } from 'node:fs';
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
    expect(findStaleLedgers(t.path)).toEqual({ stale: [], rejected: [] });
    t.remove();
  });
  it('a dead owner (or a reused pid with another start time) makes the ledger stale; pending newest first', () => {
    const t = tempDir();
    const work = join(t.path, 'dib_build.dead');
    mkdirSync(work);
    chmodSync(work, 0o700);
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
    const [stale] = findStaleLedgers(t.path).stale;
    expect(stale.workDir).toBe(work);
    expect(stale.pending).toEqual([
      { kind: 'loop', file: `${work}/image/image0.raw` },
      { kind: 'dir', path: work },
    ]);
    t.remove();
  });
  it('a ledger that names paths outside its work directory, another work directory, or that others can write is rejected, not acted on', () => {
    const t = tempDir();
    const dead = { pid: process.pid, start: 'gone' };
    const make = (name: string, header: object, entries: object[], mode = 0o600) => {
      const work = join(t.path, name);
      mkdirSync(work, { mode: 0o700 });
      chmodSync(work, 0o700);
      writeFileSync(join(work, LEDGER_NAME), [header, ...entries].map((o) => JSON.stringify(o)).join('\n') + '\n', { mode });
      chmodSync(join(work, LEDGER_NAME), mode);
      return work;
    };
    const a = join(t.path, 'dib_build.escape');
    make('dib_build.escape', { owner: dead, workDir: a }, [
      { id: 0, kind: 'file', path: '/etc/shadow' },
      { id: 1, kind: 'mount', path: `${a}/../../proc` },
    ]);
    make('dib_build.other', { owner: dead, workDir: '/' }, []);
    const w = join(t.path, 'dib_build.writable');
    make('dib_build.writable', { owner: dead, workDir: w }, [], 0o666);
    const { stale, rejected } = findStaleLedgers(t.path);
    expect(stale).toEqual([]);
    expect(rejected.map((r) => [r.path.split('/').slice(-2, -1)[0], r.reason])).toEqual([
      ['dib_build.escape', 'it names a path outside its work directory (/etc/shadow)'],
      ['dib_build.other', 'it names another work directory (/)'],
      ['dib_build.writable', 'the ledger is writable by group or others'],
    ]);
    t.remove();
  });
});
