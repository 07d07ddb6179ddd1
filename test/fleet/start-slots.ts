/**
 * At most a few fleet starts at a time, across the test files the fleet project runs side by side.
 * Starting is the part of a fleet's life that loads the Docker engine (a dozen `docker run`s, a dockerd
 * booting in every app host, image pushes and pulls); three at once on two cores made each start
 * several times slower than one alone. A slot is a file holding its owner's PID: a slot whose owner has
 * died is taken over, and a start that waited too long goes ahead anyway, saying so.
 */
import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '../../src/state/lock.ts';
import { fleetRoot } from './lifecycle.ts';

const SLOTS = 2;
const MAX_WAIT_MS = 240_000;
const dir = join(fleetRoot, 'start-slots');

function tryTake(slot: string): boolean {
  try {
    const fd = openSync(slot, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const owner = Number(readFileSync(slot, 'utf8').trim());
    // A slot being written has no PID yet: left alone. One whose owner is gone is freed and asked again.
    if (owner > 0 && !processAlive(owner)) {
      rmSync(slot, { force: true });
      return tryTake(slot);
    }
    return false;
  }
}

/** Runs `start` in a free slot, or after MAX_WAIT_MS without one. */
export async function inStartSlot<T>(start: () => Promise<T>, log: (line: string) => void = () => {}): Promise<T> {
  mkdirSync(dir, { recursive: true });
  const slots = Array.from({ length: SLOTS }, (_, i) => join(dir, String(i)));
  const waited = Date.now();
  let mine: string | undefined;
  while (!(mine = slots.find(tryTake)) && Date.now() - waited < MAX_WAIT_MS)
    await new Promise((r) => setTimeout(r, 250));
  const seconds = ((Date.now() - waited) / 1000).toFixed(1);
  if (!mine) process.stderr.write(`sandbox: no start slot free after ${seconds} s, starting anyway\n`);
  else if (Date.now() - waited > 1000) log(`waited ${seconds} s for another fleet's start to finish`);
  try {
    return await start();
  } finally {
    if (mine) rmSync(mine, { force: true });
  }
}
