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
  // Each hop's own settings: its known_hosts file, its key (from ~/.ssh/config when Baton was given none).
  const auths = new Map<string, Auth>();
  const settingsOf = (hop: Hop): SshSettings => ({
    ...ssh,
    knownHosts: hop.knownHosts,
    ...(hop.identityFile && { identityFile: hop.identityFile }),
  });
  const authOf = (hop: Hop): Auth => {
    const key = hop.identityFile ?? '';
    if (!auths.has(key)) auths.set(key, authFor(settingsOf(hop), hop.identityFile ? 'ssh.config' : config.source));
    return auths.get(key)!;
  };
  const jumps = routes.jumps;
  const last = jumps.at(-1);
  const bastionSettings = last && { host: last.host, port: last.port, user: last.user };
  // The jump hosts' sessions, outermost first; the last one opens the hosts' tunnels.
  let chain: Connection[] = [];
  const opened: HostSession[] = [];
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // The hosts first: their sessions run inside the bastion's tunnels; then the hops, innermost first.
      await Promise.all(opened.map((h) => h.connection.end()));
      for (const c of [...chain].reverse()) await c.end();
    })());

  /** The innermost jump host's connection, opened again (hop by hop) if it closed; one attempt shared by every host asking. */
  let reconnecting: Promise<Connection> | undefined;
  const bastionNow = async (): Promise<Connection> => {
    const current = chain.at(-1);
    if (current && !current.closed && chain.every((c) => !c.closed)) return current;
    reconnecting ??= (async () => {
      for (const c of chain) void c.end(0);
      const next: Connection[] = [];
      try {
        for (const [i, hop] of jumps.entries()) {
          const name = i === jumps.length - 1 ? 'bastion' : `jump host ${hop.alias}`;
          const endpoint: Endpoint = {
            name,
            label: `${name === 'bastion' ? 'bastion' : name} ${hop.host}:${hop.port}`,
            host: hop.host,
            port: hop.port,
            user: hop.user,
          };
          const previous = next.at(-1);
          next.push(
            await connect(
              endpoint,
              settingsOf(hop),
              authOf(hop),
              previous ? await tunnel(previous, endpoint, ssh.connectTimeout) : undefined,
            ),
          );
        }
      } catch (error) {
        for (const c of next) void c.end(0);
        throw error;
      }
      chain = next;
      return next.at(-1)!;
    })().finally(() => (reconnecting = undefined));
    return reconnecting;
  };
  const open = async (endpoint: Endpoint, hop: Hop): Promise<Connection> =>
    connect(
      endpoint,
      settingsOf(hop),
      authOf(hop),
      jumps.length ? await tunnel(await bastionNow(), endpoint, ssh.connectTimeout) : undefined,
    );

  try {
    if (jumps.length && hosts.length) await bastionNow();
    const via = bastionSettings ? ` through bastion ${bastionSettings.host}:${bastionSettings.port}` : '';
    const results = await Promise.allSettled(
      hosts.map(async (host) => {
        const hop = routes.hosts.get(host.name)!;
        const endpoint: Endpoint = {
          name: host.name,
          label: `${host.name} (${hop.host}:${hop.port})${via}`,
          host: hop.host,
          port: hop.port,
          user: hop.user,
          ...(bastionSettings && { via: bastionSettings }),
        };
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
    const byName = new Map(opened.map((h) => [h.name, h]));
    return {
      host(name) {
        const h = byName.get(name);
        if (!h)
          throw new BatonError(`no SSH connection to ${name}: it is not among the ${byName.size} hosts connected`);
        return h;
      },
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await close();
    throw error;
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
