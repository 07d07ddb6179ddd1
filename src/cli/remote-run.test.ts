import { describe, expect, it } from 'vitest';
import { parseRemoteRun, personalDeployment, remoteRunTag } from './remote-run.ts';

describe('remote-run personal deploys', () => {
  it('recognises remote-run branches, with or without refs/heads/', () => {
    expect(parseRemoteRun('remote-run/alice/new-login')).toEqual({ branch: 'remote-run/alice/new-login', user: 'alice', feature: 'new-login' });
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
    expect(() => personalDeployment(run, 'production', shared, false)).toThrow('"production" is a shared deployment (integration, production)');
    expect(() => personalDeployment(run, 'bob', shared, false)).toThrow(`"bob" is not alice's own deployment`);
    expect(personalDeployment(run, 'integration', shared, true)).toBe('integration');
  });
});
