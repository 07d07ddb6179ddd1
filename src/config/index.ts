/**
 * baton.yaml: read once, layered (file top level, then the deployment's overlay, then command-line
 * overrides, then `-e` extra vars), validated once into the readonly DeployConfig. Every problem is
 * reported together, each naming its path, its value and where it came from.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.ts';
import { decryptVault, isVaulted, type VaultSecret } from '../secrets/ansible-vault.ts';
import { openVault, parseVaultReference } from '../secrets/hashicorp-vault.ts';
import { registerSecret } from '../secrets/mask.ts';
import { vaultPasswordsFrom, type VaultPasswords } from '../secrets/sources.ts';
import { revealVaulted, VAULT_TAG } from '../secrets/yaml-vault.ts';
import { buildConfig } from './build.ts';
import { deepMerge, isSecretExtraVar, parseExtraVar } from './layers.ts';
import { safeName } from './names.ts';
import { isObject, Reader, show, type Issue, type Origin } from './reader.ts';
export type { Origin } from './reader.ts';
import type { DeployConfig } from './types.ts';

export { parseSerial } from './build.ts';
export { extraVarKey, isSecretExtraVar } from './layers.ts';
export { safeName } from './names.ts';
export { DEFAULT_SHARED, SCALING_PROCESSES } from './schema.ts';

export type * from './types.ts';

export interface LoadOptions {
  readonly deployment: string;
  /** `-e key.path=value`, applied last; the value is parsed as YAML. */
  readonly extraVars?: readonly string[];
  /** From flags (`--serial`), applied after the overlay and before extra vars. */
  readonly overrides?: Readonly<Record<string, unknown>>;
  /** Ansible Vault passwords for `!vault` values (parseConfig). */
  readonly vaultSecrets?: readonly VaultSecret[];
  /** Where loadConfig gets them, asked only if the file has some (default: the environment's). */
  readonly vaultPasswords?: VaultPasswords;
  /** Filled with where each given value came from, by dotted path (`baton config show`). */
  readonly origins?: Map<string, Origin>;
}

