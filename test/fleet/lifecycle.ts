/**
 * Fleet lifetimes. A test's fleet is labelled with the test process's PID; when that process is gone
 * (a crashed or killed run), the next start removes what it left, so nothing stale trips the next run.
 * A fleet from `fleet up` stays until `fleet down`.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '../../src/state/lock.ts';
import { docker } from './docker.ts';

export const fleetRoot = join(import.meta.dirname, '..', '..', '.fleet');

/** Removes fleets whose owning test process has died. */
export async function sweepStaleFleets(log: (line: string) => void = () => {}): Promise<void> {
  const rows = (
    await docker([
      'ps',
      '-a',
      '--filter',
      'label=baton.fleet',
      '--format',
      '{{.ID}} {{.Label "baton.fleet"}} {{.Label "baton.fleet.owner"}}',
    ])
  )
    .split('\n')
    .filter(Boolean);
  const stale = new Set<string>();
  for (const row of rows) {
    const [, fleet, owner] = row.split(' ');
    if (fleet && owner && /^\d+$/.test(owner) && !processAlive(Number(owner))) stale.add(fleet);
  }
  for (const fleet of stale) {
    log(`removing fleet ${fleet}, left by a test run that is no longer running`);
    const ids = (await docker(['ps', '-aq', '--filter', `label=baton.fleet=${fleet}`])).split('\n').filter(Boolean);
    if (ids.length) await docker(['rm', '-f', '-v', ...ids]);
    const nets = (await docker(['network', 'ls', '-q', '--filter', `label=baton.fleet=${fleet}`]))
      .split('\n')
      .filter(Boolean);
    if (nets.length) await docker(['network', 'rm', ...nets]);
    rmSync(join(fleetRoot, fleet), { recursive: true, force: true });
  }
}
