/**
 * The built-in rolling deploy, compiled with Baton: what `baton deploy` runs without --playbook. It is
 * the playbook `playbooks/deploy.ts` declares (the copy users start their own from; a test holds the
 * two to the same tasks), built here so a plain deploy needs no TypeScript compiler at run time.
 */
import { playbook } from './index.ts';
import { silenceAlarms, suspendAutoscaling } from './tasks/guards.ts';
import { healthCheck } from './tasks/health.ts';
import { deregister, register } from './tasks/load-balancer.ts';
import { replaceContainer } from './tasks/container.ts';
import { prePull } from './tasks/pull.ts';
import { pruneImages } from './tasks/prune.ts';

export const deployPlaybook = playbook({
  name: 'deploy',
  preTasks: [suspendAutoscaling(), silenceAlarms(), prePull()],
  tasks: [deregister(), replaceContainer(), healthCheck(), register()],
  postTasks: [pruneImages()],
});
