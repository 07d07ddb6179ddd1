/**
 * The deploy lock as a fenced lease, against S3 as the real SDK client speaks to it (the emulator,
 * with S3's own faults): a run paused past its lease (SIGSTOP, as a closed laptop lid or a paused VM)
 * changes nothing once it continues, and cannot write the journal the run that took over owns; S3's 409
 * ConditionalRequestConflict is retried, never read as a lost lock; answers lost after a write are
 * recognised; a journal this Baton cannot read is refused and left as it is.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../src/events/events.ts';
import {
  Journal,
  openEntries,
  readJournal,
  UnreadableJournalError,
  type JournalDocument,
} from '../../src/state/journal.ts';
import { RunLedger } from '../../src/state/ledger.ts';
import { acquireLock, forceRelease, inspectLock, type LockIdentity, type LockRecord } from '../../src/state/lock.ts';
import { S3Objects } from '../../src/state/s3-objects.ts';
import { StateStore } from '../../src/state/store.ts';
import { useStateBucket } from '../aws-emulator/s3-bucket.ts';

const bucket = useStateBucket();
let n = 0;
const store = (staleAfter = 60_000, deployment = `lease${++n}`) =>
  new StateStore(
    new S3Objects(bucket.s3, 'baton-state'),
    { prefix: 'baton', staleAfter },
    { stack: 'web', release: 'api', deployment },
  );
const who = (holder: string): LockIdentity => ({
  id: `run-${holder}`,
  holder,
  command: 'deploy registry/app:v2',
  startedAt: new Date().toISOString(),
});
const run = {
  id: 'r1',
  kind: 'deploy' as const,
  deployer: 'alice',
  machine: 'm',
  pid: 1,
  image: 'app:v2',
  startedAt: '2026-12-01T10:00:00.000Z',
  hosts: ['web-1'],
};
const host = { name: 'web-1', address: '10.0.0.1', instanceId: 'i-1' };

/** A run in a process of its own; `ask` sends a line and resolves with the next line it prints that is an answer. */
function startHolder(
  deployment: string,
  staleAfter: number,
): {
  child: ChildProcessWithoutNullStreams;
  lines: string[];
  next: (pattern: RegExp) => Promise<string>;
  ask: (line: string) => Promise<string>;
} {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, 'fixtures', 'lease-holder.ts'),
      bucket.emulator.url,
      deployment,
      String(staleAfter),
    ],
    { stdio: 'pipe' },
  );
  const lines: string[] = [];
  const waiting: { pattern: RegExp; resolve: (l: string) => void }[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    const i = waiting.findIndex((w) => w.pattern.test(line));
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(line);
  });
  const next = (pattern: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const seen = lines.find((l) => pattern.test(l) && !used.has(l));
      if (seen) return (used.add(seen), resolve(seen));
      const timer = setTimeout(
        () => reject(new Error(`no line ${pattern} from the holder; it printed:\n${lines.join('\n')}\n${stderr}`)),
        20_000,
      );
      waiting.push({ pattern, resolve: (l) => (clearTimeout(timer), used.add(l), resolve(l)) });
    });
  const used = new Set<string>();
  const ask = (line: string) => {
    child.stdin.write(`${line}\n`);
    return next(/^(recorded|may change|refused: .*|ended)$/);
  };
  return { child, lines, next, ask };
}

