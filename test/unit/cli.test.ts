/** The CLI's surface that needs no fleet: completion, usage errors, and input checked before any call. */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batonBin } from '../e2e/baton.ts';
import { parseServiceMessages } from '../e2e/service-messages.ts';
import { problemIdentity } from '../../src/report/teamcity.ts';

const scratch = mkdtempSync(join(tmpdir(), 'baton-cli-'));
/** Without a state bucket, state lives under $XDG_STATE_HOME: a scratch directory here. */
const stateHome = join(scratch, 'state');
const baton = (...args: string[]) =>
  spawnSync(process.execPath, [batonBin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', XDG_STATE_HOME: stateHome },
  });
const config = join(scratch, 'baton.yaml');
writeFileSync(
  config,
  'region: us-east-1\nstack: web\nrelease: api\naws: { endpoint: "http://127.0.0.1:9" }\nhealth: { http: { port: 8080 } }\ndeployments: { integration: {} }\n',
);

describe('baton CLI', () => {
  it('prints a bash completion script and completes options', () => {
    expect(baton('completion').stdout).toContain('###-begin-baton-completions-###');
    const options = baton('--get-yargs-completions', 'deploy', '--').stdout.split('\n');
    expect(options).toEqual(
      expect.arrayContaining(['--image', '--deployment', '--limit', '--inventory', '--check', '--reporter']),
    );
  });

  it('prints its version, and says how to build a copy that was never built', () => {
    const version = (
      JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
    ).version;
    expect(baton('--version').stdout.trim()).toBe(version);
    const unbuilt = join(scratch, 'unbuilt');
    mkdirSync(join(unbuilt, 'bin'), { recursive: true });
    copyFileSync(batonBin, join(unbuilt, 'bin', 'baton.js'));
    const run = spawnSync(process.execPath, [join(unbuilt, 'bin', 'baton.js'), '--help'], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      'baton: this copy of baton is not built: run `npm run build` in its folder (an installed package ships it built)\n',
    );
  });

  it('exits 2 on a usage error, saying nothing changed', () => {
    const run = baton('deploy', '--deployment', 'integration', '--config', config, '--reporter', 'fancy');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('Invalid values');
    expect(run.stderr).toContain('nothing on the fleet was changed');
  });

  it('asks for an image before calling anything', () => {
    const run = baton('deploy', '--deployment', 'integration', '--config', config);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--image: say which image to deploy');
  });

  it('names a missing configuration file', () => {
    const run = baton(
      'deploy',
      '--deployment',
      'integration',
      '--config',
      '/nonexistent/baton.yaml',
      '--image',
      'app:v2',
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('/nonexistent/baton.yaml: cannot read the configuration: no such file');
  });

  it('says when AWS cannot be reached, without a stack trace', () => {
    const run = baton(
      'deploy',
      '--deployment',
      'integration',
      '--config',
      config,
      '--image',
      'app:v2',
      '-e',
      'aws.maxAttempts=1',
    );
    expect(run.status).toBe(5);
    expect(run.stderr).toContain('nothing on the fleet was changed');
    expect(run.stderr).not.toContain('    at ');
  });

  it('keeps the lock, journal and history in the local state directory when no state bucket is configured, and checks its settings', () => {
    const none = baton('history', '--deployment', 'integration', '--config', config);
    expect(none.status, none.stderr).toBe(0);
    expect(none.stdout).toBe(
      `web/api integration: no run recorded yet (${stateHome}/baton/baton/web/api/integration/history)\n`,
    );
    const lock = baton('lock', 'status', '--deployment', 'integration', '--config', config);
    expect(lock.stdout).toBe(
      `web/api integration: not locked (${stateHome}/baton/baton/web/api/integration/lock.json)\n`,
    );
    const bad = baton(
      'lock',
      'status',
      '--deployment',
      'integration',
      '--config',
      config,
      '-e',
      'state.bucket=Not_A_Bucket',
      '-e',
      'state.staleAfter=soon',
    );
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('state.bucket: "Not_A_Bucket" is not an S3 bucket name');
    expect(bad.stderr).toContain('state.staleAfter');
    const unforced = baton('lock', 'release', '--deployment', 'integration', '--config', config);
    expect(unforced.status).toBe(2);
    expect(unforced.stderr).toContain('--force: releasing a lock can let two runs change the fleet at once');
    const last = baton('history', '--deployment', 'integration', '--config', config, '--last', '0');
    expect(last.status).toBe(2);
    expect(last.stderr).toContain('--last 0 is not a positive whole number');
  });

  it('refuses a personal build for production, saying why, even where production is not configured', () => {
    const run = baton(
      'deploy',
      '--config',
      config,
      '--branch',
      'remote-run/alice/new-login',
      '--deployment',
      'production',
      '--image',
      'app:v2',
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(
      'baton: --deployment: a build of remote-run/alice/new-login deploys into deployment "alice" only; "production" is a shared deployment (integration, production)',
    );
  });

  // One test per shared deployment: each starts the CLI five times, which on a loaded machine is seconds each.
  it.each(['integration', 'production', 'staging'])(
    'refuses a remote-run branch whose user part names the shared deployment %s, wherever the branch comes from',
    (shared) => {
      const sharedConfig = join(scratch, 'shared.yaml');
      writeFileSync(
        sharedConfig,
        'region: us-east-1\nstack: web\nrelease: api\naws: { endpoint: "http://127.0.0.1:9" }\nhealth: { http: { port: 8080 } }\nsharedDeployments: [integration, production, staging]\ndeployments: { integration: {}, production: {}, staging: {} }\n',
      );
      const tc = join(scratch, `tc-${shared}`);
      mkdirSync(tc, { recursive: true });
      const env = { ...process.env, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', XDG_STATE_HOME: stateHome };
      const run = (extra: Record<string, string>, ...args: string[]) =>
        spawnSync(
          process.execPath,
          [batonBin, 'deploy', '--config', sharedConfig, '--image', 'app:v2', '--reporter', 'plain', ...args],
          { encoding: 'utf8', env: { ...env, ...extra } },
        );
      const branch = `remote-run/${shared}/my-feature`;
      writeFileSync(join(tc, 'config.properties'), `teamcity.build.branch=${branch}\n`);
      writeFileSync(
        join(tc, 'build.properties'),
        `teamcity.configuration.properties.file=${join(tc, 'config.properties')}\n`,
      );
      const sources = [
        { how: '--branch', got: run({}, '--branch', branch) },
        { how: '$BATON_BRANCH', got: run({ BATON_BRANCH: branch }) },
        {
          how: `teamcity.build.branch in ${join(tc, 'config.properties')}`,
          got: run({ TEAMCITY_BUILD_PROPERTIES_FILE: join(tc, 'build.properties') }),
        },
        { how: '--branch', got: run({}, '--branch', branch, '--deployment', shared) },
      ];
      for (const { how, got } of sources) {
        expect(got.status, `${branch} from ${how}: ${got.stderr}`).toBe(2);
        expect(got.stderr).toContain(
          `${branch} (from ${how}) is a personal build of user "${shared}", and "${shared}" is a shared deployment (integration, production, staging), nobody's own`,
        );
        expect(got.stderr).toContain('nothing on the fleet was changed');
      }
      // --force-shared lets it past the refusal (it then fails on the unreachable AWS endpoint instead).
      const forced = run({}, '--branch', branch, '--force-shared');
      expect(forced.stderr).not.toContain('is a personal build');
      expect(forced.status).not.toBe(0);
    },
  );

  it('lists the hosts of a playbook of tasks only (no preTasks, no postTasks), and refuses one that is no playbook', () => {
    const api = join(import.meta.dirname, '..', '..', 'dist', 'src', 'index.js');
    const tasksOnly = join(scratch, 'tasks-only.mts');
    writeFileSync(
      tasksOnly,
      `import { healthCheck } from ${JSON.stringify(api)};\nexport default { name: 'health only', tasks: [healthCheck()] };\n`,
    );
    const inventory = join(scratch, 'hosts.ini');
    writeFileSync(inventory, '[web]\napp-1 ansible_host=10.0.0.1\napp-2 ansible_host=10.0.0.2\n');
    const run = baton(
      'deploy',
      '--config',
      config,
      '--deployment',
      'integration',
      '-i',
      inventory,
      '--playbook',
      tasksOnly,
      '--image',
      'app:v2',
      '--list-hosts',
      '--reporter',
      'plain',
    );
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('app-1');
    expect(run.stdout).toContain('app-2');
    const broken = join(scratch, 'broken.mts');
    writeFileSync(broken, "export default { name: 'broken', preTasks: 'not a list', tasks: [] };\n");
    const refused = baton(
      'deploy',
      '--config',
      config,
      '--deployment',
      'integration',
      '-i',
      inventory,
      '--playbook',
      broken,
      '--image',
      'app:v2',
      '--list-hosts',
    );
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('playbook "broken": preTasks: must be a list of tasks');
  });

  it('prints outside text in history and lock status with its escape sequences shown, never sent to the terminal', () => {
    const where = /not locked \((.*)lock\.json\)/.exec(
      baton('lock', 'status', '--deployment', 'integration', '--config', config).stdout,
    )![1]!;
    mkdirSync(join(where, 'history'), { recursive: true });
    const hostile = 'boom \u001b[2J\u001b]0;pwned\u0007 \u009b31m red';
    const entry = {
      id: 'x1',
      kind: 'deploy',
      deployer: 'eve\u001b[31m',
      machine: 'm',
      deployment: 'integration',
      image: 'app:v2',
      startedAt: '2026-12-01T10:00:00.000Z',
      finishedAt: '2026-12-01T10:01:00.000Z',
      ms: 60_000,
      outcome: 'rolled-back',
      exitCode: 1,
      error: hostile,
      hosts: [{ host: 'web-1', result: 'rolled-back', newImage: 'app:v2', outOfServiceMs: 1, error: hostile }],
    };
    writeFileSync(join(where, 'history', '2026-12-01T100000.000Z-x1.json'), JSON.stringify(entry));
    writeFileSync(
      join(where, 'lock.json'),
      JSON.stringify({
        id: 'x2',
        holder: 'mallory\u001b[2J',
        machine: 'elsewhere',
        pid: 1,
        command: 'deploy app:v3\u001b]0;x\u0007',
        startedAt: '2026-12-01T10:00:00.000Z',
        heartbeatAt: '2026-12-01T10:00:00.000Z',
      }),
    );
    for (const args of [['history'], ['lock', 'status'], ['status']]) {
      const run = baton(...args, '--deployment', 'integration', '--config', config);
      const text = run.stdout + run.stderr;
      expect(text, args.join(' ')).not.toMatch(/[\u001b\u0007\u009b]/);
    }
    expect(baton('history', '--deployment', 'integration', '--config', config).stdout).toContain('eve\\x1b[31m');
    expect(baton('lock', 'status', '--deployment', 'integration', '--config', config).stdout).toContain(
      'mallory\\x1b[2J',
    );
    // As data, --json keeps the values exact.
    expect(
      JSON.parse(baton('history', '--deployment', 'integration', '--config', config, '--json').stdout.trim()).deployer,
    ).toBe('eve\u001b[31m');
    rmSync(join(where, 'lock.json'));
    rmSync(join(where, 'history'), { recursive: true });
  });

  it('recover --forget closes journal entries by hand, never without a reason, recorded in the history with who and why', () => {
    const where = /not locked \((.*)lock\.json\)/.exec(
      baton('lock', 'status', '--deployment', 'integration', '--config', config).stdout,
    )![1]!;
    const run = {
      id: 'dead',
      kind: 'deploy',
      deployer: 'alice',
      machine: 'gone',
      pid: 1,
      image: 'app:v2',
      startedAt: '2026-12-01T10:00:00.000Z',
      hosts: ['web-1'],
    };
    const entries = [
      {
        seq: 1,
        change: { kind: 'alarms-disabled', alarms: ['api-5xx'] },
        what: 'alarm actions disabled: api-5xx',
        fix: 'aws cloudwatch enable-alarm-actions --alarm-names api-5xx',
        openedAt: '2026-12-01T10:00:01.000Z',
      },
      {
        seq: 2,
        change: { kind: 'autoscaling-suspended', group: 'asg', processes: ['Launch'] },
        what: 'Auto Scaling group asg: Launch suspended',
        fix: 'aws autoscaling resume-processes ...',
        openedAt: '2026-12-01T10:00:02.000Z',
      },
    ];
    mkdirSync(where, { recursive: true });
    rmSync(join(where, 'lock.json'), { force: true });
    writeFileSync(join(where, 'journal.json'), JSON.stringify({ format: 1, run, entries }));
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'x',
      XDG_STATE_HOME: stateHome,
      BATON_DEPLOYER: 'olivia',
    };
    const recover = (...args: string[]) =>
      spawnSync(
        process.execPath,
        [batonBin, 'recover', '--deployment', 'integration', '--config', config, '--reporter', 'plain', ...args],
        { encoding: 'utf8', env },
      );
    const noReason = recover('--forget', '1');
    expect(noReason.status).toBe(2);
    expect(noReason.stderr).toContain('--reason: say why the entries are forgotten');
    const notOpen = recover('--forget', '7', '--reason', 'x');
    expect(notOpen.status).toBe(2);
    expect(notOpen.stderr).toContain(
      '--forget: 7 is not open in the journal (open: 1: alarm actions disabled: api-5xx; 2: Auto Scaling group asg: Launch suspended)',
    );
    const forgot = recover('--forget', '1', '--forget', '2', '--reason', 'the stack was deleted by hand');
    expect(forgot.status, forgot.stdout + forgot.stderr).toBe(0);
    expect(forgot.stdout).toContain(
      'forgotten, not undone: alarm actions disabled: api-5xx (by olivia: the stack was deleted by hand)',
    );
    expect(
      JSON.parse(baton('lock', 'status', '--deployment', 'integration', '--config', config, '--json').stdout),
    ).toMatchObject({ locked: false, journal: null });
    const history = baton('history', '--deployment', 'integration', '--config', config, '--json')
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; forgotten?: unknown });
    expect(history.find((h) => h.kind === 'recover')!.forgotten).toEqual([
      { seq: 1, what: 'alarm actions disabled: api-5xx', by: 'olivia', why: 'the stack was deleted by hand' },
      { seq: 2, what: 'Auto Scaling group asg: Launch suspended', by: 'olivia', why: 'the stack was deleted by hand' },
    ]);
  });

  it('prints an error whose text came from outside with its escape sequences shown', () => {
    // A file name is quoted as it is: only the error boundary stands between it and the terminal.
    const evil = join(scratch, 'evil\u001b]0;pwned\u0007\u001b[2J.yaml');
    const run = baton('deploy', '--config', evil, '--deployment', 'integration', '--image', 'app:v2');
    expect(run.status).toBe(2);
    expect(run.stderr).not.toMatch(/[\u001b\u0007]/);
    expect(run.stderr).toContain('evil\\x1b]0;pwned\\x07\\x1b[2J.yaml');
  });

  it('under TeamCity, also reports such an error as a build problem with a stable identity', () => {
    const run = spawnSync(process.execPath, [batonBin, 'deploy', '--deployment', 'integration', '--config', config], {
      encoding: 'utf8',
      env: { ...process.env, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', TEAMCITY_VERSION: '2025.07' },
    });
    expect(run.status).toBe(2);
    expect(parseServiceMessages(run.stdout)).toEqual([
      {
        name: 'buildProblem',
        attrs: { description: '--image: say which image to deploy', identity: problemIdentity('error', 'ConfigError') },
      },
    ]);
  });
});
