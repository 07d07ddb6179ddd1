/**
 * The executor's fault paths, with fakes for the fleet and the AWS adapters (pure logic: no SSH, no
 * SDK). Each test reads the order of changes from one log, and the journal from an in-memory one: a
 * change is journaled before it is made, closed once undone, and what cannot be undone stays open.
 */
import { describe, expect, it } from 'vitest';
import { fakeAws } from '../../test/fakes/aws.ts';
import { simulatedClock } from '../../test/fakes/clock.ts';
import type { Membership } from '../aws/load-balancers.ts';
import { parseConfig } from '../config/index.ts';
import { LeaseLostError, RemoteCommandError } from '../errors.ts';
import type { Host } from '../inventory/host.ts';
import {
  deregister,
  healthCheck,
  playbook,
  prePull,
  register,
  replaceContainer,
  silenceAlarms,
  suspendAutoscaling,
} from '../playbook/index.ts';
import { argvOf, describeCommand, type Command } from '../remote/command.ts';
import type { FleetConnection, RemoteHost } from '../remote/host.ts';
import { EventBus, type DeployEvent } from '../events/events.ts';
import { InterruptController } from './interrupt.ts';
import { memoryLog, type ChangeLog } from './journal-log.ts';
import { deploy, type DeployOptions } from './run.ts';

const config = parseConfig(
  `region: us-east-1
stack: web
release: api
health: { http: { port: 8080 }, timeout: 2s, interval: 50ms }
alarms: [api-5xx]
timeouts: { undo: 10s }
deployments: { test: {} }
`,
  'test',
  { deployment: 'test' },
);

interface Container {
  id: string;
  image: string;
  imageId: string;
  running: boolean;
}

/** What each tag names in the registry, as the hosts pull it: `push` moves a tag to a new image. */
const registry = {
  ids: new Map<string, string>(),
  idOf(tag: string): string {
    return this.ids.get(tag) ?? `sha256:${tag}`;
  },
  push(tag: string, id: string): void {
    this.ids.set(tag, id);
  },
};

/** A host's docker, as the commands Baton sends it see it. Images containing "bad" never get healthy. */
class FakeHost implements RemoteHost {
  readonly containers = new Map<string, Container>();
  private ids = 0;
  failOn: RegExp | undefined;
  constructor(
    readonly name: string,
    private readonly log: string[],
    image: string,
  ) {
    this.containers.set('live', { id: `${name}-c0`, image, imageId: registry.idOf(image), running: true });
  }
  async exec(command: Command) {
    const text = describeCommand(command);
    const argv = argvOf(command) ?? [];
    if (this.failOn?.test(text)) throw new RemoteCommandError(this.name, text, 1, 'injected failure');
    const ok = (stdout = '') => ({ stdout, stderr: '', exitCode: 0 });
    /** A container by name or id, as docker takes either: its name. */
    const nameOf = (ref: string) =>
      (this.containers.has(ref) ? ref : [...this.containers].find(([, c]) => c.id === ref)?.[0]) ?? ref;
    if (argv[1] === 'inspect') {
      const name = nameOf(argv.at(-1)!);
      const c = this.containers.get(name);
      if (!c) throw new RemoteCommandError(this.name, text, 1, `Error: No such object: ${argv.at(-1)}`);
      return ok(
        JSON.stringify({
          Id: c.id,
          Name: `/${name}`,
          Image: c.imageId,
          Config: { Image: c.image, Labels: {} },
          State: { Running: c.running },
        }),
      );
    }
    if (argv[1] === 'update') return ok();
    if (argv[1] === 'image' && argv[2] === 'inspect')
      return ok(
        `${registry.idOf(argv.at(-1)!)} other/app@sha256:elsewhere ${argv.at(-1)!.replace(/:[^:/]*$/, '')}@${registry.idOf(argv.at(-1)!)}\n`,
      );
    if (argv[1] === 'pull' || argv[1] === 'logs' || text.startsWith('wait until no command changes')) return ok();
    this.log.push(`${this.name}: ${text}`);
    if (/^docker stop --time \d+ live && docker rename live live-previous/.test(text)) {
      this.containers.set('live-previous', { ...this.containers.get('live')!, running: false });
      this.containers.delete('live');
    } else if (/^docker stop live && docker start live-previous as live/.test(text)) {
      const [live, kept] = [this.containers.get('live')!, this.containers.get('live-previous')!];
      this.containers.set('live', { ...kept, running: true });
      this.containers.set('live-previous', { ...live, running: false });
    } else if (/^docker run /.test(text)) {
      const image = /-- (\S+)$/.exec(text)![1]!;
      this.containers.set('live', {
        id: `${this.name}-c${++this.ids}`,
        image,
        imageId: registry.idOf(image),
        running: true,
      });
    } else if (argv[1] === 'rm') this.containers.delete(nameOf(argv.at(-1)!));
    else if (argv[1] === 'rename') {
      const from = nameOf(argv[2]!);
      this.containers.set(argv[3]!, this.containers.get(from)!);
      this.containers.delete(from);
    } else if (argv[1] === 'start') this.containers.get(nameOf(argv[2]!))!.running = true;
    return ok();
  }
  async httpGet() {
    const live = this.containers.get('live');
    return { status: live?.running && !live.image.includes('bad') ? 200 : 500, body: '' };
  }
}

