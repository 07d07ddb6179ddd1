/** The state bucket: objects in S3 with its conditional writes (`If-None-Match: *`, `If-Match`). */
import { awsSettings, clientConfig } from '../aws/clients.ts';
import type { DeployConfig } from '../config/types.ts';
import type { ObjectStore, StoredObject, WriteCondition } from './objects.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import { s3Sdk } from '../aws/sdk.ts';

export class S3Objects implements ObjectStore {
  readonly shared = true;
  /** The bucket's clock at its last answer (the `Date` response header). */
  private readonly clock: { date?: Date };

  /** The bucket of a deployment's configuration, with its own client. */
  static forConfig(config: Pick<DeployConfig, 'aws' | 'region' | 'state' | 'timeouts'>, bucket: string): S3Objects {
    // Path-style addressing where an endpoint is given (an emulator, a VPC endpoint without bucket DNS).
    return new S3Objects(
      new s3Sdk.S3Client({
        ...clientConfig(awsSettings(config, config.state.region)),
        forcePathStyle: !!config.aws.endpoint,
      }),
      bucket,
    );
  }

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {
    this.clock = bucketClock(s3);
  }

  async get(key: string): Promise<StoredObject | undefined> {
    try {
      const out = await this.s3.send(new s3Sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const body = (await out.Body?.transformToString()) ?? '';
      return {
        body,
        etag: out.ETag ?? '',
        lastModified: out.LastModified ?? new Date(0),
        storeNow: this.clock.date ?? new Date(),
      };
    } catch (error) {
      if ((error as Error).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  async put(key: string, body: string, condition?: WriteCondition): Promise<string | undefined> {
    return retryConflicts(() => this.putOnce(key, body, condition));
  }

  private async putOnce(key: string, body: string, condition?: WriteCondition): Promise<string | undefined> {
    try {
      const out = await this.s3.send(
        new s3Sdk.PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: 'application/json',
          ...(condition && 'absent' in condition && { IfNoneMatch: '*' }),
          ...(condition && 'etag' in condition && { IfMatch: condition.etag }),
        }),
      );
      return out.ETag ?? '';
    } catch (error) {
      if (condition && preconditionFailed(error)) return undefined;
      throw error;
    }
  }

  async delete(key: string, etag?: string): Promise<boolean> {
    return retryConflicts(() => this.deleteOnce(key, etag));
  }

  private async deleteOnce(key: string, etag?: string): Promise<boolean> {
    try {
      await this.s3.send(
        new s3Sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: key, ...(etag !== undefined && { IfMatch: etag }) }),
      );
      return true;
    } catch (error) {
      if (etag !== undefined && preconditionFailed(error)) return false;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const page of s3Sdk.paginateListObjectsV2(
      { client: this.s3, pageSize: 1000 },
      { Bucket: this.bucket, Prefix: prefix },
    )) {
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
    }
    return keys;
  }

  url(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  close(): void {
    this.s3.destroy();
  }
}

const statusOf = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/** 412: the precondition failed; 404 on If-Match: it is gone. */
function preconditionFailed(error: unknown): boolean {
  return statusOf(error) === 412 || (error as Error).name === 'NoSuchKey';
}

/**
 * S3 answers 409 ConditionalRequestConflict when another conditional write to the key was in flight:
 * it says nothing of whether our condition holds, so the write is tried again (S3's own advice). Only
 * once the conflicts go on does it fail, as an error, never as "someone else wrote it".
 */
async function retryConflicts<T>(attempt: () => Promise<T>, tries = 6): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (statusOf(error) !== 409 || i >= tries) throw error;
      await new Promise((r) => setTimeout(r, 50 * 2 ** i));
    }
  }
}

const clocks = new WeakMap<S3Client, { date?: Date }>();

/** Reads S3's `Date` header off every answer of this client (once per client, however many stores share it). */
function bucketClock(s3: S3Client): { date?: Date } {
  let clock = clocks.get(s3);
  if (clock) return clock;
  const c: { date?: Date } = {};
  clocks.set(s3, c);
  s3.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      const date = (out.response as { headers?: Record<string, string> }).headers?.date;
      if (date && !Number.isNaN(Date.parse(date))) c.date = new Date(date);
      return out;
    },
    { step: 'deserialize', name: 'batonBucketClock' },
  );
  clock = c;
  return clock;
}
