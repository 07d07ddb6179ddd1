import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deployPlaybook } from './deploy.ts';
import { loadPlaybook } from './load.ts';
import type { Playbook } from './types.ts';

const names = (p: Playbook) => ({
  name: p.name,
  preTasks: p.preTasks.map((t) => t.name),
  tasks: p.tasks.map((t) => t.name),
  postTasks: (p.postTasks ?? []).map((t) => t.name),
});

describe('loadPlaybook', () => {
  it('without a path, gives the built-in deploy itself: no module is compiled for it', async () => {
    expect(await loadPlaybook()).toBe(deployPlaybook);
  });

  it('the built-in deploy is the playbook playbooks/deploy.ts declares, task for task', async () => {
    const copy = await loadPlaybook(join(import.meta.dirname, '..', '..', 'playbooks', 'deploy.ts'));
    expect(names(copy)).toEqual(names(deployPlaybook));
    expect(names(deployPlaybook).tasks).toEqual(['deregister', 'replace container', 'health check', 'register']);
  });
});
