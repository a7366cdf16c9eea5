// The environment hooks see: the caller's (unless -c), then DIB's engine variables (§8.1).
import { stringify } from 'yaml';
import type { BuildConfig } from '../config/settings.js';
import { SETTINGS } from '../config/settings.js';
import { baseEnvironment } from '../core/exec.js';
import type { ResolvedElement } from '../elements/resolve.js';

/** Names whose values are secrets: never logged, never written to manifests. */
export const SECRET_NAME = /PASSWORD|PASSWD|TOKEN|SECRET|KEY|CREDENTIAL/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name) && !/^DIB_(DEV_USER_AUTHORIZED_KEYS|ADD_APT_KEYS|APT_KEYRING)$/.test(name);
}

export interface HookEnvironmentInput {
  config: BuildConfig;
  elements: ResolvedElement[];
  elementsPath: string;
  argv: string[];
  callerEnv: NodeJS.ProcessEnv;
  extra: Record<string, string>;
  /** Variables elements declare secret (environment-secrets files). */
  secretNames?: string[];
}

export function hookEnvironment(input: HookEnvironmentInput): Record<string, string> {
  const { config, elements, callerEnv } = input;
  const env: Record<string, string> = config.clearEnv ? baseEnvironment(callerEnv) : { ...(callerEnv as Record<string, string>), ...baseEnvironment(callerEnv) };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  for (const s of SETTINGS) {
    if (!s.exported || !s.env) continue;
    const v = config[s.key];
    if (s.kind === 'boolean') env[s.env] = v ? '1' : s.env === 'DIB_OFFLINE' ? '' : '0';
    else if (v !== '' && v !== 0 && v !== undefined) env[s.env] = String(v);
  }
  env.DIB_DEBUG_TRACE = String(config.debugTrace);
  if (config.uncompressed) env.COMPRESS_IMAGE = '';
  else env.COMPRESS_IMAGE = 'true';
  if (config.skipBase) env.SKIP_BASE = '1';
  env.IMAGE_TYPE = config.imageTypes[0];
  env.IMAGE_ELEMENT = elements.map((e) => e.name).join(' ');
  const yamlMap: Record<string, string> = {};
  for (const e of [...elements].sort((a, b) => (a.name < b.name ? -1 : 1))) yamlMap[e.name] = e.path;
  env.IMAGE_ELEMENT_YAML = stringify(yamlMap, { lineWidth: 0 });
  const array = elements.map((e) => `[${e.name}]=${e.path} `).join('');
  env['BASH_FUNC_get_image_element_array%%'] = `() {  echo "${array}"\n}`;
  env['BASH_FUNC_die%%'] = '() {  local s=$?; echo "ERROR: $*" >&2; exit $(( s ? s : 1 ))\n}';
  env.ELEMENTS_PATH = input.elementsPath;
  env.DIB_ARGS = input.argv.join(' ');
  env.DIB_LOCKFILES = callerEnv.DIB_LOCKFILES || `${config.imageCache}/lockfiles`;
  Object.assign(env, input.extra);
  env.DIB_ENV = Object.keys(env)
    .filter((k) => k.startsWith('DIB_') && k !== 'DIB_ENV')
    .sort()
    .map((k) => `declare -x ${k}="${isSecretName(k) || (input.secretNames ?? []).includes(k) ? '***' : env[k].replace(/["\\$`]/g, '\\$&')}"`)
    .join('\n');
  return env;
}

/** Secret values present in an environment (for redaction). */
export function secretValues(env: Record<string, string | undefined>): string[] {
  return Object.entries(env).filter(([k, v]) => isSecretName(k) && v && v.length >= 3).map(([, v]) => v!);
}
