// A real Keystone and Glance from Debian's packages (scripts/setup.sh installs them) on 127.0.0.1, for
// integration tests of image upload. startOpenStack() builds a private stack in one mode-0700 directory
// under /var/tmp: a MariaDB on a unix socket only (no TCP), Keystone (the packaged keystone-wsgi-public,
// Fernet tokens, its own keystone.conf) and glance-api (one process, file store, glance-direct import
// with a staging store), each on a free port; stop() ends the three processes (SIGTERM, then SIGKILL)
// and removes the directory. Every process runs under `setpriv --pdeathsig TERM`, so none outlives the
// test process even when that is killed; a directory such a process left is removed by the next start.
//
// Accounts (domain Default): `admin` in project `admin` (Keystone's bootstrap, role admin), `glance` in
// project `service` (Glance's service user), `demo` in project `demo` (role member, an ordinary user).
// Catalog (region RegionOne): identity at authUrl, image at glanceUrl (public, internal and admin).
//
// An application credential (of the demo user here), with the independent CLI:
//   const args = ['application', 'credential', 'create', '--secret', 's3', 'ac1', '-f', 'json'];
//   const ac = JSON.parse(stack.openstack(args, stack.env(stack.demo))) as { id: string };
//   stack.openstack(['image', 'list'], stack.appCredentialEnv(ac.id, 's3'));
// (Keystone answers 401 "Application credentials cannot request a scope" when OS_PROJECT_NAME and the
// like are set too: appCredentialEnv leaves them empty, which the CLI takes as unset.)
//
// Start-up takes 15-30 s on two cores (Python start-ups of keystone-manage, glance-manage and the two
// servers dominate; they run as two parallel chains). Integration tests only: root, and no network.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { baseEnvironment } from '../../src/core/exec.js';
import { sleep } from '../../src/core/retry.js';

export interface Account {
  username: string;
  password: string;
  project: string;
  userDomain: string;
  projectDomain: string;
}

export interface StartOptions {
  /** Offer interoperable import (glance-direct, web-download) with a staging store; default true. False: none. */
  importMethods?: boolean;
  /** More glance-api.conf settings, section → option → value, over the harness's own (e.g.
   *  `{ image_format: { disk_formats: 'raw,qcow2' } }`, `{ DEFAULT: { image_size_cap: '1048576' } }`). */
  glanceOptions?: Record<string, Record<string, string>>;
  /** Seconds to wait for each service to answer; default 120. */
  timeoutSeconds?: number;
}

export interface OpenStackStack {
  /** Keystone's v3 URL, http://127.0.0.1:PORT/v3 (also its catalog URL). */
  authUrl: string;
  region: string;
  admin: Account;
  /** An ordinary user: role member in project demo. */
  demo: Account;
  /** Glance's root URL, http://127.0.0.1:PORT (its catalog URL; the API is under /v2). */
  glanceUrl: string;
  /** The stack's private directory (configuration, logs, database, images under images/, staging/). */
  dir: string;
  /** Seconds startOpenStack took. */
  startSeconds: number;
  /** Process ids of mariadbd, keystone and glance-api. */
  pids: number[];
  /** OS_* variables that authenticate as `account` (default admin) with a password, as the CLI reads them. */
  env(account?: Account): Record<string, string>;
  /** OS_* variables that authenticate with an application credential (no username, project or domain). */
  appCredentialEnv(id: string, secret: string): Record<string, string>;
  /** A project-scoped token for `account` (default admin), for tests that call the REST API directly. */
  token(account?: Account): Promise<string>;
  /** Run the `openstack` CLI as admin (OS_* variables; `env` adds or overrides, an empty value unsets);
   *  returns stdout, throws with stderr when it fails. */
  openstack(args: string[], env?: Record<string, string>): string;
  /** The end of a service's log (mariadb, keystone, glance). */
  logTail(service: ServiceName, lines?: number): string;
  stop(): Promise<void>;
}

export type ServiceName = 'mariadb' | 'keystone' | 'glance';

const PREFIX = 'dib-ts-openstack-';
const PARENT = '/var/tmp';
const OWNER_FILE = 'owner.pid';
const REGION = 'RegionOne';
const BIN = {
  installDb: '/usr/bin/mariadb-install-db',
  mariadbd: '/usr/sbin/mariadbd',
  mariadb: '/usr/bin/mariadb',
  keystoneManage: '/usr/bin/keystone-manage',
  keystoneWsgi: '/usr/bin/keystone-wsgi-public',
  glanceManage: '/usr/bin/glance-manage',
  glanceApi: '/usr/bin/glance-api',
  openstack: '/usr/bin/openstack',
};
/** A small, fast, throwaway InnoDB: no doublewrite, no flush per commit, small log and pool. */
const INNODB = [
  '--innodb-log-file-size=8M',
  '--innodb-buffer-pool-size=32M',
  '--innodb-flush-log-at-trx-commit=0',
  '--innodb-doublewrite=0',
  '--skip-name-resolve',
];

