import { mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SshSettings } from '../config/types.ts';
import type { Host } from '../inventory/host.ts';
import { planRoutes } from './route.ts';
import { SshConfig } from './ssh-config.ts';

const defaults = { user: 'me', port: 22 };
const text = `# top-level options apply to every host
ServerAliveInterval 30

Host bastion
  HostName 203.0.113.10
  Port 2222
  User jump
  IdentityFile ~/.ssh/jump_key

Host web-* !web-legacy
  User deploy
  ProxyJump bastion
  IdentityFile %d/.ssh/%r_key
  IdentityFile ~/.ssh/second

Host web-legacy
  ProxyCommand ssh -W %h:%p old-gateway

Match host web-*
  User never-read

Host *
  User fallback
  Port 2200
  UserKnownHostsFile ~/.ssh/known_hosts_fleet
  StrictHostKeyChecking accept-new
`;

describe('OpenSSH client configuration', () => {
  const config = SshConfig.parse(text, 'ssh_config');

  it('takes the first value of each option over the matching blocks, IdentityFile accumulating, tokens expanded', () => {
    const web = config.lookup('web-1', defaults);
    expect(web).toMatchObject({
      user: 'deploy',
      port: 2200,
      proxyJump: ['bastion'],
      userKnownHostsFile: join(homedir(), '.ssh/known_hosts_fleet'),
      strictHostKeyChecking: 'accept-new',
    });
    expect(web.identityFiles).toEqual([join(homedir(), '.ssh/deploy_key'), join(homedir(), '.ssh/second')]);
    expect(web.from.user).toBe('ssh_config:11');
    expect(config.lookup('bastion', defaults)).toMatchObject({
      hostName: '203.0.113.10',
      port: 2222,
      user: 'jump',
      identityFiles: [join(homedir(), '.ssh/jump_key')],
    });
    expect(config.lookup('db-1', defaults)).toMatchObject({ user: 'fallback', port: 2200, identityFiles: [] });
  });

  it('refuses ProxyCommand, naming the file and line; a negated pattern excludes the host', () => {
    expect(() => config.lookup('web-legacy', defaults)).toThrow(
      'ssh_config:17: ProxyCommand for web-legacy is not supported: Baton opens its own tunnels; use ProxyJump instead',
    );
  });

  it('follows Include, whose Host blocks apply only where the enclosing block does', () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-sshcfg-'));
    writeFileSync(join(dir, 'extra.conf'), 'User from-include\nHost inner-*\n  Port 2022\n');
    const c = SshConfig.parse(
      `Host app-*\n  Include ${join(dir, '*.conf')}\n  HostName 10.0.0.9\nHost *\n  User last\n`,
      'cfg',
    );
    expect(c.lookup('app-1', defaults)).toMatchObject({ user: 'from-include', hostName: '10.0.0.9' });
    expect(c.lookup('inner-1', defaults)).toMatchObject({ user: 'last' });
    expect(c.lookup('inner-1', defaults).port).toBeUndefined();
  });
});

describe('routes', () => {
  const ssh: SshSettings = {
    user: 'local',
    port: 22,
    knownHosts: '/k',
    acceptNewHostKeys: false,
    connectTimeout: 1000,
    commandTimeout: 1000,
    keepaliveInterval: 1000,
    maxChannels: 4,
    given: [],
  };
  const host = (name: string, address: string, extra: Partial<Host> = {}): Host => ({
    name,
    address,
    tags: {},
    groups: [],
    ...extra,
  });

  it('puts what Baton was given first, then ~/.ssh/config, then defaults; jump hosts from ProxyJump, several hops', () => {
    const config = SshConfig.parse(
      'Host gw\n  HostName 198.51.100.1\n  User gwuser\nHost inner\n  ProxyJump gw\n  Port 2201\nHost 10.*\n  ProxyJump inner\n  User cfguser\n  Port 2022\n',
      'cfg',
    );
    const routes = planRoutes(
      ssh,
      [host('a', '10.0.0.1'), host('b', '10.0.0.2', { ssh: { user: 'inventory-user' } })],
      config,
    );
    expect(routes.jumps.map((h) => `${h.user}@${h.host}:${h.port}`)).toEqual([
      'gwuser@198.51.100.1:22',
      'local@inner:2201',
    ]);
    expect(routes.hosts.get('a')).toMatchObject({ host: '10.0.0.1', user: 'cfguser', port: 2022 });
    expect(routes.hosts.get('b')).toMatchObject({ user: 'inventory-user', port: 2022 });
    const explicit = planRoutes({ ...ssh, given: ['user', 'port'] }, [host('a', '10.0.0.1')], config);
    expect(explicit.hosts.get('a')).toMatchObject({ user: 'local', port: 22 });
  });

  it('refuses hosts behind different jump hosts, and says StrictHostKeyChecking no is not followed', () => {
    const config = SshConfig.parse(
      'Host 10.0.0.1\n  ProxyJump one\nHost 10.0.0.2\n  ProxyJump two\nHost *\n  StrictHostKeyChecking no\n',
      'cfg',
    );
    expect(() => planRoutes(ssh, [host('a', '10.0.0.1'), host('b', '10.0.0.2')], config)).toThrow(
      /different jump hosts \(a: one; b: two\)/,
    );
    expect(planRoutes(ssh, [host('a', '10.0.0.1')], config).warnings).toEqual([
      'cfg:6: StrictHostKeyChecking no is not followed: Baton accepts new host keys only with --accept-new-host-keys',
    ]);
  });

  it("with --accept-new-host-keys, checks every hop's own known_hosts file: never /dev/null from UserKnownHostsFile", () => {
    const config = SshConfig.parse('Host gw\n  UserKnownHostsFile /dev/null\nHost 10.*\n  ProxyJump gw\n', 'cfg');
    const accepting = { ...ssh, acceptNewHostKeys: true };
    expect(() => planRoutes(accepting, [host('a', '10.0.0.1')], config)).toThrow(
      '--accept-new-host-keys: records new host keys of gw in /dev/null (UserKnownHostsFile, cfg:2), and /dev/null is not a regular file',
    );
    // Without it nothing is recorded, and /dev/null simply knows no key (every host is refused as unknown).
    expect(planRoutes(ssh, [host('a', '10.0.0.1')], config).jumps[0]!.knownHosts).toBe('/dev/null');
    const dir = mkdtempSync(join(tmpdir(), 'baton-kh-'));
    const fine = SshConfig.parse(
      `Host gw\n  UserKnownHostsFile ${join(dir, 'known_hosts')}\nHost 10.*\n  ProxyJump gw\n`,
      'cfg',
    );
    expect(planRoutes(accepting, [host('a', '10.0.0.1')], fine).jumps[0]!.knownHosts).toBe(join(dir, 'known_hosts'));
  });
});
