/**
 * Notifications: a webhook told when a run starts and how it ended, in the JSON Slack's incoming
 * webhooks take (`text`), which most team chats accept, plus a `baton` object for machines. The URL
 * is a secret (it carries the token), so it is never printed: messages name its origin only. A
 * webhook that fails never fails the run; it is a warning.
 *
 * The `baton` object (fields are only ever added):
 *   { event: 'started' | 'finished', kind: 'deploy' | 'rollback', stack, release, deployment, deployer,
 *     image, build?, hosts: string[] (started) | { host, result, oldImage?, newImage, error? }[] (finished),
 *     outcome?, exitCode?, ms?, needsOperator?: { what, fix }[] }
 */
import { ConfigError } from '../errors.ts';
import { gateTrippedText, type DeployEvent, type EventBus, type HostSummary } from '../events/events.ts';

export interface NotifyContext {
  readonly stack: string;
  readonly release: string;
  readonly deployment: string;
  readonly deployer: string;
  readonly kind: 'deploy' | 'rollback';
  readonly build?: string;
}

/** The webhook URL, checked; errors show no more of it than its scheme. */
export function parseWebhookUrl(value: string, source: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    // fall through
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new ConfigError(source, `is not an http(s) URL${url ? ` (scheme ${url.protocol})` : ''}`);
  }
  return url;
}

export function notifyWebhook(
  url: URL,
  events: EventBus,
  context: NotifyContext,
  options: { timeoutMs?: number } = {},
): { close(): Promise<void> } {
  const timeoutMs = options.timeoutMs ?? 5_000;
  let queue = Promise.resolve();
  let image = '';
  const needsOperator: { what: string; fix: string }[] = [];
  const where = `${context.stack}/${context.release} ${context.deployment}`;

  const post = (body: unknown) => {
    queue = queue.then(async () => {
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
        });
        await response.arrayBuffer().catch(() => undefined);
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
      } catch (error) {
        const why =
          (error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000}s` : describe(error);
        events.emit({
          type: 'warning',
          message: `webhook notification to ${url.origin} failed: ${why} (the run goes on)`,
        });
      }
    });
  };

  let tripped: string | undefined;
  const unsubscribe = events.subscribe((e: DeployEvent) => {
    if (e.type === 'run-started' && !e.check) {
      image = e.image;
      const what = context.kind === 'rollback' ? 'rolling back' : `deploying ${e.image} to`;
      post({
        text: `:rocket: ${context.deployer} started ${what} ${where} (${e.hosts.length} host${e.hosts.length === 1 ? '' : 's'})${context.build ? ` [${context.build}]` : ''}`,
        baton: { event: 'started', ...context, image: e.image, hosts: e.hosts },
      });
    } else if (e.type === 'gate-tripped') {
      tripped = gateTrippedText(e);
    } else if (e.type === 'undo-failed') {
      needsOperator.push({ what: e.what, fix: e.fix });
    } else if (e.type === 'run-finished' && e.outcome !== 'checked') {
      post({
        text: finishedText(context, where, image, e, needsOperator) + (tripped ? ` — ${tripped}` : ''),
        baton: {
          event: 'finished',
          ...context,
          image,
          outcome: e.outcome,
          exitCode: e.exitCode,
          ms: e.ms,
          hosts: e.hosts.map(({ host, result, oldImage, newImage, error }) => ({
            host,
            result,
            ...(oldImage && { oldImage }),
            newImage,
            ...(error && { error }),
          })),
          ...(needsOperator.length && { needsOperator }),
        },
      });
    }
  });

  return {
    close: async () => {
      unsubscribe();
      await queue;
    },
  };
}

function finishedText(
  context: NotifyContext,
  where: string,
  image: string,
  e: Extract<DeployEvent, { type: 'run-finished' }>,
  needsOperator: readonly { what: string; fix: string }[],
): string {
  const done = e.hosts.filter((h) => h.result === 'deployed').length;
  const took = `${(e.ms / 1000).toFixed(1)} s`;
  const what = context.kind === 'rollback' ? 'rolled back' : `deployed ${image} to`;
  const failures = e.hosts
    .filter((h) => h.error)
    .map(
      (h: HostSummary) =>
        `${h.host}: ${h.error}${h.result === 'rolled-back' && h.oldImage ? ` (back on ${h.oldImage})` : ''}`,
    );
  const detail = failures.length ? `: ${failures.join('; ')}` : '';
  let text: string;
  switch (e.outcome) {
    case 'deployed':
      text = `:white_check_mark: ${context.deployer} ${what} ${where}: ${done}/${e.hosts.length} hosts in ${took}`;
      break;
    case 'rolled-back':
      text = `:warning: ${context.deployer}'s ${context.kind} to ${where} failed and was rolled back (${done}/${e.hosts.length} hosts changed)${detail}`;
      break;
    case 'interrupted':
      text = `:warning: ${context.deployer}'s ${context.kind} to ${where} was interrupted: ${done}/${e.hosts.length} hosts on ${image}`;
      break;
    default:
      text = `:x: ${context.deployer}'s ${context.kind} to ${where} failed (exit ${e.exitCode})${detail}`;
  }
  if (needsOperator.length)
    text += ` — the fleet needs an operator: ${needsOperator.map((n) => `${n.what} failed, fix with \`${n.fix.replace(/\n/g, '; ')}\``).join('; ')}`;
  return text;
}

/** An error's message without anything that could echo the URL (fetch puts it in some causes). */
function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code ?? (error as Error).message.replace(/https?:\/\/\S+/g, '<webhook>');
}
