/**
 * What tasks see of a host: run a command, fetch a URL on the host itself. The SSH transport implements
 * it (through the bastion); tests of pure logic may implement it in memory.
 */
import type { Command } from './command.ts';

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export interface ExecOptions {
  /** Written to the command's stdin, then closed. The channel for secrets: never argv. */
  readonly stdin?: string | Buffer;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface RemoteHost {
  readonly name: string;
  /** Runs a command; rejects with RemoteCommandError on a non-zero exit, TimeoutError on the deadline. */
  exec(command: Command, options?: ExecOptions): Promise<ExecResult>;
  /**
   * An HTTP GET to 127.0.0.1:`port` on the host: tunnelled through the SSH connection, or run on the
   * host (curl or wget) where sshd refuses forwarding. Rejects when no answer came (connection refused,
   * timeout); `NoHttpClientError` when the host can be reached neither way.
   */
  httpGet(port: number, path: string, timeoutMs: number): Promise<HttpAnswer>;
}

export interface HttpAnswer {
  readonly status: number;
  /** Empty when the request ran on the host. */
  readonly body: string;
  /** How the request reached the host. */
  readonly via?: 'tunnel' | 'on-host';
}

/** Open connections to every targeted host; `await using` closes them (hosts first, then the bastion). */
export interface FleetConnection extends AsyncDisposable {
  host(name: string): RemoteHost;
  close(): Promise<void>;
}
