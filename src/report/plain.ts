/**
 * Plain timestamped lines, for CI logs and pipes: one line per step outcome, then a closing summary.
 */
import {
  gateTrippedText,
  type EventListener,
  type HostSummary,
  type Timed,
  type DeployEvent,
} from '../events/events.ts';
import { formatMs } from '../errors.ts';
import { printable } from '../printable.ts';

export function plainReporter(out: NodeJS.WritableStream): EventListener {
  const line = (at: number, text: string) =>
    out.write(`${new Date(at).toISOString().slice(11, 23)} ${printable(text)}\n`);
  return (e: Timed<DeployEvent>) => {
    switch (e.type) {
      case 'run-started':
        line(
          e.at,
          `${e.check ? 'plan' : 'deploy'} ${e.image} to ${e.deployment} (${e.playbook}): ${e.hosts.length} hosts in ${e.batches.length} batches`,
        );
        e.batches.forEach((b, i) => line(e.at, `  batch ${i + 1}: ${b.join(', ')}`));
        break;
      case 'plan':
        for (const t of e.preTasks) line(e.at, `would ${t.step}: ${t.would}`);
        for (const h of e.hosts) {
          line(e.at, `batch ${h.batch}, ${h.host} (now ${h.from ?? 'no live container'}):`);
          for (const s of h.steps) line(e.at, `  ${s.step}: ${s.would}`);
        }
        break;
      case 'step': {
        if (e.status === 'started') break;
        const who = e.scope === 'host' ? `${e.host} ` : '';
        const took = e.ms !== undefined ? ` (${formatMs(e.ms)})` : '';
        const mark = e.status === 'failed' ? 'FAILED' : e.status;
        line(e.at, `${who}${e.step}: ${mark}${took}${e.detail ? ` — ${e.detail}` : ''}`);
        break;
      }
      case 'batch':
        if (e.status === 'started') line(e.at, `batch ${e.index}/${e.of}: ${e.hosts.join(', ')}`);
        break;
      case 'host-finished':
        line(e.at, `${e.host}: ${e.result}${e.outOfServiceMs ? `, out of service ${formatMs(e.outOfServiceMs)}` : ''}`);
        break;
      case 'warning':
        line(e.at, `WARNING: ${e.message}`);
        break;
      case 'gate-tripped':
        line(e.at, `WARNING: ${gateTrippedText(e)}`);
        break;
      case 'undo-failed':
        line(e.at, `!!! NOT UNDONE: ${e.what}: ${e.error}`);
        line(e.at, `!!! fix it by hand with:\n${e.fix}`);
        break;
      case 'run-finished':
        line(e.at, `${e.outcome} in ${formatMs(e.ms)} (exit ${e.exitCode})`);
        if (e.hosts.length) out.write(printable(summaryTable(e.hosts)));
        break;
    }
  };
}

export function summaryTable(hosts: readonly HostSummary[]): string {
  const short = (id?: string) => (id ? ` (${id.replace(/^sha256:/, '').slice(0, 12)})` : '');
  return textTable(
    [
      ['host', 'result', 'from', 'to', 'out of service'],
      ...hosts.map((h) => [
        h.host,
        h.result,
        h.oldImage ? `${h.oldImage}${short(h.oldImageId)}` : '-',
        `${h.newImage}${short(h.digest ?? h.imageId)}`,
        h.outOfServiceMs ? formatMs(h.outOfServiceMs) : '-',
      ]),
    ],
    '  ',
  );
}

/** Rows as aligned columns, the first row being the header. */
export function textTable(rows: readonly (readonly string[])[], indent = ''): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `${indent}${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`.trimEnd()).join('\n') + '\n';
}
