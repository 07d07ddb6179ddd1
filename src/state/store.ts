/**
 * What Baton keeps where every deployer sees it, not on the deployer's own machine: an S3 bucket holds,
 * per stack, release and deployment, the deploy lock (one object, written only if absent or unchanged,
 * with S3's conditional writes) and the history (one object per run). Anyone with the bucket can read
 * it with `aws s3 ls s3://<bucket>/<prefix>/<stack>/<release>/<deployment>/`.
 */
import { DeleteObjectCommand, GetObjectCommand, paginateListObjectsV2, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { DeployConfig, StateSettings } from '../config/index.ts';

export interface Stored<T> {
  readonly value: T;
  readonly etag: string;
  /** When S3 last wrote it: the bucket's clock, not the deployer's. */
  readonly lastModified: Date;
}

/** A write's precondition: create only (`absent`), or replace only the version read (`etag`). */
export type WriteCondition = { readonly absent: true } | { readonly etag: string } | undefined;

export interface StateScope {
  readonly stack: string;
  readonly release: string;
  readonly deployment: string;
}

export class StateStore {
  /** `<prefix>/<stack>/<release>/<deployment>`: everything of one deployment lives under it. */
  readonly root: string;

  constructor(
    private readonly s3: S3Client,
    readonly settings: StateSettings,
    readonly scope: StateScope,
  ) {
    this.root = [settings.prefix, scope.stack, scope.release, scope.deployment].join('/');
  }

  /** `web/api integration`, for messages. */
  get label(): string {
    return `${this.scope.stack}/${this.scope.release} ${this.scope.deployment}`;
  }

  /** Where `name` lives, as an operator would type it. */
  url(name = ''): string {
    return `s3://${this.settings.bucket}/${this.root}/${name}`;
  }

  async read<T>(name: string): Promise<Stored<T> | undefined> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: `${this.root}/${name}` }));
      const text = (await out.Body?.transformToString()) ?? '';
      return { value: JSON.parse(text) as T, etag: out.ETag ?? '', lastModified: out.LastModified ?? new Date(0) };
    } catch (error) {
      if ((error as Error).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  /** Writes `value` as JSON; `undefined` when the condition did not hold (someone else wrote first). */
  async write(name: string, value: unknown, condition?: WriteCondition): Promise<string | undefined> {
    try {
      const out = await this.s3.send(
        new PutObjectCommand({
          Bucket: this.settings.bucket,
          Key: `${this.root}/${name}`,
          Body: `${JSON.stringify(value, null, 2)}\n`,
          ContentType: 'application/json',
          ...(condition && 'absent' in condition && { IfNoneMatch: '*' }),
          ...(condition && 'etag' in condition && { IfMatch: condition.etag }),
        }),
      );
      return out.ETag ?? '';
    } catch (error) {
      // 412: the precondition failed; 409: a concurrent conditional write to the same key won.
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (condition && (status === 412 || status === 409 || (error as Error).name === 'NoSuchKey')) return undefined;
      throw error;
    }
  }

  async remove(name: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: `${this.root}/${name}` }));
  }

  /** The names under `dir/`, in key order. */
  async list(dir: string): Promise<string[]> {
    const names: string[] = [];
    const prefix = `${this.root}/${dir}/`;
    for await (const page of paginateListObjectsV2({ client: this.s3, pageSize: 1000 }, { Bucket: this.settings.bucket, Prefix: prefix })) {
      for (const o of page.Contents ?? []) if (o.Key) names.push(o.Key.slice(this.root.length + 1));
    }
    return names;
  }

  close(): void {
    this.s3.destroy();
  }
}

/** The store for a deployment, or undefined when the configuration names no bucket. */
export function openStateStore(config: DeployConfig): StateStore | undefined {
  const settings = config.state;
  if (!settings) return undefined;
  const s3 = new S3Client({
    region: settings.region ?? config.region,
    maxAttempts: config.aws.maxAttempts ?? 5,
    ...(config.aws.endpoint && { endpoint: config.aws.endpoint, forcePathStyle: true }),
    ...(config.aws.profile && { profile: config.aws.profile }),
  });
  return new StateStore(s3, settings, { stack: config.stack, release: config.release, deployment: config.deployment });
}
