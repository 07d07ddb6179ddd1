/** Small pieces of an SSH command's life: how an interrupt reads, stopping a channel, stderr's tail. */
import type { ClientChannel } from 'ssh2';
import { BatonError, InterruptedError } from '../errors.ts';

/** Lines of stderr an error quotes. */
const TAIL_LINES = 20;

/** Why an aborted call stopped: the signal's reason when it is one of ours, else an InterruptedError. */
export function interrupted(signal: AbortSignal, what: string): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof BatonError) return reason;
  return new InterruptedError(`${what}: interrupted`, { cause: reason });
}

/** Stops a channel: KILL to the command (sshd may ignore it without a pty), then close. */
export function kill(channel: ClientChannel): void {
  try {
    channel.signal('KILL');
  } catch {
    // the channel may be gone already
  }
  try {
    channel.close();
  } catch {
    // likewise
  }
}

export function tail(text: string, lines = TAIL_LINES): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

export function lastLine(text: string): string | undefined {
  return text.trim().split('\n').at(-1) || undefined;
}
