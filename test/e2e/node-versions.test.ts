/**
 * Baton on Node 22 and 24 too (it supports Node >= 20.19, and AWS SDK releases after early 2027 need
 * 22): each binary, installed from the npm registry, deploys the sandbox through the CLI, and the SDK's
 * Node-version notice never reaches the output. (scripts/test.sh also runs the unit tests on each.)
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveImage } from '../fleet/docker.ts';
import { startSandbox, type Sandbox } from '../fleet/sandbox.ts';
import { batonBin, runBaton } from './baton.ts';

const run = promisify(execFile);
let sandbox: Sandbox;
const nodes: Record<string, string> = {};

beforeAll(async () => {
  const script = join(import.meta.dirname, '..', '..', 'scripts', 'node-binary.mjs');
  const [s, n22, n24] = await Promise.all([
    startSandbox({ hosts: 2 }),
    run(process.execPath, [script, '22'], { timeout: 300_000 }),
    run(process.execPath, [script, '24'], { timeout: 300_000 }),
  ]);
  sandbox = s;
  nodes['22'] = n22.stdout.trim();
  nodes['24'] = n24.stdout.trim();
});
afterAll(async () => {
  await sandbox?.stop();
});

describe.each([
  ['22', 'v2'],
  ['24', 'v3'],
])('on Node %s', (major, tag) => {
  it('deploys the sandbox, with no SDK notice in the output', async () => {
    const node = nodes[major]!;
    expect((await run(node, ['--version'])).stdout).toMatch(new RegExp(`^v${major}\\.`));
    const image = `${sandbox.fleet.appRepository}:${tag}`;
    const deployed = await runBaton(
      [
        batonBin,
        'deploy',
        '--config',
        sandbox.configFile,
        '--deployment',
        'sandbox',
        '--image',
        image,
        '--reporter',
        'plain',
      ],
      { bin: node },
    );
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
    expect(deployed.stdout + deployed.stderr).not.toMatch(
      /NodeDeprecationWarning|node version|will no longer support/i,
    );
    for (const h of sandbox.fleet.hosts) expect(await liveImage(h.container)).toBe(image);
  });
});
