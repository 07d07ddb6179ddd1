/**
 * What every kind of change a run makes to the fleet must say and do, in one place per kind: how it
 * reads in the journal, the command an operator runs to undo it by hand, the step that undoes it, what
 * `recover --check` says it would do, and its undo, which needs nothing of the run that made it (the
 * run's own undo at its end and `baton recover` after a crash are the same code). Each kind is a module
 * beside this one; index.ts registers them in a type mapped over the kinds, so a kind that lacks one of
 * these, or a kind with no module, does not compile.
 */
import type { Clock } from '../clock.ts';
import type { AwsServices } from '../aws/services.ts';
import type { DeployConfig } from '../config/types.ts';
import type { Host } from '../inventory/host.ts';
import type { RemoteHost } from '../remote/host.ts';

/** Enough of a host to reach it again without its inventory: what the journal keeps of it. */
export type JournalHost = Pick<Host, 'name' | 'address' | 'instanceId' | 'ssh'>;

export const journalHost = (h: Host): JournalHost => ({
  name: h.name,
  address: h.address,
  ...(h.instanceId && { instanceId: h.instanceId }),
  ...(h.ssh && { ssh: h.ssh }),
});

/** "web-1 (i-0abc)", or the name alone when it is the instance id (or there is none). */
export const hostLabel = (h: JournalHost) =>
  h.instanceId && h.instanceId !== h.name ? `${h.name} (${h.instanceId})` : h.name;

/** What an undo may use: the configuration, the AWS adapters, a connection to a host, a signal. */
export interface UndoContext {
  readonly config: DeployConfig;
  readonly aws: AwsServices;
  /** The change's host, connected (once per host, by whoever provides the context). */
  reach(host: JournalHost): Promise<RemoteHost>;
  readonly signal: AbortSignal;
  /** The run's clock: health checks and load balancer waits are timed on it. */
  readonly clock?: Clock;
}

export interface ChangeKind<C> {
  /** In an operator's words, as the journal keeps it: "web-1 (i-0abc) out of target group api". */
  describe(change: C): string;
  /** The command an operator runs to undo it by hand, shell-quoted. */
  fix(change: C, region: string): string;
  /** The step that undoes it, as progress shows it: "resume autoscaling". */
  readonly undoStep: string;
  /** What undoing it does, for `recover --check`; `what` is the journal's description. */
  wouldUndo(change: C, what: string): string;
  /** The host it was made on, for a change made on one. */
  host?(change: C): JournalHost;
  /** Undoes it; resolves with what it did, in words, when there is more to say than the step's name. */
  undo(change: C, ctx: UndoContext): Promise<string | void>;
}
