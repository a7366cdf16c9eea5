// The checks image-verify runs: offline hygiene on the read-only root, online OpenStack-guide checks over ssh.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TreeReader } from '../core/tree-read.js';

export interface CheckResult {
  name: string;
  group: 'offline' | 'online' | 'element';
  ok: boolean;
  detail: string;
  seconds: number;
}

/**
 * An offline check reads the image only through `image` (paths inside the image, never a link out of
 * it, regular files only); an UnsafeTreePath it throws is its finding.
 */
export type OfflineCheck = { name: string; run: (image: TreeReader) => string | null };

const text = (image: TreeReader, rel: string) => image.readText(rel) ?? '';

/** Image content quoted in a finding: one line, bounded. */
const quote = (s: string, max = 64) => JSON.stringify(s.length > max ? `${s.slice(0, max)}...` : s);
const some = (names: string[], max = 10) => names.slice(0, max).join(', ') + (names.length > max ? ` and ${names.length - max} more` : '');

/** Each returns null when fine, or what is wrong. */
export const OFFLINE_CHECKS: OfflineCheck[] = [
  {
    name: 'no-ssh-host-keys',
    run: (r) => {
      const keys = r.list('etc/ssh').filter((n) => n.startsWith('ssh_host_'));
      return keys.length ? `host keys baked into the image: ${some(keys)}` : null;
    },
  },
  {
    name: 'machine-id-uninitialized',
    run: (r) => {
      const id = text(r, 'etc/machine-id').trim();
      return id === 'uninitialized' || id === '' ? null : `/etc/machine-id is ${quote(id)} (every instance would share it)`;
    },
  },
  {
    name: 'no-build-resolv-conf',
    run: (r) => {
      if (!r.exists('etc/resolv.conf') || r.isLink('etc/resolv.conf')) return null;
      const content = text(r, 'etc/resolv.conf');
      if (content.includes('used during the image build')) return '/etc/resolv.conf is the build-time copy';
      // The host's own file, read on purpose: is the image's a copy of it?
      const host = existsSync('/etc/resolv.conf') ? readFileSync('/etc/resolv.conf', 'utf8').trim() : '';
      return host && content.trim() === host ? "/etc/resolv.conf is a copy of the build host's" : null;
    },
  },
  {
    name: 'no-build-proxy',
    run: (r) => (r.exists('etc/apt/apt.conf.d/60img-build-proxy') ? 'the build proxy (60img-build-proxy) is still configured' : null),
  },
  {
    name: 'no-apt-lists',
    run: (r) => {
      const lists = r.list('var/lib/apt/lists').filter((n) => n !== 'lock' && n !== 'partial' && n !== 'auxfiles');
      return lists.length ? `${lists.length} package lists left in /var/lib/apt/lists` : null;
    },
  },
  {
    name: 'no-package-cache',
    run: (r) => {
      const debs = r.list('var/cache/apt/archives').filter((n) => n.endsWith('.deb'));
      return debs.length ? `${debs.length} .deb files left in /var/cache/apt/archives` : null;
    },
  },
  {
    name: 'no-policy-rc-d',
    run: (r) => (r.exists('usr/sbin/policy-rc.d') ? '/usr/sbin/policy-rc.d still blocks services' : null),
  },
  {
    name: 'real-start-stop-daemon',
    run: (r) => {
      const p = ['usr/sbin/start-stop-daemon', 'sbin/start-stop-daemon'].find((x) => r.exists(x));
      if (!p) return null;
      return r.read(p, 4)?.toString('latin1') === '\x7fELF' ? null : 'start-stop-daemon is still the build stub';
    },
  },
  {
    name: 'no-dpkg-unsafe-io',
    run: (r) => (r.exists('etc/dpkg/dpkg.cfg.d/02apt-speedup') ? 'dpkg force-unsafe-io is still configured' : null),
  },
  {
    name: 'no-cloud-init-instance-state',
    run: (r) => {
      const left = ['var/lib/cloud/instance', 'var/lib/cloud/instances'].filter((x) => r.exists(x));
      return left.length ? `cloud-init ran during the build: ${left.join(', ')}` : null;
    },
  },
  {
    name: 'tmp-empty',
    run: (r) => {
      const left = r.list('tmp');
      return left.length ? `/tmp holds ${some(left)}` : null;
    },
  },
  {
    name: 'fstab-and-grub-agree-on-root',
    run: (r) => {
      const fstab = text(r, 'etc/fstab');
      const m = /^LABEL=(\S+)\s+\/\s/m.exec(fstab);
      if (!m) return 'fstab does not mount / by LABEL=';
      const grub = text(r, 'boot/grub/grub.cfg');
      if (!grub) return 'no /boot/grub/grub.cfg';
      return grub.includes(`root=LABEL=${m[1]}`) ? null : `grub.cfg does not boot root=LABEL=${m[1].slice(0, 64)} (fstab's root)`;
    },
  },
  {
    name: 'no-mac-addresses-in-image',
    run: (r) => {
      const mac = /([0-9a-f]{2}:){5}[0-9a-f]{2}/i;
      const found: string[] = [];
      for (const d of ['etc/network', 'etc/netplan', 'etc/systemd/network', 'etc/udev/rules.d'])
        r.walkFiles(d, (p) => {
          if (mac.test(text(r, p))) found.push(p);
        });
      return found.length ? `network configuration in the image names MAC addresses: ${some(found)}` : null;
    },
  },
  {
    name: 'kernel-and-initrd',
    run: (r) => {
      const boot = r.list('boot');
      return boot.some((n) => n.startsWith('vmlinuz')) && boot.some((n) => n.startsWith('initrd.img'))
        ? null
        : 'no kernel and initrd in /boot';
    },
  },
];

