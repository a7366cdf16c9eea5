// The environment hooks see: the caller's (unless -c), then DIB's engine variables (the exported settings).
import { stringify } from 'yaml';
import { type BuildConfig, SETTINGS, exportedValue } from '../config/settings.js';
import { baseEnvironment } from '../core/exec.js';
import type { ResolvedElement } from '../elements/resolve.js';
import type { SecretPolicy } from './secrets.js';

export interface HookEnvironmentInput {
  config: BuildConfig;
  elements: ResolvedElement[];
  elementsPath: string;
  argv: string[];
  callerEnv: NodeJS.ProcessEnv;
  extra: Record<string, string>;
  /** Which variables are secret (masked in DIB_ENV, which the manifests element writes into the image). */
  secrets: SecretPolicy;
}

export function hookEnvironment(input: HookEnvironmentInput): Record<string, string> {
  const { config, elements, callerEnv } = input;
  const env: Record<string, string> = config.clearEnv
    ? baseEnvironment(callerEnv)
    : { ...(callerEnv as Record<string, string>), ...baseEnvironment(callerEnv) };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  for (const s of SETTINGS) {
    if (!s.exported || !s.env) continue;
    const value = exportedValue(s, config[s.key]);
    if (value !== undefined) env[s.env] = value;
  }
  env.DIB_DEBUG_TRACE = String(config.debugTrace);
  env.COMPRESS_IMAGE = config.uncompressed ? '' : 'true';
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
  Object.assign(env, input.extra);
  env.DIB_ENV = Object.keys(env)
    .filter((k) => k.startsWith('DIB_') && k !== 'DIB_ENV')
    .sort()
    .map((k) => `declare -x ${k}="${input.secrets.isSecret(k) ? '***' : env[k].replace(/["\\$`]/g, '\\$&')}"`)
    .join('\n');
  return env;
}
