/** The CLI's surface that needs no fleet: completion, usage errors, and input checked before any call. */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batonBin } from '../e2e/baton.ts';
import { parseServiceMessages } from '../e2e/service-messages.ts';
import { problemIdentity } from '../../src/report/teamcity.ts';

const scratch = mkdtempSync(join(tmpdir(), 'baton-cli-'));
/** Without a state bucket, state lives under $XDG_STATE_HOME: a scratch directory here. */
const stateHome = join(scratch, 'state');
const baton = (...args: string[]) => spawnSync(process.execPath, [batonBin, ...args], { encoding: 'utf8', env: { ...process.env, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', XDG_STATE_HOME: stateHome } });
const config = join(scratch, 'baton.yaml');
writeFileSync(config, 'region: us-east-1\nstack: web\nrelease: api\naws: { endpoint: "http://127.0.0.1:9" }\nhealth: { http: { port: 8080 } }\ndeployments: { integration: {} }\n');

describe('baton CLI', () => {
  it('prints a bash completion script and completes options', () => {
    expect(baton('completion').stdout).toContain('###-begin-baton-completions-###');
    const options = baton('--get-yargs-completions', 'deploy', '--').stdout.split('\n');
    expect(options).toEqual(expect.arrayContaining(['--image', '--deployment', '--limit', '--inventory', '--check', '--reporter']));
  });

  it('prints its version, and says how to build a copy that was never built', () => {
    const version = (JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
    expect(baton('--version').stdout.trim()).toBe(version);
    const unbuilt = join(scratch, 'unbuilt');
    mkdirSync(join(unbuilt, 'bin'), { recursive: true });
    copyFileSync(batonBin, join(unbuilt, 'bin', 'baton.js'));
    const run = spawnSync(process.execPath, [join(unbuilt, 'bin', 'baton.js'), '--help'], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toBe('baton: this copy of baton is not built: run `npm run build` in its folder (an installed package ships it built)\n');
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
    const run = baton('deploy', '--deployment', 'integration', '--config', '/nonexistent/baton.yaml', '--image', 'app:v2');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('/nonexistent/baton.yaml: cannot read the configuration: no such file');
  });

  it('says when AWS cannot be reached, without a stack trace', () => {
    const run = baton('deploy', '--deployment', 'integration', '--config', config, '--image', 'app:v2', '-e', 'aws.maxAttempts=1');
    expect(run.status).toBe(5);
    expect(run.stderr).toContain('nothing on the fleet was changed');
    expect(run.stderr).not.toContain('    at ');
  });

  it('keeps the lock, journal and history in the local state directory when no state bucket is configured, and checks its settings', () => {
    const none = baton('history', '--deployment', 'integration', '--config', config);
    expect(none.status, none.stderr).toBe(0);
    expect(none.stdout).toBe(`web/api integration: no run recorded yet (${stateHome}/baton/baton/web/api/integration/history)\n`);
    const lock = baton('lock', 'status', '--deployment', 'integration', '--config', config);
    expect(lock.stdout).toBe(`web/api integration: not locked (${stateHome}/baton/baton/web/api/integration/lock.json)\n`);
    const bad = baton('lock', 'status', '--deployment', 'integration', '--config', config, '-e', 'state.bucket=Not_A_Bucket', '-e', 'state.staleAfter=soon');
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
    const run = baton('deploy', '--config', config, '--branch', 'remote-run/alice/new-login', '--deployment', 'production', '--image', 'app:v2');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('baton: --deployment: a build of remote-run/alice/new-login deploys into deployment "alice" only; "production" is a shared deployment (integration, production)');
  });

  it('refuses a remote-run branch whose user part names a shared deployment, wherever the branch comes from', () => {
    const sharedConfig = join(scratch, 'shared.yaml');
    writeFileSync(sharedConfig, 'region: us-east-1\nstack: web\nrelease: api\naws: { endpoint: "http://127.0.0.1:9" }\nhealth: { http: { port: 8080 } }\nsharedDeployments: [integration, production, staging]\ndeployments: { integration: {}, production: {}, staging: {} }\n');
    const tc = join(scratch, 'tc');
    mkdirSync(tc, { recursive: true });
    const env = { ...process.env, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', XDG_STATE_HOME: stateHome };
    const run = (extra: Record<string, string>, ...args: string[]) =>
      spawnSync(process.execPath, [batonBin, 'deploy', '--config', sharedConfig, '--image', 'app:v2', '--reporter', 'plain', ...args], { encoding: 'utf8', env: { ...env, ...extra } });
    for (const shared of ['integration', 'production', 'staging']) {
      const branch = `remote-run/${shared}/my-feature`;
      writeFileSync(join(tc, 'config.properties'), `teamcity.build.branch=${branch}\n`);
      writeFileSync(join(tc, 'build.properties'), `teamcity.configuration.properties.file=${join(tc, 'config.properties')}\n`);
      const sources = [
        { how: '--branch', got: run({}, '--branch', branch) },
        { how: '$BATON_BRANCH', got: run({ BATON_BRANCH: branch }) },
        { how: `teamcity.build.branch in ${join(tc, 'config.properties')}`, got: run({ TEAMCITY_BUILD_PROPERTIES_FILE: join(tc, 'build.properties') }) },
        { how: '--branch', got: run({}, '--branch', branch, '--deployment', shared) },
      ];
      for (const { how, got } of sources) {
        expect(got.status, `${branch} from ${how}: ${got.stderr}`).toBe(2);
        expect(got.stderr).toContain(`${branch} (from ${how}) is a personal build of user "${shared}", and "${shared}" is a shared deployment (integration, production, staging), nobody's own`);
        expect(got.stderr).toContain('nothing on the fleet was changed');
      }
      // --force-shared lets it past the refusal (it then fails on the unreachable AWS endpoint instead).
      const forced = run({}, '--branch', branch, '--force-shared');
      expect(forced.stderr).not.toContain('is a personal build');
      expect(forced.status).not.toBe(0);
    }
  });

  it('under TeamCity, also reports such an error as a build problem with a stable identity', () => {
    const run = spawnSync(process.execPath, [batonBin, 'deploy', '--deployment', 'integration', '--config', config], {
      encoding: 'utf8',
      env: { ...process.env, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', TEAMCITY_VERSION: '2025.07' },
    });
    expect(run.status).toBe(2);
    expect(parseServiceMessages(run.stdout)).toEqual([{ name: 'buildProblem', attrs: { description: '--image: say which image to deploy', identity: problemIdentity('error', 'ConfigError') } }]);
  });
});
