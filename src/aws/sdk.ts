/**
 * The AWS SDK's client packages, loaded with `require`. Each ships a CommonJS bundle (one file of 1 to
 * 2 MB) and no ESM exports map, so an ESM `import` loads that same file and then scans it for its named
 * exports; `require` skips the scan, which is most of what loading the SDK costs at every start (see
 * bench/startup.ts). Types still come from `import type`.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/**
 * An SDK package as a namespace loaded on first use, not when a module of Baton's imports it: a run
 * that fails on its input, or needs no AWS at all (a static inventory's --list-hosts, the vault
 * commands), never pays for loading the SDK.
 */
function onFirstUse<T extends object>(id: string): T {
  let loaded: T | undefined;
  return new Proxy({} as T, { get: (_, name) => Reflect.get((loaded ??= load(id) as T), name) });
}

export const autoScalingSdk = onFirstUse<typeof import('@aws-sdk/client-auto-scaling')>('@aws-sdk/client-auto-scaling');
export const cloudWatchSdk = onFirstUse<typeof import('@aws-sdk/client-cloudwatch')>('@aws-sdk/client-cloudwatch');
export const ec2Sdk = onFirstUse<typeof import('@aws-sdk/client-ec2')>('@aws-sdk/client-ec2');
export const ecrSdk = onFirstUse<typeof import('@aws-sdk/client-ecr')>('@aws-sdk/client-ecr');
export const elbSdk = onFirstUse<typeof import('@aws-sdk/client-elastic-load-balancing')>(
  '@aws-sdk/client-elastic-load-balancing',
);
export const elbv2Sdk = onFirstUse<typeof import('@aws-sdk/client-elastic-load-balancing-v2')>(
  '@aws-sdk/client-elastic-load-balancing-v2',
);
export const s3Sdk = onFirstUse<typeof import('@aws-sdk/client-s3')>('@aws-sdk/client-s3');
