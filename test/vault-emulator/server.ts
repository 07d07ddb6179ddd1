/**
 * An in-process HashiCorp Vault HTTP API emulator, written from Vault's API documentation
 * (https://developer.hashicorp.com/vault/api-docs) for what node-vault-client 1.0.2 sends: health,
 * token lookup-self and renew-self, AppRole and AWS IAM login, KV v1 and v2 reads and lists.
 *
 * Vault's order of checks: sealed (503), then the token (403), then the policy (403), then the route
 * (404/405). Errors carry Vault's words and shapes: `permission denied` for a missing token, with
 * `invalid token` for an unknown or expired one, `1 error occurred:\n\t* permission denied\n\n` for a
 * policy refusal, `no handler for route "…". route entry not found.` for an unmounted path.
 *
 * Simplifications, on purpose:
 * - Policies are path prefixes (a trailing `*` is allowed and ignored) granting read and list; `*`
 *   grants everything, as the root token (reported policies: `root`, else `default`). Writes by a
 *   token without `*` are refused (403) as Vault refuses a missing capability; with `*` they get 405.
 * - One set of mounts, seen alike from every namespace. A token works in its own namespace and its
 *   children (root tokens everywhere), policy paths being relative to the token's namespace, as in
 *   Vault Enterprise; a namespaced token sent without X-Vault-Namespace is refused, as Vault does.
 * - IAM login checks the shape of the signed sts:GetCallerIdentity request but not its signature, and
 *   needs `role` (Vault would infer it from the caller's ARN, which only STS knows).
 * - renew-self ignores `increment`: the token gets its whole TTL again.
 * Defaults as Vault's: spec tokens never expire unless ttlSeconds is set (renewable when they expire);
 * AppRole and IAM logins issue renewable 768h tokens, for which node-vault-client arms a renewal timer
 * (set renewable: false, or stop it, in tests). A KV v1 secret given as a version list reads as its last.
 * Node's HTTP parser has no LIST method: those requests are read from the parser's error, by hand.
 * The request log keeps methods, paths, header names and namespaces: never header values or bodies.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface VaultSpec {
  /** KV engines by mount path (no slashes), with their version. Secrets keyed by path inside the mount. For v2 each secret is a list of versions (oldest first; a `null` entry is a deleted version). */
  mounts: Record<
    string,
    { version: 1 | 2; secrets: Record<string, Record<string, string> | (Record<string, string> | null)[]> }
  >;
  /** Tokens: id → policy. `paths` are path prefixes the token may read (e.g. 'secret/data/api'), `*` for all. renewable/ttl as Vault reports. */
  tokens?: Record<string, { paths: string[]; ttlSeconds?: number; renewable?: boolean; namespace?: string }>;
  /** AppRoles: role_id → { secretId, paths, ttlSeconds?, renewable? }; login issues a fresh token with those paths. */
  approles?: Record<string, { secretId: string; paths: string[]; ttlSeconds?: number; renewable?: boolean }>;
  /** AWS IAM auth roles: role name → paths. Login accepts node-vault-client's iam login body (iam_http_request_method, iam_request_url, iam_request_body, iam_request_headers, all base64 where Vault says so) and checks the decoded body is an sts GetCallerIdentity request and the headers carry an Authorization header (do not verify signatures). */
  awsRoles?: Record<string, { paths: string[] }>;
  sealed?: boolean;
}
export interface VaultRequest {
  method: string;
  path: string;
  /** header names only, lowercased, never values */
  headers: string[];
  namespace?: string;
  status: number;
}
export interface VaultEmulator {
  readonly url: string; // http://127.0.0.1:<port>
  readonly requests: VaultRequest[];
  seal(sealed: boolean): void;
  close(): Promise<void>;
}

const VERSION = '1.15.0-emulator';
/** Vault's system default TTL (768h): KV v1's lease_duration, and login tokens' TTL unless set. */
const DEFAULT_TTL = 2_764_800;

