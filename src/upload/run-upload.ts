// Upload files to Glance as one run: every file checked before any request, one Keystone session, each
// image uploaded and verified in turn; on a failure or an interrupt the images this run left unfinished
// are deleted (exit 130 on SIGINT/SIGTERM). Used by image-upload and disk-image-create --upload.
import { InterruptedError, throwIfProblems } from '../core/errors.js';
import { errorMessage } from '../core/cleanup-stack.js';
import { type Logger, uploadProgressLine } from '../core/log.js';
import { installSignalHandlers } from '../core/signals.js';
import { type AuthConfig, authSecrets, loadAuthConfig } from './auth-config.js';
import { Glance, Http, authenticate } from './openstack.js';
import { type UploadPlan, type UploadRequest, type UploadResult, type UploadSettings, planUpload, uploadImage } from './upload.js';
import { closeSync } from 'node:fs';

export interface UploadOptions extends UploadSettings {
  /** The cloud in clouds.yaml (default OS_CLOUD, else the OS_* variables). */
  cloud?: string;
}

/** Check every file, authenticate, upload each; on failure or interrupt, delete what was half made. */
export async function uploadFiles(files: string[], options: UploadOptions, log: Logger, auth?: AuthConfig): Promise<UploadResult[]> {
  const { cloud, ...settings } = options;
  const requests: UploadRequest[] = files.map((file) => ({ ...settings, file }));
  // Everything that needs no cloud first: a wrong file is exit 2 before any request. Each file is
  // opened once here and read only through that descriptor.
  const plans: UploadPlan[] = [];
  try {
    for (const r of requests) plans.push(planUpload(r));
    // Two files of one build share a stem (NAME.qcow2 and NAME.raw): the later ones are named NAME-TYPE.
    const taken = new Set<string>();
    for (const p of plans) {
      if (taken.has(p.name) && !options.name) p.name = `${p.name}-${p.kind.type?.name ?? p.kind.diskFormat}`;
      taken.add(p.name);
    }
    throwIfProblems(plans.flatMap((p) => p.problems));
    const config = auth ?? loadAuthConfig({ cloud });
    return await withGlance(config, log, async (glance, signal, pending) => {
      const results: UploadResult[] = [];
      for (const [i, req] of requests.entries()) {
        const r = await uploadImage(req, plans[i], { glance, log, signal, progress: process.stderr.isTTY ? 'bar' : 'events', pending });
        log.info(
          r.reused
            ? `${r.name}: ${r.id} (already in Glance)`
            : `${r.name}: ${r.id} active, checksum and ${r.osHashAlgo} verified; ${uploadProgressLine(r.size, r.size, r.size / (r.rate || 1))}`,
        );
        results.push(r);
      }
      return results;
    });
  } finally {
    for (const p of plans) closeSync(p.file.fd);
  }
}

/** Check that the credentials work (a token and an image endpoint), before a build whose outputs will be uploaded. */
export async function checkCredentials(config: AuthConfig, log: Logger): Promise<void> {
  await withGlance(config, log, () => Promise.resolve());
}

/**
 * One Keystone session and Glance client for `body`; secrets and the token go to the redactor first.
 * On failure or SIGINT/SIGTERM the images `body` left pending are deleted (exit 130 when interrupted).
 */
async function withGlance<T>(
  config: AuthConfig,
  log: Logger,
  body: (glance: Glance, signal: AbortSignal, pending: Set<string>) => Promise<T>,
): Promise<T> {
  for (const s of authSecrets(config)) log.redactor.add(s);
  const guard = installSignalHandlers(log);
  const pending = new Set<string>();
  let http: Http | undefined;
  let glance: Glance | undefined;
  try {
    http = new Http(config);
    const session = await authenticate(config, http, guard.signal);
    log.redactor.add(session.token);
    glance = new Glance(http, session);
    const result = await body(glance, guard.signal, pending);
    if (guard.received) throw new InterruptedError(guard.received);
    return result;
  } catch (error) {
    for (const id of pending) {
      try {
        await glance!.remove(id, AbortSignal.timeout(30_000));
        log.warn(`deleted the unfinished image ${id}`);
      } catch (e) {
        log.warn(`could not delete the unfinished image ${id}: ${errorMessage(e)}`);
      }
    }
    if (guard.received) throw new InterruptedError(guard.received);
    throw error;
  } finally {
    guard.dispose();
    await http?.close();
  }
}
