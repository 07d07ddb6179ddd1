/**
 * The AWS SDK clients Baton uses, built once per run from the configuration. Credentials come from the
 * SDK's default chain (environment, profile, SSO, instance role...), so Baton never handles keys itself.
 */
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingClient } from '@aws-sdk/client-elastic-load-balancing';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { DeployConfig } from '../config/types.ts';
import { autoScalingSdk, cloudWatchSdk, ec2Sdk, elbSdk, elbv2Sdk } from './sdk.ts';

export interface AwsSettings {
  readonly region: string;
  /** An explicit endpoint (an emulator, a VPC endpoint); otherwise the SDK's own resolution. */
  readonly endpoint?: string;
  readonly profile?: string;
  readonly maxAttempts?: number;
  /** One call's deadline, and its connection's: a hung call must never hold a run (or its undo) forever. */
  readonly requestTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
}

/** The clients of a run; `using` destroys them (their sockets) when it ends. */
export interface AwsClients extends Disposable {
  readonly ec2: EC2Client;
  readonly elb: ElasticLoadBalancingClient;
  readonly elbv2: ElasticLoadBalancingV2Client;
  readonly autoscaling: AutoScalingClient;
  readonly cloudwatch: CloudWatchClient;
  destroy(): void;
}

/** The AWS settings of a deployment's configuration, for `region` (the stack's by default). */
export function awsSettings(
  config: Pick<DeployConfig, 'aws' | 'region' | 'timeouts'>,
  region = config.region,
): AwsSettings {
  return {
    ...config.aws,
    region,
    requestTimeoutMs: config.timeouts.awsRequest,
    connectTimeoutMs: config.timeouts.awsConnect,
  };
}

export function createAwsClients(settings: AwsSettings): AwsClients {
  const common = clientConfig(settings);
  const clients = {
    ec2: new ec2Sdk.EC2Client(common),
    elb: new elbSdk.ElasticLoadBalancingClient(common),
    elbv2: new elbv2Sdk.ElasticLoadBalancingV2Client(common),
    autoscaling: new autoScalingSdk.AutoScalingClient(common),
    cloudwatch: new cloudWatchSdk.CloudWatchClient(common),
  };
  const destroy = () => Object.values(clients).forEach((c) => c.destroy());
  return { ...clients, destroy, [Symbol.dispose]: destroy };
}

/** An EC2 client alone (an inventory that spans regions needs one per region). */
export const createEc2Client = (settings: AwsSettings): EC2Client => new ec2Sdk.EC2Client(clientConfig(settings));

/** The settings every SDK client of Baton's shares: region, retries, endpoint, profile. */
export function clientConfig(settings: AwsSettings) {
  return {
    region: settings.region,
    maxAttempts: settings.maxAttempts ?? 5,
    // Adaptive retry backs off client-side when AWS throttles, which a fleet-wide rollout can provoke.
    retryMode: 'adaptive',
    requestHandler: {
      requestTimeout: settings.requestTimeoutMs ?? 30_000,
      connectionTimeout: settings.connectTimeoutMs ?? 5_000,
    },
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(settings.profile ? { profile: settings.profile } : {}),
  };
}
