/** The instances an aws_ec2 inventory's filters select, region by region, as DescribeInstances answers. */
import type { EC2Client, Filter, Instance } from '@aws-sdk/client-ec2';
import { ec2Sdk } from '../../aws/sdk.ts';
import { InventoryError } from '../../errors.ts';
import type { AwsEc2Config } from './types.ts';

/** An instance with its reservation's OwnerId, RequesterId and ReservationId, as the plugin adds them. */
export type Found = Instance & { OwnerId?: string; RequesterId: string; ReservationId?: string };

export async function queryInstances(
  config: AwsEc2Config,
  ec2For: (region: string) => EC2Client,
  file: string,
): Promise<Found[]> {
  const describe = async (ec2: EC2Client, region: string, filters: Filter[]): Promise<Found[]> => {
    const found: Found[] = [];
    try {
      for await (const page of ec2Sdk.paginateDescribeInstances({ client: ec2, pageSize: 200 }, { Filters: filters })) {
        for (const r of page.Reservations ?? []) {
          for (const i of r.Instances ?? [])
            if (i.InstanceId)
              found.push({
                ...i,
                OwnerId: r.OwnerId,
                RequesterId: r.RequesterId ?? '',
                ReservationId: r.ReservationId,
              });
        }
      }
    } catch (error) {
      throw new InventoryError(
        `${file}: DescribeInstances in ${region} with ${describeFilters(filters)} failed: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return found;
  };
  const perRegion = await Promise.all(
    config.regions.map(async (region) => {
      const ec2 = ec2For(region);
      const excluded: Found[] = [];
      const included: Found[] = [];
      for (const q of config.exclude) excluded.push(...(await describe(ec2, region, q)));
      for (const q of config.include) included.push(...(await describe(ec2, region, q)));
      return { excluded, included };
    }),
  );
  // As the plugin does: exclusion wins, each instance once, in instance id order.
  const ignore = new Set(perRegion.flatMap((r) => r.excluded.map((i) => i.InstanceId!)));
  const instances = new Map<string, Found>();
  for (const i of perRegion.flatMap((r) => r.included))
    if (!ignore.has(i.InstanceId!) && !instances.has(i.InstanceId!)) instances.set(i.InstanceId!, i);
  if (!instances.size) {
    const queries = config.include.map((q) => `[${describeFilters(q)}]`).join(' or ');
    const excluding = config.exclude.length
      ? `, excluding ${config.exclude.map((q) => `[${describeFilters(q)}]`).join(' or ')}`
      : '';
    throw new InventoryError(
      `${file}: no EC2 instance in ${config.regions.join(', ')} matches ${queries}${excluding}: check the filters and regions`,
    );
  }
  return [...instances.values()].sort((a, b) => a.InstanceId!.localeCompare(b.InstanceId!));
}

const describeFilters = (filters: readonly Filter[]) =>
  filters.map((f) => `${f.Name}=${f.Values?.join(',')}`).join(' ') || 'no filter';
