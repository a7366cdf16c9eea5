// A small typed client for what an image upload needs: Keystone v3 token auth (password or
// application credential) with the image endpoint from the catalog, and Glance v2 images (create,
// upload or stage + import, show, find by name, patch, delete). HTTP through undici 7 (Node 20; no
// maintained OpenStack client exists for JavaScript). Tokens and secrets never reach a message: errors
// name the URL, the status and Glance's or Keystone's own explanation.
import type { Readable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { Agent, type Dispatcher, request } from 'undici';
import { BuildError, DibError, UsageError } from '../core/errors.js';
import { type AuthConfig, describeAuth } from './auth-config.js';

/** A failure talking to the cloud (exit 1); `status` is the HTTP status when there was one. */
export class CloudError extends BuildError {
  constructor(
    message: string,
    readonly status?: number,
    hint?: string,
  ) {
    super(message, { hint });
  }
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
  'EPROTO',
]);

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One HTTP connection pool with the TLS settings of the auth configuration. */
export class Http {
  private readonly dispatcher: Dispatcher;
  constructor(config: Pick<AuthConfig, 'cacert' | 'insecure'>) {
    let ca: Buffer | undefined;
    try {
      ca = config.cacert ? readFileSync(config.cacert) : undefined;
    } catch (error) {
      throw new UsageError('bad-auth', `cannot read the CA bundle ${config.cacert}: ${(error as Error).message}`, {
        hint: 'give OS_CACERT (cacert) a PEM file this user can read',
      });
    }
    this.dispatcher = new Agent({
      connect: { rejectUnauthorized: !config.insecure, ...(ca ? { ca } : {}) },
      headersTimeout: 300_000,
      bodyTimeout: 300_000,
    });
  }

  async call(
    method: Dispatcher.HttpMethod,
    url: string,
    options: { headers?: Record<string, string>; json?: unknown; body?: Readable; signal?: AbortSignal } = {},
  ): Promise<Reply> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    let body: string | Readable | undefined = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] ??= 'application/json';
    }
    try {
      const r = await request(url, { method, headers, body, dispatcher: this.dispatcher, signal: options.signal });
      return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
    } catch (error) {
      throw connectionError(error, method, url, options.signal);
    }
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}

function connectionError(error: unknown, method: string, url: string, signal?: AbortSignal): Error {
  if (signal?.aborted) return error as Error;
  if (error instanceof DibError) return error;
  const e = error as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.code ?? e.cause?.code ?? '';
  const origin = new URL(url).origin;
  if (code === 'ECONNREFUSED')
    return new CloudError(
      `cannot connect to ${origin}: connection refused (${method} ${url})`,
      undefined,
      'is the service running there? check the auth URL (OS_AUTH_URL) and the catalog',
    );
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new CloudError(`cannot resolve the host of ${origin} (${code})`, undefined, 'check the auth URL (OS_AUTH_URL) and the catalog');
  if (TLS_CODES.has(code) || /certificate|ssl|tls/i.test(e.message))
    return new CloudError(
      `TLS verification of ${origin} failed: ${e.message}`,
      undefined,
      'give the CA bundle with OS_CACERT (cacert in clouds.yaml), or set OS_INSECURE=true (verify: false) to skip verification',
    );
  return new CloudError(`${method} ${url} failed: ${e.message}${code ? ` (${code})` : ''}`);
}

/** A service's JSON answer; a reply that is not JSON is the service's fault, said so (not a crash). */
function parseReply<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CloudError(`the answer to "${what}" is not JSON: ${serviceMessage(text).slice(0, 200)}`);
  }
}

/** The explanation an OpenStack service put in its error body (Keystone's error.message, Glance's HTML/text). */
export function serviceMessage(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: string }; message?: string; title?: string };
    if (j.error?.message) return j.error.message;
    if (j.message) return j.message;
  } catch {
    // not JSON: Glance answers with a small HTML or text page
  }
  return text
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 400);
}

export interface Session {
  token: string;
  /** Glance's base URL (without /v2). */
  imageUrl: string;
  userId: string;
  projectId: string;
}

interface CatalogEntry {
  type: string;
  endpoints: Array<{ interface: string; region?: string; region_id?: string; url: string }>;
}

