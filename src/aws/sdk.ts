/**
 * The parts of the AWS SDK Baton uses, named one by one. Each client package holds every command of
 * its service (EC2's alone is 2 MB of code and a schema for each of its 700 operations); the CLI is
 * bundled (scripts/bundle.mjs), and naming the clients, commands and paginators here is what lets the
 * bundler keep only those and the schemas they reach: a deploy loads about 0.4 MB of SDK instead of
 * 3 MB, in about 60 MB less memory (bench/startup.ts).
 *
 * A new SDK call adds its command here; the rest of Baton reaches the SDK only through this module.
 */
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
  ResumeProcessesCommand,
  SuspendProcessesCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CloudWatchClient,
  DescribeAlarmsCommand,
  DisableAlarmActionsCommand,
  EnableAlarmActionsCommand,
} from '@aws-sdk/client-cloudwatch';
import { EC2Client, paginateDescribeInstances } from '@aws-sdk/client-ec2';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import {
  DeregisterInstancesFromLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  DescribeLoadBalancerAttributesCommand,
  ElasticLoadBalancingClient,
  paginateDescribeLoadBalancers,
  RegisterInstancesWithLoadBalancerCommand,
} from '@aws-sdk/client-elastic-load-balancing';
import {
  DeregisterTargetsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  paginateDescribeTargetGroups,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';

export const autoScalingSdk = {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
  ResumeProcessesCommand,
  SuspendProcessesCommand,
};

export const cloudWatchSdk = {
  CloudWatchClient,
  DescribeAlarmsCommand,
  DisableAlarmActionsCommand,
  EnableAlarmActionsCommand,
};

export const ec2Sdk = { EC2Client, paginateDescribeInstances };

export const ecrSdk = { ECRClient, GetAuthorizationTokenCommand };

export const elbSdk = {
  DeregisterInstancesFromLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  DescribeLoadBalancerAttributesCommand,
  ElasticLoadBalancingClient,
  paginateDescribeLoadBalancers,
  RegisterInstancesWithLoadBalancerCommand,
};

export const elbv2Sdk = {
  DeregisterTargetsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  paginateDescribeTargetGroups,
  RegisterTargetsCommand,
};

export const s3Sdk = { DeleteObjectCommand, GetObjectCommand, paginateListObjectsV2, PutObjectCommand, S3Client };
