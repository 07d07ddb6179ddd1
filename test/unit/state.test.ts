/**
 * The deploy lock and the history against S3 as the real SDK client speaks to it (the emulator):
 * exactly one of several concurrent runs takes the lock, the others learn who holds it; a lock stops
 * being renewed when its run dies and is then reported stale; a run never removes a lock it lost.
 */
import { describe, expect, it } from 'vitest';
import { LockedError } from '../../src/errors.ts';
import { EventBus } from '../../src/events/events.ts';
import { readHistory, recordHistory } from '../../src/state/history.ts';
import { acquireLock, forceRelease, inspectLock, type LockIdentity } from '../../src/state/lock.ts';
import { StateStore } from '../../src/state/store.ts';
import { S3Objects } from '../../src/state/s3-objects.ts';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { useStateBucket } from '../aws-emulator/s3-bucket.ts';

const bucket = useStateBucket();
let n = 0;
/** A fresh deployment per test, so tests share nothing. */
const store = (staleAfter = 60_000) =>
  new StateStore(
    new S3Objects(bucket.s3, 'baton-state'),
    { prefix: 'baton', staleAfter },
    { stack: 'web', release: 'api', deployment: `d${++n}` },
  );
/** This machine, as a lock records it: only then does its pid mean a process here. */
const thisMachine = () => {
  const read = (p: string) => readFileSync(p, 'utf8').trim();
  return {
    machine: hostname(),
    machineId: read('/etc/machine-id'),
    bootId: read('/proc/sys/kernel/random/boot_id'),
    pidNamespace: readlinkSync('/proc/self/ns/pid'),
  };
};
const who = (holder: string): LockIdentity => ({
  id: `run-${holder}`,
  holder,
  command: 'deploy registry/app:v2',
  startedAt: new Date().toISOString(),
});

describe('deploy lock', () => {
  it('goes to exactly one of ten runs starting together; the others are told who holds it', async () => {
    const s = store();
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => acquireLock(s, who(`user${i}`))));
    const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(won).toHaveLength(1);
    const holder = (await inspectLock(s))!.record.holder;
    expect(holder).toBe(`user${won[0]!.id.slice('run-user'.length)}`);
    for (const r of results) {
      if (r.status === 'fulfilled') continue;
      expect(r.reason).toBeInstanceOf(LockedError);
      expect((r.reason as Error).message).toContain(
        `web/api ${s.scope.deployment} is being deployed by ${holder} (deploy registry/app:v2; pid ${process.pid} on `,
      );
      expect((r.reason as Error).message).toContain(`baton lock release --force --deployment ${s.scope.deployment}`);
    }
    await won[0]!.release();
    expect(await inspectLock(s)).toBeUndefined();
    await (await acquireLock(s, who('next'))).release();
  });

  it('records what the run is doing when it renews, and goes stale once nobody renews it', async () => {
    const s = store(1_000);
    const events = new EventBus();
    const held = await acquireLock(s, who('alice'), { events });
    events.emit({ type: 'batch', index: 2, of: 3, hosts: ['app-2'], status: 'started' });
    events.emit({ type: 'step', scope: 'host', host: 'app-2', step: 'deregister', status: 'started' });
    await held.renew();
    const fresh = await inspectLock(s);
    expect(fresh!.stale).toBeUndefined();
    expect(fresh!.record.doing).toBe('app-2: deregister');
    expect(await acquireLock(s, who('bob')).catch((e: Error) => e.message)).toContain(
      ', last seen at: app-2: deregister.',
    );
    await held.release();
    // A holder that stopped renewing (its timer is gone with it): stale once the bucket's own clock,
    // not this machine's, says staleAfter has passed (S3's Last-Modified and Date have whole seconds).
    await s.write('lock.json', {
      ...who('ghost'),
      machine: 'elsewhere',
      pid: 1,
      heartbeatAt: new Date().toISOString(),
    });
    // A second more than staleAfter: the bucket's clock has whole seconds.
    await new Promise((r) => setTimeout(r, 3_100));
    expect((await inspectLock(s))!.stale).toMatch(
      /^it has not been renewed for [34]\.0s \(state.staleAfter is 1\.0s\)$/,
    );
    await forceRelease(s);
  });

  it('is stale at once when its holder was a process on this machine that is gone', async () => {
    const s = store();
    await s.write('lock.json', {
      ...who('carol'),
      ...thisMachine(),
      pid: 2 ** 22 + 12345,
      heartbeatAt: new Date().toISOString(),
    });
    const lock = await inspectLock(s);
    expect(lock!.stale).toBe(`its process (pid ${2 ** 22 + 12345} on ${hostname()}) is gone`);
    const error = await acquireLock(s, who('dave')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockedError);
    expect((error as Error).message).toMatch(
      /is locked by a run that did not finish: carol .* The lock is stale: its process .* is gone\. Whatever it left changed on the fleet is in its journal: `baton recover --deployment d\d+`/,
    );
    expect((await forceRelease(s))!.record.holder).toBe('carol');
    await (await acquireLock(s, who('dave'))).release();
  });

  it('trusts a gone pid only from this very machine and boot, never from another machine with the same name', async () => {
    const s = store();
    await s.write('lock.json', {
      ...who('gina'),
      ...thisMachine(),
      bootId: 'another-boot',
      pid: 2 ** 22 + 1,
      heartbeatAt: new Date().toISOString(),
    });
    expect((await inspectLock(s))!.stale).toBeUndefined();
    await forceRelease(s);
  });

  it('never judges a holder gone from another pid namespace on this machine (a container), nor from a reused pid', async () => {
    const s = store();
    // Two CI jobs in containers on one agent: same machine and boot id, pids of their own.
    await s.write('lock.json', {
      ...who('ivy'),
      ...thisMachine(),
      pidNamespace: 'pid:[4026599999]',
      pid: 2 ** 22 + 3,
      heartbeatAt: new Date().toISOString(),
    });
    expect((await inspectLock(s))!.stale).toBeUndefined();
    // A pid that is alive here, but is another process than the one that wrote the lock: it is gone.
    await s.write('lock.json', {
      ...who('jay'),
      ...thisMachine(),
      pid: process.pid,
      processStart: '1',
      heartbeatAt: new Date().toISOString(),
    });
    expect((await inspectLock(s))!.stale).toBe(`its process (pid ${process.pid} on ${hostname()}) is gone`);
    // The very process that wrote it: alive.
    const held = await acquireLock(s, who('kim')).catch(() => undefined);
    expect(held).toBeUndefined();
    await forceRelease(s);
    const mine = await acquireLock(s, who('kim'));
    expect((await inspectLock(s))!.stale).toBeUndefined();
    await mine.release();
  });

  it('tells the run at once, and only once, when its lock is lost; a forced release never removes a newer lock', async () => {
    const s = store();
    const lost: string[] = [];
    const held = await acquireLock(s, who('hank'), { onLost: (why) => lost.push(why) });
    const read = (await inspectLock(s))!;
    await held.renew();
    // The lock as read before that renewal: releasing it now must not remove the renewed one.
    await expect(s.remove('lock.json', read.etag)).resolves.toBe(false);
    await forceRelease(s);
    await held.renew();
    await held.renew();
    expect(lost).toEqual(['it was released by force']);
    await held.release();
  });

  it('is never removed by a run that lost it to a forced release', async () => {
    const s = store();
    const first = await acquireLock(s, who('erin'));
    await forceRelease(s);
    const second = await acquireLock(s, who('frank'));
    await first.renew();
    expect(first.lostBecause).toBe(
      `it is now held by frank (deploy registry/app:v2; pid ${process.pid} on ${hostname()})`,
    );
    await first.release();
    expect((await inspectLock(s))!.record.holder).toBe('frank');
    await second.release();
  });
});

