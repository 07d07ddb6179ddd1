/** An aws_ec2 inventory file's options, read and checked as the plugin reads them (see ../aws-ec2.ts). */
import { isAwsRegion } from '../../aws/region.ts';
import { InventoryError } from '../../errors.ts';
import type { Filter } from '@aws-sdk/client-ec2';
import { editDistance, isRecord, sanitizeGroupName, type AwsEc2Config } from './types.ts';
import { parseCompose, parseGroups, parseHostnames, parseKeyedGroups, toFilters } from './values.ts';

/** The options Baton reads. */
const READ = [
  'plugin',
  'regions',
  'filters',
  'include_filters',
  'exclude_filters',
  'hostnames',
  'allow_duplicated_hosts',
  'compose',
  'groups',
  'keyed_groups',
  'strict',
  'leading_separator',
  'hostvars_prefix',
  'hostvars_suffix',
  'use_contrib_script_compatible_sanitization',
  'use_contrib_script_compatible_ec2_tag_keys',
];
/**
 * Accepted and ignored: none changes which instances are selected or how they are named. Baton fails on any AWS
 * error (`strict_permissions: false` would skip 403s), always reads EC2 live (cache), reads no extra vars in compose,
 * takes the regions from `regions`, and Route 53 names only matter with `route53_enabled`.
 */
const IGNORED = [
  'strict_permissions',
  'cache',
  'cache_plugin',
  'cache_timeout',
  'cache_connection',
  'cache_prefix',
  'use_extra_vars',
  'region',
  'aws_region',
  'route53_hostnames',
  'route53_excluded_zones',
];
/** Features Baton does not implement: accepted only when off. */
const ONLY_OFF = ['use_ssm_inventory', 'route53_enabled'];
const ACCOUNT = [
  'profile',
  'aws_profile',
  'boto_profile',
  'assume_role_arn',
  'iam_role_arn',
  'access_key',
  'aws_access_key_id',
  'aws_access_key',
  'secret_key',
  'aws_secret_access_key',
  'aws_secret_key',
  'session_token',
  'aws_session_token',
  'endpoint_url',
  'aws_endpoint_url',
];

export function parseConfig(doc: unknown, file: string): AwsEc2Config {
  const fail = (problem: string): never => {
    throw new InventoryError(`${file}: ${problem}`);
  };
  if (!isRecord(doc)) return fail('an aws_ec2 inventory is a YAML mapping that starts with plugin: amazon.aws.aws_ec2');
  if (doc.plugin === undefined) fail('plugin: missing; an aws_ec2 inventory starts with plugin: amazon.aws.aws_ec2');
  if (doc.plugin !== 'amazon.aws.aws_ec2' && doc.plugin !== 'aws_ec2') {
    fail(
      `plugin: ${JSON.stringify(doc.plugin)} is not amazon.aws.aws_ec2 (the only inventory plugin Baton reads from a *aws_ec2.yml file)`,
    );
  }
  const unknown = Object.keys(doc).filter((k) => ![...READ, ...IGNORED, ...ONLY_OFF, ...ACCOUNT].includes(k));
  if (unknown.length) {
    const hint = (k: string) => [...READ, ...IGNORED].find((known) => editDistance(k, known) <= 2);
    fail(
      `unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => (hint(k) ? `${k} (did you mean ${hint(k)}?)` : k)).join(', ')}: the aws_ec2 plugin has no such option`,
    );
  }
  const account = Object.keys(doc).filter((k) => ACCOUNT.includes(k));
  if (account.length) {
    fail(
      `${account.join(', ')}: Baton does not take AWS credentials, profiles, roles or endpoints from the inventory; remove them and configure Baton's AWS access (AWS_PROFILE, the instance role) for the account to deploy to`,
    );
  }
  if (doc.allow_duplicated_hosts === true)
    fail('allow_duplicated_hosts: true is not supported: Baton addresses each instance by a name of its own');
  for (const k of ONLY_OFF)
    if (doc[k] !== undefined && doc[k] !== false)
      fail(`${k}: ${JSON.stringify(doc[k])} is not supported by Baton (only false)`);
  const flag = (k: string, fallback: boolean): boolean => {
    const v = doc[k] ?? fallback;
    return typeof v === 'boolean' ? v : fail(`${k}: ${JSON.stringify(v)} must be true or false`);
  };
  const text = (k: string): string => {
    const v = doc[k] ?? '';
    return typeof v === 'string' ? v : fail(`${k}: ${JSON.stringify(v)} must be a string`);
  };

  const regions = doc.regions ?? [];
  if (!Array.isArray(regions) || !regions.every((r) => typeof r === 'string' && isAwsRegion(r))) {
    fail(`regions: ${JSON.stringify(regions)} must be a list of AWS regions (regions: [us-east-1])`);
  }
  if (!(regions as string[]).length)
    fail(
      "regions: Baton needs an explicit list of regions (regions: [us-east-1]); it does not list the account's regions as Ansible does when regions is empty",
    );

  const filterList = (k: string): Filter[][] => {
    const v = doc[k] ?? [];
    if (!Array.isArray(v)) return fail(`${k}: must be a list of filter mappings (${k}: [{tag:stack: web}])`);
    return v.map((f, i) => toFilters(f, `${k}[${i}]`, fail));
  };
  const filters = toFilters(doc.filters ?? {}, 'filters', fail);
  const include = [...(filters.length ? [filters] : []), ...filterList('include_filters')];
  // Baton deploys only to running instances (Ansible's default also takes pending, stopping and stopped ones).
  const withState = (q: Filter[]) =>
    q.some((f) => f.Name === 'instance-state-name') ? q : [...q, { Name: 'instance-state-name', Values: ['running'] }];

  const compose = parseCompose(doc.compose, fail);
  return {
    regions: [...new Set(regions as string[])],
    include: (include.length ? include : [[]]).map(withState),
    exclude: filterList('exclude_filters'),
    hostnames: parseHostnames(doc.hostnames, fail),
    ...compose,
    groups: parseGroups(doc.groups, fail),
    keyedGroups: parseKeyedGroups(doc.keyed_groups, fail),
    strict: flag('strict', false),
    leadingSeparator: flag('leading_separator', true),
    hostvarsPrefix: text('hostvars_prefix'),
    hostvarsSuffix: text('hostvars_suffix'),
    sanitize: flag('use_contrib_script_compatible_sanitization', false)
      ? (n) => n.replace(/[^A-Za-z0-9_-]/g, '_')
      : sanitizeGroupName,
    contribTagKeys: flag('use_contrib_script_compatible_ec2_tag_keys', false),
  };
}
