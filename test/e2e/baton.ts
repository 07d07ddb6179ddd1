/** Runs the real `baton` CLI (bin/baton.js, built code) as a child process, as an operator or CI would. */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeployEvent } from '../../src/events/events.ts';

export const batonBin = join(import.meta.dirname, '..', '..', 'bin', 'baton.js');

/** Where runs start by default: a scratch folder, so files a run leaves (retry files) stay out of the checkout. */
const scratchCwd = mkdtempSync(join(tmpdir(), 'baton-cwd-'));

/** Credentials for the emulator: the SDK's default chain reads them from the environment, as in CI. */
export const sandboxEnv = {
  AWS_ACCESS_KEY_ID: 'sandbox',
  AWS_SECRET_ACCESS_KEY: 'sandbox',
  AWS_EC2_METADATA_DISABLED: 'true',
};

export interface BatonRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** With `--reporter json`: the events, parsed. */
  events: (DeployEvent & { at: string })[];
}

export interface BatonOptions {
  env?: Record<string, string>;
  /** Another `baton` executable (an installed package's bin) and where to run it. */
  bin?: string;
  cwd?: string;
  /** Called with every parsed event as it arrives (to interrupt at a given step, say). */
  onEvent?: (event: DeployEvent, child: ReturnType<typeof spawn>) => void;
}

export function runBaton(args: string[], options: BatonOptions = {}): Promise<BatonRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(options.bin ?? process.execPath, options.bin ? args : [batonBin, ...args], {
      cwd: options.cwd ?? scratchCwd,
      env: { ...process.env, ...sandboxEnv, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let pending = '';
    const events: BatonRun['events'] = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        let event: BatonRun['events'][number];
        try {
          event = JSON.parse(line) as BatonRun['events'][number];
        } catch {
          continue; // not an event line (a command's own JSON output, pretty-printed)
        }
        events.push(event);
        options.onEvent?.(event, child);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, events }));
  });
}

export interface TerminalRun {
  code: number | null;
  /** Everything the terminal showed (stdout and stderr, CRLF line ends). */
  output: string;
}

/**
 * Runs `baton` on a pseudo-terminal (util-linux `script`), as an operator at a keyboard: each time the
 * output since the last answer matches the next prompt, types the reply and Enter. Bounded: a prompt
 * that never comes ends the run after `timeoutMs`.
 */
export function runBatonInTerminal(
  args: string[],
  answers: { prompt: RegExp; reply: string }[],
  options: { env?: Record<string, string>; timeoutMs?: number; columns?: number } = {},
): Promise<TerminalRun> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  // A pseudo-terminal from script has no size until told one: a redrawing view needs its width.
  const size = options.columns ? `stty cols ${options.columns} rows 50; ` : '';
  const command = size + [process.execPath, batonBin, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, ...sandboxEnv, ...options.env, TERM: 'dumb' };
    delete env.TEAMCITY_VERSION;
    delete env.CI;
    const child = spawn('script', ['-q', '-f', '-e', '-c', command, '/dev/null'], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    let since = '';
    const pending = [...answers];
    const timer = setTimeout(() => child.kill('SIGTERM'), options.timeoutMs ?? 120_000);
    const onData = (chunk: string) => {
      output += chunk;
      since += chunk;
      const next = pending[0];
      if (next && next.prompt.test(since)) {
        pending.shift();
        since = '';
        child.stdin.write(`${next.reply}\r`);
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
