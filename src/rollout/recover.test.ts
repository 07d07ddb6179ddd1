/**
 * `recover`'s fault paths, with fakes for the AWS adapters and the hosts (pure logic: no SSH, no SDK),
 * as run.test.ts has them for deploy. The journal is an in-memory one: what is undone is closed, what
 * is not stays open, and the order of undoing comes from one log.
 */
import { describe, expect, it } from 'vitest';
import { fakeAws } from '../../test/fakes/aws.ts';
import { simulatedClock } from '../../test/fakes/clock.ts';
import type { Membership } from '../aws/load-balancers.ts';
import { describeChange, fixCommand, type Change } from '../changes/index.ts';
import { parseConfig } from '../config/index.ts';
import { ExitCode, LeaseLostError } from '../errors.ts';
import { EventBus, type DeployEvent } from '../events/events.ts';
import type { FleetConnection, RemoteHost } from '../remote/host.ts';
import { memoryLog, type ChangeLog } from './journal-log.ts';
import { recover, type RecoverOptions } from './recover.ts';

const config = parseConfig(
  `region: us-east-1
stack: web
release: api
health: { http: { port: 8080 }, timeout: 1s, interval: 50ms }
timeouts: { inService: 2s }
deployments: { test: {} }
`,
  'test',
  { deployment: 'test' },
);

const tg: Membership = { kind: 'target-group', name: 'api', arn: 'arn:tg/api', port: 8080, drainTimeoutMs: 0 };
const host = (name: string) => ({ name, address: `10.0.0.${name.charCodeAt(0)}`, instanceId: `i-${name}` });

/** The world recover acts on: a load balancer, an Auto Scaling group and alarms, and what each call did. */
function fakeWorld() {
  const log: string[] = [];
  const { services, failing } = fakeAws({ log, membership: tg });
  return { log, refuse: failing.register, services };
}

/** A host whose docker answers nothing: its container can be neither inspected nor restored. */
const brokenHost = (name: string): RemoteHost => ({
  name,
  exec: async () => {
    throw new Error('Cannot connect to the Docker daemon');
  },
  httpGet: async () => ({ status: 500, body: '' }),
});

async function journalOf(changes: Change[]) {
  const journal = memoryLog();
  for (const c of changes) await journal.record(c, describeChange(c), fixCommand(c, 'us-east-1'));
  return journal;
}

async function run(
  world: ReturnType<typeof fakeWorld>,
  journal: ChangeLog & { entries: { closedAt?: string }[] },
  more: Partial<RecoverOptions> = {},
) {
  const events = new EventBus();
  const fleet: FleetConnection = {
    host: (name) => brokenHost(name),
    close: async () => undefined,
    [Symbol.asyncDispose]: async () => undefined,
  };
  const result = await recover({
    config,
    entries: (journal as ReturnType<typeof memoryLog>).entries.filter((e) => !e.closedAt),
    journal,
    services: world.services,
    connect: async () => fleet,
    events,
    signal: new AbortController().signal,
    clock: simulatedClock(),
    ...more,
  });
  return { result, events: events.history as DeployEvent[] };
}

const guards: Change[] = [
  { kind: 'autoscaling-suspended', group: 'asg', processes: ['Launch', 'Terminate'] },
  { kind: 'alarms-disabled', alarms: ['api-5xx'] },
];
const out = (name: string): Change => ({ kind: 'deregistered', host: host(name), membership: tg });
const open = (journal: ReturnType<typeof memoryLog>) => journal.entries.filter((e) => !e.closedAt).map((e) => e.what);
const warnings = (events: DeployEvent[]) =>
  events.flatMap((e) =>
    e.type === 'warning' ? [e.message] : e.type === 'undo-failed' ? [`undo-failed: ${e.what}`] : [],
  );

