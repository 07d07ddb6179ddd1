/**
 * `npm run fleet -- up|down|list`: a sandbox that outlives this process, for the demo and for trying
 * Baton by hand. `up` starts the fleet and the AWS emulator (as a background process whose PID is kept
 * in the fleet's directory) and prints the inventory and addresses; `down` removes exactly that.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startFleet, stopFleet, type Fleet } from './fleet.ts';
import { fleetRoot } from './lifecycle.ts';
import { emulatorSpecFor } from './sandbox.ts';
import { sandboxConfig } from './sandbox-config.ts';

const emulatorMain = join(import.meta.dirname, '..', 'aws-emulator', 'main.ts');

export interface RunningSandbox {
  readonly fleet: Fleet;
  readonly emulatorUrl: string;
  readonly emulatorPid: number;
  readonly configFile: string;
}

/** Starts a fleet and a detached emulator; both stay up until `downSandbox`. */
export async function upSandbox(
  options: { hosts?: number; log?: (line: string) => void } = {},
): Promise<RunningSandbox> {
  const log = options.log ?? (() => {});
  const fleet = await startFleet({ hosts: options.hosts, log });
  try {
    const specFile = join(fleet.dir, 'emulator-spec.json');
    const readyFile = join(fleet.dir, 'emulator.json');
    writeFileSync(specFile, JSON.stringify(emulatorSpecFor(fleet), null, 2));
    const logFd = openSync(join(fleet.dir, 'emulator.log'), 'a');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', emulatorMain, '--spec', specFile, '--ready-file', readyFile],
      { detached: true, stdio: ['ignore', logFd, logFd] },
    );
    child.unref();
    const { url } = await waitForFile<{ url: string; pid: number }>(
      readyFile,
      20_000,
      () => `the AWS emulator did not start: see ${join(fleet.dir, 'emulator.log')}`,
    );
    const configFile = join(fleet.dir, 'baton.yaml');
    writeFileSync(configFile, sandboxConfig(fleet, url));
    writeFileSync(join(fleetRoot, 'current'), fleet.id);
    return { fleet, emulatorUrl: url, emulatorPid: child.pid!, configFile };
  } catch (error) {
    await downSandbox(fleet.id);
    throw error;
  }
}

/** Stops the fleet's emulator (by the PID it recorded) and removes the fleet. */
export async function downSandbox(id: string): Promise<void> {
  const ready = join(fleetRoot, id, 'emulator.json');
  if (existsSync(ready)) {
    const { pid } = JSON.parse(readFileSync(ready, 'utf8')) as { pid: number };
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  await stopFleet(id);
  const current = join(fleetRoot, 'current');
  if (existsSync(current) && readFileSync(current, 'utf8').trim() === id) rmSync(current);
}

export function listSandboxes(): string[] {
  return existsSync(fleetRoot)
    ? readdirSync(fleetRoot).filter((f) => existsSync(join(fleetRoot, f, 'fleet.json')))
    : [];
}

export function describeSandbox(s: RunningSandbox): string {
  const { fleet } = s;
  const rows = fleet.hosts.map((h) => `  ${h.name.padEnd(8)} ${h.instanceId}  ${h.privateIp}`);
  return [
    `sandbox ${fleet.id} is up (files in ${fleet.dir})`,
    `hosts (EC2 tags stack=web release=api deployment=sandbox, reachable through the bastion):`,
    ...rows,
    `bastion        ssh -i ${fleet.sshKeyFile} -o UserKnownHostsFile=${fleet.knownHostsFile} -p ${fleet.bastion.port} ${fleet.bastion.user}@${fleet.bastion.host}`,
    `load balancer  ${fleet.lb.elbUrl} (classic ELB)  ${fleet.lb.targetGroupUrl} (target group)`,
    `AWS emulator   ${s.emulatorUrl}`,
    `registry       ${fleet.appRepository}:{v1,v2,v3,unhealthy,crash}`,
    `config         ${s.configFile}`,
    `deploy         npx baton deploy --config ${s.configFile} --deployment sandbox --image ${fleet.appRepository}:v2`,
    `tear down      npm run fleet -- down ${fleet.id}`,
  ].join('\n');
}

async function waitForFile<T>(file: string, timeoutMs: number, problem: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(file)) {
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as T;
      } catch {
        // still being written
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(problem());
}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { hosts: { type: 'string', default: '3' } },
  });
  const [command, id] = positionals;
  switch (command) {
    case 'up': {
      const started = Date.now();
      const s = await upSandbox({ hosts: Number(values.hosts), log: (l) => console.error(l) });
      console.log(describeSandbox(s));
      console.error(`up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return;
    }
    case 'down': {
      const ids = id ? [id] : listSandboxes();
      for (const f of ids) {
        await downSandbox(f);
        console.log(`sandbox ${f} removed`);
      }
      if (!ids.length) console.log('no sandbox is up');
      return;
    }
    case 'list':
      for (const f of listSandboxes()) console.log(f);
      return;
    default:
      console.error('usage: npm run fleet -- up [--hosts N] | down [id] | list');
      process.exitCode = 2;
  }
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(`error: ${(error as Error).message}`);
    process.exitCode = 1;
  });
}
