/**
 * The login for the registry the image comes from: the configured user and password, or a token from
 * Amazon ECR (GetAuthorizationToken: base64 of `AWS:<password>`, valid 12 hours). Every password is
 * registered for masking; the ECR client is loaded only when asked for.
 */
import { ConfigError } from '../errors.ts';
import type { AwsSettings } from '../aws/clients.ts';
import type { RegistrySettings } from '../config/types.ts';
import type { RegistryLogin } from '../remote/docker.ts';
import { registerSecret } from './mask.ts';
import { ecrSdk } from '../aws/sdk.ts';

/** The registry part of an image reference (`registry.example.com:5000/team/app:1` → `registry.example.com:5000`). */
export function registryOf(image: string): string {
  const [first, ...rest] = image.split('/');
  return rest.length && (/[.:]/.test(first!) || first === 'localhost') ? first! : 'docker.io';
}

export async function registryLogin(
  settings: RegistrySettings | undefined,
  image: string,
  aws: AwsSettings,
  source: string,
): Promise<RegistryLogin | undefined> {
  if (!settings) return undefined;
  const imageRegistry = registryOf(image);
  const server = settings.server ?? imageRegistry;
  if (server !== imageRegistry)
    throw new ConfigError(
      'registry.server',
      `${JSON.stringify(server)} is not the registry of the image ${image} (${imageRegistry})`,
      source,
    );
  if (!settings.ecr) {
    registerSecret(settings.password!, 'registry.password');
    return { server, username: settings.username!, password: settings.password! };
  }
  const { ECRClient, GetAuthorizationTokenCommand } = ecrSdk;
  const { clientConfig } = await import('../aws/clients.ts');
  const ecr = new ECRClient(clientConfig(aws));
  try {
    const account = /^(\d{12})\.dkr\.ecr\./.exec(server)?.[1];
    const out = await ecr.send(new GetAuthorizationTokenCommand(account ? { registryIds: [account] } : {}));
    const data = out.authorizationData?.[0];
    if (!data?.authorizationToken)
      throw new ConfigError('registry.ecr', `ECR gave no authorization token for ${server}`, source);
    registerSecret(data.authorizationToken, 'the ECR authorization token');
    const decoded = Buffer.from(data.authorizationToken, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 1)
      throw new ConfigError('registry.ecr', `ECR's authorization token for ${server} is not user:password`, source);
    const password = decoded.slice(colon + 1);
    registerSecret(password, 'the ECR registry password');
    const endpoint = data.proxyEndpoint?.replace(/^https?:\/\//, '').replace(/\/$/, '');
    if (endpoint && endpoint !== server)
      throw new ConfigError(
        'registry.ecr',
        `ECR's registry ${endpoint} is not the registry of the image ${image} (${server})`,
        source,
      );
    return { server, username: decoded.slice(0, colon), password };
  } finally {
    ecr.destroy();
  }
}
