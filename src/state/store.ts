/**
 * What Baton keeps where every deployer sees it, not on the deployer's own machine: an S3 bucket holds,
 * per stack, release and deployment, the deploy lock (one object, written only if absent or unchanged,
 * with S3's conditional writes), the journal of what a run changed on the fleet, and the history (one
 * object per run). Anyone with the bucket can read it with
 * `aws s3 ls s3://<bucket>/<prefix>/<stack>/<release>/<deployment>/`.
 *
 * Without a bucket the same objects live in a directory on this machine (`state.directory`), with the
 * same conditional semantics, so a lone operator still gets a lock, a journal and `baton recover`;
 * every run then says loudly that other machines cannot see them.
 */
import type { DeployConfig, StateSettings } from '../config/types.ts';
import type { ObjectStore, WriteCondition } from './objects.ts';

export type { WriteCondition } from './objects.ts';

export interface Stored<T> {
  readonly value: T;
  readonly etag: string;
  /** When the store last wrote it: the bucket's clock, not the deployer's. */
  readonly lastModified: Date;
  /** The store's clock when it answered (S3's `Date` header), to judge ages without the local clock. */
  readonly storeNow: Date;
}

export interface StateScope {
  readonly stack: string;
  readonly release: string;
  readonly deployment: string;
}

export class StateStore implements Disposable {
  /** `<prefix>/<stack>/<release>/<deployment>`: everything of one deployment lives under it. */
  readonly root: string;

  constructor(
    private readonly objects: ObjectStore,
    readonly settings: Pick<StateSettings, 'prefix' | 'staleAfter'>,
    readonly scope: StateScope,
  ) {
    this.root = [settings.prefix, scope.stack, scope.release, scope.deployment].join('/');
  }

  /** True when every deployer sees this store (a bucket); false for a directory on this machine. */
  get shared(): boolean {
    return this.objects.shared;
  }

  /** `web/api integration`, for messages. */
  get label(): string {
    return `${this.scope.stack}/${this.scope.release} ${this.scope.deployment}`;
  }

  /** Where `name` lives, as an operator would type it. */
  url(name = ''): string {
    return this.objects.url(`${this.root}/${name}`);
  }

  async read<T>(name: string): Promise<Stored<T> | undefined> {
    const got = await this.objects.get(`${this.root}/${name}`);
    return (
      got && {
        value: JSON.parse(got.body) as T,
        etag: got.etag,
        lastModified: got.lastModified,
        storeNow: got.storeNow,
      }
    );
  }

  /**
   * Writes `value` as JSON, exactly: state is data, never masked (a name with `***` in it names
   * nothing); free text that may hold a secret is masked by whoever puts it in. `undefined` when the
   * condition did not hold (someone else wrote first).
   */
  write(name: string, value: unknown, condition?: WriteCondition): Promise<string | undefined> {
    return this.objects.put(`${this.root}/${name}`, `${JSON.stringify(value, null, 2)}\n`, condition);
  }

  /** Removes `name`; with an etag, only that version (false when it changed or is gone). */
  remove(name: string, etag?: string): Promise<boolean> {
    return this.objects.delete(`${this.root}/${name}`, etag);
  }

  /** The names under `dir/`, in key order. */
  async list(dir: string): Promise<string[]> {
    const keys = await this.objects.list(`${this.root}/${dir}/`);
    return keys.map((k) => k.slice(this.root.length + 1));
  }

  close(): void {
    this.objects.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * The store for a deployment: its bucket, or the local state directory when the configuration names
 * none. The SDK is loaded only when a bucket is used.
 */
export async function openStateStore(config: DeployConfig): Promise<StateStore> {
  const settings = config.state;
  const scope = { stack: config.stack, release: config.release, deployment: config.deployment };
  if (settings.bucket) {
    const { S3Objects } = await import('./s3-objects.ts');
    return new StateStore(S3Objects.forConfig(config, settings.bucket), settings, scope);
  }
  const { DirectoryObjects } = await import('./objects.ts');
  return new StateStore(new DirectoryObjects(settings.directory), settings, scope);
}
