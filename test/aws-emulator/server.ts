/**
 * The AWS emulator's HTTP server: one endpoint for every service, as the SDK clients reach it with
 * `endpoint`. Query requests are routed by their `Version`, JSON ones by `X-Amz-Target`, S3's REST
 * requests by their path (`/bucket/key`, path-style). Control endpoints under /_emulator/ expose the ordered call log, the state, and fault injection.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Store, s3Error } from './s3.ts';
import { SERVICES } from './services.ts';
import type { EmulatorCall, EmulatorFault, EmulatorSpec, EmulatorState, Service } from './types.ts';
import {
  ApiError,
  ec2Error,
  ec2Success,
  flatten,
  jsonError,
  jsonSuccess,
  queryError,
  querySuccess,
  type Params,
  type WireResponse,
  type XmlValue,
} from './wire.ts';
import { World } from './world.ts';

export type { EmulatorCall, EmulatorFault, EmulatorSpec, EmulatorState } from './types.ts';

export interface Emulator {
  readonly url: string;
  readonly port: number;
  calls(): EmulatorCall[];
  clearCalls(): void;
  injectFault(fault: EmulatorFault): void;
  clearFaults(): void;
  state(): Promise<EmulatorState>;
  close(): Promise<void>;
}

const VERSIONS: Record<string, { service: Exclude<Service, 's3'>; namespace: string }> = {
  '2016-11-15': { service: 'ec2', namespace: 'http://ec2.amazonaws.com/doc/2016-11-15/' },
  '2012-06-01': { service: 'elb', namespace: 'http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/' },
  '2015-12-01': { service: 'elbv2', namespace: 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/' },
  '2011-01-01': { service: 'autoscaling', namespace: 'http://autoscaling.amazonaws.com/doc/2011-01-01/' },
};
/** JSON-protocol services, by X-Amz-Target prefix, with their JSON version. */
const JSON_TARGETS = [
  ['GraniteServiceVersion20100801.', 'cloudwatch', '1.0'],
  ['AmazonEC2ContainerRegistry_V20150921.', 'ecr', '1.1'],
] as const;