describe('the lease', () => {
  it('a run paused past its lease changes nothing when it continues: another run took over, and owns the journal', async () => {
    const deployment = `paused${++n}`;
    const holder = startHolder(deployment, 2_000);
    try {
      await holder.next(/^held$/);
      expect(await holder.ask('record')).toBe('recorded');
      holder.child.kill('SIGSTOP');
      // Past its lease by the bucket's own clock (whole seconds): the lock is stale, though its process lives.
      const s = store(2_000, deployment);
      let lock = await inspectLock(s);
      const paused = Date.now();
      while (!lock?.stale && Date.now() - paused < 10_000) {
        await new Promise((r) => setTimeout(r, 250));
        lock = await inspectLock(s);
      }
      expect(lock!.stale).toMatch(/^it has not been renewed for/);
      const events = new EventBus();
      const successor = new RunLedger(
        s,
        { id: 'successor', kind: 'recover', deployer: 'sam', deployment, startedAt: new Date().toISOString() },
        events,
      );
      const left = await successor.takeOver();
      expect(openEntries(left).map((e) => e.what)).toEqual(['web-1 (i-1) out of classic ELB web']);
      expect((await inspectLock(s))!.record).toMatchObject({ holder: 'sam', epoch: 2 });
      const ours = await readJournal(s);
      expect(ours!.doc.epoch).toBe(2);

      holder.child.kill('SIGCONT');
      // Whatever it tries first, it is refused: its lease is not proven, and the renewal finds sam's lock.
      expect(await holder.ask('fence')).toMatch(
        /^refused: this run lost the deploy lock \(it is now held by sam \(recover; pid \d+ on .*\)\): it changes nothing more on the fleet/,
      );
      expect(await holder.ask('record')).toMatch(/^refused: this run lost the deploy lock/);
      expect(await holder.next(/^lost: /)).toMatch(/^lost: it is now held by sam .* \(fenced: true\)$/);
      expect(await holder.ask('end')).toBe('ended');
      // Its end wrote nothing over sam's journal or lock.
      expect(await readJournal(s)).toEqual(ours);
      expect((await inspectLock(s))!.record.holder).toBe('sam');
      expect(holder.lines).toContain(
        'warning: this run lost the deploy lock while it ran (it is now held by sam (recover; pid ' +
          process.pid +
          ' on ' +
          (await inspectLock(s))!.record.machine +
          ')): it left the lock and the journal to the run that holds it now',
      );
      await successor.end({ outcome: 'recovered', exitCode: 0, hosts: [] });
    } finally {
      holder.child.kill('SIGCONT');
      holder.child.kill('SIGKILL');
    }
  });

  it('refuses a change once it cannot prove its lease (renewals failing), and allows it again once a renewal succeeds', async () => {
    const s = store(1_000);
    const held = await acquireLock(s, who('olga'));
    const journal = await Journal.start(s, run, undefined, held);
    bucket.emulator.injectFault({ action: 'PutObject', kind: 'error5xx', key: 'lock.json', times: 1_000 });
    try {
      await new Promise((r) => setTimeout(r, 1_000));
      await expect(journal.fence()).rejects.toThrow(
        /^this run cannot prove it still holds the deploy lock .*: its last renewal that succeeded was \d\.\ds ago \(state.staleAfter is 1\.0s\)/,
      );
      await expect(
        journal.record(
          { kind: 'alarms-disabled', alarms: ['a'] },
          'alarm actions disabled: a',
          'aws cloudwatch enable-alarm-actions ...',
        ),
      ).rejects.toThrow(/cannot prove/);
    } finally {
      bucket.emulator.clearFaults();
    }
    await journal.fence();
    expect(openEntries((await readJournal(s))!.doc)).toEqual([]);
    await held.release();
  });
});

describe('a lock released by force', () => {
  it('is taken back by its live run while that run writes its journal: its own writes are never "someone else"', async () => {
    const s = store();
    const lost: [string, boolean][] = [];
    let journal: Journal | undefined;
    const held = await acquireLock(s, who('tia'), {
      onLost: (why, fenced) => lost.push([why, fenced]),
      stillOurs: () => journal!.unchanged(),
    });
    journal = await Journal.start(s, run, undefined, held);
    await forceRelease(s);
    // Its journal writes go on while the renewal finds the lock gone and takes it back.
    const writes = Array.from({ length: 12 }, (_, i) =>
      journal!.record({ kind: 'alarms-disabled', alarms: [`a${i}`] }, `alarm actions disabled: a${i}`, 'fix'),
    );
    await held.renew();
    await Promise.all(writes);
    expect(lost).toEqual([['it was released by force', false]]);
    expect(held.lostBecause).toBeUndefined();
    expect((await inspectLock(s))!.record.holder).toBe('tia');
    expect(openEntries((await readJournal(s))!.doc)).toHaveLength(12);
    await held.release();
  });
});

