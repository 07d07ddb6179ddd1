/**
 * The local Docker engine, driven through Debian's client (`/usr/bin/docker` matches Debian's daemon;
 * a newer client elsewhere on PATH may speak an API version the daemon refuses).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export const dockerBin = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

export class DockerError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(
      `docker ${args.slice(0, 4).join(' ')}${args.length > 4 ? ' …' : ''} failed (${code}): ${stderr.trim().split('\n').slice(-5).join('\n')}`,
    );
  }
}

/** Longer than any one docker command of the harness takes on a loaded machine: a hung one fails, naming itself. */
const DEFAULT_TIMEOUT_MS = 240_000;

/** Runs `docker ARGS`, resolving with its stdout; rejects with DockerError on a non-zero exit or at its deadline. */
export function docker(
  args: readonly string[],
  options: { input?: string | Buffer; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(dockerBin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(out).toString());
      else
        reject(
          new DockerError(
            args,
            code,
            `${timedOut ? `timed out after ${timeoutMs / 1000} s\n` : ''}${Buffer.concat(err).toString()}`,
          ),
        );
    });
    child.stdin.end(options.input);
  });
}

/** Runs a shell script inside a container (the container's own `sh`), returning stdout. */
export function dockerExec(
  container: string,
  script: string,
  options: { user?: string; input?: string } = {},
): Promise<string> {
  const user = options.user ? ['--user', options.user] : [];
  return docker(
    ['exec', ...(options.input !== undefined ? ['-i'] : []), ...user, container, 'sh', '-c', script],
    options,
  );
}

/** The image a sandbox host's `live` container was started from, as its own docker says. */
export async function liveImage(container: string): Promise<string> {
  const [live] = JSON.parse(await dockerExec(container, 'docker inspect live')) as { Config: { Image: string } }[];
  return live!.Config.Image;
}

/** Pipes `docker save IMAGE` of the outer engine into `docker load` inside a container. */
export function pipeImage(image: string, container: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const save = execFile(dockerBin, ['save', image], { encoding: 'buffer', maxBuffer: 1 << 30 });
    const load = spawn(dockerBin, ['exec', '-i', container, 'docker', 'load', '-q'], {
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    save.stdout!.pipe(load.stdin);
    load.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`docker load into ${container} failed (${code})`)),
    );
  });
}

const CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
] as const;

/**
 * The `docker run` flags that let a container run its own dockerd. `--privileged` asks runc for every
 * capability, and fails where the bounding set lacks one (this sandbox lacks CAP_SYS_RESOURCE); there
 * we add all, drop the missing ones, and lift the confinement `--privileged` would have lifted.
 */
export function dockerInDockerFlags(status = readFileSync('/proc/self/status', 'utf8')): string[] {
  const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (!hex) return ['--privileged'];
  const bounding = BigInt(`0x${hex}`);
  const missing = CAPABILITIES.filter((_, bit) => ((bounding >> BigInt(bit)) & 1n) === 0n);
  if (missing.length === 0) return ['--privileged'];
  return [
    '--cap-add',
    'ALL',
    ...missing.flatMap((cap) => ['--cap-drop', cap]),
    '--security-opt',
    'seccomp=unconfined',
    '--security-opt',
    'apparmor=unconfined',
    '--security-opt',
    'systempaths=unconfined',
  ];
}
