/**
 * What a rollout asks of AWS, as interfaces: the load balancers' memberships and health, Auto Scaling's
 * processes, CloudWatch's alarm actions. The classes beside this file implement them over the SDK's
 * clients; the executor and recover are handed them (the CLI builds them here), and unit tests hand
 * them fakes that need no cast.
 */
import { Alarms } from './alarms.ts';
import { AutoScaling } from './autoscaling.ts';
import type { AwsClients } from './clients.ts';
import { LoadBalancers } from './load-balancers.ts';

/** A class's public face: its methods and properties, none of its private fields. */
type PublicFace<T> = { [K in keyof T]: T[K] };

export type LoadBalancerService = PublicFace<LoadBalancers>;
export type AutoScalingService = PublicFace<AutoScaling>;
export type AlarmService = PublicFace<Alarms>;

export interface AwsServices {
  readonly loadBalancers: LoadBalancerService;
  readonly autoscaling: AutoScalingService;
  readonly alarms: AlarmService;
}

export function awsServices(clients: AwsClients): AwsServices {
  return {
    loadBalancers: new LoadBalancers(clients.elb, clients.elbv2),
    autoscaling: new AutoScaling(clients.autoscaling),
    alarms: new Alarms(clients.cloudwatch),
  };
}
