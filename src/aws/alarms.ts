/**
 * CloudWatch alarms: silence their actions during a rollout (a host out of service should not page
 * anyone), and re-enable exactly those Baton silenced.
 */
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { ConfigError } from '../errors.ts';
import { renderShell, sh } from '../remote/shell.ts';
import { cloudWatchSdk } from './sdk.ts';

/** An alarm in ALARM: its name, since when (ISO time) and CloudWatch's reason. */
export interface AlarmInAlarm {
  readonly name: string;
  readonly since?: string;
  readonly reason: string;
}

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

  /**
   * Those of the alarms in ALARM now, with since when and why. CloudWatch goes on evaluating an alarm
   * whose actions are disabled, so the alarms Baton silences can still judge a release.
   */
  async inAlarm(names: readonly string[], signal?: AbortSignal): Promise<AlarmInAlarm[]> {
    const alarming: AlarmInAlarm[] = [];
    for (let i = 0; i < names.length; i += 100) {
      let NextToken: string | undefined;
      do {
        const out = await this.client.send(
          new cloudWatchSdk.DescribeAlarmsCommand({
            AlarmNames: names.slice(i, i + 100),
            StateValue: 'ALARM',
            NextToken,
          }),
          { abortSignal: signal },
        );
        for (const alarm of [...(out.MetricAlarms ?? []), ...(out.CompositeAlarms ?? [])])
          alarming.push({
            name: alarm.AlarmName!,
            ...(alarm.StateUpdatedTimestamp && { since: alarm.StateUpdatedTimestamp.toISOString() }),
            reason: alarm.StateReason ?? '',
          });
        NextToken = out.NextToken;
      } while (NextToken);
    }
    return alarming;
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
