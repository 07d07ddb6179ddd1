/**
 * Benchmark: Baton's start-up, as a ratio to a bare `node -e 0` on the same machine (the issue's
 * targets: --help, --version and completion ≤ 4×; deploy -i … --list-hosts ≤ 8×), and each command's
 * peak memory (RSS). Runs are interleaved and the median of each is taken.
 * Run: `node --import tsx bench/startup.ts [runs=9]` (after `npm run build`). Prints a table.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const runs = Number(process.argv[2] ?? 9);
const bin = join(import.meta.dirname, '..', 'bin', 'baton.js');
const dir = mkdtempSync(join(tmpdir(), 'baton-startup-'));
writeFileSync(join(dir, 'hosts.ini'), '[app]\napp-[1:16] ansible_host=127.0.0.1\n');
writeFileSync(
  join(dir, 'baton.yaml'),
  'region: us-east-1\nstack: web\nrelease: api\nssh: { user: deploy }\nhealth: { http: { port: 8080 } }\nstate: { directory: ' +
    join(dir, 'state') +
    ' }\ndeployments:\n  x: {}\n',
);

const commands: [string, string[]][] = [
  ['node -e 0', ['-e', '0']],
  ['baton --version', [bin, '--version']],
  ['baton --help', [bin, '--help']],
  ['baton completion', [bin, 'completion']],
  [
    'baton deploy -i … --list-hosts',
    [
      bin,
      'deploy',
      '--config',
      join(dir, 'baton.yaml'),
      '--deployment',
      'x',
      '-i',
      join(dir, 'hosts.ini'),
      '--image',
      'reg/app:1',
      '--list-hosts',
      '--reporter',
      'plain',
    ],
  ],
];

/** Wall time of one run, from spawn to exit. */
function once(args: string[]): Promise<{ ms: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' },
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) return reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`));
      resolve({ ms });
    });
  });
}

/** Peak RSS of one run, as the process itself reports it on exit (written to fd 3 by a preloaded hook). */
const RSS_HOOK = `data:text/javascript,import fs from 'node:fs';process.on('exit',()=>fs.writeSync(3,String(process.resourceUsage().maxRSS)))`;
function peakRss(args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', RSS_HOOK, ...args], {
      stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
      env: { ...process.env, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' },
    });
    let out = '';
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (b: Buffer) => (out += b.toString()));
    child.on('close', () => resolve(Number(out) / 1024));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const times = new Map<string, number[]>(commands.map(([n]) => [n, []]));
for (let i = 0; i < runs; i++) for (const [name, args] of commands) times.get(name)!.push((await once(args)).ms);
const base = median(times.get('node -e 0')!);
console.log(`start-up on ${process.version}, ${runs} interleaved runs each, median (min–max), ratio to node -e 0:`);
for (const [name, args] of commands) {
  const t = times.get(name)!;
  const rss = await peakRss(args);
  console.log(
    `  ${name.padEnd(32)} ${(median(t) / 1000).toFixed(3)} s (${(Math.min(...t) / 1000).toFixed(3)}–${(Math.max(...t) / 1000).toFixed(3)})  ${(median(t) / base).toFixed(1)}×  ${Math.round(rss)} MB peak RSS`,
  );
}
