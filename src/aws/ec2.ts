/** EC2 inventory: the running instances tagged with a stack, release and deployment. */
import type { EC2Client, Filter } from '@aws-sdk/client-ec2';
import { InventoryError } from '../errors.ts';
import { printable } from '../printable.ts';
import type { Host } from '../inventory/host.ts';
import { ec2Sdk } from './sdk.ts';

export interface TagQuery {
  readonly stack: string;
  readonly release: string;
  readonly deployment: string;
}

/**
 * Which of these instances are gone for good (terminated, shutting down, or unknown to EC2): what a
 * journal holds for them can never be undone, and must not block the next run forever.
 */
export async function goneInstances(ec2: EC2Client, ids: readonly string[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const alive = new Set<string>();
  // By filter, not InstanceIds: an unknown id then is simply absent instead of failing the whole call.
  for await (const page of ec2Sdk.paginateDescribeInstances(
    { client: ec2, pageSize: 200 },
    { Filters: [{ Name: 'instance-id', Values: [...ids] }] },
  )) {
    for (const r of page.Reservations ?? []) {
      for (const i of r.Instances ?? [])
        if (i.InstanceId && !['terminated', 'shutting-down'].includes(i.State?.Name ?? '')) alive.add(i.InstanceId);
    }
  }
  return new Set(ids.filter((id) => !alive.has(id)));
}

/** The running instances carrying all three tags, in a stable order (by Name tag, then id). */
export async function findInstancesByTags(ec2: EC2Client, query: TagQuery): Promise<Host[]> {
  const filters: Filter[] = [
    { Name: 'tag:stack', Values: [query.stack] },
    { Name: 'tag:release', Values: [query.release] },
    { Name: 'tag:deployment', Values: [query.deployment] },
    { Name: 'instance-state-name', Values: ['running'] },
  ];
  const hosts: Host[] = [];
  for await (const page of ec2Sdk.paginateDescribeInstances({ client: ec2, pageSize: 200 }, { Filters: filters })) {
    for (const reservation of page.Reservations ?? []) {
      for (const instance of reservation.Instances ?? []) {
        if (!instance.InstanceId || !instance.PrivateIpAddress) continue;
        const tags = Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
        hosts.push({
          // A tag holds any text: a name with control characters is shown escaped, on one line.
          name: tags.Name ? printable(tags.Name, { oneLine: true }) : instance.InstanceId,
          address: instance.PrivateIpAddress,
          instanceId: instance.InstanceId,
          privateIp: instance.PrivateIpAddress,
          tags,
          groups: groupsFromTags(tags),
        });
      }
    }
  }
  // Auto Scaling groups give every instance the same Name: such a name is made unique with the instance
  // id, since connections, load balancer calls and the journal all act on one host by its name.
  const count = new Map<string, number>();
  for (const h of hosts) count.set(h.name, (count.get(h.name) ?? 0) + 1);
  for (const [i, h] of hosts.entries()) {
    const shared = count.get(h.name)! > 1;
    hosts[i] = {
      ...h,
      ...(shared && { name: `${h.name} (${h.instanceId})` }),
      aliases: shared ? [h.name, h.instanceId!] : h.name === h.instanceId ? [] : [h.instanceId!],
    };
  }
  if (hosts.length === 0) {
    const described = filters.map((f) => `${f.Name}=${f.Values?.join(',')}`).join(' ');
    throw new InventoryError(`no EC2 instance matches ${described}: check the stack, release and deployment names`);
  }
  return hosts.sort(
    (a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }) || a.instanceId!.localeCompare(b.instanceId!),
  );
}

/** Ansible's `group_by` on tags: `tag_<key>_<value>`, with characters Ansible would not allow made `_`. */
export function groupsFromTags(tags: Record<string, string>): string[] {
  return Object.entries(tags).map(([k, v]) => `tag_${k}_${v}`.replace(/[^A-Za-z0-9_]/g, '_'));
}
