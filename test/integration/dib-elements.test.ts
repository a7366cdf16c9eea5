// Root-only: existing DIB elements run unchanged. DIB's own elements tree first on ELEMENTS_PATH builds
// the same installed-package list as upstream DIB's build of the same elements, and the image boots
// with ssh as devuser's user; a team tree on only our shipped infrastructure elements builds without
// DIB's tree, with a probe element that prints the engine contract from every phase.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ENGINE_VARIABLES } from '../../src/build/dib-contract.js';
import { readHostMirrors } from '../../src/config/host-apt.js';
import { PHASES } from '../../src/phases/phase-table.js';
import { runCli } from '../helpers/cli.js';
import { dibElementsDir } from '../helpers/dib.js';
import { withGuestSsh } from '../helpers/guest-ssh.js';
import { NO_LEAKS, findLeaks } from '../helpers/leaks.js';
import { type TreeSpec, writeTree } from '../helpers/tree.js';
import { archiveState, readDpkgManifest, upstreamDpkgManifest } from '../helpers/upstream-dib.js';

const CACHE = process.env.DIB_TS_TEST_CACHE ?? '/var/tmp/dib-ts-test-cache';
const root = `/var/tmp/dib-ts-dib-elements-${process.pid}`;
const tmp = join(root, 'tmp');
const out = join(root, 'out');
const ELEMENTS = [
  'debian-minimal',
  'vm',
  'growroot',
  'cloud-init',
  'cloud-init-datasources',
  'devuser',
  'openssh-server',
  'runtime-ssh-host-keys',
  'dhcp-all-interfaces',
];
const mirrors = readHostMirrors();
/** What upstream DIB itself needs to build bookworm here; both builds get exactly these. */
const DIB_SETTINGS: Record<string, string> = {
  DIB_RELEASE: 'bookworm', // DIB's default is "stable", which is no longer bookworm
  DIB_DISTRIBUTION_MIRROR: mirrors.mirror ?? '',
  DIB_DEBIAN_SECURITY_MIRROR: mirrors.securityMirror ?? '',
  DIB_DEBIAN_SECURITY_SUBPATH: '-security', // DIB 3.13 still uses bullseye's /updates layout
  DIB_CLOUD_INIT_DATASOURCES: 'ConfigDrive, OpenStack', // cloud-init-datasources fails without a list
  DIB_DEV_USER_PWDLESS_SUDO: '1',
};

beforeAll(() => {
  mkdirSync(tmp, { recursive: true });
  mkdirSync(out, { recursive: true });
});
afterAll(() => {
  if (!findLeaks(root).mounts.length) rmSync(root, { recursive: true, force: true });
});

