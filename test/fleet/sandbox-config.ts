/**
 * The baton.yaml that deploys to a sandbox fleet: what an operator would write for a real stack,
 * with the AWS endpoint pointed at the emulator and SSH at the fleet's bastion.
 */
import type { Fleet } from './fleet.ts';

export const SANDBOX = { region: 'us-east-1', stack: 'web', release: 'api', deployment: 'sandbox' } as const;
/** Where the sandbox keeps its deploy lock and history, as a team would in a real S3 bucket. */
export const SANDBOX_STATE_BUCKET = 'baton-state-sandbox';
export const SANDBOX_ALARMS = ['web-api-sandbox-5xx', 'web-api-sandbox-latency'] as const;

export function sandboxConfig(fleet: Fleet, awsEndpoint: string): string {
  return `# Generated for sandbox fleet ${fleet.id}: the same settings a real stack would have,
# with AWS answered by the local emulator and SSH going through the fleet's bastion.
region: ${SANDBOX.region}
stack: ${SANDBOX.stack}
release: ${SANDBOX.release}
aws:
  endpoint: ${awsEndpoint}
ssh:
  user: deploy
  port: 22
  identityFile: ${fleet.sshKeyFile}
  knownHosts: ${fleet.knownHostsFile}
  bastion:
    host: ${fleet.bastion.host}
    port: ${fleet.bastion.port}
container:
  name: live
  ports: ["8080:8080"]
  volumes: ["/dev/log:/dev/log"]
  restart: unless-stopped
  stopTimeout: 5s
health:
  http: { port: 8080, path: /health, status: 200 }
  timeout: 15s
  interval: 100ms
alarms: [${SANDBOX_ALARMS.join(', ')}]
rollout:
  serial: 1
state:
  bucket: ${SANDBOX_STATE_BUCKET}
  staleAfter: 1m
deployments:
  ${SANDBOX.deployment}: {}
`;
}
