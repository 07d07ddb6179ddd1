/**
 * Benchmark: a real rolling deploy on the sandbox fleet, one host at a time, timed from the outside.
 * Prints the wall time of `baton deploy`, each host's turn and out-of-service window, and Baton's
 * peak memory. Run: `node --import tsx bench/deploy.ts [hosts=3] [rounds=2]` (after `npm run build`).
 *
 * The bar (same machine class, serial 1): Ansible about 1.4 s + 3.5 s per host; a bare ssh loop with
 * ControlMaster about 2.0 s per host.
 */
import { runBaton } from '../test/e2e/baton.ts';
import { startSandbox } from '../test/fleet/sandbox.ts';

const hosts = Number(process.argv[2] ?? 3);
const rounds = Number(process.argv[3] ?? 2);
const sandbox = await startSandbox({ hosts, log: (l) => console.error(`fleet: ${l}`) });
try {
  const tags = ['v2', 'v3', 'v1'];
  for (let round = 0; round < rounds; round++) {
    const tag = tags[round % tags.length]!;
    const started = Date.now();
    const run = await runBaton([
      'deploy',
      '--config',
      sandbox.configFile,
      '--deployment',
      'sandbox',
      '--image',
      `${sandbox.fleet.appRepository}:${tag}`,
      '--reporter',
      'json',
    ]);
    const wall = (Date.now() - started) / 1000;
    if (run.code !== 0) throw new Error(`deploy failed (${run.code}):\n${run.stdout}\n${run.stderr}`);
    const finished = run.events.find((e) => e.type === 'run-finished') as Extract<
      (typeof run.events)[number],
      { type: 'run-finished' }
    >;
    const turns = new Map<string, number>();
    for (const e of run.events) {
      if (e.type === 'step' && e.scope === 'host' && e.step === 'deregister' && e.status === 'started')
        turns.set(e.host, Date.parse(e.at));
      if (e.type === 'host-finished') turns.set(e.host, Date.parse(e.at) - (turns.get(e.host) ?? Date.parse(e.at)));
    }
    const firstOut = run.events.find((e) => e.type === 'step' && e.scope === 'host' && e.status === 'started');
    const setup = firstOut ? (Date.parse(firstOut.at) - started) / 1000 : NaN;
    console.log(
      `round ${round + 1}: v? -> ${tag} on ${hosts} hosts: ${wall.toFixed(2)} s wall (${(wall / hosts).toFixed(2)} s per host), ${setup.toFixed(2)} s before the first host left service, peak RSS ${(finished.maxRssKb / 1024).toFixed(0)} MiB`,
    );
    for (const h of finished.hosts) {
      console.log(
        `  ${h.host}: turn ${((turns.get(h.host) ?? 0) / 1000).toFixed(2)} s, out of service ${(h.outOfServiceMs / 1000).toFixed(2)} s`,
      );
    }
  }
} finally {
  await sandbox.stop();
}
