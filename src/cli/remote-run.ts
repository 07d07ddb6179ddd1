/**
 * Personal deploys from TeamCity remote-run branches: a build of `remote-run/<user>/<feature>` deploys
 * into `<user>`'s own deployment (hosts tagged deployment=<user>), with an image tag made from the
 * branch and the commit. Any other deployment is refused unless forced: a personal build must never
 * land in `integration` or `production` by accident.
 */
import { readFileSync } from 'node:fs';
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
  if (!/^[0-9a-f]{7,40}$/i.test(commit))
    throw new ConfigError('--commit', `${JSON.stringify(commit)} is not a git commit hash`);
  const head = `${run.user}-${run.feature}`
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 128 - 13)
    .replace(/[.-]+$/, '');
  return `${head}-${commit.slice(0, 12).toLowerCase()}`;
}

/**
 * The deployment a remote-run build goes to: the user's own. Which deployment that is comes from
 * Baton's configuration, never from the branch alone: a branch whose user part names a shared
 * deployment (`remote-run/production/x`) is refused like an explicit `--deployment production`, and so
 * is any deployment other than the user's own, unless `force` (`--force-shared`).
 */
export function personalDeployment(
  run: RemoteRun,
  requested: string | undefined,
  shared: readonly string[],
  force: boolean,
  source = 'the branch',
  personal?: readonly string[],
): string {
  const target = requested ?? run.user;
  if (force) return target;
  if (requested === undefined || requested === run.user) {
    const meant =
      !personal ||
      personal.some((p) =>
        new RegExp(
          `^${p
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '.*')
            .replace(/\?/g, '.')}$`,
        ).test(run.user),
      );
    if (!shared.includes(run.user) && meant) return run.user;
    if (!meant) {
      throw new ConfigError(
        requested === undefined ? '--branch' : '--deployment',
        `${run.branch} (from ${source}) is a personal build of user "${run.user}", and "${run.user}" is not a deployment for personal builds (personalDeployments: ${personal!.join(', ')}). Add --force-shared if this is really meant.`,
      );
    }
    throw new ConfigError(
      requested === undefined ? '--branch' : '--deployment',
      `${run.branch} (from ${source}) is a personal build of user "${run.user}", and "${run.user}" is a shared deployment (${shared.join(', ')}), nobody's own: a personal build never deploys there. Add --force-shared if this is really meant.`,
    );
  }
  const why = shared.includes(requested)
    ? `"${requested}" is a shared deployment (${shared.join(', ')})`
    : `"${requested}" is not ${run.user}'s own deployment`;
  throw new ConfigError(
    '--deployment',
    `a build of ${run.branch} deploys into deployment "${run.user}" only; ${why}. Drop --deployment to deploy into "${run.user}", or add --force-shared if this is really meant.`,
  );
}

/**
 * The branch TeamCity is building, read from the build's own parameter files, for a build step that
 * was not given `--branch`. `teamcity.build.branch` is a configuration parameter, which TeamCity does
 * not put in the environment; it does write it to the file that `teamcity.configuration.properties.file`
 * names, inside the file `$TEAMCITY_BUILD_PROPERTIES_FILE` names (both Java properties files).
 */
export function teamcityBranch(env: NodeJS.ProcessEnv = process.env): { branch: string; source: string } | undefined {
  const buildFile = env.TEAMCITY_BUILD_PROPERTIES_FILE;
  if (!buildFile) return undefined;
  const build = readProperties(buildFile);
  const configFile = build.get('teamcity.configuration.properties.file');
  if (!configFile) return undefined;
  const config = readProperties(configFile);
  const branch =
    config.get('teamcity.build.branch') ?? [...config].find(([k]) => k.startsWith('teamcity.build.vcs.branch.'))?.[1];
  return branch ? { branch, source: `teamcity.build.branch in ${configFile}` } : undefined;
}

function readProperties(file: string): Map<string, string> {
  try {
    return parseProperties(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError('$TEAMCITY_BUILD_PROPERTIES_FILE', `cannot read ${file}: ${(error as Error).message}`);
  }
}

/** Java's .properties format: `k=v`, `k: v` or `k v`, `#`/`!` comments, `\` continuations and escapes. */
export function parseProperties(text: string): Map<string, string> {
  const props = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.replace(/^[ \t\f]+/, '');
    if (!line || line.startsWith('#') || line.startsWith('!')) continue;
    // An odd number of trailing backslashes continues the line.
    while (/(^|[^\\])(\\\\)*\\$/.test(line) && i + 1 < lines.length)
      line = line.slice(0, -1) + lines[++i]!.replace(/^[ \t\f]+/, '');
    const m = /^((?:\\.|[^\\:= \t\f])*)[ \t\f]*[:=]?[ \t\f]*(.*)$/s.exec(line)!;
    props.set(unescapeProperty(m[1]!), unescapeProperty(m[2]!));
  }
  return props;
}

function unescapeProperty(s: string): string {
  return s.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_, e: string) =>
    e.length === 5
      ? String.fromCharCode(Number.parseInt(e.slice(1), 16))
      : (({ t: '\t', n: '\n', r: '\r', f: '\f' } as Record<string, string>)[e] ?? e),
  );
}

/** A personal build's image: `<repository>:<user>-<feature>-<commit>`. */
export function personalImage(
  run: RemoteRun | undefined,
  options: { readonly rollback?: boolean; readonly imageRepository?: string; readonly commit?: string },
): string | undefined {
  if (options.rollback) return undefined;
  if (!run) throw new ConfigError('--image', 'say which image to deploy');
  if (!options.imageRepository || !options.commit) {
    throw new ConfigError(
      '--image',
      `give --image, or --image-repository and --commit to build the tag of ${run.branch} (the commit is read from BUILD_VCS_NUMBER under TeamCity)`,
    );
  }
  return `${options.imageRepository}:${remoteRunTag(run, options.commit)}`;
}

/** Whose build this is (a remote-run branch names its user, and where the branch came from) and where it goes. */
export function whoseBuild(options: { readonly branch?: string; readonly deployment?: string }) {
  const fromTeamcity = options.branch === undefined ? teamcityBranch() : undefined;
  const personal = parseRemoteRun(options.branch ?? fromTeamcity?.branch);
  const branchSource = fromTeamcity
    ? fromTeamcity.source
    : process.env.BATON_BRANCH !== undefined && options.branch === process.env.BATON_BRANCH
      ? '$BATON_BRANCH'
      : '--branch';
  // A personal build goes to its user's own deployment unless another is named (then checked once loaded).
  const deployment = options.deployment ?? personal?.user;
  if (!deployment)
    throw new ConfigError(
      '--deployment',
      'say which deployment to deploy into (or build a remote-run/<user>/<feature> branch)',
    );
  return { personal, branchSource, deployment };
}

export type WhoseBuild = ReturnType<typeof whoseBuild>;
