/**
 * The SSH transport against a real OpenSSH sshd started by the test: the same sshd plays the bastion
 * and the app hosts (the bastion forwards to 127.0.0.1:<port>, or localhost:<port> for a second host),
 * so every path of the transport is real. scripts/test.sh installs openssh-server.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SshSettings } from '../../src/config/types.ts';
import {
  BatonError,
  ConfigError,
  HostKeyError,
  InterruptedError,
  RemoteCommandError,
  TimeoutError,
} from '../../src/errors.ts';
import type { Host } from '../../src/inventory/host.ts';
import { op, script, sh } from '../../src/remote/command.ts';
import { ConnectError, connectFleet, Semaphore } from '../../src/ssh/fleet.ts';
import { requireTools } from '../require-tools.ts';

const SSHD = '/usr/sbin/sshd';
const haveSshd = existsSync(SSHD);
// Skipped only in an ad-hoc run: under CI and the README's test command (which installs it) they run, and fail.
const mayRun = haveSshd || requireTools;
if (!mayRun)
  console.warn(
    `test/ssh/ssh.test.ts: ${SSHD} not found (apt-get install openssh-server, as scripts/test.sh does); skipping the tests against a real sshd`,
  );

const dir = mkdtempSync(join(tmpdir(), 'baton-ssh-'));
let sshd: ChildProcess | undefined;
let port = 0;
let web: Server | undefined;
let webPort = 0;
const user = userInfo().username;

const keygen = (file: string, type = 'ed25519') =>
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', '', '-f', file]);
const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createNetServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
const pub = (name: string) => readFileSync(join(dir, `${name}.pub`), 'utf8').trim();
const hostLine = (name: string, key = 'host_key') => `${name} ${pub(key)}\n`;
const printed = (key: string) =>
  execFileSync('ssh-keygen', ['-lf', join(dir, `${key}.pub`)], { encoding: 'utf8' }).split(' ')[1]!;

beforeAll(async () => {
  if (!haveSshd) return;
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
  // sshd's privilege separation directory; only root can (and must) have it.
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true });
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
  await new Promise<void>((r) => web!.listen(0, '127.0.0.1', r));
  webPort = (web.address() as AddressInfo).port;
});
afterAll(async () => {
  if (sshd?.pid) process.kill(sshd.pid, 'SIGTERM');
  await new Promise<void>((r) => (web ? web.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
});

function settings(knownHosts: string, more: Partial<SshSettings> = {}): SshSettings {
  return {
    user,
    port,
    identityFile: join(dir, 'user_key'),
    knownHosts,
    acceptNewHostKeys: false,
    bastion: { host: '127.0.0.1', port, user },
    connectTimeout: 10_000,
    commandTimeout: 10_000,
    keepaliveInterval: 5_000,
    maxChannels: 10,
    ...more,
  };
}
const app1: Host = { name: 'app-1', address: '127.0.0.1', tags: {}, groups: [] };
/** Another name for the same sshd: a host known_hosts may not know while the bastion is known. */
const app2: Host = { name: 'app-2', address: 'localhost', tags: {}, groups: [] };
function knownHostsFile(text: string): string {
  const file = join(dir, `known_hosts_${Math.random().toString(16).slice(2)}`);
  writeFileSync(file, text);
  return file;
}
const trusted = () => knownHostsFile(hostLine(`[127.0.0.1]:${port}`));
const failure = (p: Promise<unknown>) =>
  p.then(
    () => expect.unreachable('it should have failed'),
    (e: unknown) => e as Error,
  );

