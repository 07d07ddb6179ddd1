/**
 * Auto Scaling: hold the groups still during a rollout. Baton records which processes it suspended
 * itself and resumes only those: processes an operator had suspended stay suspended.
 */
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { renderShell, sh } from '../remote/shell.ts';
import { autoScalingSdk } from './sdk.ts';

export class AutoScaling {
  constructor(private readonly client: AutoScalingClient) {}

  /** The Auto Scaling groups the instances belong to (instances outside any group are ignored). */
  async groupsOf(instanceIds: readonly string[]): Promise<string[]> {
    const groups = new Set<string>();
    for (let i = 0; i < instanceIds.length; i += 50) {
      const out = await this.client.send(
        new autoScalingSdk.DescribeAutoScalingInstancesCommand({ InstanceIds: instanceIds.slice(i, i + 50) }),
      );
      for (const instance of out.AutoScalingInstances ?? [])
        if (instance.AutoScalingGroupName) groups.add(instance.AutoScalingGroupName);
    }
    return [...groups].sort();
  }

  /** Per group, which of `processes` are not suspended yet: the ones Baton will suspend (and resume). */
  async notSuspended(groups: readonly string[], processes: readonly string[]): Promise<Map<string, string[]>> {
    const result = new Map<string, string[]>();
    if (!groups.length) return result;
    const out = await this.client.send(
      new autoScalingSdk.DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [...groups] }),
    );
    for (const group of out.AutoScalingGroups ?? []) {
      const already = new Set((group.SuspendedProcesses ?? []).map((p) => p.ProcessName));
      const mine = processes.filter((p) => !already.has(p));
      if (mine.length) result.set(group.AutoScalingGroupName!, mine);
    }
    return result;
  }

  async suspendProcesses(group: string, processes: readonly string[]): Promise<void> {
    await this.client.send(
      new autoScalingSdk.SuspendProcessesCommand({ AutoScalingGroupName: group, ScalingProcesses: [...processes] }),
    );
  }

  async resumeProcesses(group: string, processes: readonly string[]): Promise<void> {
    await this.client.send(
      new autoScalingSdk.ResumeProcessesCommand({ AutoScalingGroupName: group, ScalingProcesses: [...processes] }),
    );
  }
}

/** The command an operator runs to resume what a failed undo left suspended. */
export function resumeCommand(group: string, processes: readonly string[], region: string): string {
  return renderShell(
    sh`aws autoscaling resume-processes --region ${region} --auto-scaling-group-name ${group} --scaling-processes ${processes}`,
  );
}
