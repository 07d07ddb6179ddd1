/**
 * How the command line names a deployment's configuration: every command that acts on one takes these
 * flags, and loads its configuration from them here.
 */
import { loadConfig, type DeployConfig, type LoadOptions } from '../config/index.ts';
import type { VaultPasswords } from '../secrets/sources.ts';

export interface ConfigFlags {
  readonly deployment: string;
  readonly configFile: string;
  /** `-e key.path=value`, applied last. */
  readonly extraVars: readonly string[];
  /** The Ansible Vault passwords the command was given, read only if a vaulted value is met. */
  readonly vaultPasswords: VaultPasswords;
}

/** The configuration the flags name; `extra` adds a command's own overrides or asks for origins. */
export function loadFlaggedConfig(
  flags: ConfigFlags,
  extra: Pick<LoadOptions, 'overrides' | 'origins'> = {},
): Promise<DeployConfig> {
  return loadConfig({
    file: flags.configFile,
    deployment: flags.deployment,
    extraVars: [...flags.extraVars],
    vaultPasswords: flags.vaultPasswords,
    ...extra,
  });
}
