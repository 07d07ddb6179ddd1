/**
 * Benchmark: Baton side by side with the same rolling deploy done by a bash loop over ssh (ControlMaster,
 * ProxyJump) and the AWS CLI (bench/baseline/rolling.sh), and by an Ansible playbook (ansible-core,
 * pipelining, ControlPersist, ProxyJump; bench/baseline/rolling.yml), on the same sandbox, `serial` hosts at a time,
 * under load through the load balancer. Runs are interleaved (Baton, bash, Ansible, then again), each
 * starting cold: the new image absent from the hosts, no SSH master open. For each tool: wall time,
 * each host's time out of service (read from HAProxy, whoever drives it), the peak RSS of the tool's
 * whole process tree (ssh clients and Python workers included), and failed requests.
 *
 * Run: `node --import tsx bench/compare.ts [hosts=4,8] [rounds=3] [serial=1|25%]` (after `npm run build`; needs
 * ansible-core and the AWS CLI: `apt-get install ansible-core awscli`). Prints medians (min–max).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batonBin, sandboxEnv } from '../test/e2e/baton.ts';
import { HaproxyDriver } from '../test/aws-emulator/haproxy.ts';
import { dockerExec } from '../test/fleet/docker.ts';
import { BACKENDS } from '../test/fleet/lb.ts';
import { startLoad } from '../test/fleet/load.ts';
import { RESOURCES, startSandbox, type Sandbox } from '../test/fleet/sandbox.ts';
import { SANDBOX, SANDBOX_ALARMS } from '../test/fleet/sandbox-config.ts';

const sizes = (process.argv[2] ?? '4,8').split(',').map(Number);
const rounds = Number(process.argv[3] ?? 3);
/** Hosts per batch, for all three: a count or a percentage (Ansible's `serial`). */
const serial = process.argv[4] ?? '1';
const here = import.meta.dirname;

type Tool = 'baton' | 'bash' | 'ansible';
interface Sample {
  wallS: number;
  outOfServiceS: number[];
  peakRssMb: number;
  failed: number;
  requests: number;
}

/** Sums the RSS of a process and all its descendants, sampled every 100 ms; returns the peak in MB. */
function treeRss(root: number): { stop(): number } {
  let peak = 0;
  const sample = () => {
    const parent = new Map<number, number>();
    const rss = new Map<number, number>();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        parent.set(Number(entry), Number(fields[1]));
        rss.set(Number(entry), Number(fields[21]) * 4096);
      } catch {
        // gone meanwhile
      }
    }
    const inTree = (pid: number): boolean => {
      for (let p: number | undefined = pid, hops = 0; p && hops < 64; p = parent.get(p), hops++)
        if (p === root) return true;
      return false;
    };
    let total = 0;
    for (const [pid, bytes] of rss) if (inTree(pid)) total += bytes;
    peak = Math.max(peak, total);
  };
  const timer = setInterval(sample, 100);
  sample();
  return {
    stop: () => {
      clearInterval(timer);
      return peak / (1 << 20);
    },
  };
}

/** Time each HAProxy server spends not UP in the target group's backend, sampled every 50 ms. */
function outOfService(sandbox: Sandbox): { stop(): Promise<Map<string, number>> } {
  const driver = new HaproxyDriver(sandbox.fleet.lb.runtimeApi);
  const down = new Map<string, number>();
  let last = Date.now();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const stats = await driver.stats().catch(() => new Map());
      const now = Date.now();
      for (const [key, s] of stats) {
        const [backend, server] = key.split('/');
        if (backend !== BACKENDS.targetGroup) continue;
        if (!String(s.status).startsWith('UP')) down.set(server!, (down.get(server!) ?? 0) + (now - last));
      }
      last = now;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return down;
    },
  };
}

