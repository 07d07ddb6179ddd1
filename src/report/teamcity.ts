/**
 * TeamCity build step output: service messages (https://www.jetbrains.com/help/teamcity/service-messages.html).
 * A block per batch and per host (hosts of a batch run at once, so each host's lines carry its flowId),
 * progress messages for fleet-wide steps, a build problem with a stable identity per failure, statistics for the
 * deploy's and each host's durations, the deployed image as a parameter, and the build status text.
 */
import { createHash } from 'node:crypto';
import { formatMs } from '../errors.ts';
import { gateTrippedText, type DeployEvent, type EventListener } from '../events/events.ts';
import { summaryTable } from './plain.ts';

/** TeamCity's escaping for attribute values: | ' [ ] and line breaks, and the Unicode line separators. */
export function escapeValue(value: string): string {
  return value.replace(/[|'[\]\n\r\u0085\u2028\u2029]/g, (c) => {
    switch (c) {
      case '\n':
        return '|n';
      case '\r':
        return '|r';
      case '\u0085':
      case '\u2028':
      case '\u2029':
        return `|0x${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
      default:
        return `|${c}`;
    }
  });
}

export function serviceMessage(name: string, attributes: Record<string, string | number | undefined>): string {
  const attrs = Object.entries(attributes)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}='${escapeValue(String(v))}'`)
    .join('');
  return `##teamcity[${name}${attrs}]`;
}

/** A build problem identity: a Java identifier (as TeamCity requires) of at most 60 characters, stable across builds for the same failure. */
export function problemIdentity(...parts: string[]): string {
  return `baton_${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32)}`;
}

/** The single-value form, `##teamcity[progressMessage 'text']`, which takes no other attribute. */
export function serviceMessageValue(name: string, value: string): string {
  return `##teamcity[${name} '${escapeValue(value)}']`;
}

export function teamcityReporter(out: NodeJS.WritableStream): EventListener {
  const emit = (name: string, attributes: Record<string, string | number | undefined>) =>
    out.write(`${serviceMessage(name, attributes)}\n`);
  // progressMessage has only the single-value form, so it cannot carry a flowId: a host's step starting
  // is a plain message in the host's flow.
  const progress = (text: string) => out.write(`${serviceMessageValue('progressMessage', text)}\n`);
  const openHosts = new Set<string>();
  let problems = 0;
  let image = '';
  let deployment = '';
  /** A build problem: it fails the build, and TeamCity follows it across builds by its identity. */
  const problem = (description: string, ...identity: string[]) => {
    problems++;
    emit('buildProblem', {
      description: description.slice(0, 4000),
      identity: problemIdentity(deployment, ...identity),
    });
  };
  return (e) => {
    const timestamp = new Date(e.at).toISOString().replace('Z', '+0000');
    switch (e.type) {
      case 'run-started':
        image = e.image;
        deployment = e.deployment;
        emit('message', {
          text: `${e.check ? 'plan' : 'deploy'} ${e.image} to ${e.deployment} (${e.playbook}): ${e.hosts.length} hosts in ${e.batches.length} batches`,
          timestamp,
        });
        break;
      case 'plan':
        planMessages(emit, e, timestamp);
        break;
      case 'batch':
        if (e.status === 'started')
          emit('blockOpened', { name: `batch ${e.index}/${e.of}: ${e.hosts.join(', ')}`, timestamp });
        else emit('blockClosed', { name: `batch ${e.index}/${e.of}: ${e.hosts.join(', ')}`, timestamp });
        break;
      case 'step': {
        if (e.scope === 'run') {
          if (e.status === 'started') progress(e.step);
          else emit('message', { text: stepDone(e), status: e.status === 'failed' ? 'ERROR' : undefined, timestamp });
          break;
        }
        if (!openHosts.has(e.host)) {
          openHosts.add(e.host);
          emit('blockOpened', { name: e.host, flowId: e.host, timestamp });
        }
        if (e.status === 'started') emit('message', { text: `${e.step}: started`, flowId: e.host, timestamp });
        else
          emit('message', {
            text: stepDone(e),
            flowId: e.host,
            status: e.status === 'failed' ? 'ERROR' : undefined,
            timestamp,
          });
        break;
      }
      case 'host-finished':
        if (openHosts.delete(e.host)) closeHost(emit, e, timestamp);
        if (e.result === 'rolled-back' || e.result === 'failed')
          problem(`${e.host}: ${e.result}: ${(e.error ?? '').split('\n')[0]}`, e.host, e.result);
        break;
      case 'warning':
        emit('message', { text: e.message, status: 'WARNING', timestamp });
        break;
      case 'gate-tripped':
        emit('message', { text: gateTrippedText(e), status: 'WARNING', timestamp });
        problem(gateTrippedText(e), 'gate', e.subject);
        break;
      case 'undo-failed':
        emit('message', {
          text: `NOT UNDONE: ${e.what}: ${e.error}\nfix it by hand with:\n${e.fix}`,
          status: 'ERROR',
          timestamp,
        });
        problem(`could not ${e.what}: run ${e.fix.split('\n')[0]}`, 'undo', e.what);
        break;
      case 'run-finished':
        finishRun(emit, e, { image, deployment, problems, timestamp });
        break;
    }
  };
}

type Emit = (name: string, attributes: Record<string, string | number | undefined>) => void;

/** A step that ended: its status, how long it took, and what it found. */
const stepDone = (e: { step: string; status: string; ms?: number; detail?: string }) =>
  `${e.step}: ${e.status}${e.ms !== undefined ? ` (${formatMs(e.ms)})` : ''}${e.detail ? ` — ${e.detail}` : ''}`;

/** The run's end: statistics, the deployed image as a parameter, a build problem if none was raised, the status. */
function finishRun(
  emit: Emit,
  e: Extract<DeployEvent, { type: 'run-finished' }>,
  run: { image: string; deployment: string; problems: number; timestamp: string },
): void {
  const { image, deployment } = run;
  emit('buildStatisticValue', { key: 'baton.deploy.ms', value: e.ms });
  for (const h of e.hosts)
    if (h.outOfServiceMs)
      emit('buildStatisticValue', { key: `baton.host.${h.host}.outOfServiceMs`, value: h.outOfServiceMs });
  if (e.outcome === 'deployed') emit('setParameter', { name: 'baton.deployed.image', value: image });
  const text = `${e.outcome} ${image} to ${deployment}: ${e.hosts.filter((h) => h.result === 'deployed').length}/${e.hosts.length} hosts (exit ${e.exitCode})`;
  // A build fails by a build problem (buildStatus only ever takes SUCCESS): one for the run when no
  // host or undo reported its own (an image that would not pull, an interrupt).
  if (e.exitCode !== 0 && run.problems === 0)
    emit('buildProblem', { description: text, identity: problemIdentity(deployment, 'run', e.outcome) });
  // The table holds host names from EC2 tags: inside a message, escaped, it can never start one.
  if (e.hosts.length) emit('message', { text: summaryTable(e.hosts).trimEnd(), timestamp: run.timestamp });
  emit('buildStatus', { text: `{build.status.text}; ${text}` });
}

/** A host's block closes with its result and how long it was out of service. */
function closeHost(emit: Emit, e: Extract<DeployEvent, { type: 'host-finished' }>, timestamp: string): void {
  emit('message', {
    text: `${e.result}${e.outOfServiceMs ? `, out of service ${formatMs(e.outOfServiceMs)}` : ''}`,
    flowId: e.host,
    timestamp,
  });
  emit('blockClosed', { name: e.host, flowId: e.host, timestamp });
}

/** `--check`: what each pre-task and each host's step would do, one message each. */
function planMessages(emit: Emit, e: Extract<DeployEvent, { type: 'plan' }>, timestamp: string): void {
  for (const t of e.preTasks) emit('message', { text: `would ${t.step}: ${t.would}`, timestamp });
  for (const h of e.hosts)
    emit('message', {
      text: `batch ${h.batch}, ${h.host}: ${h.steps.map((s) => `${s.step}: ${s.would}`).join('; ')}`,
      timestamp,
    });
}
