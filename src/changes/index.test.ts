import { describe, expect, it } from 'vitest';
import { fakeAws } from '../../test/fakes/aws.ts';
import { parseConfig } from '../config/index.ts';
import { alarmsDisabled } from './alarms-disabled.ts';
import { autoscalingSuspended } from './autoscaling-suspended.ts';
import type { UndoContext } from './change.ts';
import { deregistered } from './deregistered.ts';
import {
  CHANGE_KINDS,
  changeHost,
  describeChange,
  fixCommand,
  undoChange,
  undoStep,
  wouldUndo,
  type Change,
  type ChangeKinds,
} from './index.ts';

const host = { name: 'web-1', address: '10.0.0.1', instanceId: 'i-1' };
const one: { [K in Change['kind']]: Extract<Change, { kind: K }> } = {
  'autoscaling-suspended': { kind: 'autoscaling-suspended', group: 'web-asg', processes: ['Launch', 'Terminate'] },
  'alarms-disabled': { kind: 'alarms-disabled', alarms: ['web-5xx'] },
  deregistered: {
    kind: 'deregistered',
    host,
    membership: {
      kind: 'target-group',
      arn: 'arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/api/1',
      name: 'api',
      drainTimeoutMs: 300_000,
    },
  },
  'container-replaced': {
    kind: 'container-replaced',
    host,
    container: 'live',
    keptAs: 'live-previous',
    keptId: 'old',
    from: 'app:v1',
    to: 'app:v2',
  },
};

describe('the change kinds', () => {
  it('every kind the journal may hold has its words, its fix command and its undo step', () => {
    expect([...CHANGE_KINDS].sort()).toEqual(Object.keys(one).sort());
    expect(Object.values(one).map((c) => [describeChange(c), undoStep(c), changeHost(c)?.name])).toEqual([
      ['Auto Scaling group web-asg: Launch, Terminate suspended', 'resume autoscaling', undefined],
      ['alarm actions disabled: web-5xx', 'enable alarm actions', undefined],
      ['web-1 (i-1) out of target group api', 'register again', 'web-1'],
      [
        'web-1 (i-1): live (app:v1) set aside as live-previous, app:v2 starting in its place',
        'make the container healthy',
        'web-1',
      ],
    ]);
    expect(fixCommand(one['autoscaling-suspended'], 'eu-west-1')).toBe(
      'aws autoscaling resume-processes --region eu-west-1 --auto-scaling-group-name web-asg --scaling-processes Launch Terminate',
    );
    expect(fixCommand(one['alarms-disabled'], 'eu-west-1')).toBe(
      'aws cloudwatch enable-alarm-actions --region eu-west-1 --alarm-names web-5xx',
    );
    expect(wouldUndo(one.deregistered, 'web-1 (i-1) out of target group api')).toBe(
      'register web-1 (i-1) again and wait until in service (web-1 (i-1) out of target group api)',
    );
  });

  it("undoes a guard with its kind's own undo, the one recover runs", async () => {
    const calls: string[] = [];
    const { services } = fakeAws({ log: calls, membership: one.deregistered.membership });
    const ctx: UndoContext = {
      config: parseConfig(
        'region: eu-west-1\nstack: web\nrelease: api\nssh: { user: deploy }\nhealth: { http: { port: 8080 } }\ndeployments: { x: {} }\n',
        '/etc/baton/baton.yaml',
        { deployment: 'x' },
      ),
      aws: services,
      reach: async () => {
        throw new Error('a guard reaches no host');
      },
      signal: new AbortController().signal,
    };
    await undoChange(one['alarms-disabled'], ctx);
    await undoChange(one['autoscaling-suspended'], ctx);
    expect(calls).toEqual(['enable web-5xx', 'resume web-asg Launch Terminate']);
  });

  it('a kind without a module, or a module without its undo, does not compile (checked by tsc in the test run)', () => {
    // @ts-expect-error: 'container-replaced' has no module
    const missing: ChangeKinds = {
      'autoscaling-suspended': autoscalingSuspended,
      'alarms-disabled': alarmsDisabled,
      deregistered,
    };
    const { undo: _, ...rest } = alarmsDisabled;
    // @ts-expect-error: no undo
    const noUndo: ChangeKinds['alarms-disabled'] = rest;
    expect([missing, noUndo]).toHaveLength(2);
  });
});
