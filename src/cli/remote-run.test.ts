import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseProperties, parseRemoteRun, personalDeployment, remoteRunTag, teamcityBranch } from './remote-run.ts';

describe('remote-run personal deploys', () => {
  it('recognises remote-run branches, with or without refs/heads/', () => {
    expect(parseRemoteRun('remote-run/alice/new-login')).toEqual({
      branch: 'remote-run/alice/new-login',
      user: 'alice',
      feature: 'new-login',
    });
    expect(parseRemoteRun('refs/heads/remote-run/bob/fix/deep')).toMatchObject({ user: 'bob', feature: 'fix/deep' });
    expect(parseRemoteRun('main')).toBeUndefined();
    expect(parseRemoteRun('remote-run/alice')).toBeUndefined();
    expect(parseRemoteRun(undefined)).toBeUndefined();
  });

  it('makes a valid image tag from the branch and commit', () => {
    const run = parseRemoteRun('remote-run/alice/JIRA-12: new login!')!;
    expect(remoteRunTag(run, '0123456789abcdef0123')).toBe('alice-JIRA-12-new-login-0123456789ab');
    expect(remoteRunTag(parseRemoteRun(`remote-run/a/${'x'.repeat(300)}`)!, 'abcdef1').length).toBeLessThanOrEqual(128);
    expect(() => remoteRunTag(run, 'HEAD')).toThrow('--commit: "HEAD" is not a git commit hash');
  });

  it("deploys into the user's own deployment and refuses the others unless forced", () => {
    const run = parseRemoteRun('remote-run/alice/x')!;
    const shared = ['integration', 'production'];
    expect(personalDeployment(run, undefined, shared, false)).toBe('alice');
    expect(personalDeployment(run, 'alice', shared, false)).toBe('alice');
    expect(() => personalDeployment(run, 'production', shared, false)).toThrow(
      '"production" is a shared deployment (integration, production)',
    );
    expect(() => personalDeployment(run, 'bob', shared, false)).toThrow(`"bob" is not alice's own deployment`);
    expect(personalDeployment(run, 'integration', shared, true)).toBe('integration');
    // The branch's user part is no authority: a user named like a shared deployment is refused too.
    const named = parseRemoteRun('remote-run/production/x')!;
    expect(() => personalDeployment(named, undefined, shared, false)).toThrow(
      '--branch: remote-run/production/x (from the branch) is a personal build of user "production", and "production" is a shared deployment',
    );
    expect(() => personalDeployment(named, 'production', shared, false)).toThrow(
      '--deployment: remote-run/production/x',
    );
    expect(personalDeployment(named, undefined, shared, true)).toBe('production');
    // A deployment not meant for personal builds (personalDeployments) is refused the same way.
    expect(
      personalDeployment(parseRemoteRun('remote-run/dev-ann/x')!, undefined, shared, false, '--branch', ['dev-*']),
    ).toBe('dev-ann');
    expect(() =>
      personalDeployment(parseRemoteRun('remote-run/staging/x')!, undefined, shared, false, '--branch', ['dev-*']),
    ).toThrow('"staging" is not a deployment for personal builds (personalDeployments: dev-*)');
  });
});

describe('the branch TeamCity builds', () => {
  it('is read from the configuration parameters file the build properties file names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-tc-'));
    try {
      const config = join(dir, 'config.properties');
      // As TeamCity writes them: Java properties, with ':' and '\' escaped.
      writeFileSync(
        config,
        '#TeamCity build configuration parameters\nteamcity.build.branch=remote-run/alice/new\\:login\nteamcity.build.branch.is_default=false\n',
      );
      writeFileSync(
        join(dir, 'build.properties'),
        `teamcity.version=2025.07\nteamcity.configuration.properties.file=${config.replace(/:/g, '\\:')}\n`,
      );
      expect(teamcityBranch({ TEAMCITY_BUILD_PROPERTIES_FILE: join(dir, 'build.properties') })).toEqual({
        branch: 'remote-run/alice/new:login',
        source: `teamcity.build.branch in ${config}`,
      });
      expect(teamcityBranch({})).toBeUndefined();
      expect(() => teamcityBranch({ TEAMCITY_BUILD_PROPERTIES_FILE: join(dir, 'missing') })).toThrow(
        /\$TEAMCITY_BUILD_PROPERTIES_FILE: cannot read .*missing/,
      );
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('parses Java properties as Java does', () => {
    const props = parseProperties(
      'a=1\n  b : 2\nc 3\n! comment\n# comment\nd=one \\\n    two\ne=\\u00e9\\t\nf\\=g=h\n',
    );
    expect(Object.fromEntries(props)).toEqual({ a: '1', b: '2', c: '3', d: 'one two', e: 'é\t', 'f=g': 'h' });
  });
});