describe('existing DIB elements run unchanged', () => {
  it(`DIB's elements first on ELEMENTS_PATH (${ELEMENTS.join(' ')}): the installed packages equal upstream DIB's build of the same list; boots; ssh as devuser`, async () => {
    expect(mirrors.mirror && mirrors.securityMirror).toBeTruthy();
    const archive = await archiveState(
      [
        { mirror: mirrors.mirror!, suite: 'bookworm' },
        { mirror: mirrors.mirror!, suite: 'bookworm-updates' },
        { mirror: mirrors.securityMirror!, suite: 'bookworm-security' },
      ],
      'amd64',
    );
    const upstream = await upstreamDpkgManifest(ELEMENTS, DIB_SETTINGS, archive, { timeoutMs: 5_400_000 });
    console.log(
      `upstream DIB manifest: ${upstream.packages.length} packages (${upstream.built ? 'built now' : 'cached'}: ${upstream.dir})`,
    );

    const key = join(root, 'devuser-key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'dib-elements-test', '-f', key]);
    const r = await runCli(
      'disk-image-create',
      ['--image-cache', CACHE, '-o', join(out, 'dibel'), ...ELEMENTS],
      { ...DIB_SETTINGS, TMP_DIR: tmp, ELEMENTS_PATH: dibElementsDir(), DIB_DEV_USER_AUTHORIZED_KEYS: `${key}.pub` },
      { timeout: 5_400_000 },
    );
    expect(r.stderr.slice(-3000)).toContain('Build completed successfully');
    expect(r.status).toBe(0);
    const ours = readDpkgManifest(join(out, 'dibel.d', 'dib-manifests', 'dib-manifest-dpkg-dibel'));
    expect(ours.length).toBeGreaterThan(100);
    expect(ours).toEqual(upstream.packages);
    expect(findLeaks(root)).toEqual(NO_LEAKS);

    await withGuestSsh(
      {
        image: join(out, 'dibel.qcow2'),
        dir: join(root, 'guest'),
        user: 'devuser',
        key,
        publicKey: readFileSync(`${key}.pub`, 'utf8'),
        timeoutSeconds: 900,
      },
      async (guest) => {
        console.log(`ssh as devuser after ${guest.bootSeconds.toFixed(0)}s`);
        const who = await guest.run('id -un; sudo -n true && echo passwordless-sudo');
        expect(who.output).toMatch(/^devuser\n[\s\S]*passwordless-sudo/);
        const sshd = await guest.run('sudo -n systemctl is-active ssh; ls /etc/ssh/ssh_host_*_key.pub | wc -l');
        expect(sshd.output).toMatch(/^active\n[1-9]/);
      },
    );
  });

  it("a team tree on only the shipped infrastructure elements resolves and builds without DIB's tree; a probe sees the engine contract in every phase", async () => {
    const team = join(root, 'team');
    const source = join(root, 'team-source');
    writeTree(source, { VERSION: 'team-app 1.2.3\n' });
    writeTree(team, { 'team-app': teamApp(source), 'contract-probe': contractProbe() });
    const plan = await runCli('element-info', ['--plan', '-n', 'debian-minimal', 'team-app', 'contract-probe'], { ELEMENTS_PATH: team });
    expect(plan.status).toBe(0);
    expect(plan.stdout).not.toContain('diskimage_builder');
    const events = join(root, 'team-events.ndjson');
    const r = await runCli(
      'disk-image-create',
      ['--image-cache', CACHE, '--events', events, '-n', '-o', join(out, 'team'), 'debian-minimal', 'team-app', 'contract-probe'],
      { TMP_DIR: tmp, ELEMENTS_PATH: team },
      { timeout: 3_600_000 },
    );
    expect(r.stderr.slice(-3000)).toContain('Build completed successfully');
    expect(r.status).toBe(0);
    expect(existsSync(join(out, 'team.qcow2'))).toBe(true);
    expect(r.stderr).toContain('team-app installed: team-app 1.2.3 team-app-svc python3');

    const seen = new Map<string, Map<string, string>>(); // phase -> variable -> set|unset (+ checks)
    for (const line of readFileSync(events, 'utf8').trim().split('\n')) {
      const e = JSON.parse(line) as { type: string; line?: string };
      const m = e.type === 'output' ? /^contract-probe (\S+) (\S+) (.*)$/.exec(e.line ?? '') : null;
      if (!m) continue;
      const phase = seen.get(m[1]) ?? new Map<string, string>();
      phase.set(m[2], m[3]);
      seen.set(m[1], phase);
    }
    expect([...seen.keys()].sort()).toEqual(PHASES.map((p) => p.name).sort());
    const order = PHASES.map((p) => p.name);
    for (const v of ENGINE_VARIABLES) {
      for (const phase of order) {
        const wanted = v.only ? v.only.includes(phase) : order.indexOf(phase) >= order.indexOf(v.from);
        expect({ variable: v.name, phase, state: seen.get(phase)?.get(v.name) }).toEqual({
          variable: v.name,
          phase,
          state: wanted ? 'set' : 'unset',
        });
      }
    }
    for (const phase of order) {
      const checks = seen.get(phase)!;
      expect({ phase, layout: checks.get('layout') }).toEqual({ phase, layout: 'cloudimg-rootfs ext4 / -' });
      expect({ phase, runParts: checks.get('dib-run-parts') }).toEqual({ phase, runParts: 'lists-this-hook' });
      if (!PHASES.find((p) => p.name === phase)!.inChroot) {
        expect({ phase, path: checks.get('elements-path') }).toEqual({ phase, path: 'each-element-once' });
        expect(checks.get('params')).toMatch(/root-fs-type: ext4;.*mount-base: \//);
      }
    }
    expect(seen.get('block-device')!.get('tmp-mount-path')).toBe('absent');
    // DIB appends the size and root mkfs options after block-device.d, when it makes the disk itself.
    expect(seen.get('block-device')!.get('params')).not.toContain('image-size');
    expect(seen.get('pre-finalise')!.get('params')).toMatch(/image-size: \d+KiB;root-fs-opts: -i 4096 -J size=64;$/);
    expect(findLeaks(root)).toEqual(NO_LEAKS);
  });
});

/** An element of a team's own tree, depending only on the shipped infrastructure elements. */
function teamApp(source: string): TreeSpec {
  return {
    'element-deps': 'dib-python\npackage-installs\nsource-repositories\nsvc-map\n',
    'package-installs.yaml': 'jq:\n',
    'svc-map': 'team-app:\n  default: team-app-svc\n',
    'source-repository-team-app': `team-app file /opt/team-app/VERSION file://${source}/VERSION\n`,
    'install.d': {
      '60-team-app': {
        exec: [
          '#!/bin/bash',
          'set -eu',
          'set -o pipefail',
          'command -v jq >/dev/null',
          'version=$(cat /opt/team-app/VERSION)',
          'svc=$(svc-map team-app)',
          'py=$("$DIB_PYTHON" -c "import sys; print(\'python%d\' % sys.version_info[0])")',
          'echo "team-app installed: $version $svc $py"',
          '',
        ].join('\n'),
      },
    },
  };
}

/**
 * Prints `contract-probe PHASE NAME set|unset` for every engine variable, and a few checks, from a hook
 * in every phase (a shared script at the element's top level, copied to the hooks tree's root).
 */
function contractProbe(): TreeSpec {
  const names = ENGINE_VARIABLES.map((v) => v.name).join(' ');
  const script = `# shellcheck shell=bash
phase=$1
say() { echo "contract-probe $phase $*"; }
for name in ${names}; do
    if [ -n "\${!name+x}" ]; then say "$name" set; else say "$name" unset; fi
done
say layout "\${DIB_ROOT_LABEL:-} \${DIB_ROOT_FSTYPE:-} \${DIB_MOUNTPOINTS:-} \${DIB_BOOT_LABEL:--}"
here=$(cd "$(dirname "$0")/.." && pwd)
if "$here/dib-run-parts" --list "$here/$phase.d" | grep -qx "$here/$phase.d/$(basename "$0")"; then
    say dib-run-parts lists-this-hook
else
    say dib-run-parts missing
fi
if [ -d "\${ELEMENTS_PATH:-/nonexistent}" ]; then
    have=$(ls "$ELEMENTS_PATH" | sort | tr '\\n' ' ')
    want=$(tr ' ' '\\n' <<< "$IMAGE_ELEMENT" | sed '/^$/d' | sort | tr '\\n' ' ')
    if [ "$have" = "$want" ]; then say elements-path each-element-once; else say elements-path "have: $have want: $want"; fi
    say params "$(tr '\\n' ';' < "$DIB_BLOCK_DEVICE_PARAMS_YAML")"
fi
if [ -e "\${TMP_MOUNT_PATH:-/nonexistent}" ]; then say tmp-mount-path exists; else say tmp-mount-path absent; fi
`;
  const spec: TreeSpec = { 'contract-probe.bash': script };
  for (const p of PHASES) {
    spec[p.dir] = {
      [`90-contract-probe-${p.name}`]: { exec: `#!/bin/bash\nset -eu\nsource "$(dirname "$0")/../contract-probe.bash" ${p.name}\n` },
    };
  }
  return spec;
}
