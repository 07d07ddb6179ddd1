/**
 * The wire formats the SDK clients speak: form-encoded query requests with XML responses (EC2's
 * dialect and the awsQuery one of ELB, ELBv2 and Auto Scaling), and CloudWatch's JSON 1.0 in
 * query-compatible mode. Errors are shaped so the SDK builds its own exception classes from them.
 */

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export type Params = Record<string, string>;

/** The values of a query list: `Prefix.member.N` (awsQuery) or `Prefix.N` (EC2), in order. */
export function list(params: Params, prefix: string): string[] {
  return indexed(params, prefix).map(([, key]) => params[key]!);
}

/** The structures of a query list: `Prefix.member.N.Field`, as objects. */
export function structs(params: Params, prefix: string): Record<string, string>[] {
  const out = new Map<number, Record<string, string>>();
  const re = new RegExp(`^${escape(prefix)}\\.(?:member\\.)?(\\d+)\\.(.+)$`);
  for (const [key, value] of Object.entries(params)) {
    const m = re.exec(key);
    if (!m) continue;
    const n = Number(m[1]);
    if (!out.has(n)) out.set(n, {});
    out.get(n)![m[2]!] = value;
  }
  return [...out.entries()].sort(([a], [b]) => a - b).map(([, v]) => v);
}

function indexed(params: Params, prefix: string): [number, string][] {
  const re = new RegExp(`^${escape(prefix)}\\.(?:member\\.)?(\\d+)$`);
  return Object.keys(params)
    .flatMap((k): [number, string][] => {
      const m = re.exec(k);
      return m ? [[Number(m[1]), k]] : [];
    })
    .sort(([a], [b]) => a - b);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export type XmlValue = string | number | boolean | undefined | XmlValue[] | { [key: string]: XmlValue };

/** Serializes a value as XML elements; lists as repeated `item` elements (`member` for awsQuery). */
export function toXml(value: XmlValue, itemTag: string): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return value.map((v) => `<${itemTag}>${toXml(v, itemTag)}</${itemTag}>`).join('');
  if (typeof value === 'object')
    return Object.entries(value)
      .map(([k, v]) => (v === undefined ? '' : `<${k}>${toXml(v, itemTag)}</${k}>`))
      .join('');
  return String(value).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const xmlHeaders = { 'content-type': 'text/xml;charset=UTF-8' };

export function querySuccess(action: string, namespace: string, result: XmlValue, requestId: string): WireResponse {
  const body = `<?xml version="1.0" encoding="UTF-8"?><${action}Response xmlns="${namespace}"><${action}Result>${toXml(result, 'member')}</${action}Result><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;
  return { status: 200, headers: xmlHeaders, body };
}

export function queryError(error: ApiError, requestId: string): WireResponse {
  const type = error.status >= 500 ? 'Receiver' : 'Sender';
  const body = `<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Error><Type>${type}</Type><Code>${error.code}</Code><Message>${toXml(error.message, 'member')}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
  return { status: error.status, headers: xmlHeaders, body };
}

export function ec2Success(action: string, result: XmlValue, requestId: string): WireResponse {
  const body = `<?xml version="1.0" encoding="UTF-8"?><${action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${requestId}</requestId>${toXml(result, 'item')}</${action}Response>`;
  return { status: 200, headers: xmlHeaders, body };
}

export function ec2Error(error: ApiError, requestId: string): WireResponse {
  const body = `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${error.code}</Code><Message>${toXml(error.message, 'item')}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`;
  return { status: error.status, headers: xmlHeaders, body };
}

export function jsonSuccess(result: unknown, requestId: string, version: '1.0' | '1.1' = '1.0'): WireResponse {
  return {
    status: 200,
    headers: { 'content-type': `application/x-amz-json-${version}`, 'x-amzn-requestid': requestId },
    body: JSON.stringify(result),
  };
}

/** JSON 1.0 error, with the header a query-compatible client reads the query error code from. */
export function jsonError(error: ApiError, requestId: string, version: '1.0' | '1.1' = '1.0'): WireResponse {
  const type = error.status >= 500 ? 'Receiver' : 'Sender';
  return {
    status: error.status,
    headers: {
      'content-type': `application/x-amz-json-${version}`,
      'x-amzn-requestid': requestId,
      'x-amzn-query-error': `${error.code};${type}`,
    },
    body: JSON.stringify({ __type: error.code, message: error.message }),
  };
}

/** A JSON request body, flattened to the same `a.b.1` keys as query params, for the call log. */
export function flatten(value: unknown, prefix = '', out: Params = {}): Params {
  if (Array.isArray(value)) value.forEach((v, i) => flatten(v, `${prefix}.${i + 1}`, out));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  else if (value !== undefined) out[prefix] = String(value);
  return out;
}
