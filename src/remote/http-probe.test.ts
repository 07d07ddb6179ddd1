import { describe, expect, it } from 'vitest';
import { NoHttpClientError, parseOnHostGet } from './http-probe.ts';

const url = 'http://127.0.0.1:8080/health';

describe('parseOnHostGet', () => {
  it('reads the last status line each client prints', () => {
    expect(
      parseOnHostGet(
        'HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nbaton-probe-exit=0\n',
        url,
      ),
    ).toEqual({ status: 204 });
    expect(parseOnHostGet('  HTTP/1.1 503 Service Unavailable\n  Server: x\nbaton-probe-exit=8\n', url)).toEqual({
      status: 503,
    });
    expect(parseOnHostGet('HTTP/1.0 200 OK\nbaton-probe-exit=0\n', url)).toEqual({ status: 200 });
    expect(parseOnHostGet('wget: server returned error: HTTP/1.1 404 Not Found\nbaton-probe-exit=1\n', url)).toEqual({
      status: 404,
    });
    expect(parseOnHostGet('baton-probe: 2xx\nbaton-probe-exit=0\n', url)).toEqual({ status: 200 });
  });

  it("gives the client's own words when no answer came", () => {
    expect(() =>
      parseOnHostGet(
        'bash: connect: Connection refused\nbash: line 1: /dev/tcp/127.0.0.1/8080: Connection refused\nbaton-probe-exit=1\n',
        url,
      ),
    ).toThrow(`GET ${url} on the host: bash: line 1: /dev/tcp/127.0.0.1/8080: Connection refused`);
    expect(() => parseOnHostGet('baton-probe-exit=124\n', url)).toThrow('timed out');
    expect(() => parseOnHostGet('baton-probe: no http client\nbaton-probe-exit=1\n', url)).toThrow(NoHttpClientError);
  });
});
