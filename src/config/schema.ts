/**
 * Every setting of baton.yaml, once: its key, type, default, check and description. The loader reads
 * each setting through its entry here (config/build.ts) and the reference page
 * (docs/configuration.md) is generated from the same entries, so the two cannot disagree. Rules that
 * join several settings (health.http or health.command, registry logins) are in the loader, and said in
 * the descriptions of the settings they join.
 */
import { regionProblem } from '../aws/region.ts';
import { CONTAINER, HEALTH, SSH } from './schema/hosts.ts';
import { AUTOSCALING, AWS, DEFAULT_SHARED, ROLLOUT, TIMEOUTS } from './schema/rollout.ts';
import { section } from './schema/setting.ts';
import { REGISTRY, STATE, VAULT } from './schema/state.ts';
import { safeName } from './names.ts';

export * from './schema/hosts.ts';
export * from './schema/rollout.ts';
export * from './schema/setting.ts';
export * from './schema/state.ts';

/** baton.yaml's top level; `deployments` holds an overlay of any of these per deployment. */
export const CONFIG = section('The top level of baton.yaml.', {
  region: {
    kind: 'string',
    check: regionProblem,
    description: 'The AWS region of the hosts.',
  },
  stack: { kind: 'string', check: safeName, description: 'The `stack` tag of the hosts.' },
  release: { kind: 'string', check: safeName, description: 'The `release` tag of the hosts.' },
  aws: AWS,
  ssh: SSH,
  container: CONTAINER,
  health: HEALTH,
  autoscaling: AUTOSCALING,
  alarms: {
    kind: 'strings',
    fallback: [],
    description: 'CloudWatch alarms whose actions are disabled while the rollout runs, and enabled again after.',
  },
  sharedDeployments: {
    kind: 'strings',
    fallback: DEFAULT_SHARED,
    description: 'Deployments a personal (remote-run) build never deploys into without --force-shared.',
  },
  personalDeployments: {
    kind: 'strings',
    fallback: [],
    defaultText: '(any)',
    description: 'Globs naming the only deployments personal builds may go to.',
  },
  rollout: ROLLOUT,
  timeouts: TIMEOUTS,
  state: STATE,
  vault: VAULT,
  registry: REGISTRY,
});
