/**
 * The sandbox: a fleet (test/fleet/fleet.ts) plus the AWS emulator that plays its EC2 instances, Auto
 * Scaling group, classic ELB, target group and alarms, with the load balancers driving the fleet's
 * HAProxy. Tests and benchmarks use `startSandbox`; `npm run fleet up` keeps one running for the demo.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EmulatorCall, EmulatorFault, EmulatorSpec, EmulatorState } from '../aws-emulator/types.ts';
import { startEmulator } from '../aws-emulator/server.ts';
import { startFleet, stopFleet, type Fleet, type FleetOptions } from './fleet.ts';
import { BACKENDS, serverStats } from './lb.ts';
import { machineSnapshot } from './machine.ts';
import { inTurn } from './turns.ts';
import { SANDBOX, SANDBOX_ALARMS, SANDBOX_STATE_BUCKET, sandboxConfig } from './sandbox-config.ts';

/** The names the emulator gives the sandbox's AWS resources. */
export const RESOURCES = {
  autoScalingGroup: `${SANDBOX.stack}-${SANDBOX.release}-${SANDBOX.deployment}`,
  classicElb: `${SANDBOX.stack}-${SANDBOX.release}-${SANDBOX.deployment}`,
  targetGroup: `${SANDBOX.stack}-${SANDBOX.release}-${SANDBOX.deployment}`,
} as const;

export interface SandboxAwsOptions {
  /** The instances' Name tags, by host (default the host names); Auto Scaling groups give all one. */
  readonly nameTags?: readonly string[];
  /** The target group's target type: `ip` registers the hosts by private IP (default `instance`). */
  readonly targetType?: 'instance' | 'ip';
}

export function emulatorSpecFor(fleet: Fleet, options: SandboxAwsOptions = {}): EmulatorSpec {
  const ids = fleet.hosts.map((h) => h.instanceId);
  return {
    region: SANDBOX.region,
    instances: fleet.hosts.map((h, i) => ({
      instanceId: h.instanceId,
      privateIp: h.privateIp,
      tags: {
        Name: options.nameTags?.[i] ?? h.name,
        stack: SANDBOX.stack,
        release: SANDBOX.release,
        deployment: SANDBOX.deployment,
      },
    })),
    autoScalingGroups: [{ name: RESOURCES.autoScalingGroup, instanceIds: ids }],
    classicLoadBalancers: [
      { name: RESOURCES.classicElb, instanceIds: ids, drainingTimeoutSec: 30, backend: BACKENDS.classicElb },
    ],
    targetGroups: [
      {
        name: RESOURCES.targetGroup,
        instanceIds: ids,
        port: 8080,
        deregistrationDelaySec: 30,
        backend: BACKENDS.targetGroup,
        targetType: options.targetType ?? 'instance',
      },
    ],
    alarms: SANDBOX_ALARMS.map((name) => ({ name, actionsEnabled: true })),
    buckets: [SANDBOX_STATE_BUCKET],
    ecr: { registry: fleet.privateRegistry.server, password: fleet.privateRegistry.ecrPassword },
    haproxy: fleet.lb.runtimeApi,
  };
}

