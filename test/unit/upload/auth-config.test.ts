// Where image-upload finds its Keystone credentials: clouds.yaml (search order, secure.yaml merged) or
// the OS_* variables; what is missing is named, secrets are never part of a message.
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { UsageError } from '../../../src/core/errors.js';
import { authSecrets, describeAuth, loadAuthConfig } from '../../../src/upload/auth-config.js';
import { tempDir, writeTree } from '../../helpers/tree.js';

let dirs: Array<{ remove: () => void }> = [];
afterEach(() => {
  for (const d of dirs) d.remove();
  dirs = [];
});
function dir(spec: Parameters<typeof writeTree>[1]): string {
  const d = tempDir('dib-ts-clouds-');
  dirs.push(d);
  writeTree(d.path, spec);
  return d.path;
}
const CLOUDS = `clouds:
  lab:
    region_name: RegionTwo
    interface: internal
    auth:
      auth_url: http://keystone.example:5000
      username: builder
      project_name: images
      user_domain_name: Default
      project_domain_name: Default
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example/v3/
      application_credential_id: 0123abcd
`;

describe('loadAuthConfig: clouds.yaml', () => {
  it('the cloud from --os-cloud in ./clouds.yaml, its password from secure.yaml merged over it; the URL normalised to /v3', () => {
    const cwd = dir({ 'clouds.yaml': CLOUDS, 'secure.yaml': 'clouds:\n  lab:\n    auth:\n      password: s3cret-pw\n' });
    const c = loadAuthConfig({ cloud: 'lab' }, { HOME: cwd }, cwd);
    expect(c).toMatchObject({
      authUrl: 'http://keystone.example:5000/v3',
      method: 'password',
      username: 'builder',
      password: 's3cret-pw',
      projectName: 'images',
      region: 'RegionTwo',
      interface: 'internal',
      insecure: false,
    });
    expect(c.source).toBe(`cloud 'lab' in ${join(cwd, 'clouds.yaml')} and ${join(cwd, 'secure.yaml')}`);
    expect(authSecrets(c)).toEqual(['s3cret-pw']);
    expect(describeAuth(c)).not.toContain('s3cret-pw');
  });

  it('OS_CLOUD picks the cloud; OS_CLIENT_CONFIG_FILE is searched before ./clouds.yaml', () => {
    const cwd = dir({ 'clouds.yaml': 'clouds:\n  other: {auth: {auth_url: http://x}}\n', elsewhere: { 'c.yaml': CLOUDS } });
    const env = {
      HOME: cwd,
      OS_CLOUD: 'appcred',
      OS_CLIENT_CONFIG_FILE: join(cwd, 'elsewhere', 'c.yaml'),
      OS_APPLICATION_CREDENTIAL_SECRET: 'ignored',
    };
    expect(() => loadAuthConfig({}, env, cwd)).toThrow(/application_credential_secret not set/);
    const withSecret = dir({ 'secure.yaml': 'clouds:\n  appcred:\n    auth:\n      application_credential_secret: app-secret-1\n' });
    const c = loadAuthConfig({}, { ...env, HOME: withSecret }, withSecret);
    expect(c).toMatchObject({
      method: 'application-credential',
      applicationCredentialId: '0123abcd',
      applicationCredentialSecret: 'app-secret-1',
      authUrl: 'https://keystone.example/v3',
    });
  });

  it('~/.config/openstack/clouds.yaml when there is none in the working directory', () => {
    const home = dir({
      '.config': { openstack: { 'clouds.yaml': CLOUDS, 'secure.yaml': 'clouds: {lab: {auth: {password: pw-from-home}}}\n' } },
    });
    const cwd = dir({});
    expect(loadAuthConfig({ cloud: 'lab' }, { HOME: home }, cwd).password).toBe('pw-from-home');
  });

  it('an unknown cloud: exit 2 naming the file and listing the known clouds', () => {
    const cwd = dir({ 'clouds.yaml': CLOUDS });
    let e: UsageError | undefined;
    try {
      loadAuthConfig({ cloud: 'prod' }, { HOME: cwd }, cwd);
    } catch (x) {
      e = x as UsageError;
    }
    expect(e).toBeInstanceOf(UsageError);
    expect(e?.message).toBe(`no cloud named 'prod' in ${join(cwd, 'clouds.yaml')}`);
    expect(e?.hint).toBe('known clouds: appcred, lab');
  });

  it('a secure.yaml the parser refuses (an unquoted password starting with *) names the file and the kind of error, never the value', () => {
    const cwd = dir({ 'clouds.yaml': CLOUDS, 'secure.yaml': 'clouds:\n  lab:\n    auth:\n      password: *Sup3rS3cret\n' });
    let message = '';
    try {
      loadAuthConfig({ cloud: 'lab' }, { HOME: cwd }, cwd);
    } catch (e) {
      message = `${(e as UsageError).message} ${(e as UsageError).hint}`;
    }
    expect(message).toMatch(/secure\.yaml is not readable YAML \(an alias \(\*name\) that no anchor defines\)/);
    expect(message).not.toContain('Sup3rS3cret');
  });

  it('a clouds.yaml of the wrong shape is exit 2 with the path inside the document', () => {
    const cwd = dir({ 'clouds.yaml': 'clouds:\n  lab:\n    interface: sideways\n' });
    expect(() => loadAuthConfig({ cloud: 'lab' }, { HOME: cwd }, cwd)).toThrow(
      /clouds\.yaml: \/clouds\/lab\/interface must be equal to one of the allowed values/,
    );
  });
});

