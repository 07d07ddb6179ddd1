/**
 * The fleet's known_hosts: every host key is generated when its container starts, then read back
 * and written here, so the client verifies keys exactly as it would in production. App hosts are
 * written hashed (`HashKnownHosts yes`, Debian's default), the bastion in plain text: both forms are used.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { dockerExec } from './docker.ts';
import type { FleetHost } from './fleet.ts';

async function hostKeys(container: string): Promise<string[]> {
  const out = await dockerExec(container, 'cat /etc/ssh/ssh_host_*_key.pub');
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ').slice(0, 2).join(' '));
}

export function hashedHost(host: string, salt = randomBytes(20)): string {
  const hmac = createHmac('sha1', salt).update(host).digest('base64');
  return `|1|${salt.toString('base64')}|${hmac}`;
}

export async function knownHostsFor(
  bastionContainer: string,
  bastionPattern: string,
  hosts: readonly FleetHost[],
): Promise<string> {
  const lines = (await hostKeys(bastionContainer)).map((key) => `${bastionPattern} ${key}`);
  for (const host of hosts) {
    for (const key of await hostKeys(host.container)) lines.push(`${hashedHost(host.privateIp)} ${key}`);
  }
  return `${lines.join('\n')}\n`;
}
