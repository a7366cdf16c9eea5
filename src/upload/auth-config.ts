// Where the Keystone credentials come from, as the OpenStack clients find them: a named cloud in
// clouds.yaml (`--os-cloud`/OS_CLOUD; OS_CLIENT_CONFIG_FILE, then ./, ~/.config/openstack/,
// /etc/openstack/; the first file found is used, secure.yaml from the same search merged over it),
// or the OS_* variables. Password and application-credential (v3applicationcredential) auth.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { UsageError } from '../core/errors.js';

export interface AuthConfig {
  /** Where it came from, for messages: `cloud 'x' in /path/clouds.yaml` or `the OS_* variables`. */
  source: string;
  /** The Keystone v3 URL (ends in /v3). */
  authUrl: string;
  method: 'password' | 'application-credential';
  username?: string;
  userId?: string;
  password?: string;
  userDomainName?: string;
  userDomainId?: string;
  projectName?: string;
  projectId?: string;
  projectDomainName?: string;
  projectDomainId?: string;
  applicationCredentialId?: string;
  applicationCredentialName?: string;
  applicationCredentialSecret?: string;
  region?: string;
  interface: 'public' | 'internal' | 'admin';
  /** A CA bundle to verify the endpoints with (OS_CACERT / cacert). */
  cacert?: string;
  /** Do not verify TLS certificates (OS_INSECURE / verify: false). */
  insecure: boolean;
}

/** The values that must never be shown: passwords and application-credential secrets. */
export function authSecrets(c: AuthConfig): string[] {
  return [c.password, c.applicationCredentialSecret].filter((v): v is string => !!v);
}

/** Who is authenticating, for messages (never a secret). */
export function describeAuth(c: AuthConfig): string {
  const who =
    c.method === 'application-credential'
      ? `application credential ${c.applicationCredentialId ?? c.applicationCredentialName}`
      : `user ${c.username ?? c.userId}`;
  return `${who} at ${c.authUrl} (${c.source})`;
}

const CLOUDS_SCHEMA = {
  type: 'object',
  properties: {
    clouds: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        properties: {
          auth: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
          auth_type: { type: 'string' },
          region_name: { type: 'string' },
          interface: { enum: ['public', 'internal', 'admin'] },
          cacert: { type: 'string' },
          verify: { type: 'boolean' },
        },
      },
    },
  },
  required: ['clouds'],
};
const validateClouds = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(CLOUDS_SCHEMA);

type CloudEntry = {
  auth?: Record<string, string | number | boolean>;
  auth_type?: string;
  region_name?: string;
  interface?: AuthConfig['interface'];
  cacert?: string;
  verify?: boolean;
};

/** The clouds.yaml (or secure.yaml) search: OS_CLIENT_CONFIG_FILE first for clouds.yaml, then ., ~/.config/openstack, /etc/openstack. */
export function configSearch(file: 'clouds.yaml' | 'secure.yaml', env: NodeJS.ProcessEnv, cwd = process.cwd()): string[] {
  const dirs = [cwd, join(env.HOME || homedir(), '.config', 'openstack'), '/etc/openstack'];
  const paths = dirs.map((d) => join(d, file));
  if (file === 'clouds.yaml' && env.OS_CLIENT_CONFIG_FILE) paths.unshift(resolve(cwd, env.OS_CLIENT_CONFIG_FILE));
  return paths;
}

