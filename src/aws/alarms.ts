/**
 * CloudWatch alarms: silence their actions during a rollout (a host out of service should not page
 * anyone), and re-enable exactly those Baton silenced.
 */
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { ConfigError } from '../errors.ts';
import { renderShell, sh } from '../remote/shell.ts';
import { cloudWatchSdk } from './sdk.ts';

export class Alarms {
  constructor(private readonly client: CloudWatchClient) {}

  /** Checks the alarms exist; returns those whose actions are enabled now (the ones to silence). */
  async enabledOf(names: readonly string[]): Promise<string[]> {
    if (!names.length) return [];
    const enabled: string[] = [];
    const found = new Set<string>();
    for (let i = 0; i < names.length; i += 100) {
      const out = await this.client.send(
        new cloudWatchSdk.DescribeAlarmsCommand({ AlarmNames: names.slice(i, i + 100) }),
      );
      for (const alarm of [...(out.MetricAlarms ?? []), ...(out.CompositeAlarms ?? [])]) {
        found.add(alarm.AlarmName!);
        if (alarm.ActionsEnabled) enabled.push(alarm.AlarmName!);
      }
    }
    const missing = names.filter((n) => !found.has(n));
    if (missing.length)
      throw new ConfigError('alarms', `no CloudWatch alarm named ${missing.map((n) => `"${n}"`).join(', ')}`);
    return enabled;
  }

  async disable(names: readonly string[]): Promise<void> {
    for (let i = 0; i < names.length; i += 100)
      await this.client.send(new cloudWatchSdk.DisableAlarmActionsCommand({ AlarmNames: names.slice(i, i + 100) }));
  }

  async enable(names: readonly string[]): Promise<void> {
    for (let i = 0; i < names.length; i += 100)
      await this.client.send(new cloudWatchSdk.EnableAlarmActionsCommand({ AlarmNames: names.slice(i, i + 100) }));
  }
}

export function enableAlarmsCommand(names: readonly string[], region: string): string {
  return renderShell(sh`aws cloudwatch enable-alarm-actions --region ${region} --alarm-names ${names}`);
}