export async function startEmulator(
  spec: EmulatorSpec,
  options: { host?: string; port?: number; log?: (line: string) => void } = {},
): Promise<Emulator> {
  const world = new World(spec, options.log);
  world.stuck = (kind, action) =>
    faults.some((f) => f.fault.kind === kind && (f.fault.action === action || f.fault.action === '*'));
  const s3 = new S3Store(spec.buckets ?? []);
  const calls: EmulatorCall[] = [];
  let faults: { fault: EmulatorFault; left: number }[] = [];
  let seq = 0;

  const record = (service: Service, action: string, params: Params, outcome: string) =>
    calls.push({ seq: ++seq, service, action, params, at: Date.now(), outcome });

  /** Applies the faults armed for this action; returns the error to answer with, if any. */
  const applyFaults = async (
    service: Service,
    action: string,
    key?: string,
  ): Promise<ApiError | { lose: () => void } | undefined> => {
    // A call that fails never had its answer lost: the lost-answer fault waits for one that goes through.
    let lost: { left: number } | undefined;
    for (const f of faults) {
      if (f.left <= 0 || (f.fault.action !== action && f.fault.action !== '*')) continue;
      if (f.fault.key !== undefined && !(key ?? '').includes(f.fault.key)) continue;
      switch (f.fault.kind) {
        case 'conflict409':
          f.left--;
          return new ApiError(
            'ConditionalRequestConflict',
            'A conflicting operation occurred. If using PutObject you can retry the request.',
            409,
          );
        case 'lost-answer':
          lost ??= f;
          break;
        case 'latency':
          f.left--;
          await new Promise((r) => setTimeout(r, f.fault.ms ?? 1_000));
          break;
        case 'throttle':
          f.left--;
          if (service === 's3') return new ApiError('SlowDown', 'Please reduce your request rate.', 503);
          return service === 'ec2'
            ? new ApiError('RequestLimitExceeded', 'Request limit exceeded.', 503)
            : new ApiError('Throttling', 'Rate exceeded', 400);
        case 'error5xx':
          f.left--;
          return service === 'ec2' || service === 's3'
            ? new ApiError('InternalError', 'An internal error has occurred', 500)
            : new ApiError('ServiceUnavailable', 'Service is unavailable', 503);
        case 'launch-instance': {
          f.left--;
          const id = world.launchInto();
          if (id) record('autoscaling', 'Launch', { InstanceId: id }, 'ok');
          break;
        }
        case 'stuck-deregistration':
        case 'stuck-registration':
          break;
      }
    }
    faults = faults.filter((f) => f.left > 0);
    // Spent only on a call that goes through: one refused by its own condition has no answer to lose.
    const chosen = lost;
    return chosen ? { lose: () => void chosen.left-- } : undefined;
  };

  const handleApi = async (req: IncomingMessage, body: string): Promise<WireResponse> => {
    const requestId = randomUUID();
    const target = req.headers['x-amz-target'];
    for (const [prefix, service, version] of JSON_TARGETS) {
      if (typeof target !== 'string' || !target.startsWith(prefix)) continue;
      const action = target.slice(prefix.length);
      const json = (body ? JSON.parse(body) : {}) as Record<string, unknown>;
      const params = flatten(json);
      return answer(
        service,
        action,
        params,
        json,
        (r) => jsonSuccess(r, requestId, version),
        (e) => jsonError(e, requestId, version),
      );
    }
    const params = Object.fromEntries(new URLSearchParams(body)) as Params;
    const { Action: action = '', Version: version = '', ...rest } = params;
    const route = VERSIONS[version];
    if (!route)
      return queryError(
        new ApiError('InvalidAction', `The emulator does not serve API version ${JSON.stringify(version)}`),
        requestId,
      );
    const { service, namespace } = route;
    return service === 'ec2'
      ? answer(
          service,
          action,
          rest,
          {},
          (r) => ec2Success(action, r as XmlValue, requestId),
          (e) => ec2Error(e, requestId),
        )
      : answer(
          service,
          action,
          rest,
          {},
          (r) => querySuccess(action, namespace, r as XmlValue, requestId),
          (e) => queryError(e, requestId),
        );
  };

  const handleS3 = async (req: IncomingMessage, url: URL, body: Buffer): Promise<WireResponse | undefined> => {
    const request = s3.route(req, url, body);
    if (!request) return undefined;
    const requestId = randomUUID();
    try {
      const injected = await applyFaults('s3', request.action, request.params.Key);
      if (injected instanceof ApiError) throw injected;
      const response = request.run();
      if (injected) {
        injected.lose();
        // Done, but the answer is lost: what the client sees is a 500 it retries.
        record('s3', request.action, request.params, 'ok, answer lost');
        return s3Error(
          new ApiError('InternalError', 'We encountered an internal error. Please try again.', 500),
          requestId,
          req.method === 'HEAD',
        );
      }
      record('s3', request.action, request.params, 'ok');
      return { ...response, headers: { ...response.headers, 'x-amz-request-id': requestId } };
    } catch (error) {
      const apiError = error instanceof ApiError ? error : new ApiError('InternalError', (error as Error).message, 500);
      record('s3', request.action, request.params, apiError.code);
      return s3Error(apiError, requestId, req.method === 'HEAD');
    }
  };

  const answer = async (
    service: Exclude<Service, 's3'>,
    action: string,
    params: Params,
    json: Record<string, unknown>,
    ok: (result: unknown) => WireResponse,
    fail: (error: ApiError) => WireResponse,
  ): Promise<WireResponse> => {
    const handler = SERVICES[service][action];
    if (!handler) {
      record(service, action, params, 'InvalidAction');
      return fail(new ApiError('InvalidAction', `The emulator does not implement ${service} ${action}`));
    }
    try {
      const injected = await applyFaults(service, action);
      if (injected instanceof ApiError) throw injected;
      const result = await handler(world, params, json);
      if (injected) {
        injected.lose();
        record(service, action, params, 'ok, answer lost');
        return fail(new ApiError('InternalFailure', 'An internal error occurred', 500));
      }
      record(service, action, params, 'ok');
      return ok(result);
    } catch (error) {
      const apiError =
        error instanceof ApiError ? error : new ApiError('InternalFailure', (error as Error).message, 500);
      record(service, action, params, apiError.code);
      return fail(apiError);
    }
  };

  const control = async (req: IncomingMessage, path: string, body: string): Promise<[number, unknown]> => {
    const route = `${req.method} ${path}`;
    switch (route) {
      case 'GET calls':
        return [200, calls];
      case 'DELETE calls':
        calls.length = 0;
        return [204, undefined];
      case 'POST faults': {
        const fault = JSON.parse(body) as EmulatorFault;
        faults.push({ fault, left: fault.kind.startsWith('stuck-') ? Infinity : (fault.times ?? 1) });
        return [204, undefined];
      }
      case 'DELETE faults':
        faults = [];
        world.unstick();
        return [204, undefined];
      case 'GET state':
        await world.tick();
        return [200, { ...world.snapshot(), buckets: s3.snapshot() }];
      default:
        return [404, { error: `no control endpoint ${route}` }];
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString();
      const url = new URL(req.url ?? '/', 'http://emulator');
      const respond = async () => {
        if (url.pathname.startsWith('/_emulator/')) {
          const [status, payload] = await control(req, url.pathname.slice('/_emulator/'.length), body);
          res
            .writeHead(status, { 'content-type': 'application/json' })
            .end(payload === undefined ? undefined : JSON.stringify(payload));
          return;
        }
        const r = (url.pathname !== '/' && (await handleS3(req, url, raw))) || (await handleApi(req, body));
        res.writeHead(r.status, r.headers).end(r.body);
      };
      respond().catch((error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error)));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host ?? '127.0.0.1'}:${port}`;
  options.log?.(`AWS emulator listening on ${url}`);
  return {
    url,
    port,
    calls: () => [...calls],
    clearCalls: () => void (calls.length = 0),
    injectFault: (fault) =>
      faults.push({ fault, left: fault.kind.startsWith('stuck-') ? Infinity : (fault.times ?? 1) }),
    clearFaults: () => {
      faults = [];
      world.unstick();
    },
    state: async () => {
      await world.tick();
      return { ...world.snapshot(), buckets: s3.snapshot() };
    },
    close: () =>
      new Promise<void>((resolve) => {
        world.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
