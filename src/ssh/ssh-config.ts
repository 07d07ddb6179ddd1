/**
 * The OpenSSH client configuration (`~/.ssh/config`, or `ssh.config`), read as ssh reads it for the
 * hosts Baton connects to: `Host` blocks in file order, patterns with `*`, `?` and `!negation`, and for
 * each option the first value found wins (IdentityFile accumulates). `Include` is followed; `Match`
 * blocks are skipped. The options Baton uses: HostName, User, Port, IdentityFile, ProxyJump (several
 * hops), UserKnownHostsFile, StrictHostKeyChecking. ProxyCommand cannot be honoured (Baton opens its
 * tunnels itself): a host that needs it is refused, naming the file and line.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';

interface Block {
  readonly patterns: readonly string[];
  /** The patterns of the blocks an Include sat in: each must match too. */
  readonly within?: readonly (readonly string[])[];
  /** Lower-case option → its arguments, with where it was written. */
  readonly options: readonly { key: string; args: string[]; where: string }[];
}

export interface SshHostConfig {
  readonly hostName?: string;
  readonly user?: string;
  readonly port?: number;
  readonly identityFiles: readonly string[];
  /** The hops, in order: `user@host:port` specs as ProxyJump writes them. */
  readonly proxyJump?: readonly string[];
  readonly userKnownHostsFile?: string;
  readonly strictHostKeyChecking?: string;
  /** Where each option came from (`~/.ssh/config:12`), for messages. */
  readonly from: Readonly<Record<string, string>>;
}

export class SshConfig {
  private constructor(
    readonly file: string,
    private readonly blocks: readonly Block[],
  ) {}

  /** The user's configuration: `file` when given, else ~/.ssh/config when it exists (else an empty one). */
  static load(file?: string): SshConfig {
    const path = file ?? join(homedir(), '.ssh', 'config');
    if (!file && !existsSync(path)) return new SshConfig(path, []);
    return new SshConfig(path, parse(path, 0));
  }

  static parse(text: string, file: string): SshConfig {
    return new SshConfig(file, parseText(text, file, 0));
  }

  /** The options for `host` (the name Baton connects to), ssh's tokens expanded. */
  lookup(host: string, defaults: { user: string; port: number }): SshHostConfig {
    const first = new Map<string, { args: string[]; where: string }>();
    const identities: string[] = [];
    let identityWhere = '';
    for (const block of this.blocks) {
      if (!matches(block.patterns, host) || !(block.within ?? []).every((p) => matches(p, host))) continue;
      for (const o of block.options) {
        if (o.key === 'identityfile') {
          identities.push(o.args[0]!);
          identityWhere ||= o.where;
        } else if (!first.has(o.key)) first.set(o.key, o);
      }
    }
    const proxyCommand = first.get('proxycommand');
    if (proxyCommand && proxyCommand.args.join(' ').toLowerCase() !== 'none') {
      throw new ConfigError(
        'ssh.config',
        `${proxyCommand.where}: ProxyCommand for ${host} is not supported: Baton opens its own tunnels; use ProxyJump instead`,
      );
    }
    const hostName = first.get('hostname')?.args[0]?.replace(/%h/g, host);
    const user = first.get('user')?.args[0];
    const portText = first.get('port')?.args[0];
    const port = portText === undefined ? undefined : Number(portText);
    if (portText !== undefined && (!Number.isInteger(port) || port! < 1 || port! > 65535))
      throw new ConfigError(
        'ssh.config',
        `${first.get('port')!.where}: Port ${JSON.stringify(portText)} is not a port`,
      );
    const tokens = (text: string) =>
      expandTilde(
        text.replace(/%([%dhpru])/g, (_, t: string) => {
          switch (t) {
            case '%':
              return '%';
            case 'd':
              return homedir();
            case 'h':
              return hostName ?? host;
            case 'p':
              return String(port ?? defaults.port);
            case 'r':
              return user ?? defaults.user;
            default:
              return userInfo().username;
          }
        }),
      );
    const jump = first.get('proxyjump')?.args.join(' ');
    const from: Record<string, string> = {};
    for (const [key, o] of first) from[key] = o.where;
    if (identities.length) from.identityfile = identityWhere;
    return {
      ...(hostName && { hostName }),
      ...(user && { user }),
      ...(port !== undefined && { port }),
      identityFiles: identities.map(tokens),
      ...(jump &&
        jump.toLowerCase() !== 'none' && {
          proxyJump: jump
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        }),
      ...(first.has('userknownhostsfile') && { userKnownHostsFile: tokens(first.get('userknownhostsfile')!.args[0]!) }),
      ...(first.has('stricthostkeychecking') && {
        strictHostKeyChecking: first.get('stricthostkeychecking')!.args[0]!.toLowerCase(),
      }),
      from,
    };
  }
}

