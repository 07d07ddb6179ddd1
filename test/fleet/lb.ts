/**
 * The sandbox load balancer: HAProxy's configuration, and a wait on its runtime API.
 * Two listeners share the hosts: one plays a classic ELB, the other an ELBv2 target group. Servers are
 * named by instance id, so the AWS emulator can drive them (drain, maintenance, ready) by that id.
 */
import { HaproxyDriver } from '../aws-emulator/haproxy.ts';
import type { FleetHost } from './fleet.ts';

/** The HAProxy backends the emulator's load balancers map to. */
export const BACKENDS = { classicElb: 'elb_web', targetGroup: 'tg_web' } as const;

export function haproxyConfig(hosts: readonly FleetHost[]): string {
  const servers = hosts.map((h) => `  server ${h.instanceId} ${h.privateIp}:8080 check`).join('\n');
  return `global
  stats socket ipv4@0.0.0.0:9999 level admin
  maxconn 2048

defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  # One request per server connection: a drained server gets no new request on an old connection.
  option http-server-close
  # Quick checks, so registration and failure show within a second.
  default-server inter 250ms fastinter 100ms downinter 250ms rise 2 fall 2

frontend classic_elb
  bind :8080
  default_backend ${BACKENDS.classicElb}

frontend target_group
  bind :8081
  default_backend ${BACKENDS.targetGroup}

backend ${BACKENDS.classicElb}
  option httpchk GET /health
${servers}

backend ${BACKENDS.targetGroup}
  option httpchk GET /health
${servers}
`;
}

/** Server rows of `show stat`: backend, server, status (UP, DOWN, MAINT, DRAIN...), current sessions. */
export async function serverStats(api: { host: string; port: number }) {
  const stats = await new HaproxyDriver(api).stats();
  return [...stats].map(([key, s]) => {
    const [backend, server] = key.split('/') as [string, string];
    return { backend, server, status: s.status, sessions: s.sessions };
  });
}

/** Waits until `count` servers report UP (the API may not answer for the first moments). */
export async function waitForServersUp(
  api: { host: string; port: number },
  count: number,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined;
  for (;;) {
    try {
      const stats = await serverStats(api);
      if (stats.filter((s) => s.status === 'UP').length >= count) return;
      last = stats.map((s) => `${s.backend}/${s.server}=${s.status}`).join(' ');
    } catch (error) {
      last = String(error);
    }
    if (Date.now() > deadline) throw new Error(`HAProxy: ${count} servers not UP within ${timeoutMs} ms (${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
