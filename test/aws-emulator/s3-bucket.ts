/** A state bucket for a test file: the emulator's S3 spoken to by the real SDK client, started once. */
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { startEmulator, type Emulator } from './server.ts';

export const TEST_BUCKET = 'baton-state';

/** Registers the hooks that start and stop it; the client is ready inside tests. */
export function useStateBucket(): { readonly s3: S3Client; readonly emulator: Emulator } {
  const handle = { s3: undefined as unknown as S3Client, emulator: undefined as unknown as Emulator };
  beforeAll(async () => {
    handle.emulator = await startEmulator({
      instances: [],
      autoScalingGroups: [],
      classicLoadBalancers: [],
      targetGroups: [],
      alarms: [],
      buckets: [TEST_BUCKET],
    });
    handle.s3 = new S3Client({
      region: 'us-east-1',
      endpoint: handle.emulator.url,
      forcePathStyle: true,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
  });
  afterAll(async () => {
    handle.s3?.destroy();
    await handle.emulator?.close();
  });
  return handle;
}