/** POST /v3/auth/tokens; the token from X-Subject-Token, Glance's endpoint from the catalog. */
export async function authenticate(config: AuthConfig, http: Http, signal?: AbortSignal): Promise<Session> {
  const r = await http.call('POST', `${config.authUrl}/auth/tokens`, { json: authBody(config), signal });
  if (r.status === 401)
    throw new CloudError(
      `Keystone refused the credentials (401) for ${describeAuth(config)}`,
      401,
      config.method === 'password' ? 'check the user name, password, domain and project' : 'check the application credential id and secret',
    );
  if (r.status >= 300)
    throw new CloudError(
      `Keystone answered ${r.status} to the token request for ${describeAuth(config)}: ${serviceMessage(r.text)}`,
      r.status,
    );
  const token = r.headers['x-subject-token'];
  if (typeof token !== 'string' || !token) throw new CloudError(`Keystone at ${config.authUrl} returned no X-Subject-Token`);
  const body = parseReply<{ token: { catalog?: CatalogEntry[]; user: { id: string }; project?: { id: string } } }>(r.text, 'issue a token');
  const catalog = body.token.catalog ?? [];
  const images = catalog.filter((c) => c.type === 'image').flatMap((c) => c.endpoints);
  const fit = images.filter((e) => e.interface === config.interface && (!config.region || (e.region_id ?? e.region) === config.region));
  if (!fit.length) {
    const offered = images.map((e) => `${e.interface} in ${e.region_id ?? e.region ?? '(no region)'}`).join(', ');
    throw new CloudError(
      `no image (Glance) endpoint for interface ${config.interface}${config.region ? ` in region ${config.region}` : ''} in the catalog of ${config.authUrl}`,
      undefined,
      offered
        ? `the catalog has image endpoints: ${offered}; set OS_REGION_NAME / OS_INTERFACE (region_name / interface)`
        : 'this cloud has no image service in its catalog',
    );
  }
  if (!body.token.project)
    throw new CloudError(
      `the token for ${describeAuth(config)} is not scoped to a project`,
      undefined,
      'set OS_PROJECT_NAME (project_name)',
    );
  return {
    token,
    imageUrl: fit[0].url.replace(/\/+$/, '').replace(/\/v2$/, ''),
    userId: body.token.user.id,
    projectId: body.token.project.id,
  };
}

function authBody(c: AuthConfig): unknown {
  const domain = (name?: string, id?: string) => (id ? { id } : name ? { name } : { name: 'Default' });
  if (c.method === 'application-credential') {
    const credential = c.applicationCredentialId
      ? { id: c.applicationCredentialId, secret: c.applicationCredentialSecret }
      : {
          name: c.applicationCredentialName,
          secret: c.applicationCredentialSecret,
          user: c.userId ? { id: c.userId } : { name: c.username, domain: domain(c.userDomainName, c.userDomainId) },
        };
    return { auth: { identity: { methods: ['application_credential'], application_credential: credential } } };
  }
  const user = c.userId
    ? { id: c.userId, password: c.password }
    : { name: c.username, password: c.password, domain: domain(c.userDomainName, c.userDomainId) };
  const project = c.projectId ? { id: c.projectId } : { name: c.projectName, domain: domain(c.projectDomainName, c.projectDomainId) };
  return { auth: { identity: { methods: ['password'], password: { user } }, scope: { project } } };
}

/** The fields of a Glance v2 image this tool reads; other properties are strings at the top level. */
export interface GlanceImage {
  id: string;
  name: string;
  status: string;
  disk_format?: string;
  container_format?: string;
  size?: number | null;
  checksum?: string | null;
  os_hash_algo?: string | null;
  os_hash_value?: string | null;
  visibility?: string;
  min_disk?: number;
  tags?: string[];
  created_at?: string;
  [property: string]: unknown;
}

export class Glance {
  constructor(
    private readonly http: Http,
    private readonly session: Session,
  ) {}

  get url(): string {
    return this.session.imageUrl;
  }