interface Token {
  readonly id: string;
  readonly accessor: string;
  readonly paths: string[];
  readonly ttl: number; // seconds; 0: never expires
  readonly renewable: boolean;
  readonly namespace: string; // '' for root
  readonly path: string; // creation path, as lookup-self reports it
  readonly displayName: string;
  readonly meta: Record<string, string> | null;
  readonly createdAt: number; // ms
  renewedAt?: number; // ms
}

type Reply = { status: number; body?: unknown };
type Op = 'read' | 'list' | 'update' | 'delete' | 'patch';
const OPS: Record<string, Op> = {
  GET: 'read',
  LIST: 'list',
  POST: 'update',
  PUT: 'update',
  DELETE: 'delete',
  PATCH: 'patch',
};

const reply = (status: number, body?: unknown): Reply => ({ status, body });
const errors = (status: number, ...messages: string[]): Reply => reply(status, { errors: messages });
/** Vault wraps request-handling errors in go-multierror's text. */
const multi = (...messages: string[]) =>
  `${messages.length === 1 ? '1 error' : `${messages.length} errors`} occurred:\n${messages.map((m) => `\t* ${m}\n`).join('')}\n`;
const denied = () => errors(403, multi('permission denied'));
const unsupported = () => errors(405, multi('unsupported operation'));
const envelope = (fields: Record<string, unknown>) => ({
  request_id: randomUUID(),
  lease_id: '',
  renewable: false,
  lease_duration: 0,
  data: null,
  wrap_info: null,
  warnings: null,
  auth: null,
  ...fields,
});
const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const random62 = (n: number) => [...randomBytes(n)].map((b) => BASE62[b % 62]).join('');
const trimSlashes = (s: string) => s.replace(/^\/+|\/+$/g, '');
const iso = (ms: number) => new Date(ms).toISOString();
const unix = (ms: number) => Math.floor(ms / 1000);

