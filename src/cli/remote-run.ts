/**
 * Personal deploys from TeamCity remote-run branches: a build of `remote-run/<user>/<feature>` deploys
 * into `<user>`'s own deployment (hosts tagged deployment=<user>), with an image tag made from the
 * branch and the commit. Any other deployment is refused unless forced: a personal build must never
 * land in `integration` or `production` by accident.
 */
import { ConfigError } from '../errors.ts';

export interface RemoteRun {
  readonly branch: string;
  readonly user: string;
  readonly feature: string;
}

/** `remote-run/<user>/<feature>` (also as `refs/heads/...`), or undefined for any other branch. */
export function parseRemoteRun(branch: string | undefined): RemoteRun | undefined {
  const name = branch?.replace(/^refs\/heads\//, '');
  const m = name ? /^remote-run\/([A-Za-z0-9][A-Za-z0-9._-]*)\/(.+)$/.exec(name) : null;
  return m ? { branch: name!, user: m[1]!, feature: m[2]! } : undefined;
}

/** A valid Docker tag from the branch and commit: `<user>-<feature>-<commit12>`, at most 128 characters. */
export function remoteRunTag(run: RemoteRun, commit: string): string {
  if (!/^[0-9a-f]{7,40}$/i.test(commit)) throw new ConfigError('--commit', `${JSON.stringify(commit)} is not a git commit hash`);
  const head = `${run.user}-${run.feature}`.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[.-]+/, '').slice(0, 128 - 13).replace(/[.-]+$/, '');
  return `${head}-${commit.slice(0, 12).toLowerCase()}`;
}

/**
 * The deployment a remote-run build goes to: the user's own. An explicit other deployment is refused,
 * saying why, unless `force` (and a shared one is named as such in the refusal).
 */
export function personalDeployment(run: RemoteRun, requested: string | undefined, shared: readonly string[], force: boolean): string {
  if (requested === undefined || requested === run.user) return run.user;
  if (force) return requested;
  const why = shared.includes(requested) ? `"${requested}" is a shared deployment (${shared.join(', ')})` : `"${requested}" is not ${run.user}'s own deployment`;
  throw new ConfigError(
    '--deployment',
    `a build of ${run.branch} deploys into deployment "${run.user}" only; ${why}. Drop --deployment to deploy into "${run.user}", or add --force-shared if this is really meant.`,
  );
}
