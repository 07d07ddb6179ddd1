/** What an aws_ec2 inventory is made of, shared by its reading (options.ts, values.ts) and its hosts (hosts.ts). */
import type { Filter, Instance } from '@aws-sdk/client-ec2';

export type Hostname = string | { readonly name: string; readonly prefix?: string; readonly separator: string };

export interface KeyedGroup {
  readonly key: string;
  readonly path: readonly PathSegment[];
  readonly prefix: string;
  readonly separator: string;
  readonly defaultValue?: string;
  readonly trailingSeparator?: boolean;
  readonly parentGroup?: string;
}

export type PathSegment = string | number;

export interface AwsEc2Config {
  readonly regions: readonly string[];
  /** One DescribeInstances query each: `filters`, then each of `include_filters`. */
  readonly include: readonly Filter[][];
  readonly exclude: readonly Filter[][];
  readonly hostnames: readonly Hostname[];
  readonly address?: { readonly expression: string; readonly path: readonly PathSegment[] };
  readonly ssh: { readonly user?: string; readonly port?: number };
  readonly groups: readonly string[];
  readonly keyedGroups: readonly KeyedGroup[];
  readonly strict: boolean;
  readonly leadingSeparator: boolean;
  readonly hostvarsPrefix: string;
  readonly hostvarsSuffix: string;
  readonly sanitize: (name: string) => string;
  readonly contribTagKeys: boolean;
}

export const PATH_EXAMPLES =
  'a dotted path into the host variables (private_ip_address, ec2_tags.stack, placement.availability_zone)';
export const DEFAULT_HOSTNAMES = ['dns-name', 'private-dns-name'];

/** Hostname preferences Baton reads from an instance, by their DescribeInstances filter names. */
export const ATTRIBUTES: Record<string, (i: Instance) => string | undefined> = {
  'dns-name': (i) => i.PublicDnsName,
  'private-dns-name': (i) => i.PrivateDnsName,
  'ip-address': (i) => i.PublicIpAddress,
  'private-ip-address': (i) => i.PrivateIpAddress,
  'instance-id': (i) => i.InstanceId,
  'instance-type': (i) => i.InstanceType,
  'availability-zone': (i) => i.Placement?.AvailabilityZone,
  'image-id': (i) => i.ImageId,
  'key-name': (i) => i.KeyName,
  'subnet-id': (i) => i.SubnetId,
  'vpc-id': (i) => i.VpcId,
};

/** Ansible's group name rule (`force_valid_group_names`): non-word characters, and a leading digit, become `_`. */
export function sanitizeGroupName(name: string): string {
  return name.replace(/[^\p{L}\p{N}_]/gu, '_').replace(/^\p{N}/u, '_');
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next.push(Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    row = next;
  }
  return row[b.length]!;
}
