/**
 * The demo: a real rolling deploy v1 -> v2 on the sandbox, under load, through the `baton` CLI.
 * The sandbox stays up afterwards so you can look around; the last lines say how to remove it.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startLoad } from '../test/fleet/load.ts';
import { describeSandbox, upSandbox } from '../test/fleet/cli.ts';

const say = (line: string) => console.log(`\x1b[1m==> ${line}\x1b[0m`);

say('bringing up the sandbox fleet (the first time builds its images: about a minute)');
const started = Date.now();
const sandbox = await upSandbox({ hosts: 3, log: (l) => console.log(`    ${l}`) });
say(`sandbox up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(describeSandbox(sandbox));

const before = await (await fetch(sandbox.fleet.lb.elbUrl)).text();
say(`the load balancer serves: ${before.trim()}`);

say('sending traffic through the load balancer (4 concurrent clients, at most 120 s) and deploying v2');
const load = startLoad({ url: sandbox.fleet.lb.elbUrl, concurrency: 4, ratePerSecond: 100, maxSeconds: 120 });
const deployStarted = Date.now();
const code = await new Promise<number>((resolve, reject) => {
  const child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, '..', 'bin', 'baton.js'),
      'deploy',
      '--config',
      sandbox.configFile,
      '--deployment',
      'sandbox',
      '--image',
      `${sandbox.fleet.appRepository}:v2`,
    ],
    {
      stdio: 'inherit',
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: 'sandbox',
        AWS_SECRET_ACCESS_KEY: 'sandbox',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    },
  );
  child.on('error', reject);
  child.on('close', (c) => resolve(c ?? 1));
});
const deployMs = Date.now() - deployStarted;
const traffic = await load.stop();

say(`baton deploy exited ${code} after ${(deployMs / 1000).toFixed(1)} s`);
console.log(
  `requests: ${traffic.requests} sent, ${traffic.ok} ok, ${traffic.non2xx} non-2xx, ${traffic.errors} connection errors`,
);
console.log(
  `served:   ${Object.entries(traffic.byBody)
    .map(([body, n]) => `${body} ${n}`)
    .join(', ')}`,
);
for (const f of traffic.failures.slice(0, 5)) console.log(`failure:  ${JSON.stringify(f)}`);
say(`tear it down with: npm run fleet -- down ${sandbox.fleet.id}`);
process.exitCode = code === 0 && traffic.errors + traffic.non2xx === 0 ? 0 : 1;
