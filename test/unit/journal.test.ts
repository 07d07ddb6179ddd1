/**
 * The journal and the stores it lives in: the S3 bucket as the real SDK client speaks to it (the
 * emulator), and the local state directory used without a bucket. Both keep the conditional writes
 * the lock and the journal rely on.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectoryObjects, type ObjectStore } from '../../src/state/objects.ts';
import { describeUnfinished, Journal, JournalError, openEntries, readJournal } from '../../src/state/journal.ts';
import type { Change } from '../../src/changes/index.ts';
import { S3Objects } from '../../src/state/s3-objects.ts';
import { StateStore } from '../../src/state/store.ts';
import { useStateBucket } from '../aws-emulator/s3-bucket.ts';

const bucket = useStateBucket();
let n = 0;

const stores: [string, () => ObjectStore][] = [
  ['an S3 bucket', () => new S3Objects(bucket.s3, 'baton-state')],
  ['a local directory', () => new DirectoryObjects(mkdtempSync(join(tmpdir(), 'baton-state-')))],
];
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
const deregistered: Change = {
  kind: 'deregistered',
  host,
  membership: { kind: 'classic', name: 'web', drainTimeoutMs: 0 },
};

describe.each(stores)('in %s', (_, objects) => {
  const store = () =>
    new StateStore(
      objects(),
      { prefix: 'baton', staleAfter: 60_000 },
      { stack: 'web', release: 'api', deployment: `d${++n}` },
    );

  it('creates only if absent, replaces and deletes only the version read', async () => {
    const s = store();
    const first = await s.write('x.json', { v: 1 }, { absent: true });
    expect(first).toBeTruthy();
    expect(await s.write('x.json', { v: 2 }, { absent: true })).toBeUndefined();
    const second = await s.write('x.json', { v: 2 }, { etag: first! });
    expect(second).toBeTruthy();
    expect(await s.write('x.json', { v: 3 }, { etag: first! })).toBeUndefined();
    expect(await s.remove('x.json', first!)).toBe(false);
    expect((await s.read<{ v: number }>('x.json'))!.value).toEqual({ v: 2 });
    expect(await s.remove('x.json', second!)).toBe(true);
    expect(await s.read('x.json')).toBeUndefined();
  });

  it('holds each entry durably before the change, leaves what is open, and removes itself once all is closed', async () => {
    const s = store();
    const journal = await Journal.start(s, run);
    const entry = await journal.record(
      deregistered,
      'web-1 (i-1) out of classic ELB web',
      'aws elb register-instances-with-load-balancer ...',
    );
    // Durable: another reader (the next deployer) sees it open.
    const seen = await readJournal(s);
    expect(openEntries(seen!.doc).map((e) => e.what)).toEqual(['web-1 (i-1) out of classic ELB web']);
    expect(describeUnfinished(s, seen!.doc)).toContain('`baton recover --deployment');
    expect(await journal.finish()).toHaveLength(1);
    expect(await readJournal(s)).toBeDefined();

    const again = await Journal.start(s, { ...run, id: 'r2', kind: 'recover' }, seen);
    await again.close(entry);
    expect(await again.finish()).toEqual([]);
    expect(await readJournal(s)).toBeUndefined();
  });

  it('refuses to write over a journal someone else changed: the run loses it, and says so', async () => {
    const s = store();
    const journal = await Journal.start(s, run);
    await s.write('journal.json', { run: { ...run, id: 'other' }, entries: [] });
    await expect(journal.record(deregistered, 'x', 'y')).rejects.toBeInstanceOf(JournalError);
    await expect(journal.record(deregistered, 'x', 'y')).rejects.toThrow(/was changed by someone else/);
  });
});

describe('the local state directory', () => {
  it('leaves no temporary file behind, and lists what it holds', async () => {
    const root = mkdtempSync(join(tmpdir(), 'baton-state-'));
    const s = new StateStore(
      new DirectoryObjects(root),
      { prefix: 'baton', staleAfter: 60_000 },
      { stack: 'web', release: 'api', deployment: 'local' },
    );
    await s.write('history/2.json', { n: 2 });
    await s.write('history/1.json', { n: 1 }, { absent: true });
    expect(await s.list('history')).toEqual(['history/1.json', 'history/2.json']);
    expect(readdirSync(join(root, 'baton/web/api/local/history')).sort()).toEqual(['1.json', '2.json']);
    expect(s.shared).toBe(false);
  });
});

describe('a journal whose writes go wrong', () => {
  /** A directory store whose next put does `how`: fail outright, or store and then lose the answer. */
  function flaky() {
    const inner = new DirectoryObjects(mkdtempSync(join(tmpdir(), 'baton-state-')));
    let next: 'fail' | 'lose-answer' | undefined;
    const objects: ObjectStore = {
      shared: false,
      get: (k) => inner.get(k),
      put: async (k, body, condition) => {
        const how = next;
        next = undefined;
        if (how === 'fail') throw new Error('connection reset');
        const etag = await inner.put(k, body, condition);
        return how === 'lose-answer' ? undefined : etag;
      },
      delete: (k, etag) => inner.delete(k, etag),
      list: (p) => inner.list(p),
      url: (k) => inner.url(k),
      close: () => undefined,
    };
    const store = new StateStore(
      objects,
      { prefix: 'baton', staleAfter: 60_000 },
      { stack: 'web', release: 'api', deployment: 'flaky' },
    );
    return { store, failNext: (how: 'fail' | 'lose-answer') => (next = how) };
  }

  it('never saves as open a change whose own record failed (the change was not made)', async () => {
    const { store, failNext } = flaky();
    const journal = await Journal.start(store, run);
    failNext('fail');
    await expect(journal.record(deregistered, 'first', 'x')).rejects.toThrow(/could not write the journal/);
    await journal.record(deregistered, 'second', 'y');
    expect(openEntries((await readJournal(store))!.doc).map((e) => e.what)).toEqual(['second']);
  });

  it('keeps a write that was stored but whose answer was lost, as S3 retries can make it look', async () => {
    const { store, failNext } = flaky();
    const journal = await Journal.start(store, run);
    failNext('lose-answer');
    await journal.record(deregistered, 'first', 'x');
    await journal.record(deregistered, 'second', 'y');
    expect(openEntries((await readJournal(store))!.doc).map((e) => e.what)).toEqual(['first', 'second']);
  });
});