export async function loadConfig(options: LoadOptions & { readonly file: string }): Promise<DeployConfig> {
  let text: string;
  try {
    text = readFileSync(options.file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      '',
      `cannot read the configuration: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
      options.file,
    );
  }
  // A whole file encrypted with ansible-vault, or `!vault` values in it: passwords are read only then.
  const vaultPasswords = options.vaultPasswords ?? vaultPasswordsFrom();
  if (isVaulted(text)) text = decryptVault(text, await vaultPasswords(), options.file).toString('utf8');
  const vaultSecrets = /!vault\b/.test(text) ? await vaultPasswords() : [];
  const config = parseConfig(text, options.file, { ...options, vaultSecrets });
  return resolveVaultReferences(config);
}

/**
 * `vault:<path>#<key>` values (container.env, registry.password), read from HashiCorp Vault once, before
 * anything else; every value read is a secret.
 */
async function resolveVaultReferences(config: DeployConfig): Promise<DeployConfig> {
  const wanted = [
    ...Object.entries(config.container.env).map(([k, v]) => [`container.env.${k}`, v] as const),
    ...Object.entries(config.container.secretFiles).map(([k, v]) => [`container.secretFiles.${k}`, v] as const),
    ...(config.registry?.password ? [['registry.password', config.registry.password] as const] : []),
  ].flatMap(([setting, v]) => {
    const ref = parseVaultReference(v);
    return ref ? [{ setting, ref }] : [];
  });
  if (!wanted.length) return config;
  const vault = await openVault(config.vault, process.env, `${config.source}: vault`);
  const read = new Map<string, string>();
  try {
    for (const { setting, ref } of wanted) {
      const value = await vault.read(ref);
      // A secret file may hold lines (a certificate); an env value or a password may not.
      if (!setting.startsWith('container.secretFiles.') && /[\r\n\0]/.test(value))
        throw new ConfigError(
          setting,
          `the value read from vault:${ref.path}#${ref.key} holds a line break or NUL, which Baton cannot pass on`,
          config.source,
        );
      registerSecret(value, `${setting} (vault:${ref.path}#${ref.key})`);
      read.set(setting, value);
    }
  } finally {
    vault.close();
  }
  const env = Object.fromEntries(
    Object.entries(config.container.env).map(([k, v]) => [k, read.get(`container.env.${k}`) ?? v]),
  );
  const secretFiles = Object.fromEntries(
    Object.entries(config.container.secretFiles).map(([k, v]) => [k, read.get(`container.secretFiles.${k}`) ?? v]),
  );
  const password = read.get('registry.password');
  return deepFreeze({
    ...config,
    container: { ...config.container, env, secretFiles },
    ...(config.registry && password && { registry: { ...config.registry, password } }),
  });
}

/** `--serial` as given on the command line: a count, or a percentage (or ramp) the configuration checks. */
export const serialFromFlag = (flag: string): number | string => (/^\d+$/.test(flag) ? Number(flag) : flag);

/** Pure: the configuration `text` (from `source`) for one deployment. */
export function parseConfig(text: string, source: string, options: LoadOptions): DeployConfig {
  const doc = parseDocument(text, { customTags: [VAULT_TAG] });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const at = e.linePos?.[0] ? `${source}:${e.linePos[0].line}:${e.linePos[0].col}` : source;
    throw new ConfigError('', `not valid YAML: ${e.message.split('\n')[0]}`, at);
  }
  const file = revealVaulted(doc.toJS() ?? {}, options.vaultSecrets ?? [], source) as unknown;
  if (!isObject(file)) throw new ConfigError('', 'the configuration must be a mapping of settings', source);

  const badName = safeName(options.deployment);
  if (badName) throw new ConfigError('--deployment', `${JSON.stringify(options.deployment)} ${badName}`);
  const deployments = file.deployments;
  const names = isObject(deployments) ? Object.keys(deployments) : [];
  if (!names.includes(options.deployment)) {
    throw new ConfigError(
      'deployments',
      `deployment ${JSON.stringify(options.deployment)} is not defined (${names.length ? `deployments: ${names.join(', ')}` : 'the file defines none'})`,
      source,
    );
  }
  const { deployments: _, ...base } = file;
  const overlay = (deployments as Record<string, unknown>)[options.deployment] ?? {};
  if (!isObject(overlay))
    throw new ConfigError(`deployments.${options.deployment}`, `${show(overlay)} is not a mapping of settings`, source);

  // Where each value came from, so an error says "deployments.integration.rollout.serial" or "-e".
  const origins = options.origins ?? new Map<string, Origin>();
  const layer = (target: Record<string, unknown>, value: Record<string, unknown>, origin: Origin) =>
    deepMerge(target, value, '', origins, origin);
  const merged: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  layer(merged, base, { source, prefix: '' });
  layer(merged, overlay, { source, prefix: `deployments.${options.deployment}.` });
  if (options.overrides)
    layer(merged, structuredClone(options.overrides) as Record<string, unknown>, {
      source: 'command line',
      prefix: '',
    });
  // Anything under container, registry or vault may be a secret: errors name the setting, never echo the value.
  for (const extra of options.extraVars ?? [])
    layer(merged, parseExtraVar(extra), {
      source: `-e ${isSecretExtraVar(extra) ? extra.replace(/=[\s\S]*$/, '=***') : extra}`,
      prefix: '',
    });

  const issues: Issue[] = [];
  const config = buildConfig(new Reader(merged, origins, issues, { source, prefix: '' }), source, options.deployment);
  if (issues.length) {
    const lines = issues.map((i) => `${i.origin.source}: ${i.origin.prefix}${i.path}: ${i.problem}`);
    throw new ConfigError(
      '',
      lines.length === 1
        ? lines[0]!
        : `${lines.length} problems in the configuration:\n${lines.map((l) => `  ${l}`).join('\n')}`,
    );
  }
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
