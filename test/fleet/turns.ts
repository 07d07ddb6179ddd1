/**
 * One fleet starts or stops at a time, across the test files the fleet project runs side by side.
 * Starting and removing are the parts of a fleet's life that load the Docker engine (a dozen `docker
 * run`s, a dockerd booting in every app host, image pushes and pulls; then removing all of it); CI
 * lost whole files to sandbox starts that hung while other fleets started and stopped. The turn is a
 * file holding its owner's PID: one whose owner has died is taken over, and a fleet that waited too
 * long goes ahead anyway, saying so.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '../../src/state/lock.ts';
import { fleetRoot } from './lifecycle.ts';

const MAX_WAIT_MS = 240_000;
const turn = join(fleetRoot, 'turn');

function take(): boolean {
  try {
    const fd = openSync(turn, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    let owner: number;
    try {
      owner = Number(readFileSync(turn, 'utf8').trim());
    } catch (gone) {
      // Given back between the two calls: ask again.
      if ((gone as NodeJS.ErrnoException).code === 'ENOENT') return take();
      throw gone;
    }
    // A turn being written has no PID yet: left alone. One whose owner is gone is freed and asked again.
    if (owner > 0 && !processAlive(owner)) {
      rmSync(turn, { force: true });
      return take();
    }
    return false;
  }
}

/** Runs `work` (a fleet's start or stop) in its turn, or after MAX_WAIT_MS without one. */
export async function inTurn<T>(work: () => Promise<T>, log: (line: string) => void = () => {}): Promise<T> {
  mkdirSync(fleetRoot, { recursive: true });
  const waited = Date.now();
  let mine: boolean;
  while (!(mine = take()) && Date.now() - waited < MAX_WAIT_MS) await new Promise((r) => setTimeout(r, 250));
  const seconds = ((Date.now() - waited) / 1000).toFixed(1);
  if (!mine) process.stderr.write(`sandbox: no turn after ${seconds} s, going ahead anyway\n`);
  else if (Date.now() - waited > 1000) log(`waited ${seconds} s for other fleets to start or stop`);
  try {
    return await work();
  } finally {
    if (mine) rmSync(turn, { force: true });
  }
}
