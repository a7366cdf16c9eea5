#!/usr/bin/env node
// Time element resolution over upstream DIB's elements tree: ours (in process and as a CLI) against
// upstream's resolver (in process and as `python3 -m diskimage_builder.element_dependencies`).
//   node scripts/bench-resolve.mjs        (after npm run build; needs python3-diskimage-builder)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const { selectElements } = await import(join(repo, 'dist/elements/plan.js'));
const dib = execFileSync('/usr/bin/python3', [
  '-c',
  'import diskimage_builder,os;print(os.path.join(os.path.dirname(diskimage_builder.__file__),"elements"))',
])
  .toString()
  .trim();

// The same lists as the compat test: each element alone and with debian-minimal, plus 300 seeded combinations.
let a = 20261122 >>> 0;
const random = () => {
  a = (a + 0x6d2b79f5) >>> 0;
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const names = readdirSync(dib).sort();
const oses = ['debian-minimal', 'ubuntu-minimal', 'centos', 'fedora', 'debian', 'ubuntu', 'rhel', 'opensuse'];
const pick = (xs) => xs[Math.floor(random() * xs.length)];
const lists = [...names.map((n) => [n]), ...names.filter((n) => n !== 'debian-minimal').map((n) => [n, 'debian-minimal'])];
for (let i = 0; i < 300; i++) {
  const size = 1 + Math.floor(random() * 5);
  const l = new Set();
  if (random() < 0.8) l.add(pick(oses));
  while (l.size < size) l.add(pick(names));
  if (random() < 0.1) l.add('nonexistent-element');
  lists.push([...l]);
}

// Ours, in process: each list resolved from a fresh scan of the tree (as a CLI run would).
const t0 = process.hrtime.bigint();
for (const l of lists) {
  try {
    selectElements(l, { elementsPath: dib, builtinDir: null, defaultOsElement: '' });
  } catch {
    /* errors count too */
  }
}
const oursMs = Number(process.hrtime.bigint() - t0) / 1e6 / lists.length;

// Upstream, in process: _find_all_elements + _expand_element_dependencies per list.
const dir = mkdtempSync(join(tmpdir(), 'bench-resolve-'));
writeFileSync(join(dir, 'lists.json'), JSON.stringify(lists));
const py = `import json,sys,time,logging
from diskimage_builder import element_dependencies as ed
logging.disable(logging.CRITICAL)
lists=json.load(open(sys.argv[1]))
t=time.perf_counter()
for l in lists:
    try: ed._expand_element_dependencies(l, ed._find_all_elements(sys.argv[2]))
    except Exception: pass
print((time.perf_counter()-t)*1000/len(lists))`;
const dibMs = Number(execFileSync('/usr/bin/python3', ['-c', py, join(dir, 'lists.json'), dib]).toString());
rmSync(dir, { recursive: true, force: true });

// As commands: 10 runs each of the same typical query.
const query = ['debian-minimal', 'vm', 'block-device-mbr'];
const time = (cmd, args, env) => {
  const s = process.hrtime.bigint();
  for (let i = 0; i < 10; i++) {
    const r = spawnSync(cmd, args, { env: { ...process.env, ...env } });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  }
  return Number(process.hrtime.bigint() - s) / 1e6 / 10;
};
const oursCli = time(join(repo, 'bin/element-info'), query, { ELEMENTS_PATH: dib });
const dibCli = time('/usr/bin/python3', ['-m', 'diskimage_builder.element_dependencies', ...query], { ELEMENTS_PATH: dib });

const result = {
  lists: lists.length,
  elementsTree: dib,
  perList_ms: { ours: +oursMs.toFixed(3), dib: +dibMs.toFixed(3), ratio_ours_to_dib: +(oursMs / dibMs).toFixed(3) },
  command_ms: {
    query: query.join(' '),
    ours: +oursCli.toFixed(1),
    dib: +dibCli.toFixed(1),
    ratio_ours_to_dib: +(oursCli / dibCli).toFixed(3),
  },
};
console.log(JSON.stringify(result, null, 2));
