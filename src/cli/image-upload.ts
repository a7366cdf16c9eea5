// `image-upload [options] FILE...`: put built images into Glance (Keystone v3 auth from clouds.yaml or
// the OS_* variables), with the image guide's properties, verified, idempotent; see src/upload/.
import yargs from 'yargs';
import { UsageError, throwIfProblems } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { type UploadOptions, uploadFiles } from '../upload/run-upload.js';

const SECRET_FLAGS = ['os-password', 'os-application-credential-secret', 'os-token', 'password'];

export async function runImageUpload(argv: string[], log: Logger): Promise<number> {
  const secretFlag = argv.find((a) => SECRET_FLAGS.some((f) => a === `--${f}` || a.startsWith(`--${f}=`)));
  if (secretFlag)
    throw new UsageError(
      'usage',
      `${secretFlag.split('=')[0]} is not taken on the command line: any local user can read a process's arguments`,
      {
        hint: 'set OS_PASSWORD / OS_APPLICATION_CREDENTIAL_SECRET in the environment, or use clouds.yaml (secrets in secure.yaml)',
      },
    );
  const args = await yargs(argv)
    .scriptName('image-upload')
    .usage(
      "$0 [options] [--] FILE...\n\nUpload built images to Glance with the image guide properties (from NAME.d/ beside each file), verify Glance's checksums, reuse an identical image of the same name. Credentials: --os-cloud/OS_CLOUD (clouds.yaml) or the OS_* variables.",
    )
    .option('os-cloud', { type: 'string', describe: 'the cloud in clouds.yaml (default OS_CLOUD)' })
    .option('name', { type: 'string', describe: 'image name (one FILE only; default the file name without its type)' })
    .option('disk-format', {
      type: 'string',
      describe: 'Glance disk_format (default from the output type: qcow2, raw, vmdk, vhd, vhdx, vdi, aki, ari)',
    })
    .option('container-format', {
      type: 'string',
      describe: 'Glance container_format (default from the output type: bare, ova, docker, aki, ari)',
    })
    .option('visibility', { type: 'string', choices: ['private', 'shared', 'community', 'public'], default: 'private' })
    .option('tag', { type: 'string', array: true, default: [] as string[], describe: 'an image tag (repeatable)' })
    .option('property', {
      type: 'string',
      array: true,
      default: [] as string[],
      describe: 'K=V, an image property (repeatable; wins over the derived ones)',
    })
    .option('import', {
      type: 'boolean',
      default: false,
      describe: 'interoperable image import (stage + glance-direct) instead of PUT of the data',
    })
    .option('replace', {
      type: 'boolean',
      default: false,
      describe: 'when an image of this name has other content: upload, then rename the old one NAME-<its date>',
    })
    .option('wait-timeout', { type: 'number', default: 600, describe: 'seconds to wait for the image to become active' })
    .option('json', { type: 'boolean', default: false, describe: 'print the results as JSON' })
    .strictOptions()
    // --tag/--property take one value each (repeat them): a file after them is never read as another value.
    .parserConfiguration({ 'populate--': false, 'halt-at-non-option': false, 'greedy-arrays': false })
    .version(false)
    .help()
    .fail((msg, err) => {
      throw err ?? new UsageError('usage', msg, { hint: 'see image-upload --help' });
    })
    .parseAsync();
  const files = args._.map(String);
  const problems: UsageError[] = [];
  if (!files.length) problems.push(new UsageError('usage', 'no image file given', { hint: 'image-upload out/cloud.qcow2' }));
  if (args.name !== undefined && files.length > 1)
    problems.push(
      new UsageError('usage', '--name names one image, and several files were given', {
        hint: 'upload them one at a time, or let each take its file name',
      }),
    );
  const properties: Record<string, string> = {};
  for (const p of args.property) {
    const eq = p.indexOf('=');
    if (eq <= 0) problems.push(new UsageError('usage', `--property ${p} is not K=V`, { hint: 'e.g. --property hw_disk_bus=scsi' }));
    else properties[p.slice(0, eq)] = p.slice(eq + 1);
  }
  if (!(args['wait-timeout'] > 0))
    problems.push(new UsageError('usage', '--wait-timeout must be a positive number of seconds', { hint: 'e.g. 600' }));
  throwIfProblems(problems);
  const options: UploadOptions = {
    cloud: args['os-cloud'],
    name: args.name,
    diskFormat: args['disk-format'],
    containerFormat: args['container-format'],
    visibility: args.visibility,
    tags: args.tag,
    properties,
    useImport: args.import,
    replace: args.replace,
    waitSeconds: args['wait-timeout'],
  };
  const results = await uploadFiles(files, options, log);
  if (args.json) process.stdout.write(`${JSON.stringify(files.length === 1 ? results[0] : results, null, 2)}\n`);
  else for (const r of results) process.stdout.write(`${r.id}\n`);
  return 0;
}
