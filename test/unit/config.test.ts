import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { ConfigError } from '../../src/errors.ts';

const base = `
region: eu-west-1
stack: web
release: api
ssh:
  user: deploy
  identityFile: keys/id_ed25519
  bastion: { host: bastion.example, port: 2222 }
container:
  ports: ["8080:8080"]
  env: { MODE: prod }
health:
  http: { port: 8080 }
alarms: [web-5xx]
deployments:
  integration:
    rollout: { serial: "50%" }
  production:
    rollout: { serial: [1, "25%", "100%"], minInService: 2 }
    container: { env: { MODE: live } }
`;

const parse = (
  text: string,
  deployment = 'integration',
  more: { extraVars?: string[]; overrides?: Record<string, unknown> } = {},
) => parseConfig(text, '/etc/baton/baton.yaml', { deployment, ...more });
const problem = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(2);
    return (error as Error).message;
  }
  throw new Error('no error');
};

describe('configuration', () => {
  it('fills defaults, resolves paths and layers the deployment over the base', () => {
    const c = parse(base);
    expect(c).toMatchObject({
      deployment: 'integration',
      region: 'eu-west-1',
      stack: 'web',
      release: 'api',
      alarms: ['web-5xx'],
    });
    expect(c.ssh).toMatchObject({
      user: 'deploy',
      port: 22,
      identityFile: '/etc/baton/keys/id_ed25519',
      acceptNewHostKeys: false,
      bastion: { host: 'bastion.example', port: 2222, user: 'deploy' },
      commandTimeout: 120_000,
    });
    expect(c.container).toMatchObject({
      name: 'live',
      restart: 'unless-stopped',
      stopTimeout: 10_000,
      volumes: ['/dev/log:/dev/log'],
      env: { MODE: 'prod' },
    });
    expect(c.health).toEqual({
      http: { port: 8080, path: '/health', status: 200 },
      timeout: 60_000,
      interval: 1_000,
      healthyThreshold: 1,
    });
    expect(c.autoscaling.processes).toEqual([
      'Launch',
      'Terminate',
      'AddToLoadBalancer',
      'AZRebalance',
      'HealthCheck',
      'ReplaceUnhealthy',
    ]);
    expect(c.rollout).toEqual({
      serial: '50%',
      maxFailPercentage: 0,
      minInService: 0,
      onFailure: 'rollback',
      allowNoLoadBalancer: false,
      // No canary unless asked; the gate watches the alarms Baton silences.
      canary: { bake: 0 },
      gate: { alarms: ['web-5xx'], interval: 10_000 },
    });
    const p = parse(base, 'production');
    expect(p.rollout).toEqual({
      serial: [1, '25%', '100%'],
      maxFailPercentage: 0,
      minInService: 2,
      onFailure: 'rollback',
      allowNoLoadBalancer: false,
      // No canary unless asked; the gate watches the alarms Baton silences.
      canary: { bake: 0 },
      gate: { alarms: ['web-5xx'], interval: 10_000 },
    });
    expect(p.container.env).toEqual({ MODE: 'live' });
    expect(Object.isFrozen(p.rollout.serial)).toBe(true);
    expect(Object.isFrozen(p.ssh)).toBe(true);
  });

  it('names the path, the value and the layer of a bad value', () => {
    const text = base.replace('serial: "50%"', 'serial: "12x"');
    expect(problem(() => parse(text))).toBe(
      '/etc/baton/baton.yaml: deployments.integration.rollout.serial: "12x" is not a count or a percentage (like 2, "25%" or [1, "25%", "100%"])',
    );
  });

  it('holds the state bucket region to the same rule as the stack region, and takes regions past 9', () => {
    expect(problem(() => parse(`${base}state: { bucket: b, region: europe }\n`))).toContain(
      'state.region: "europe" is not an AWS region',
    );
    expect(parse(base.replace('region: eu-west-1', 'region: ap-east-12')).region).toBe('ap-east-12');
  });

  it('reports every problem at once', () => {
    const text = base
      .replace('region: eu-west-1', 'region: europe')
      .replace('port: 2222', 'port: 99999')
      .replace('env: { MODE: prod }', 'env: { MODE: prod }\n  stopTimeout: 10 sec');
    const message = problem(() => parse(text));
    expect(message).toContain('3 problems');
    expect(message).toContain('region: "europe" is not an AWS region');
    expect(message).toContain('ssh.bastion.port: 99999 is out of range (1 to 65535)');
    expect(message).toContain('container.stopTimeout: "10 sec" is not a duration');
  });

  it('reports a bad value once, though the gate reads the same setting as its default', () => {
    const message = problem(() => parse(base.replace('alarms: [web-5xx]', 'alarms: { web: 5xx }')));
    expect(message).toBe('/etc/baton/baton.yaml: alarms: {"web":"5xx"} is not a list');
  });

  it('refuses unknown keys, suggesting the close one', () => {
    expect(problem(() => parse(base.replace('bastion:', 'bastoin:')))).toContain(
      'ssh.bastoin: unknown setting (did you mean "bastion"?)',
    );
    expect(problem(() => parse(`${base}\ncolour: blue\n`))).toMatch(
      /colour: unknown setting \(known here: region, stack/,
    );
  });

  it('applies -e extra vars last and names them in errors', () => {
    expect(
      parse(base, 'integration', { extraVars: ['rollout.serial=2', 'ssh.knownHosts=/dev/null', 'alarms=[a, b]'] }),
    ).toMatchObject({
      rollout: { serial: 2 },
      ssh: { knownHosts: '/dev/null' },
      alarms: ['a', 'b'],
    });
    expect(problem(() => parse(base, 'integration', { extraVars: ['rollout.serial=12x'] }))).toBe(
      '-e rollout.serial=12x: rollout.serial: "12x" is not a count or a percentage (like 2, "25%" or [1, "25%", "100%"])',
    );
    expect(problem(() => parse(base, 'integration', { extraVars: ['rollout.seriall=2'] }))).toContain(
      'rollout.seriall: unknown setting (did you mean "serial"?)',
    );
    expect(problem(() => parse(base, 'integration', { extraVars: ['serial'] }))).toBe(
      '-e: "serial" is not key.path=value',
    );
  });

  it('names the command line for flag overrides', () => {
    expect(problem(() => parse(base, 'integration', { overrides: { rollout: { serial: '0%' } } }))).toMatch(
      /^command line: rollout.serial: "0%" is not a count/,
    );
  });

  it('lists the deployments that exist when the one asked for does not', () => {
    expect(problem(() => parse(base, 'integ'))).toBe(
      '/etc/baton/baton.yaml: deployments: deployment "integ" is not defined (deployments: integration, production)',
    );
  });

  it('requires exactly one kind of health check', () => {
    expect(
      problem(() => parse(base.replace('http: { port: 8080 }', 'command: [true]\n  http: { port: 8080 }'))),
    ).toContain('health: set either http or command, not both');
    expect(problem(() => parse(base.replace('  http: { port: 8080 }', '  timeout: 5s')))).toContain('health: set http');
  });

  it('reads durations in every documented form', () => {
    const c = parse(
      base.replace('http: { port: 8080 }', 'http: { port: 8080 }\n  timeout: 1m30s\n  interval: 250ms'),
      'integration',
      { extraVars: ['timeouts.pull=90'] },
    );
    expect(c.health.timeout).toBe(90_000);
    expect(c.health.interval).toBe(250);
    expect(c.timeouts.pull).toBe(90_000);
  });

  it('adds /dev/log once and reads ${VAR} env values from the environment', () => {
    process.env.BATON_TEST_SECRET = 'hunter2';
    const text = base.replace(
      'env: { MODE: prod }',
      'env: { MODE: prod, TOKEN: "${BATON_TEST_SECRET}" }\n  volumes: ["/dev/log:/dev/log", "/data:/data"]',
    );
    const c = parse(text);
    expect(c.container.volumes).toEqual(['/dev/log:/dev/log', '/data:/data']);
    expect(c.container.env.TOKEN).toBe('hunter2');
    expect(problem(() => parse(text.replace('BATON_TEST_SECRET', 'BATON_NOT_SET')))).toContain(
      'container.env.TOKEN: refers to ${BATON_NOT_SET}, which is not set',
    );
  });

  it('points at the line of a YAML syntax error', () => {
    expect(problem(() => parse('region: [unclosed\nstack: x\n'))).toMatch(
      /^\/etc\/baton\/baton.yaml:\d+:\d+: not valid YAML/,
    );
  });
});
