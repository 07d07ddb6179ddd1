/**
 * The SSH transport against a real OpenSSH sshd started by the test: the same sshd plays the bastion
 * and the app host (the bastion forwards to 127.0.0.1:<port>), so every path of the transport is real.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SshSettings } from '../../src/config/types.ts';
import { HostKeyError, RemoteCommandError, TimeoutError } from '../../src/errors.ts';
import type { Host } from '../../src/inventory/host.ts';
import { op } from '../../src/remote/command.ts';
import { connectFleet } from '../../src/ssh/fleet.ts';
import { fingerprint, parseKnownHosts, verifyHostKey } from '../../src/ssh/known-hosts.ts';

const SSHD = '/usr/sbin/sshd';
const dir = mkdtempSync(join(tmpdir(), 'baton-ssh-'));
let sshd: ChildProcess | undefined;
let port = 0;
let web: Server;
let webPort = 0;

const keygen = (file: string, type = 'ed25519') => execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', '', '-f', file]);
const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createNetServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
const hostLine = (name: string) => `${name} ${readFileSync(join(dir, 'host_key.pub'), 'utf8').trim()}\n`;

beforeAll(async () => {
  if (!existsSync(SSHD)) return;
  keygen(join(dir, 'host_key'));
  keygen(join(dir, 'other_host_key'));
  keygen(join(dir, 'user_key'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'user_key.pub')));
  port = await freePort();
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'AllowTcpForwarding yes',
      'StrictModes no',
      'MaxSessions 10',
      'PermitRootLogin prohibit-password',
    ].join('\n'),
  );
  mkdirSync('/run/sshd', { recursive: true });
  sshd = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  sshd.stderr!.on('data', (b: Buffer) => (log += b));
  await new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const poll = () => {
      if (log.includes('Server listening')) return resolve();
      if (sshd!.exitCode !== null || Date.now() > deadline) return reject(new Error(`sshd did not start: ${log}`));
      setTimeout(poll, 50);
    };
    poll();
  });
  web = createServer((req, res) => res.writeHead(req.url === '/health' ? 200 : 404).end(`you asked for ${req.url}`));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  webPort = (web.address() as AddressInfo).port;
});
afterAll(() => {
  sshd?.kill();
  web?.close();
});

function settings(knownHosts: string, more: Partial<SshSettings> = {}): SshSettings {
  return {
    user: userInfo().username,
    port,
    identityFile: join(dir, 'user_key'),
    knownHosts,
    acceptNewHostKeys: false,
    bastion: { host: '127.0.0.1', port, user: userInfo().username },
    connectTimeout: 10_000,
    commandTimeout: 10_000,
    keepaliveInterval: 5_000,
    maxChannels: 4,
    ...more,
  };
}
const host: Host = { name: 'app-1', address: '127.0.0.1', tags: {}, groups: [] };
function knownHostsFile(text: string): string {
  const file = join(dir, `known_hosts_${Math.random().toString(16).slice(2)}`);
  writeFileSync(file, text);
  return file;
}
const trusted = () => knownHostsFile(hostLine(`[127.0.0.1]:${port}`));

// Each exec starts the user's login shell; a heavy ~/.bashrc (pyenv, nvm) makes that take seconds.
describe.skipIf(!existsSync(SSHD))('SSH through a bastion, against a real sshd', { timeout: 60_000 }, () => {
  it('runs commands with their output, exit codes, stdin and exact arguments', async () => {
    const fleet = await connectFleet({ ssh: settings(trusted()) }, [host]);
    try {
      const remote = fleet.host('app-1');
      expect((await remote.exec(op('echo', 'hello'))).stdout).toBe('hello\n');
      const tricky = `it's a "test" $HOME \`id\` ; rm -rf /nope`;
      expect((await remote.exec(op('printf', '%s', tricky))).stdout).toBe(tricky);
      expect((await remote.exec(op('cat'), { stdin: 'secret from stdin' })).stdout).toBe('secret from stdin');
      const failure = await remote.exec(op('sh', '-c', 'echo broken >&2; exit 3')).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(RemoteCommandError);
      expect(failure).toMatchObject({ exitCode_: 3, stderrTail: 'broken' });
      expect((failure as Error).message).toContain('app-1: `sh -c');
    } finally {
      await fleet.close();
    }
  });

  it('gives up on a command at its deadline, naming it', async () => {
    const fleet = await connectFleet({ ssh: settings(trusted()) }, [host]);
    try {
      const started = Date.now();
      const error = await fleet.host('app-1').exec(op('sleep', '5'), { timeoutMs: 300 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TimeoutError);
      expect((error as Error).message).toBe('timed out after 300ms waiting for app-1: `sleep 5` to finish');
      expect(Date.now() - started).toBeLessThan(4_000);
    } finally {
      await fleet.close();
    }
  });

  it('keeps concurrent channels under the bound and runs them all', async () => {
    const fleet = await connectFleet({ ssh: settings(trusted()) }, [host]);
    try {
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => fleet.host('app-1').exec(op('echo', String(i)))));
      expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 12 }, (_, i) => String(i)));
    } finally {
      await fleet.close();
    }
  });

  it('fetches a URL on the host through the connection', async () => {
    const fleet = await connectFleet({ ssh: settings(trusted()) }, [host]);
    try {
      expect(await fleet.host('app-1').httpGet(webPort, '/health', 2_000)).toEqual({ status: 200, body: 'you asked for /health' });
      expect((await fleet.host('app-1').httpGet(webPort, '/x', 2_000)).status).toBe(404);
    } finally {
      await fleet.close();
    }
  });

  it('refuses an unknown host key, with the fingerprint ssh-keygen prints and how to trust it', async () => {
    const file = knownHostsFile('');
    const error = await connectFleet({ ssh: settings(file) }, [host]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostKeyError);
    const printed = execFileSync('ssh-keygen', ['-lf', join(dir, 'host_key.pub')], { encoding: 'utf8' }).split(' ')[1]!;
    expect((error as HostKeyError).fingerprint).toBe(printed);
    expect((error as Error).message).toContain(`bastion 127.0.0.1:${port}: host key ${printed} is not in ${file}`);
    expect((error as Error).message).toContain(`ssh-keyscan -p ${port} 127.0.0.1 >> ${file}`);
    expect((error as HostKeyError).exitCode).toBe(2);
  });

  it('refuses a changed key even when accepting new ones', async () => {
    const other = readFileSync(join(dir, 'other_host_key.pub'), 'utf8').trim();
    const error = await connectFleet({ ssh: settings(knownHostsFile(`[127.0.0.1]:${port} ${other}\n`), { acceptNewHostKeys: true }) }, [host]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostKeyError);
    expect((error as Error).message).toContain('HOST KEY CHANGED');
  });

  it('accepts and records new keys, hashed, when asked, and verifies against them next time', async () => {
    const file = knownHostsFile('');
    const fleet = await connectFleet({ ssh: settings(file, { acceptNewHostKeys: true }) }, [host]);
    await fleet.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.every((l) => l.startsWith('|1|'))).toBe(true);
    // ssh-keygen itself finds the recorded host in the hashed file.
    expect(execFileSync('ssh-keygen', ['-F', `[127.0.0.1]:${port}`, '-f', file], { encoding: 'utf8' })).toContain('ssh-ed25519');
    const again = await connectFleet({ ssh: settings(file) }, [host]);
    await again.close();
  });

  it('verifies entries hashed by ssh-keygen -H', async () => {
    const file = trusted();
    appendFileSync(file, hostLine('127.0.0.1'));
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    expect(readFileSync(file, 'utf8')).not.toContain('127.0.0.1');
    const fleet = await connectFleet({ ssh: settings(file) }, [host]);
    await fleet.close();
  });
});

describe('known_hosts matching', () => {
  const blob = (line: string) => Buffer.from(line.split(' ')[1]!, 'base64');
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJeWtrEuu1DFqE+xp5ceXu2Q9+So+yolI+5ZlJiKvfQZ';
  it('matches plain, bracketed, wildcard and negated patterns', () => {
    const entries = parseKnownHosts(`# comment\n[10.0.0.5]:2222 ${key}\n10.1.*,!10.1.0.9 ${key}\n@cert-authority * ${key}\n`);
    expect(verifyHostKey(entries, '10.0.0.5', 2222, blob(key)).status).toBe('match');
    expect(verifyHostKey(entries, '10.0.0.5', 22, blob(key)).status).toBe('unknown');
    expect(verifyHostKey(entries, '10.1.2.3', 22, blob(key)).status).toBe('match');
    expect(verifyHostKey(entries, '10.1.0.9', 22, blob(key)).status).toBe('unknown');
  });
  it('prints fingerprints as OpenSSH does', () => {
    expect(fingerprint(blob(key))).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
  it('reports a revoked key', () => {
    expect(verifyHostKey(parseKnownHosts(`@revoked * ${key}\n`), 'x', 22, blob(key)).status).toBe('revoked');
  });
});
