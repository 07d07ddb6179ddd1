/**
 * The terminal view: listr2 draws the run as a tree (set-up steps, pre-tasks, batches, hosts, steps)
 * with spinners and timings. It mirrors the event stream: each listr task waits on the event that
 * settles its step, so the executor never knows it is being drawn.
 */
import { Listr, type ListrTask } from 'listr2';
import { formatMs } from '../errors.ts';
import { gateTrippedText, type DeployEvent, type EventListener, type Timed } from '../events/events.ts';
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
  const view = new TreeView(terminal);
  return Object.assign((e: Timed<DeployEvent>) => view.on(e), {
    get finished() {
      return view.finished;
    },
  });
}

class TreeView {
  /** Everything written here passes through printable(): no outside text drives the terminal. */
  private readonly out: { write(text: string): void };
  private readonly slots = new Map<string, Slot>();
  private list: Listr | undefined;
  finished: Promise<void> = Promise.resolve();
  /** Run-level steps that happen after the tree (the guards' undo), printed under it. */
  private readonly after: string[] = [];
  /** Steps the run never reached (by key): a host or batch with nothing else is drawn as not run. */
  private readonly notRun = new Set<string>();
  /** Hosts with a step drawn as failed: their host and batch are drawn failed too. */
  private readonly failedHosts = new Set<string>();

  constructor(terminal: NodeJS.WritableStream) {
    this.out = { write: (text: string) => terminal.write(printable(text)) };
  }

  on(e: Timed<DeployEvent>): void {
    switch (e.type) {
      case 'run-started':
        if (e.check) this.out.write(`plan: ${e.batches.map((b, i) => `batch ${i + 1}: ${b.join(', ')}`).join('; ')}\n`);
        else this.draw(e);
        return;
      case 'step':
        if (e.status !== 'started') this.settle(e);
        return;
      case 'run-finished':
        return this.finish(e);
      case 'plan':
        return this.plan(e);
      case 'warning':
        return this.out.write(`WARNING: ${e.message}\n`);
      case 'gate-tripped':
        return this.out.write(`WARNING: ${gateTrippedText(e)}\n`);
      case 'undo-failed':
        return this.out.write(`!!! NOT UNDONE: ${e.what}: ${e.error}\n!!! fix it by hand with:\n${e.fix}\n`);
    }
  }

  /** The whole tree, drawn in advance: set-up steps, checks, pre-tasks, then batches of hosts of steps. */
  private draw(e: Extract<DeployEvent, { type: 'run-started' }>): void {
    const tasks: ListrTask[] = [
      this.declare('connect'),
      this.declare('discover'),
      ...e.preTasks.map((t) => this.declare(`check: ${t}`)),
      ...e.preTasks.map((t) => this.declare(t)),
      ...e.batches.map((hosts, i) => this.batch(hosts, `batch ${i + 1}/${e.batches.length}`, e.steps)),
    ];
    this.list = new Listr(tasks, {
      exitOnError: false,
      concurrent: false,
      rendererOptions: { collapseSubtasks: false, collapseErrors: false },
    });
    this.finished = this.list.run().then(
      () => undefined,
      () => undefined,
    );
  }

  /**
   * A batch of hosts side by side, each with its steps. A host with a failed step is drawn failed, and
   * so is its batch, naming the hosts: listr2 would draw both as done, whatever their steps did.
   */
  private batch(hosts: readonly string[], title: string, steps: readonly string[]): ListrTask {
    // Every step is declared now, so an event that comes before listr2 reaches its task is kept for it.
    const stepsOf = new Map(hosts.map((h) => [h, steps.map((s) => this.declare(s, h))]));
    const neverReached = (h: string) => steps.every((s) => this.notRun.has(key(h, s)));
    const host = (h: string): ListrTask => ({
      title: printable(h, { oneLine: true }),
      task: async (_: unknown, w: Wrapper) => {
        await w
          .newListr(stepsOf.get(h)!, { exitOnError: true })
          .run()
          .catch(() => undefined);
        if (this.failedHosts.has(h)) throw new Error(printable(`${h} failed`, { oneLine: true }));
        if (neverReached(h)) w.skip(printable(`${h}: not run`, { oneLine: true }));
      },
    });
    return {
      title: printable(`${title}: ${hosts.join(', ')}`),
      task: async (_: unknown, w: Wrapper) => {
        await w
          .newListr(hosts.map(host), { concurrent: true, exitOnError: false })
          .run()
          .catch(() => undefined);
        const failed = hosts.filter((h) => this.failedHosts.has(h));
        if (failed.length)
          throw new Error(printable(`${failed.length} of ${hosts.length} hosts failed: ${failed.join(', ')}`));
        if (hosts.every(neverReached)) w.skip(printable(`${title}: not run (${hosts.join(', ')})`));
      },
    };
  }

  /** A listr task that stays open until the step's ok/failed/skipped event arrives. */
  private declare(title: string, host?: string): ListrTask {
    const slot: Slot = { settle: (e) => (slot.early = e), done: false };
    this.slots.set(key(host, title), slot);
    return {
      title,
      task: (_: unknown, wrapper: Wrapper) =>
        new Promise<void>((resolve, reject) => {
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
    } as ListrTask;
  }

  private settle(e: StepEvent): void {
    const host = e.scope === 'host' ? e.host : undefined;
    if (e.status === 'failed' && host !== undefined) this.failedHosts.add(host);
    const slot = this.slots.get(key(host, e.step));
    if (slot) return slot.settle(e);
    // A step not drawn in advance (a compensation, an undo): shown as output of what is running.
    const line = `${e.step}: ${e.status}${e.ms !== undefined ? ` (${formatMs(e.ms)})` : ''}`;
    const running = [...this.slots.entries()].find(
      ([k, s]) => !s.done && s.wrapper && (host === undefined || k.startsWith(`${host}\u0000`)),
    );
    if (running) running[1].wrapper!.output = printable(line);
    else if (this.list) this.after.push(line);
    else this.out.write(`${line}${e.detail ? ` — ${e.detail}` : ''}\n`);
  }

  private finish(e: Extract<DeployEvent, { type: 'run-finished' }>): void {
    // Steps the run never reached (a stopped rollout) are shown as skipped; one whose outcome came before
    // listr2 reached it keeps that outcome.
    for (const [k, slot] of this.slots)
      if (!slot.done && !slot.early) {
        this.notRun.add(k);
        slot.settle(notRun(k));
      }
    void this.finished.then(() => {
      for (const line of this.after) this.out.write(`${line}\n`);
      this.out.write(`${e.outcome} in ${formatMs(e.ms)} (exit ${e.exitCode})\n`);
      if (e.hosts.length) this.out.write(summaryTable(e.hosts));
    });
  }

  private plan(e: Extract<DeployEvent, { type: 'plan' }>): void {
    for (const t of e.preTasks) this.out.write(`would ${t.step}: ${t.would}\n`);
    for (const h of e.hosts) {
      this.out.write(`batch ${h.batch}, ${h.host} (now ${h.from ?? 'no live container'}):\n`);
      for (const s of h.steps) this.out.write(`  ${s.step}: ${s.would}\n`);
    }
  }
}

const notRun = (step: string): StepEvent => ({
  type: 'step',
  scope: 'run',
  step,
  status: 'skipped',
  detail: 'not run',
});
const key = (host: string | undefined, step: string) => `${host ?? ''}\u0000${step}`;