export interface OnlineCheck {
  name: string;
  /** Bash run in the guest as the login user; exit 0 = pass; output is the detail. */
  script: string;
}

export function onlineChecks(expect: { hostname: string; diskBytes: number }): OnlineCheck[] {
  return [
    { name: 'ssh-key-login', script: 'echo "logged in as $(id -un) with the key from the metadata"' },
    { name: 'cloud-init-done', script: 's=$(sudo cloud-init status --long); echo "$s"; echo "$s" | grep -q "status: done"' },
    {
      name: 'user-data-ran',
      script: 'test -f /var/lib/image-verify/user-data-ok && echo "user-data script ran: $(cat /var/lib/image-verify/user-data-ok)"',
    },
    { name: 'hostname-from-metadata', script: `h=$(hostname); echo "hostname: $h"; test "$h" = "${expect.hostname}"` },
    {
      name: 'root-grown',
      script: `size=$(df -B1 --output=size / | tail -1); echo "root filesystem: $size bytes of a ${expect.diskBytes}-byte disk"; test "$size" -gt ${Math.floor(expect.diskBytes * 0.85)}`,
    },
    { name: 'console-on-ttyS0', script: 'c=$(cat /proc/cmdline); echo "$c"; echo "$c" | grep -q "console=ttyS0"' },
    { name: 'sshd-running', script: 'sudo systemctl is-active ssh' },
    // Config that names a MAC is fine only when it names this instance's own NICs (cloud-init writes
    // such files at boot); a MAC from anywhere else was baked into the image.
    {
      name: 'no-mac-pinned-network-config',
      script:
        'own=$(cat /sys/class/net/*/address | tr A-F a-f); bad=""; for m in $(sudo grep -rhoiE "([0-9a-f]{2}:){5}[0-9a-f]{2}" /etc/network /etc/netplan /etc/systemd/network /etc/udev/rules.d 2>/dev/null | tr A-F a-f | sort -u); do echo "$own" | grep -qx "$m" || bad="$bad $m"; done; if [ -n "$bad" ]; then echo "configuration pins MAC addresses that are not this instance\x27s:$bad"; exit 1; fi; echo "no foreign MAC addresses in the network configuration (own: $(echo $own))"',
    },
    {
      name: 'no-firewall-rules',
      script:
        'if command -v nft >/dev/null; then r=$(sudo nft list ruleset | grep -cE "\\b(drop|reject)\\b" || true); echo "nft drop/reject rules: $r"; test "$r" = 0; else echo "no nftables"; fi; if command -v iptables-save >/dev/null; then n=$(sudo iptables-save | grep -cE "^-A" || true); echo "iptables rules: $n"; test "$n" = 0; fi',
    },
    { name: 'dns-from-dhcp', script: 'grep -E "^nameserver " /etc/resolv.conf' },
    {
      name: 'host-keys-and-machine-id-per-instance',
      script:
        'ls /etc/ssh/ssh_host_*_key.pub >/dev/null && id=$(cat /etc/machine-id) && echo "machine-id $id" && echo "$id" | grep -qE "^[0-9a-f]{32}$" && for k in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf "$k"; done',
    },
  ];
}

/** Shell checks elements declare: <element>/image-verify.d/<name>, run in the guest with sudo. */
export function elementChecks(elementDirs: Map<string, string>): Array<{ name: string; script: string }> {
  const out: Array<{ name: string; script: string }> = [];
  for (const [element, dir] of [...elementDirs].sort()) {
    const d = join(dir, 'image-verify.d');
    if (!existsSync(d) || !statSync(d).isDirectory()) continue;
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (!statSync(p).isFile()) continue;
      out.push({ name: `${element}/${f}`, script: readFileSync(p, 'utf8') });
    }
  }
  return out;
}
