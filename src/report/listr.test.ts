import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DeployEvent, Timed } from '../events/events.ts';
import { listrReporter } from './listr.ts';

const at = (e: DeployEvent): Timed<DeployEvent> => ({ ...e, at: 0 });

/** Feeds events to the terminal view; returns what it wrote itself and what listr2 drew on stdout and stderr (not a TTY: a line per change). */
async function draw(events: DeployEvent[], { atOnce = false } = {}): Promise<{ ours: string; drawn: string }> {
  const terminal = new PassThrough();
  let ours = '';
  terminal.on('data', (b: Buffer) => (ours += b.toString()));
  let drawn = '';
  for (const stream of [process.stdout, process.stderr])
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      drawn += chunk.toString();
      return true;
    });
  const view = listrReporter(terminal);
  for (const e of events) {
    view(at(e));
    // Between events, listr2 may draw; at once, the run's last events come before it reaches later batches.
    if (!atOnce || e.type === 'run-started') await new Promise((r) => setImmediate(r));
  }
  await view.finished;
  await new Promise((r) => setImmediate(r));
  return { ours, drawn };
}

afterEach(() => vi.restoreAllMocks());

const step = (step: string, status: 'started' | 'ok' | 'failed' | 'skipped', more: object = {}): DeployEvent => ({
  type: 'step',
  scope: 'run',
  step,
  status,
  ...more,
});
const hostStep = (host: string, step: string, status: 'started' | 'ok' | 'failed', more: object = {}): DeployEvent => ({
  type: 'step',
  scope: 'host',
  host,
  step,
  status,
  ...more,
});

/** The run-started event of a run over `batches` of hosts, each host taking `steps`. */
const started = (
  batches: string[][],
  steps: string[],
  more: { preTasks?: string[]; check?: boolean } = {},
): DeployEvent => ({
  type: 'run-started',
  playbook: 'rolling',
  image: 'app:v2',
  deployment: 'sandbox',
  hosts: batches.flat(),
  batches,
  preTasks: more.preTasks ?? [],
  steps,
  check: more.check ?? false,
});

describe('the terminal view', () => {
  it('draws the run as its tree, settles each step from its event, fails a host and its batch with a failed step, and prints the outcome under it', async () => {
    const { ours, drawn } = await draw([
      started([['app-1'], ['app-2']], ['deregister', 'replace'], { preTasks: ['suspend autoscaling'] }),
      step('connect', 'ok', { ms: 1200 }),
      step('discover', 'ok', { ms: 300, detail: '2 hosts\nmore' }),
      step('check: suspend autoscaling', 'ok'),
      step('suspend autoscaling', 'ok', { ms: 40 }),
      hostStep('app-1', 'deregister', 'ok', { ms: 2000 }),
      hostStep('app-1', 'replace', 'ok', { ms: 3000 }),
      hostStep('app-2', 'deregister', 'ok', { ms: 2000 }),
      hostStep('app-2', 'roll back', 'ok', { ms: 10 }),
      hostStep('app-2', 'replace', 'failed', { ms: 500, detail: 'health check failed' }),
      { type: 'warning', message: 'alarms left silenced' },
      step('resume autoscaling', 'ok', { ms: 30 }),
      {
        type: 'run-finished',
        outcome: 'failed',
        exitCode: 1,
        ms: 9000,
        hosts: [],
        maxRssKb: 1,
      },
    ]);
    expect(drawn.split('\n')).toEqual([
      '❯ connect',
      '✔ connect (1.2s)',
      '❯ discover',
      '✔ discover (300ms): 2 hosts',
      '❯ check: suspend autoscaling',
      '✔ check: suspend autoscaling',
      '❯ suspend autoscaling',
      '✔ suspend autoscaling (40ms)',
      '❯ batch 1/2: app-1',
      '❯ app-1',
      '❯ deregister',
      '❯ replace',
      '✔ deregister (2.0s)',
      '✔ replace (3.0s)',
      '✔ app-1',
      '✔ batch 1/2: app-1',
      '❯ batch 2/2: app-2',
      '❯ app-2',
      '❯ deregister',
      '❯ replace',
      '✔ deregister (2.0s)',
      '› roll back: ok (10ms)',
      '✖ replace (500ms) [FAILED: health check failed]',
      '✖ app-2 [FAILED: app-2 failed]',
      '✖ batch 2/2: app-2 [FAILED: 1 of 1 hosts failed: app-2]',
      '',
    ]);
    expect(ours).toContain('WARNING: alarms left silenced\n');
    expect(ours).toContain('resume autoscaling: ok (30ms)\nfailed in 9.0s (exit 1)\n');
  });

  it('finishes drawing when the run stops before its later batches: their steps are shown as not run', async () => {
    const { ours, drawn } = await draw([
      started([['app-1'], ['app-2']], ['deregister', 'replace']),
      step('connect', 'ok'),
      step('discover', 'ok'),
      hostStep('app-1', 'deregister', 'ok'),
      hostStep('app-1', 'replace', 'failed', { detail: 'health check failed' }),
      { type: 'run-finished', outcome: 'rolled-back', exitCode: 1, ms: 3000, hosts: [], maxRssKb: 1 },
    ]);
    expect(drawn).toContain('✖ batch 1/2: app-1 [FAILED: 1 of 1 hosts failed: app-1]');
    expect(ours).toContain('rolled-back in 3.0s (exit 1)\n');
  });

  it('finishes drawing when the run finished before listr2 reached its later batches (it waited forever)', async () => {
    const events: DeployEvent[] = [
      started([['app-1'], ['app-2'], ['app-3']], ['deregister', 'replace']),
      step('connect', 'ok'),
      step('discover', 'ok'),
      hostStep('app-1', 'deregister', 'ok'),
      hostStep('app-1', 'replace', 'failed', { detail: 'health check failed' }),
      { type: 'run-finished', outcome: 'rolled-back', exitCode: 1, ms: 3000, hosts: [], maxRssKb: 1 },
    ];
    const { ours, drawn } = await draw(events, { atOnce: true });
    expect(drawn).toContain('✖ batch 1/3: app-1 [FAILED: 1 of 1 hosts failed: app-1]');
    expect(drawn).toContain('↓ batch 2/3: app-2 [SKIPPED: batch 2/3: not run (app-2)]');
    expect(drawn).toContain('↓ batch 3/3: app-3 [SKIPPED: batch 3/3: not run (app-3)]');
    expect(drawn).toContain('↓ replace [SKIPPED: not run]');
    expect(ours).toContain('rolled-back in 3.0s (exit 1)\n');
  }, 5_000);

  it('prints a plan for --check, and says what could not be undone with its fix', async () => {
    const { ours } = await draw([
      started([['app-1']], [], { check: true }),
      {
        type: 'plan',
        preTasks: [{ step: 'suspend autoscaling', would: 'suspend Launch, Terminate' }],
        hosts: [{ host: 'app-1', batch: 1, from: 'app:v1', steps: [{ step: 'replace', would: 'run app:v2' }] }],
      },
      { type: 'undo-failed', what: 'alarms', error: 'throttled', fix: 'aws cloudwatch enable-alarm-actions' },
    ]);
    expect(ours).toBe(
      'plan: batch 1: app-1\n' +
        'would suspend autoscaling: suspend Launch, Terminate\n' +
        'batch 1, app-1 (now app:v1):\n' +
        '  replace: run app:v2\n' +
        '!!! NOT UNDONE: alarms: throttled\n!!! fix it by hand with:\naws cloudwatch enable-alarm-actions\n',
    );
  });
});
