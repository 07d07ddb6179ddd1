/**
 * What a command that acts on the fleet holds while it runs, opened once and closed together: the
 * deployment's state store, the event bus and the reporter drawing it, and the interrupt that signals,
 * closed pipes and crashes are routed to (lifecycle.ts). `await using` closes it: the process's
 * handlers first, then the store, then the reporter's last frame.
 */
import type { DeployConfig } from '../config/index.ts';
import { EventBus } from '../events/events.ts';
import { chooseReporter, type ReporterName } from '../report/choose.ts';
import { InterruptController } from '../rollout/interrupt.ts';
import { openStateStore, type StateStore } from '../state/store.ts';
import { guardProcess } from './lifecycle.ts';

export interface RunSession extends AsyncDisposable {
  readonly store: StateStore;
  readonly events: EventBus;
  readonly interrupt: InterruptController;
}

export async function openRunSession(config: DeployConfig, reporter: ReporterName): Promise<RunSession> {
  const store = await openStateStore(config);
  const events = new EventBus();
  const drawing = chooseReporter(reporter, events);
  const interrupt = new InterruptController();
  const stopListening = guardProcess(interrupt, events);
  return {
    store,
    events,
    interrupt,
    async [Symbol.asyncDispose]() {
      stopListening();
      store.close();
      await drawing.close();
    },
  };
}