describe("S3's own faults", () => {
  it('retries 409 ConditionalRequestConflict on renewals and journal writes: never read as a lost lock', async () => {
    const s = store();
    const lost: string[] = [];
    const held = await acquireLock(s, who('pia'), { onLost: (why) => lost.push(why) });
    const journal = await Journal.start(s, run, undefined, held);
    bucket.emulator.injectFault({ action: 'PutObject', kind: 'conflict409', times: 3 });
    await held.renew();
    await journal.record({ kind: 'alarms-disabled', alarms: ['a'] }, 'alarm actions disabled: a', 'fix');
    expect(lost).toEqual([]);
    expect(held.lostBecause).toBeUndefined();
    expect(openEntries((await readJournal(s))!.doc)).toHaveLength(1);
    await held.release();
  });

  it('recognises writes S3 stored but whose answers were lost: the lock, its renewal and the journal stay ours', async () => {
    const s = store(1_000);
    bucket.emulator.injectFault({ action: 'PutObject', kind: 'lost-answer', key: 'lock.json' });
    const held = await acquireLock(s, who('quinn'));
    bucket.emulator.injectFault({ action: 'PutObject', kind: 'lost-answer', key: 'lock.json' });
    await held.renew();
    expect(held.lostBecause).toBeUndefined();
    const journal = await Journal.start(s, run, undefined, held);
    bucket.emulator.injectFault({ action: 'PutObject', kind: 'lost-answer', key: 'journal.json' });
    await journal.record({ kind: 'alarms-disabled', alarms: ['a'] }, 'alarm actions disabled: a', 'fix');
    bucket.emulator.injectFault({ action: 'PutObject', kind: 'latency', ms: 300, key: 'journal.json' });
    await journal.fence();
    expect(openEntries((await readJournal(s))!.doc)).toHaveLength(1);
    expect(await journal.finish()).toHaveLength(1);
    await held.release();
    const calls = (await bucket.emulator.calls()).filter((c) => c.service === 's3' && c.outcome === 'ok, answer lost');
    expect(calls.length).toBeGreaterThanOrEqual(3);
  });
});

describe('the journal format', () => {
  it('refuses a journal of a newer format or with a change it does not know, and leaves it as it is', async () => {
    const s = store();
    const entry = {
      seq: 1,
      what: 'web-1 parked in the green pool',
      fix: 'baton2 unpark web-1',
      openedAt: '2026-12-01T10:00:00.000Z',
    };
    const future: JournalDocument = {
      format: 1,
      run,
      entries: [{ ...entry, change: { kind: 'parked', host } as never }],
    };
    await s.write('journal.json', future);
    const error = await readJournal(s).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnreadableJournalError);
    expect((error as Error).message).toContain(
      'journal.json: the journal holds entry 1 of kind "parked" (web-1 parked in the green pool), which this Baton cannot undo: it was written by a newer Baton',
    );
    await s.write('journal.json', { ...future, format: 2, entries: [] });
    await expect(readJournal(s)).rejects.toThrow('the journal has format 2, and this Baton reads format 1 only');
    // A run refuses to start over it, and leaves it as it was.
    const ledger = new RunLedger(
      s,
      {
        id: 'r9',
        kind: 'deploy',
        deployer: 'rex',
        deployment: s.scope.deployment,
        startedAt: new Date().toISOString(),
      },
      new EventBus(),
    );
    await expect(ledger.begin(['web-1'])).rejects.toThrow('the journal has format 2');
    expect((await s.read<JournalDocument>('journal.json'))!.value.format).toBe(2);
    expect(await inspectLock(s)).toBeUndefined();
  });

  it('writes its format and its lease epoch with every version', async () => {
    const s = store();
    const held = await acquireLock(s, who('sue'));
    const journal = await Journal.start(s, run, undefined, held);
    const stored = (await s.read<JournalDocument>('journal.json'))!.value;
    expect(stored).toMatchObject({ format: 1, epoch: 1, run: { id: 'r1' } });
    expect((await s.read<LockRecord>('lock.json'))!.value.epoch).toBe(1);
    await journal.finish();
    await held.release();
  });
});