function fakeWorld(names: string[]) {
  const log: string[] = [];
  const hosts: Host[] = names.map((name, i) => ({
    name,
    address: `10.0.0.${i + 1}`,
    instanceId: `i-${name}`,
    tags: {},
    groups: [],
  }));
  const remotes = new Map(names.map((n) => [n, new FakeHost(n, log, 'app:v1')]));
  const tg: Membership = { kind: 'target-group', name: 'api', arn: 'arn:tg/api', port: 8080, drainTimeoutMs: 0 };
  const { services, registered, failing, alarming } = fakeAws({
    log,
    membership: tg,
    registered: hosts.map((h) => h.instanceId!),
  });
  const fleet: FleetConnection = {
    host: (n) => remotes.get(n)!,
    close: async () => undefined,
    [Symbol.asyncDispose]: async () => undefined,
  };
  return { log, hosts, remotes, registered, failing, alarming, fleet, services };
}

const thePlaybook = playbook({
  name: 'deploy',
  preTasks: [suspendAutoscaling(), silenceAlarms(), prePull()],
  tasks: [deregister(), replaceContainer(), healthCheck(), register()],
});

async function run(
  world: ReturnType<typeof fakeWorld>,
  image: string,
  more: Partial<DeployOptions> & { journal?: ChangeLog; onFailure?: 'rollback' | 'stop' } = {},
) {
  const events = new EventBus();
  const journal = more.journal ?? memoryLog();
  const result = await deploy({
    playbook: thePlaybook,
    config: { ...config, rollout: { ...config.rollout, onFailure: more.onFailure ?? 'rollback' } },
    image,
    deployment: 'test',
    deployer: 'tester',
    check: false,
    inventory: { hosts: async () => world.hosts, fromFile: true },
    events,
    interrupt: new InterruptController(),
    aws: {} as DeployOptions['aws'],
    services: world.services,
    connect: async () => world.fleet,
    lock: async () => ({ where: 'memory', journal }),
    clock: simulatedClock(),
    ...more,
  });
  return { result, events: events.history as DeployEvent[], journal };
}

const images = (w: ReturnType<typeof fakeWorld>) => [...w.remotes.values()].map((r) => r.containers.get('live')?.image);
const open = (journal: ChangeLog) => (journal as ReturnType<typeof memoryLog>).entries.filter((e) => !e.closedAt);

