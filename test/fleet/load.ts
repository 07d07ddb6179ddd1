/**
 * A bounded load generator: sends GET requests through the load balancer and counts what comes back.
 * It always stops by itself, at `maxRequests` or `maxSeconds`, whichever comes first (or on stop()).
 * It only ever targets the URL it is given; callers pass 127.0.0.1 addresses of the sandbox.
 */
import { Agent, request } from 'node:http';

export interface LoadOptions {
  url: string;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** Upper bound on requests per second across all workers (default 200). */
  ratePerSecond?: number;
  maxRequests?: number;
  maxSeconds?: number;
  timeoutMs?: number;
}

export interface LoadResult {
  requests: number;
  ok: number;
  /** Responses with a status other than 2xx. */
  non2xx: number;
  /** Requests that got no HTTP response at all (refused, reset, timed out). */
  errors: number;
  /** Responses by body (the sandbox app answers with its version). */
  byBody: Record<string, number>;
  /** The first few failures, with when they happened (ms since start). */
  failures: { atMs: number; what: string }[];
  seconds: number;
}

export interface LoadRun {
  /** Resolves when the load has stopped. */
  readonly done: Promise<LoadResult>;
  /** Stops early; resolves with the totals. */
  stop(): Promise<LoadResult>;
}

export function startLoad(options: LoadOptions): LoadRun {
  const concurrency = options.concurrency ?? 4;
  const maxRequests = options.maxRequests ?? 100_000;
  const maxMs = (options.maxSeconds ?? 120) * 1000;
  const interval = 1000 / (options.ratePerSecond ?? 200);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const result: LoadResult = { requests: 0, ok: 0, non2xx: 0, errors: 0, byBody: {}, failures: [], seconds: 0 };
  const started = Date.now();
  let stopped = false;
  let nextSlot = started;

  const fail = (what: string) => {
    if (result.failures.length < 20) result.failures.push({ atMs: Date.now() - started, what });
  };
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request(options.url, { agent, timeout: options.timeoutMs ?? 5_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            result.ok++;
            const key = body.trim();
            result.byBody[key] = (result.byBody[key] ?? 0) + 1;
          } else {
            result.non2xx++;
            fail(`HTTP ${status}`);
          }
          resolve();
        });
        res.on('error', (e) => (result.errors++, fail(e.message), resolve()));
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (e) => (result.errors++, fail(e.message), resolve()));
      req.end();
    });
  const worker = async () => {
    while (!stopped && result.requests < maxRequests && Date.now() - started < maxMs) {
      // Pace the workers together so the total rate stays under the bound.
      const wait = nextSlot - Date.now();
      nextSlot = Math.max(nextSlot, Date.now()) + interval;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (stopped) break;
      result.requests++;
      await one();
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, worker)).then(() => {
    agent.destroy();
    result.seconds = (Date.now() - started) / 1000;
    return result;
  });
  return {
    done,
    stop: () => {
      stopped = true;
      return done;
    },
  };
}
