// Read the host's Debian mirrors from its apt configuration (one-line and deb822 sources).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface HostMirrors {
  mirror?: string;
  securityMirror?: string;
}

interface Source {
  uris: string[];
  suites: string[];
}

/** Mirrors for Debian (main archive and security) named by the host's apt sources, if any. */
export function readHostMirrors(root = '/etc/apt'): HostMirrors {
  const sources: Source[] = [];
  const list = join(root, 'sources.list');
  if (existsSync(list)) sources.push(...parseOneLine(readFileSync(list, 'utf8')));
  const dir = join(root, 'sources.list.d');
  if (existsSync(dir)) {
    for (const f of readdirSync(dir).sort()) {
      const text = readFileSync(join(dir, f), 'utf8');
      if (f.endsWith('.list')) sources.push(...parseOneLine(text));
      else if (f.endsWith('.sources')) sources.push(...parseDeb822(text));
    }
  }
  const isSecurity = (s: Source) => s.suites.some((x) => /-security$|\/updates$/.test(x));
  const isDebian = (s: Source) =>
    s.suites.some((x) => /^(bookworm|trixie|bullseye|sid|stable|testing|unstable|oldstable)(-updates)?$/.test(x));
  const main = sources.find((s) => isDebian(s) && !isSecurity(s));
  const security = sources.find((s) => isSecurity(s));
  return { mirror: main?.uris[0]?.replace(/\/+$/, ''), securityMirror: security?.uris[0]?.replace(/\/+$/, '') };
}

function parseOneLine(text: string): Source[] {
  const out: Source[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line.startsWith('deb ')) continue;
    const words = line
      .replace(/\[[^\]]*\]/, '')
      .split(/\s+/)
      .slice(1);
    if (words.length >= 2) out.push({ uris: [words[0]], suites: [words[1]] });
  }
  return out;
}

function parseDeb822(text: string): Source[] {
  const out: Source[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    for (const raw of stanza.split('\n')) {
      if (raw.startsWith('#')) continue;
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (m) fields[m[1].toLowerCase()] = m[2].trim();
    }
    if ((fields.enabled ?? 'yes') === 'no') continue;
    if (!(fields.types ?? '').split(/\s+/).includes('deb')) continue;
    if (fields.uris && fields.suites) out.push({ uris: fields.uris.split(/\s+/), suites: fields.suites.split(/\s+/) });
  }
  return out;
}
