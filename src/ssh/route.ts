/**
 * How each host is reached: its address, port, user, key and known_hosts file, and the jump hosts in
 * front of it, from Baton's settings and the OpenSSH client configuration together. For each value:
 * what Baton was given (the configuration, a flag, the inventory) first, then ~/.ssh/config (first match
 * wins, as ssh has it), then Baton's defaults. One chain of jump hosts serves the whole run.
 */
import type { BastionSettings, SshSettings } from '../config/types.ts';
import { ConfigError } from '../errors.ts';
import type { Host } from '../inventory/host.ts';
import { parseJump, SshConfig, type SshHostConfig } from './ssh-config.ts';
import { knownHostsFileProblem } from './known-hosts.ts';

/** One hop or host, resolved: where to connect, as whom, with which key, checked against which file. */
export interface Hop {
  /** The name it was asked for (a `Host` alias, an address): how messages call it. */
  readonly alias: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** A key file from ~/.ssh/config, when Baton was given none. */
  readonly identityFile?: string;
  readonly knownHosts: string;
}

export interface Routes {
  /** The jump hosts, outermost first (empty: hosts are reached directly). */
  readonly jumps: readonly Hop[];
  readonly hosts: ReadonlyMap<string, Hop>;
  /** Settings of ~/.ssh/config Baton does not follow, said once. */
  readonly warnings: readonly string[];
}

const MAX_HOPS = 8;

export function planRoutes(ssh: SshSettings, hosts: readonly Host[], config: SshConfig = loadSshConfig(ssh)): Routes {
  const given = new Set(ssh.given ?? ['user', 'port', 'identityFile', 'knownHosts']);
  const warnings = new Set<string>();
  const resolveHop = (
    alias: string,
    explicit: { user?: string; port?: number },
    fallback: { user: string; port: number },
  ): { hop: Hop; found: SshHostConfig } => {
    const found = config.lookup(alias, fallback);
    if (found.strictHostKeyChecking && !['yes', 'ask', 'true'].includes(found.strictHostKeyChecking)) {
      warnings.add(
        `${found.from.stricthostkeychecking}: StrictHostKeyChecking ${found.strictHostKeyChecking} is not followed: Baton accepts new host keys only with --accept-new-host-keys`,
      );
    }
    const identityFile = given.has('identityFile') ? undefined : found.identityFiles[0];
    const fromFile = !given.has('knownHosts') && found.userKnownHostsFile;
    if (fromFile && ssh.acceptNewHostKeys) {
      // Every hop's own file is checked as ssh.knownHosts is: never a key accepted into /dev/null.
      const problem = knownHostsFileProblem(fromFile);
      if (problem)
        throw new ConfigError(
          '--accept-new-host-keys',
          `records new host keys of ${alias} in ${fromFile} (UserKnownHostsFile, ${found.from.userknownhostsfile ?? config.file}), and ${fromFile} ${problem}`,
        );
    }
    return {
      hop: {
        alias,
        host: found.hostName ?? alias,
        port: explicit.port ?? found.port ?? fallback.port,
        user: explicit.user ?? found.user ?? fallback.user,
        ...(identityFile && { identityFile }),
        knownHosts: !given.has('knownHosts') && found.userKnownHostsFile ? found.userKnownHostsFile : ssh.knownHosts,
      },
      found,
    };
  };
  /** `alias` and, before it, the hops its own ProxyJump names (outermost first). */
  const chainTo = (spec: string, explicit: { user?: string; port?: number }, depth: number): Hop[] => {
    if (depth > MAX_HOPS)
      throw new ConfigError('ssh.config', `ProxyJump to ${spec} goes through more than ${MAX_HOPS} hops (a loop?)`);
    const { hop, found } = resolveHop(spec, explicit, { user: ssh.user, port: 22 });
    return [...(found.proxyJump ? hopsOf(found.proxyJump, depth + 1) : []), hop];
  };
  /**
   * A ProxyJump list `a,b,c`, as ssh follows it (`ssh -J a,b -W c`): the first hop may be reached
   * through its own ProxyJump; the ones after it are reached through the one before, whatever theirs says.
   */
  const hopsOf = (list: readonly string[], depth: number): Hop[] =>
    list.flatMap((s, i) => {
      const j = parseJump(s);
      const explicit = { ...(j.user && { user: j.user }), ...(j.port && { port: j.port }) };
      return i === 0
        ? chainTo(j.host, explicit, depth)
        : [resolveHop(j.host, explicit, { user: ssh.user, port: 22 }).hop];
    });

  const hostRoutes = new Map<string, Hop>();
  const hostJumps = new Map<string, string>();
  for (const host of hosts) {
    // The inventory's ansible_user / ansible_port, else Baton's own when it was given them.
    const user = host.ssh?.user ?? (given.has('user') ? ssh.user : undefined);
    const port = host.ssh?.port ?? (given.has('port') ? ssh.port : undefined);
    const explicit = { ...(user !== undefined && { user }), ...(port !== undefined && { port }) };
    const { hop, found } = resolveHop(host.address, explicit, { user: ssh.user, port: ssh.port });
    hostRoutes.set(host.name, hop);
    if (found.proxyJump) hostJumps.set(host.name, found.proxyJump.join(','));
  }

  let jumps: Hop[] = [];
  if (ssh.bastion) {
    jumps = bastionChain(ssh.bastion, chainTo);
  } else if (hostJumps.size) {
    const chains = new Set(hostJumps.values());
    if (chains.size > 1 || hostJumps.size !== hosts.length) {
      const described = hosts.map((h) => `${h.name}: ${hostJumps.get(h.name) ?? 'direct'}`).join('; ');
      throw new ConfigError(
        'ssh.config',
        `the hosts are reached through different jump hosts (${described}); Baton uses one chain of jump hosts per run: set ssh.bastion, or give them one ProxyJump`,
      );
    }
    jumps = hopsOf([...chains][0]!.split(','), 1);
  }
  return { jumps, hosts: hostRoutes, warnings: [...warnings] };
}

function bastionChain(
  b: BastionSettings,
  chainTo: (spec: string, explicit: { user?: string; port?: number }, depth: number) => Hop[],
): Hop[] {
  const given = new Set(b.given ?? ['port', 'user']);
  return chainTo(b.host, { ...(given.has('user') && { user: b.user }), ...(given.has('port') && { port: b.port }) }, 1);
}

export function loadSshConfig(ssh: Pick<SshSettings, 'config'>): SshConfig {
  return ssh.config === 'none' ? SshConfig.parse('', 'none') : SshConfig.load(ssh.config);
}