describe('the executor', () => {
  it('journals each change before making it, and closes every entry on success', async () => {
    const w = fakeWorld(['a', 'b']);
    const recorded: string[] = [];
    const mem = memoryLog();
    const journal: ChangeLog = {
      record: async (change, what, fix) => (
        recorded.push(`${what} [log at ${w.log.length}]`),
        mem.record(change, what, fix)
      ),
      close: (e) => mem.close(e),
      fence: () => mem.fence(),
    };
    const { result } = await run(w, 'app:v2', { journal });
    expect(result.exitCode).toBe(0);
    expect(images(w)).toEqual(['app:v2', 'app:v2']);
    // Each entry was durable while the log had not yet seen its change.
    expect(recorded[0]).toBe('Auto Scaling group asg: Launch, Terminate suspended [log at 0]');
    expect(recorded[1]).toBe('alarm actions disabled: api-5xx [log at 1]');
    expect(recorded[2]).toBe('a (i-a) out of target group api [log at 2]');
    expect(w.log[2]).toBe('deregister i-a');
    expect(recorded[3]).toMatch(
      /^a \(i-a\): live \(app:v1\) set aside as live-previous, app:v2 starting in its place \[log at 3\]$/,
    );
    expect(open(mem)).toEqual([]);
    expect(mem.entries.map((e) => e.fix)[2]).toBe(
      'aws elbv2 register-targets --region us-east-1 --target-group-arn arn:tg/api --targets Id=i-a,Port=8080',
    );
  });

  it("takes the hosts from an inventory file first, then from the playbook's own hosts, else the deployment's tags", async () => {
    const w = fakeWorld(['a', 'b']);
    const own = playbook({ ...thePlaybook, hosts: async () => [w.hosts[1]!] });
    const tagged = { hosts: async () => w.hosts, fromFile: false };
    const deployed = async (p: typeof own, inventory: typeof tagged) => {
      const { events } = await run(w, 'app:v2', { playbook: p, inventory, check: true });
      return events.flatMap((e) => (e.type === 'run-started' ? e.hosts : []));
    };
    expect(await deployed(own, tagged)).toEqual(['b']);
    expect(await deployed(own, { ...tagged, fromFile: true })).toEqual(['a', 'b']);
    expect(await deployed(thePlaybook, tagged)).toEqual(['a', 'b']);
  });

  it('never makes a change whose journal entry could not be written', async () => {
    const w = fakeWorld(['a']);
    const mem = memoryLog();
    const journal: ChangeLog = {
      record: async (change, what, fix) => {
        if (change.kind === 'deregistered') throw new Error('S3 is down');
        return mem.record(change, what, fix);
      },
      close: (e) => mem.close(e),
      fence: () => mem.fence(),
    };
    const { result } = await run(w, 'app:v2', { journal });
    expect(result.exitCode).toBe(1);
    expect(w.log).not.toContain('deregister i-a');
    expect(w.log).toEqual([
      'suspend asg Launch Terminate',
      'disable api-5xx',
      'enable api-5xx',
      'resume asg Launch Terminate',
    ]);
    expect(open(mem)).toEqual([]);
  });

  it('with onFailure rollback, puts the hosts a later batch failure left switched back, so the fleet serves one version', async () => {
    const w = fakeWorld(['a', 'b', 'c']);
    w.remotes.get('c')!.failOn = /^docker run /;
    const { result, events, journal } = await run(w, 'app:v2');
    expect(result.outcome).toBe('rolled-back');
    expect(result.exitCode).toBe(1);
    expect(images(w)).toEqual(['app:v1', 'app:v1', 'app:v1']);
    expect(result.hosts.map((h) => `${h.host} ${h.result}`)).toEqual([
      'a rolled-back',
      'b rolled-back',
      'c rolled-back',
    ]);
    expect([...w.registered].sort()).toEqual(['i-a', 'i-b', 'i-c']);
    // Rolled back newest first: b before a, each through the load balancer again.
    const swaps = w.log.filter((l) => l.includes('docker stop live && docker start live-previous'));
    expect(swaps.map((l) => l[0])).toEqual(['b', 'a']);
    expect(
      events.some(
        (e) =>
          e.type === 'warning' &&
          e.message.startsWith('batch 3 failed: putting b, a back on the image they ran before'),
      ),
    ).toBe(true);
    expect(open(journal)).toEqual([]);
    expect(w.log.at(-1)).toBe('resume asg Launch Terminate');
  });

  it('with onFailure stop, leaves the fleet mixed, says so with the exact commands, and exits 6', async () => {
    const w = fakeWorld(['a', 'b', 'c']);
    w.remotes.get('c')!.failOn = /^docker run /;
    const { result, events } = await run(w, 'app:v2', { onFailure: 'stop' });
    expect(result.outcome).toBe('mixed');
    expect(result.exitCode).toBe(6);
    expect(images(w)).toEqual(['app:v2', 'app:v2', 'app:v1']);
    const warning = events.find((e) => e.type === 'warning' && e.message.startsWith('THE FLEET IS MIXED')) as {
      message: string;
    };
    expect(warning.message).toContain('baton rollback --deployment test --limit a,b');
    expect(warning.message).toContain('baton deploy --deployment test --image app:v2 --limit c');
  });

  it('leaves a host out of service, with its entries open, when its previous container cannot be restored', async () => {
    const w = fakeWorld(['a']);
    w.remotes.get('a')!.failOn = /^docker rename a-c0 live$/;
    const { result, journal } = await run(w, 'app:bad');
    expect(result.exitCode).toBe(3);
    expect(result.hosts[0]!.result).toBe('failed');
    // Not registered again with a broken container: out of service is safe, half-restored is not.
    expect(w.registered.has('i-a')).toBe(false);
    expect(open(journal).map((e) => e.change.kind)).toEqual(['deregistered', 'container-replaced']);
    // The guards around the fleet are still undone.
    expect(w.log.slice(-2)).toEqual(['enable api-5xx', 'resume asg Launch Terminate']);
  });

  it('puts a host whose deregistration never completes back in service, and changes nothing on it', async () => {
    const w = fakeWorld(['a', 'b']);
    w.failing.stuckDraining.add('i-a');
    const { result, journal } = await run(w, 'app:v2', {
      config: { ...config, timeouts: { ...config.timeouts, drain: 300, drainMargin: 0 } },
    });
    expect(result.exitCode).toBe(1);
    expect(result.hosts[0]).toMatchObject({
      host: 'a',
      result: 'rolled-back',
      error: expect.stringMatching(
        /^timed out after .* waiting for a to drain from target group api \(last seen: draining\)/,
      ),
    });
    expect(images(w)).toEqual(['app:v1', 'app:v1']);
    expect([...w.registered].sort()).toEqual(['i-a', 'i-b']);
    expect(w.log.filter((l) => l.startsWith('a: '))).toEqual([]);
    expect(open(journal)).toEqual([]);
  });

  it('reports an undo that fails with the command that fixes it, and keeps it open in the journal', async () => {
    const w = fakeWorld(['a']);
    w.failing.resume = true;
    const { result, events, journal } = await run(w, 'app:v2');
    expect(result.exitCode).toBe(3);
    expect(events.find((e) => e.type === 'undo-failed')).toMatchObject({
      what: 'Auto Scaling group asg: Launch, Terminate suspended',
      fix: 'aws autoscaling resume-processes --region us-east-1 --auto-scaling-group-name asg --scaling-processes Launch Terminate',
    });
    expect(open(journal).map((e) => e.change.kind)).toEqual(['autoscaling-suspended']);
  });

  it('on a second interrupt, aborts the host in flight, puts it back, and undoes the guards', async () => {
    const w = fakeWorld(['a', 'b']);
    const interrupt = new InterruptController();
    const events = new EventBus();
    events.subscribe((e) => {
      if (
        e.type === 'step' &&
        e.scope === 'host' &&
        e.host === 'a' &&
        e.step === 'health check' &&
        e.status === 'started'
      ) {
        interrupt.request();
        interrupt.request();
      }
    });
    const journal = memoryLog();
    const result = await deploy({
      playbook: thePlaybook,
      config,
      image: 'app:bad',
      deployment: 'test',
      deployer: 'tester',
      check: false,
      inventory: { hosts: async () => w.hosts, fromFile: true },
      events,
      interrupt,
      aws: {} as DeployOptions['aws'],
      services: w.services,
      connect: async () => w.fleet,
      lock: async () => ({ where: 'memory', journal }),
      clock: simulatedClock(),
    });
    expect(result.exitCode).toBe(130);
    expect(images(w)).toEqual(['app:v1', 'app:v1']);
    expect([...w.registered].sort()).toEqual(['i-a', 'i-b']);
    expect(open(journal)).toEqual([]);
    expect(w.log.slice(-2)).toEqual(['enable api-5xx', 'resume asg Launch Terminate']);
  });

  it('deploys a tag pushed again (another image under the same tag), and leaves a host alone only when it runs that very image', async () => {
    const w = fakeWorld(['a', 'b']);
    registry.push('app:v1', 'sha256:v1-rebuilt');
    // Host b already runs the rebuilt image: unchanged; host a runs the old build of the same tag.
    const b = w.remotes.get('b')!;
    b.containers.set('live', { ...b.containers.get('live')!, imageId: 'sha256:v1-rebuilt' });
    try {
      const { result, events } = await run(w, 'app:v1');
      expect(result.exitCode).toBe(0);
      const finished = events.filter((e) => e.type === 'host-finished') as Extract<
        DeployEvent,
        { type: 'host-finished' }
      >[];
      expect(finished.map((e) => [e.host, e.result, e.oldImageId, e.imageId, e.digest])).toEqual([
        ['a', 'deployed', 'sha256:app:v1', 'sha256:v1-rebuilt', 'sha256:v1-rebuilt'],
        ['b', 'unchanged', 'sha256:v1-rebuilt', 'sha256:v1-rebuilt', 'sha256:v1-rebuilt'],
      ]);
      expect(w.remotes.get('a')!.containers.get('live')!.imageId).toBe('sha256:v1-rebuilt');
    } finally {
      registry.ids.clear();
    }
  });

  it('starts no batch once it cannot prove its lease (a run paused past it during the pre-pull): no host is touched', async () => {
    const w = fakeWorld(['a', 'b']);
    const mem = memoryLog();
    let fenced = false;
    const journal: ChangeLog = {
      record: (change, what, fix) => mem.record(change, what, fix),
      close: (e) => mem.close(e),
      fence: async () => {
        if (fenced) throw new LeaseLostError('this run lost the deploy lock (it is now held by bob)');
      },
    };
    const events = new EventBus();
    events.subscribe((e) => {
      if (e.type === 'step' && e.scope === 'run' && e.step === 'pre-pull' && e.status === 'ok') fenced = true;
    });
    const { result } = await run(w, 'app:v2', { journal, events });
    expect(result.exitCode).toBe(3);
    expect(events.history.filter((e) => e.type === 'batch' || e.type === 'host-finished')).toEqual([]);
    expect(w.log.filter((l) => /^(a|b): |register|deregister/.test(l))).toEqual([]);
    expect(images(w)).toEqual(['app:v1', 'app:v1']);
  });

  it('stops changing the fleet at once when it cannot prove its lease: no new change, no compensation, no guard undo', async () => {
    const w = fakeWorld(['a', 'b']);
    const mem = memoryLog();
    let fenced = false;
    const journal: ChangeLog = {
      record: (change, what, fix) =>
        fenced
          ? Promise.reject(new LeaseLostError('this run lost the deploy lock (it is now held by bob)'))
          : mem.record(change, what, fix),
      close: (e) => mem.close(e),
      fence: async () => {
        if (fenced) throw new LeaseLostError('this run lost the deploy lock (it is now held by bob)');
      },
    };
    const events = new EventBus();
    events.subscribe((e) => {
      if (
        e.type === 'step' &&
        e.scope === 'host' &&
        e.host === 'a' &&
        e.step === 'health check' &&
        e.status === 'started'
      )
        fenced = true;
    });
    const { result } = await run(w, 'app:bad', { journal, events });
    expect(result.exitCode).toBe(3);
    expect(result.outcome).toBe('failed');
    // Host a was changed up to its health check, then left exactly as it was: no restore, no register.
    expect(w.log.filter((l) => l.startsWith('a: ') || /register i-a|resume|enable/.test(l))).toEqual([
      'deregister i-a',
      expect.stringMatching(/^a: docker stop/),
      expect.stringMatching(/^a: docker run /),
    ]);
    expect(w.log).not.toContain('deregister i-b');
    const said = events.history.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
    expect(said).toContain(
      'this run lost the deploy lock (it is now held by bob). Not undone, left to that run: alarm actions disabled: api-5xx; Auto Scaling group asg: Launch, Terminate suspended',
    );
    expect(open(mem).map((e) => e.change.kind)).toEqual([
      'autoscaling-suspended',
      'alarms-disabled',
      'deregistered',
      'container-replaced',
    ]);
  });

  it('a post-task that fails after every host deployed is its own outcome (exit 7): nothing rolled back, the guards undone', async () => {
    const w = fakeWorld(['a', 'b']);
    const failingPost = playbook({
      ...thePlaybook,
      postTasks: [
        { name: 'notify the release channel', run: async () => Promise.reject(new Error('the channel is gone')) },
      ],
    });
    const { result, events } = await run(w, 'app:v2', { playbook: failingPost });
    expect(result).toMatchObject({ outcome: 'post-task-failed', exitCode: 7 });
    expect(images(w)).toEqual(['app:v2', 'app:v2']);
    expect(result.hosts.map((h) => h.result)).toEqual(['deployed', 'deployed']);
    expect(
      events.some(
        (e) =>
          e.type === 'warning' &&
          e.message ===
            'every host runs app:v2 and is in service, but the post-task "notify the release channel" failed: the channel is gone',
      ),
    ).toBe(true);
    expect(w.log.slice(-2)).toEqual(['enable api-5xx', 'resume asg Launch Terminate']);
  });

  it('counts capacity before each batch: a host left out counts, and a batch that would go below minInService never starts', async () => {
    const w = fakeWorld(['a', 'b', 'c', 'd']);
    w.failing.register.add('i-a');
    const rollout = { ...config.rollout, serial: 2, maxFailPercentage: 50, minInService: 2 };
    const { result, events } = await run(w, 'app:v2', {
      config: { ...config, rollout, timeouts: { ...config.timeouts, inService: 1_000 } },
    });
    // a could not be put back (it stays out); b deployed; 1 of 2 failed is within 50%, but c and d
    // leaving would leave b alone in service behind the target group.
    expect(result.hosts.map((h) => [h.host, h.result])).toEqual([
      ['a', 'failed'],
      ['b', 'deployed'],
      ['c', 'not-started'],
      ['d', 'not-started'],
    ]);
    expect(w.log).not.toContain('deregister i-c');
    expect(w.log).not.toContain('deregister i-d');
    expect(result.exitCode).toBe(3);
    const said = events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
    expect(said).toContain(
      'stopped before batch 2/2: target group api has 3 members in service; taking c, d out would leave 1, fewer than rollout.minInService (2), and none came back within 1.0s (timeouts.inService); c, d keep the image they run',
    );
  });

  it('counts a host as rolled back only once its kept container passes its health check; else it stays out, open in the journal', async () => {
    const w = fakeWorld(['a']);
    // The kept container is itself unhealthy (its image contains "bad"), and so is the new one.
    const a = w.remotes.get('a')!;
    a.containers.set('live', { ...a.containers.get('live')!, image: 'app:bad-old' });
    const { result, journal } = await run(w, 'app:bad-new');
    expect(result.hosts[0]).toMatchObject({ result: 'failed' });
    expect(result.exitCode).toBe(3);
    expect(w.registered.has('i-a')).toBe(false);
    expect(open(journal).map((e) => e.change.kind)).toEqual(['deregistered', 'container-replaced']);
    expect(w.log.slice(-2)).toEqual(['enable api-5xx', 'resume asg Launch Terminate']);
  });

  it('counts capacity before each batch of a rollback too: it never takes the load balancer below minInService to roll back', async () => {
    const w = fakeWorld(['a', 'b', 'c']);
    // c cannot be put back after its swap fails: it stays out, and the batch fails.
    w.remotes.get('c')!.failOn = /^docker run /;
    w.failing.register.add('i-c');
    const rollout = { ...config.rollout, serial: 1, minInService: 2, onFailure: 'rollback' as const };
    const { result, events } = await run(w, 'app:v2', {
      config: { ...config, rollout, timeouts: { ...config.timeouts, inService: 1_000 } },
    });
    expect(result.exitCode).toBe(3);
    // a and b stay on v2: rolling b back would leave a alone in service.
    expect(images(w).slice(0, 2)).toEqual(['app:v2', 'app:v2']);
    const said = events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
    expect(
      said.some((m) =>
        m.startsWith(
          'stopped rolling back: target group api has 2 members in service; taking b out would leave 1, fewer than rollout.minInService (2)',
        ),
      ),
      said.join('\n'),
    ).toBe(true);
  });
});