interface Service {
  name: ServiceName;
  child: ChildProcess;
  /** The service's own log file, and the file its stdout and stderr go to. */
  log: string;
  out: string;
  exited: Promise<void>;
  alive(): boolean;
}

/** Start the stack; rejects (after removing what it started) with the failing service's log tail. */
export async function startOpenStack(options: StartOptions = {}): Promise<OpenStackStack> {
  const started = Date.now();
  const timeoutMs = (options.timeoutSeconds ?? 120) * 1000;
  removeAbandonedStacks();
  const dir = mkdtempSync(join(PARENT, PREFIX));
  writeFileSync(join(dir, OWNER_FILE), `${process.pid}\n`);
  const services: Service[] = [];
  // Last resort when the test process exits without stop(): kill at once, remove the directory.
  const onExit = () => {
    for (const s of services) if (s.alive()) s.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const s of [...services].reverse()) await stopService(s);
    rmSync(dir, { recursive: true, force: true });
    process.removeListener('exit', onExit);
  };

  const secret = () => randomBytes(12).toString('hex');
  const admin: Account = { username: 'admin', password: secret(), project: 'admin', userDomain: 'Default', projectDomain: 'Default' };
  const demo: Account = { username: 'demo', password: secret(), project: 'demo', userDomain: 'Default', projectDomain: 'Default' };
  const glanceUser: Account = {
    username: 'glance',
    password: secret(),
    project: 'service',
    userDomain: 'Default',
    projectDomain: 'Default',
  };
  const dbPassword = secret();
  const [keystonePort, glancePort] = await freePorts(2);
  const authUrl = `http://127.0.0.1:${keystonePort}/v3`;
  const glanceUrl = `http://127.0.0.1:${glancePort}`;
  const socket = join(dir, 'mysql.sock');
  const dbUrl = (name: string) => `mysql+pymysql://openstack:${dbPassword}@localhost/${name}?unix_socket=${socket}&charset=utf8`;
  const env = childEnvironment();

  try {
    // MariaDB: a fresh data directory, the server on a socket in the stack's directory, two databases.
    const db = join(dir, 'db');
    const dbTmp = join(dir, 'db-tmp');
    mkdirSync(dbTmp);
    await runOnce(
      [
        BIN.installDb,
        '--no-defaults',
        `--datadir=${db}`,
        '--auth-root-authentication-method=socket',
        '--skip-test-db',
        '--user=root',
        ...INNODB,
      ],
      join(dir, 'mariadb-install-db.out'),
      env,
    );
    const mariadb = startService(
      'mariadb',
      [
        BIN.mariadbd,
        '--no-defaults',
        `--datadir=${db}`,
        `--socket=${socket}`,
        '--skip-networking',
        `--pid-file=${join(dir, 'mariadbd.pid')}`,
        `--tmpdir=${dbTmp}`,
        `--log-error=${join(dir, 'mariadbd.log')}`,
        '--user=root',
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_general_ci',
        ...INNODB,
      ],
      dir,
      env,
      join(dir, 'mariadbd.log'),
    );
    services.push(mariadb);
    await waitFor(mariadb, timeoutMs, async () => readIfExists(mariadb.log).includes('ready for connections'));
    await execa(BIN.mariadb, ['--no-defaults', `--socket=${socket}`, '--user=root'], {
      env,
      extendEnv: false,
      input: [
        'CREATE DATABASE keystone; CREATE DATABASE glance;',
        `CREATE USER 'openstack'@'localhost' IDENTIFIED BY '${dbPassword}';`,
        `GRANT ALL PRIVILEGES ON keystone.* TO 'openstack'@'localhost';`,
        `GRANT ALL PRIVILEGES ON glance.* TO 'openstack'@'localhost';`,
      ].join('\n'),
    });

    // Configuration files, and the Fernet key repositories in the format `keystone-manage fernet_setup`
    // and `credential_setup` write (files 0 and 1, each a url-safe base64 32-byte key): two Python
    // start-ups (~4 s each) fewer.
    const keystoneConf = join(dir, 'keystone.conf');
    writeFileSync(
      keystoneConf,
      ini({
        DEFAULT: { log_file: join(dir, 'keystone.log'), use_stderr: 'false' },
        database: { connection: dbUrl('keystone') },
        // bcrypt's fewest rounds: every password check (each CLI call authenticates) costs ~ms, not ~0.3 s.
        identity: { password_hash_algorithm: 'bcrypt', password_hash_rounds: '4' },
        token: { provider: 'fernet' },
        fernet_tokens: { key_repository: keyRepository(join(dir, 'fernet-keys')) },
        fernet_receipts: { key_repository: join(dir, 'fernet-keys') },
        credential: { key_repository: keyRepository(join(dir, 'credential-keys')) },
        catalog: { driver: 'sql' },
        oslo_concurrency: { lock_path: join(dir, 'lock') },
      }),
    );
    const glanceConf = join(dir, 'glance-api.conf');
    const importOn = options.importMethods !== false;
    for (const d of ['images', 'staging', 'tasks', 'lock']) mkdirSync(join(dir, d));
    writeFileSync(
      glanceConf,
      ini(
        merge(
          {
            DEFAULT: {
              bind_host: '127.0.0.1',
              bind_port: String(glancePort),
              // 0: one process, no forked workers (import tasks run in it, as taskflow green threads).
              workers: '0',
              log_file: join(dir, 'glance-api.log'),
              use_stderr: 'false',
              enabled_backends: 'fs:file',
              enabled_import_methods: importOn ? '[glance-direct,web-download]' : '[]',
            },
            database: { connection: dbUrl('glance') },
            glance_store: { default_backend: 'fs' },
            fs: { filesystem_store_datadir: join(dir, 'images') },
            os_glance_staging_store: { filesystem_store_datadir: join(dir, 'staging') },
            os_glance_tasks_store: { filesystem_store_datadir: join(dir, 'tasks') },
            paste_deploy: { flavor: 'keystone', config_file: '/etc/glance/glance-api-paste.ini' },
            keystone_authtoken: {
              www_authenticate_uri: authUrl,
              auth_url: authUrl,
              auth_type: 'password',
              username: glanceUser.username,
              password: glanceUser.password,
              project_name: glanceUser.project,
              user_domain_name: glanceUser.userDomain,
              project_domain_name: glanceUser.projectDomain,
              region_name: REGION,
            },
            oslo_concurrency: { lock_path: join(dir, 'lock') },
          },
          options.glanceOptions ?? {},
        ),
      ),
    );

    // Two chains at once (two cores; Python start-ups dominate): Glance's schema and server (it needs
    // Keystone only at the first authenticated request), and Keystone's schema, bootstrap, server and
    // accounts.
    const glanceUp = (async () => {
      await runOnce([BIN.glanceManage, '--config-file', glanceConf, 'db_sync'], join(dir, 'glance-db-sync.out'), env);
      const glance = startService('glance', [BIN.glanceApi, '--config-file', glanceConf], dir, env, join(dir, 'glance-api.log'));
      services.push(glance);
      await waitFor(glance, timeoutMs, () => httpOk(`${glanceUrl}/healthcheck`));
    })();
    const keystoneUp = (async () => {
      await runOnce([BIN.keystoneManage, '--config-file', keystoneConf, 'db_sync'], join(dir, 'keystone-db-sync.out'), env);
      // The server starts beside the bootstrap (it reads the database only per request): the packaged
      // test server (wsgiref, one request at a time); `--` passes the rest to keystone.
      const keystone = startService(
        'keystone',
        [BIN.keystoneWsgi, '--host', '127.0.0.1', '--port', String(keystonePort), '--', '--config-file', keystoneConf],
        dir,
        env,
        join(dir, 'keystone.log'),
      );
      services.push(keystone);
      await runOnce(
        [
          BIN.keystoneManage,
          '--config-file',
          keystoneConf,
          'bootstrap',
          '--bootstrap-username',
          admin.username,
          '--bootstrap-password',
          admin.password,
          '--bootstrap-project-name',
          admin.project,
          '--bootstrap-admin-url',
          `${authUrl}/`,
          '--bootstrap-internal-url',
          `${authUrl}/`,
          '--bootstrap-public-url',
          `${authUrl}/`,
          '--bootstrap-region-id',
          REGION,
        ],
        join(dir, 'keystone-bootstrap.out'),
        env,
      );
      await waitFor(keystone, timeoutMs, () => httpOk(`${authUrl}`));
      await createAccounts(authUrl, admin, glanceUser, demo, glanceUrl);
    })();
    // Both settle before either failure is thrown, so `stop` sees every service that was started.
    const results = await Promise.allSettled([glanceUp, keystoneUp]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;

    // End to end: Glance validates an admin token through its service user.
    const adminToken = await token(authUrl, admin);
    const images = await fetch(`${glanceUrl}/v2/images`, { headers: { 'X-Auth-Token': adminToken } });
    if (!images.ok) throw new Error(`glance: GET /v2/images answered ${images.status}\n${tail(join(dir, 'glance-api.log'))}`);
  } catch (error) {
    await stop();
    throw error;
  }

  const accountEnv = (account: Account = admin): Record<string, string> => ({
    OS_AUTH_URL: authUrl,
    OS_IDENTITY_API_VERSION: '3',
    OS_REGION_NAME: REGION,
    OS_INTERFACE: 'public',
    OS_USERNAME: account.username,
    OS_PASSWORD: account.password,
    OS_PROJECT_NAME: account.project,
    OS_USER_DOMAIN_NAME: account.userDomain,
    OS_PROJECT_DOMAIN_NAME: account.projectDomain,
  });
  const logs: Record<ServiceName, string> = {
    mariadb: join(dir, 'mariadbd.log'),
    keystone: join(dir, 'keystone.log'),
    glance: join(dir, 'glance-api.log'),
  };
  return {
    authUrl,
    region: REGION,
    admin,
    demo,
    glanceUrl,
    dir,
    startSeconds: (Date.now() - started) / 1000,
    pids: services.map((s) => s.child.pid).filter((p): p is number => p !== undefined),
    env: accountEnv,
    appCredentialEnv: (id, secretValue) => ({
      ...accountEnv(),
      OS_AUTH_TYPE: 'v3applicationcredential',
      OS_APPLICATION_CREDENTIAL_ID: id,
      OS_APPLICATION_CREDENTIAL_SECRET: secretValue,
      OS_USERNAME: '',
      OS_PASSWORD: '',
      OS_PROJECT_NAME: '',
      OS_USER_DOMAIN_NAME: '',
      OS_PROJECT_DOMAIN_NAME: '',
    }),
    token: (account = admin) => token(authUrl, account),
    openstack: (args, extra = {}) => {
      const merged: Record<string, string> = { ...env, ...accountEnv(), ...extra };
      for (const [k, v] of Object.entries(merged)) if (v === '') delete merged[k];
      try {
        return execFileSync(BIN.openstack, args, { env: merged, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
      } catch (error) {
        const e = error as { status?: number; stderr?: string };
        throw new Error(`openstack ${args.join(' ')}: exit ${e.status ?? '?'}\n${(e.stderr ?? '').trim()}`, { cause: error });
      }
    },
    logTail: (service, lines) => tail(logs[service], lines),
    stop,
  };
}

/** The environment of every child: the project's allowlist (no OS_* of the caller's), sbin on PATH. */
function childEnvironment(): Record<string, string> {
  return { ...baseEnvironment(), HOME: process.env.HOME ?? '/root' };
}

/** Admin REST calls that make Glance's service user, the image service and endpoints, and demo. */
async function createAccounts(authUrl: string, admin: Account, glance: Account, demo: Account, glanceUrl: string): Promise<void> {
  const adminToken = await token(authUrl, admin);
  const call = async (method: string, path: string, body?: unknown): Promise<Record<string, { id: string }>> => {
    const response = await fetch(`${authUrl}${path}`, {
      method,
      headers: { 'X-Auth-Token': adminToken, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`keystone: ${method} ${path} answered ${response.status}: ${await response.text()}`);
    return response.status === 204 ? {} : ((await response.json()) as Record<string, { id: string }>);
  };
  const roleId = async (name: string) => {
    const { roles } = (await call('GET', `/roles?name=${name}`)) as unknown as { roles: Array<{ id: string }> };
    if (!roles[0]) throw new Error(`keystone: no role ${name}`);
    return roles[0].id;
  };
  const [adminRole, memberRole] = [await roleId('admin'), await roleId('member')];
  for (const [account, role] of [
    [glance, adminRole],
    [demo, memberRole],
  ] as const) {
    const project = (await call('POST', '/projects', { project: { name: account.project, domain_id: 'default' } })).project.id;
    const user = (
      await call('POST', '/users', {
        user: { name: account.username, password: account.password, domain_id: 'default', default_project_id: project },
      })
    ).user.id;
    await call('PUT', `/projects/${project}/users/${user}/roles/${role}`);
  }
  const service = (await call('POST', '/services', { service: { type: 'image', name: 'glance', description: 'Glance Image Service' } }))
    .service.id;
  for (const iface of ['public', 'internal', 'admin'])
    await call('POST', '/endpoints', { endpoint: { service_id: service, interface: iface, url: glanceUrl, region_id: REGION } });
}

/** A project-scoped token (password authentication). */
async function token(authUrl: string, account: Account): Promise<string> {
  const response = await fetch(`${authUrl}/auth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: account.username, domain: { name: account.userDomain }, password: account.password } },
        },
        scope: { project: { name: account.project, domain: { name: account.projectDomain } } },
      },
    }),
  });
  const subject = response.headers.get('x-subject-token');
  if (response.status !== 201 || !subject)
    throw new Error(`keystone: token for ${account.username} answered ${response.status}: ${await response.text()}`);
  return subject;
}

/** A long-running service: stdout and stderr to DIR/NAME.out, dies with this process (pdeathsig). */
function startService(name: ServiceName, argv: string[], dir: string, env: Record<string, string>, log: string): Service {
  const out = join(dir, `${name}.out`);
  const fd = openSync(out, 'a');
  let child: ChildProcess;
  try {
    child = spawn('setpriv', ['--pdeathsig', 'TERM', '--', ...argv], { cwd: dir, env, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  let done = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      done = true;
      resolve();
    });
    child.once('error', () => {
      done = true;
      resolve();
    });
  });
  return { name, child, log, out, exited, alive: () => !done };
}

/** SIGTERM, up to 10 s to exit, then SIGKILL. */
async function stopService(service: Service): Promise<void> {
  if (!service.alive()) return;
  service.child.kill('SIGTERM');
  const timer = (ms: number) => sleep(ms).then(() => 'timeout' as const);
  if ((await Promise.race([service.exited.then(() => 'exited' as const), timer(10_000)])) === 'timeout') {
    service.child.kill('SIGKILL');
    await service.exited;
  }
}

/** Poll `ready` until it holds; fail early when the service died, and with its log tail. */
async function waitFor(service: Service, timeoutMs: number, ready: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready()) return;
    const why = !service.alive()
      ? `exited (${service.child.exitCode ?? service.child.signalCode})`
      : Date.now() > deadline
        ? `not ready after ${timeoutMs / 1000} s`
        : undefined;
    if (why) {
      throw new Error(
        `${service.name} ${why}\n--- ${service.log}\n${tail(service.log)}` +
          (service.out !== service.log ? `\n--- ${service.out}\n${tail(service.out)}` : ''),
      );
    }
    await sleep(200);
  }
}

/** A one-shot command; on failure, an error with its exit status and output tail. */
async function runOnce(argv: string[], out: string, env: Record<string, string>): Promise<void> {
  const [file, ...args] = ['setpriv', '--pdeathsig', 'TERM', '--', ...argv];
  const result = await execa(file, args, {
    env,
    extendEnv: false,
    stdin: 'ignore',
    stdout: { file: out },
    stderr: { file: out },
    reject: false,
  });
  if (result.exitCode !== 0) throw new Error(`${argv.join(' ')}: exit ${result.exitCode ?? result.signal}\n--- ${out}\n${tail(out)}`);
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/** `count` distinct free TCP ports on 127.0.0.1 (bound to port 0 together, then released). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    return address.port;
  });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** A Fernet key repository with a staged (0) and a primary (1) key; returns its path. */
function keyRepository(path: string): string {
  mkdirSync(path, { mode: 0o700 });
  for (const name of ['0', '1']) {
    const key = randomBytes(32).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
    writeFileSync(join(path, name), key, { mode: 0o600 });
  }
  return path;
}

type IniSections = Record<string, Record<string, string>>;

function ini(sections: IniSections): string {
  return Object.entries(sections)
    .map(
      ([name, options]) =>
        `[${name}]\n${Object.entries(options)
          .map(([k, v]) => `${k} = ${v}\n`)
          .join('')}`,
    )
    .join('\n');
}

function merge(base: IniSections, extra: IniSections): IniSections {
  const result: IniSections = { ...base };
  for (const [name, options] of Object.entries(extra)) result[name] = { ...(result[name] ?? {}), ...options };
  return result;
}

function readIfExists(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

function tail(path: string, lines = 40): string {
  return readIfExists(path).trimEnd().split('\n').slice(-lines).join('\n');
}

/** Directories of stacks whose test process is gone (killed before stop): its services died with it. */
function removeAbandonedStacks(): void {
  for (const name of readdirSync(PARENT)) {
    if (!name.startsWith(PREFIX)) continue;
    const path = join(PARENT, name);
    const owner = Number(readIfExists(join(path, OWNER_FILE)).trim());
    let age: number;
    try {
      age = Date.now() - statSync(path).mtimeMs;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // its own test stopped it meanwhile
      throw e;
    }
    if (owner ? processExists(owner) : age < 60_000) continue; // alive, or being made
    rmSync(path, { recursive: true, force: true });
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
