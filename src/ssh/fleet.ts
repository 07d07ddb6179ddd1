/**
 * The SSH transport: one connection to the bastion (through any jump hosts before it), and through it
 * a `forwardOut` tunnel and an SSH session per host, all opened in parallel before anything changes.
 * Every host key is verified against known_hosts. Each host's session is a HostSession.
 */
import type { SshSettings } from '../config/types.ts';
import { BatonError, HostKeyError } from '../errors.ts';
import type { Host } from '../inventory/host.ts';
import { authFor, connect, ConnectError, tunnel, type Auth, type Connection, type Endpoint } from './connection.ts';
import { HostSession } from './host-session.ts';
import { planRoutes, type Hop } from './route.ts';
import type { FleetConnection } from '../remote/host.ts';

export { ConnectError } from './connection.ts';
export { Semaphore } from './semaphore.ts';

/**
 * Connects to every host (through ssh.bastion when set), in parallel. Resolves once all are up; if any
 * fails, closes the others and rejects: with a HostKeyError (exit code 2) when any host key was refused,
 * else with a ConnectError naming every unreachable host.
 */
export async function connectFleet(
  config: { readonly ssh: SshSettings; readonly source?: string },
  hosts: readonly Host[],
  options: { onWarning?: (message: string) => void } = {},
): Promise<FleetConnection> {
  const { ssh } = config;
  const routes = planRoutes(ssh, hosts);
  for (const w of routes.warnings) options.onWarning?.(w);
  const hops = new Hops(ssh, config.source);
  const jumps = new JumpChain(routes.jumps, hops, ssh.connectTimeout);
  const opened: HostSession[] = [];
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // The hosts first: their sessions run inside the bastion's tunnels; then the hops, innermost first.
      await Promise.all(opened.map((h) => h.connection.end()));
      await jumps.end();
    })());
  const open = async (endpoint: Endpoint, hop: Hop): Promise<Connection> =>
    hops.connect(
      endpoint,
      hop,
      jumps.length ? await tunnel(await jumps.bastion(), endpoint, ssh.connectTimeout) : undefined,
    );

  try {
    if (jumps.length && hosts.length) await jumps.bastion();
    const results = await Promise.allSettled(
      hosts.map(async (host) => {
        const hop = routes.hosts.get(host.name)!;
        const endpoint = hostEndpoint(host, hop, jumps.bastionAddress);
        const remote = new HostSession(
          host.name,
          await open(endpoint, hop),
          ssh,
          () => open(endpoint, hop),
          () => closing !== undefined,
        );
        opened.push(remote);
        return remote;
      }),
    );
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    if (failures.length) throw fleetError(failures);
    return fleetOf(opened, close);
  } catch (error) {
    await close();
    throw error;
  }
}

function hostEndpoint(host: Host, hop: Hop, bastion: Endpoint['via']): Endpoint {
  const via = bastion ? ` through bastion ${bastion.host}:${bastion.port}` : '';
  return {
    name: host.name,
    label: `${host.name} (${hop.host}:${hop.port})${via}`,
    host: hop.host,
    port: hop.port,
    user: hop.user,
    ...(bastion && { via: bastion }),
  };
}

function fleetOf(opened: readonly HostSession[], close: () => Promise<void>): FleetConnection {
  const byName = new Map(opened.map((h) => [h.name, h]));
  return {
    host(name) {
      const h = byName.get(name);
      if (!h) throw new BatonError(`no SSH connection to ${name}: it is not among the ${byName.size} hosts connected`);
      return h;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Each hop's own settings: its known_hosts file, its key (from ~/.ssh/config when Baton was given none). */
class Hops {
  /** One Auth per key file: a key is read (and its passphrase asked) once. */
  private readonly auths = new Map<string, Auth>();

  constructor(
    private readonly ssh: SshSettings,
    private readonly source: string | undefined,
  ) {}

  settings(hop: Hop): SshSettings {
    return { ...this.ssh, knownHosts: hop.knownHosts, ...(hop.identityFile && { identityFile: hop.identityFile }) };
  }

  connect(endpoint: Endpoint, hop: Hop, through?: Awaited<ReturnType<typeof tunnel>>): Promise<Connection> {
    const key = hop.identityFile ?? '';
    if (!this.auths.has(key))
      this.auths.set(key, authFor(this.settings(hop), hop.identityFile ? 'ssh.config' : this.source));
    return connect(endpoint, this.settings(hop), this.auths.get(key)!, through);
  }
}

/**
 * The jump hosts' sessions, outermost first; the last one, the bastion, opens the hosts' tunnels. If any
 * has closed, the chain is opened again hop by hop, in one attempt shared by every host asking.
 */
class JumpChain {
  private chain: Connection[] = [];
  private reconnecting: Promise<Connection> | undefined;

  constructor(
    private readonly jumps: readonly Hop[],
    private readonly hops: Hops,
    private readonly connectTimeout: number,
  ) {}

  get length(): number {
    return this.jumps.length;
  }

  /** The bastion as the hosts' endpoints name it. */
  get bastionAddress(): Endpoint['via'] {
    const last = this.jumps.at(-1);
    return last && { host: last.host, port: last.port, user: last.user };
  }

  bastion(): Promise<Connection> {
    const current = this.chain.at(-1);
    if (current && this.chain.every((c) => !c.closed)) return Promise.resolve(current);
    this.reconnecting ??= this.reopen().finally(() => (this.reconnecting = undefined));
    return this.reconnecting;
  }

  async end(): Promise<void> {
    for (const c of [...this.chain].reverse()) await c.end();
  }

  private async reopen(): Promise<Connection> {
    for (const c of this.chain) void c.end(0);
    const next: Connection[] = [];
    try {
      for (const [i, hop] of this.jumps.entries()) {
        const name = i === this.jumps.length - 1 ? 'bastion' : `jump host ${hop.alias}`;
        const { host, port, user } = hop;
        const endpoint: Endpoint = { name, label: `${name} ${host}:${port}`, host, port, user };
        const previous = next.at(-1);
        const through = previous ? await tunnel(previous, endpoint, this.connectTimeout) : undefined;
        next.push(await this.hops.connect(endpoint, hop, through));
      }
    } catch (error) {
      for (const c of next) void c.end(0);
      throw error;
    }
    this.chain = next;
    return next.at(-1)!;
  }
}

/** One error for all the hosts that failed; host key problems come first, they need the operator. */
function fleetError(failures: readonly Error[]): Error {
  const keys = failures.filter((f): f is HostKeyError => f instanceof HostKeyError);
  if (keys.length === 1) return keys[0]!;
  if (keys.length > 1)
    return new HostKeyError(
      `${keys.length} hosts presented keys known_hosts does not vouch for:\n\n${keys.map((k) => k.message).join('\n\n')}`,
      keys[0]!.host,
      keys[0]!.fingerprint,
    );
  if (failures.length === 1) return failures[0]!;
  // A bad configuration (no key) fails every host the same way.
  if (failures.every((f) => f.message === failures[0]!.message)) return failures[0]!;
  return new ConnectError(
    `could not reach ${failures.length} hosts:\n${failures.map((f) => `  ${f.message}`).join('\n')}`,
  );
}
