// Upload files to Glance as one run: every file checked before any request, one Keystone session, each
// image uploaded and verified in turn; on a failure or an interrupt the images this run left unfinished
// are deleted (exit 130 on SIGINT/SIGTERM). Used by image-upload and disk-image-create --upload.
import { InterruptedError, throwIfProblems } from '../core/errors.js';
import { errorMessage } from '../core/cleanup-stack.js';
import { type Logger, uploadProgressLine } from '../core/log.js';
import { installSignalHandlers } from '../core/signals.js';
import { type AuthConfig, authSecrets, loadAuthConfig } from './auth-config.js';
import { Glance, Http, authenticate } from './openstack.js';
import { type UploadRequest, type UploadResult, planUpload, uploadImage } from './upload.js';

export interface UploadOptions {
  cloud?: string;
  name?: string;
  diskFormat?: string;
  containerFormat?: string;
  visibility: string;
  tags: string[];
  properties: Record<string, string>;
  useImport: boolean;
  replace: boolean;
  waitSeconds: number;
}

/** Check every file, authenticate, upload each; on failure or interrupt, delete what was half made. */
export async function uploadFiles(files: string[], options: UploadOptions, log: Logger, auth?: AuthConfig): Promise<UploadResult[]> {
  const requests: UploadRequest[] = files.map((file) => ({
    file,
    name: options.name,
    diskFormat: options.diskFormat,
    containerFormat: options.containerFormat,
    visibility: options.visibility,
    tags: options.tags,
    properties: options.properties,
    useImport: options.useImport,
    replace: options.replace,
    waitSeconds: options.waitSeconds,
  }));
  // Everything that needs no cloud first: a wrong file is exit 2 before any request.
  throwIfProblems(requests.flatMap((r) => planUpload(r).problems));
  const config = auth ?? loadAuthConfig({ cloud: options.cloud });
  for (const s of authSecrets(config)) log.redactor.add(s);
  const guard = installSignalHandlers(log);
  const http = new Http(config);
  const pending = new Set<string>();
  let glance: Glance | undefined;
  try {
    const session = await authenticate(config, http, guard.signal);
    log.redactor.add(session.token);
    glance = new Glance(http, session);
    const results: UploadResult[] = [];
    for (const req of requests) {
      const r = await uploadImage(req, { glance, log, signal: guard.signal, progress: process.stderr.isTTY ? 'bar' : 'events', pending });
      log.info(
        r.reused
          ? `${r.name}: ${r.id} (already in Glance)`
          : `${r.name}: ${r.id} active, checksum and ${r.osHashAlgo} verified; ${uploadProgressLine(r.size, r.size, r.size / (r.rate || 1))}`,
      );
      results.push(r);
    }
    return results;
  } catch (error) {
    if (glance)
      for (const id of pending) {
        try {
          await glance.remove(id);
          log.warn(`deleted the unfinished image ${id}`);
        } catch (e) {
          log.warn(`could not delete the unfinished image ${id}: ${errorMessage(e)}`);
        }
      }
    if (guard.received) throw new InterruptedError(guard.received);
    throw error;
  } finally {
    guard.dispose();
    await http.close();
  }
}
