/**
 * The AWS SDK's client packages, loaded with `require`. Each ships a CommonJS bundle (one file of 1 to
 * 2 MB) and no ESM exports map, so an ESM `import` loads that same file and then scans it for its named
 * exports; `require` skips the scan, which is most of what loading the SDK costs at every start (see
 * bench/startup.ts). Types still come from `import type`.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

export const autoScalingSdk = (): typeof import('@aws-sdk/client-auto-scaling') => load('@aws-sdk/client-auto-scaling');
export const cloudWatchSdk = (): typeof import('@aws-sdk/client-cloudwatch') => load('@aws-sdk/client-cloudwatch');
export const ec2Sdk = (): typeof import('@aws-sdk/client-ec2') => load('@aws-sdk/client-ec2');
export const ecrSdk = (): typeof import('@aws-sdk/client-ecr') => load('@aws-sdk/client-ecr');
export const elbSdk = (): typeof import('@aws-sdk/client-elastic-load-balancing') =>
  load('@aws-sdk/client-elastic-load-balancing');
export const elbv2Sdk = (): typeof import('@aws-sdk/client-elastic-load-balancing-v2') =>
  load('@aws-sdk/client-elastic-load-balancing-v2');
export const s3Sdk = (): typeof import('@aws-sdk/client-s3') => load('@aws-sdk/client-s3');
