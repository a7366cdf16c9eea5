// The one process runner: argv arrays only, stdin ignored, allowlisted environment, streamed output.
import { execa } from 'execa';
import { createInterface } from 'node:readline';
import { BuildError } from './errors.js';
import { HOST, type HostView } from './host-view.js';
import type { Logger } from './log.js';
import { shellQuote } from './text.js';
import { packageForTool, withSbin } from './tools.js';

export interface RunOptions {
  /** Environment for the child; built from scratch (see `baseEnvironment`). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Label for streamed output lines; when absent, output is captured but not streamed. */
  label?: string;
  /** Text fed to stdin; otherwise stdin is ignored. */
  input?: string;
  /** Exit statuses that are not failures. */
  okStatus?: number[];
  /** Keep stdout (returned) instead of streaming it. */
  capture?: boolean;
  /** Override the abort signal from the runner. */
  signal?: AbortSignal;
  /** Seconds before the command is killed. */
  timeoutSeconds?: number;
  /** Give the child the terminal (debug shells at break points). */
  interactive?: boolean;
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends BuildError {
  constructor(
    readonly argv: string[],
    readonly status: number | undefined,
    readonly tail: string[],
    signal?: string,
  ) {
    super(`command failed (${signal ? `killed by ${signal}` : `exit ${status}`}): ${argv.map((a) => shellQuote(a)).join(' ')}`, {
      details: tail.length ? ['last output:', ...tail.map((l) => `  ${l}`)] : [],
    });
  }
}

const TAIL_LINES = 20;

/** For undo commands: they must run to the end even after the build was interrupted. */
export const NEVER_ABORT = new AbortController().signal;

/** Variables a child may inherit from the caller; everything else is passed explicitly. */
const ENV_ALLOWLIST = [
  'PATH',
  'TERM',
  'HOME',
  'USER',
  'LOGNAME',
  'TZ',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
];

export function baseEnvironment(source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = { LC_ALL: 'C', LANG: 'C' };
  for (const key of ENV_ALLOWLIST) {
    const value = source[key];
    if (value !== undefined) env[key] = value;
  }
  env.PATH = withSbin(env.PATH ?? '/usr/bin:/bin');
  return env;
}

/**
 * Fault injection for the test suite: DIB_TS_FAULT_COMMAND=TOOL[,TOOL] makes the runner fail the
 * first matching host command (mkfs matches every mkfs.* tool). Not a user feature.
 */
function injectedFault(argv: string[]): string | undefined {
  const spec = process.env.DIB_TS_FAULT_COMMAND;
  if (!spec) return undefined;
  const tool = (argv[0] ?? '').split('/').pop() ?? '';
  return spec.split(',').find((t) => t === tool || (t === 'mkfs' && tool.startsWith('mkfs.')));
}

export interface BackgroundProcess {
  alive(): boolean;
  /** What it wrote to stderr so far. */
  errors(): string;
  /** Kill it (SIGKILL) and wait until it is gone. */
  stop(): Promise<void>;
}

export interface SupervisedProcess {
  pid: number | undefined;
  done: Promise<{ status: number | null; signal: string | null }>;
  terminate(signal?: NodeJS.Signals): void;
}

export class Runner {
  constructor(
    private readonly log: Logger,
    private readonly signal?: AbortSignal,
    private readonly defaultEnv: Record<string, string> = baseEnvironment(),
    /** Where the kernel state the commands change is read (devices, mounts); unit tests pass a fake tree. */
    readonly host: HostView = HOST,
  ) {}

