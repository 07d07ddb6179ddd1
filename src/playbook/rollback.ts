/** The built-in rollback: `baton rollback` runs it. Same guards and load balancer steps as a deploy. */
import { playbook } from './index.ts';
import { silenceAlarms, suspendAutoscaling } from './tasks/guards.ts';
import { healthCheck } from './tasks/health.ts';
import { deregister, register } from './tasks/load-balancer.ts';
import { requireRollbackCandidates, swapToPrevious } from './tasks/rollback.ts';

export const rollbackPlaybook = playbook({
  name: 'rollback',
  preTasks: [requireRollbackCandidates(), suspendAutoscaling(), silenceAlarms()],
  tasks: [deregister(), swapToPrevious(), healthCheck(), register()],
});