export async function startVaultEmulator(spec: VaultSpec): Promise<VaultEmulator> {
  let sealed = spec.sealed ?? false;
  const startedAt = Date.now();
  const requests: VaultRequest[] = [];
  const tokens = new Map<string, Token>();
  const awsRoleIds = new Map(Object.keys(spec.awsRoles ?? {}).map((name) => [name, randomUUID()]));

  const issue = (t: Omit<Token, 'id' | 'accessor' | 'createdAt'>, id = `hvs.${random62(24)}`): Token => {
    const token: Token = { ...t, id, accessor: random62(24), createdAt: Date.now() };
    tokens.set(id, token);
    return token;
  };
  for (const [id, t] of Object.entries(spec.tokens ?? {})) {
    const ttl = t.ttlSeconds ?? 0;
    const root = t.paths.includes('*') && ttl === 0;
    issue(
      {
        paths: t.paths,
        ttl,
        renewable: t.renewable ?? ttl > 0,
        namespace: trimSlashes(t.namespace ?? ''),
        path: root ? 'auth/token/root' : 'auth/token/create',
        displayName: root ? 'root' : 'token',
        meta: null,
      },
      id,
    );
  }

  const expiresAt = (t: Token) => (t.ttl ? (t.renewedAt ?? t.createdAt) + t.ttl * 1000 : undefined);
  const remaining = (t: Token) => Math.max(0, Math.round(((expiresAt(t) ?? Date.now()) - Date.now()) / 1000));
  const policies = (t: Token) => (t.paths.includes('*') ? ['root'] : ['default']);
  const authBlock = (t: Token) => ({
    client_token: t.id,
    accessor: t.accessor,
    policies: policies(t),
    token_policies: policies(t),
    metadata: t.meta,
    lease_duration: remaining(t),
    renewable: t.renewable,
    entity_id: '',
    token_type: 'service',
    orphan: true,
    mfa_requirement: null,
    num_uses: 0,
  });

  /** The token's policy paths are relative to its namespace; a child namespace prefixes the path. */
  const aclPath = (t: Token, namespace: string, path: string): string | undefined => {
    if (t.namespace === namespace) return path;
    if (t.namespace === '') return `${namespace}/${path}`;
    return namespace.startsWith(`${t.namespace}/`) ? `${namespace.slice(t.namespace.length + 1)}/${path}` : undefined;
  };
  const grants = (t: Token, path: string) => t.paths.some((p) => p === '*' || path.startsWith(p.replace(/\*$/, '')));

  const login = (op: Op, mount: string, run: () => Reply | Token): Reply => {
    if (op !== 'update') return unsupported();
    const result = run();
    if ('status' in result) return result;
    return reply(200, envelope({ auth: authBlock(result), mount_type: mount }));
  };

  const approleLogin = (body: Record<string, unknown>, namespace: string) => (): Reply | Token => {
    const roleId = typeof body.role_id === 'string' ? body.role_id.trim() : '';
    if (!roleId) return errors(400, 'missing role_id');
    const role = Object.hasOwn(spec.approles!, roleId) ? spec.approles![roleId]! : undefined;
    if (!role) return errors(400, 'invalid role or secret ID');
    const secretId = typeof body.secret_id === 'string' ? body.secret_id.trim() : '';
    if (!secretId) return errors(400, 'missing secret_id');
    if (secretId !== role.secretId) return errors(400, 'invalid role or secret ID');
    const ttl = role.ttlSeconds ?? DEFAULT_TTL;
    return issue({
      paths: role.paths,
      ttl,
      renewable: role.renewable ?? ttl > 0,
      namespace,
      path: 'auth/approle/login',
      displayName: 'approle',
      meta: { role_name: roleId },
    });
  };

  const awsLogin = (body: Record<string, unknown>, namespace: string) => (): Reply | Token => {
    const field = (name: string) => (typeof body[name] === 'string' ? (body[name] as string) : '');
    const b64 = (name: string) => {
      const raw = field(name);
      return /^[A-Za-z0-9+/]*={0,2}$/.test(raw) && raw.length % 4 === 0
        ? Buffer.from(raw, 'base64').toString('utf8')
        : undefined;
    };
    const method = field('iam_http_request_method');
    if (!method) return errors(400, 'missing iam_http_request_method');
    if (method !== 'POST') return errors(400, "invalid iam_http_request_method; currently only 'POST' is supported");
    if (!field('iam_request_url')) return errors(400, 'missing iam_request_url');
    const rawUrl = b64('iam_request_url');
    if (rawUrl === undefined) return errors(400, 'failed to base64 decode iam_request_url');
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      return errors(400, 'error parsing iam_request_url');
    }
    if (!field('iam_request_body')) return errors(400, 'missing iam_request_body');
    const stsBody = b64('iam_request_body');
    if (stsBody === undefined) return errors(400, 'failed to base64 decode iam_request_body');
    // Vault takes the headers as a JSON object, base64-encoded or not; values are strings or lists.
    let headers: Record<string, unknown> | undefined;
    const rawHeaders = body.iam_request_headers;
    try {
      const parsed: unknown =
        typeof rawHeaders === 'string'
          ? JSON.parse(rawHeaders.trim().startsWith('{') ? rawHeaders : (b64('iam_request_headers') ?? ''))
          : rawHeaders;
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) headers = parsed as Record<string, unknown>;
    } catch {
      headers = undefined;
    }
    if (!headers || Object.keys(headers).length === 0) return errors(400, 'missing iam_request_headers');
    // What STS would answer (Vault quotes it): the request must be a signed GetCallerIdentity.
    const sts = (status: number, code: string, message: string) =>
      errors(
        400,
        `error making upstream request: received error code ${status} from STS: <ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
      );
    const action = new URLSearchParams(stsBody).get('Action') ?? url.searchParams.get('Action');
    // Vault sends it to STS with the client's Host header: signed for another host, STS refuses it.
    if (!/^sts(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?$/.test(url.hostname))
      return sts(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided.',
      );
    if (action !== 'GetCallerIdentity')
      return sts(400, 'InvalidAction', `Could not find operation ${action ?? ''} for version 2011-06-15`);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'authorization'))
      return sts(403, 'MissingAuthenticationToken', 'Request is missing Authentication Token');
    const roleName = field('role');
    if (!roleName)
      return errors(
        400,
        'entry for role  not found (the emulator cannot infer the role from the caller ARN: send role)',
      );
    const role = Object.hasOwn(spec.awsRoles!, roleName) ? spec.awsRoles![roleName]! : undefined;
    if (!role) return errors(400, `entry for role ${roleName} not found`);
    return issue({
      paths: role.paths,
      ttl: DEFAULT_TTL,
      renewable: true,
      namespace,
      path: 'auth/aws/login',
      displayName: `aws-${roleName}`,
      meta: { auth_type: 'iam', role_id: awsRoleIds.get(roleName)! },
    });
  };

  const lookupSelf = (t: Token): Reply => {
    const expiry = expiresAt(t);
    return reply(
      200,
      envelope({
        mount_type: 'token',
        data: {
          accessor: t.accessor,
          creation_time: unix(t.createdAt),
          creation_ttl: t.ttl,
          display_name: t.displayName,
          entity_id: '',
          expire_time: expiry === undefined ? null : iso(expiry),
          explicit_max_ttl: 0,
          id: t.id,
          issue_time: iso(t.createdAt),
          meta: t.meta,
          num_uses: 0,
          orphan: true,
          path: t.path,
          policies: policies(t),
          renewable: t.renewable,
          ttl: remaining(t),
          type: 'service',
          ...(t.renewedAt !== undefined && { last_renewal: iso(t.renewedAt), last_renewal_time: unix(t.renewedAt) }),
        },
      }),
    );
  };

  const renewSelf = (t: Token): Reply => {
    if (!t.ttl) return errors(400, 'invalid lease ID');
    if (!t.renewable) return errors(400, 'lease is not renewable');
    t.renewedAt = Date.now();
    return reply(200, envelope({ auth: authBlock(t), mount_type: 'token' }));
  };

  // KV: version k of n was written (n-k) minutes before the emulator started; deletions at the start.
  const versionsOf = (entry: Record<string, string> | (Record<string, string> | null)[]) =>
    Array.isArray(entry) ? entry : [entry];
  const createdTime = (k: number, n: number) => iso(startedAt - (n - k) * 60_000);
  const versionMeta = (versions: (Record<string, string> | null)[], k: number) => ({
    created_time: createdTime(k, versions.length),
    custom_metadata: null,
    deletion_time: versions[k - 1] === null ? iso(startedAt) : '',
    destroyed: false,
    version: k,
  });
  const listKeys = (secrets: Record<string, unknown>, dir: string): Reply => {
    const keys = new Set<string>();
    for (const key of Object.keys(secrets)) {
      if (!key.startsWith(dir) || key === dir) continue;
      const rest = key.slice(dir.length);
      const slash = rest.indexOf('/');
      keys.add(slash < 0 ? rest : rest.slice(0, slash + 1));
    }
    if (keys.size === 0) return errors(404);
    return reply(200, envelope({ data: { keys: [...keys].sort() }, mount_type: 'kv' }));
  };

  const kv = (mount: VaultSpec['mounts'][string], sub: string, op: Op, query: URLSearchParams): Reply => {
    const secrets = mount.secrets;
    const find = (key: string) => (key && Object.hasOwn(secrets, key) ? versionsOf(secrets[key]!) : undefined);
    if (mount.version === 1) {
      if (op === 'list') return listKeys(secrets, sub);
      if (op !== 'read') return unsupported();
      const data = find(sub)?.at(-1);
      if (!data) return errors(404);
      return reply(200, envelope({ lease_duration: DEFAULT_TTL, data, mount_type: 'kv' }));
    }
    const slash = sub.indexOf('/');
    const api = slash < 0 ? sub : sub.slice(0, slash);
    const key = slash < 0 ? '' : sub.slice(slash + 1);
    if (api === 'data') {
      if (op !== 'read') return unsupported();
      const versions = find(key);
      if (!versions) return errors(404);
      const asked = query.get('version') ?? '0';
      if (!/^\d+$/.test(asked))
        return errors(
          400,
          `error converting input ${asked} for field "version": strconv.ParseInt: parsing "${asked}": invalid syntax`,
        );
      const k = Number(asked) || versions.length;
      if (k > versions.length) return errors(404);
      const data = versions[k - 1] ?? null;
      return reply(
        data ? 200 : 404,
        envelope({ data: { data, metadata: versionMeta(versions, k) }, mount_type: 'kv' }),
      );
    }
    if (api === 'metadata') {
      if (op === 'list') return listKeys(secrets, key);
      if (op !== 'read') return unsupported();
      const versions = find(key);
      if (!versions) return errors(404);
      const n = versions.length;
      const all = Object.fromEntries(
        versions.map((_, i) => {
          const { created_time, deletion_time, destroyed } = versionMeta(versions, i + 1);
          return [String(i + 1), { created_time, deletion_time, destroyed }];
        }),
      );
      return reply(
        200,
        envelope({
          data: {
            cas_required: false,
            created_time: createdTime(1, n),
            current_version: n,
            custom_metadata: null,
            delete_version_after: '0s',
            max_versions: 0,
            oldest_version: 0,
            updated_time: createdTime(n, n),
            versions: all,
          },
          mount_type: 'kv',
        }),
      );
    }
    if (['config', 'subkeys', 'delete', 'undelete', 'destroy'].includes(api))
      return errors(404, multi('unsupported path')); // real endpoints, not emulated
    const cli = { read: 'get', list: 'list', update: 'put', delete: 'delete', patch: 'patch' }[op];
    const warning = `Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv ${cli}' for this operation.`;
    return reply(404, envelope({ warnings: [warning] }));
  };

  const handle = (method: string, headers: IncomingHttpHeaders, url: URL, raw: string, namespace: string): Reply => {
    if (!url.pathname.startsWith('/v1/')) return reply(404, '404 page not found\n');
    let path: string;
    try {
      path = decodeURIComponent(url.pathname.slice('/v1/'.length));
    } catch {
      return errors(400, 'invalid request path');
    }
    if (path === 'sys/health') {
      if (method !== 'GET' && method !== 'HEAD') return errors(405);
      const code = (name: string, fallback: number) => Number(url.searchParams.get(name) ?? '') || fallback;
      const health = sealed
        ? {
            initialized: true,
            sealed: true,
            standby: true,
            performance_standby: false,
            replication_performance_mode: 'unknown',
            replication_dr_mode: 'unknown',
            server_time_utc: unix(Date.now()),
            version: VERSION,
          }
        : {
            initialized: true,
            sealed: false,
            standby: false,
            performance_standby: false,
            replication_performance_mode: 'disabled',
            replication_dr_mode: 'disabled',
            server_time_utc: unix(Date.now()),
            version: VERSION,
            cluster_name: 'vault-cluster-emulator',
            cluster_id: '00000000-0000-4000-8000-000000000000',
          };
      return reply(sealed ? code('sealedcode', 503) : code('activecode', 200), method === 'HEAD' ? undefined : health);
    }
    if (sealed) return errors(503, 'Vault is sealed');
    let op = OPS[method];
    if (!op) return errors(405);
    if (op === 'read' && /^(1|t|true)$/i.test(url.searchParams.get('list') ?? '')) op = 'list';
    if (op === 'list' && !path.endsWith('/')) path += '/';

    let body: Record<string, unknown> = {};
    if (raw.trim()) {
      try {
        const parsed: unknown = JSON.parse(raw);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
      } catch (error) {
        return errors(400, `failed to parse JSON input: ${(error as Error).message}`);
      }
    }

    // Login paths answer without a token.
    if (path === 'auth/approle/login' && spec.approles) return login(op, 'approle', approleLogin(body, namespace));
    if (path === 'auth/aws/login' && spec.awsRoles) return login(op, 'aws', awsLogin(body, namespace));

    const header = headers['x-vault-token'];
    const bearer = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '')?.[1];
    const id = (typeof header === 'string' && header) || bearer;
    if (!id) return errors(403, 'permission denied');
    const token = tokens.get(id);
    const expiry = token && expiresAt(token);
    if (!token || (expiry !== undefined && expiry <= Date.now())) {
      if (token) tokens.delete(id);
      return errors(403, multi('permission denied', 'invalid token'));
    }
    const acl = aclPath(token, namespace, path);
    if (acl === undefined) return denied();

    // The default policy lets every token look itself up and renew itself.
    if (path === 'auth/token/lookup-self') return op === 'read' || op === 'update' ? lookupSelf(token) : unsupported();
    if (path === 'auth/token/renew-self') return op === 'update' ? renewSelf(token) : unsupported();
    const writes = op !== 'read' && op !== 'list';
    if (writes ? !token.paths.includes('*') : !grants(token, acl)) return denied();

    const [first = '', second = ''] = path.split('/');
    if (first !== 'auth' && Object.hasOwn(spec.mounts, first))
      return kv(spec.mounts[first]!, path.slice(first.length + 1), op, url.searchParams);
    const builtin =
      ['sys', 'cubbyhole', 'identity'].includes(first) ||
      (first === 'auth' &&
        (second === 'token' || (second === 'approle' && !!spec.approles) || (second === 'aws' && !!spec.awsRoles)));
    if (builtin) return errors(404, multi('unsupported path')); // mounted in Vault, not emulated here
    return errors(404, `no handler for route ${JSON.stringify(path)}. route entry not found.`);
  };

  /** One request in, one answer out (status, headers, body), and its line in the log. */
  const serve = (method: string, target: string, headers: IncomingHttpHeaders, raw: string) => {
    const url = new URL(target, 'http://vault');
    const nsHeader = headers['x-vault-namespace'];
    const namespace = trimSlashes(typeof nsHeader === 'string' ? nsHeader : '');
    let r: Reply;
    try {
      r = handle(method, headers, url, raw, namespace);
    } catch (error) {
      r = errors(500, multi(`internal error: ${(error as Error).message}`));
    }
    requests.push({
      method,
      path: url.pathname + url.search,
      headers: Object.keys(headers),
      ...(namespace && { namespace }),
      status: r.status,
    });
    const text = typeof r.body === 'string';
    const body = r.body === undefined ? '' : text ? (r.body as string) : `${JSON.stringify(r.body)}\n`;
    return {
      status: r.status,
      headers: { 'content-type': text ? 'text/plain; charset=utf-8' : 'application/json', 'cache-control': 'no-store' },
      body,
    };
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const out = serve(req.method ?? 'GET', req.url ?? '/', req.headers, Buffer.concat(chunks).toString('utf8'));
      res.writeHead(out.status, out.headers).end(out.body);
    });
  });
  // Node's HTTP parser knows no LIST method (Vault's, and node-vault-client's list()): such a request
  // arrives as a parse error with its raw bytes, is read here by hand and answered on the socket.
  server.on('clientError', (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket) => {
    const packet = error.rawPacket?.toString('utf8') ?? '';
    const end = packet.indexOf('\r\n\r\n');
    const [requestLine = '', ...lines] = packet.slice(0, end < 0 ? packet.length : end).split('\r\n');
    const [method = '', target = ''] = requestLine.split(' ');
    if (
      error.code !== 'HPE_INVALID_METHOD' ||
      !/^[A-Z]+$/.test(method) ||
      !target.startsWith('/') ||
      !socket.writable
    ) {
      socket.destroy();
      return;
    }
    const headers: IncomingHttpHeaders = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const out = serve(method, target, headers, end < 0 ? '' : packet.slice(end + 4));
    const head = Object.entries({
      ...out.headers,
      'content-length': String(Buffer.byteLength(out.body)),
      connection: 'close',
    }).map(([k, v]) => `${k}: ${v}\r\n`);
    socket.end(`HTTP/1.1 ${out.status} ${STATUS_CODES[out.status] ?? ''}\r\n${head.join('')}\r\n${out.body}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    seal: (value) => void (sealed = value),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