  /** Run a command; throws CommandError on a status not in `okStatus` (default [0]). */
  async run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
    const [file, ...args] = argv;
    this.log.emit({ type: 'command', argv });
    const fault = injectedFault(argv);
    if (fault) throw new CommandError(argv, 1, [`${fault}: injected fault (DIB_TS_FAULT_COMMAND)`]);
    const tail: string[] = [];
    const remember = (line: string) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
    };
    if (options.interactive) {
      const r = await execa(file, args, {
        env: (options.env ?? this.defaultEnv) as Record<string, string>,
        extendEnv: false,
        cwd: options.cwd,
        stdio: 'inherit',
        reject: false,
      });
      return { status: r.exitCode ?? -1, stdout: '', stderr: '' };
    }
    const child = execa(file, args, {
      env: (options.env ?? this.defaultEnv) as Record<string, string>,
      extendEnv: false,
      cwd: options.cwd,
      input: options.input,
      stdin: options.input === undefined ? 'ignore' : 'pipe',
      cancelSignal: options.signal ?? this.signal,
      forceKillAfterDelay: 5000,
      timeout: options.timeoutSeconds ? options.timeoutSeconds * 1000 : undefined,
      reject: false,
      stripFinalNewline: true,
      lines: false,
      buffer: true,
      all: false,
    });
    const label = options.label;
    const streamLines = (stream: NodeJS.ReadableStream | null, isStdout: boolean) => {
      if (!stream) return;
      let pending = '';
      stream.on('data', (chunk: Buffer) => {
        pending += chunk.toString('utf8');
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (!isStdout || !options.capture) remember(line);
          if (label && (!isStdout || !options.capture)) this.log.emit({ type: 'output', label, line });
        }
      });
      stream.on('end', () => {
        if (pending) {
          if (!isStdout || !options.capture) remember(pending);
          if (label && (!isStdout || !options.capture)) this.log.emit({ type: 'output', label, line: pending });
        }
      });
    };
    streamLines(child.stdout, true);
    streamLines(child.stderr, false);
    // A process the command left running in the background (a hook's `daemon &`) can hold the output
    // pipes open long after the command exited; do not wait for it (phase cleanup kills it).
    let lingering: NodeJS.Timeout | undefined;
    child.once('exit', () => {
      lingering = setTimeout(() => {
        if (child.stdout?.readableEnded === false || child.stderr?.readableEnded === false) {
          this.log.warn(`${label ?? file}: a process it started in the background still holds its output open; not waiting for it`);
        }
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, 2000);
    });
    const result = await child;
    clearTimeout(lingering);
    if (result.failed && result.exitCode === undefined && !result.isCanceled && !result.signal && !result.timedOut) {
      const code = (result.cause as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'ENOENT') {
        const pkg = packageForTool(file);
        throw new BuildError(`command not found: ${file}`, {
          hint: pkg ? `install it: apt-get install ${pkg}` : 'install it and make sure it is on PATH',
        });
      }
    }
    if (result.isCanceled) {
      throw new CommandError(argv, undefined, tail, 'cancellation');
    }
    const status = result.exitCode ?? -1;
    const ok = options.okStatus ?? [0];
    if (!ok.includes(status))
      throw new CommandError(argv, result.exitCode, tail, result.signal ?? (result.timedOut ? 'timeout' : undefined));
    return { status, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
  }

  /**
   * Start a long-running process (a guest VM) in the background: stdin ignored, stdout dropped, stderr
   * kept for error messages. The caller owns it (register `stop` on a cleanup stack at once); it also
   * dies with this process.
   */
  start(argv: string[], options: { env?: Record<string, string | undefined> } = {}): BackgroundProcess {
    this.log.emit({ type: 'command', argv });
    // setpriv --pdeathsig: the kernel kills it when this process dies, even by SIGKILL, when no cleanup
    // stack runs — a guest must never outlive the build or verify that started it.
    const child = execa('setpriv', ['--pdeathsig', 'KILL', '--', ...argv], {
      env: (options.env ?? this.defaultEnv) as Record<string, string>,
      extendEnv: false,
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'pipe',
      reject: false,
      buffer: false,
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    let exited = false;
    const done = child.then(() => {
      exited = true;
    });
    return {
      alive: () => !exited && child.exitCode === null && child.signalCode === null,
      errors: () => stderr.trim(),
      stop: async () => {
        if (!exited) child.kill('SIGKILL');
        await done;
      },
    };
  }

  /**
   * Supervise a child command that runs as long as it needs (one image of a family): stdin ignored, its
   * stdout and stderr and an extra pipe on fd 3 (where it writes its events) handed back line by line.
   * It receives SIGTERM when this process dies, even by SIGKILL, so it unwinds its own build.
   */
  supervise(
    argv: string[],
    options: { env: Record<string, string | undefined>; onLine: (stream: 'stdout' | 'stderr' | 'fd3', line: string) => void },
  ): SupervisedProcess {
    this.log.debug(`+ ${argv.map((a) => shellQuote(a)).join(' ')}`);
    const child = execa('setpriv', ['--pdeathsig', 'TERM', '--', ...argv], {
      env: options.env as Record<string, string>,
      extendEnv: false,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      reject: false,
      buffer: false,
      // SIGTERM only: the child unwinds its build (unmounts, loop devices) however long that takes.
      forceKillAfterDelay: false,
    });
    const streams = [
      ['stdout', child.stdout],
      ['stderr', child.stderr],
      ['fd3', child.stdio[3]],
    ] as const;
    const closed = streams.map(
      ([name, stream]) =>
        new Promise<void>((resolveClosed) => {
          if (!stream) return resolveClosed();
          const lines = createInterface({ input: stream as NodeJS.ReadableStream, crlfDelay: Infinity });
          lines.on('line', (line) => options.onLine(name, line));
          lines.on('close', () => resolveClosed());
        }),
    );
    const done = child.then(async (result) => {
      // A process the child left behind may hold its pipes open: read what is there, then let go.
      let linger: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(closed), new Promise<void>((r) => (linger = setTimeout(r, 2000)))]);
      clearTimeout(linger);
      for (const [, stream] of streams) stream?.destroy();
      return { status: typeof result.exitCode === 'number' ? result.exitCode : null, signal: result.signal ?? null };
    });
    return {
      pid: child.pid,
      done,
      terminate: (signal: NodeJS.Signals = 'SIGTERM') => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
    };
  }

  /** Run and return trimmed stdout. */
  async output(argv: string[], options: RunOptions = {}): Promise<string> {
    return (await this.run(argv, { ...options, capture: true })).stdout.trim();
  }
}
