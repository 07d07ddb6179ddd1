/**
 * Progress is a stream of typed events. The executor emits them; renderers (listr2 in a terminal, plain
 * lines, TeamCity, JSON) subscribe. Tests assert on events, never on terminal output.
 */
import { declarePublic, maskDeep, stringsOf } from '../secrets/mask.ts';

export type StepStatus = 'started' | 'ok' | 'skipped' | 'failed';
export type HostResult = 'deployed' | 'unchanged' | 'rolled-back' | 'failed' | 'not-started';

export type DeployEvent =
  | {
      type: 'run-started';
      playbook: string;
      image: string;
      deployment: string;
      hosts: string[];
      batches: string[][];
      /** The playbook's pre-task and per-host task names, in order: renderers draw them in advance. */
      preTasks: string[];
      steps: string[];
      check: boolean;
    }
  /** A fleet-wide step: inventory, connect, a pre-task such as suspending autoscaling, an undo. */
  | { type: 'step'; scope: 'run'; step: string; status: StepStatus; ms?: number; detail?: string }
  /** A step on one host: deregister, replace, health, register, a compensation. */
  | { type: 'step'; scope: 'host'; host: string; step: string; status: StepStatus; ms?: number; detail?: string }
  /** `--check`: what each pre-task and each host's steps would do, learned read-only. */
  | {
      type: 'plan';
      preTasks: PlannedStep[];
      hosts: { host: string; batch: number; from?: string; steps: PlannedStep[] }[];
    }
  | { type: 'batch'; index: number; of: number; hosts: string[]; status: 'started' | 'finished' }
  | {
      type: 'host-finished';
      host: string;
      result: HostResult;
      oldImage?: string;
      newImage: string;
      oldImageId?: string;
      imageId?: string;
      digest?: string;
      outOfServiceMs: number;
      error?: string;
    }
  | { type: 'warning'; message: string }
  /**
   * The release gate tripped after a batch (rollout/gate.ts): `reason` in words; `subject` is what
   * tripped it (an alarm's name, or a host), stable from one build to the next.
   */
  | { type: 'gate-tripped'; batch: number; of: number; hosts: string[]; reason: string; subject: string }
  /** A guard now held (autoscaling suspended, alarms silenced): undone at the end, or by `fix` if the run dies. */
  | { type: 'guard'; what: string; fix: string }
  /** An undo that failed: the fleet needs an operator, and `fix` is the command that repairs it. */
  | { type: 'undo-failed'; what: string; error: string; fix: string }
  | { type: 'run-finished'; outcome: RunOutcome; exitCode: number; ms: number; hosts: HostSummary[]; maxRssKb: number };

export interface PlannedStep {
  step: string;
  would: string;
}

/** `mixed`: a batch failed and, with `rollout.onFailure: stop`, the hosts switched before it were left on the new image. */
/** `post-task-failed`: every host was deployed and is in service; a post-task failed after the rollout. */
export type RunOutcome =
  'deployed' | 'checked' | 'rolled-back' | 'mixed' | 'failed' | 'interrupted' | 'recovered' | 'post-task-failed';

export interface HostSummary {
  host: string;
  result: HostResult;
  oldImage?: string;
  newImage: string;
  /** The image ids before and after (a tag moves; an id names one image), and the new image's registry digest. */
  oldImageId?: string;
  imageId?: string;
  digest?: string;
  outOfServiceMs: number;
  error?: string;
}

export type Timed<E> = E & { at: number };
/** A tripped gate in words, as every reporter says it. */
export const gateTrippedText = (e: Extract<DeployEvent, { type: 'gate-tripped' }>): string =>
  `the gate tripped after batch ${e.batch}/${e.of} (${e.hosts.join(', ')}): ${e.reason}`;

export type EventListener = (event: Timed<DeployEvent>) => void;

/** A tiny synchronous event bus; listeners that throw are isolated from the run. */
export class EventBus {
  private readonly listeners: EventListener[] = [];
  readonly history: Timed<DeployEvent>[] = [];

  subscribe(listener: EventListener): () => void {
    this.listeners.push(listener);
    return () => this.listeners.splice(this.listeners.indexOf(listener), 1);
  }

  /** Every event is masked here: no reporter, history record or webhook sees a secret value. */
  emit(event: DeployEvent): void {
    const timed = maskDeep({ ...event, at: Date.now() }) as Timed<DeployEvent>;
    this.history.push(timed);
    for (const listener of this.listeners) {
      try {
        listener(timed);
      } catch (error) {
        process.stderr.write(`baton: a progress renderer failed: ${String(error)}\n`);
      }
    }
  }

  /**
   * Names Baton acts on (AWS names, hosts, images, anything in a journal change): printed and stored
   * as they are, so a secret value inside one is unmasked, with one warning saying so.
   */
  declareNames(names: unknown, what?: string): void {
    for (const message of declarePublic(stringsOf(names), what)) this.emit({ type: 'warning', message });
  }

  /** Runs `fn` as a named step, emitting started and ok/failed with its duration. */
  async step<T>(
    where: { host?: string },
    step: string,
    fn: () => Promise<T>,
    detail?: (value: T) => string | undefined,
  ): Promise<T> {
    const scope =
      where.host === undefined ? ({ scope: 'run' } as const) : ({ scope: 'host', host: where.host } as const);
    const started = Date.now();
    this.emit({ type: 'step', ...scope, step, status: 'started' });
    try {
      const value = await fn();
      this.emit({ type: 'step', ...scope, step, status: 'ok', ms: Date.now() - started, detail: detail?.(value) });
      return value;
    } catch (error) {
      this.emit({
        type: 'step',
        ...scope,
        step,
        status: 'failed',
        ms: Date.now() - started,
        detail: (error as Error).message,
      });
      throw error;
    }
  }
}