/** Starts a tool; `done` resolves with its exit code and output. */
function start(
  command: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
): { child: ChildProcess; done: Promise<{ code: number | null; out: string }> } {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...sandboxEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const done = new Promise<{ code: number | null; out: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
  return { child, done };
}

async function measure(sandbox: Sandbox, tool: Tool, image: string, dir: string, emulatorUrl: string): Promise<Sample> {
  const { fleet } = sandbox;
  // Cold: the image absent from every host; a fresh ControlPath, so no SSH master is open.
  await Promise.all(
    fleet.hosts.map((h) =>
      dockerExec(
        h.container,
        `docker rm -f live-previous >/dev/null 2>&1; docker rmi -f ${image} >/dev/null 2>&1; true`,
      ),
    ),
  );
  const cm = mkdtempSync(join(dir, 'cm-'));
  const sshConfig = join(dir, `ssh_config-${tool}`);
  writeFileSync(
    sshConfig,
    [
      'Host bastion',
      `  HostName ${fleet.bastion.host}`,
      `  Port ${fleet.bastion.port}`,
      `Host ${fleet.hosts.map((h) => h.privateIp).join(' ')}`,
      '  ProxyJump bastion',
      'Host *',
      `  User ${fleet.bastion.user}`,
      `  IdentityFile ${fleet.sshKeyFile}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${fleet.knownHostsFile}`,
      '  StrictHostKeyChecking yes',
      '  ControlMaster auto',
      `  ControlPath ${cm}/%C`,
      '  ControlPersist 5',
      '  LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const aws = {
    EMU: emulatorUrl,
    REGION: SANDBOX.region,
    ASG: RESOURCES.autoScalingGroup,
    ELB: RESOURCES.classicElb,
    TG: RESOURCES.targetGroup,
    ALARMS: SANDBOX_ALARMS.join(' '),
  };
  const load = startLoad({ url: fleet.lb.elbUrl, concurrency: 2, ratePerSecond: 20, maxSeconds: 300 });
  const windows = outOfService(sandbox);
  const started = Date.now();
  const { child, done } =
    tool === 'baton'
      ? start(
          process.execPath,
          [
            batonBin,
            'deploy',
            '--config',
            sandbox.configFile,
            '--deployment',
            'sandbox',
            '--image',
            image,
            '--reporter',
            'plain',
            '--serial',
            serial,
          ],
          {},
          dir,
        )
      : tool === 'bash'
        ? start(
            join(here, 'baseline', 'rolling.sh'),
            [],
            {
              ...aws,
              SERIAL: serial,
              SSH_CONFIG: sshConfig,
              IMAGE: image,
              HOSTS: fleet.hosts.map((h) => `${h.privateIp}=${h.instanceId}`).join(' '),
            },
            dir,
          )
        : (() => {
            const inventory = join(dir, 'hosts.ini');
            writeFileSync(
              inventory,
              `[app]\n${fleet.hosts.map((h) => `${h.privateIp} instance_id=${h.instanceId}`).join('\n')}\n`,
            );
            writeFileSync(
              join(dir, 'ansible.cfg'),
              `[defaults]\nhost_key_checking = True\ninterpreter_python = /usr/bin/python3\nforks = 16\nstdout_callback = minimal\nretry_files_enabled = False\n[ssh_connection]\npipelining = True\nssh_args = -F ${sshConfig}\n`,
            );
            const vars = `image=${image} emu=${aws.EMU} region=${aws.REGION} asg=${aws.ASG} elb=${aws.ELB} tg=${aws.TG} alarms='${aws.ALARMS}' serial=${serial}`;
            // The bastion's master first, as the bash loop does: sixteen forks each opening their own
            // ProxyJump connection at once trip its sshd's MaxStartups.
            return start(
              'sh',
              [
                '-c',
                'ssh -F "$1" bastion true && shift && exec ansible-playbook "$@"',
                'sh',
                sshConfig,
                '-i',
                inventory,
                join(here, 'baseline', 'rolling.yml'),
                '-e',
                vars,
              ],
              { ANSIBLE_CONFIG: join(dir, 'ansible.cfg') },
              dir,
            );
          })();
  const rss = treeRss(child.pid!);
  const result = await done;
  const wallS = (Date.now() - started) / 1000;
  const peakRssMb = rss.stop();
  const [down, traffic] = await Promise.all([windows.stop(), load.stop()]);
  if (result.code !== 0) throw new Error(`${tool} failed (${result.code}):\n${result.out.slice(-3000)}`);
  const live = await dockerExec(fleet.hosts[0]!.container, "docker inspect -f '{{.Config.Image}}' live");
  if (live.trim() !== image) throw new Error(`${tool}: ${fleet.hosts[0]!.name} runs ${live.trim()}, not ${image}`);
  return {
    wallS,
    outOfServiceS: fleet.hosts.map((h) => (down.get(h.instanceId) ?? 0) / 1000),
    peakRssMb,
    failed: traffic.errors + traffic.non2xx,
    requests: traffic.requests,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const spread = (xs: number[], digits = 1) =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;

/** Each tool's median peak RSS by fleet size, for the growth per extra host. */
const rssBySize = new Map<Tool, [number, number][]>([
  ['baton', []],
  ['bash', []],
  ['ansible', []],
]);

for (const hosts of sizes) {
  const sandbox = await startSandbox({ hosts, log: (l) => console.error(`fleet: ${l}`) });
  const dir = mkdtempSync(join(tmpdir(), 'baton-compare-'));
  const emulatorUrl = /endpoint: (\S+)/.exec(readFileSync(sandbox.configFile, 'utf8'))![1]!;
  const samples = new Map<Tool, Sample[]>([
    ['baton', []],
    ['bash', []],
    ['ansible', []],
  ]);
  try {
    const tags = ['v2', 'v3', 'v1'];
    let n = 0;
    for (let round = 0; round < rounds; round++) {
      for (const tool of ['baton', 'bash', 'ansible'] as const) {
        const image = `${sandbox.fleet.appRepository}:${tags[n++ % tags.length]}`;
        const s = await measure(sandbox, tool, image, dir, emulatorUrl);
        samples.get(tool)!.push(s);
        console.error(
          `${hosts} hosts, round ${round + 1}, ${tool}: ${s.wallS.toFixed(1)} s, out of service ${median(s.outOfServiceS).toFixed(2)} s median, ${s.peakRssMb.toFixed(0)} MB, ${s.failed}/${s.requests} failed`,
        );
      }
    }
  } finally {
    await sandbox.stop();
  }
  const base = (tool: Tool) => median(samples.get(tool)!.map((s) => s.wallS));
  console.log(`\n${hosts} hosts, serial ${serial}, ${rounds} interleaved runs each, under 20 req/s; median (min–max):`);
  console.log(
    `  ${'tool'.padEnd(8)} ${'wall s'.padEnd(18)} ${'per host out of service s'.padEnd(26)} ${'peak RSS MB'.padEnd(20)} failed requests  vs bash  vs ansible`,
  );
  for (const tool of ['baton', 'bash', 'ansible'] as const) {
    const s = samples.get(tool)!;
    rssBySize.get(tool)!.push([hosts, median(s.map((x) => x.peakRssMb))]);
    console.log(
      `  ${tool.padEnd(8)} ${spread(s.map((x) => x.wallS)).padEnd(18)} ${spread(
        s.flatMap((x) => x.outOfServiceS),
        2,
      ).padEnd(26)} ${spread(
        s.map((x) => x.peakRssMb),
        0,
      ).padEnd(
        20,
      )} ${String(s.reduce((a, x) => a + x.failed, 0)).padEnd(16)} ${(base(tool) / base('bash')).toFixed(2)}×    ${(base(tool) / base('ansible')).toFixed(2)}×`,
    );
  }
}

if (sizes.length > 1) {
  console.log('\npeak RSS growth per extra host (least squares over the sizes above):');
  for (const [tool, points] of rssBySize) {
    const n = points.length;
    const mx = points.reduce((a, [x]) => a + x, 0) / n;
    const my = points.reduce((a, [, y]) => a + y, 0) / n;
    const slope =
      points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
    console.log(
      `  ${tool.padEnd(8)} ${slope.toFixed(1)} MB per host (${points.map(([x, y]) => `${x}: ${y.toFixed(0)} MB`).join(', ')})`,
    );
  }
}
