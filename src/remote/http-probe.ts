/**
 * An HTTP GET made on the host itself, for hosts whose sshd refuses TCP forwarding
 * (`AllowTcpForwarding no`), where no tunnel can reach the container's port. It runs the first client
 * the host has: curl, GNU wget, bash's /dev/tcp, or busybox's wget (whose `-S` crashes in Debian 12's
 * build, so it reports only 2xx or the error status). The status comes from the status line the client
 * prints. No proxy the host's environment names is used, and nothing is retried: the health check polls. Port and path are single-quoted arguments; nothing else of the request comes from outside.
 */
import { BatonError } from '../errors.ts';
import { script, type Command } from './command.ts';
import { joinShell, sh } from './shell.ts';

/** The host has no HTTP client Baton can drive: the check cannot run there. */
export class NoHttpClientError extends BatonError {}

/** Marks the end of the client's output with its exit status, so the command itself always exits 0. */
const EXIT_MARK = 'baton-probe-exit=';
const NO_CLIENT = 'baton-probe: no http client';
/** Busybox wget said nothing but succeeded: some 2xx status. */
const SOME_2XX = 'baton-probe: 2xx';

export function onHostGet(port: number, path: string, timeoutMs: number): Command {
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  const url = `http://127.0.0.1:${port}${path}`;
  const bashGet =
    'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET %s HTTP/1.0\\r\\nHost: 127.0.0.1:%s\\r\\nUser-Agent: baton\\r\\nConnection: close\\r\\n\\r\\n" "$2" "$1" >&3 && IFS= read -r line <&3 && printf "%s\\n" "$line"';
  return script(
    joinShell(
      [
        sh`if command -v curl >/dev/null 2>&1; then`,
        sh`  curl -sS -o /dev/null -D - --noproxy '*' --max-time ${seconds} -A baton -- ${url} 2>&1`,
        sh`elif command -v wget >/dev/null 2>&1 && wget --version 2>/dev/null | grep -q "GNU Wget"; then`,
        sh`  wget -S -O /dev/null --no-proxy -t 1 -T ${seconds} -- ${url} 2>&1`,
        sh`elif command -v bash >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then`,
        sh`  timeout ${seconds} bash -c ${bashGet} _ ${port} ${path} 2>&1`,
        sh`elif command -v busybox >/dev/null 2>&1 && busybox --list | grep -qx wget; then`,
        sh`  busybox wget -q -Y off -O /dev/null -T ${seconds} ${url} 2>&1 && echo ${SOME_2XX}`,
        sh`else`,
        sh`  echo ${NO_CLIENT}; false`,
        sh`fi`,
        sh`echo ${EXIT_MARK}"$?"`,
      ],
      '\n',
    ),
    sh`GET ${url} on the host (curl, wget or bash)`,
  );
}

/**
 * The status from the client's output: the last status line (after redirects), else an error with the
 * client's own words ("Connection refused").
 */
export function parseOnHostGet(output: string, url: string): { status: number } {
  if (output.includes(NO_CLIENT))
    throw new NoHttpClientError(`neither curl, wget nor bash is installed on the host to GET ${url}`);
  const statuses = [...output.matchAll(/\bHTTP\/[\d.]+ (\d{3})\b/g)].map((m) => Number(m[1]));
  if (statuses.length) return { status: statuses.at(-1)! };
  if (output.includes(SOME_2XX)) return { status: 200 };
  const exit = /baton-probe-exit=(\d+)/.exec(output)?.[1];
  const said = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith(EXIT_MARK))
    .at(-1);
  throw new BatonError(`GET ${url} on the host: ${said ?? (exit === '124' ? 'timed out' : 'no answer')}`);
}
