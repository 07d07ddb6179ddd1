/**
 * The playbook API users write their own playbooks with:
 *
 *   import { playbook, suspendAutoscaling, silenceAlarms, prePull, deregister, replaceContainer,
 *            healthCheck, register } from 'baton';
 *   export default playbook({ name: 'deploy', preTasks: [...], tasks: [...] });
 */
import { ConfigError } from '../errors.ts';
import type { Playbook, PlaybookDefinition } from './types.ts';

export type {
  Compensation,
  Guard,
  HostContext,
  HostTask,
  Playbook,
  PlaybookDefinition,
  RunContext,
  RunTask,
  Target,
} from './types.ts';
export type { Change } from '../changes/index.ts';
export { silenceAlarms, suspendAutoscaling } from './tasks/guards.ts';
export { prePull } from './tasks/pull.ts';
export { deregister, register } from './tasks/load-balancer.ts';
export { replaceContainer } from './tasks/container.ts';
export { healthCheck } from './tasks/health.ts';
export { inspectLive } from '../remote/container.ts';
export { waitHealthy } from '../remote/health.ts';
export { requireRollbackCandidates, swapToPrevious } from './tasks/rollback.ts';
export { pruneImages } from './tasks/prune.ts';

/** Declares a playbook, checking its shape once (a playbook is user code: say clearly what is wrong). */
export function playbook(definition: PlaybookDefinition): Playbook {
  const where = `playbook ${JSON.stringify(definition?.name ?? '(unnamed)')}`;
  if (!definition || typeof definition.name !== 'string' || !definition.name)
    throw new ConfigError('name', 'a playbook needs a name', where);
  for (const list of ['preTasks', 'tasks', 'postTasks'] as const) {
    const tasks = definition[list] ?? [];
    if (!Array.isArray(tasks)) throw new ConfigError(list, 'must be a list of tasks', where);
    tasks.forEach((task, i) => {
      if (!task || typeof task.name !== 'string' || typeof task.run !== 'function') {
        throw new ConfigError(`${list}[${i}]`, 'is not a task (an object with a name and a run function)', where);
      }
    });
  }
  return Object.freeze({ ...definition, preTasks: definition.preTasks ?? [], postTasks: definition.postTasks ?? [] });
}