describe('recover', () => {
  it('undoes the open entries newest first, closing each: hosts before the guards around the fleet', async () => {
    const w = fakeWorld();
    const journal = await journalOf([...guards, out('a'), out('b')]);
    const { result } = await run(w, journal);
    expect(w.log).toEqual(['register i-b', 'register i-a', 'enable api-5xx', 'resume asg Launch Terminate']);
    expect(result).toMatchObject({ outcome: 'recovered', exitCode: ExitCode.Ok, left: [] });
    expect(open(journal)).toEqual([]);
  });

  it('closes the entries of a terminated instance with a note, undoing nothing on it', async () => {
    const w = fakeWorld();
    const journal = await journalOf([...guards, out('a'), out('b')]);
    const { result, events } = await run(w, journal, { gone: async () => new Set(['i-a']) });
    expect(w.log).toEqual(['register i-b', 'enable api-5xx', 'resume asg Launch Terminate']);
    expect(result.exitCode).toBe(ExitCode.Ok);
    expect(journal.entries.find((e) => e.what.startsWith('a '))?.closedBecause).toBe(
      'instance i-a is terminated: nothing left to undo',
    );
    expect(warnings(events)).toContain(
      'closed without undo: a (i-a) out of target group api (instance i-a is terminated: nothing left to undo)',
    );
  });

  it('undoes everything as usual when EC2 cannot say which instances are terminated', async () => {
    const w = fakeWorld();
    const journal = await journalOf([...guards, out('a')]);
    const { result, events } = await run(w, journal, {
      gone: async () => {
        throw new Error('UnauthorizedOperation');
      },
    });
    expect(w.log).toEqual(['register i-a', 'enable api-5xx', 'resume asg Launch Terminate']);
    expect(result.exitCode).toBe(ExitCode.Ok);
    expect(warnings(events)[0]).toMatch(/could not ask EC2 which instances are terminated \(UnauthorizedOperation\)/);
  });

  it('leaves an undo that fails open, with its fix command, and goes on with the rest', async () => {
    const w = fakeWorld();
    w.refuse.add('i-b');
    const journal = await journalOf([...guards, out('a'), out('b')]);
    const { result, events } = await run(w, journal);
    expect(w.log).toEqual(['register i-a', 'enable api-5xx', 'resume asg Launch Terminate']);
    expect(result).toMatchObject({ outcome: 'failed', exitCode: ExitCode.NeedsOperator });
    expect(open(journal)).toEqual(['b (i-b) out of target group api']);
    const failed = events.find((e) => e.type === 'undo-failed');
    expect(failed).toMatchObject({
      what: 'b (i-b) out of target group api',
      fix: 'aws elbv2 register-targets --region us-east-1 --target-group-arn arn:tg/api --targets Id=i-b,Port=8080',
    });
  });

  it('undoes nothing more once it cannot prove its lease: everything left stays open for the run that holds it', async () => {
    const w = fakeWorld();
    const journal = await journalOf([...guards, out('a'), out('b')]);
    let fences = 0;
    const fenced: ChangeLog & { entries: typeof journal.entries } = {
      entries: journal.entries,
      record: journal.record,
      close: journal.close,
      fence: async () => {
        if (++fences > 1) throw new LeaseLostError('the deploy lock was taken over by run x');
      },
    };
    const { result, events } = await run(w, fenced);
    expect(w.log).toEqual(['register i-b']);
    expect(result.exitCode).toBe(ExitCode.NeedsOperator);
    expect(open(journal)).toEqual([
      'Auto Scaling group asg: Launch, Terminate suspended',
      'alarm actions disabled: api-5xx',
      'a (i-a) out of target group api',
    ]);
    expect(warnings(events).at(-1)).toMatch(/^the deploy lock was taken over by run x\. Not undone: a \(i-a\)/);
  });

  it('keeps a host whose container cannot be made healthy out of service, and still lifts the guards', async () => {
    const w = fakeWorld();
    const replaced: Change = {
      kind: 'container-replaced',
      host: host('a'),
      container: 'live',
      from: 'app:v1',
      to: 'app:v2',
      keptAs: 'live-previous',
    };
    const journal = await journalOf([...guards, out('a'), replaced, out('b')]);
    const { result, events } = await run(w, journal);
    expect(w.log).toEqual(['register i-b', 'enable api-5xx', 'resume asg Launch Terminate']);
    expect(result.exitCode).toBe(ExitCode.NeedsOperator);
    expect(open(journal)).toEqual([journal.entries[2]!.what, journal.entries[3]!.what]);
    expect(warnings(events)).toContain('a (i-a) stays out of service: its container is not healthy');
  });
});
