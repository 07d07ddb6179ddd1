/**
 * The terminal view: listr2 draws the run as a tree (set-up steps, pre-tasks, batches, hosts, steps)
 * with spinners and timings. It mirrors the event stream: each listr task waits on the event that
 * settles its step, so the executor never knows it is being drawn.
 */
import { Listr, type ListrTask } from 'listr2';
import { formatMs } from '../errors.ts';
import type { DeployEvent, EventListener, Timed } from '../events/events.ts';
import { summaryTable } from './plain.ts';
import { printable } from '../printable.ts';

type Wrapper = Parameters<ListrTask['task']>[1];
type StepEvent = Extract<DeployEvent, { type: 'step' }>;
interface Slot {
  settle(e: StepEvent): void;
  /** The step's outcome when it arrived before listr started drawing the task. */
  early?: StepEvent;
  wrapper?: Wrapper;
  done: boolean;
}

export function listrReporter(terminal: NodeJS.WritableStream): EventListener & { finished: Promise<void> } {
  // Everything written here passes through printable(): no outside text drives the terminal.
  const out = { write: (text: string) => terminal.write(printable(text)) };
  const slots = new Map<string, Slot>();
  const key = (host: string | undefined, step: string) => `${host ?? ''}\u0000${step}`;
  let list: Listr | undefined;
  let finished: Promise<void> = Promise.resolve();
  /** Run-level steps that happen after the tree (the guards' undo), printed under it. */
  const after: string[] = [];

  /** A listr task that stays open until the step's ok/failed/skipped event arrives. */
  const mirrored = (title: string, host?: string): ListrTask =>
    ({
      title,
      task: (_: unknown, wrapper: Wrapper) =>
        new Promise<void>((resolve, reject) => {
          const slot = slots.get(key(host, title))!;
          slot.wrapper = wrapper;
          slot.settle = (e) => {
            slot.done = true;
            wrapper.title = printable(
              `${title}${e.ms !== undefined ? ` (${formatMs(e.ms)})` : ''}${e.detail && e.status === 'ok' ? `: ${e.detail.split('\n')[0]}` : ''}`,
            );
            if (e.status === 'failed') reject(new Error(printable(e.detail ?? 'failed')));
            else if (e.status === 'skipped') resolve(wrapper.skip(e.detail));
            else resolve();
          };
          if (slot.early) slot.settle(slot.early);
        }),
    }) as ListrTask;
  const declare = (title: string, host?: string): ListrTask => {
    const slot: Slot = { settle: (e) => (slot.early = e), done: false };
    slots.set(key(host, title), slot);
    return mirrored(title, host);
  };

  const listener = (e: Timed<DeployEvent>) => {
    switch (e.type) {
      case 'run-started': {
        if (e.check)
          return void out.write(`plan: ${e.batches.map((b, i) => `batch ${i + 1}: ${b.join(', ')}`).join('; ')}\n`);
        const tasks: ListrTask[] = [
          declare('connect'),
          declare('discover'),
          ...e.preTasks.flatMap((t) => [declare(`check: ${t}`)]),
          ...e.preTasks.map((t) => declare(t)),
          ...e.batches.map((hosts, i) => ({
            title: printable(`batch ${i + 1}/${e.batches.length}: ${hosts.join(', ')}`),
            task: (_: unknown, w: Wrapper) =>
              w.newListr(
                hosts.map((h) => ({
                  title: printable(h, { oneLine: true }),
                  task: (_: unknown, hw: Wrapper) =>
                    hw.newListr(
                      e.steps.map((s) => declare(s, h)),
                      { exitOnError: true },
                    ),
                })),
                { concurrent: true, exitOnError: false },
              ),
          })),
        ];
        list = new Listr(tasks, {
          exitOnError: false,
          concurrent: false,
          rendererOptions: { collapseSubtasks: false, collapseErrors: false },
        });
        finished = list.run().then(
          () => undefined,
          () => undefined,
        );
        return;
      }
      case 'step': {
        const slot = slots.get(key(e.scope === 'host' ? e.host : undefined, e.step));
        if (slot && e.status !== 'started') slot.settle(e);
        else if (!slot && e.status !== 'started') {
          // A step not drawn in advance (a compensation, an undo): shown as output of what is running.
          const line = `${e.step}: ${e.status}${e.ms !== undefined ? ` (${formatMs(e.ms)})` : ''}`;
          const host = e.scope === 'host' ? e.host : undefined;
          const running = [...slots.entries()].find(
            ([k, s]) => !s.done && s.wrapper && (host === undefined || k.startsWith(`${host}\u0000`)),
          );
          if (running) running[1].wrapper!.output = printable(line);
          else if (list) after.push(line);
          else out.write(`${line}${e.detail ? ` — ${e.detail}` : ''}\n`);
        }
        return;
      }
      case 'run-finished':
        // Steps the run never reached (a stopped rollout) are shown as skipped.
        for (const [k, slot] of slots)
          if (!slot.done) slot.settle({ type: 'step', scope: 'run', step: k, status: 'skipped', detail: 'not run' });
        void finished.then(() => {
          for (const line of after) out.write(`${line}\n`);
          out.write(`${e.outcome} in ${formatMs(e.ms)} (exit ${e.exitCode})\n`);
          if (e.hosts.length) out.write(summaryTable(e.hosts));
        });
        return;
      case 'plan':
        for (const t of e.preTasks) out.write(`would ${t.step}: ${t.would}\n`);
        for (const h of e.hosts) {
          out.write(`batch ${h.batch}, ${h.host} (now ${h.from ?? 'no live container'}):\n`);
          for (const s of h.steps) out.write(`  ${s.step}: ${s.would}\n`);
        }
        return;
      case 'warning':
        out.write(`WARNING: ${e.message}\n`);
        return;
      case 'undo-failed':
        out.write(`!!! NOT UNDONE: ${e.what}: ${e.error}\n!!! fix it by hand with:\n${e.fix}\n`);
        return;
    }
  };
  return Object.assign(listener, {
    get finished() {
      return finished;
    },
  });
}
