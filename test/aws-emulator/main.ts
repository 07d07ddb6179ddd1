/**
 * The emulator as its own process, for a sandbox that outlives its creator (`npm run fleet -- up`):
 *   node --import tsx test/aws-emulator/main.ts --spec spec.json [--port N] [--ready-file file]
 * Writes {"url","pid"} to the ready file (or stdout) once listening; stops on SIGTERM or SIGINT.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startEmulator } from './server.ts';
import type { EmulatorSpec } from './types.ts';

const { values } = parseArgs({
  options: { spec: { type: 'string' }, port: { type: 'string', default: '0' }, 'ready-file': { type: 'string' } },
});
if (!values.spec) {
  console.error('usage: main.ts --spec <file.json> [--port N] [--ready-file <file>]');
  process.exit(2);
}
const spec = JSON.parse(readFileSync(values.spec, 'utf8')) as EmulatorSpec;
const emulator = await startEmulator(spec, {
  port: Number(values.port),
  log: (line) => console.log(`${new Date().toISOString()} ${line}`),
});
const ready = JSON.stringify({ url: emulator.url, pid: process.pid });
if (values['ready-file']) writeFileSync(values['ready-file'], ready);
else console.log(ready);
const stop = () => void emulator.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
