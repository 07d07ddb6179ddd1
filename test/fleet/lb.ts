/**
 * The sandbox load balancer: HAProxy's configuration, and a wait on its runtime API.
 * Two listeners share the hosts: one plays a classic ELB, the other an ELBv2 target group. Servers are
 * named by instance id, so the AWS emulator can drive them (drain, maintenance, ready) by that id.
 */
import { connect } from 'node:net';
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

/** Sends one command to HAProxy's runtime API and returns its answer. */
export function haproxyCommand(api: { host: string; port: number }, command: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(api.port, api.host);
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`HAProxy runtime API at ${api.host}:${api.port}: no answer to "${command}"`)));
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (b: Buffer) => chunks.push(b));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}

/** Server rows of `show stat`: backend, server, status (UP, DOWN, MAINT, DRAIN...), current sessions. */
export async function serverStats(api: { host: string; port: number }) {
  const csv = await haproxyCommand(api, 'show stat');
  const [header, ...rows] = csv.replace(/^# /, '').trim().split('\n');
  const cols = header!.split(',');
  const at = (row: string[], name: string) => row[cols.indexOf(name)] ?? '';
  return rows
    .map((line) => line.split(','))
    .filter((row) => !['FRONTEND', 'BACKEND'].includes(at(row, 'svname')))
    .map((row) => ({ backend: at(row, 'pxname'), server: at(row, 'svname'), status: at(row, 'status'), sessions: Number(at(row, 'scur')) }));
}

/** Waits until `count` servers report UP (the API may not answer for the first moments). */
export async function waitForServersUp(api: { host: string; port: number }, count: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
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
