/** A deploy's record: its ledger (lock, journal, history) and webhook, and what losing the lock means for it. */
import type { DeployConfig } from '../config/index.ts';
import type { EventBus } from '../events/events.ts';
import { notifyWebhook } from '../report/notify.ts';
import type { InterruptController } from '../rollout/interrupt.ts';
import { RunLedger } from '../state/ledger.ts';
import type { StateStore } from '../state/store.ts';
import type { RemoteRun } from './remote-run.ts';
import { ciBuild, deployerName, replayOf, runId, type ReplayFlags } from './run-identity.ts';

/** When the lock is lost: say what that means for this run, and stop it after the hosts in flight. */
function stopOnLostLock(events: EventBus, interrupt: InterruptController) {
  return (why: string, fenced: boolean) => {
    events.emit({
      type: 'warning',
      message: fenced
        ? `this run lost the deploy lock (${why}): another run may own the fleet now, so this one changes nothing more (no new change, no undo); what it left open stays in the journal for that run`
        : why.startsWith('it was released by force')
          ? `this run lost the deploy lock (${why}): stopping after the hosts in flight, undoing the guards`
          : `this run cannot renew the deploy lock (${why}): stopping after the hosts in flight; it changes and undoes nothing until a renewal succeeds`,
    });
    interrupt.request();
  };
}

/** The run's ledger (lock, journal, history) and webhook: who runs what, where, from which build. */
export function recordRun(r: {
  store: StateStore;
  events: EventBus;
  interrupt: InterruptController;
  config: DeployConfig;
  options: ReplayFlags & { readonly rollback?: boolean; readonly listHosts?: boolean };
  flags: { readonly webhook?: URL | undefined; readonly lockWaitMs: number };
  deployment: string;
  image: string | undefined;
  personal: RemoteRun | undefined;
}) {
  const { config, options, events } = r;
  const deployer = deployerName();
  const kind = options.rollback ? 'rollback' : 'deploy';
  const build = ciBuild();
  const notifier =
    r.flags.webhook &&
    !options.listHosts &&
    notifyWebhook(r.flags.webhook, events, {
      stack: config.stack,
      release: config.release,
      deployment: r.deployment,
      deployer,
      kind,
      ...(build && { build }),
    });
  const startedAt = new Date();
  const ledger = new RunLedger(
    r.store,
    {
      id: runId(startedAt),
      kind,
      deployer,
      deployment: r.deployment,
      ...(r.image && { image: r.image }),
      ...(r.personal && { branch: r.personal.branch }),
      ...(build && { build }),
      startedAt: startedAt.toISOString(),
      replay: replayOf(options, config),
    },
    events,
    { waitMs: r.flags.lockWaitMs, signal: r.interrupt.stopSignal, onLost: stopOnLostLock(events, r.interrupt) },
  );
  return { ledger, notifier, deployer };
}
