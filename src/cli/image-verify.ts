// `image-verify IMAGE`: check an image offline, boot it with a config drive or NoCloud seed, check it over ssh.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import yargs from 'yargs';
import { UsageError, throwIfProblems } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { packageForTool, whichTool } from '../core/tools.js';
import { loadElementIndex } from '../elements/search-path.js';
import { verifyAndReport } from '../verify/report.js';
import type { VerifyOptions } from '../verify/verify.js';

export async function runImageVerify(argv: string[], log: Logger): Promise<number> {
  const args = await yargs(argv)
    .scriptName('image-verify')
    .usage(
      '$0 [options] [--] IMAGE [CHECK...]\n\nInspect IMAGE read-only, then boot it under qemu the way Nova would (config drive, ssh key, user-data, a bigger disk) and run the OpenStack image checks plus the checks its elements declare. CHECK names limit the run.',
    )
    .option('seed', {
      type: 'string',
      choices: ['config-drive', 'nocloud'],
      default: 'config-drive',
      describe: 'how metadata reaches the guest',
    })
    .option('user', { type: 'string', default: 'debian', describe: 'login user that receives the metadata ssh key' })
    .option('timeout', { type: 'number', default: 900, describe: 'seconds to wait for ssh' })
    .option('memory', { type: 'number', default: 1024, describe: 'guest memory in MiB' })
    .option('disk-size', { type: 'number', default: 4, describe: 'guest disk in GiB (the image is grown to this; tests growroot)' })
    .option('offline', { type: 'boolean', default: false, describe: 'only the read-only checks; do not boot' })
    .option('uefi', { type: 'boolean', default: false, describe: 'boot with OVMF' })
    .option('junit', { type: 'string', describe: 'write JUnit XML here' })
    .strictOptions()
    // `--` ends the options: `image-verify --offline -- -odd-name.qcow2` (the image is never taken for a flag).
    .parserConfiguration({ 'populate--': false, 'halt-at-non-option': false })
    .version(false)
    .help()
    .fail((msg, err) => {
      throw err ?? new UsageError('usage', msg, { hint: 'see image-verify --help' });
    })
    .parseAsync();
  const [image, ...only] = args._.map(String);
  const problems: UsageError[] = [];
  if (!image) problems.push(new UsageError('usage', 'an image is required', { hint: 'image-verify out.qcow2' }));
  else if (!existsSync(image))
    problems.push(new UsageError('usage', `image ${image} does not exist`, { hint: 'give the path of a qcow2 or raw image' }));
  else if (!statSync(image).isFile())
    problems.push(new UsageError('usage', `image ${image} is not a regular file`, { hint: 'give the path of a qcow2 or raw image' }));
  if (process.getuid?.() !== 0)
    problems.push(
      new UsageError('not-root', 'image-verify must run as root (it attaches the image read-only to inspect it)', {
        hint: 'run it with sudo',
      }),
    );
  const tools = ['qemu-img', 'prlimit', 'losetup', 'partx', 'mount', 'blkid', 'sfdisk'];
  if (!args.offline) tools.push('qemu-system-x86_64', 'setpriv', 'xorriso', 'ssh', 'ssh-keygen');
  for (const t of tools)
    if (!whichTool(t))
      problems.push(
        new UsageError('missing-tool', `${t} is not installed`, {
          hint: `apt-get install ${packageForTool(t) ?? (t === 'prlimit' ? 'util-linux' : t)}`,
        }),
      );
  if (args.uefi && !existsSync('/usr/share/ovmf/OVMF.fd'))
    problems.push(new UsageError('missing-tool', 'OVMF firmware is not installed', { hint: 'apt-get install ovmf' }));
  throwIfProblems(problems);

  const index = loadElementIndex(process.env.ELEMENTS_PATH);
  const options: VerifyOptions = {
    image: resolve(image),
    tmpDir: process.env.TMP_DIR || '/tmp',
    seed: args.seed as VerifyOptions['seed'],
    user: args.user,
    timeoutSeconds: args.timeout,
    memoryMiB: args.memory,
    diskBytes: Math.round(args['disk-size'] * 1024 ** 3),
    offlineOnly: args.offline,
    uefi: args.uefi,
    elementDirs: new Map([...index.elements].map(([n, e]) => [n, e.path])),
    only,
  };
  return verifyAndReport(options, log, args.junit);
}
