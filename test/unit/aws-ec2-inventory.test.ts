/**
 * aws_ec2 inventory files (Ansible's amazon.aws.aws_ec2 shape), read through the real EC2 client against the
 * AWS emulator: filters, include/exclude queries, hostnames, compose, keyed groups, and every error.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InventoryError } from '../../src/errors.ts';
import type { Host } from '../../src/inventory/host.ts';
import { isAwsEc2Inventory, loadAwsEc2Inventory } from '../../src/inventory/aws-ec2.ts';
import { startEmulator, type Emulator } from '../aws-emulator/server.ts';

const base = { stack: 'web', release: 'api' };
const id = (n: number, region = 'a') => `i-0${region}${String(n).padStart(15, '0')}`;

let east: Emulator;
let west: Emulator;
let big: Emulator;
let dir: string;
const asked: string[] = [];

const ec2For = (region: string) => {
  asked.push(region);
  const emulator = { 'us-east-1': east, 'us-west-2': west, 'eu-west-1': big }[region];
  if (!emulator) throw new Error(`no emulator for ${region}`);
  return new EC2Client({ region, endpoint: emulator.url, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
};

beforeAll(async () => {
  const empty = { autoScalingGroups: [], classicLoadBalancers: [], targetGroups: [], alarms: [] };
  east = await startEmulator({
    ...empty,
    instances: [
      {
        instanceId: id(1),
        privateIp: '10.0.0.10',
        publicIp: '203.0.113.10',
        tags: { ...base, deployment: 'integration', Name: 'app-1', role: 'web' },
      },
      {
        instanceId: id(2),
        privateIp: '10.0.0.11',
        instanceType: 'm5.large',
        tags: { ...base, deployment: 'integration', Name: 'app-2' },
      },
      { instanceId: id(3), privateIp: '10.0.0.12', tags: { ...base, deployment: 'integration', Name: 'app-10' } },
      {
        instanceId: id(4),
        privateIp: '10.0.0.13',
        tags: { ...base, deployment: 'integration', Name: 'app-4' },
        state: 'stopped',
      },
      { instanceId: id(5), privateIp: '10.0.0.14', tags: { ...base, deployment: 'production', Name: 'app-5' } },
      { instanceId: id(6), privateIp: '10.0.0.15', tags: { ...base, deployment: 'integration', team: '' } },
    ],
  });
  west = await startEmulator({
    ...empty,
    region: 'us-west-2',
    instances: [
      { instanceId: id(1, 'b'), privateIp: '10.1.0.10', tags: { ...base, deployment: 'integration', Name: 'app-3' } },
    ],
  });
  big = await startEmulator({
    ...empty,
    region: 'eu-west-1',
    instances: Array.from({ length: 250 }, (_, i) => ({
      instanceId: id(i + 1, 'c'),
      privateIp: `10.2.${i >> 8}.${i & 255}`,
      tags: { Name: `bulk-${i + 1}` },
    })),
  });
  dir = mkdtempSync(join(tmpdir(), 'baton-aws-ec2-'));
});
afterAll(async () => {
  await Promise.all([east?.close(), west?.close(), big?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  asked.length = 0;
  east.clearCalls();
});

let n = 0;
const write = (text: string, name = `t${++n}.aws_ec2.yml`) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};
const load = (text: string) => loadAwsEc2Inventory(write(text), ec2For);
const names = (hosts: Host[]) => hosts.map((h) => h.name);
const header = 'plugin: amazon.aws.aws_ec2\nregions: [us-east-1]\n';
const integration = `${header}filters: { tag:deployment: integration }\n`;
/** Rejects with an InventoryError whose message names the file and contains every fragment. */
async function rejects(text: string, ...fragments: string[]) {
  const file = write(text);
  const error = await loadAwsEc2Inventory(file, ec2For).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InventoryError);
  const message = (error as Error).message;
  expect(message).toContain(file);
  for (const f of fragments) expect(message).toContain(f);
  return message;
}

