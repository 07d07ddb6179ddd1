/**
 * Auto Scaling: hold the groups still during a rollout. Baton records which processes it suspended
 * itself and resumes only those: processes an operator had suspended stay suspended.
 */
import {
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
  ResumeProcessesCommand,
  SuspendProcessesCommand,
  type AutoScalingClient,
} from '@aws-sdk/client-auto-scaling';

/** What a suspension changed: the processes Baton suspended, per group (already-suspended ones excluded). */
export type Suspension = ReadonlyMap<string, readonly string[]>;

export class AutoScaling {
  constructor(private readonly client: AutoScalingClient) {}

  /** The Auto Scaling groups the instances belong to (instances outside any group are ignored). */
  async groupsOf(instanceIds: readonly string[]): Promise<string[]> {
    const groups = new Set<string>();
    for (let i = 0; i < instanceIds.length; i += 50) {
      const out = await this.client.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: instanceIds.slice(i, i + 50) }));
      for (const instance of out.AutoScalingInstances ?? []) if (instance.AutoScalingGroupName) groups.add(instance.AutoScalingGroupName);
    }
    return [...groups].sort();
  }

  /**
   * Suspends `processes` on each group, recording in `suspension` only what was not suspended before.
   * Each entry is recorded before its call, so an undo registered beforehand resumes exactly that.
   */
  async suspend(groups: readonly string[], processes: readonly string[], suspension: Map<string, readonly string[]>): Promise<void> {
    if (!groups.length) return;
    const out = await this.client.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [...groups] }));
    for (const group of out.AutoScalingGroups ?? []) {
      const already = new Set((group.SuspendedProcesses ?? []).map((p) => p.ProcessName));
      const mine = processes.filter((p) => !already.has(p));
      if (!mine.length) continue;
      suspension.set(group.AutoScalingGroupName!, mine);
      await this.client.send(new SuspendProcessesCommand({ AutoScalingGroupName: group.AutoScalingGroupName, ScalingProcesses: mine }));
    }
  }

  async resume(suspension: Suspension): Promise<void> {
    for (const [group, processes] of suspension) {
      await this.client.send(new ResumeProcessesCommand({ AutoScalingGroupName: group, ScalingProcesses: [...processes] }));
    }
  }
}

/** The command an operator runs to resume what a failed undo left suspended. */
export function resumeCommand(group: string, processes: readonly string[], region: string): string {
  return `aws autoscaling resume-processes --region ${region} --auto-scaling-group-name ${group} --scaling-processes ${processes.join(' ')}`;
}
