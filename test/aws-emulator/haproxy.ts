/** HAProxy's runtime API, as the emulator's load balancers use it: server states and live sessions. */
import { connect } from 'node:net';

export interface ServerStat {
  readonly status: string;
  readonly sessions: number;
}

export class HaproxyDriver {
  constructor(private readonly api: { host: string; port: number }) {}

  /** One command per connection, as the runtime API expects without `prompt` mode. */
  command(command: string, timeoutMs = 5_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.api.port, this.api.host);
      const chunks: Buffer[] = [];
      socket.setTimeout(timeoutMs, () =>
        socket.destroy(new Error(`HAProxy runtime API ${this.api.host}:${this.api.port}: no answer to "${command}"`)),
      );
      socket.on('connect', () => socket.end(`${command}\n`));
      socket.on('data', (b: Buffer) => chunks.push(b));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
    });
  }

  async setState(backend: string, server: string, state: 'ready' | 'drain' | 'maint'): Promise<void> {
    const answer = (await this.command(`set server ${backend}/${server} state ${state}`)).trim();
    if (answer) throw new Error(`HAProxy: set server ${backend}/${server} state ${state}: ${answer}`);
  }

  /** `backend/server` → status (UP, DOWN, MAINT, DRAIN, "UP 1/2"...) and current sessions. */
  async stats(): Promise<Map<string, ServerStat>> {
    const csv = await this.command('show stat');
    const [header, ...rows] = csv.replace(/^# /, '').trim().split('\n');
    const cols = header!.split(',');
    const at = (row: string[], name: string) => row[cols.indexOf(name)] ?? '';
    const out = new Map<string, ServerStat>();
    for (const line of rows) {
      const row = line.split(',');
      const server = at(row, 'svname');
      if (server === 'FRONTEND' || server === 'BACKEND') continue;
      out.set(`${at(row, 'pxname')}/${server}`, { status: at(row, 'status'), sessions: Number(at(row, 'scur')) });
    }
    return out;
  }
}
