/** The settings of the rollout itself: AWS, Auto Scaling, batches, deadlines. */
import { section, URL_CHECK } from './setting.ts';

/** Deployments a personal (remote-run) build never deploys into unless forced, by default. */
export const DEFAULT_SHARED: readonly string[] = ['integration', 'production'];

/** Auto Scaling's processes; the default suspends those that launch, terminate or re-register instances. */
export const SCALING_PROCESSES = [
  'Launch',
  'Terminate',
  'AddToLoadBalancer',
  'AlarmNotification',
  'AZRebalance',
  'HealthCheck',
  'InstanceRefresh',
  'ReplaceUnhealthy',
  'ScheduledActions',
] as const;

const DEFAULT_PROCESSES = [
  'Launch',
  'Terminate',
  'AddToLoadBalancer',
  'AZRebalance',
  'HealthCheck',
  'ReplaceUnhealthy',
];

export const AWS = section(
  'How Baton reaches AWS. Credentials come from the SDK’s usual chain (environment, profile, instance role).',
  {
    endpoint: {
      kind: 'string',
      optional: true,
      check: URL_CHECK,
      description: 'Another endpoint for every AWS service (an emulator, a proxy).',
    },
    profile: { kind: 'string', optional: true, description: 'The named profile of ~/.aws/config to use.' },
    maxAttempts: {
      kind: 'integer',
      optional: true,
      min: 1,
      max: 20,
      description: 'Attempts per AWS call, throttling and 5xx retried; the SDK’s default when absent.',
    },
  },
);

export const AUTOSCALING = section('The Auto Scaling groups of the hosts, held still while the rollout runs.', {
  processes: {
    kind: 'strings',
    fallback: DEFAULT_PROCESSES,
    check: (v) =>
      (SCALING_PROCESSES as readonly string[]).includes(v)
        ? undefined
        : `is not an Auto Scaling process (${SCALING_PROCESSES.join(', ')})`,
    description: 'The processes suspended before the first host leaves service and resumed at the end.',
  },
});

export const ROLLOUT_CANARY = section(
  'The first batch as a canary: it takes the new image, then the gate watches it before any other host does.',
  {
    bake: {
      kind: 'duration',
      fallback: 0,
      min: 0,
      max: 86_400_000,
      defaultText: '0 (no canary)',
      description:
        'How long the gate watches the first batch before the next one starts; `--canary 5m` sets it for one run.',
    },
  },
);

export const ROLLOUT_GATE = section(
  'What judges the new version while it rolls, during the canary’s bake and after every later batch (with a canary): a gate alarm in ALARM, or a host of the batch not in service behind one of its load balancers, fails the batch.',
  {
    alarms: {
      kind: 'strings',
      fallback: [],
      defaultText: '(the `alarms` setting)',
      description:
        'CloudWatch alarms whose state is watched. CloudWatch still evaluates an alarm whose actions Baton disabled, so the alarms Baton silences still judge.',
    },
    interval: {
      kind: 'duration',
      fallback: 10_000,
      min: 1_000,
      max: 600_000,
      description: 'How often the gate looks during the bake.',
    },
  },
);

export const ROLLOUT = section('How the rollout goes through the hosts.', {
  canary: ROLLOUT_CANARY,
  gate: ROLLOUT_GATE,
  serial: {
    kind: 'custom',
    type: 'count, percentage or list of them',
    fallbackText: '1',
    description:
      'Hosts per batch, as Ansible’s serial: `2`, `"25%"`, or a ramp such as `[1, "25%", "100%"]`. `--serial` overrides it.',
  },
  maxFailPercentage: {
    kind: 'integer',
    fallback: 0,
    min: 0,
    max: 100,
    description: 'Failed hosts a batch may have, in percent, before the rollout stops.',
  },
  minInService: {
    kind: 'integer',
    fallback: 0,
    min: 0,
    max: 10_000,
    description: 'Hosts that stay in service behind each load balancer: a batch that would go below waits, then stops.',
  },
  onFailure: {
    kind: 'oneOf',
    values: ['rollback', 'stop'],
    fallback: 'rollback',
    description:
      'After a failed batch: put the switched hosts back (`rollback`), or leave the fleet mixed and say how to fix it (`stop`).',
  },
  retryFile: {
    kind: 'string',
    optional: true,
    defaultText: '<playbook>.retry',
    description: 'Where a run that leaves hosts off the target image lists them, for `--limit @file`.',
  },
  allowNoLoadBalancer: {
    kind: 'boolean',
    fallback: false,
    description: 'Deploy hosts that are in no load balancer (else refused, as --no-load-balancer does for one run).',
  },
});

export const TIMEOUTS = section('Deadlines of the steps that wait on something outside Baton.', {
  pull: { kind: 'duration', fallback: 600_000, description: 'The image pull on every host.' },
  drain: { kind: 'duration', fallback: 300_000, description: 'A host’s deregistration and connection draining.' },
  drainMargin: {
    kind: 'duration',
    fallback: 60_000,
    min: 0,
    description: 'Added to the load balancer’s own draining timeout.',
  },
  inService: {
    kind: 'duration',
    fallback: 300_000,
    description: 'A host back in service (InService, healthy) behind every load balancer.',
  },
  undo: {
    kind: 'duration',
    fallback: 300_000,
    min: 10_000,
    description: 'Putting back what the run changed (guards, hosts) when it fails or is interrupted.',
  },
  awsRequest: { kind: 'duration', fallback: 30_000, min: 1_000, description: 'One AWS request.' },
  awsConnect: { kind: 'duration', fallback: 5_000, min: 500, description: 'Connecting to an AWS endpoint.' },
});
