/**
 * Webhook notifications against a real HTTP server on 127.0.0.1: what is posted on start and end, in
 * order; nothing for --check; and a webhook that fails (5xx, refused, silent) is one warning that
 * shows the origin and never the secret part of the URL.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseWebhookUrl, notifyWebhook, type NotifyContext } from '../../src/report/notify.ts';
import { EventBus, type DeployEvent } from '../../src/events/events.ts';

const context: NotifyContext = {
  stack: 'web',
  release: 'api',
  deployment: 'integration',
  deployer: 'alice',
  kind: 'deploy',
};
const SECRET = '/services/T000/B000/XXXXsecretXXXX';
let server: Server | undefined;
let bodies: unknown[] = [];

async function listen(answer: (respond: (status: number) => void) => void): Promise<URL> {
  bodies = [];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      bodies.push({ path: req.url, type: req.headers['content-type'], body: JSON.parse(body) as unknown });
      answer((status) => res.writeHead(status).end('ok'));
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return new URL(`http://127.0.0.1:${(server!.address() as AddressInfo).port}${SECRET}`);
}
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

const started: DeployEvent = {
  type: 'run-started',
  playbook: 'deploy',
  image: 'reg/app:v2',
  deployment: 'integration',
  hosts: ['app-1', 'app-2'],
  batches: [['app-1'], ['app-2']],
  preTasks: [],
  steps: [],
  check: false,
};
const finished = (
  outcome: 'deployed' | 'rolled-back' | 'failed' | 'checked',
  exitCode: number,
  hosts: Extract<DeployEvent, { type: 'run-finished' }>['hosts'],
): DeployEvent => ({ type: 'run-finished', outcome, exitCode, ms: 12_345, hosts, maxRssKb: 1 });
const ok = (host: string) => ({
  host,
  result: 'deployed' as const,
  oldImage: 'reg/app:v1',
  newImage: 'reg/app:v2',
  outOfServiceMs: 1500,
});

describe('webhook notifications', () => {
  it('posts the start and the end of a run, in order, as Slack-compatible JSON', async () => {
    const url = await listen((respond) => respond(200));
    const events = new EventBus();
    const warnings: string[] = [];
    events.subscribe((e) => e.type === 'warning' && warnings.push(e.message));
    const notifier = notifyWebhook(url, events, { ...context, build: 'Deploy #42' });
    events.emit(started);
    events.emit(finished('deployed', 0, [ok('app-1'), ok('app-2')]));
    await notifier.close();
    expect(warnings).toEqual([]);
    expect(bodies).toEqual([
      {
        path: SECRET,
        type: 'application/json',
        body: {
          text: ':rocket: alice started deploying reg/app:v2 to web/api integration (2 hosts) [Deploy #42]',
          baton: { event: 'started', ...context, build: 'Deploy #42', image: 'reg/app:v2', hosts: ['app-1', 'app-2'] },
        },
      },
      {
        path: SECRET,
        type: 'application/json',
        body: {
          text: ':white_check_mark: alice deployed reg/app:v2 to web/api integration: 2/2 hosts in 12.3 s',
          baton: {
            event: 'finished',
            ...context,
            build: 'Deploy #42',
            image: 'reg/app:v2',
            outcome: 'deployed',
            exitCode: 0,
            ms: 12_345,
            hosts: [1, 2].map((i) => ({
              host: `app-${i}`,
              result: 'deployed',
              oldImage: 'reg/app:v1',
              newImage: 'reg/app:v2',
            })),
          },
        },
      },
    ]);
  });

  it('says what failed, and when the fleet needs an operator, with the fix', async () => {
    const url = await listen((respond) => respond(204));
    const events = new EventBus();
    const notifier = notifyWebhook(url, events, context);
    events.emit(started);
    events.emit({
      type: 'undo-failed',
      what: 'resume autoscaling',
      error: 'HTTP 503',
      fix: 'aws autoscaling resume-processes --auto-scaling-group-name web-api',
    });
    events.emit(
      finished('rolled-back', 3, [
        {
          host: 'app-1',
          result: 'rolled-back',
          oldImage: 'reg/app:v1',
          newImage: 'reg/app:v2',
          outOfServiceMs: 900,
          error: 'health check failed: HTTP 500',
        },
      ]),
    );
    await notifier.close();
    const last = bodies[1] as { body: { text: string; baton: { needsOperator: unknown } } };
    expect(last.body.text).toBe(
      ":warning: alice's deploy to web/api integration failed and was rolled back (0/1 hosts changed): app-1: health check failed: HTTP 500 (back on reg/app:v1)" +
        ' — the fleet needs an operator: resume autoscaling failed, fix with `aws autoscaling resume-processes --auto-scaling-group-name web-api`',
    );
    expect(last.body.baton.needsOperator).toEqual([
      { what: 'resume autoscaling', fix: 'aws autoscaling resume-processes --auto-scaling-group-name web-api' },
    ]);
  });

  it('says why a release gate rolled the deploy back', async () => {
    const url = await listen((respond) => respond(204));
    const events = new EventBus();
    const notifier = notifyWebhook(url, events, context);
    events.emit(started);
    events.emit({
      type: 'gate-tripped',
      batch: 1,
      of: 2,
      hosts: ['app-1'],
      reason: 'alarm api-5xx is in ALARM (5xx > 1%)',
      subject: 'api-5xx',
    });
    events.emit(
      finished('rolled-back', 1, [
        { ...ok('app-1'), result: 'rolled-back', error: 'rolled back after batch 1 failed' },
        { host: 'app-2', result: 'not-started', newImage: 'reg/app:v2', outOfServiceMs: 0 },
      ]),
    );
    await notifier.close();
    const last = bodies[1] as { body: { text: string } };
    expect(last.body.text).toBe(
      ":warning: alice's deploy to web/api integration failed and was rolled back (0/2 hosts changed): app-1: rolled back after batch 1 failed (back on reg/app:v1)" +
        ' — the gate tripped after batch 1/2 (app-1): alarm api-5xx is in ALARM (5xx > 1%)',
    );
  });

  it('sends nothing for --check', async () => {
    const url = await listen((respond) => respond(200));
    const events = new EventBus();
    const notifier = notifyWebhook(url, events, context);
    events.emit({ ...started, check: true } as DeployEvent);
    events.emit(finished('checked', 0, []));
    await notifier.close();
    expect(bodies).toEqual([]);
  });

  it('warns, naming only the origin, when the webhook answers 5xx, refuses, or does not answer', async () => {
    const cases: [string, () => Promise<URL>, RegExp][] = [
      ['5xx', () => listen((respond) => respond(500)), /failed: HTTP 500 \(the run goes on\)$/],
      ['silent', () => listen(() => undefined), /failed: no answer within 0.3s \(the run goes on\)$/],
      [
        'refused',
        async () => {
          const url = await listen(() => undefined);
          await new Promise((resolve) => server!.close(resolve));
          server = undefined;
          return url;
        },
        /failed: ECONNREFUSED \(the run goes on\)$/,
      ],
    ];
    for (const [name, start, expected] of cases) {
      const url = await start();
      const events = new EventBus();
      const warnings: string[] = [];
      events.subscribe((e) => e.type === 'warning' && warnings.push(e.message));
      const notifier = notifyWebhook(url, events, context, { timeoutMs: 300 });
      events.emit(started);
      await notifier.close();
      expect(warnings, name).toHaveLength(1);
      expect(warnings[0], name).toMatch(
        new RegExp(`^webhook notification to ${url.origin.replace(/[.]/g, '\\.')} failed`),
      );
      expect(warnings[0], name).toMatch(expected);
      expect(JSON.stringify(events.history), name).not.toContain('secret');
      server?.closeAllConnections();
    }
  });

  it('refuses a URL that is not http(s), without echoing it', () => {
    expect(() => parseWebhookUrl('ftp://hooks.example/services/secret', '$BATON_WEBHOOK_URL')).toThrow(
      '$BATON_WEBHOOK_URL: is not an http(s) URL (scheme ftp:)',
    );
    expect(() => parseWebhookUrl('not a url secret', '$BATON_WEBHOOK_URL')).toThrow(
      /^\$BATON_WEBHOOK_URL: is not an http\(s\) URL$/,
    );
    expect(parseWebhookUrl('https://hooks.example/x', 'env').origin).toBe('https://hooks.example');
  });
});
