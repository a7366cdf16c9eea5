// The process runner: failures carry argv and output tail; background children do not hang it.
import { describe, expect, it, onTestFinished } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { poll } from '../../../src/core/retry.js';
import { REPO } from '../../helpers/cli.js';
import { CommandError, Runner } from '../../../src/core/exec.js';
import { Logger, type LogEvent } from '../../../src/core/log.js';

function runnerWithEvents() {
  const log = new Logger();
  const events: LogEvent[] = [];
  log.addSink({ write: (e) => void events.push(e) });
  return { runner: new Runner(log), events, log };
}

describe('Runner', () => {
  it('streams output lines with their label and fails with the argv and the last lines', async () => {
    const { runner, events } = runnerWithEvents();
    const error = await runner.run(['bash', '-c', 'echo one; echo two >&2; exit 4'], { label: 'demo' }).catch((e) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect(error.status).toBe(4);
    expect(error.message).toBe("command failed (exit 4): bash -c 'echo one; echo two >&2; exit 4'");
    expect(error.tail).toEqual(['one', 'two']);
    expect(events.filter((e) => e.type === 'output').map((e) => (e as { line: string }).line)).toEqual(['one', 'two']);
  });
  it('does not wait for a background process that keeps the output pipe open', async () => {
    const { runner, events } = runnerWithEvents();
    const start = Date.now();
    const r = await runner.run(['bash', '-c', 'sleep 20 & echo hi'], { label: 'bg' });
    expect(r.status).toBe(0);
    expect(Date.now() - start).toBeLessThan(10_000);
    expect(events.some((e) => e.type === 'warning' && e.message.includes('still holds its output open'))).toBe(true);
    await runner.run(['pkill', '-f', '^sleep 20$'], { okStatus: [0, 1] });
  });
  it('a missing command names the Debian package to install', async () => {
    const { runner } = runnerWithEvents();
    const error = await runner.run(['mkfs.xfs-not-here']).catch((e) => e);
    expect(error.message).toContain('command not found: mkfs.xfs-not-here');
  });
  it('redacts secrets in every event', () => {
    const { log, events } = runnerWithEvents();
    log.redactor.add('hunter2"quoted');
    log.info('password is hunter2"quoted here');
    expect(JSON.stringify(events)).not.toContain('hunter2');
  });

  it('a background process dies with the process that started it, even when that one is killed outright (SIGKILL)', async () => {
    // A starter that runs Runner.start(['sleep', '300']) and then waits; killed with SIGKILL, no cleanup runs.
    const script = `import { Runner } from '${REPO}/dist/core/exec.js'; import { Logger } from '${REPO}/dist/core/log.js';
      new Runner(new Logger()).start(['sleep', '300']); setInterval(() => {}, 1000);`;
    const starter = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
    const childOf = (pid: number) =>
      readdirSync(`/proc/${pid}/task`).flatMap((t) =>
        readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
      );
    const sleeper = await poll(() => childOf(starter.pid!).find((c) => readFileSync(`/proc/${c}/cmdline`, 'utf8').startsWith('sleep')), {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    expect(sleeper).toBeGreaterThan(0);
    starter.kill('SIGKILL');
    onTestFinished(() => {
      if (existsSync(`/proc/${sleeper}`)) process.kill(sleeper!, 'SIGKILL'); // never leave it behind when the assertion fails
    });
    const gone = await poll(() => !existsSync(`/proc/${sleeper}`) || readFileSync(`/proc/${sleeper}/stat`, 'utf8').split(' ')[2] === 'Z', {
      timeoutMs: 5_000,
      intervalMs: 50,
    });
    expect(gone).toBe(true);
  });
});