/** `user@host:port` as ProxyJump and ssh take it. */
export function parseJump(spec: string): { user?: string; host: string; port?: number } {
  const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(spec);
  if (!m) throw new ConfigError('ssh.config', `ProxyJump ${JSON.stringify(spec)} is not [user@]host[:port]`);
  return { ...(m[1] && { user: m[1] }), host: m[2]!.replace(/^\[|\]$/g, ''), ...(m[3] && { port: Number(m[3]) }) };
}

function expandTilde(path: string): string {
  return path === '~' ? homedir() : path.startsWith('~/') ? join(homedir(), path.slice(2)) : path;
}

/** ssh's patterns: `*` and `?` wildcards, `!` negation; a negated match excludes the host outright. */
function matches(patterns: readonly string[], host: string): boolean {
  let matched = false;
  for (const p of patterns) {
    const negated = p.startsWith('!');
    const glob = new RegExp(
      `^${(negated ? p.slice(1) : p)
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
      'i',
    );
    if (glob.test(host)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function parse(file: string, depth: number): Block[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('ssh.config', `cannot read ${file}: ${(error as Error).message}`);
  }
  return parseText(text, file, depth);
}

function parseText(text: string, file: string, depth: number): Block[] {
  if (depth > 8) throw new ConfigError('ssh.config', `${file}: Include nests too deep`);
  // Options before any Host line apply to every host, as if under `Host *`.
  const blocks: {
    patterns: readonly string[];
    within?: readonly (readonly string[])[];
    options: { key: string; args: string[]; where: string }[];
    skip?: boolean;
  }[] = [{ patterns: ['*'], options: [] }];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(\S+?)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    if (!m) return;
    const key = m[1]!.toLowerCase();
    const args = splitArgs(m[2]!);
    const where = `${file}:${i + 1}`;
    if (key === 'host') return void blocks.push({ patterns: args, options: [] });
    if (key === 'match') return void blocks.push({ patterns: [], options: [], skip: true });
    if (key === 'include') {
      const parent = blocks.at(-1)!;
      for (const pattern of args) {
        const path = isAbsolute(expandTilde(pattern))
          ? expandTilde(pattern)
          : resolve(join(homedir(), '.ssh'), pattern);
        for (const included of globFiles(path)) {
          // As ssh reads it: the file's leading options belong to the enclosing block; its Host blocks
          // apply only where the enclosing block does; after it, the enclosing block goes on.
          const [lead, ...rest] = parse(included, depth + 1);
          blocks.push({ patterns: parent.patterns, within: parent.within, options: [...lead!.options] });
          for (const b of rest)
            blocks.push({
              patterns: b.patterns,
              within: [...(b.within ?? []), parent.patterns],
              options: [...b.options],
            });
        }
      }
      blocks.push({ patterns: parent.patterns, within: parent.within, options: [] });
      return;
    }
    blocks.at(-1)!.options.push({ key, args, where });
  });
  return blocks.filter((b) => !b.skip);
}

function splitArgs(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2]!);
  return out;
}

function globFiles(path: string): string[] {
  if (!/[*?]/.test(path)) return existsSync(path) ? [path] : [];
  const dir = dirname(path);
  const base = new RegExp(
    `^${path
      .slice(dir.length + 1)
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  try {
    return readdirSync(dir)
      .filter((f) => base.test(f))
      .sort()
      .map((f) => join(dir, f));
  } catch {
    return [];
  }
}