describe('waiting for the deploy lock', () => {
  it('waits for a live holder to finish, and says so once', async () => {
    const s = store();
    const first = await acquireLock(s, who('alice'));
    const events = new EventBus();
    const warnings: string[] = [];
    events.subscribe((e) => e.type === 'warning' && warnings.push(e.message));
    setTimeout(() => void first.release(), 600);
    const second = await acquireLock(s, who('bob'), { events, waitMs: 30_000 });
    expect((await inspectLock(s))!.record.holder).toBe('bob');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^waiting up to 30s for the deploy lock: web\/api d\d+ is being deployed by alice /);
    await second.release();
  });

  it('gives up after the wait, naming the holder, and never waits for a stale lock', async () => {
    const s = store();
    const first = await acquireLock(s, who('alice'));
    const late = await acquireLock(s, who('bob'), { waitMs: 400 }).catch((e: Error) => e);
    expect(late).toBeInstanceOf(LockedError);
    expect((late as Error).message).toMatch(/is being deployed by alice .*\(waited 0\.\ds for it\)$/);
    await first.release();
    await s.write('lock.json', {
      ...who('carol'),
      ...thisMachine(),
      pid: 2 ** 22 + 7,
      heartbeatAt: new Date().toISOString(),
    });
    const started = Date.now();
    const stale = await acquireLock(s, who('dave'), { waitMs: 60_000 }).catch((e: Error) => e);
    expect((stale as Error).message).toContain('is locked by a run that did not finish: carol');
    expect(Date.now() - started).toBeLessThan(30_000);
    await forceRelease(s);
  });
});

describe('history', () => {
  it('lists runs newest first', async () => {
    const s = store();
    const base = Date.parse('2026-11-24T10:00:00.000Z');
    for (let i = 0; i < 12; i++) {
      const startedAt = new Date(base + i * 60_000).toISOString();
      await recordHistory(s, {
        id: `r${i}`,
        kind: 'deploy',
        deployer: 'alice',
        machine: 'm',
        deployment: s.scope.deployment,
        image: `app:v${i}`,
        startedAt,
        outcome: 'deployed',
        hosts: [],
      });
    }
    const last = await readHistory(s, 3);
    expect(last.map((e) => e.image)).toEqual(['app:v11', 'app:v10', 'app:v9']);
    expect((await readHistory(s, 100)).map((e) => e.id)).toEqual(Array.from({ length: 12 }, (_, i) => `r${11 - i}`));
  });
});
