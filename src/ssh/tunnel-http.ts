/** HTTP over an SSH `direct-tcpip` channel, with Node's own client: chunked bodies, keep-alive headers and all. */
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { ClientChannel } from 'ssh2';

/** Bodies beyond this are cut: health endpoints answer with a few bytes. */
const BODY_CAP = 1024 * 1024;

/** GET `path` from the port the channel was opened to; rejects on any error of the channel or the request. */
export function getOver(channel: ClientChannel, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    channel.on('error', reject);
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'GET',
        headers: { 'user-agent': 'baton', connection: 'close' },
        createConnection: () => channel as unknown as Socket,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (b: Buffer) => {
          if (size < BODY_CAP) chunks.push(b);
          size += b.length;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).subarray(0, BODY_CAP).toString() }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