describe('the release gate', () => {
  const withCanary = (bake: number, onFailure: 'rollback' | 'stop' = 'rollback') => ({
    ...config,
    rollout: { ...config.rollout, onFailure, canary: { bake }, gate: { alarms: ['api-5xx'], interval: 10_000 } },
  });

  it('watches the canary for its bake: an alarm in ALARM half way puts it back, and no other host takes the image', async () => {
    const w = fakeWorld(['a', 'b', 'c']);
    const clock = simulatedClock();
    const events = new EventBus();
    events.subscribe((e) => {
      if (e.type === 'step' && e.step === 'canary: watch a for 1m0s' && e.status === 'started')
        void clock.sleep(25_000).then(() => w.alarming.set('api-5xx', 'Threshold Crossed: 5xx > 1%'));
    });
    const { result } = await run(w, 'app:v2', { config: withCanary(60_000), clock, events });
    expect(result.outcome).toBe('rolled-back');
    expect(result.exitCode).toBe(1);
    expect(images(w)).toEqual(['app:v1', 'app:v1', 'app:v1']);
    expect(result.hosts.map((h) => `${h.host} ${h.result}`)).toEqual([
      'a rolled-back',
      'b not-started',
      'c not-started',
    ]);
    const history = events.history as DeployEvent[];
    const watched = history.find(
      (e) => e.type === 'step' && e.step === 'canary: watch a for 1m0s' && e.status === 'failed',
    );
    expect(watched).toMatchObject({ detail: 'alarm api-5xx is in ALARM (Threshold Crossed: 5xx > 1%)' });
    expect(history).toContainEqual(
      expect.objectContaining({
        type: 'gate-tripped',
        batch: 1,
        of: 3,
        hosts: ['a'],
        reason: 'alarm api-5xx is in ALARM (Threshold Crossed: 5xx > 1%)',
        subject: 'api-5xx',
      }),
    );
    // Tripped at the first look after the alarm (every 10 s), well before the bake's end.
    expect(clock.elapsed()).toBeGreaterThanOrEqual(30_000);
    expect(clock.elapsed()).toBeLessThan(60_000);
    expect(w.log).toContain('enable api-5xx');
  });

  it('goes on after a quiet bake, and looks at every later batch: a host unhealthy behind its load balancer fails it', async () => {
    const w = fakeWorld(['a', 'b', 'c']);
    const clock = simulatedClock();
    const events = new EventBus();
    events.subscribe((e) => {
      if (e.type === 'batch' && e.index === 2 && e.status === 'finished') w.failing.unhealthy.add('i-b');
      // Back on the version it ran before, b is healthy again.
      if (e.type === 'gate-tripped') w.failing.unhealthy.delete('i-b');
    });
    const { result } = await run(w, 'app:v2', { config: withCanary(60_000), clock, events });
    const steps = (events.history as DeployEvent[]).flatMap((e) =>
      e.type === 'step' && e.scope === 'run' && e.status !== 'started' && /^(canary|gate)/.test(e.step)
        ? [`${e.step}: ${e.status}${e.status === 'failed' ? ` (${e.detail})` : ''}`]
        : [],
    );
    expect(steps).toEqual([
      'canary: watch a for 1m0s: ok',
      'gate: batch 2: failed (b is unhealthy in target group api (Target.ResponseCodeMismatch))',
    ]);
    expect(clock.elapsed()).toBeGreaterThanOrEqual(60_000);
    expect(result.outcome).toBe('rolled-back');
    expect(images(w)).toEqual(['app:v1', 'app:v1', 'app:v1']);
  });

  it('with onFailure stop, leaves the hosts it judged and says the fleet is mixed', async () => {
    const w = fakeWorld(['a', 'b']);
    w.alarming.set('api-5xx', 'Threshold Crossed');
    const { result } = await run(w, 'app:v2', { config: withCanary(5_000, 'stop'), clock: simulatedClock() });
    expect(result.outcome).toBe('mixed');
    expect(images(w)).toEqual(['app:v2', 'app:v1']);
  });
});