  private async call(
    method: Dispatcher.HttpMethod,
    path: string,
    what: string,
    options: { json?: unknown; body?: Readable; headers?: Record<string, string>; signal?: AbortSignal; ok?: number[] } = {},
  ): Promise<Reply> {
    const url = `${this.session.imageUrl}${path}`;
    const r = await this.http.call(method, url, { ...options, headers: { 'x-auth-token': this.session.token, ...options.headers } });
    if (options.ok ? options.ok.includes(r.status) : r.status < 300) return r;
    throw glanceError(r, what, url);
  }

  async create(fields: Record<string, unknown>, signal?: AbortSignal): Promise<GlanceImage> {
    return parseReply<GlanceImage>(
      (await this.call('POST', '/v2/images', 'create the image', { json: fields, signal })).text,
      'create the image',
    );
  }

  async show(id: string, signal?: AbortSignal): Promise<GlanceImage> {
    return parseReply<GlanceImage>(
      (await this.call('GET', `/v2/images/${encodeURIComponent(id)}`, 'show the image', { signal })).text,
      'show the image',
    );
  }

  /** The project's own images with exactly this name (shared and public images of others are never reused or renamed). */
  async findByName(name: string, signal?: AbortSignal): Promise<GlanceImage[]> {
    const query = `name=${encodeURIComponent(name)}&owner=${encodeURIComponent(this.session.projectId)}&limit=100`;
    const r = await this.call('GET', `/v2/images?${query}`, 'list images', { signal });
    return (parseReply<{ images: GlanceImage[] }>(r.text, 'list images').images ?? []).filter((i) => i.name === name);
  }

  /** PUT /v2/images/{id}/file (the image becomes active when it returns), or /stage for the import path. */
  async putData(id: string, body: Readable, size: number, target: 'file' | 'stage', signal?: AbortSignal): Promise<void> {
    await this.call(
      'PUT',
      `/v2/images/${encodeURIComponent(id)}/${target}`,
      target === 'file' ? 'upload the image data' : 'stage the image data',
      {
        body,
        signal,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size), 'x-openstack-image-size': String(size) },
      },
    );
  }

  /** The interoperable import methods the cloud offers (GET /v2/info/import); [] when it has none. */
  async importMethods(signal?: AbortSignal): Promise<string[]> {
    const r = await this.call('GET', '/v2/info/import', 'read the import methods', { signal, ok: [200, 404] });
    if (r.status === 404) return [];
    return (JSON.parse(r.text) as { 'import-methods'?: { value?: string[] } })['import-methods']?.value ?? [];
  }

  async importStaged(id: string, signal?: AbortSignal): Promise<void> {
    await this.call('POST', `/v2/images/${encodeURIComponent(id)}/import`, 'import the staged data', {
      json: { method: { name: 'glance-direct' } },
      signal,
      ok: [202],
    });
  }

  /** JSON-patch: replace (or add) top-level fields. */
  async update(id: string, fields: Record<string, string>, signal?: AbortSignal): Promise<GlanceImage> {
    const ops = Object.entries(fields).map(([k, v]) => ({ op: 'replace', path: `/${k}`, value: v }));
    const r = await this.call('PATCH', `/v2/images/${encodeURIComponent(id)}`, 'update the image', {
      body: undefined,
      json: ops,
      headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' },
      signal,
    });
    return JSON.parse(r.text) as GlanceImage;
  }

  async remove(id: string, signal?: AbortSignal): Promise<void> {
    await this.call('DELETE', `/v2/images/${encodeURIComponent(id)}`, 'delete the image', { ok: [204, 404], signal });
  }
}

function glanceError(r: Reply, what: string, url: string): CloudError {
  const said = serviceMessage(r.text);
  const hint =
    r.status === 413
      ? 'the image is larger than the image size cap (image_size_cap) or the project storage quota allows'
      : r.status === 401
        ? 'the token was refused: check that Glance and Keystone agree (keystone_authtoken)'
        : r.status === 403
          ? 'the project may not do this (policy); an admin can check the role assignments'
          : r.status === 400 && /disk.?format|container.?format/i.test(said)
            ? 'choose a format this Glance accepts (its disk_formats setting) with --disk-format'
            : undefined;
  return new CloudError(
    `Glance refused to ${what} (${r.status}): ${said || '(no explanation)'} [${new URL(url).pathname}]`,
    r.status,
    hint,
  );
}