describe('isAwsEc2Inventory', () => {
  it("follows Ansible's file name rule", () => {
    expect(['aws_ec2.yml', 'inventory/prod.aws_ec2.yaml', 'my_aws_ec2.yml'].map(isAwsEc2Inventory)).toEqual([
      true,
      true,
      true,
    ]);
    expect(['hosts.yml', 'aws_ec2.yml.bak', 'aws-ec2.yml', 'aws_ec2.json'].map(isAwsEc2Inventory)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });
});

describe('loadAwsEc2Inventory', () => {
  it('reads the example inventory: tag:Name hostnames, private addresses, keyed and tag groups', async () => {
    const hosts = await loadAwsEc2Inventory(join(import.meta.dirname, '..', '..', 'inventory', 'aws_ec2.yml'), ec2For);
    expect(names(hosts)).toEqual(['10.0.0.15', 'app-1', 'app-2', 'app-10']);
    expect(hosts[1]).toEqual({
      name: 'app-1',
      address: '10.0.0.10',
      instanceId: id(1),
      privateIp: '10.0.0.10',
      tags: { ...base, deployment: 'integration', Name: 'app-1', role: 'web' },
      groups: [
        'aws_ec2',
        'deployment_integration',
        'tag_stack_web',
        'tag_release_api',
        'tag_deployment_integration',
        'tag_Name_app_1',
        'tag_role_web',
      ],
    });
    expect(hosts[0]!.groups).toEqual([
      'aws_ec2',
      'deployment_integration',
      'tag_stack_web',
      'tag_release_api',
      'tag_deployment_integration',
      'tag_team_',
    ]);
    expect(asked).toEqual(['us-east-1']);
  });

  it('adds instance-state-name=running unless the file filters on state, and pages 200 at a time', async () => {
    expect(names(await load(integration + 'hostnames: [tag:Name, instance-id]\n'))).toEqual([
      'app-1',
      'app-2',
      'app-10',
      id(6),
    ]);
    const call = east.calls().find((c) => c.action === 'DescribeInstances')!;
    expect(call.params).toMatchObject({
      MaxResults: '200',
      'Filter.1.Name': 'tag:deployment',
      'Filter.1.Value.1': 'integration',
      'Filter.2.Name': 'instance-state-name',
      'Filter.2.Value.1': 'running',
    });
    expect(call.params).not.toHaveProperty('Filter.2.Value.2');

    const withStopped = await load(
      `${header}filters:\n  tag:deployment: integration\n  instance-state-name: [running, stopped]\nhostnames: [tag:Name, instance-id]\n`,
    );
    expect(names(withStopped)).toEqual(['app-1', 'app-2', 'app-4', 'app-10', id(6)]);
  });

  it('passes other DescribeInstances filters through, lists as alternatives', async () => {
    expect(names(await load(`${header}filters:\n  instance-type: m5.large\nhostnames: [tag:Name]\n`))).toEqual([
      'app-2',
    ]);
    expect(
      names(await load(`${header}filters:\n  private-ip-address: [10.0.0.10, 10.0.0.14]\nhostnames: [tag:Name]\n`)),
    ).toEqual(['app-1', 'app-5']);
  });

  it('unions filters with include_filters and removes what any exclude query matches', async () => {
    const hosts = await load(
      `${header}filters: { tag:Name: app-1 }\ninclude_filters:\n  - tag:Name: app-2\n  - tag:deployment: production\n  - { tag:Name: app-4, instance-state-name: stopped }\nexclude_filters:\n  - tag:Name: app-5\n  - tag:Name: [app-1]\nhostnames: [tag:Name]\n`,
    );
    expect(names(hosts)).toEqual(['app-2', 'app-4']);
    expect(east.calls().filter((c) => c.action === 'DescribeInstances')).toHaveLength(6);
    // An exclude query carries no state filter, so exclusion wins whatever the state.
    await rejects(
      `${header}include_filters: [{ tag:Name: app-4, instance-state-name: stopped }]\nexclude_filters: [{ tag:Name: app-4 }]\n`,
      'no EC2 instance in us-east-1 matches [tag:Name=app-4 instance-state-name=stopped], excluding [tag:Name=app-4]',
    );
  });

  it('queries every region, in parallel, and groups by placement', async () => {
    const hosts = await load(
      `plugin: aws_ec2\nregions: [us-east-1, us-west-2]\nfilters: { tag:Name: [app-1, app-3] }\nhostnames: [tag:Name]\nkeyed_groups:\n  - { key: placement.region, prefix: aws_region }\n  - { key: placement.availability_zone, prefix: az }\n`,
    );
    expect(hosts.map((h) => `${h.name} ${h.address} ${h.groups.slice(0, 3).join(',')}`)).toEqual([
      'app-1 10.0.0.10 aws_ec2,aws_region_us_east_1,az_us_east_1a',
      'app-3 10.1.0.10 aws_ec2,aws_region_us_west_2,az_us_west_2a',
    ]);
    expect([...asked].sort()).toEqual(['us-east-1', 'us-west-2']);
  });

  it('follows NextToken past the first page of 200', async () => {
    const hosts = await loadAwsEc2Inventory(
      write('plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\nhostnames: [tag:Name]\n'),
      ec2For,
    );
    expect(hosts).toHaveLength(250);
    expect(names(hosts).slice(0, 3)).toEqual(['bulk-1', 'bulk-2', 'bulk-3']);
    expect(hosts.at(-1)!.name).toBe('bulk-250');
    expect(
      big
        .calls()
        .filter((c) => c.action === 'DescribeInstances')
        .map((c) => c.params.NextToken ?? 'first'),
    ).toEqual(['first', expect.any(String)]);
  });
});

describe('hostnames', () => {
  it('defaults to dns-name, then private-dns-name (empty dns-name for private instances)', async () => {
    expect(names(await load(integration))).toEqual([
      'ec2-203-0-113-10.compute-1.amazonaws.com',
      'ip-10-0-0-11.ec2.internal',
      'ip-10-0-0-12.ec2.internal',
      'ip-10-0-0-15.ec2.internal',
    ]);
  });

  it('takes the first preference that yields a name', async () => {
    const hosts = await load(integration + 'hostnames: [ip-address, tag:Name, instance-id]\n');
    expect(hosts.map((h) => `${h.name} ${h.instanceId}`)).toEqual([
      `203.0.113.10 ${id(1)}`,
      `app-2 ${id(2)}`,
      `app-10 ${id(3)}`,
      `${id(6)} ${id(6)}`,
    ]);
    expect(names(await load(integration + 'hostnames: [private-ip-address]\n'))).toEqual([
      '10.0.0.10',
      '10.0.0.11',
      '10.0.0.12',
      '10.0.0.15',
    ]);
  });

  it('names tag:K=V matches K_V, and tag:A,B takes the first tag present', async () => {
    expect(names(await load(integration + 'hostnames: [tag:role=web, tag:Name, instance-id]\n'))).toEqual([
      'app-2',
      'app-10',
      id(6),
      'role_web',
    ]);
    expect(names(await load(integration + 'hostnames: ["tag:role,Name", private-ip-address]\n'))).toEqual([
      '10.0.0.15',
      'app-2',
      'app-10',
      'web',
    ]);
  });

  it('builds prefix + separator + name from the mapping form, falling back to the name alone', async () => {
    const dashed = await load(
      integration + 'hostnames:\n  - { name: tag:Name, prefix: tag:stack, separator: "-" }\n  - private-ip-address\n',
    );
    expect(names(dashed)).toEqual(['10.0.0.15', 'web-app-1', 'web-app-2', 'web-app-10']);
    const literal = await load(integration + 'hostnames:\n  - { name: private-ip-address, prefix: aws }\n');
    expect(names(literal)).toEqual(['aws_10.0.0.10', 'aws_10.0.0.11', 'aws_10.0.0.12', 'aws_10.0.0.15']);
    const noPrefixValue = await load(
      integration + 'hostnames:\n  - { name: tag:Name, prefix: tag:role }\n  - instance-id\n',
    );
    expect(names(noPrefixValue)).toEqual(['app-2', 'app-10', id(6), 'web_app-1']);
  });

  it('refuses an instance no preference names, rather than leaving it on its old image', async () => {
    await rejects(
      integration + 'hostnames: [tag:Name]\n',
      `1 of 4 EC2 instances matched (${id(6)}) have no name from hostnames [tag:Name]`,
    );
    await rejects(
      integration + 'hostnames: [tag:owner]\n',
      '4 EC2 instance(s) matched, but none has a name from hostnames [tag:owner]',
    );
  });

  it('refuses two instances with one name, and allow_duplicated_hosts', async () => {
    await rejects(
      integration + 'hostnames: [tag:stack]\n',
      `instances ${id(1)} and ${id(2)} are both named "web" by hostnames; Baton needs one name per instance`,
    );
    await rejects(
      integration + 'hostnames: [tag:stack]\nallow_duplicated_hosts: true\n',
      'allow_duplicated_hosts: true is not supported: Baton addresses each instance by a name of its own',
    );
  });
});

describe('compose', () => {
  it('sets the address from a host variable path, and literal ansible_user and ansible_port', async () => {
    const [app1] = await load(
      `${header}filters: { tag:Name: app-1 }\nhostnames: [tag:Name]\ncompose:\n  ansible_host: public_ip_address\n  ansible_user: "'deploy'"\n  ansible_port: 2222\n`,
    );
    expect(app1).toMatchObject({ name: 'app-1', address: '203.0.113.10', ssh: { user: 'deploy', port: 2222 } });
    const [dns] = await load(
      `${header}filters: { tag:Name: app-2 }\nhostnames: [tag:Name]\ncompose:\n  ansible_host: private_dns_name\n  ansible_port: "'2200'"\n`,
    );
    expect(dns).toMatchObject({ address: 'ip-10-0-0-11.ec2.internal', ssh: { port: 2200 } });
    expect((await load(`${header}filters: { tag:Name: app-2 }\nhostnames: [tag:Name]\n`))[0]).not.toHaveProperty('ssh');
  });

  it('fails when the address path is empty for an instance', async () => {
    await rejects(
      `${integration}hostnames: [tag:Name]\ncompose: { ansible_host: public_ip_address }\n`,
      `app-2 (${id(2)}): compose.ansible_host public_ip_address is empty for this instance`,
    );
  });

  it('rejects Jinja it does not evaluate, naming the key and the expression', async () => {
    await rejects(
      `${header}compose:\n  ansible_host: "public_ip_address | default(private_ip_address)"\n`,
      'compose.ansible_host: "public_ip_address | default(private_ip_address)" is a Jinja expression Baton does not evaluate',
      'dotted path',
    );
    await rejects(
      `${header}compose:\n  ansible_user: ubuntu\n`,
      'compose.ansible_user: "ubuntu" is a Jinja expression',
      `a quoted literal ("'deploy'")`,
    );
    await rejects(
      `${header}compose:\n  ansible_port: ec2_tags.port\n`,
      'compose.ansible_port: "ec2_tags.port"',
      'a port number',
    );
    await rejects(`${header}compose:\n  ec2_state: state.name\n`, 'compose.ec2_state: Baton reads only ansible_host');
  });
});

describe('keyed_groups and groups', () => {
  const groupsOf = async (text: string) =>
    Object.fromEntries(
      (await load(`${integration}hostnames: [tag:Name, instance-id]\n${text}`)).map((h) => [
        h.name,
        h.groups.filter((g) => g !== 'aws_ec2' && !g.startsWith('tag_')),
      ]),
    );

  it('prefixes with the separator, sanitises names, and prepends the separator without a prefix (leading_separator)', async () => {
    const groups = await groupsOf(
      'keyed_groups:\n  - { key: tags.deployment, prefix: deployment }\n  - { key: ec2_tags.stack }\n  - { key: "tags[\'Name\']", prefix: name, separator: "-" }\n  - { key: instance_type, prefix: type }\n',
    );
    expect(groups['app-1']).toEqual(['deployment_integration', '_web', 'name_app_1', 'type_t3_small']);
    expect(groups['app-2']).toEqual(['deployment_integration', '_web', 'name_app_2', 'type_m5_large']);
    const bare = await groupsOf(
      'leading_separator: false\nkeyed_groups:\n  - { key: ec2_tags.stack }\n  - { key: tags.deployment, separator: "" , prefix: env }\n',
    );
    expect(bare['app-1']).toEqual(['web', 'envintegration']);
  });

  it('uses default_value for an empty value, and skips a missing key unless strict', async () => {
    const groups = await groupsOf(
      'keyed_groups:\n  - { key: tags.team, prefix: team, default_value: unassigned }\n  - { key: tags.role, prefix: role }\n',
    );
    expect(groups).toEqual({ 'app-1': ['role_web'], 'app-2': [], 'app-10': [], [id(6)]: ['team_unassigned'] });
    await rejects(
      `${integration}strict: true\nkeyed_groups: [{ key: tags.role, prefix: role }]\n`,
      'keyed_groups key tags.role is undefined or empty for this host (strict: true)',
    );
  });

  it('groups a mapping as key_value, trailing_separator false dropping the separator of empty values', async () => {
    const groups = await groupsOf('keyed_groups:\n  - { key: tags, prefix: t, trailing_separator: false }\n');
    expect(groups[id(6)]).toEqual(['t_stack_web', 't_release_api', 't_deployment_integration', 't_team']);
    const withDefault = await groupsOf('keyed_groups:\n  - { key: tags, prefix: t, default_value: none }\n');
    expect(withDefault[id(6)]).toEqual(['t_stack_web', 't_release_api', 't_deployment_integration', 't_team_none']);
    const plain = await groupsOf('keyed_groups:\n  - { key: tags, prefix: t }\n');
    expect(plain[id(6)]).toEqual(['t_stack_web', 't_release_api', 't_deployment_integration', 't_team_']);
  });

  it('puts a parent group before its keyed group, and literal groups on every host', async () => {
    const groups = await groupsOf(
      'groups: { canary: true, "blue-green": "True" }\nkeyed_groups:\n  - { key: tags.deployment, prefix: env, parent_group: environments }\n',
    );
    expect(groups['app-10']).toEqual(['canary', 'blue_green', 'environments', 'env_integration']);
  });

  it('reads renamed host variables (hostvars_prefix/suffix, ec2_tag_ keys)', async () => {
    const groups = await groupsOf(
      'hostvars_prefix: aws_\nhostvars_suffix: _x\nuse_contrib_script_compatible_ec2_tag_keys: true\nkeyed_groups:\n  - { key: aws_ec2_tag_role_x, prefix: role }\n  - { key: aws_placement_x.region, prefix: r }\n',
    );
    expect(groups['app-1']).toEqual(['role_web', 'r_us_east_1']);
  });

  it("keeps every host in Baton's tag_<key>_<value> groups", async () => {
    const [app1] = await load(`${header}filters: { tag:Name: app-1 }\nhostnames: [tag:Name]\n`);
    expect(app1!.groups).toEqual([
      'aws_ec2',
      'tag_stack_web',
      'tag_release_api',
      'tag_deployment_integration',
      'tag_Name_app_1',
      'tag_role_web',
    ]);
  });

  it('rejects Jinja keys and conditions, and contradictory options', async () => {
    await rejects(
      `${header}keyed_groups: [{ key: "tags.env | lower", prefix: env }]\n`,
      'keyed_groups[0].key: "tags.env | lower" is not supported',
      'dotted path',
    );
    await rejects(
      `${header}groups: { libvpc: "vpc_id == 'vpc-1'" }\n`,
      `groups.libvpc: "vpc_id == 'vpc-1'" is a Jinja condition`,
      'only true',
    );
    await rejects(
      `${header}keyed_groups: [{ key: tags.env, default_value: x, trailing_separator: false }]\n`,
      'keyed_groups[0]: default_value and trailing_separator are mutually exclusive',
    );
    await rejects(`${header}keyed_groups: [{ key: tags.env, prefx: env }]\n`, 'keyed_groups[0]: unknown key prefx');
  });
});

describe('inventory errors', () => {
  it('names the file and a plugin that is not aws_ec2', async () => {
    await rejects(
      'plugin: amazon.aws.aws_rds\nregions: [us-east-1]\n',
      'plugin: "amazon.aws.aws_rds" is not amazon.aws.aws_ec2',
    );
    await rejects('regions: [us-east-1]\n', 'plugin: missing');
  });

  it('needs explicit regions', async () => {
    await rejects('plugin: amazon.aws.aws_ec2\n', 'regions: Baton needs an explicit list of regions');
    await rejects('plugin: amazon.aws.aws_ec2\nregions: []\n', 'regions: Baton needs an explicit list of regions');
    await rejects(
      'plugin: amazon.aws.aws_ec2\nregions: us-east-1\n',
      'regions: "us-east-1" must be a list of AWS regions',
    );
  });

  it('names unknown options, with the option it probably meant', async () => {
    await rejects(
      `${header}hostname: [tag:Name]\nfliters: {}\nwhatever: 1\n`,
      'unknown options hostname (did you mean hostnames?), fliters (did you mean filters?), whatever: the aws_ec2 plugin has no such option',
    );
  });

  it('accepts options that change nothing for Baton, and refuses account and unimplemented ones', async () => {
    const hosts = await load(
      `${integration}hostnames: [tag:Name, instance-id]\nstrict_permissions: false\ncache: true\ncache_timeout: 600\nuse_ssm_inventory: false\n`,
    );
    expect(names(hosts)).toEqual(['app-1', 'app-2', 'app-10', id(6)]);
    await rejects(
      `${header}profile: prod\nassume_role_arn: arn:aws:iam::1:role/x\n`,
      'profile, assume_role_arn: Baton does not take AWS credentials, profiles, roles or endpoints from the inventory',
    );
    await rejects(`${header}route53_enabled: true\n`, 'route53_enabled: true is not supported by Baton');
  });

  it('rejects malformed filters and hostnames', async () => {
    await rejects(
      `${header}filters: [tag:Name]\n`,
      'filters: ["tag:Name"] must be a mapping of DescribeInstances filter names to values',
    );
    await rejects(
      `${header}include_filters: [{ tag:Name: { a: 1 } }]\n`,
      'include_filters[0].tag:Name: {"a":1} must be a string or a list of strings',
    );
    await rejects(
      `${header}hostnames: [private-ip]\n`,
      'hostnames[0]: "private-ip" is not a hostname attribute Baton reads',
    );
    await rejects(`${header}hostnames: ["tag:Name | lower"]\n`, 'hostnames[0]: "tag:Name | lower" uses Jinja');
    await rejects(`${header}hostnames: [{ prefix: aws }]\n`, 'hostnames[0].name: undefined must be a non-empty string');
  });

  it('says which filters found nothing, and reports invalid YAML and API errors', async () => {
    await rejects(
      `${header}filters: { tag:deployment: staging }\ninclude_filters: [{ tag:Name: nope }]\nexclude_filters: [{ tag:Name: app-1 }]\n`,
      'no EC2 instance in us-east-1 matches [tag:deployment=staging instance-state-name=running] or [tag:Name=nope instance-state-name=running], excluding [tag:Name=app-1]: check the filters and regions',
    );
    await rejects(`${header}filters: { tag:deployment: [a, b\n`, 'cannot read the inventory');
    await rejects(
      `${header}filters: { vpc-id: vpc-1 }\n`,
      "DescribeInstances in us-east-1 with vpc-id=vpc-1 instance-state-name=running failed: The filter 'vpc-id' is invalid",
    );
  });
});