// Each exec starts the user's shell; a heavy ~/.bashrc (pyenv, nvm) makes that take a second or more.
describe.skipIf(!mayRun)('SSH through a bastion, against a real sshd', { timeout: 120_000 }, () => {
  it('runs commands with their output, exit codes, stdin and exact arguments', async () => {
    const fleet = await connectFleet({ ssh: settings(trusted()) }, [app1]);
    try {
      const remote = fleet.host('app-1');
      expect(await remote.exec(op('echo', 'hello'))).toEqual({ stdout: 'hello\n', stderr: '', exitCode: 0 });
      const tricky = `it's a "test" $HOME \`id\` ; rm -rf /nope`;
      expect((await remote.exec(op('printf', '%s', tricky))).stdout).toBe(tricky);
      expect((await remote.exec(op('printf', '%s', `it's a "test" $HOME`))).stdout).toBe(`it's a "test" $HOME`);
      expect((await remote.exec(op('printf', '[%s][%s]', '', 'two\nlines'))).stdout).toBe('[][two\nlines]');
      expect((await remote.exec(op('cat'), { stdin: 'secret from stdin' })).stdout).toBe('secret from stdin');
      expect((await remote.exec(op('wc', '-c'), { stdin: Buffer.alloc(300_000, 'x') })).stdout.trim()).toBe('300000');
      expect((await remote.exec(script(sh`echo "$((6 * 7))"`, sh`arithmetic`))).stdout).toBe('42\n');
      const error = await failure(remote.exec(op('sh', '-c', 'echo out; echo broken >&2; exit 3')));
      expect(error).toBeInstanceOf(RemoteCommandError);
      expect(error).toMatchObject({ exitCode_: 3, stderrTail: 'broken', host: 'app-1' });
      expect(error.message).toBe(
        "app-1: `sh -c 'echo out; echo broken >&2; exit 3'` failed with exit code 3:\n  broken",
      );
    } finally {
      await fleet.close();
    }
  });

  it('quotes only the last lines of a long stderr', async () => {
    const fleet = await connectFleet({ ssh: settings(trusted()) }, [app1]);
    try {
      const error = await failure(fleet.host('app-1').exec(op('sh', '-c', 'seq 1 100000 >&2; exit 1')));
      expect(error).toBeInstanceOf(RemoteCommandError);
      const tail = (error as RemoteCommandError).stderrTail.split('\n');
      expect(tail).toHaveLength(20);
      expect(tail.at(-1)).toBe('100000');
    } finally {
      await fleet.close();
    }
  });

  it('gives up on a command at its deadline, naming it', async () => {
    const fleet = await connectFleet({ ssh: settings(trusted()) }, [app1]);
    try {
      const started = Date.now();
      const error = await failure(fleet.host('app-1').exec(op('sleep', '5'), { timeoutMs: 300 }));
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error.message).toBe('timed out after 300ms waiting for app-1: `sleep 5` to finish');
      expect(Date.now() - started).toBeLessThan(4_000);
      // The connection still works, and the slot came back.
      expect((await fleet.host('app-1').exec(op('echo', 'after'))).stdout).toBe('after\n');
    } finally {
      await fleet.close();
    }
  });

  it('stops a command when the signal aborts, with the signal’s reason or an InterruptedError', async () => {
    const fleet = await connectFleet({ ssh: settings(trusted()) }, [app1]);
    try {
      const remote = fleet.host('app-1');
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const started = Date.now();
      const error = await failure(remote.exec(op('sleep', '5'), { signal: controller.signal }));
      expect(error).toBeInstanceOf(InterruptedError);
      expect(error.message).toBe('app-1: `sleep 5`: interrupted');
      expect(Date.now() - started).toBeLessThan(4_000);
      const reason = new InterruptedError('second Ctrl-C');
      expect(await failure(remote.exec(op('echo'), { signal: AbortSignal.abort(reason) }))).toBe(reason);
    } finally {
      await fleet.close();
    }
  });

  it('runs 20 commands at once through one connection, under sshd’s MaxSessions', async () => {
    // Every session starts the user's shell: on a small machine, 10 at once take seconds.
    const fleet = await connectFleet({ ssh: settings(trusted(), { commandTimeout: 100_000 }) }, [app1]);
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => fleet.host('app-1').exec(op('sh', '-c', `sleep 0.2; echo ${i}`))),
      );
      expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    } finally {
      await fleet.close();
    }
  });

  it('fetches a URL on the host through the connection', async () => {
    const fleet = await connectFleet({ ssh: settings(trusted()) }, [app1]);
    try {
      expect(await fleet.host('app-1').httpGet(webPort, '/health', 2_000)).toEqual({
        status: 200,
        body: 'you asked for /health',
        via: 'tunnel',
      });
      expect((await fleet.host('app-1').httpGet(webPort, '/x', 2_000)).status).toBe(404);
      const closed = await freePort();
      const error = await failure(fleet.host('app-1').httpGet(closed, '/health', 2_000));
      expect(error.message).toContain(`app-1: GET http://127.0.0.1:${closed}/health: `);
    } finally {
      await fleet.close();
    }
  });

  it('times out an HTTP request that gets no answer', async () => {
    const silent = createNetServer(() => {}); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const fleet = await connectFleet({ ssh: settings(trusted()) }, [app1]);
    try {
      const p = (silent.address() as AddressInfo).port;
      const error = await failure(fleet.host('app-1').httpGet(p, '/health', 300));
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error.message).toBe(`timed out after 300ms waiting for app-1: GET http://127.0.0.1:${p}/health`);
    } finally {
      await fleet.close();
      silent.close();
    }
  });

  it('opens several hosts in parallel, and connects directly without a bastion', async () => {
    const file = knownHostsFile(hostLine(`[127.0.0.1]:${port},[localhost]:${port}`));
    const fleet = await connectFleet({ ssh: settings(file) }, [app1, app2]);
    const direct = await connectFleet({ ssh: settings(file, { bastion: undefined }) }, [app1, app2]);
    try {
      for (const f of [fleet, direct]) {
        const [a, b] = await Promise.all([
          f.host('app-1').exec(op('echo', '1')),
          f.host('app-2').exec(op('echo', '2')),
        ]);
        expect([a.stdout, b.stdout]).toEqual(['1\n', '2\n']);
      }
      expect(() => fleet.host('app-3')).toThrow(BatonError);
    } finally {
      await Promise.all([fleet.close(), direct.close()]);
      await fleet.close(); // idempotent
    }
  });

  it('names the host, its address and the bastion when it cannot be reached', async () => {
    const closed = await freePort();
    const error = await failure(connectFleet({ ssh: settings(trusted()) }, [{ ...app1, ssh: { port: closed } }]));
    expect(error).toBeInstanceOf(ConnectError);
    expect(error.message).toMatch(
      new RegExp(
        `^app-1 \\(127\\.0\\.0\\.1:${closed}\\) through bastion 127\\.0\\.0\\.1:${port}: the bastion could not open a tunnel: `,
      ),
    );
    const direct = await failure(
      connectFleet({ ssh: settings(trusted(), { bastion: { host: '127.0.0.1', port: closed, user } }) }, [app1]),
    );
    expect(direct.message).toMatch(new RegExp(`^bastion 127\\.0\\.0\\.1:${closed}: .*ECONNREFUSED`));
  });

  it('says which key failed to log in, and needs a key or an agent', async () => {
    keygen(join(dir, 'stranger_key'));
    const error = await failure(
      connectFleet({ ssh: settings(trusted(), { identityFile: join(dir, 'stranger_key') }) }, [app1]),
    );
    expect(error.message).toContain(
      `bastion 127.0.0.1:${port}: ${user} could not log in with the key ${join(dir, 'stranger_key')}`,
    );
    expect(error.message).not.toContain('PRIVATE KEY');
    const agent = process.env.SSH_AUTH_SOCK;
    delete process.env.SSH_AUTH_SOCK;
    try {
      const none = await failure(
        connectFleet({ ssh: settings(trusted(), { identityFile: undefined }), source: 'baton.yml' }, [app1]),
      );
      expect(none).toBeInstanceOf(ConfigError);
      expect(none.message).toMatch(/^baton\.yml: ssh\.identityFile: .*SSH_AUTH_SOCK/);
      expect((none as ConfigError).exitCode).toBe(2);
    } finally {
      if (agent !== undefined) process.env.SSH_AUTH_SOCK = agent;
    }
  });

  it('refuses an unknown host key, with the fingerprint ssh-keygen prints and how to trust it', async () => {
    const file = knownHostsFile('');
    const error = await failure(connectFleet({ ssh: settings(file) }, [app1]));
    expect(error).toBeInstanceOf(HostKeyError);
    expect((error as HostKeyError).fingerprint).toBe(printed('host_key'));
    expect(error.message).toContain(
      `bastion 127.0.0.1:${port}: host key ${printed('host_key')} (ssh-ed25519) is not in ${file}`,
    );
    expect(error.message).toContain(`ssh-keyscan -p ${port} 127.0.0.1 >> ${file}`);
    expect(error.message).toContain('--accept-new-host-keys');
    expect((error as HostKeyError).exitCode).toBe(2);
    expect(readFileSync(file, 'utf8')).toBe('');
  });

  it('refuses an unknown key of a host behind the bastion, naming it and its address', async () => {
    const file = trusted();
    const error = await failure(connectFleet({ ssh: settings(file) }, [app1, app2]));
    expect(error).toBeInstanceOf(HostKeyError);
    expect(error).toMatchObject({ host: 'app-2', fingerprint: printed('host_key') });
    expect(error.message).toContain(
      `app-2 (localhost:${port}) through bastion 127.0.0.1:${port}: host key ${printed('host_key')}`,
    );
    expect(error.message).toContain(`ssh -p ${port} ${user}@127.0.0.1 ssh-keyscan -p ${port} localhost >> ${file}`);
  });

  it('refuses a changed key even when accepting new ones', async () => {
    const file = knownHostsFile(hostLine(`[127.0.0.1]:${port}`, 'other_host_key'));
    const error = await failure(connectFleet({ ssh: settings(file, { acceptNewHostKeys: true }) }, [app1]));
    expect(error).toBeInstanceOf(HostKeyError);
    expect(error.message).toContain(
      `bastion 127.0.0.1:${port}: HOST KEY CHANGED: it presented ${printed('host_key')}, but ${file} line 1`,
    );
    expect((error as HostKeyError).exitCode).toBe(2);
    // Behind the bastion too.
    const behind = knownHostsFile(hostLine(`[127.0.0.1]:${port}`) + hostLine(`[localhost]:${port}`, 'other_host_key'));
    const error2 = await failure(connectFleet({ ssh: settings(behind, { acceptNewHostKeys: true }) }, [app2]));
    expect(error2).toBeInstanceOf(HostKeyError);
    expect(error2.message).toContain(`app-2 (localhost:${port}) through bastion 127.0.0.1:${port}: HOST KEY CHANGED`);
    expect(readFileSync(behind, 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('refuses a revoked key', async () => {
    const file = knownHostsFile(`${hostLine(`[127.0.0.1]:${port}`)}@revoked ${hostLine('*')}`);
    const error = await failure(connectFleet({ ssh: settings(file, { acceptNewHostKeys: true }) }, [app1]));
    expect(error).toBeInstanceOf(HostKeyError);
    expect(error.message).toContain('@revoked');
  });

  it('accepts and records new keys, hashed, when asked, and verifies against them next time', async () => {
    const file = knownHostsFile('');
    const fleet = await connectFleet({ ssh: settings(file, { acceptNewHostKeys: true }) }, [app1, app2]);
    await fleet.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    // The bastion and app-1 share the name [127.0.0.1]:port: one line for it, one for [localhost]:port.
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.startsWith('|1|'))).toBe(true);
    // ssh-keygen itself finds the recorded hosts in the hashed file.
    expect(execFileSync('ssh-keygen', ['-F', `[127.0.0.1]:${port}`, '-f', file], { encoding: 'utf8' })).toContain(
      pub('host_key'),
    );
    expect(execFileSync('ssh-keygen', ['-F', `[localhost]:${port}`, '-f', file], { encoding: 'utf8' })).toContain(
      pub('host_key'),
    );
    const again = await connectFleet({ ssh: settings(file) }, [app1, app2]);
    await again.close();
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('verifies entries hashed by ssh-keygen -H', async () => {
    const file = trusted();
    appendFileSync(file, hostLine(`[localhost]:${port}`));
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    expect(readFileSync(file, 'utf8')).not.toContain('127.0.0.1');
    const fleet = await connectFleet({ ssh: settings(file) }, [app1, app2]);
    await fleet.close();
  });
});

describe('Semaphore', () => {
  it('never lets more than its size through, and hands slots on in order', async () => {
    const s = new Semaphore(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 7 }, async (_, i) => {
        const release = await s.acquire();
        running++;
        peak = Math.max(peak, running);
        order.push(i);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        release();
        release(); // a second release does nothing
      }),
    );
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});