/** The emulator as tests see it: its control endpoints, over HTTP, wherever it runs. */
export class EmulatorControl {
  constructor(readonly url: string) {}

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}/_emulator/${path}`, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    if (!res.ok) throw new Error(`emulator ${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * The calls received, in order; `write` marks the ones that change the fleet (Baton's own lock and
   * history in S3 do not).
   */
  async calls(): Promise<(EmulatorCall & { write: boolean })[]> {
    const calls = await this.request<EmulatorCall[]>('GET', 'calls');
    return calls.map((c) => ({ ...c, write: c.service !== 's3' && !/^(Describe|Get)/.test(c.action) }));
  }
  clearCalls = () => this.request<void>('DELETE', 'calls');
  injectFault = (fault: EmulatorFault) => this.request<void>('POST', 'faults', fault);
  clearFaults = () => this.request<void>('DELETE', 'faults');
  state = () => this.request<EmulatorState>('GET', 'state');

  /** Each instance's state in the sandbox's classic ELB and target group. */
  async instanceStates() {
    const s = await this.state();
    return { classic: s.classic[RESOURCES.classicElb] ?? {}, targetGroup: s.targetGroups[RESOURCES.targetGroup] ?? {} };
  }
  /** Processes suspended in the sandbox's Auto Scaling group. */
  async suspendedProcesses(): Promise<string[]> {
    return (await this.state()).suspendedProcesses[RESOURCES.autoScalingGroup] ?? [];
  }
  /** True when every sandbox alarm has its actions enabled. */
  async alarmsEnabled(): Promise<boolean> {
    const s = await this.state();
    return SANDBOX_ALARMS.every((a) => s.alarmsEnabled[a] === true);
  }
}

export interface Sandbox {
  readonly fleet: Fleet;
  readonly emulator: EmulatorControl;
  /** A baton.yaml for this sandbox, deployment `sandbox`. */
  readonly configFile: string;
  haproxyServers(): ReturnType<typeof serverStats>;
  stop(): Promise<void>;
}

/** How long one start of a sandbox's fleet may take before it is given up and tried again. */
const ATTEMPT_DEADLINE_MS = 360_000;

/** A fleet and an in-process emulator, removed by `stop()` or, if this process dies, by the next start. */
export async function startSandbox(
  options: Omit<FleetOptions, 'ephemeral'> & SandboxAwsOptions = {},
): Promise<Sandbox> {
  const { nameTags, targetType, ...fleetOptions } = options;
  const attempt = () => inTurn(() => startFleetOnce(fleetOptions), fleetOptions.log);
  const fleet = await attempt().catch(async (error: unknown) => {
    // The fleet is test equipment, not Baton: a start that failed or hung (a docker command stuck on a
    // loaded machine) is said loudly and tried once more, from nothing.
    process.stderr.write(`sandbox: the fleet did not start, starting it once more: ${String(error)}\n`);
    return attempt().catch((again: unknown) => {
      throw new Error(`the sandbox's fleet did not start, twice. First: ${String(error)}. Then: ${String(again)}`);
    });
  });
  try {
    const emulator = await startEmulator(
      emulatorSpecFor(fleet, { ...(nameTags && { nameTags }), ...(targetType && { targetType }) }),
      { host: '127.0.0.1', port: 0 },
    );
    const configFile = join(fleet.dir, 'baton.yaml');
    writeFileSync(configFile, sandboxConfig(fleet, emulator.url));
    return {
      fleet,
      emulator: new EmulatorControl(emulator.url),
      configFile,
      haproxyServers: () => serverStats(fleet.lb.runtimeApi),
      stop: async () => {
        await emulator.close();
        await inTurn(() => stopFleet(fleet.id));
      },
    };
  } catch (error) {
    await stopFleet(fleet.id);
    throw error;
  }
}

/**
 * One start of the fleet, given up at ATTEMPT_DEADLINE_MS with what it had done by then. A start given
 * up goes on in the background until its own docker deadlines end it; whatever it made is removed then.
 */
function startFleetOnce(options: Omit<FleetOptions, 'ephemeral' | 'phases'>): Promise<Fleet> {
  const phases: string[] = [];
  const attempt = startFleet({ ...options, ephemeral: true, phases });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      attempt.then((late) => stopFleet(late.id)).catch(() => {});
      reject(
        new Error(
          `the fleet was not up within ${ATTEMPT_DEADLINE_MS / 1000} s (${phases.join('; ')}; machine: ${machineSnapshot()})`,
        ),
      );
    }, ATTEMPT_DEADLINE_MS);
  });
  return Promise.race([attempt, deadline]).finally(() => clearTimeout(timer));
}