describe('loadAuthConfig: the OS_* variables', () => {
  const base = { OS_AUTH_URL: 'http://127.0.0.1:5000/v3', OS_USERNAME: 'admin', OS_PASSWORD: 'pw-123', OS_PROJECT_NAME: 'admin' };
  it('password auth with domains, region, interface, CA and insecure', () => {
    const ca = dir({ 'ca.pem': 'x' });
    const c = loadAuthConfig(
      {},
      {
        ...base,
        OS_USER_DOMAIN_NAME: 'Default',
        OS_PROJECT_DOMAIN_NAME: 'Default',
        OS_REGION_NAME: 'RegionOne',
        OS_INTERFACE: 'internalURL',
        OS_CACERT: join(ca, 'ca.pem'),
        OS_INSECURE: 'true',
      },
    );
    expect(c).toMatchObject({
      method: 'password',
      userDomainName: 'Default',
      region: 'RegionOne',
      interface: 'internal',
      insecure: true,
      source: 'the OS_* variables',
    });
  });
  it('application credentials from OS_APPLICATION_CREDENTIAL_ID/SECRET', () => {
    const c = loadAuthConfig(
      {},
      { OS_AUTH_URL: 'http://k/v3', OS_APPLICATION_CREDENTIAL_ID: 'id1', OS_APPLICATION_CREDENTIAL_SECRET: 'sec-1' },
    );
    expect(c).toMatchObject({ method: 'application-credential', applicationCredentialId: 'id1' });
    expect(authSecrets(c)).toEqual(['sec-1']);
  });
  it('what is missing is named (no password, no project), with a hint; no auth URL at all says OS_AUTH_URL', () => {
    expect(() => loadAuthConfig({}, { OS_AUTH_URL: 'http://k', OS_USERNAME: 'u' })).toThrow(
      'no Keystone credentials: OS_PASSWORD, OS_PROJECT_NAME not set (the OS_* variables)',
    );
    expect(() => loadAuthConfig({}, {})).toThrow(/OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME not set/);
  });
  it('a missing CA bundle and a URL that is not http(s) are exit 2 before any request', () => {
    expect(() => loadAuthConfig({}, { ...base, OS_CACERT: '/nonexistent/ca.pem' })).toThrow(
      /the CA bundle \/nonexistent\/ca\.pem is not a file/,
    );
    expect(() => loadAuthConfig({}, { ...base, OS_AUTH_URL: 'ftp://k/v3' })).toThrow(/is not http or https/);
  });
});