function readClouds(path: string): Record<string, CloudEntry> {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (error) {
    // Only where and what kind: the parser's message quotes the text, which may be a password.
    const e = error as { code?: string; name?: string; linePos?: Array<{ line: number; col: number }> };
    const at = e.linePos?.[0] ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
    const kind = e.code ?? (e.name === 'ReferenceError' ? 'an alias (*name) that no anchor defines' : e.name);
    throw new UsageError('bad-clouds-yaml', `${path} is not readable YAML${at}${kind ? ` (${kind})` : ''}`, {
      hint: 'quote values that start with *, &, !, % or @ (a password may); see the openstacksdk configuration docs',
    });
  }
  if (!validateClouds(doc)) {
    const problems = (validateClouds.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
    throw new UsageError('bad-clouds-yaml', `${path}: ${problems}`, {
      hint: 'clouds.yaml holds `clouds: NAME: {auth: {...}, region_name: ...}`',
    });
  }
  return (doc as { clouds: Record<string, CloudEntry> }).clouds;
}

function merge(base: CloudEntry, over: CloudEntry | undefined): CloudEntry {
  if (!over) return base;
  return { ...base, ...over, auth: { ...(base.auth ?? {}), ...(over.auth ?? {}) } };
}

const truthy = (v: string | undefined) => !!v && /^(1|true|yes|on)$/i.test(v);
const str = (v: string | number | boolean | undefined) => (v === undefined || v === '' ? undefined : String(v));

/** The credentials to use: the named cloud (option or OS_CLOUD), else the OS_* variables. */
export function loadAuthConfig(options: { cloud?: string }, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): AuthConfig {
  const cloudName = options.cloud || env.OS_CLOUD;
  if (cloudName) return fromCloud(cloudName, env, cwd);
  return fromEnvironment(env);
}

function fromCloud(name: string, env: NodeJS.ProcessEnv, cwd: string): AuthConfig {
  const file = configSearch('clouds.yaml', env, cwd).find((p) => existsSync(p));
  if (!file)
    throw new UsageError('unknown-cloud', `cloud '${name}' asked for, and no clouds.yaml was found`, {
      hint: `looked in ${configSearch('clouds.yaml', env, cwd).join(', ')}`,
    });
  const clouds = readClouds(file);
  const secureFile = configSearch('secure.yaml', env, cwd).find((p) => existsSync(p));
  const secure = secureFile ? readClouds(secureFile) : {};
  const entry = clouds[name];
  if (!entry)
    throw new UsageError('unknown-cloud', `no cloud named '${name}' in ${file}`, {
      hint: `known clouds: ${Object.keys(clouds).sort().join(', ') || '(none)'}`,
    });
  const c = merge(entry, secure[name]);
  const a = c.auth ?? {};
  const source = `cloud '${name}' in ${file}${secureFile && secure[name] ? ` and ${secureFile}` : ''}`;
  return finish(
    {
      source,
      authUrl: str(a.auth_url) ?? '',
      method: c.auth_type === 'v3applicationcredential' ? 'application-credential' : 'password',
      username: str(a.username),
      userId: str(a.user_id),
      password: str(a.password),
      userDomainName: str(a.user_domain_name) ?? (a.user_domain_id ? undefined : str(a.domain_name)),
      userDomainId: str(a.user_domain_id) ?? str(a.domain_id),
      projectName: str(a.project_name) ?? str(a.tenant_name),
      projectId: str(a.project_id) ?? str(a.tenant_id),
      projectDomainName: str(a.project_domain_name) ?? str(a.domain_name),
      projectDomainId: str(a.project_domain_id) ?? str(a.domain_id),
      applicationCredentialId: str(a.application_credential_id),
      applicationCredentialName: str(a.application_credential_name),
      applicationCredentialSecret: str(a.application_credential_secret),
      region: c.region_name,
      interface: c.interface ?? 'public',
      cacert: c.cacert,
      insecure: c.verify === false,
    },
    `clouds.yaml (${file})`,
  );
}

function fromEnvironment(env: NodeJS.ProcessEnv): AuthConfig {
  const appcred = env.OS_AUTH_TYPE === 'v3applicationcredential' || !!env.OS_APPLICATION_CREDENTIAL_ID;
  const iface = (env.OS_INTERFACE || 'public').replace(/URL$/, '');
  if (!['public', 'internal', 'admin'].includes(iface))
    throw new UsageError('bad-auth', `OS_INTERFACE=${env.OS_INTERFACE} is not public, internal or admin`, {
      hint: 'unset it or use public',
    });
  return finish(
    {
      source: 'the OS_* variables',
      authUrl: env.OS_AUTH_URL ?? '',
      method: appcred ? 'application-credential' : 'password',
      username: env.OS_USERNAME || undefined,
      userId: env.OS_USER_ID || undefined,
      password: env.OS_PASSWORD || undefined,
      userDomainName: env.OS_USER_DOMAIN_NAME || undefined,
      userDomainId: env.OS_USER_DOMAIN_ID || undefined,
      projectName: env.OS_PROJECT_NAME || env.OS_TENANT_NAME || undefined,
      projectId: env.OS_PROJECT_ID || env.OS_TENANT_ID || undefined,
      projectDomainName: env.OS_PROJECT_DOMAIN_NAME || undefined,
      projectDomainId: env.OS_PROJECT_DOMAIN_ID || undefined,
      applicationCredentialId: env.OS_APPLICATION_CREDENTIAL_ID || undefined,
      applicationCredentialName: env.OS_APPLICATION_CREDENTIAL_NAME || undefined,
      applicationCredentialSecret: env.OS_APPLICATION_CREDENTIAL_SECRET || undefined,
      region: env.OS_REGION_NAME || undefined,
      interface: iface as AuthConfig['interface'],
      cacert: env.OS_CACERT || undefined,
      insecure: truthy(env.OS_INSECURE),
    },
    'the OS_* variables',
  );
}

/** Check what is required for the auth method; normalise the URL to Keystone v3. */
function finish(c: AuthConfig, where: string): AuthConfig {
  const missing: string[] = [];
  const env = where.startsWith('the OS_');
  const name = (variable: string, key: string) => (env ? variable : key);
  if (!c.authUrl) missing.push(name('OS_AUTH_URL', 'auth.auth_url'));
  if (c.method === 'application-credential') {
    if (!c.applicationCredentialId && !c.applicationCredentialName)
      missing.push(name('OS_APPLICATION_CREDENTIAL_ID', 'auth.application_credential_id'));
    if (!c.applicationCredentialSecret) missing.push(name('OS_APPLICATION_CREDENTIAL_SECRET', 'auth.application_credential_secret'));
    if (!c.applicationCredentialId && !c.username && !c.userId) missing.push(name('OS_USERNAME', 'auth.username'));
  } else {
    if (!c.username && !c.userId) missing.push(name('OS_USERNAME', 'auth.username'));
    if (!c.password) missing.push(name('OS_PASSWORD', 'auth.password'));
    if (!c.projectName && !c.projectId) missing.push(name('OS_PROJECT_NAME', 'auth.project_name'));
  }
  if (missing.length)
    throw new UsageError('bad-auth', `no Keystone credentials: ${missing.join(', ')} not set (${where})`, {
      hint: 'use --os-cloud NAME with a clouds.yaml, or set the OS_* variables (an openrc file)',
    });
  if (c.cacert && !statSync(c.cacert, { throwIfNoEntry: false })?.isFile())
    throw new UsageError('bad-auth', `the CA bundle ${c.cacert} is not a file (OS_CACERT / cacert)`, {
      hint: 'give the path of a PEM file',
    });
  let url: URL;
  try {
    url = new URL(c.authUrl);
  } catch {
    throw new UsageError('bad-auth', `the auth URL '${c.authUrl}' is not a URL (${where})`, {
      hint: 'e.g. https://keystone.example.com:5000/v3',
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError('bad-auth', `the auth URL ${c.authUrl} is not http or https`, {
      hint: 'e.g. https://keystone.example.com:5000/v3',
    });
  const base = c.authUrl.replace(/\/+$/, '');
  return { ...c, authUrl: /\/v3$/.test(base) ? base : `${base}/v3` };
}
