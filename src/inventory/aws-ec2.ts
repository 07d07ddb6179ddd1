/**
 * EC2 inventories in the shape of Ansible's amazon.aws.aws_ec2 plugin (a file named `*aws_ec2.yml`):
 * `regions`, `filters`, `include_filters` / `exclude_filters`, `hostnames`, `allow_duplicated_hosts`, and the
 * constructed options `compose`, `groups`, `keyed_groups`, `strict`, `leading_separator`. Baton evaluates no
 * Jinja: keys and `compose.ansible_host` are dotted paths into the host variables, `groups` conditions must be `true`,
 * and anything else is an error that says what is supported.
 *
 * Where Baton differs from the plugin, on purpose:
 * - `regions` is required: Baton does not list the account's regions when it is empty.
 * - The default state filter is `instance-state-name: running` (the plugin adds pending, stopping and stopped):
 *   Baton deploys only to running instances. An explicit `instance-state-name` filter is used as written.
 *   Exclude queries get no state filter, so an excluded instance stays excluded whatever its state.
 * - A host's address is its private IP unless `compose.ansible_host` names a host variable (the plugin would
 *   connect to the inventory hostname); a path that is empty for an instance is an error, not a silent fallback.
 * - Every instance the filters match must get a name of its own: an instance no `hostnames` preference names, or
 *   two instances with one name, are errors (the plugin skips them, which would leave them on the old image).
 *   `allow_duplicated_hosts: true` is refused for the same reason.
 * - Group names are always sanitised (Ansible does so when `force_valid_group_names` is `always`), and every host is
 *   also in the `tag_<key>_<value>` groups of Baton's EC2 tag discovery (`groupsFromTags`).
 * - Options that choose the AWS account or endpoint (`profile`, `assume_role_arn`, keys, `endpoint_url`) are errors:
 *   ignoring them would query whatever account Baton's own AWS configuration points at.
 * - `placement.availability_zone_id` is not set (it needs DescribeAvailabilityZones).
 */
import { readFile } from 'node:fs/promises';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { parse as parseYaml } from 'yaml';
import { InventoryError } from '../errors.ts';
import type { Host } from './host.ts';
import { buildHosts } from './aws-ec2/hosts.ts';
import { parseConfig } from './aws-ec2/options.ts';
import { queryInstances } from './aws-ec2/query.ts';

/** Ansible's rule for which files the aws_ec2 plugin reads. */
export function isAwsEc2Inventory(file: string): boolean {
  return file.endsWith('aws_ec2.yml') || file.endsWith('aws_ec2.yaml');
}

/**
 * The instances an aws_ec2 inventory file selects, as Baton hosts sorted by name. `ec2For` gives the client for a
 * region (Baton's own AWS configuration); regions are queried in parallel.
 */
export async function loadAwsEc2Inventory(file: string, ec2For: (region: string) => EC2Client): Promise<Host[]> {
  let doc: unknown;
  try {
    doc = parseYaml(await readFile(file, 'utf8'));
  } catch (error) {
    throw new InventoryError(`cannot read the inventory ${file}: ${(error as Error).message}`, { cause: error });
  }
  const config = parseConfig(doc, file);
  const instances = await queryInstances(config, ec2For, file);
  return buildHosts(instances, config, file);
}
