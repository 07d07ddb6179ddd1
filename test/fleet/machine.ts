/**
 * What the machine was going through, in one line, for a fleet start that was slow or failed: the load,
 * how long tasks stalled for CPU, disk and memory in the last minute (Linux pressure stall
 * information), the memory left and the disk left under Docker. A CI log then says whether the start
 * waited on the CPU, the disk or the memory, not only that it was late.
 */
import { existsSync, readFileSync, statfsSync } from 'node:fs';

const GiB = 1024 ** 3;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** `some` and `full` over the last 60 s, as percentages of wall time, from /proc/pressure/<resource>. */
function pressure(resource: 'cpu' | 'io' | 'memory'): string | undefined {
  const text = read(`/proc/pressure/${resource}`);
  if (!text) return undefined;
  const avg60 = (kind: string) => new RegExp(`^${kind} .*avg60=([\\d.]+)`, 'm').exec(text)?.[1];
  const full = avg60('full');
  return `${resource} ${avg60('some')}%${full && resource !== 'cpu' ? ` (all stalled ${full}%)` : ''}`;
}

function freeSpace(path: string): string | undefined {
  try {
    const s = statfsSync(path);
    return `${path} ${((s.bavail * s.bsize) / GiB).toFixed(1)} GiB free`;
  } catch {
    return undefined;
  }
}

export function machineSnapshot(): string {
  const load = read('/proc/loadavg')?.split(' ').slice(0, 3).join(' ');
  const available = /^MemAvailable:\s+(\d+) kB/m.exec(read('/proc/meminfo') ?? '')?.[1];
  const stalls = (['cpu', 'io', 'memory'] as const).map(pressure).filter(Boolean);
  return [
    load && `load ${load}`,
    stalls.length > 0 && `stalled in the last minute: ${stalls.join(', ')}`,
    available && `memory ${((Number(available) * 1024) / GiB).toFixed(1)} GiB available`,
    freeSpace(existsSync('/var/lib/docker') ? '/var/lib/docker' : '/'),
  ]
    .filter(Boolean)
    .join('; ');
}
