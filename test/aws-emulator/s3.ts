/**
 * S3 on its REST-XML wire, path-style (`/bucket/key`), for what Baton keeps in a bucket: the deploy
 * lock and the history. Objects with ETags and Last-Modified, conditional writes as S3 does them
 * (`If-None-Match: *` creates only, `If-Match: "etag"` replaces only that version, 412 otherwise),
 * GetObject, HeadObject, DeleteObject and ListObjectsV2 with prefix, max-keys and continuation tokens.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ApiError, type WireResponse } from './wire.ts';

interface StoredObject {
  readonly body: Buffer;
  readonly etag: string;
  readonly lastModified: Date;
  readonly contentType: string;
}

export interface S3Request {
  readonly action: string;
  readonly params: Record<string, string>;
  run(): WireResponse;
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const xml = (body: string): WireResponse => ({
  status: 200,
  headers: { 'content-type': 'application/xml' },
  body: `<?xml version="1.0" encoding="UTF-8"?>\n${body}`,
});

export function s3Error(error: ApiError, requestId: string, head: boolean): WireResponse {
  // HEAD answers carry no body: the SDK maps the bare status (404 -> NotFound).
  if (head) return { status: error.status, headers: { 'x-amz-request-id': requestId }, body: '' };
  return {
    status: error.status,
    headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${error.code}</Code><Message>${escapeXml(error.message)}</Message><RequestId>${requestId}</RequestId></Error>`,
  };
}

export class S3Store {
  private readonly buckets = new Map<string, Map<string, StoredObject>>();

  constructor(buckets: readonly string[]) {
    for (const b of buckets) this.buckets.set(b, new Map());
  }

  /** Parses a request for `/bucket[/key]`; undefined when the path is not S3's. */
  route(req: IncomingMessage, url: URL, body: Buffer): S3Request | undefined {
    const [, bucket, ...rest] = url.pathname.split('/');
    if (!bucket) return undefined;
    const key = decodeURIComponent(rest.join('/'));
    const method = req.method ?? 'GET';
    const header = (name: string) => {
      const v = req.headers[name];
      return typeof v === 'string' ? v : undefined;
    };
    const objects = () => {
      const b = this.buckets.get(bucket);
      if (!b) throw new ApiError('NoSuchBucket', 'The specified bucket does not exist', 404);
      return b;
    };
    const params: Record<string, string> = { Bucket: bucket, ...(key && { Key: key }) };
    for (const h of ['if-match', 'if-none-match'])
      if (header(h)) params[h === 'if-match' ? 'IfMatch' : 'IfNoneMatch'] = header(h)!;

    if (!key && method === 'GET' && url.searchParams.get('list-type') === '2') {
      const prefix = url.searchParams.get('prefix') ?? '';
      const maxKeys = Math.min(Number(url.searchParams.get('max-keys') ?? 1000), 1000);
      const token = url.searchParams.get('continuation-token');
      Object.assign(params, { Prefix: prefix, MaxKeys: String(maxKeys), ...(token && { ContinuationToken: token }) });
      return {
        action: 'ListObjectsV2',
        params,
        run: () => {
          const start = token ? Buffer.from(token, 'base64url').toString() : '';
          const keys = [...objects().keys()].filter((k) => k.startsWith(prefix) && k > start).sort();
          const page = keys.slice(0, maxKeys);
          const truncated = keys.length > page.length;
          const contents = page
            .map((k) => {
              const o = objects().get(k)!;
              return `<Contents><Key>${escapeXml(k)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${escapeXml(o.etag)}</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
            })
            .join('');
          const next = truncated
            ? `<NextContinuationToken>${Buffer.from(page.at(-1)!).toString('base64url')}</NextContinuationToken>`
            : '';
          return xml(
            `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${escapeXml(bucket)}</Name><Prefix>${escapeXml(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${contents}${next}</ListBucketResult>`,
          );
        },
      };
    }
    if (!key)
      return {
        action: `${method} bucket`,
        params,
        run: () => {
          throw new ApiError('NotImplemented', `The emulator does not implement ${method} on a bucket`, 501);
        },
      };

    const existing = () => objects().get(key);
    const objectHeaders = (o: StoredObject) => ({
      etag: o.etag,
      'last-modified': o.lastModified.toUTCString(),
      'content-type': o.contentType,
      'content-length': String(o.body.length),
    });
    /** S3's precondition check on writes: `*` means "exists" for If-Match and "absent" for If-None-Match. */
    const checkWrite = () => {
      const o = existing();
      const ifMatch = header('if-match');
      const ifNoneMatch = header('if-none-match');
      if (ifMatch !== undefined && (!o || (ifMatch !== '*' && ifMatch !== o.etag))) {
        if (!o) throw new ApiError('NoSuchKey', 'The specified key does not exist.', 404);
        throw new ApiError('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412);
      }
      if (ifNoneMatch === '*' && o)
        throw new ApiError('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412);
    };
    switch (method) {
      case 'PUT':
        return {
          action: 'PutObject',
          params,
          run: () => {
            checkWrite();
            const etag = `"${createHash('md5').update(body).digest('hex')}"`;
            objects().set(key, {
              body,
              etag,
              lastModified: new Date(),
              contentType: header('content-type') ?? 'binary/octet-stream',
            });
            return { status: 200, headers: { etag }, body: '' };
          },
        };
      case 'GET':
      case 'HEAD':
        return {
          action: method === 'GET' ? 'GetObject' : 'HeadObject',
          params,
          run: () => {
            const o = existing();
            if (!o)
              throw new ApiError(method === 'GET' ? 'NoSuchKey' : 'NotFound', 'The specified key does not exist.', 404);
            return { status: 200, headers: objectHeaders(o), body: method === 'GET' ? o.body.toString() : '' };
          },
        };
      case 'DELETE':
        return {
          action: 'DeleteObject',
          params,
          run: () => {
            checkWrite();
            objects().delete(key);
            return { status: 204, headers: {}, body: '' };
          },
        };
      default:
        return {
          action: method,
          params,
          run: () => {
            throw new ApiError(
              'MethodNotAllowed',
              `The specified method is not allowed against this resource: ${method}`,
              405,
            );
          },
        };
    }
  }

  /** The stored objects as text, for the control endpoint and tests. */
  snapshot(): Record<string, Record<string, string>> {
    return Object.fromEntries(
      [...this.buckets].map(([b, objects]) => [
        b,
        Object.fromEntries([...objects].map(([k, o]) => [k, o.body.toString()])),
      ]),
    );
  }
}
