/**
 * Where a command's hosts come from, the same for deploy, rollback and status: EC2 tags by default, or
 * `-i` an inventory (static INI or YAML, possibly vaulted, or an aws_ec2 plugin file), narrowed by
 * `--limit`. A static inventory's ProxyJump bastion replaces the configuration's, as for ansible.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { awsSettings, createEc2Client, type AwsClients } from '../aws/clients.ts';
import { findInstancesByTags } from '../aws/ec2.ts';
import type { DeployConfig } from '../config/types.ts';
import { isAwsEc2Inventory, loadAwsEc2Inventory } from '../inventory/aws-ec2.ts';
import type { Host } from '../inventory/host.ts';
import { selectHosts } from '../inventory/limit.ts';
import { openInventory, type StaticInventory } from '../inventory/static.ts';
import type { ConfigFlags } from './config-flags.ts';

export interface HostSource extends Disposable {
  /** The configuration, with the inventory's bastion if it names one. */
  readonly config: DeployConfig;
  /** All hosts of the inventory (or the deployment's tags). */
  all(): Promise<Host[]>;
  /** `--limit` applied (Ansible's patterns, with the static inventory's group order for subscripts). */
  select(hosts: Host[], limit: string): Host[];
  /** Set when the hosts come from an inventory file rather than the deployment's tags. */
  readonly fromFile: boolean;
}

/** What names the hosts: the deployment (its EC2 tags), or `-i` an inventory file (maybe vaulted). */
export interface HostFlags extends Pick<ConfigFlags, 'deployment' | 'vaultPasswords'> {
  readonly inventoryFile?: string | undefined;
}

export async function hostSource(
  loaded: DeployConfig,
  { inventoryFile, deployment, vaultPasswords }: HostFlags,
  aws: () => AwsClients,
): Promise<HostSource> {
  const ec2Inventory = inventoryFile !== undefined && isAwsEc2Inventory(inventoryFile);
  const inventory: StaticInventory | undefined =
    inventoryFile && !ec2Inventory ? await openInventory(inventoryFile, vaultPasswords) : undefined;
  const jump = inventory?.bastion;
  const config = jump
    ? {
        ...loaded,
        ssh: { ...loaded.ssh, bastion: { ...jump, user: jump.user || loaded.ssh.bastion?.user || loaded.ssh.user } },
      }
    : loaded;
  // An aws_ec2 inventory may name other regions than the stack's: one EC2 client for each.
  const regional = new Map<string, EC2Client>();
  const ec2For = (region: string) =>
    regional.get(region) ??
    regional
      .set(region, region === config.region ? aws().ec2 : createEc2Client(awsSettings(config, region)))
      .get(region)!;
  return {
    config,
    fromFile: inventoryFile !== undefined,
    all: async () =>
      ec2Inventory
        ? loadAwsEc2Inventory(inventoryFile!, ec2For)
        : inventory
          ? inventory.hosts
          : findInstancesByTags(aws().ec2, { stack: config.stack, release: config.release, deployment }),
    select: (hosts, limit) => selectHosts(hosts, limit, '--limit', inventory?.groupHosts),
    [Symbol.dispose]: () => {
      for (const [region, client] of regional) if (region !== config.region) client.destroy();
    },
  };
}
