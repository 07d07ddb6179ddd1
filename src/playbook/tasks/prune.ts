/**
 * Image pruning after a successful deploy: on each host, the images of the deployed repository that no
 * container uses (the live one, the rollback candidate, any other) are removed, except the
 * `container.keepImages` newest. Images of other repositories are never touched. Best effort: a host
 * that cannot prune is a warning, never a failed deploy.
 */
import { op, script, sh, type Command } from '../../remote/command.ts';
import { dockerPruneSecrets } from '../../remote/docker.ts';
import type { RunTask } from '../types.ts';

/** The repository of an image reference: without its tag or digest. */
export function repositoryOf(image: string): string {
  const at = image.indexOf('@');
  const noDigest = at >= 0 ? image.slice(0, at) : image;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

const listImages = (repository: string): Command =>
  op('docker', 'image', 'ls', '--no-trunc', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}', '--', repository);
const usedImages: Command = script(
  sh`docker ps -aq --no-trunc | xargs -r docker inspect --format "{{.Image}}"`,
  sh`docker inspect the image of every container`,
);

/** Which of `listed` (newest first, as docker lists them) to remove: not in use, beyond the `keep` newest. */
export function imagesToRemove(
  listed: readonly { id: string; ref: string }[],
  inUse: ReadonlySet<string>,
  keep: number,
): { id: string; ref: string }[] {
  const unused = listed.filter((i) => !inUse.has(i.id));
  const ids = [...new Set(unused.map((i) => i.id))];
  const removed = new Set(ids.slice(keep));
  return unused.filter((i) => removed.has(i.id));
}

export function pruneImages(): RunTask {
  return {
    name: 'prune images',
    async run(ctx) {
      const repository = repositoryOf(ctx.image);
      const keep = ctx.config.container.keepImages;
      const results = await Promise.all(
        ctx.targets.map(async (t) => {
          try {
            const [{ stdout: listedText }, { stdout: usedText }] = await Promise.all([
              t.remote.exec(listImages(repository)),
              t.remote.exec(usedImages),
            ]);
            const listed = listedText
              .split('\n')
              .filter(Boolean)
              .map((l) => {
                const [id, ref] = l.split(' ') as [string, string];
                return { id, ref };
              });
            const remove = imagesToRemove(listed, new Set(usedText.split('\n').filter(Boolean)), keep);
            // Secret folders no container mounts any more go too (a replaced container's, a failed one's).
            const secretsDir = ctx.config.container.secretFilesDir;
            const { stdout: secretDirs } = secretsDir
              ? await t.remote.exec(dockerPruneSecrets(secretsDir))
              : { stdout: '' };
            const secrets = secretDirs.split('\n').filter(Boolean).length;
            const andSecrets = secrets ? `; ${secrets} unused secret folder${secrets === 1 ? '' : 's'}` : '';
            if (!remove.length) return `${t.host.name}: no image to remove${andSecrets}`;
            // By tag where there is one (an image tagged twice goes once both are untagged), else by id.
            const refs = remove.map((i) => (i.ref.endsWith(':<none>') ? i.id : i.ref));
            await t.remote.exec(op('docker', 'image', 'rm', '--', ...refs));
            return `${t.host.name}: removed ${refs.map((r) => r.replace(`${repository}:`, ':')).join(', ')}${andSecrets}`;
          } catch (error) {
            ctx.events.emit({
              type: 'warning',
              message: `${t.host.name}: could not prune old images of ${repository}: ${(error as Error).message.split('\n')[0]}`,
            });
            return `${t.host.name}: not pruned`;
          }
        }),
      );
      return results.join('; ');
    },
    explain: (ctx) =>
      `remove images of ${repositoryOf(ctx.image)} that no container uses, beyond the ${ctx.config.container.keepImages} newest, on each host`,
  };
}
